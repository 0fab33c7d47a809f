// Test 1, per backend: a 3-node cluster; every pod pings every other pod; a 20 MB
// random file crosses pod→pod over TCP intact; iperf3 pod→pod (figures printed,
// not asserted); weft0's offloads are what the flags ask for; /metrics counts tx/rx
// for the backend and no unexpected drops. SuiteOptions run the same with other
// `weft run` flags (e.g. --offload=false) on a cluster of their own.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Cluster } from '../harness/cluster.js';
import { HOOK_TIMEOUT, TEST_TIMEOUT } from '../harness/context.js';
import type { Janitor } from '../harness/janitor.js';
import { iperf, ping, randomFile, tcpTransfer } from '../harness/traffic.js';

export type Backend = 'vxlan' | 'ipip' | 'udp';

export const CONFIGS: Record<Backend, Record<string, unknown>> = {
  // Port 4789 so that kernel VXLAN (flannel.1, dstport 4789) interoperates.
  vxlan: { Network: '10.244.0.0/16', Backend: { Type: 'vxlan', VNI: 1, Port: 4789 } },
  ipip: { Network: '10.244.0.0/16', Backend: { Type: 'ipip' } },
  udp: { Network: '10.244.0.0/16', Backend: { Type: 'udp', Port: 8285 } },
};

export const TAGS: Record<Backend, string> = { vxlan: 'vx', ipip: 'ip', udp: 'ud' };

export const FILE_BYTES = 20 * 1024 * 1024;

/** How a backendSuite runs `weft run`; the default: the backend's tag, no extra flags. */
export interface SuiteOptions {
  /** Extra `weft run` flags for every node, e.g. OFFLOADS_OFF. */
  weftArgs?: string[];
  /** In the describe name and the log lines, e.g. 'offloads off'. */
  label?: string;
  /** 2-letter namespace tag; every cluster of a run needs its own (default TAGS[backend]). */
  tag?: string;
}

/** The master switch: every kernel offload of the data path off (TUN vnet_hdr/TSO/csum, UDP GSO, UDP GRO). */
export const OFFLOADS_OFF = ['--offload=false'];

/** "vxlan", or "vxlan offloads off": the prefix of this suite's log lines. */
export function suiteName(backend: Backend, opts: SuiteOptions = {}): string {
  return opts.label ? `${backend} ${opts.label}` : backend;
}

/**
 * Whether these `weft run` flags leave the TUN offloads asked for: each flag is true
 * unless given as false, and --offload=false turns every offload off.
 */
export function tunOffloadAsked(weftArgs: readonly string[]): boolean {
  const isFalse = (flag: string): boolean => weftArgs.some((a, i) => a === `--${flag}=false` || (a === `--${flag}` && weftArgs[i + 1] === 'false'));
  return !isFalse('offload') && !isFalse('tun-offload');
}

/** Builds the cluster in beforeAll, destroys it in afterAll; failures print the logs. */
export function useCluster(janitor: () => Janitor, backend: Backend, nodes = 3, opts: SuiteOptions = {}): () => Cluster {
  let cluster: Cluster | null = null;
  const name = suiteName(backend, opts);
  beforeAll(async () => {
    const t0 = Date.now();
    cluster = await Cluster.create(janitor(), { tag: opts.tag ?? TAGS[backend], config: CONFIGS[backend], nodes, weftArgs: opts.weftArgs ?? [] });
    const leases = await cluster.leases();
    console.log(`[${name}] cluster up in ${Date.now() - t0} ms: ${cluster.nodes.map((n, i) => `${n.name}=${n.underlayIp} ${leases.find((l) => l.attrs.PublicIP === n.underlayIp)?.subnet} pod ${cluster!.pods[i]?.ip}`).join(', ')}`);
  }, HOOK_TIMEOUT);
  beforeEach((ctx) => {
    ctx.onTestFailed(() => {
      if (cluster) console.error(`[${name}] ${ctx.task.name} failed; logs:\n${cluster.logs()}`);
    });
  });
  afterAll(async () => {
    if (!cluster) return;
    const c = cluster;
    cluster = null;
    const problems = await c.destroy();
    expect(problems, 'weft nodes that did not stop cleanly on SIGTERM').toEqual([]);
  }, HOOK_TIMEOUT);
  return () => {
    if (!cluster) throw new Error(`[${backend}] cluster is not up`);
    return cluster;
  };
}

/** More tests on the same cluster, after the basic ones; name prefixes their log lines (suiteName). */
export type Extra = (cluster: () => Cluster, janitor: () => Janitor, backend: Backend, name: string) => void;

