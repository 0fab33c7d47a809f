// Issue 6, part 4: a mixed cluster during a rollout. One etcd, shared by the weft
// nodes of the vxlan cluster and by kernel-VXLAN nodes programmed as flannel
// programs them (harness/kernel-node.ts), each with a stand-in for flanneld
// (Flanneld below) that watches the leases in etcd and re-programs flannel.1 when
// one changes. Network config "Port": 4789, as kernel-interop.ts: both sides agree.
//
//   1. Mixed: every pod pings every other pod; 20 MB kernel → weft and weft → kernel
//      over TCP, checked by sha256.
//   2. Rollout of one kernel node to weft, keeping its subnet: flanneld stops,
//      flannel.1 goes (and its neighbour, fdb and route entries with it), its
//      lease stays in etcd; `weft run` starts there with the same --iface and a
//      subnet file holding its subnet. weft reuses the lease (same subnet, same
//      PublicIP) and writes its own VtepMAC into it; the remaining kernel nodes'
//      flanneld re-program neighbour and fdb for the new MAC; weft nodes follow
//      by themselves. The node's bridge and pod are left as they were. Pings from
//      every other pod run across the switch (20 per second each) and measure the
//      interruption; afterwards pings both ways and a 20 MB transfer through the
//      switched node.
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ETCD_IP, hostIn, UNDERLAY_NET, type Cluster, type Pod } from '../harness/cluster.js';
import { HOOK_TIMEOUT, TEST_TIMEOUT } from '../harness/context.js';
import { readLeases, SUBNETS_PREFIX, type Etcd } from '../harness/etcd.js';
import { ipn, nsRun, Proc, waitFor } from '../harness/exec.js';
import type { Janitor } from '../harness/janitor.js';
import { KERNEL_VXLAN, KernelNode } from '../harness/kernel-node.js';
import { iperf, ping, randomFile, tcpTransfer } from '../harness/traffic.js';
import { WeftNode } from '../harness/weft-node.js';
import { FILE_BYTES } from './backend.js';

/** Kernel nodes: mk1 (switched to weft in test 2), mk2, mk3 (stay kernel). */
const KERNEL_NODES = 3;
const kernelIp = (i: number): string => `${UNDERLAY_NET}.${101 + i}`;
/** Their subnets come from here (free ones only; weft nodes lease at random in 10.244.0.0/16). */
const KERNEL_SUBNET_POOL = Array.from({ length: 10 }, (_, i) => `10.244.${240 + i}.0/24`);
/** The background pings across the switch: one every 50 ms from every other pod. */
const PING_EVERY_S = 0.05;
/** The interruption must end within this (it is printed, and lasts about the time weft needs to start). */
const RECOVER_WITHIN_MS = 15_000;

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const unb64 = (s: string): string => Buffer.from(s, 'base64').toString();
const subnetOfKey = (key: string): string => key.slice(SUBNETS_PREFIX.length).replace('-', '/');

interface Programmed {
  mac: string;
  publicIp: string;
}

interface Change {
  subnet: string;
  from: string | null;
  to: string | null;
  at: number;
}

/**
 * What flanneld's vxlan backend does on a kernel node, for the leases of everyone
 * else: an etcd watch on the subnets prefix (curl on the JSON gateway, from the
 * node's namespace); on each event the lease is read back from etcd and
 *   added/changed:  ip neigh replace <subnet>.0 lladdr <VtepMAC> dev flannel.1 nud permanent
 *                   bridge fdb del <old VtepMAC> dev flannel.1 dst <old PublicIP>   (when it changed)
 *                   bridge fdb append <VtepMAC> dev flannel.1 dst <PublicIP>
 *                   ip route replace <subnet> via <subnet>.0 dev flannel.1 onlink
 *   removed:        the same three deleted.
 * A rewrite with the same MAC and PublicIP (a renewal) changes nothing. Events are
 * handled one at a time, in order.
 */
class Flanneld {
  /** subnet → what flannel.1 holds for it now. */
  readonly programmed = new Map<string, Programmed>();
  readonly changes: Change[] = [];
  readonly errors: string[] = [];
  private watch: Proc | null = null;
  private queue: Promise<void> = Promise.resolve();
  private pending = '';
  private stopping = false;

