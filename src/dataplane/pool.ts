// The main thread's side of the data plane: one worker thread per TUN queue,
// watched, replaced when it dies or hangs (counted), stopped together.
//
//   death      → 'exit' → started again after a backoff (backoff.ts: 200 ms
//                doubling to 10 s, reset after 30 s healthy)
//   heartbeat  → each worker bumps its word in `control` every loop turn (at
//                least every 100 ms when idle: its poll timeout); a timer here
//                reads them. Silent STALE_MS: not counted as running (/readyz
//                false). Silent STALL_MS: a stall (a spin, a deadlock): the
//                worker is terminated, counted, logged and replaced as a death.
import { Worker } from 'node:worker_threads';
import { discardWarmWorkers, takeWarmWorker, WORKER_URL } from './prewarm.js';
import { Backoff, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import { createTestFaults } from './test-faults.js';
import { checksumEngine } from './slab-layout.js';
import { CONTROL_GO, CONTROL_STOP, controlBytes, heartbeatIndex, type WorkerInit } from './worker-init.js';

export interface PoolLogger {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}


/** A worker whose heartbeat is older than this is not counted as running. */
export const STALE_MS = 1000;
/** A worker whose heartbeat is older than this has stalled: it is terminated and replaced. */
export const STALL_MS = 3000;
/**
 * From start to the first heartbeat (loading modules, attaching tables) a worker
 * may take this long. Generous: on a starved CPU (a small cgroup quota, an
 * overloaded host) a start takes seconds, and one killed for it starts over.
 */
export const STARTUP_MS = 60_000;

export interface PoolOptions {
  /** The worker script (tests: the compiled one, or a fake). */
  workerUrl?: URL;
  staleMs?: number;
  stallMs?: number;
  startupMs?: number;
  backoff?: BackoffOptions;
  /** Hand workers the fault words (test-faults.ts), so that hang() works. */
  faultInjection?: boolean;
}

/** One TUN queue's worker, whichever thread currently serves it. */
interface Slot {
  worker: Worker | null;
  startedAt: number;
  /** The heartbeat as last read, and when it last moved (or the start). */
  beat: number;
  beatAt: number;
  /** The current thread has reached its loop. */
  seen: boolean;
  /** terminate() called on a stall: its exit is a stall, not a death. */
  stalled: boolean;
  backoff: Backoff;
  restartTimer: NodeJS.Timeout | null;
  restartAt: number;
}

export class WorkerPool {
  readonly control: SharedArrayBuffer;
  private readonly heartbeats: Int32Array;
  private readonly testFaults: SharedArrayBuffer | null;
  private readonly slots: Slot[];
  private readonly workerUrl: URL;
  private readonly staleMs: number;
  private readonly stallMs: number;
  private readonly startupMs: number;
  private checker: NodeJS.Timeout | null = null;
  private stopping = false;
  /** Workers replaced, for any reason (deaths and stalls). */
  restarts = 0;
  /** Of those, workers terminated because their heartbeat stopped. */
  stalls = 0;

  constructor(
    private readonly inits: Omit<WorkerInit, 'control'>[],
    private readonly log: PoolLogger,
    opts: PoolOptions = {},
  ) {
    this.control = new SharedArrayBuffer(controlBytes(inits.length));
    this.heartbeats = new Int32Array(this.control);
    this.testFaults = opts.faultInjection ? createTestFaults(inits.length) : null;
    this.workerUrl = opts.workerUrl ?? WORKER_URL;
    this.staleMs = opts.staleMs ?? STALE_MS;
    this.stallMs = opts.stallMs ?? STALL_MS;
    this.startupMs = opts.startupMs ?? STARTUP_MS;
    const backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.slots = inits.map(() => ({
      worker: null, startedAt: 0, beat: 0, beatAt: 0, seen: false, stalled: false,
      backoff: new Backoff(backoff), restartTimer: null, restartAt: 0,
    }));
  }

  start(): void {
    // Once: the workers run in this runtime, so what it offers them is what they use.
    this.log.info({ checksums: checksumEngine() }, 'packet checksums');
    this.inits.forEach((_, i) => this.spawn(i));
    discardWarmWorkers();
    this.checker = setInterval(() => this.check(), Math.max(10, Math.min(250, this.stallMs / 4)));
    this.checker.unref();
  }

  /** The tables are filled: the workers (booted by start()) forward from now on. */
  go(): void {
    const c = new Int32Array(this.control);
    Atomics.store(c, CONTROL_GO, 1);
    Atomics.notify(c, CONTROL_GO);
  }


  get size(): number {
    return this.slots.length;
  }

  /** Workers in their loop with a fresh heartbeat. */
  get running(): number {
    const now = Date.now();
    return this.slots.filter((s, i) => this.healthy(s, i, now)).length;
  }

  /** null when every worker runs, else why not (for /readyz). */
  notReady(): string | null {
    const now = Date.now();
    const why: string[] = [];
    this.slots.forEach((s, i) => {
      if (this.healthy(s, i, now)) return;
      if (s.worker === null) why.push(`worker ${i} restarting in ${Math.max(0, s.restartAt - now)} ms`);
      else if (s.stalled) why.push(`worker ${i} stalled, being terminated`);
      else if (!s.seen) why.push(`worker ${i} starting`);
      else why.push(`worker ${i} silent for ${now - s.beatAt} ms`);
    });
    if (why.length === 0) return null;
    return `${this.size - why.length} of ${this.size} data-plane workers running: ${why.join(', ')}`;
  }

  private healthy(s: Slot, i: number, now: number): boolean {
    this.observe(s, i, now);
    return s.worker !== null && s.seen && !s.stalled && now - s.beatAt <= this.staleMs;
  }

  /** Reads worker i's heartbeat; notes when it moved. */
  private observe(s: Slot, i: number, now: number): void {
    const beat = Atomics.load(this.heartbeats, heartbeatIndex(i));
    if (beat !== s.beat) {
      s.beat = beat;
      s.beatAt = now;
      if (!s.seen) this.log.info({ worker: i, startupMs: now - s.startedAt }, 'data-plane worker running');
      s.seen = true;
    }
  }

  /** The timer: terminates a worker silent for longer than it may be. */
  private check(): void {
    if (this.stopping) return;
    const now = Date.now();
    this.slots.forEach((s, i) => {
      const w = s.worker;
      if (w === null || s.stalled) return;
      this.observe(s, i, now);
      const silent = now - s.beatAt;
      const limit = s.seen ? this.stallMs : this.startupMs;
      if (silent <= limit) return;
      s.stalled = true;
      this.stalls++;
      this.log.error(
        { worker: i, silentMs: silent, limitMs: limit, stalls: this.stalls, started: s.seen },
        s.seen ? 'data-plane worker stalled (no heartbeat); terminating it' : 'data-plane worker never reached its loop; terminating it',
      );
      w.terminate().catch((err: Error) => this.log.error({ worker: i, err: err.message }, 'terminating a stalled worker failed'));
    });
  }

  private spawn(i: number): void {
    const s = this.slots[i]!;
    s.restartTimer = null;
    const init: WorkerInit = { ...this.inits[i]!, control: this.control, ...(this.testFaults ? { testFaults: this.testFaults } : {}) };
    // A worker started early (prewarm.ts) has its modules loaded already: it only needs its init.
    const warm = takeWarmWorker(this.workerUrl);
    if (warm !== null) warm.postMessage({ init });
    const w = warm ?? new Worker(this.workerUrl, { workerData: { kind: 'weft-dataplane', init }, name: `weft-dataplane-${i}` });
    const now = Date.now();
    s.worker = w;
    s.startedAt = now;
    s.beat = Atomics.load(this.heartbeats, heartbeatIndex(i));
    s.beatAt = now;
    s.seen = false;
    s.stalled = false;
    w.on('error', (err) => this.log.error({ worker: i, err: err.message, stack: err.stack }, 'data-plane worker failed'));
    w.on('exit', (code) => {
      s.worker = null;
      if (this.stopping) return;
      this.restarts++;
      // Healthy time: start to its last heartbeat (a stalled worker's silence does not count).
      const healthyMs = s.seen ? s.beatAt - s.startedAt : 0;
      const delay = s.backoff.next(healthyMs);
      s.restartAt = Date.now() + delay;
      this.log.error(
        { worker: i, code, restarts: this.restarts, healthyMs, delayMs: delay },
        s.stalled ? 'stalled data-plane worker terminated; replacing it' : 'data-plane worker died; replacing it',
      );
      s.restartTimer = setTimeout(() => {
        if (!this.stopping) this.spawn(i);
      }, delay);
      s.restartTimer.unref();
    });
  }

  /**
   * Asks every worker to finish its round and waits for all to exit; one that
   * has not within the stall timeout (it hangs) is terminated.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.checker !== null) clearInterval(this.checker);
    for (const s of this.slots) if (s.restartTimer !== null) clearTimeout(s.restartTimer);
    Atomics.store(this.heartbeats, CONTROL_STOP, 1);
    await Promise.all(
      this.slots.map((s, i) => {
        const w = s.worker;
        if (w === null) return undefined;
        return new Promise<void>((resolve) => {
          const force = setTimeout(() => {
            this.log.error({ worker: i, waitedMs: this.stallMs }, 'data-plane worker did not stop; terminating it');
            void w.terminate();
          }, this.stallMs);
          w.once('exit', () => {
            clearTimeout(force);
            resolve();
          });
        });
      }),
    );
  }

  /** For tests: terminates worker i as a crash would. */
  async kill(i: number): Promise<void> {
    await this.slots[i]?.worker?.terminate();
  }

  /** For tests (faultInjection only): worker i spins forever at its next loop turn. */
  hang(i: number): void {
    if (this.testFaults === null) throw new Error('fault injection is off');
    Atomics.store(new Int32Array(this.testFaults), i, 1);
  }
}
