// Test 2: kill -9 a weft node; its TUN disappears; started again with the same
// state dir and subnet file it gets the same subnet and (vxlan) the same VTEP
// MAC, and the pods are reachable again.
import { expect, it } from 'vitest';
import type { Cluster } from '../harness/cluster.js';
import { TEST_TIMEOUT } from '../harness/context.js';
import { waitFor } from '../harness/exec.js';
import { ping, pingUntilReachable } from '../harness/traffic.js';

export function restartTests(cluster: () => Cluster, backend: string): void {
  it('kill -9 and restart: TUN gone, then same subnet, same VTEP MAC, pods reachable again', async () => {
    const c = cluster();
    const node = c.nodes[1]!;
    const [p1, p2, p3] = c.pods as [typeof c.pods[0], typeof c.pods[0], typeof c.pods[0]];
    const before = await node.status();
    const envBefore = node.subnetEnv();
    const leaseBefore = (await c.leases()).find((l) => l.attrs.PublicIP === node.underlayIp)!;
    expect(leaseBefore.subnet).toBe(before.lease.subnet);

    await node.kill9();
    const gone = Date.now();
    await waitFor(`weft0 gone from ${node.ns}`, async () => !(await node.hasTun()), 5000, 50);
    console.log(`[${backend}] kill -9 ${node.name}: weft0 gone after ${Date.now() - gone} ms`);
    // Its pod is cut off while it is down.
    expect((await ping(p1.ns, p2.ip, { count: 1, waitS: 1 })).received).toBe(0);

    const t0 = Date.now();
    await node.start();
    const after = await node.status();
    console.log(`[${backend}] ${node.name} ready again ${Date.now() - t0} ms after start: ${after.lease.subnet} ${after.vtepMac}`);
    expect(after.lease.subnet).toBe(before.lease.subnet);
    expect(after.vtepMac).toBe(before.vtepMac);
    expect(node.subnetEnv()).toEqual(envBefore);
    expect(await node.hasTun()).toBe(true);

    const leases = (await c.leases()).filter((l) => l.attrs.PublicIP === node.underlayIp);
    expect(leases.map((l) => l.subnet), 'exactly one lease for the node').toEqual([before.lease.subnet]);
    if (backend === 'vxlan') expect(leases[0]!.attrs.BackendData?.VtepMAC).toBe(before.vtepMac);

    const ms = await pingUntilReachable(p1.ns, p2.ip, 10_000);
    console.log(`[${backend}] ${p1.ip} → ${p2.ip} reachable ${ms} ms after ready`);
    for (const [a, b] of [[p1, p2], [p2, p1], [p2, p3], [p3, p2]] as const) {
      const r = await ping(a.ns, b.ip, { count: 3 });
      expect(r.received, `${a.ip} → ${b.ip}:\n${r.output}`).toBe(3);
    }
  }, TEST_TIMEOUT);
}

