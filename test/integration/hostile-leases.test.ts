// Hostile registry data, end to end: leases of every kind a bad (or broken)
// writer can put into etcd or the file registry. Each must be rejected under
// its reason and counted in /metrics, must not displace an accepted node's
// MAC or routes (nor, with DirectRouting, add a kernel route), and the honest
// pods must keep talking. Also: a node whose own lease is rewritten by someone
// else stops at once (its own restart does not), and a table too small for the
// cluster shows in /metrics and /readyz while installed peers keep working.
//
// Run: npx tsc -p tsconfig.json && npx vitest run test/integration/hostile-leases.test.ts
import { mkdirSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEASE_REJECT_REASONS } from '../../src/dataplane/lease-admission.js';
import { withFileLock } from '../../src/registry/file-lock.js';
import { FileRegistry } from '../../src/registry/file.js';
import { addPod, attachToUnderlay, Cluster, ETCD_IP, hostIn, UNDERLAY_BRIDGE, UNDERLAY_NET, type Pod } from './harness/cluster.js';
import { HOOK_TIMEOUT, TEST_TIMEOUT, useJanitor } from './harness/context.js';
import { SUBNETS_PREFIX } from './harness/etcd.js';
import { ipn, nsRun, Proc, sleep, sysctl, waitFor } from './harness/exec.js';
import type { Janitor } from './harness/janitor.js';
import { skipIntegration } from './harness/requirements.js';
import { ping, pingUntilReachable } from './harness/traffic.js';
import { HEALTH, WeftNode } from './harness/weft-node.js';

const VXLAN = { Network: '10.244.0.0/16', Backend: { Type: 'vxlan', VNI: 1, Port: 4789 } };

const value = (ip: string, mac: string): string => JSON.stringify({ PublicIP: ip, PublicIPv6: null, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: mac } });
const keyOf = (subnet: string): string => `${SUBNETS_PREFIX}${subnet.replace('/', '-')}`;

