// weft against a real 3-member etcd cluster whose members die: with any one member
// down, a new node starts and gets its lease, a running node's lease renewal
// succeeds, and its watch sees a lease written after the failure, each within a
// few seconds, round after round (leader and follower in turn; then a frozen
// member, whose sockets stay open but which answers nothing). Topology:
//
//   wefttest-<id>-foul   underlay bridge wtbr0 203.0.113.254/24
//   wefttest-<id>-foe<i> etcd member i at 203.0.113.1<i> (client :2379, peer :2380)
//   wefttest-<id>-fon1   the running node, 203.0.113.1, --etcd-endpoints = all three
//   wefttest-<id>-foj<r> the node that joins in round r, 203.0.113.(30 + r)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_TIMEOUT, HOOK_TIMEOUT, useJanitor } from './harness/context.js';
import { EtcdCluster, type EtcdMember } from './harness/etcd-cluster.js';
import { NETWORK_PREFIX, readLeases, SUBNETS_PREFIX } from './harness/etcd.js';
import { hostIn } from './harness/cluster.js';
import { sysctl, waitFor } from './harness/exec.js';
import { skipIntegration } from './harness/requirements.js';
import { WeftNode } from './harness/weft-node.js';

const NET = '203.0.113';
const CONFIG = { Network: '10.244.0.0/16', Backend: { Type: 'vxlan', Port: 4789 } };
/** What "within a few seconds" means here, on a loaded 2-core machine; typical figures are printed. */
const JOIN_LIMIT_MS = 8000;
const FOLLOW_LIMIT_MS = 6000;

type Fault = 'kill the leader' | 'kill a follower' | 'freeze the leader' | 'freeze a follower';
const ROUNDS: Fault[] = ['kill the leader', 'kill a follower', 'kill the leader', 'kill a follower', 'kill the leader', 'freeze the leader', 'freeze a follower'];

