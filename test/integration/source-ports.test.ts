// Source-port entropy (--source-ports, default 8), end to end in namespaces
// with a real etcd: three weft vxlan nodes and a kernel VXLAN node (flannel.1
// as flannel programs it, offloads at their defaults), then two weft udp
// nodes. tshark on the underlay bridge's port of node 1 (wtn1p, in the
// underlay namespace) decodes every datagram node 1 sends: several inner
// flows (iperf3 -P 4, plus its control connection) leave from several outer
// UDP source ports, every inner flow from exactly one, and only from the
// ports /status lists; the weft and the kernel receivers deliver them all
// (iperf3 completes, a file arrives with its sha256), and UDP GSO stays in
// use (UDP_SEGMENT sends grow, none refused). Then datagrams sent
// *to* the send-only ports: the kernel drops them unread and counts them
// (weft_source_port_dropped_total), no drop reason of weft's moves, nothing
// reaches weft0, and pod traffic goes on. Last, a rolling update and a kill -9
// restart (suites/restart.ts) on the vxlan cluster: the send sockets take no
// part in the SO_REUSEPORT handover and close with their process.
//
// Its own file (its own clusters): npx vitest run test/integration/source-ports.test.ts
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodePcapFile } from '../helpers/tshark.js';
import { Capture } from './harness/capture.js';
import { hostIn, type Cluster, type Pod } from './harness/cluster.js';
import { HOOK_TIMEOUT, TEST_TIMEOUT, useJanitor } from './harness/context.js';
import { nsRun, Proc, sleep } from './harness/exec.js';
import { ipv4Udp, toHex, vxlanPayload } from './harness/frames.js';
import type { Janitor } from './harness/janitor.js';
import { KernelNode } from './harness/kernel-node.js';
import { skipIntegration } from './harness/requirements.js';
import { ping, pingUntilReachable, randomFile, tcpTransfer } from './harness/traffic.js';
import type { WeftNode } from './harness/weft-node.js';
import { useCluster, type Backend } from './suites/backend.js';
import { KERNEL_NODE_IP, KERNEL_NODE_SUBNET } from './suites/kernel-interop.js';
import { restartTests } from './suites/restart.js';

const UDP_SEND = fileURLToPath(new URL('./fixtures/udp-send.mjs', import.meta.url));
const PORTS: Record<'vxlan' | 'udp', number> = { vxlan: 4789, udp: 8285 };
const TRANSFER_BYTES = 4 * 1024 * 1024;
const STREAMS = 4;

let nextIperfPort = 5301;

/** iperf3 TCP with `streams` parallel connections, paced (-b per stream) so that the capture keeps up on a shared machine. */
async function iperfParallel(janitor: Janitor, from: Pod, to: Pod, seconds: number, streams: number): Promise<{ bytes: number; streams: number }> {
  const port = String(nextIperfPort++);
  const server = new Proc(janitor, to.ns, 'iperf3', ['-s', '-1', '--forceflush', '-B', to.ip, '-p', port]);
  try {
    await server.waitOutput(/Server listening/, 10_000);
    const r = await nsRun(from.ns, 'iperf3', ['-c', to.ip, '-p', port, '-t', String(seconds), '-P', String(streams), '-b', '100M', '-J'], { allowFail: true, timeoutMs: (seconds + 30) * 1000 });
    const doc = JSON.parse(r.stdout) as { error?: string; end?: { sum_received?: { bytes?: number }; streams?: unknown[] } };
    if (doc.error) throw new Error(`iperf3: ${doc.error}`);
    return { bytes: doc.end?.sum_received?.bytes ?? 0, streams: doc.end?.streams?.length ?? 0 };
  } finally {
    await server.stop('SIGKILL', 1000);
  }
}

