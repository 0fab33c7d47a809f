// Test 3: node C's lease is deleted from etcd. Within a second or two node A
// forgets C's subnet (/status), and A drops what it would send there as
// no_route; then the lease is put back and C is reachable again.
import { expect, it } from 'vitest';
import type { Cluster } from '../harness/cluster.js';
import { TEST_TIMEOUT } from '../harness/context.js';
import { waitFor } from '../harness/exec.js';
import { ping, pingUntilReachable } from '../harness/traffic.js';

/** How long A may take to forget a deleted lease. */
export const FORGET_WITHIN_MS = 2000;

export function leaseTests(cluster: () => Cluster, backend: string): void {
  it('a deleted lease: peers forget the subnet within 2 s and drop as no_route; restoring it restores traffic', async () => {
    const c = cluster();
    const [a, b, n3] = c.nodes as [typeof c.nodes[0], typeof c.nodes[0], typeof c.nodes[0]];
    const [podA, , podC] = c.pods as [typeof c.pods[0], typeof c.pods[0], typeof c.pods[0]];
    const leaseC = (await c.leases()).find((l) => l.attrs.PublicIP === n3.underlayIp)!;
    expect((await a.status()).peers.map((p) => p.subnet)).toContain(leaseC.subnet);
    const noRouteBefore = (await a.metrics()).drops['no_route']!;

    const t0 = Date.now();
    expect(await c.etcd.del(leaseC.key)).toBe(1);
    const forgotten = async (n: typeof a): Promise<boolean> => !(await n.status()).peers.some((p) => p.subnet === leaseC.subnet);
    await waitFor(`${a.name} to forget ${leaseC.subnet}`, () => forgotten(a), FORGET_WITHIN_MS + 3000, 25);
    const forgetMs = Date.now() - t0;
    console.log(`[${backend}] lease ${leaseC.subnet} deleted: ${a.name} forgot it after ${forgetMs} ms`);
    expect(forgetMs, `${a.name} forgot the deleted lease only after ${forgetMs} ms`).toBeLessThanOrEqual(FORGET_WITHIN_MS);
    await waitFor(`${b.name} to forget ${leaseC.subnet}`, () => forgotten(b), FORGET_WITHIN_MS);
    expect((await a.metrics()).backend).toBe(backend);

    const r = await ping(podA.ns, podC.ip, { count: 3, intervalS: 0.2, waitS: 1 });
    expect(r.received, r.output).toBe(0);
    const noRouteAfter = (await a.metrics()).drops['no_route']!;
    console.log(`[${backend}] ${a.name} no_route drops ${noRouteBefore} → ${noRouteAfter}`);
    expect(noRouteAfter - noRouteBefore).toBeGreaterThanOrEqual(3);

    // C itself stops, as flanneld does ("Lease has been revoked"): another node
    // could be handed its subnet now.
    await waitFor(`${n3.name} to stop after its own lease was deleted`, async () => !n3.running, 5000, 25);
    console.log(`[${backend}] ${n3.name} stopped after its own lease was deleted`);

    // Restore: the same value on a fresh etcd lease, as a renewal would write it.
    const id = await c.etcd.grant(24 * 3600);
    await c.etcd.put(leaseC.key, leaseC.value, id);
    if (!n3.running) await n3.start();
    await waitFor(`${a.name} to learn ${leaseC.subnet} again`, async () => !(await forgotten(a)), 5000, 25);
    await pingUntilReachable(podA.ns, podC.ip, 10_000);
    const back = await ping(podA.ns, podC.ip, { count: 3 });
    expect(back.received, back.output).toBe(3);
    const rev = await ping(podC.ns, podA.ip, { count: 3 });
    expect(rev.received, rev.output).toBe(3);
  }, TEST_TIMEOUT);
}
