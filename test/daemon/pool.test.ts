// A data-plane worker that dies is replaced and counted. Here every worker is
// handed a TUN fd that does not exist, so its first read fails (EBADF) and the
// thread dies; the pool must keep replacing it and stop cleanly.
import { existsSync } from 'node:fs';
import { expect, it } from 'vitest';
import { LpmTable } from '../../native-free/table/lpm.js';
import { PeerTable } from '../../native-free/table/peers.js';
import { createCounters } from '../../src/daemon/counters.js';
import { createCaptureState } from '../../src/dataplane/capture-ring.js';
import { WorkerPool } from '../../src/dataplane/pool.js';

const compiled = existsSync(new URL('../../dist/src/dataplane/worker.js', import.meta.url));

it.skipIf(!compiled && !process.env['CI'])('replaces a worker that dies, counts it, and stops', async () => {
  const routes = LpmTable.create({ family: 4, capacity: 10, shared: true });
  const peers = PeerTable.create({ capacity: 10, shared: true });
  const capture = createCaptureState(1);
  const errors: string[] = [];
  const log = { info() {}, error: (o: object, msg: string) => errors.push(`${msg} ${JSON.stringify(o)}`) };
  const badFd = 987_654; // no such descriptor
  const pool = new WorkerPool(
    [
      {
        index: 0, backend: 'vxlan', tunFd: badFd, txFd: badFd, rxFd: -1, localUnderlay: 1, localMac: [2, 0, 0, 0, 0, 1],
        tunnelAddr: 1, vni: 1, port: 4789, mtu: 1450, acceptUnknownPeers: false, spoofCheck: null,
        routes: routes.state(), peers: peers.state(), counters: createCounters(1), batch: 8, slotSize: 2048,
        captureControl: capture.control, captureRing: capture.rings[0]!, offload: { tun: false, udpGso: false, udpGro: false },
      },
    ],
    log,
    // The compiled worker: vitest cannot load .ts inside worker threads.
    new URL('../../dist/src/dataplane/worker.js', import.meta.url),
  );
  pool.start();
  const deadline = Date.now() + 10_000;
  while (pool.restarts < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  expect(pool.restarts).toBeGreaterThanOrEqual(2);
  expect(errors.join('\n')).toMatch(/EBADF/);
  expect(errors.join('\n')).toMatch(/data-plane worker died; replacing it/);
  await pool.stop();
  expect(pool.running).toBe(0);
});