/** weft_leases_rejected_total by reason, every reason present. */
function rejectedCounts(raw: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of raw.matchAll(/^weft_leases_rejected_total\{reason="([a-z0-9_]+)"\} (\S+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}
function sample(raw: string, series: string): number {
  const line = raw.split('\n').find((l) => l.startsWith(`${series} `));
  if (!line) throw new Error(`no ${series} in /metrics`);
  return Number(line.slice(series.length + 1));
}
const tally = (reasons: string[]): Record<string, number> => {
  const out = Object.fromEntries(LEASE_REJECT_REASONS.map((r) => [r, 0]));
  for (const r of reasons) out[r]! += 1;
  return out;
};
async function readyz(n: WeftNode): Promise<string> {
  return (await nsRun(n.ns, 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-m', '1', `${HEALTH}/readyz`], { allowFail: true })).stdout;
}
/** Peers as a node's /status shows them, comparable across calls. */
async function peersOf(n: WeftNode): Promise<string[]> {
  return (await n.status()).peers.map((p) => `${p.subnet} ${p.publicIp} ${p.vtepMac}`).sort();
}
async function pingAll(pods: Pod[]): Promise<void> {
  for (const a of pods) {
    for (const b of pods) {
      if (a === b) continue;
      const r = await ping(a.ns, b.ip, { count: 3 });
      expect(r.received, `${a.ns} → ${b.ip}\n${r.output}`).toBe(3);
    }
  }
}
/** /24s inside Network that no lease holds (hostile leases go there). */
function freeSubnets(taken: string[], n: number): string[] {
  const out: string[] = [];
  for (let i = 200; out.length < n && i < 256; i++) if (!taken.includes(`10.244.${i}.0/24`)) out.push(`10.244.${i}.0/24`);
  return out;
}
const logLines = (n: WeftNode, lease: string): number => n.log().split('\n').filter((l) => l.includes('"msg":"lease rejected"') && l.includes(`"lease":"${lease}"`)).length;

/** A weft started without waiting for /readyz (it is not meant to become ready): waits for /healthz and the subnet file. */
async function startUnready(janitor: Janitor, n: WeftNode): Promise<void> {
  n.proc = new Proc(janitor, n.ns, process.execPath, n.args(), { logFile: n.logFile });
  const proc = n.proc;
  await waitFor(
    `${n.name} /healthz and subnet file`,
    async () => {
      if (!proc.running) throw new Error(`weft on ${n.name} exited:\n${n.log().slice(-4000)}`);
      const r = await nsRun(n.ns, 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-m', '1', `${HEALTH}/healthz`], { allowFail: true });
      if (r.stdout !== '200') return false;
      try {
        n.subnetEnv();
        return true;
      } catch {
        return false;
      }
    },
    30_000,
    100,
  );
}

describe.skipIf(skipIntegration('hostile leases'))('hostile leases (namespaces, etcd and the file registry)', () => {
  const janitor = useJanitor();

  describe('etcd, vxlan', () => {
    let c: Cluster | null = null;
    const cluster = (): Cluster => c!;
    beforeAll(async () => {
      c = await Cluster.create(janitor(), { tag: 'hx', config: VXLAN, nodes: 3 });
    }, HOOK_TIMEOUT);
    afterAll(async () => {
      const problems = await c?.destroy();
      expect(problems ?? []).toEqual([]);
    }, HOOK_TIMEOUT);

    it('every kind of hostile lease is rejected under its reason, counted, logged once; honest MACs and routes stay, pods keep talking', async () => {
      const c = cluster();
      const [n1, n2, n3] = c.nodes as [WeftNode, WeftNode, WeftNode];
      const leases = await c.leases();
      const own = (n: WeftNode) => leases.find((l) => l.attrs.PublicIP === n.underlayIp)!;
      const s1 = own(n1).subnet;
      const mac1 = own(n1).attrs.BackendData!.VtepMAC!;
      const mac3 = own(n3).attrs.BackendData!.VtepMAC!;
      const before = await Promise.all(c.nodes.map(peersOf));
      const free = freeSubnets(leases.map((l) => l.subnet), 10);
      const h = (i: number): string => `0a:bb:00:00:00:${(0x50 + i).toString(16)}`;
      // [key, value, reason at n1]
      const hostile: [string, string, string][] = [
        [keyOf('0.0.0.0/0'), value(`${UNDERLAY_NET}.50`, h(0)), 'outside_network'],
        [keyOf(`${hostIn(s1, 128)}/25`), value(`${UNDERLAY_NET}.51`, h(1)), 'wrong_prefix_len'], // a /25 inside n1's own subnet
        [`${keyOf(s1)}&fd00::-64`, value(`${UNDERLAY_NET}.52`, h(2)), 'overlaps_self'], // n1's subnet under a dual-stack key
        [keyOf(free[0]!), value(n2.underlayIp, h(3)), 'public_ip_taken'], // n2's PublicIP, a new MAC: would rewrite n2's MAC
        [keyOf(free[1]!), value(n1.underlayIp, h(4)), 'own_public_ip'],
        [keyOf(free[2]!), value(`${UNDERLAY_NET}.54`, mac3), 'mac_taken'], // n3's MAC
        [keyOf(free[3]!), value(`${UNDERLAY_NET}.55`, mac1), 'own_mac'],
        [keyOf(free[4]!), value(`${UNDERLAY_NET}.56`, 'ff:ff:ff:ff:ff:ff'), 'bad_mac'],
        [keyOf(free[5]!), value(`${UNDERLAY_NET}.57`, '00:00:00:00:00:00'), 'bad_mac'],
        [keyOf(free[6]!), value('0.0.0.0', h(7)), 'bad_public_ip'],
        [keyOf(free[7]!), value('255.255.255.255', h(8)), 'bad_public_ip'],
        [keyOf(free[8]!), value('224.0.0.5', h(9)), 'bad_public_ip'],
      ];
      for (const [key, v] of hostile) await c.etcd.put(key, v);
      const want = tally(hostile.map((x) => x[2]));
      await waitFor('n1 to count every hostile lease', async () => JSON.stringify(rejectedCounts((await n1.metrics()).raw)) === JSON.stringify(want), 5000, 100).catch(
        async (e) => {
          throw new Error(`${(e as Error).message}: n1 counts ${JSON.stringify(rejectedCounts((await n1.metrics()).raw))}, expected ${JSON.stringify(want)}`);
        },
      );
      expect(rejectedCounts((await n1.metrics()).raw)).toEqual(want);
      // The other nodes reject every one as well (under their own view's reason).
      for (const n of [n2, n3]) {
        await waitFor(`${n.name} to reject all ${hostile.length}`, async () => Object.values(rejectedCounts((await n.metrics()).raw)).reduce((a, b) => a + b, 0) === hostile.length, 5000, 100);
      }
      console.log(`[hostile etcd] n1 rejected: ${JSON.stringify(Object.fromEntries(Object.entries(rejectedCounts((await n1.metrics()).raw)).filter(([, v]) => v > 0)))}`);

      // Nothing displaced: every node's peers (subnet, PublicIP, MAC) as before, everyone still running.
      expect(await Promise.all(c.nodes.map(peersOf))).toEqual(before);
      expect(c.nodes.every((n) => n.running)).toBe(true);
      await pingAll(c.pods);

      // A renewal of a hostile lease (same value, new revision) is neither counted nor logged again.
      const [renewKey, renewValue] = hostile[3]!;
      for (let i = 0; i < 3; i++) await c.etcd.put(renewKey, renewValue);
      // A sentinel after them: once it is counted, the renewals have been seen.
      await c.etcd.put(keyOf(free[9]!), value('127.0.0.1', h(10)));
      await waitFor('the sentinel counted', async () => rejectedCounts((await n1.metrics()).raw)['bad_public_ip'] === want['bad_public_ip']! + 1, 5000, 100);
      expect(rejectedCounts((await n1.metrics()).raw)['public_ip_taken']).toBe(1);
      expect(logLines(n1, free[0]!)).toBe(1);
      expect(await Promise.all(c.nodes.map(peersOf))).toEqual(before);
    }, TEST_TIMEOUT);

    it("a node's own lease rewritten by someone else: it stops at once saying what changed; its own restart (same subnet, same MAC) is no change and takes the lease back", async () => {
      const c = cluster();
      const [n1, n2, n3] = c.nodes as [WeftNode, WeftNode, WeftNode];
      // A successor process with the same state dir rewrites the lease with identical attributes: no stop.
      const statusBefore = await n2.status();
      await n2.kill9();
      await n2.start();
      await sleep(1500);
      expect(n2.running, n2.log().slice(-3000)).toBe(true);
      expect((await n2.status()).vtepMac).toBe(statusBefore.vtepMac);
      expect(n2.log()).not.toMatch(/own lease changed/);

      const lease3 = (await c.leases()).find((l) => l.attrs.PublicIP === n3.underlayIp)!;
      const stolen = value(n3.underlayIp, '0a:ee:00:00:00:01');
      const t0 = Date.now();
      await c.etcd.put(lease3.key, stolen);
      await waitFor(`${n3.name} to stop`, async () => !n3.running, 5000, 25);
      console.log(`[hostile etcd] n3 stopped ${Date.now() - t0} ms after its lease was rewritten`);
      expect(n3.log()).toMatch(/own lease changed by someone else; stopping/);
      expect(n3.log()).toMatch(/0a:ee:00:00:00:01/);
      // A restart acquires its lease again (found by PublicIP) with its own MAC.
      await n3.start();
      const back = (await c.leases()).find((l) => l.attrs.PublicIP === n3.underlayIp)!;
      expect(back.subnet).toBe(lease3.subnet);
      expect(back.attrs.BackendData?.VtepMAC).toBe(lease3.attrs.BackendData?.VtepMAC);
      await waitFor(`${n1.name} to see n3's MAC again`, async () => (await peersOf(n1)).some((p) => p === `${lease3.subnet} ${n3.underlayIp} ${lease3.attrs.BackendData?.VtepMAC}`), 5000, 100);
      await pingUntilReachable(c.pods[0]!.ns, c.pods[2]!.ip, 10_000);
      await pingAll(c.pods);
    }, TEST_TIMEOUT);

    it('a table too small for the cluster: counted, /readyz false while a lease waits, installed peers reachable; room made → installed and ready', async () => {
      const c = cluster();
      const j = janitor();
      // The hostile leases of the first test go: a deleted lease lets a conflicting one
      // in (lease-admission.ts), which would take the room this test makes below.
      const honest = await Promise.all(c.nodes.map(async (n) => keyOf((await n.status()).lease.subnet)));
      for (const kv of await c.etcd.list(SUBNETS_PREFIX)) if (!honest.includes(kv.key)) await c.etcd.del(kv.key);
      expect((await c.leases()).length).toBe(3);
      const ns = c.addNamespace('n4');
      await attachToUnderlay(c.ul, ns, 'wtn4', `${UNDERLAY_NET}.4`);
      await sysctl(ns, 'net.ipv4.ip_forward', '1');
      const n4 = new WeftNode(j, 'n4', ns, 'wtn4', `${UNDERLAY_NET}.4`, c.dir, `http://${ETCD_IP}:2379`, ['--table-capacity', '2']);
      c.nodes.push(n4);
      await startUnready(j, n4);
      const env = n4.subnetEnv();
      const p4 = await addPod(c, ns, 'p4', env.subnet, env.mtu);
      await waitFor('n4 to fill its tables', async () => sample((await n4.metrics()).raw, 'weft_leases_pending') === 1, 5000, 100);
      const m = (await n4.metrics()).raw;
      expect(sample(m, 'weft_table_full_total')).toBe(1);
      expect(sample(m, 'weft_table_entries{table="routes"}')).toBe(2);
      expect(sample(m, 'weft_table_entries{table="peers"}')).toBe(2);
      expect(sample(m, 'weft_table_capacity{table="routes"}')).toBe(2);
      expect(await readyz(n4)).toBe('503');

      const installed = (await n4.status()).peers.map((p) => p.publicIp);
      expect(installed.length).toBe(2);
      const [n1, n2, n3] = c.nodes as [WeftNode, WeftNode, WeftNode];
      const peerNodes = [n1, n2, n3];
      const waiting = peerNodes.find((n) => !installed.includes(n.underlayIp))!;
      const reachable = peerNodes.filter((n) => installed.includes(n.underlayIp));
      for (const n of reachable) {
        const pod = c.pods[peerNodes.indexOf(n)]!;
        await pingUntilReachable(p4.ns, pod.ip, 10_000);
        const r = await ping(pod.ns, p4.ip, { count: 3 });
        expect(r.received, r.output).toBe(3);
      }
      // The waiting node is neither a route nor a known sender on n4: its pod is unreachable from p4.
      expect((await ping(p4.ns, c.pods[peerNodes.indexOf(waiting)]!.ip, { count: 2, waitS: 1 })).received).toBe(0);

      // Room: an installed node's lease is deleted (that node stops, as flanneld does); the waiting one goes in.
      const gone = reachable[0]!;
      const goneLease = (await c.leases()).find((l) => l.attrs.PublicIP === gone.underlayIp)!;
      expect(await c.etcd.del(goneLease.key)).toBe(1);
      await waitFor('n4 to install the waiting lease', async () => sample((await n4.metrics()).raw, 'weft_leases_pending') === 0, 5000, 100);
      await waitFor('n4 ready', async () => (await readyz(n4)) === '200', 5000, 100);
      await pingUntilReachable(p4.ns, c.pods[peerNodes.indexOf(waiting)]!.ip, 10_000);
      await waitFor(`${gone.name} to stop`, async () => !gone.running, 5000, 50);
    }, TEST_TIMEOUT);
  });

  describe('file registry, vxlan with DirectRouting', () => {
    const nodes: WeftNode[] = [];
    const pods: Pod[] = [];
    const namespaces: string[] = [];
    let registryFile = '';
    let ul = '';
    beforeAll(async () => {
      const j = janitor();
      const dir = join(j.dir, 'hf');
      mkdirSync(dir, { recursive: true });
      registryFile = join(dir, 'registry.json');
      await new FileRegistry({ path: registryFile }).putNetworkConfig(JSON.stringify({ ...VXLAN, Backend: { ...VXLAN.Backend, DirectRouting: true } }));
      ul = j.addNamespace('hful');
      namespaces.push(ul);
      await ipn(ul, 'link', 'add', UNDERLAY_BRIDGE, 'type', 'bridge');
      await ipn(ul, 'link', 'set', UNDERLAY_BRIDGE, 'up');
      for (let i = 1; i <= 2; i++) {
        const ns = j.addNamespace(`hfn${i}`);
        namespaces.push(ns);
        await attachToUnderlay(ul, ns, `wtn${i}`, `${UNDERLAY_NET}.${i}`);
        await sysctl(ns, 'net.ipv4.ip_forward', '1');
        nodes.push(new WeftNode(j, `n${i}`, ns, `wtn${i}`, `${UNDERLAY_NET}.${i}`, dir, '', ['--registry-file', registryFile]));
      }
      await Promise.all(nodes.map((n) => n.start()));
      for (let i = 0; i < nodes.length; i++) {
        const env = nodes[i]!.subnetEnv();
        const owner = {
          addNamespace: (role: string): string => {
            const ns = j.addNamespace(role);
            namespaces.push(ns);
            return ns;
          },
        };
        pods.push(await addPod(owner, nodes[i]!.ns, `hfp${i + 1}`, env.subnet, env.mtu));
      }
      for (const n of nodes) await waitFor(`${n.name} to see its peer`, async () => (await n.status()).peers.length === 1, 10_000, 100);
    }, HOOK_TIMEOUT);
    afterAll(async () => {
      const problems: string[] = [];
      for (const n of nodes) {
        if (!n.running) continue;
        const r = await n.stop(5000);
        if (r && r.code !== 0) problems.push(`${n.name} exited ${r.code ?? r.signal}`);
      }
      for (const ns of namespaces.reverse()) janitor().removeNamespace(ns);
      expect(problems).toEqual([]);
    }, HOOK_TIMEOUT);

    /** A raw write into the registry file, under its lock, as any process on the machine could do. */
    async function filePut(key: string, v: string): Promise<void> {
      await withFileLock(`${registryFile}.lock`, { timeoutMs: 5000, staleMs: 10_000 }, async () => {
        const doc = JSON.parse(await readFile(registryFile, 'utf8')) as Record<string, unknown> & { 'weft:meta': { revision: number; keys: Record<string, unknown> } };
        const meta = doc['weft:meta'];
        meta.revision += 1;
        meta.keys[key] = { revision: meta.revision, expiration: null };
        doc[key] = v;
        await writeFile(`${registryFile}.hostile.tmp`, JSON.stringify(doc, null, 2));
        await rename(`${registryFile}.hostile.tmp`, registryFile);
      });
    }
    /** weft's direct routes (rtm_protocol 87) in a node's main table. */
    async function directRoutes(n: WeftNode): Promise<string[]> {
      const out = (await nsRun(n.ns, 'ip', ['-j', '-4', 'route', 'show', 'table', 'main', 'proto', '87'])).stdout;
      return (JSON.parse(out || '[]') as Array<{ dst: string; gateway?: string }>).map((r) => `${r.dst} via ${r.gateway}`).sort();
    }

    it('hostile leases in the file never reach the host routing table or the peer tables; the honest direct route and pod traffic stay', async () => {
      const [n1, n2] = nodes as [WeftNode, WeftNode];
      const s1 = (await n1.status()).lease.subnet;
      const s2 = (await n2.status()).lease.subnet;
      const mac2 = (await n2.status()).vtepMac;
      expect(await directRoutes(n1)).toEqual([`${s2} via ${n2.underlayIp}`]);
      const before = await peersOf(n1);
      const free = freeSubnets([s1, s2], 3);
      // On-link but unused addresses: DirectRouting would take them as direct peers.
      const hostile: [string, string, string][] = [
        [keyOf('0.0.0.0/0'), value(`${UNDERLAY_NET}.60`, '0a:cc:00:00:00:01'), 'outside_network'], // would be a default route
        [keyOf(`${hostIn(s1, 128)}/25`), value(`${UNDERLAY_NET}.61`, '0a:cc:00:00:00:02'), 'wrong_prefix_len'], // would steal half of n1's pods
        [keyOf(free[0]!), value(n2.underlayIp, '0a:cc:00:00:00:03'), 'public_ip_taken'], // would rewrite n2's MAC
        [keyOf(free[1]!), value(`${UNDERLAY_NET}.62`, mac2), 'mac_taken'],
        [keyOf(free[2]!), value('0.0.0.0', '0a:cc:00:00:00:05'), 'bad_public_ip'],
      ];
      for (const [key, v] of hostile) await filePut(key, v);
      const want = tally(hostile.map((x) => x[2]));
      await waitFor('n1 to count every hostile lease', async () => JSON.stringify(rejectedCounts((await n1.metrics()).raw)) === JSON.stringify(want), 5000, 100);
      await waitFor('n2 to reject them all', async () => Object.values(rejectedCounts((await n2.metrics()).raw)).reduce((a, b) => a + b, 0) === hostile.length, 5000, 100);
      expect(await directRoutes(n1)).toEqual([`${s2} via ${n2.underlayIp}`]);
      expect((await nsRun(n1.ns, 'ip', ['-4', 'route', 'show', 'default'])).stdout.trim()).toBe('');
      expect(await peersOf(n1)).toEqual(before);
      expect(nodes.every((n) => n.running)).toBe(true);
      await pingAll(pods);
    }, TEST_TIMEOUT);
  });
});
