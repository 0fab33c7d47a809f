// The main thread's side of the data plane: one worker thread per TUN queue,
// replaced when it dies (counted), stopped together.
import { Worker } from 'node:worker_threads';
import { CONTROL_GO, CONTROL_STOP, type WorkerInit } from './worker-init.js';

export interface PoolLogger {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

const WORKER_URL = new URL('./worker.js', import.meta.url);
/** A worker that dies this soon after starting, repeatedly, is not restarted forever in a tight loop. */
const RESTART_DELAY_MS = 200;

export class WorkerPool {
  readonly control: SharedArrayBuffer;
  private readonly workers: (Worker | null)[];
  private stopping = false;
  restarts = 0;

  constructor(
    private readonly inits: Omit<WorkerInit, 'control'>[],
    private readonly log: PoolLogger,
    private readonly workerUrl: URL = WORKER_URL,
  ) {
    this.control = new SharedArrayBuffer(4 * (1 + inits.length));
    this.workers = inits.map(() => null);
  }

  start(): void {
    this.inits.forEach((_, i) => this.spawn(i));
  }

  /** The tables are filled: the workers (booted by start()) forward from now on. */
  go(): void {
    const c = new Int32Array(this.control);
    Atomics.store(c, CONTROL_GO, 1);
    Atomics.notify(c, CONTROL_GO);
  }

  get running(): number {
    return this.workers.filter((w) => w !== null).length;
  }

  private spawn(i: number): void {
    const init: WorkerInit = { ...this.inits[i]!, control: this.control };
    const w = new Worker(this.workerUrl, { workerData: { kind: 'weft-dataplane', init }, name: `weft-dataplane-${i}` });
    this.workers[i] = w;
    w.on('error', (err) => this.log.error({ worker: i, err: err.message, stack: err.stack }, 'data-plane worker failed'));
    w.on('exit', (code) => {
      this.workers[i] = null;
      if (this.stopping) return;
      this.restarts++;
      this.log.error({ worker: i, code, restarts: this.restarts }, 'data-plane worker died; replacing it');
      setTimeout(() => {
        if (!this.stopping) this.spawn(i);
      }, RESTART_DELAY_MS).unref();
    });
  }

  /** Asks every worker to finish its round and waits for all to exit. */
  async stop(): Promise<void> {
    this.stopping = true;
    Atomics.store(new Int32Array(this.control), CONTROL_STOP, 1);
    await Promise.all(
      this.workers.map((w) => (w === null ? undefined : new Promise<void>((resolve) => {
        w.once('exit', () => resolve());
      }))),
    );
  }

  /** For tests: terminates worker i as a crash would. */
  async kill(i: number): Promise<void> {
    await this.workers[i]?.terminate();
  }
}