  constructor(
    private readonly janitor: Janitor,
    readonly node: KernelNode,
    private readonly etcd: Etcd,
  ) {}

  /** Watch first, then the snapshot: no change between the two is missed. */
  async start(): Promise<void> {
    const end = Buffer.from(SUBNETS_PREFIX);
    end[end.length - 1]! += 1;
    const body = JSON.stringify({ create_request: { key: b64(SUBNETS_PREFIX), range_end: end.toString('base64') } });
    const watch = new Proc(this.janitor, this.node.ns, 'curl', ['-sSN', '-X', 'POST', `http://${ETCD_IP}:2379/v3/watch`, '-d', body]);
    this.watch = watch;
    watch.child.stdout!.on('data', (d: Buffer) => this.onData(d.toString()));
    void watch.exited.then(({ code, signal }) => {
      if (!this.stopping) this.errors.push(`lease watch on ${this.node.ns} ended (${signal ?? `code ${code}`}): ${watch.output().slice(-500)}`);
    });
    await watch.waitOutput(/"created":\s*true/, 10_000);
    for (const l of await readLeases(this.etcd)) this.enqueue(l.key);
    await this.idle();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.watch?.stop('SIGTERM', 1000);
    await this.idle();
  }

  /** Resolves once every event received so far is handled. */
  idle(): Promise<void> {
    return this.queue;
  }

  /** When flannel.1 was programmed with `mac` for `subnet` at or after `since` (undefined: not yet). */
  changedAt(subnet: string, mac: string, since: number): number | undefined {
    return this.changes.find((c) => c.subnet === subnet && c.to === mac && c.at >= since)?.at;
  }

  private onData(text: string): void {
    this.pending += text;
    let nl: number;
    while ((nl = this.pending.indexOf('\n')) >= 0) {
      const line = this.pending.slice(0, nl).trim();
      this.pending = this.pending.slice(nl + 1);
      if (line === '') continue;
      try {
        const doc = JSON.parse(line) as { result?: { events?: Array<{ kv: { key: string } }> }; error?: unknown };
        if (doc.error) this.errors.push(`lease watch on ${this.node.ns}: ${line}`);
        for (const ev of doc.result?.events ?? []) this.enqueue(unb64(ev.kv.key));
      } catch (e) {
        this.errors.push(`lease watch on ${this.node.ns}: unparsable ${line.slice(0, 200)}: ${(e as Error).message}`);
      }
    }
  }

  private enqueue(key: string): void {
    this.queue = this.queue.then(() =>
      this.sync(key).catch((e: unknown) => {
        this.errors.push(`${this.node.ns} ${key}: ${(e as Error).message}`);
      }),
    );
  }

  private async sync(key: string): Promise<void> {
    const subnet = subnetOfKey(key);
    if (subnet === this.node.subnet) return;
    const kv = await this.etcd.get(key);
    if (!kv) return this.remove(subnet);
    const attrs = JSON.parse(kv.value) as { PublicIP: string; BackendType?: string; BackendData?: { VtepMAC?: string } };
    if (attrs.BackendType !== 'vxlan') return;
    const mac = attrs.BackendData?.VtepMAC?.toLowerCase();
    if (!mac) throw new Error(`vxlan lease without VtepMAC: ${kv.value}`);
    const before = this.programmed.get(subnet);
    if (before && before.mac === mac && before.publicIp === attrs.PublicIP) return; // a renewal
    const ns = this.node.ns;
    const gw = hostIn(subnet, 0);
    await ipn(ns, 'neigh', 'replace', gw, 'lladdr', mac, 'dev', KERNEL_VXLAN, 'nud', 'permanent');
    if (before) await nsRun(ns, 'bridge', ['fdb', 'del', before.mac, 'dev', KERNEL_VXLAN, 'dst', before.publicIp]);
    await nsRun(ns, 'bridge', ['fdb', 'append', mac, 'dev', KERNEL_VXLAN, 'dst', attrs.PublicIP]);
    await ipn(ns, 'route', 'replace', subnet, 'via', gw, 'dev', KERNEL_VXLAN, 'onlink');
    this.programmed.set(subnet, { mac, publicIp: attrs.PublicIP });
    this.changes.push({ subnet, from: before?.mac ?? null, to: mac, at: Date.now() });
  }