/** Inner TCP flow (src:port > dst:port) → outer UDP source ports it left from, from a capture of node → peer datagrams. */
async function flowPorts(file: string, backend: 'vxlan' | 'udp'): Promise<Map<string, Set<number>>> {
  const flows = new Map<string, Set<number>>();
  const add = (key: string, sport: number): void => {
    if (!flows.has(key)) flows.set(key, new Set());
    flows.get(key)!.add(sport);
  };
  if (backend === 'vxlan') {
    const rows = await decodePcapFile(file, { fields: ['udp.srcport', 'ip.src', 'ip.dst', 'tcp.srcport', 'tcp.dstport'], decodeAs: ['udp.port==4789,vxlan'], noChecksumPrefs: true });
    for (const x of rows) {
      if (x['tcp.srcport'].length === 0) continue; // not TCP inside (ARP-free, but pings or other)
      add(`${x['ip.src'][1]}:${x['tcp.srcport'][0]} > ${x['ip.dst'][1]}:${x['tcp.dstport'][0]}`, Number(x['udp.srcport'][0]));
    }
    return flows;
  }
  // flannel's udp: the inner IPv4 packet is the whole UDP payload, which tshark leaves as data.
  const rows = await decodePcapFile(file, { fields: ['udp.srcport', 'data.data'], noChecksumPrefs: true });
  for (const x of rows) {
    const hex = (x['data.data'][0] ?? '').replace(/:/g, '');
    if (hex.length < 48 || parseInt(hex.slice(18, 20), 16) !== 6) continue; // inner TCP only
    const ihl = (parseInt(hex[1]!, 16) & 0xf) * 4;
    const ip = (at: number) => [0, 1, 2, 3].map((i) => parseInt(hex.slice(2 * (at + i), 2 * (at + i) + 2), 16)).join('.');
    const port = (at: number) => parseInt(hex.slice(2 * at, 2 * at + 4), 16);
    add(`${ip(12)}:${port(ihl)} > ${ip(16)}:${port(ihl + 2)}`, Number(x['udp.srcport'][0]));
  }
  return flows;
}

/**
 * iperf3 -P 4 from pod `from` (on node `n`) to pod `to` at underlay `toIp`, captured on the underlay
 * bridge's port of `n`; checks the ports per flow and that the traffic arrived.
 */
async function entropyCheck(c: Cluster, janitor: Janitor, backend: 'vxlan' | 'udp', n: WeftNode, bridgePort: string, from: Pod, to: Pod, toIp: string, what: string): Promise<void> {
  const ports = (await n.status()).sourcePorts ?? [];
  expect(ports.length, `${n.name} /status sourcePorts`).toBe(8);
  const gsoBefore = gsoCounters((await n.metrics()).raw);
  const file = join(c.dir, `sports-${backend}-${to.ip}.pcapng`);
  const cap = await Capture.start(janitor, c.ul, bridgePort, `udp dst port ${PORTS[backend]} and src host ${n.underlayIp} and dst host ${toIp}`, file, undefined, { bufferMiB: 32 });
  const r = await iperfParallel(janitor, from, to, 2, STREAMS);
  await sleep(200);
  await cap.stop();
  const flows = await flowPorts(file, backend);
  const seen = new Set([...flows.values()].flatMap((s) => [...s]));
  console.log(
    `[sports/${backend}] ${what}: iperf3 -P ${STREAMS} ${r.bytes} bytes; ${flows.size} inner TCP flows on the wire from ${seen.size} source ports ` +
      `(${[...flows].map(([k, s]) => `${k.split(' > ')[0]!.split(':')[1]}→${[...s].join('/')}`).join(', ')}); ${n.name}'s ports ${[...ports].sort().join(' ')}`,
  );
  expect(r.streams, 'iperf3 streams').toBe(STREAMS);
  expect(r.bytes, `iperf3 ${from.ip} → ${to.ip} moved bytes`).toBeGreaterThan(0);
  // The 4 data connections and the control one, each seen on the wire.
  expect(flows.size, 'inner TCP flows captured').toBeGreaterThanOrEqual(STREAMS + 1);
  for (const [flow, s] of flows) expect([...s], `outer source ports of inner flow ${flow}`).toHaveLength(1);
  // 5 flows over 8 ports all on one: 8^-4, 1 in 4096.
  expect(seen.size, 'distinct outer source ports over the flows').toBeGreaterThan(1);
  for (const p of seen) expect(ports, `source port ${p} is one of ${n.name}'s send-only sockets`).toContain(p);
  expect(seen.has(PORTS[backend]), `nothing from the ${backend} port itself`).toBe(false);
  // One flow whose bytes are checked end to end.
  const f = randomFile(janitor.dir, TRANSFER_BYTES);
  const t = await tcpTransfer(janitor, from, to, f.path);
  expect([t.bytes, t.sha256], `4 MiB ${from.ip} → ${to.ip}`).toEqual([TRANSFER_BYTES, f.sha256]);
  // UDP GSO kept: super-packets left as UDP_SEGMENT sends on the send-only sockets, none refused.
  const gso = gsoCounters((await n.metrics()).raw);
  console.log(`[sports/${backend}] ${what}: ${n.name} UDP_SEGMENT sends +${gso.sends - gsoBefore.sends} (+${gso.segments - gsoBefore.segments} datagrams), fallbacks +${gso.fallbacks - gsoBefore.fallbacks}`);
  expect(gso.sends - gsoBefore.sends, `${n.name} weft_udp_gso_sends_total grew`).toBeGreaterThan(0);
  expect(gso.fallbacks - gsoBefore.fallbacks, `${n.name} weft_udp_gso_fallbacks_total`).toBe(0);
}

