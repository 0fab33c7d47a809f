// Micro-benchmark harness: one case per hot function, timed in rounds on one thread.
//
// A case builds its state once and returns `step(n)`, which performs exactly n
// operations (packets, lookups, checksums) and returns a number derived from
// the results, so the JIT cannot drop the work. Rounds are sized to run about
// `roundMs`; the reported figure is the median round.

export interface BenchCase {
  name: string;
  /** What one operation is, for the human-readable table ("packet", "lookup"). */
  unit: string;
  setup(): (n: number) => number;
}

export interface BenchResult {
  name: string;
  opsPerSec: number;
  unit: string;
  rounds: number;
  /** Heap growth (bytes) from the end of warm-up to the end of the last round, after GC when exposed. */
  heapGrowthBytes: number | null;
  opsMeasured: number;
}

export interface BenchOptions {
  rounds: number;
  roundMs: number;
  /** Keep running rounds until at least this many operations were timed (heap-growth checks). */
  minTotalOps: number;
}

let sink = 0;

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) g();
}

export function runCase(c: BenchCase, opts: BenchOptions): BenchResult {
  const step = c.setup();
  // Warm up until the JIT has settled and a round size is known.
  let n = 1000;
  for (;;) {
    const t0 = process.hrtime.bigint();
    sink ^= step(n);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (ms > opts.roundMs / 4) {
      n = Math.max(1, Math.round((n * opts.roundMs) / ms));
      break;
    }
    n *= 4;
  }
  sink ^= step(n);
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const rates: number[] = [];
  let total = 0;
  for (let r = 0; r < opts.rounds || total < opts.minTotalOps; r++) {
    const t0 = process.hrtime.bigint();
    sink ^= step(n);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    rates.push(n / s);
    total += n;
  }
  gc();
  const exposed = typeof (globalThis as { gc?: unknown }).gc === 'function';
  const heapGrowthBytes = exposed ? process.memoryUsage().heapUsed - heapBefore : null;
  rates.sort((a, b) => a - b);
  const median = rates[Math.floor(rates.length / 2)]!;
  return { name: c.name, unit: c.unit, opsPerSec: Math.round(median), rounds: rates.length, heapGrowthBytes, opsMeasured: total };
}

/** Keeps the accumulated results observable so no step can be eliminated. */
export function sinkValue(): number {
  return sink;
}
