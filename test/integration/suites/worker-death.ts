// A data-plane worker that dies is replaced and counted, and the node keeps
// forwarding: SIGUSR2 (enabled by WEFT_FAULT_INJECTION=1, set by the harness)
// makes the daemon terminate worker 0 as a crash would.
import { expect, it } from 'vitest';
import type { Cluster } from '../harness/cluster.js';
import { TEST_TIMEOUT } from '../harness/context.js';
import { waitFor } from '../harness/exec.js';
import { ping } from '../harness/traffic.js';

function gauge(raw: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(raw);
  return m ? Number(m[1]) : NaN;
}

export function workerDeathTests(cluster: () => Cluster, backend: string): void {
  it('a worker that dies is replaced and counted; traffic keeps flowing', async () => {
    const c = cluster();
    const node = c.nodes[0]!;
    const [p1, p2, p3] = c.pods as [typeof c.pods[0], typeof c.pods[0], typeof c.pods[0]];
    const before = gauge((await node.metrics()).raw, 'weft_worker_restarts_total');
    node.signal('SIGUSR2');
    await waitFor(`${node.name} to count a worker restart`, async () => gauge((await node.metrics()).raw, 'weft_worker_restarts_total') === before + 1, 5000, 25);
    await waitFor(`${node.name} to run 2 workers again`, async () => gauge((await node.metrics()).raw, 'weft_workers') === 2, 5000, 25);
    console.log(`[${backend}] ${node.name}: worker 0 killed and replaced`);
    for (const [a, b] of [[p1, p2], [p2, p1], [p1, p3], [p3, p1]] as const) {
      const r = await ping(a.ns, b.ip, { count: 3 });
      expect(r.received, `${a.ip} → ${b.ip}:\n${r.output}`).toBe(3);
    }
    expect(node.running).toBe(true);
  }, TEST_TIMEOUT);
}
