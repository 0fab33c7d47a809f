// Anti-spoofing on decapsulation (native-free/decap/admit.ts), end to end.
//
// An attacker namespace on the underlay bridge sends tunnel packets to n1 whose
// outer source is n2's underlay address (forged with scapy: the attacker owns
// no such address and answers no ARP; its frames go straight to n1's MAC). To
// n1 they look like n2's. Inside:
//   - a source that is not n2's (another node's pod, outside the cluster, n1's
//     own subnet) → spoofed_source;
//   - n2's own source but a destination that is not n1's: a pod of n3 (n1 would
//     relay it through its kernel and weft0 to n3) → not_local;
//   - IPv6 (vxlan, udp: IP-in-IP has no way to carry it) → family_disabled;
//   - and one control packet, n2's source to n1's pod: delivered. Anti-spoofing
//     ties inner addresses to the outer one; it cannot tell a forged n2 that
//     uses n2's addresses from n2 (that needs an authenticated underlay).
// Asserted: nothing but the control reaches weft0 on n1 (tshark there sees what
// weft writes to the TUN, IPv6 included) and nothing reaches n3's pod; each
// reason's counter on n1 grew, by no more than what was sent (so no honest
// packet was counted with them while pings and iperf3 ran through n1); no other
// node counted any; the honest traffic completed.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { decodePcapFile } from '../../helpers/tshark.js';
import { Capture } from '../harness/capture.js';
import { attachToUnderlay, hostIn, type Cluster, type Pod } from '../harness/cluster.js';
import { TEST_TIMEOUT } from '../harness/context.js';
import { ipn, Proc, sleep } from '../harness/exec.js';
import type { Janitor } from '../harness/janitor.js';
import { iperf, ping } from '../harness/traffic.js';
import { CONFIGS, type Backend } from './backend.js';

const SPOOF_SEND = fileURLToPath(new URL('../fixtures/spoof-send.py', import.meta.url));
/** Debian's python3, which has scapy (the PATH one may not). */
export const SCAPY_PYTHON = '/usr/bin/python3';
export const ATTACKER_IP = '198.51.100.201';
const ATTACKER_IF = 'wts0';
/** Inner UDP destination port of every forged packet: the captures filter on it. */
const MARK_PORT = 7777;
const EACH = 40;
export const SPOOF_REASONS = ['spoofed_source', 'not_local', 'family_disabled'] as const;

interface Forged {
  name: string;
  reason: (typeof SPOOF_REASONS)[number] | 'forward';
  v: 4 | 6;
  src: string;
  dst: string;
  id: number;
}

async function linkMac(ns: string, dev: string): Promise<string> {
  const [link] = JSON.parse(await ipn(ns, '-j', 'link', 'show', dev)) as [{ address: string }];
  return link.address;
}

