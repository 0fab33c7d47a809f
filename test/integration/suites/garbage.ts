// Test 5: garbage on a weft node's VXLAN port, while pod traffic flows through
// that node. Each kind is dropped and counted under its reason, none of it
// reaches the TUN (tshark on weft0 sees only the one valid control packet among
// everything from the marker inner source address), and the pod traffic
// completes.
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { decodePcapFile } from '../../helpers/tshark.js';
import { Capture } from '../harness/capture.js';
import { attachToUnderlay, hostIn, type Cluster } from '../harness/cluster.js';
import { TEST_TIMEOUT } from '../harness/context.js';
import { Proc, sleep } from '../harness/exec.js';
import { internetChecksum, ipv4Udp, toHex, vxlanPayload, type Ipv4UdpOptions } from '../harness/frames.js';
import type { Janitor } from '../harness/janitor.js';
import { iperf, ping } from '../harness/traffic.js';
import { fileURLToPath } from 'node:url';

const UDP_SEND = fileURLToPath(new URL('../fixtures/udp-send.mjs', import.meta.url));
export const GARBAGE_SENDER_IP = '198.51.100.200';
const EACH = 100;

interface Kind {
  name: string;
  reason: string;
  hex: string;
  /** IP identification of its inner packet (0: no inner packet to speak of). */
  id: number;
}

async function sendFrames(janitor: Janitor, ns: string, bind: string, dst: string, frames: { name: string; hex: string; count: number }[]): Promise<Record<string, number>> {
  const spec = { bind, dst, port: 4789, frames, gapMs: 2 };
  const out = await new Proc(janitor, ns, process.execPath, [UDP_SEND, JSON.stringify(spec)]).result(30_000);
  return (JSON.parse(out.trim().split('\n').pop()!) as { sent: Record<string, number> }).sent;
}

