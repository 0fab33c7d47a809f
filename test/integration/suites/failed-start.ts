// A start that cannot bind its socket (here: the VXLAN port held, as a
// leftover kernel flannel.1 would hold it) fails with a clear error and never
// rewrites this node's lease: peers keep the VTEP MAC of whatever serves the
// node now.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { Cluster } from '../harness/cluster.js';
import { TEST_TIMEOUT } from '../harness/context.js';
import type { Janitor } from '../harness/janitor.js';
import { Proc } from '../harness/exec.js';
import { ping, pingUntilReachable } from '../harness/traffic.js';

export function failedStartTests(cluster: () => Cluster, janitor: () => Janitor): void {
  it('a start that cannot bind the VXLAN port fails clearly and leaves the lease untouched', async () => {
    const c = cluster();
    const node = c.nodes[2]!;
    const [p1, , p3] = c.pods as [typeof c.pods[0], typeof c.pods[0], typeof c.pods[0]];
    const before = (await c.leases()).find((l) => l.attrs.PublicIP === node.underlayIp)!;
    await node.stop();
    const macFile = join(node.stateDir, 'vtep-mac');
    const oldMac = readFileSync(macFile, 'utf8');
    rmSync(macFile); // a fresh start would publish a new MAC, if it got that far
    const holder = new Proc(janitor(), node.ns, process.execPath, [
      '-e',
      `const s = require('dgram').createSocket('udp4'); s.bind(4789, '${node.underlayIp}', () => console.log('bound')); setInterval(() => {}, 1000);`,
    ]);
    try {
      for (let i = 0; i < 50 && !holder.output().includes('bound'); i++) await new Promise((r) => setTimeout(r, 50));
      const failed = new Proc(janitor(), node.ns, process.execPath, node.args());
      const { code } = await failed.exited;
      expect(code).toBe(1);
      expect(failed.output()).toMatch(/EADDRINUSE.*kernel VXLAN device \(flannel\.1/);
      const after = (await c.leases()).find((l) => l.attrs.PublicIP === node.underlayIp)!;
      expect(after.key).toBe(before.key);
      expect(after.value, 'the lease (and its VtepMAC) was not rewritten').toBe(before.value);
    } finally {
      // Also after a failed expectation: the tests after this one need node 3 serving.
      holder.child.kill('SIGKILL');
      await holder.exited;
      writeFileSync(macFile, oldMac);
      await node.start();
    }
    await pingUntilReachable(p1.ns, p3.ip, 10_000);
    expect((await ping(p3.ns, p1.ip, { count: 3 })).received).toBe(3);
  }, TEST_TIMEOUT);
}
