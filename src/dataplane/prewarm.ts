// Worker threads started before the daemon knows what they will do, so that
// their module loading (the engine, koffi, the I/O paths: about half a second on
// a busy 2-core node) runs on the other core while the main thread loads its own
// modules and talks to the registry. After a kill -9 this is what stands between
// the new weft's start and forwarding again; the TUN and its route are still there.
//
// A warm worker waits for one message, its WorkerInit, and then runs as if it had
// been started with it (worker.ts). Warm workers are unref'd: a daemon that fails
// to start exits without waiting for them. The pool takes them first (pool.ts);
// those it does not need are terminated.
import { Worker } from 'node:worker_threads';

export const WORKER_URL = new URL('./worker.js', import.meta.url);
export const WARM_KIND = 'weft-dataplane-warm';

const warm: Worker[] = [];

export function prewarmWorkers(n: number): void {
  for (let k = 0; k < n; k++) {
    const w = new Worker(WORKER_URL, { workerData: { kind: WARM_KIND }, name: `weft-dataplane-warm-${k}` });
    w.unref();
    w.once('exit', () => {
      const i = warm.indexOf(w);
      if (i >= 0) warm.splice(i, 1);
    });
    w.on('error', () => undefined); // one that fails is dropped (exit above); the pool starts a fresh one
    warm.push(w);
  }
}

/** A warm worker of `url`, re-referenced, or null (none left, or another worker script). */
export function takeWarmWorker(url: URL): Worker | null {
  if (url.href !== WORKER_URL.href) return null;
  const w = warm.shift() ?? null;
  w?.ref();
  return w;
}

/** Ends the warm workers nobody took. */
export function discardWarmWorkers(): void {
  for (const w of warm.splice(0)) void w.terminate();
}
