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
import { attachToUnderlay, ETCD_IP, hostIn, type Cluster, type Pod } from '../harness/cluster.js';
import { TEST_TIMEOUT } from '../harness/context.js';
import { ipn, Proc, sleep, waitFor } from '../harness/exec.js';
import type { Janitor } from '../harness/janitor.js';
import { iperf, ping, pingUntilReachable } from '../harness/traffic.js';
import { WeftNode } from '../harness/weft-node.js';
import { CONFIGS, type Backend } from './backend.js';

const SPOOF_SEND = fileURLToPath(new URL('../fixtures/spoof-send.py', import.meta.url));
/** Debian's python3, which has scapy (the PATH one may not). */
export const SCAPY_PYTHON = '/usr/bin/python3';
export const ATTACKER_IP = '198.51.100.201';
const ATTACKER_IF = 'wts0';
/** Inner UDP destination port of every forged packet: the captures filter on it. */
const MARK_PORT = 7777;
const EACH = 40;
/** Two captures, a scapy run and honest traffic: ~45 s on a quiet machine, 80 s seen under load. */
const SPOOF_TIMEOUT = TEST_TIMEOUT + 60_000;
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

/** The attack on n1 as one cluster sets it up: who is who, what is forged, how it is sent and watched. */
class Scenario {
  private constructor(
    private readonly c: Cluster,
    private readonly janitor: () => Janitor,
    readonly backend: Backend,
    private readonly attacker: string,
    readonly forged: Forged[],
    readonly n2Src: string,
    private readonly spec: object,
  ) {}

  static async create(c: Cluster, janitor: () => Janitor, backend: Backend, attacker: string): Promise<Scenario> {
    const [n1, n2, n3] = c.nodes as [WeftNode, WeftNode, WeftNode];
    const [p1, , p3] = c.pods as [Pod, Pod, Pod];
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
    };
    return new Scenario(c, janitor, backend, attacker, forged, n2Src, spec);
  }

  get attacks(): Forged[] {
    return this.forged.filter((f) => f.reason !== 'forward');
  }

  sentFor(sent: Record<string, number>, reason: string): number {
    return this.attacks.filter((a) => a.reason === reason).reduce((s, a) => s + (sent[a.name] ?? 0), 0);
  }

  /** One scapy run (its start-up takes seconds): the attacks interleaved, EACH of every kind, then the control once. */
  async send(): Promise<Record<string, number>> {
    const frames = this.forged.map((f) => ({ name: f.name, count: f.reason === 'forward' ? 1 : EACH, last: f.reason === 'forward', v: f.v, src: f.src, dst: f.dst, id: f.id, dport: MARK_PORT }));
    const out = await new Proc(this.janitor(), this.attacker, SCAPY_PYTHON, [SPOOF_SEND, JSON.stringify({ ...this.spec, frames })]).result(60_000);
    return (JSON.parse(out.trim().split('\n').pop()!) as { sent: Record<string, number> }).sent;
  }

  /**
   * Captures on n1's weft0 (what weft writes to the TUN, and what n1 relays back
   * into it) and at n3's pod while `during` runs; the forged packets seen there,
   * as "src → dst id N" (IPv4) or the IPv6 source.
   */
  async watch<T>(tag: string, during: () => Promise<T>): Promise<{ result: T; tun: string[]; atP3: string[] }> {
    const [n1] = this.c.nodes as [WeftNode];
    const p3 = this.c.pods[2]!;
    const filter = `udp dst port ${MARK_PORT}`; // IPv4 and IPv6 alike
    const dir = this.janitor().dir;
    const capTun = await Capture.start(this.janitor(), n1.ns, 'weft0', filter, join(dir, `spoof-${this.backend}-${tag}-n1-weft0.pcapng`));
    const capP3 = await Capture.start(this.janitor(), p3.ns, 'wtpod0', filter, join(dir, `spoof-${this.backend}-${tag}-p3.pcapng`));
    let result: T;
    try {
      result = await during();
      await sleep(300);
    } finally {
      await Promise.all([capTun.stop(), capP3.stop()]);
    }
    const rows = async (file: string): Promise<string[]> =>
      (await decodePcapFile(file, { fields: ['ip.src', 'ip.dst', 'ip.id', 'ipv6.src'], noChecksumPrefs: true })).map(
        (x) => x['ipv6.src'][0] ?? `${x['ip.src'][0]} → ${x['ip.dst'][0]} id ${parseInt(x['ip.id'][0] ?? '-1', 16)}`,
      );
    return { result, tun: await rows(capTun.file), atP3: await rows(capP3.file) };
  }

  seen(f: Forged): string {
    return `${f.src} → ${f.dst} id ${f.id}`;
  }
}

