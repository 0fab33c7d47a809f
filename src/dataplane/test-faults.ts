// Fault injection, for tests of the pool's recovery only. The shared words
// exist only when the daemon was started with WEFT_FAULT_INJECTION=1 (an
// environment variable: set by whoever starts the process, never reachable
// from the network); otherwise workers are handed none and never look.
//
// Word i nonzero: worker i hangs in a busy loop at its next loop turn, as a
// bug that spins forever would. Its heartbeat stops, the pool terminates it
// (worker.terminate() interrupts running JavaScript) and starts another.

/** One Int32 word per worker. */
export function createTestFaults(workers: number): SharedArrayBuffer {
  return new SharedArrayBuffer(4 * workers);
}

/** Called from the worker loop: hangs for good when asked to. */
export function hangIfAsked(faults: Int32Array, index: number): void {
  if (Atomics.load(faults, index) === 0) return;
  // Cleared first, so the replacement (which gets the same words) does not hang too.
  Atomics.store(faults, index, 0);
  for (;;) {
    // spin: no await, no syscall; only terminate() ends this
  }
}