function gsoCounters(text: string): { sends: number; segments: number; fallbacks: number } {
  const get = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { sends: get('weft_udp_gso_sends_total'), segments: get('weft_udp_gso_segments_total'), fallbacks: get('weft_udp_gso_fallbacks_total') };
}

function sendPortDrops(text: string): number {
  const m = /^weft_source_port_dropped_total (\S+)$/m.exec(text);
  if (!m) throw new Error(`no weft_source_port_dropped_total in /metrics:\n${text.slice(0, 2000)}`);
  return Number(m[1]);
}

function entropyTests(backend: Backend & ('vxlan' | 'udp'), tag: string, withKernel: boolean): void {
  // With the kernel node, 3 weft nodes: the restart suite pings between three pods.
  const nodes = withKernel ? 3 : 2;
  describe(`${backend}: ${nodes} weft nodes${withKernel ? ' and a kernel VXLAN node' : ''}, --source-ports at its default (8)`, () => {
    const janitor = useJanitorRef();
    const cluster = useCluster(janitor, backend, nodes, { tag });
    let k: KernelNode | null = null;

    if (withKernel) {
      beforeAll(async () => {
        const c = cluster();
        k = await KernelNode.create(c, KERNEL_NODE_IP, KERNEL_NODE_SUBNET);
        await k.publishLease();
        await k.programPeers(await c.leases());
        for (const n of c.nodes) {
          const deadline = Date.now() + 5000;
          while (!(await n.status()).peers.some((p) => p.subnet === k!.subnet)) {
            if (Date.now() > deadline) throw new Error(`${n.name} does not learn the kernel node`);
            await sleep(100);
          }
        }
        await pingUntilReachable(c.pods[0]!.ns, k.pod.ip, 10_000);
      }, HOOK_TIMEOUT);
    }

    it('/metrics shows the send-only sockets; metrics and /status agree', async () => {
      for (const n of cluster().nodes) {
        const m = await n.metrics();
        expect(/^weft_source_port_sockets (\S+)$/m.exec(m.raw)?.[1], `${n.name} weft_source_port_sockets`).toBe('8');
        const ports = (await n.status()).sourcePorts ?? [];
        expect(new Set(ports).size, `${n.name}: 8 distinct ports`).toBe(8);
        // The sockets are in the node's namespace, bound to its underlay address, unconnected and with nothing queued.
        const ss = (await nsRun(n.ns, 'ss', ['-u', '-a', '-n', '-H'])).stdout;
        for (const p of ports) expect(ss, `${n.name} ss -uan`).toMatch(new RegExp(`^\\S+\\s+0\\s+0\\s+${n.underlayIp.replace(/\./g, '\\.')}:${p}\\s`, 'm'));
      }
    }, TEST_TIMEOUT);

    it('weft → weft: several inner flows leave from several source ports, each flow from one; all arrive', async () => {
      const c = cluster();
      await entropyCheck(c, janitor(), backend, c.nodes[0]!, 'wtn1p', c.pods[0]!, c.pods[1]!, c.nodes[1]!.underlayIp, 'weft → weft');
    }, TEST_TIMEOUT);

    if (withKernel) {
      it("weft → kernel VXLAN (flannel.1): the kernel's receiver takes every source port; all arrive", async () => {
        const c = cluster();
        await entropyCheck(c, janitor(), backend, c.nodes[0]!, 'wtn1p', c.pods[0]!, k!.pod, k!.underlayIp, 'weft → kernel');
      }, TEST_TIMEOUT);

      it('datagrams sent to the send-only ports: dropped by the kernel unread and counted, never decapsulated, pod traffic unharmed', async () => {
        const c = cluster();
        const [n1, n2] = c.nodes as [WeftNode, WeftNode];
        const [p1, p2] = c.pods as [Pod, Pod];
        const s1 = await n1.status();
        const s2 = await n2.status();
        const marker = hostIn(s2.lease.subnet, 198);
        // Frames n1 would deliver to p1, were they sent to its VXLAN port: from n2, a known node.
        const frame = (id: number) => toHex(vxlanPayload({ vni: 1, dstMac: s1.vtepMac, srcMac: s2.vtepMac, inner: ipv4Udp({ src: marker, dst: p1.ip, id, sport: 40000, dport: 9 }) }));
        const send = async (port: number, hex: string, count: number): Promise<number> => {
          const spec = { bind: n2.underlayIp, dst: n1.underlayIp, port, frames: [{ name: 'f', hex, count }], gapMs: 1 };
          const out = await new Proc(janitor(), n2.ns, process.execPath, [UDP_SEND, JSON.stringify(spec)]).result(30_000);
          return (JSON.parse(out.trim().split('\n').pop()!) as { sent: { f: number } }).sent.f;
        };
        const cap = await Capture.start(janitor(), n1.ns, 'weft0', `src host ${marker}`, join(c.dir, 'sports-attack-weft0.pcapng'));
        const before = await n1.metrics();
        const pingRun = ping(p2.ns, p1.ip, { count: 200, intervalS: 0.01, waitS: 2 });
        const kernelRun = ping(k!.pod.ns, p1.ip, { count: 100, intervalS: 0.02, waitS: 2 });
        await sleep(300);
        let sent = 0;
        for (const port of s1.sourcePorts ?? []) sent += await send(port, frame(0x0a01), 100);
        // The same frame to the VXLAN port once: the capture sees what weft delivers.
        await send(4789, frame(0x0b01), 1);
        const [pg, kp] = await Promise.all([pingRun, kernelRun]);
        await sleep(300);
        const after = await n1.metrics();
        await cap.stop();
        const dropped = sendPortDrops(after.raw) - sendPortDrops(before.raw);
        console.log(`[sports/vxlan] ${sent} datagrams to ${n1.name}'s send-only ports: ${dropped} dropped by the kernel; ping ${p2.ip} → ${p1.ip} ${pg.received}/${pg.sent}, ${k!.pod.ip} → ${p1.ip} ${kp.received}/${kp.sent}`);
        expect(sent).toBe(800);
        expect(dropped, 'weft_source_port_dropped_total grew by what was sent').toBe(sent);
        for (const [reason, n] of Object.entries(after.drops)) expect(n - before.drops[reason]!, `${n1.name} drops ${reason}`).toBe(0);
        const rows = await decodePcapFile(cap.file, { fields: ['ip.id'], noChecksumPrefs: true });
        expect(rows.map((x) => parseInt(x['ip.id'][0] ?? '-1', 16)), 'inner packets on weft0 (0x0b01: the one sent to 4789)').toEqual([0x0b01]);
        expect(pg.received, pg.output).toBeGreaterThanOrEqual(195);
        expect(kp.received, kp.output).toBeGreaterThanOrEqual(97);
      }, TEST_TIMEOUT);

      // Rolling update (a second weft beside the first: its own send-only ports), kill -9 and restart.
      restartTests(cluster, backend, janitor);
    }
  });
}

let sharedJanitor: (() => Janitor) | null = null;
/** The file's one janitor (useJanitor registers its hooks once, at the top describe). */
function useJanitorRef(): () => Janitor {
  if (!sharedJanitor) throw new Error('janitor used outside the suite');
  return sharedJanitor;
}

describe.skipIf(skipIntegration('source-port entropy'))('source-port entropy (namespaces, etcd)', () => {
  sharedJanitor = useJanitor();
  entropyTests('vxlan', 'sp', true);
  entropyTests('udp', 'su', false);
});
