// Per-worker packet counters in shared memory: each worker adds to its own
// row (no atomics needed, one writer per row); the main thread sums rows for
// /metrics and `weft status`. Float64 keeps exact integers up to 2^53.
import { REASON_COUNT } from '../../native-free/drop.js';
import { OFFLOAD_REASON_COUNT } from '../../native-free/offload/reasons.js';

export const TX_PACKETS = 0;
export const TX_BYTES = 1;
export const RX_PACKETS = 2;
export const RX_BYTES = 3;
/** Drops by reason code start here: DROPS + code. */
export const DROPS = 4;
/** Offload work (see src/dataplane/tun-queue.ts, underlay.ts, tun-writer.ts), after the drops. */
export const OFFLOAD = DROPS + REASON_COUNT;
/** TCP super-packets read from the TUN (GSO_TCPV4), and the segments made of them. */
export const TSO_SUPER_PACKETS = OFFLOAD;
export const TSO_SEGMENTS = OFFLOAD + 1;
/** sendmmsg entries sent with UDP_SEGMENT, and the datagrams they became. */
export const GSO_SENDS = OFFLOAD + 2;
export const GSO_SEGMENTS = OFFLOAD + 3;
/** Coalesced datagrams received (UDP_GRO), and the datagrams in them. */
export const UDP_GRO_DATAGRAMS = OFFLOAD + 4;
export const UDP_GRO_SEGMENTS = OFFLOAD + 5;
/** Coalesced TUN writes (GSO_TCPV4 super-packets) and the segments merged into them. */
export const TUN_GRO_WRITES = OFFLOAD + 6;
export const TUN_GRO_SEGMENTS = OFFLOAD + 7;
/** Sends that fell back to one datagram per segment because the kernel refused UDP_SEGMENT. */
export const GSO_FALLBACKS = OFFLOAD + 8;
/** TUN reads dropped as bad_offload, by offload reason (native-free/offload/reasons.ts). */
export const OFFLOAD_DROPS = OFFLOAD + 9;
/**
 * A gauge, not a counter: the worker's V8 heap in use, in bytes, rewritten about
 * once a second (worker.ts). Summed over the rows it is the workers' heap, which
 * process.memoryUsage() on the main thread does not include.
 */
export const WORKER_HEAP_USED = OFFLOAD_DROPS + OFFLOAD_REASON_COUNT;
export const ROW = WORKER_HEAP_USED + 1;

export function createCounters(workers: number): SharedArrayBuffer {
  return new SharedArrayBuffer(workers * ROW * Float64Array.BYTES_PER_ELEMENT);
}

/** The row of one worker, as that worker writes it. */
export function workerRow(sab: SharedArrayBuffer, worker: number): Float64Array {
  return new Float64Array(sab, worker * ROW * Float64Array.BYTES_PER_ELEMENT, ROW);
}

export function sumRows(sab: SharedArrayBuffer): Float64Array {
  const all = new Float64Array(sab);
  const total = new Float64Array(ROW);
  for (let i = 0; i < all.length; i++) total[i % ROW]! += all[i]!;
  return total;
}
