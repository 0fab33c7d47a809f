// The daemon's memory, for /metrics: the process's resident set, the main
// thread's V8 heap and off-heap memory, and the data-plane workers' heaps (each
// worker writes its own into its counter row; counters.ts WORKER_HEAP_USED).
// Names follow the Prometheus client conventions (process_*, nodejs_*) so the
// dashboards users already have for Node services read them. RSS alone cannot
// tell a leak from a heap that has not been collected yet; the heaps can.
import { metric } from './metrics.js';

export interface MemorySample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

/** workerHeapUsed: the workers' heaps summed (the WORKER_HEAP_USED counter), null on a node without workers (host-gw). */
export function renderProcessMetrics(m: MemorySample, workerHeapUsed: number | null): string {
  return (
    [
      metric('process_resident_memory_bytes', 'gauge', 'Resident memory of the daemon (all threads), in bytes.', [['', m.rss]]),
      metric('nodejs_heap_size_used_bytes', 'gauge', "The main thread's V8 heap in use, in bytes.", [['', m.heapUsed]]),
      metric('nodejs_heap_size_total_bytes', 'gauge', "The main thread's V8 heap reserved, in bytes.", [['', m.heapTotal]]),
      metric('nodejs_external_memory_bytes', 'gauge', 'Memory of C++ objects bound to JavaScript objects (Buffers, shared tables), in bytes.', [['', m.external]]),
      metric('nodejs_array_buffers_bytes', 'gauge', 'Memory of ArrayBuffers and SharedArrayBuffers (part of external), in bytes.', [['', m.arrayBuffers]]),
      ...(workerHeapUsed === null
        ? []
        : [metric('weft_worker_heap_used_bytes', 'gauge', "The data-plane workers' V8 heaps in use, summed, in bytes (each rewritten about once a second).", [['', workerHeapUsed]])]),
    ].join('\n') + '\n'
  );
}