export function spoofTests(cluster: () => Cluster, janitor: () => Janitor, backend: Backend, name: string): void {
  let scenario: Scenario | null = null;
  const setUp = async (): Promise<Scenario> => {
    if (scenario) return scenario;
    const c = cluster();
    const sx = c.addNamespace('sx');
    await attachToUnderlay(c.ul, sx, ATTACKER_IF, ATTACKER_IP);
    scenario = await Scenario.create(c, janitor, backend, sx);
    return scenario;
  };

  it(`spoofing: forged ${backend} packets "from" n2 with foreign inner addresses are dropped by reason, never delivered or relayed; pod traffic unharmed`, async () => {
    const c = cluster();
    const [n1] = c.nodes as [WeftNode];
    const [p1, p2, p3] = c.pods as [Pod, Pod, Pod];
    const sc = await setUp();
    const reasons = SPOOF_REASONS.filter((r) => sc.attacks.some((a) => a.reason === r));
    const before = await Promise.all(c.nodes.map((n) => n.metrics()));
    const { result, tun, atP3 } = await sc.watch('on', async () => {
      // Honest traffic through n1 while the forgeries arrive.
      const iperfRun = iperf(janitor(), p2, p1, 4);
      const pingRun = ping(p3.ns, p1.ip, { count: 300, intervalS: 0.01, waitS: 2 });
      await sleep(500);
      // The control goes last: it proves the forged path reaches weft and the capture sees what weft delivers.
      const sent = await sc.send();
      const [ip, pg] = await Promise.all([iperfRun, pingRun]);
      return { sent, ip, pg };
    });
    const { sent, ip, pg } = result;
    const after = await Promise.all(c.nodes.map((n) => n.metrics()));

    const grew = (i: number, r: string): number => after[i]!.drops[r]! - before[i]!.drops[r]!;
    console.log(`[${name}/spoof] drops grew on ${n1.name}: ${reasons.map((r) => `${r} +${grew(0, r)}/${sc.sentFor(sent, r)}`).join(', ')}`);
    console.log(`[${name}/spoof] meanwhile iperf3 ${p2.ip} → ${p1.ip}: ${ip.gbps.toFixed(2)} Gbit/s; ping ${p3.ip} → ${p1.ip}: ${pg.received}/${pg.sent}`);

    // Counted, under its reason, at most once per forged packet.
    expect(sent['control'], 'control packets sent').toBe(1);
    for (const r of reasons) {
      const n = sc.sentFor(sent, r);
      expect(n, `forged packets sent for ${r}`).toBe(EACH * sc.attacks.filter((a) => a.reason === r).length);
      expect(grew(0, r), `${n1.name} drops ${r}`).toBeGreaterThanOrEqual(n / 2);
      expect(grew(0, r), `${n1.name} drops ${r}`).toBeLessThanOrEqual(n);
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
    expect(tun, `packets on ${n1.name} weft0`).toEqual([sc.seen(sc.forged[0]!)]);
    expect(atP3, `forged packets at ${p3.ip} (relayed by ${n1.name})`).toEqual([]);

    // Every pod still reaches every other.
    const pairs = [[p1, p2], [p2, p1], [p1, p3], [p3, p1], [p2, p3]] as const;
    const pings = await Promise.all(pairs.map(([a, b]) => ping(a.ns, b.ip, { count: 2 })));
    pings.forEach((r, i) => expect(r.received, `${pairs[i]![0].ip} → ${pairs[i]![1].ip}:\n${r.output}`).toBe(2));
  }, SPOOF_TIMEOUT);

  if (backend !== 'udp') return;
  // Once, on the cheapest cluster: the flag reaches the workers, and what the
  // check stops is real (the kernel's VXLAN and flannel would deliver all of it).
  it('--spoof-check=false: the same forgeries reach weft0 and are relayed, none counted; the next node still refuses the relay', async () => {
    const c = cluster();
    const [n1, , n3] = c.nodes as [WeftNode, WeftNode, WeftNode];
    const sc = await setUp();
    const off = new WeftNode(janitor(), n1.name, n1.ns, n1.iface, n1.underlayIp, c.dir, `http://${ETCD_IP}:2379`, [...c.weftArgs, '--spoof-check=false']);
    await n1.stop();
    try {
      await off.start();
      await waitFor(`${n1.name} to see its peers again`, async () => (await off.status()).peers.length >= 2, 10_000);
      const before = await Promise.all([off.metrics(), n3.metrics()]);
      const { result: sent, tun, atP3 } = await sc.watch('off', () => sc.send());
      const after = await Promise.all([off.metrics(), n3.metrics()]);
      const grew = (i: number, r: string): number => after[i]!.drops[r]! - before[i]!.drops[r]!;
      const relay = sc.forged.find((f) => f.name === 'relay-to-n3')!;
      console.log(
        `[${name}/spoof] --spoof-check=false on ${n1.name}: ${tun.length} forged packets on its weft0, ` +
          `${tun.filter((x) => x === sc.seen(relay)).length} of them the relay to n3 (in and out); n3 drops spoofed_source +${grew(1, 'spoofed_source')}`,
      );
      // Every IPv4 kind was delivered to the TUN; IPv6 is still refused (the node carries IPv4 only).
      for (const f of sc.forged.filter((x) => x.v === 4)) expect(tun, `${f.name} on ${n1.name} weft0`).toContain(sc.seen(f));
      expect(tun.some((x) => x.includes(':')), 'IPv6 on weft0').toBe(false);
      for (const r of ['spoofed_source', 'not_local']) expect(grew(0, r), `${n1.name} drops ${r} with the check off`).toBe(0);
      expect(grew(0, 'family_disabled'), 'IPv6 refused with the check off too').toBeGreaterThan(0);
      expect(grew(0, 'family_disabled')).toBeLessThanOrEqual(sent['ipv6']!);
      // n1 relayed: the packet for n3's pod went back out of weft0 (seen twice there) ...
      expect(tun.filter((x) => x === sc.seen(relay)).length, 'relay-to-n3 in and out of weft0').toBeGreaterThan(EACH);
      // ... and n3, whose check is on, refused it: the inner source is n2's, the outer n1's.
      expect(grew(1, 'spoofed_source'), 'n3 drops the relayed packets as spoofed_source').toBeGreaterThan(0);
      expect(grew(1, 'spoofed_source')).toBeLessThanOrEqual(sent['relay-to-n3']!);
      expect(atP3, `forged packets at n3's pod`).toEqual([]);
    } finally {
      await off.stop();
      await n1.start();
    }
    await pingUntilReachable(c.pods[1]!.ns, c.pods[0]!.ip, 10_000);
  }, SPOOF_TIMEOUT);
}