export function garbageTests(cluster: () => Cluster, janitor: () => Janitor): void {
  it('garbage on the VXLAN port: dropped by reason, never on weft0, pod traffic unharmed', async () => {
    const c = cluster();
    const [n1, n2] = c.nodes as [typeof c.nodes[0], typeof c.nodes[0]];
    const [p1, p2, p3] = c.pods as [typeof c.pods[0], typeof c.pods[0], typeof c.pods[0]];
    const gx = c.addNamespace('gx');
    await attachToUnderlay(c.ul, gx, 'wtg0', GARBAGE_SENDER_IP);
    const s1 = await n1.status();
    const s2 = await n2.status();
    // Every crafted inner packet comes "from" this address in n2's subnet: the capture filter.
    const marker = hostIn(s2.lease.subnet, 199);
    const inner = (id: number, o: Partial<Ipv4UdpOptions> = {}): Uint8Array => ipv4Udp({ src: marker, dst: p1.ip, id, sport: 40000, dport: 9, ...o });
    const frame = (o: Partial<Parameters<typeof vxlanPayload>[0]> & { inner: Uint8Array }): string =>
      toHex(vxlanPayload({ vni: 1, dstMac: s1.vtepMac, srcMac: s2.vtepMac, ...o }));

    // An inner UDP datagram whose checksum is neither right, nor 0 ("none"), nor a kernel
    // peer's partial one (the pseudo-header sum): damaged on the way.
    const badUdpChecksum = (id: number): Uint8Array => {
      const p = inner(id);
      const udpLen = p.length - 20;
      let pseudo = 17 + udpLen;
      for (let i = 12; i < 20; i += 2) pseudo += (p[i]! << 8) | p[i + 1]!;
      while (pseudo > 0xffff) pseudo = (pseudo & 0xffff) + (pseudo >>> 16);
      const seg = new Uint8Array(2 + udpLen); // the pseudo-header sum as a leading word, then the datagram
      seg[0] = pseudo >>> 8;
      seg[1] = pseudo & 0xff;
      seg.set(p.subarray(20), 2);
      const right = internetChecksum(seg, 0, seg.length) || 0xffff;
      let bad = right ^ 0x0100;
      if (bad === pseudo || bad === 0) bad = right ^ 0x0200;
      p[26] = bad >>> 8;
      p[27] = bad & 0xff;
      return p;
    };
    const valid = vxlanPayload({ vni: 1, dstMac: s1.vtepMac, srcMac: s2.vtepMac, inner: inner(0x0101) });
    const control: Kind = { name: 'control', reason: '', hex: toHex(valid), id: 0x0101 };
    // From an address that is no node: length, flags and VNI are checked before the sender.
    const fromStranger: Kind[] = [
      { name: 'short-7', reason: 'short', hex: toHex(valid.subarray(0, 7)), id: 0 },
      { name: 'short-41', reason: 'short', hex: toHex(valid.subarray(0, 41)), id: 0 },
      { name: 'flags-clear', reason: 'bad_flags', hex: frame({ flags: 0x00, inner: inner(0x0201) }), id: 0x0201 },
      { name: 'wrong-vni', reason: 'bad_vni', hex: frame({ vni: 2, inner: inner(0x0301) }), id: 0x0301 },
      { name: 'stranger', reason: 'unknown_peer', hex: frame({ inner: inner(0x0401) }), id: 0x0401 },
    ];
    // From n2, a known node: what is wrong is inside.
    const fromPeer: Kind[] = [
      { name: 'vlan-tagged', reason: 'vlan_tagged', hex: frame({ vlanId: 7, inner: inner(0x0501) }), id: 0x0501 },
      { name: 'bad-inner-checksum', reason: 'bad_inner', hex: frame({ inner: inner(0x0601, { badChecksum: true }) }), id: 0x0601 },
      { name: 'other-mac', reason: 'not_for_us', hex: frame({ dstMac: '02:00:00:00:00:01', inner: inner(0x0701) }), id: 0x0701 },
      { name: 'arp', reason: 'not_ip', hex: frame({ etherType: 0x0806, inner: inner(0x0801) }), id: 0x0801 },
      { name: 'bad-udp-checksum', reason: 'bad_checksum', hex: frame({ inner: badUdpChecksum(0x0901) }), id: 0x0901 },
    ];
    const reasons = [...new Set([...fromStranger, ...fromPeer].map((k) => k.reason))];

    const cap = await Capture.start(janitor(), n1.ns, 'weft0', `src host ${marker}`, join(janitor().dir, 'garbage-weft0.pcapng'));
    const before = (await n1.metrics()).drops;

    // Legit traffic through n1 while the garbage arrives.
    const iperfRun = iperf(janitor(), p2, p1, 4);
    const pingRun = ping(p3.ns, p1.ip, { count: 300, intervalS: 0.01, waitS: 2 });
    await sleep(700);
    const [sentStranger, sentPeer] = await Promise.all([
      sendFrames(janitor(), gx, GARBAGE_SENDER_IP, n1.underlayIp, fromStranger.map((k) => ({ name: k.name, hex: k.hex, count: EACH }))),
      sendFrames(janitor(), n2.ns, n2.underlayIp, n1.underlayIp, fromPeer.map((k) => ({ name: k.name, hex: k.hex, count: EACH }))),
    ]);
    // The control packet last: proves the capture sees what weft delivers.
    await sendFrames(janitor(), n2.ns, n2.underlayIp, n1.underlayIp, [{ name: 'control', hex: control.hex, count: 1 }]);
    const [ip, pg] = await Promise.all([iperfRun, pingRun]);
    await sleep(300);
    const after = (await n1.metrics()).drops;
    await cap.stop();

    const grew = Object.fromEntries(reasons.map((r) => [r, after[r]! - before[r]!]));
    const sentBy = (reason: string): number =>
      [...fromStranger, ...fromPeer].filter((k) => k.reason === reason).reduce((s, k) => s + (sentStranger[k.name] ?? sentPeer[k.name] ?? 0), 0);
    console.log(`[vxlan/garbage] drops grew on ${n1.name}: ${reasons.map((r) => `${r} +${grew[r]}/${sentBy(r)}`).join(', ')}`);
    console.log(`[vxlan/garbage] meanwhile iperf3 ${p2.ip} → ${p1.ip}: ${ip.gbps.toFixed(2)} Gbit/s, ${(ip.bytesReceived / 1e6).toFixed(0)} MB; ping ${p3.ip} → ${p1.ip}: ${pg.received}/${pg.sent}`);
    for (const r of reasons) {
      expect(grew[r], `drops for ${r}`).toBeGreaterThan(0);
      expect(grew[r], `drops for ${r}`).toBeLessThanOrEqual(sentBy(r));
    }

    // Legit traffic completed.
    expect(ip.bytesReceived).toBeGreaterThan(0);
    expect(ip.seconds).toBeGreaterThan(3);
    expect(pg.sent).toBe(300);
    expect(pg.received, pg.output).toBeGreaterThanOrEqual(285);

    // On weft0: the control packet, nothing else with the marker address.
    const rows = await decodePcapFile(cap.file, { fields: ['ip.src', 'ip.dst', 'ip.id'], noChecksumPrefs: true });
    const ids = rows.map((x) => parseInt(x['ip.id'][0] ?? '-1', 16));
    expect(ids, `inner packets seen on weft0 (0x0101 is the control)`).toEqual([control.id]);
    expect(rows[0]!['ip.src']).toEqual([marker]);
  }, TEST_TIMEOUT);
}