export function spoofTests(cluster: () => Cluster, janitor: () => Janitor, backend: Backend, name: string): void {
  it(`spoofing: forged ${backend} packets "from" n2 with foreign inner addresses are dropped by reason, never delivered or relayed; pod traffic unharmed`, async () => {
    const c = cluster();
    const [n1, n2, n3] = c.nodes as [typeof c.nodes[0], typeof c.nodes[0], typeof c.nodes[0]];
    const [p1, p2, p3] = c.pods as [Pod, Pod, Pod];
    const sx = c.addNamespace('sx');
    await attachToUnderlay(c.ul, sx, ATTACKER_IF, ATTACKER_IP);
    const [s1, s2, s3] = await Promise.all([n1.status(), n2.status(), n3.status()]);
    const n2Src = hostIn(s2.lease.subnet, 199); // an address of n2's subnet: n2 may send from it

    const forged: Forged[] = [
      { name: 'control', reason: 'forward', v: 4, src: n2Src, dst: p1.ip, id: 0x0101 },
      { name: 'src-of-n3', reason: 'spoofed_source', v: 4, src: hostIn(s3.lease.subnet, 77), dst: p1.ip, id: 0x0201 },
      { name: 'src-outside', reason: 'spoofed_source', v: 4, src: '203.0.113.9', dst: p1.ip, id: 0x0301 },
      { name: 'src-of-n1', reason: 'spoofed_source', v: 4, src: hostIn(s1.lease.subnet, 77), dst: p1.ip, id: 0x0401 },
      { name: 'relay-to-n3', reason: 'not_local', v: 4, src: n2Src, dst: p3.ip, id: 0x0501 },
      { name: 'relay-out', reason: 'not_local', v: 4, src: n2Src, dst: '203.0.113.50', id: 0x0601 },
      ...(backend === 'ipip' ? [] : [{ name: 'ipv6', reason: 'family_disabled' as const, v: 6 as const, src: 'fd00::2', dst: 'fd00::1', id: 0 }]),
    ];
    const attacks = forged.filter((f) => f.reason !== 'forward');
    const reasons = SPOOF_REASONS.filter((r) => attacks.some((a) => a.reason === r));
    const backendCfg = CONFIGS[backend]['Backend'] as { Port?: number };
    const spec = {
      iface: ATTACKER_IF,
      dstMac: await linkMac(n1.ns, n1.iface),
      outerSrc: n2.underlayIp,
      outerDst: n1.underlayIp,
      backend,
      port: backendCfg.Port ?? 0,
      vni: 1,
      innerDstMac: s1.vtepMac ?? '00:00:00:00:00:00',
      innerSrcMac: s2.vtepMac ?? '00:00:00:00:00:00',
      gap: 0.002,
      frames: [] as object[],
    };
    // One scapy run (its start-up takes seconds): the attacks interleaved, EACH of every kind, then the control once.
    const send = async (): Promise<Record<string, number>> => {
      const frames = forged.map((f) => ({ name: f.name, count: f.reason === 'forward' ? 1 : EACH, last: f.reason === 'forward', v: f.v, src: f.src, dst: f.dst, id: f.id, dport: MARK_PORT }));
      const out = await new Proc(janitor(), sx, SCAPY_PYTHON, [SPOOF_SEND, JSON.stringify({ ...spec, frames })]).result(60_000);
      return (JSON.parse(out.trim().split('\n').pop()!) as { sent: Record<string, number> }).sent;
    };

    const filter = `udp dst port ${MARK_PORT}`; // IPv4 and IPv6 alike
    const capTun = await Capture.start(janitor(), n1.ns, 'weft0', filter, join(janitor().dir, `spoof-${backend}-n1-weft0.pcapng`));
    const capP3 = await Capture.start(janitor(), p3.ns, 'wtpod0', filter, join(janitor().dir, `spoof-${backend}-p3.pcapng`));
    const before = await Promise.all(c.nodes.map((n) => n.metrics()));

    // Honest traffic through n1 while the forgeries arrive.
    const iperfRun = iperf(janitor(), p2, p1, 4);
    const pingRun = ping(p3.ns, p1.ip, { count: 300, intervalS: 0.01, waitS: 2 });
    await sleep(500);
    // The control goes last: it proves the forged path reaches weft and the capture sees what weft delivers.
    const sent = await send();
    const [ip, pg] = await Promise.all([iperfRun, pingRun]);
    await sleep(300);
    const after = await Promise.all(c.nodes.map((n) => n.metrics()));
    await Promise.all([capTun.stop(), capP3.stop()]);

    const grew = (i: number, r: string): number => after[i]!.drops[r]! - before[i]!.drops[r]!;
    const sentFor = (r: string): number => attacks.filter((a) => a.reason === r).reduce((s, a) => s + (sent[a.name] ?? 0), 0);
    console.log(`[${name}/spoof] drops grew on ${n1.name}: ${reasons.map((r) => `${r} +${grew(0, r)}/${sentFor(r)}`).join(', ')}`);
    console.log(`[${name}/spoof] meanwhile iperf3 ${p2.ip} → ${p1.ip}: ${ip.gbps.toFixed(2)} Gbit/s; ping ${p3.ip} → ${p1.ip}: ${pg.received}/${pg.sent}`);

    // Counted, under its reason, at most once per forged packet.
    expect(sent['control'], 'control packets sent').toBe(1);
    for (const r of reasons) {
      expect(sentFor(r), `forged packets sent for ${r}`).toBe(EACH * attacks.filter((a) => a.reason === r).length);
      expect(grew(0, r), `${n1.name} drops ${r}`).toBeGreaterThanOrEqual(sentFor(r) / 2);
      expect(grew(0, r), `${n1.name} drops ${r}`).toBeLessThanOrEqual(sentFor(r));
    }
    // Nobody else saw anything to count (honest traffic is never taken for spoofing).
    for (let i = 1; i < c.nodes.length; i++) {
      for (const r of SPOOF_REASONS) expect(grew(i, r), `${c.nodes[i]!.name} drops ${r}`).toBe(0);
    }
    if (backend === 'ipip') expect(grew(0, 'family_disabled'), 'ipip sends no IPv6 here').toBe(0);

    // Honest traffic completed.
    expect(ip.bytesReceived).toBeGreaterThan(0);
    expect(ip.seconds).toBeGreaterThan(3);
    expect(pg.sent).toBe(300);
    expect(pg.received, pg.output).toBeGreaterThanOrEqual(285);

    // Not delivered: on n1's weft0 only the control packet; nothing at n3's pod.
    const tun = await decodePcapFile(capTun.file, { fields: ['ip.src', 'ip.dst', 'ip.id', 'ipv6.src'], noChecksumPrefs: true });
    const seen = tun.map((x) => x['ipv6.src'][0] ?? `${x['ip.src'][0]} → ${x['ip.dst'][0]} id ${parseInt(x['ip.id'][0] ?? '-1', 16)}`);
    expect(seen, `packets on ${n1.name} weft0`).toEqual([`${n2Src} → ${p1.ip} id ${0x0101}`]);
    const atP3 = await decodePcapFile(capP3.file, { fields: ['ip.src', 'ip.dst', 'ip.id'], noChecksumPrefs: true });
    expect(atP3, `forged packets at ${p3.ip} (relayed by ${n1.name})`).toEqual([]);

    // Every pod still reaches every other.
    for (const [a, b] of [[p1, p2], [p2, p1], [p1, p3], [p3, p1], [p2, p3]] as const) {
      const r = await ping(a.ns, b.ip, { count: 2 });
      expect(r.received, `${a.ip} → ${b.ip}:\n${r.output}`).toBe(2);
    }
  }, TEST_TIMEOUT);
}
