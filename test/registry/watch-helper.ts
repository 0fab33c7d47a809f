// Drains a watchLeases() iterator in the background and applies its batches, as a
// data plane would, so tests can wait for the state they expect.
import type { Lease, LeaseEvent } from '../../src/registry/types.js';

export interface Consumer {
  readonly batches: LeaseEvent[][];
  /** subnet → lease, after applying every batch so far. */
  readonly state: Map<string, Lease>;
  readonly done: Promise<void>;
  error(): unknown;
}

export function consume(batches: AsyncIterable<LeaseEvent[]>): Consumer {
  const seen: LeaseEvent[][] = [];
  const state = new Map<string, Lease>();
  let failure: unknown;
  const done = (async () => {
    try {
      for await (const batch of batches) {
        seen.push(batch);
        for (const e of batch) {
          if (e.type === 'added') state.set(e.lease.subnet, e.lease);
          else state.delete(e.lease.subnet);
        }
      }
    } catch (err) {
      failure = err;
    }
  })();
  return { batches: seen, state, done, error: () => failure };
}

export async function until(check: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - start;
}
