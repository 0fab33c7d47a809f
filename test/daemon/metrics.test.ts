import type { AddressInfo } from 'node:net';
import { expect, it } from 'vitest';
import { DROP_BAD_VNI, DROP_REASONS } from '../../native-free/drop.js';
import { DROPS, RX_PACKETS, TX_BYTES, TX_PACKETS, WORKER_HEAP_USED, createCounters, sumRows, workerRow } from '../../src/dataplane/counters.js';
import { createLocalServer, HttpStats } from '../../src/daemon/http.js';
import { renderMetrics } from '../../src/daemon/metrics.js';
import { renderProcessMetrics } from '../../src/daemon/process-metrics.js';

it('sums worker rows and renders every counter and every drop reason', () => {
  const sab = createCounters(2);
  workerRow(sab, 0)[TX_PACKETS] = 3;
  workerRow(sab, 1)[TX_PACKETS] = 4;
  workerRow(sab, 1)[TX_BYTES] = 1000;
  workerRow(sab, 0)[DROPS + DROP_BAD_VNI] = 2;
  workerRow(sab, 1)[RX_PACKETS] = 9;
  const text = renderMetrics({ backend: 'vxlan', totals: sumRows(sab), peers: 2, workers: 2, workerRestarts: 1, workerStalls: 3, tunDropped: 17 });
  expect(text).toContain('weft_tx_packets_total{backend="vxlan"} 7\n');
  expect(text).toContain('weft_tx_bytes_total{backend="vxlan"} 1000\n');
  expect(text).toContain('weft_rx_packets_total{backend="vxlan"} 9\n');
  expect(text).toContain('weft_rx_bytes_total{backend="vxlan"} 0\n');
  expect(text).toContain('weft_dropped_packets_total{reason="bad_vni"} 2\n');
  for (const r of DROP_REASONS.slice(1)) expect(text).toContain(`weft_dropped_packets_total{reason="${r}"}`);
  expect(text).toContain('weft_peers 2\n');
  expect(text).toContain('weft_worker_restarts_total 1\n');
  expect(text).toContain('weft_worker_stalls_total 3\n');
  expect(text).toContain('weft_tun_dropped_packets_total 17\n');
});

it('serves healthz, readyz and metrics', async () => {
  let ready: boolean | string = false;
  const src = {
    ready: () => ready,
    metrics: () => 'weft_peers 0\n',
    status: () => ({ secret: true }),
    trace: () => ({ secret: true }),
  };
  const server = createLocalServer(() => src, { listener: 'healthz', stats: new HttpStats() });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    ready = '1 of 2 data-plane workers running: worker 0 restarting in 200 ms';
    const notReady = await fetch(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.text()).toBe('not ready: 1 of 2 data-plane workers running: worker 0 restarting in 200 ms\n');
    ready = true;
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect(await (await fetch(`${base}/metrics`)).text()).toBe('weft_peers 0\n');
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    // Status, trace and capture never go on the TCP listener, which may face the network.
    for (const path of ['/status', '/trace', '/capture']) expect((await fetch(`${base}${path}`)).status).toBe(404);
  } finally {
    server.close();
  }
});

it('renders the memory gauges, the workers heap summed over their rows', () => {
  const sab = createCounters(2);
  workerRow(sab, 0)[WORKER_HEAP_USED] = 3_000_000;
  workerRow(sab, 1)[WORKER_HEAP_USED] = 4_000_000;
  const text = renderProcessMetrics({ rss: 90_000_000, heapUsed: 20_000_000, heapTotal: 30_000_000, external: 5_000_000, arrayBuffers: 4_000_000 }, sumRows(sab)[WORKER_HEAP_USED]!);
  expect(text).toContain('process_resident_memory_bytes 90000000\n');
  expect(text).toContain('nodejs_heap_size_used_bytes 20000000\n');
  expect(text).toContain('nodejs_heap_size_total_bytes 30000000\n');
  expect(text).toContain('nodejs_external_memory_bytes 5000000\n');
  expect(text).toContain('nodejs_array_buffers_bytes 4000000\n');
  expect(text).toContain('weft_worker_heap_used_bytes 7000000\n');
  expect(text).toMatch(/# TYPE weft_worker_heap_used_bytes gauge\n/);
});