  private async remove(subnet: string): Promise<void> {
    const before = this.programmed.get(subnet);
    if (!before) return;
    const ns = this.node.ns;
    const gw = hostIn(subnet, 0);
    await ipn(ns, 'route', 'del', subnet, 'via', gw, 'dev', KERNEL_VXLAN, 'onlink');
    await ipn(ns, 'neigh', 'del', gw, 'dev', KERNEL_VXLAN);
    await nsRun(ns, 'bridge', ['fdb', 'del', before.mac, 'dev', KERNEL_VXLAN, 'dst', before.publicIp]);
    this.programmed.delete(subnet);
    this.changes.push({ subnet, from: before.mac, to: null, at: Date.now() });
  }
}

/** `ping -D` every PING_EVERY_S from a pod, until stopped; replies with their receive times. */
class Pinger {
  readonly proc: Proc;
  constructor(
    janitor: Janitor,
    readonly from: Pod,
    readonly to: string,
  ) {
    this.proc = new Proc(janitor, from.ns, 'ping', ['-n', '-D', '-i', String(PING_EVERY_S), '-W', '1', to]);
  }

  /** Replies so far: receive time (ms since the epoch) and sequence number. */
  replies(): Array<{ at: number; seq: number }> {
    const out: Array<{ at: number; seq: number }> = [];
    for (const m of this.proc.output().matchAll(/^\[(\d+\.\d+)\] \d+ bytes from [\d.]+: icmp_seq=(\d+)/gm)) {
      out.push({ at: Number(m[1]) * 1000, seq: Number(m[2]) });
    }
    return out;
  }

  /** The longest stretch without a reply: from the last reply before it to the first after. */
  longestGap(): { from: number; to: number; ms: number; lostSeqs: number } {
    const r = this.replies();
    let best = { from: NaN, to: NaN, ms: 0, lostSeqs: 0 };
    for (let i = 1; i < r.length; i++) {
      const ms = r[i]!.at - r[i - 1]!.at;
      if (ms > best.ms) best = { from: r[i - 1]!.at, to: r[i]!.at, ms, lostSeqs: r[i]!.seq - r[i - 1]!.seq - 1 };
    }
    return best;
  }

  stop(): Promise<unknown> {
    return this.proc.stop('SIGINT', 2000);
  }
}

/** Every ordered pair of distinct pods pings 3 times, all at once. */
async function pingAllPairs(pods: Pod[]): Promise<void> {
  const pairs = pods.flatMap((a) => pods.filter((b) => b !== a).map((b) => [a, b] as const));
  const results = await Promise.all(pairs.map(([a, b]) => ping(a.ns, b.ip, { count: 3 })));
  const failed = results.map((r, i) => ({ r, pair: pairs[i]! })).filter(({ r }) => r.received !== 3);
  expect(failed.map(({ pair: [a, b], r }) => `${a.ip} → ${b.ip}: ${r.received}/3\n${r.output}`)).toEqual([]);
}

async function transfer(janitor: Janitor, from: Pod, to: Pod, what: string): Promise<void> {
  const file = randomFile(janitor.dir, FILE_BYTES);
  const r = await tcpTransfer(janitor, from, to, file.path);
  console.log(`[vxlan/mixed] 20 MB ${what} ${from.ip} → ${to.ip}: ${r.ms} ms`);
  expect(r.bytes).toBe(FILE_BYTES);
  expect(r.sha256).toBe(file.sha256);
}