export function backendSuite(janitor: () => Janitor, backend: Backend, extras: Extra[] = [], opts: SuiteOptions = {}): void {
  const name = suiteName(backend, opts);
  const weftArgs = opts.weftArgs ?? [];
  describe(`${backend} backend, 3 nodes${opts.label ? `, ${opts.label}` : ''}${weftArgs.length ? ` (weft run ${weftArgs.join(' ')})` : ''}`, () => {
    const cluster = useCluster(janitor, backend, 3, opts);

    it('every pod pings every other pod', async () => {
      const c = cluster();
      const pairs = c.pods.flatMap((a) => c.pods.filter((b) => b !== a).map((b) => [a, b] as const));
      const results = await Promise.all(pairs.map(([a, b]) => ping(a.ns, b.ip, { count: 3 })));
      results.forEach((r, i) => {
        const [a, b] = pairs[i]!;
        expect(r.received, `${a.ip} → ${b.ip}:\n${r.output}`).toBe(3);
      });
    }, TEST_TIMEOUT);

    it('a 20 MB random file crosses pod to pod over TCP intact', async () => {
      const c = cluster();
      const file = randomFile(janitor().dir, FILE_BYTES);
      const [p1, p2, p3] = c.pods as [typeof c.pods[0], typeof c.pods[0], typeof c.pods[0]];
      for (const [from, to] of [[p1, p2], [p3, p1]] as const) {
        const r = await tcpTransfer(janitor(), from, to, file.path);
        console.log(`[${name}] 20 MB ${from.ip} → ${to.ip}: ${r.ms} ms (${((FILE_BYTES * 8) / r.ms / 1e6).toFixed(2)} Gbit/s)`);
        expect(r.bytes).toBe(FILE_BYTES);
        expect(r.sha256).toBe(file.sha256);
      }
    }, TEST_TIMEOUT);

    it('iperf3 pod to pod for 3 s completes (Gbit/s printed, not asserted)', async () => {
      const c = cluster();
      const before = await c.nodes[0]!.tunCounters();
      const r = await iperf(janitor(), c.pods[0]!, c.pods[1]!, 3);
      const after = await c.nodes[0]!.tunCounters();
      // TCP retransmits here are mostly packets the kernel could not queue for weft
      // (weft0 tx dropped: the TUN queue was full), which weft's own drop counters cannot see.
      console.log(
        `[${name}] iperf3 ${c.pods[0]!.ip} → ${c.pods[1]!.ip}: ${r.gbps.toFixed(2)} Gbit/s over ${r.seconds.toFixed(1)} s, ` +
          `${(r.bytesReceived / 1e6).toFixed(0)} MB, ${r.retransmits ?? '?'} retransmits; weft0 on ${c.nodes[0]!.name}: ` +
          `${after.txPackets - before.txPackets} packets to weft, ${after.txDropped - before.txDropped} dropped at the TUN queue`,
      );
      expect(r.bytesReceived).toBeGreaterThan(0);
      expect(r.seconds).toBeGreaterThan(2);
    }, TEST_TIMEOUT);

    const tunOffload = tunOffloadAsked(weftArgs);
    it(`weft0 has TSO and checksum offload ${tunOffload ? 'on' : 'off'}, as the flags ask (ethtool -k in every node)`, async () => {
      // The kernel's view of the TUN: TUNSETOFFLOAD (TUN_F_CSUM | TUN_F_TSO4) shows as
      // tx-checksumming and tx-tcp-segmentation on. Without it the kernel segments and
      // checksums everything before weft reads it, and the offload path is not run at all.
      const want = tunOffload ? 'on' : 'off';
      for (const n of cluster().nodes) {
        const f = await n.tunFeatures();
        console.log(`[${name}] ${n.name} weft0: tx-checksumming ${f['tx-checksumming']}, tx-tcp-segmentation ${f['tx-tcp-segmentation']}`);
        expect(f['tx-checksumming'], `${n.name} weft0 tx-checksumming`).toBe(want);
        expect(f['tx-tcp-segmentation'], `${n.name} weft0 tx-tcp-segmentation`).toBe(want);
      }
    }, TEST_TIMEOUT);

    it('/metrics counts packets sent and received for the backend', async () => {
      const c = cluster();
      for (const n of c.nodes) {
        const m = await n.metrics();
        expect(m.backend, `${n.name} backend label`).toBe(backend);
        expect(m.txPackets, `${n.name} tx packets`).toBeGreaterThan(0);
        expect(m.rxPackets, `${n.name} rx packets`).toBeGreaterThan(0);
        // Nothing above was malformed: no decapsulation drops.
        // Nor taken for spoofing (anti-spoofing is on by default).
        for (const reason of ['short', 'bad_flags', 'bad_vni', 'unknown_peer', 'not_for_us', 'vlan_tagged', 'bad_inner', 'bad_outer', 'truncated', 'spoofed_source', 'not_local', 'family_disabled']) {
          expect(m.drops[reason], `${n.name} drops ${reason}`).toBe(0);
        }
        const nonzero = Object.entries(m.drops).filter(([, v]) => v > 0);
        console.log(`[${name}] ${n.name}: tx ${m.txPackets} rx ${m.rxPackets} packets${nonzero.length ? `, drops ${JSON.stringify(Object.fromEntries(nonzero))}` : ''}`);
      }
    }, TEST_TIMEOUT);

    for (const extra of extras) extra(cluster, janitor, backend, name);
  });
}
