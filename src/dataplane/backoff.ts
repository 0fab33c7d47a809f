// How long the pool waits before it starts worker i again: 200 ms, doubling
// with each death up to 10 s, back to 200 ms once a worker has stayed healthy
// for 30 s. A worker that dies at once (bad fd, a bug hit on every packet)
// then costs one start every 10 s, not five a second, and one that dies now
// and then is back in 200 ms.
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** A run healthy at least this long resets the delay to initialMs. */
  resetAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 200, maxMs: 10_000, resetAfterMs: 30_000 };

export class Backoff {
  private delay: number;

  constructor(private readonly opts: BackoffOptions = DEFAULT_BACKOFF) {
    this.delay = opts.initialMs;
  }

  /** The delay before the next start, given how long the run that just ended was healthy. */
  next(healthyMs: number): number {
    if (healthyMs >= this.opts.resetAfterMs) this.delay = this.opts.initialMs;
    const d = this.delay;
    this.delay = Math.min(d * 2, this.opts.maxMs);
    return d;
  }
}