export function mixedRolloutTests(cluster: () => Cluster, janitor: () => Janitor): void {
  describe('mixed rollout: kernel-VXLAN nodes (flanneld) and weft nodes on one etcd; a kernel node switched to weft', () => {
    const kernels: KernelNode[] = [];
    const flannelds: Flanneld[] = [];
    const pingers = new Set<Pinger>();
    let switched: WeftNode | null = null;

    beforeAll(async () => {
      const c = cluster();
      const t0 = Date.now();
      const taken = new Set((await c.leases()).map((l) => l.subnet));
      const subnets = KERNEL_SUBNET_POOL.filter((s) => !taken.has(s)).slice(0, KERNEL_NODES);
      for (let i = 0; i < KERNEL_NODES; i++) {
        const k = await KernelNode.create(c, kernelIp(i), subnets[i]!, { role: `mk${i + 1}`, podRole: `mp${i + 1}`, iface: `wtm${i + 1}` });
        await k.publishLease();
        kernels.push(k);
      }
      for (const k of kernels) {
        const f = new Flanneld(janitor(), k, c.etcd);
        flannelds.push(f);
        await f.start();
      }
      // Converged: every weft node knows every kernel node's lease (and MAC), and
      // every flanneld has programmed every other lease in etcd.
      const all = await c.leases();
      for (const n of c.nodes) {
        await waitFor(
          `${n.name} to learn the kernel nodes' leases`,
          async () => {
            const peers = (await n.status()).peers;
            return kernels.every((k) => peers.some((p) => p.subnet === k.subnet && p.publicIp === k.underlayIp && p.vtepMac === k.mac));
          },
          10_000,
        );
      }
      for (const f of flannelds) {
        await f.idle();
        expect(f.errors).toEqual([]);
        expect([...f.programmed.keys()].sort()).toEqual(all.map((l) => l.subnet).filter((s) => s !== f.node.subnet).sort());
      }
      console.log(
        `[vxlan/mixed] ${KERNEL_NODES} kernel nodes with flanneld up in ${Date.now() - t0} ms: ` +
          kernels.map((k) => `${k.ns.split('-').pop()}=${k.underlayIp} ${k.subnet} ${k.mac} pod ${k.pod.ip}`).join(', '),
      );
    }, HOOK_TIMEOUT);

    beforeEach((ctx) => {
      ctx.onTestFailed(() => {
        for (const f of flannelds) console.error(`[vxlan/mixed] flanneld on ${f.node.ns}: errors ${JSON.stringify(f.errors)}, changes ${JSON.stringify(f.changes)}`);
        if (switched) console.error(`--- weft ${switched.name} (${switched.ns}) ${switched.logFile} ---\n${switched.log().slice(-6000)}`);
      });
    });

    afterAll(async () => {
      await Promise.all([...pingers].map((p) => p.stop()));
      await Promise.all(flannelds.map((f) => f.stop()));
      if (switched?.running) {
        const r = await switched.stop(5000);
        expect(r?.code, `weft on ${switched.name} did not exit cleanly on SIGTERM`).toBe(0);
      }
      // The namespaces go with the cluster.
    }, HOOK_TIMEOUT);

    it('mixed: every pod reaches every other pod; 20 MB kernel → weft and weft → kernel by sha256, iperf3 both ways', async () => {
      const c = cluster();
      const pods = [...c.pods, ...kernels.map((k) => k.pod)];
      const t0 = Date.now();
      await pingAllPairs(pods);
      console.log(`[vxlan/mixed] ${pods.length} pods (${c.pods.length} behind weft, ${kernels.length} behind flannel.1): all ${pods.length * (pods.length - 1)} pairs ping (${Date.now() - t0} ms)`);
      await transfer(janitor(), kernels[1]!.pod, c.pods[0]!, 'kernel → weft');
      await transfer(janitor(), c.pods[1]!, kernels[2]!.pod, 'weft → kernel');
      // The kernel nodes keep their offloads at their defaults: partial inner checksums
      // and whole TSO super-packets reach weft over veth (partial-checksum.ts).
      const badBefore = await Promise.all(c.nodes.map(async (n) => (await n.metrics()).drops['bad_checksum']!));
      for (const [from, to, what] of [[kernels[2]!.pod, c.pods[1]!, 'kernel → weft'], [c.pods[0]!, kernels[1]!.pod, 'weft → kernel']] as const) {
        const r = await iperf(janitor(), from, to, 2);
        console.log(`[vxlan/mixed] iperf3 ${what} ${from.ip} → ${to.ip}: ${r.gbps.toFixed(2)} Gbit/s, ${r.bytesReceived} bytes`);
        expect(r.bytesReceived, `iperf3 ${what}`).toBeGreaterThan(0);
      }
      for (const [i, n] of c.nodes.entries()) {
        expect((await n.metrics()).drops['bad_checksum']! - badBefore[i]!, `${n.name} drops bad_checksum on honest traffic`).toBe(0);
      }
    }, TEST_TIMEOUT);

    it('a kernel node switched to weft keeps its subnet, lease and pod; every pod reaches it again; 20 MB through it by sha256', async () => {
      const c = cluster();
      const [k, ...rest] = kernels as [KernelNode, ...KernelNode[]];
      const [f, ...restFlannelds] = flannelds as [Flanneld, ...Flanneld[]];
      const others = [...c.pods, ...rest.map((r) => r.pod)];
      const oldMac = k.mac;
      const gw = hostIn(k.subnet, 0);
      const before = (await c.leases()).find((l) => l.key === k.key)!;
      expect(before.attrs.PublicIP).toBe(k.underlayIp);
      expect(before.attrs.BackendData?.VtepMAC).toBe(oldMac);
      const leaseCount = (await c.leases()).length;

      // The node's weft, as the rollout would configure it: the same --iface, and the
      // subnet file flanneld left (the same one the CNI bridge was addressed from).
      const node = new WeftNode(janitor(), 'mk1', k.ns, k.iface, k.underlayIp, c.dir, `http://${ETCD_IP}:2379`, c.weftArgs);
      const network = String(c.opts.config['Network']);
      const flannelSubnet = `${hostIn(k.subnet, 1)}/${k.subnet.split('/')[1]}`;
      writeFileSync(node.subnetFile, `FLANNEL_NETWORK=${network}\nFLANNEL_SUBNET=${flannelSubnet}\nFLANNEL_MTU=${k.mtu}\nFLANNEL_IPMASQ=false\n`);

      // Pings from every other pod across the switch.
      const across = others.map((p) => new Pinger(janitor(), p, k.pod.ip));
      across.forEach((p) => pingers.add(p));
      await waitFor(
        'every pod to get 3 replies from the switching pod before the switch',
        () => {
          const lacking = across.filter((p) => p.replies().length < 3);
          if (lacking.length > 0) throw new Error(lacking.map((p) => `${p.from.ip}: ${p.replies().length} replies\n${p.proc.output().slice(-500)}`).join('; '));
          return true;
        },
        10_000,
        50,
      );

      // Switch: flanneld stops; flannel.1 goes, and with it every neighbour, fdb and route entry through it.
      const t0 = Date.now();
      await f.stop();
      await ipn(k.ns, 'link', 'del', KERNEL_VXLAN);
      const tTornDown = Date.now();
      expect((await nsRun(k.ns, 'ip', ['link', 'show', 'dev', KERNEL_VXLAN], { allowFail: true })).code).not.toBe(0);
      expect(await ipn(k.ns, 'route', 'show')).not.toContain(KERNEL_VXLAN);
      expect(await ipn(k.ns, 'neigh', 'show', 'nud', 'permanent')).toBe('');
      expect((await nsRun(k.ns, 'bridge', ['fdb', 'show'])).stdout).not.toContain(KERNEL_VXLAN);
      // Its lease stays in etcd, untouched.
      expect((await c.etcd.get(k.key))?.value).toBe(before.value);

      switched = node;
      await node.start();
      const tReady = Date.now();
      const st = await node.status();
      expect(st.lease.subnet, 'weft reuses the kernel node subnet').toBe(k.subnet);
      expect(st.lease.publicIp).toBe(k.underlayIp);
      expect(st.vtepMac).not.toBe(oldMac);
      expect(node.subnetEnv()).toEqual({ network, subnet: flannelSubnet, mtu: k.mtu, ipv6Network: null, ipv6Subnet: null });
      // The same lease key, now carrying weft's VtepMAC; no other lease for this PublicIP.
      const leases = await c.leases();
      expect(leases.length).toBe(leaseCount);
      const mine = leases.filter((l) => l.attrs.PublicIP === k.underlayIp);
      expect(mine.map((l) => l.key)).toEqual([k.key]);
      expect(mine[0]!.attrs.BackendType).toBe('vxlan');
      expect(mine[0]!.attrs.BackendData).toEqual({ VNI: 1, VtepMAC: st.vtepMac });
      const newMac = st.vtepMac;

      // The remaining kernel nodes' flanneld re-program neighbour and fdb for the new MAC.
      const reprogrammed: number[] = [];
      for (const rf of restFlannelds) {
        reprogrammed.push(await waitFor(`flanneld on ${rf.node.ns} to re-program ${k.subnet}`, () => rf.changedAt(k.subnet, newMac, t0), 10_000, 20));
        const neigh = await ipn(rf.node.ns, 'neigh', 'show', gw, 'dev', KERNEL_VXLAN);
        expect(neigh).toMatch(new RegExp(`lladdr ${newMac} PERMANENT`));
        const fdb = (await nsRun(rf.node.ns, 'bridge', ['fdb', 'show', 'dev', KERNEL_VXLAN])).stdout;
        expect(fdb).toContain(`${newMac} dst ${k.underlayIp} self permanent`);
        expect(fdb).not.toContain(oldMac);
        expect(await ipn(rf.node.ns, 'route', 'show', k.subnet)).toContain(`via ${gw} dev ${KERNEL_VXLAN} onlink`);
      }
      // weft nodes follow the lease by themselves.
      for (const n of c.nodes) {
        await waitFor(
          `${n.name} to take ${k.subnet}'s new VtepMAC`,
          async () => (await n.status()).peers.some((p) => p.subnet === k.subnet && p.publicIp === k.underlayIp && p.vtepMac === newMac),
          5000,
        );
      }

      // Reachable again from every other pod: a reply received after flannel.1 was gone.
      const back = await Promise.all(
        across.map((p) => waitFor(`${p.from.ip} → ${k.pod.ip} again`, () => p.replies().find((r) => r.at > tTornDown)?.at, RECOVER_WITHIN_MS, 20)),
      );
      await Promise.all(across.map((p) => p.stop()));
      across.forEach((p) => pingers.delete(p));
      const gaps = across.map((p) => ({ pod: p.from.ip, ...p.longestGap() }));
      const rel = (t: number): string => `+${Math.round(t - t0)} ms`;
      console.log(
        `[vxlan/mixed] switch of ${k.ns.split('-').pop()} (${k.subnet}) to weft: flannel.1 gone ${rel(tTornDown)}, weft ready ${rel(tReady)}, ` +
          `kernel nodes re-programmed ${reprogrammed.map(rel).join(', ')}, reachable again from every pod ${rel(Math.max(...back))}`,
      );
      for (const g of gaps) console.log(`[vxlan/mixed]   ${g.pod} → ${k.pod.ip}: no reply for ${Math.round(g.ms)} ms (${g.lostSeqs} pings lost), back ${rel(g.to)}`);
      const interruption = Math.max(...gaps.map((g) => g.ms));
      console.log(`[vxlan/mixed] interruption of ${k.pod.ip} (longest, over ${gaps.length} pods): ${Math.round(interruption)} ms`);
      for (const g of gaps) {
        // The longest gap is the switch itself: it spans the moment flannel.1 went.
        expect(g.from - 1, `${g.pod}: its longest gap is not the switch`).toBeLessThanOrEqual(tTornDown);
        expect(g.to).toBeGreaterThan(tTornDown);
      }
      expect(interruption).toBeLessThan(RECOVER_WITHIN_MS);

      // The pod and its bridge are as they were.
      expect(await ipn(k.pod.ns, '-4', '-o', 'addr', 'show', 'dev', 'wtpod0')).toContain(`inet ${k.pod.ip}/${k.subnet.split('/')[1]}`);
      expect(await ipn(k.ns, '-4', '-o', 'addr', 'show', 'dev', 'wtcni0')).toContain(`inet ${flannelSubnet}`);

      // Both ways with every other pod, then 20 MB through the switched node.
      const pairs = others.flatMap((p) => [[p, k.pod] as const, [k.pod, p] as const]);
      const results = await Promise.all(pairs.map(([a, b]) => ping(a.ns, b.ip, { count: 3 })));
      expect(results.map((r, i) => `${pairs[i]![0].ip} → ${pairs[i]![1].ip}: ${r.received}/3`)).toEqual(pairs.map(([a, b]) => `${a.ip} → ${b.ip}: 3/3`));
      await transfer(janitor(), rest[0]!.pod, k.pod, 'kernel → switched');
      await transfer(janitor(), k.pod, c.pods[0]!, 'switched → weft');

      const m = await node.metrics();
      const drops = Object.entries(m.drops).filter(([, v]) => v > 0);
      console.log(`[vxlan/mixed] ${node.name} (weft now): tx ${m.txPackets} rx ${m.rxPackets}${drops.length ? `, drops ${JSON.stringify(Object.fromEntries(drops))}` : ''}`);
      for (const rf of restFlannelds) expect(rf.errors).toEqual([]);
    }, TEST_TIMEOUT);
  });
}
