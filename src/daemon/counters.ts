// Per-worker packet counters in shared memory: each worker adds to its own
// row (no atomics needed, one writer per row); the main thread sums rows for
// /metrics and `weft status`. Float64 keeps exact integers up to 2^53.
import { REASON_COUNT } from '../../native-free/drop.js';

export const TX_PACKETS = 0;
export const TX_BYTES = 1;
export const RX_PACKETS = 2;
export const RX_BYTES = 3;
/** Drops by reason code start here: DROPS + code. */
export const DROPS = 4;
export const ROW = DROPS + REASON_COUNT;

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
