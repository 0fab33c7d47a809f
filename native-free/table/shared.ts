// Helpers shared by the route table and the peer table: typed arrays that can
// live on a SharedArrayBuffer, and the checks a reader applies to a state object
// it was handed by another thread.

import { InvalidArgumentError, WeftError } from '../errors.js';

export type Buf = SharedArrayBuffer | ArrayBuffer;

export function buffer(bytes: number, shared: boolean): Buf {
  return shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
}

/** A table attached to another thread's state can look up but not change anything. */
export function readOnly(what: string): WeftError {
  return new WeftError('ERR_WEFT_READ_ONLY', `${what} is a read-only view attached to another thread's table; only the owning thread may change it`);
}

export function requireCount(v: unknown, what: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new InvalidArgumentError(`invalid ${what} ${String(v)}: expected an integer ${min}-${max}`);
  }
  return v;
}

/** A buffer from a state object, checked for type and size before any view is made. */
export function stateBuffer(state: Record<string, unknown>, key: string, bytes: number): Buf {
  const b = state[key];
  const ok = (b instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && b instanceof SharedArrayBuffer)) && b.byteLength === bytes;
  if (!ok) throw new InvalidArgumentError(`invalid table state: ${key} must be a buffer of ${bytes} bytes`);
  return b;
}

/** A value stored in a table: a non-negative int32 (peer id, next-hop index). */
export function requireValue(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0x7fffffff) {
    throw new InvalidArgumentError(`invalid route value ${String(v)}: expected an integer 0-2147483647`);
  }
  return v;
}