describe.skipIf(skipIntegration('etcd failover'))('etcd failover (3 members in namespaces)', () => {
  const janitor = useJanitor();
  let etcd: EtcdCluster;
  let runner: WeftNode;
  const nodes: WeftNode[] = [];

  async function newNode(role: string, ip: string): Promise<WeftNode> {
    const ns = etcd.addNamespace(role);
    const ifname = `wt${role}`;
    await etcd.attach(ns, ifname, ip);
    await sysctl(ns, 'net.ipv4.ip_forward', '1');
    const node = new WeftNode(janitor(), role, ns, ifname, ip, etcd.dir, etcd.endpoints.join(','));
    nodes.push(node);
    return node;
  }

  beforeAll(async () => {
    etcd = await EtcdCluster.create(janitor(), { tag: 'fo', net: NET });
    await etcd.client().put(`${NETWORK_PREFIX}/config`, JSON.stringify(CONFIG));
    runner = await newNode('n1', `${NET}.1`);
    await runner.start();
  }, HOOK_TIMEOUT);

  afterAll(async () => {
    await Promise.all(nodes.map((n) => (n.running ? n.stop(5000) : undefined)));
    etcd?.destroy();
  }, HOOK_TIMEOUT);

  function renewals(node: WeftNode): number {
    return node.log().split('\n').filter((l) => l.includes('"msg":"lease renewed"')).length;
  }

  async function leaseOf(node: WeftNode): Promise<{ subnet: string; lease: string } | undefined> {
    return (await readLeases(etcd.client())).find((l) => l.attrs.PublicIP === node.underlayIp);
  }

  it('with one member down (killed or frozen), nodes join, renew and follow the watch, round after round', async () => {
    const joins: string[] = [];
    try {
      for (let r = 1; r <= ROUNDS.length; r++) {
        const fault = ROUNDS[r - 1]!;
        const victim: EtcdMember = fault.endsWith('leader') ? await etcd.leader() : await etcd.follower();
        const label = `round ${r} (${fault}: ${victim.name})`;
        const before = await leaseOf(runner);
        expect(before, `${label}: runner's lease`).toBeDefined();
        const renewed = renewals(runner);

        if (fault.startsWith('kill')) await etcd.kill(victim);
        else etcd.freeze(victim);
        const t0 = Date.now();

        // A new node starts with the victim still in its --etcd-endpoints.
        const joiner = await newNode(`j${r}`, `${NET}.${30 + r}`);
        const joined = joiner.start(JOIN_LIMIT_MS + 2000).then(() => Date.now() - t0);
        // The running node renews (SIGHUP: WEFT_FAULT_INJECTION's renew-now).
        runner.signal('SIGHUP');
        const renewMs = waitFor(`${label}: runner's renewal`, () => renewals(runner) > renewed, FOLLOW_LIMIT_MS + 2000, 50).then(() => Date.now() - t0);
        // A lease written after the fault reaches the running node's watch.
        const fake = `10.244.${200 + r}.0/24`;
        await etcd.client().put(`${SUBNETS_PREFIX}${fake.replace('/', '-')}`, JSON.stringify({ PublicIP: `${NET}.${100 + r}`, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: `0a:00:00:00:00:${(0x10 + r).toString(16)}` } }));
        const tw = Date.now();
        const seenMs = waitFor(`${label}: runner's watch to see ${fake}`, async () => (await runner.status()).peers.some((p) => p.subnet === fake), FOLLOW_LIMIT_MS + 2000, 50).then(() => Date.now() - tw);

        const [joinMs, renewAt, seen] = await Promise.all([joined, renewMs, seenMs]);
        const after = await leaseOf(runner);
        expect(after?.subnet, `${label}: runner's subnet`).toBe(before!.subnet);
        expect(after?.lease, `${label}: the renewal put the key on a new etcd lease`).not.toBe(before!.lease);
        const own = await leaseOf(joiner);
        expect(own, `${label}: the joiner's lease in etcd`).toBeDefined();
        expect(joiner.subnetEnv().subnet, `${label}: the joiner's subnet file`).toBe(`${hostIn(own!.subnet, 1)}/${own!.subnet.split('/')[1]}`);
        await waitFor(`${label}: runner to see the joiner`, async () => (await runner.status()).peers.some((p) => p.subnet === own!.subnet), FOLLOW_LIMIT_MS, 50);
        joins.push(`${label}: join ${joinMs} ms, renewal ${renewAt} ms, watch ${seen} ms`);
        console.log(`[etcd failover] ${joins.at(-1)}`);
        expect(joinMs, label).toBeLessThan(JOIN_LIMIT_MS);
        expect(renewAt, label).toBeLessThan(FOLLOW_LIMIT_MS);
        expect(seen, label).toBeLessThan(FOLLOW_LIMIT_MS);

        // Clean up the round: the fake lease goes (and the runner forgets it), the joiner stops, the victim returns.
        await etcd.client().del(`${SUBNETS_PREFIX}${fake.replace('/', '-')}`);
        await waitFor(`${label}: runner to forget ${fake}`, async () => !(await runner.status()).peers.some((p) => p.subnet === fake), FOLLOW_LIMIT_MS, 50);
        const stopped = await joiner.stop(5000);
        expect(stopped?.code, `${label}: joiner's exit on SIGTERM`).toBe(0);
        if (fault.startsWith('kill')) await etcd.restart(victim);
        else {
          etcd.thaw(victim);
          await etcd.waitHealthy();
        }
        expect(runner.running, `${label}: the runner is still running`).toBe(true);
      }
    } catch (e) {
      console.error(`${(e as Error).message}\n${nodes.map((n) => `--- weft ${n.name} ---\n${n.log().slice(-5000)}`).join('\n')}\n${etcd.logs()}`);
      throw e;
    } finally {
      console.log(`[etcd failover] ${joins.length} of ${ROUNDS.length} rounds:\n  ${joins.join('\n  ')}`);
    }
  }, TEST_TIMEOUT);
});
