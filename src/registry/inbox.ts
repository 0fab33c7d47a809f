// Watch callbacks (etcd3's 'data'/'error', client-node's event/done) turned into
// something an async loop can wait on, without losing what arrives meanwhile.

export class Inbox<T> {
  private items: T[] = [];
  private wake: (() => void) | undefined;

  push(item: T): void {
    this.items.push(item);
    this.wake?.();
  }

  /** The next item, or undefined once `signal` aborted. */
  async take(signal: AbortSignal): Promise<T | undefined> {
    while (this.items.length === 0 && !signal.aborted) await this.wait(signal);
    return signal.aborted ? undefined : this.items.shift();
  }

  /** Everything queued, waiting up to `timeoutMs` (if given) for the first item; [] on timeout, undefined once `signal` aborted. */
  async takeAll(signal: AbortSignal, timeoutMs?: number): Promise<T[] | undefined> {
    if (this.items.length === 0 && !signal.aborted) await this.wait(signal, timeoutMs);
    return signal.aborted ? undefined : this.items.splice(0);
  }

  /** Until a push, an abort, or `timeoutMs` (if given). */
  private wait(signal: AbortSignal, timeoutMs?: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.wake = undefined;
        resolve();
      };
      const timer = timeoutMs === undefined ? undefined : setTimeout(done, timeoutMs);
      this.wake = done;
      signal.addEventListener('abort', done);
    });
  }
}
