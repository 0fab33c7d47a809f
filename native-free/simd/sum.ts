// The checksum entry points over packet memory (packet-memory.ts), in the
// shape of sum16 / copySum16 (checksum.ts, offload/copy-sum.ts), which
// dispatch here. Each returns -1 when it cannot serve the call - an array
// over ordinary memory, arrays over two different memories, or a range out
// of the array (a WebAssembly load out of its memory would throw; the JS
// loop reads undefined and the packet fails its checksum) - and the caller
// runs its JS loop.

import { fold } from '../checksum.js';
import { wasmChecksumOf } from './packet-memory.js';

/** sum16(b, off, len, initial) in WebAssembly, or -1. */
export function wasmSum16(b: Uint8Array, off: number, len: number, initial: number): number {
  const w = wasmChecksumOf(b);
  if (w === null || off < 0 || len < 0 || off + len > b.length) return -1;
  return fold(w.sum(b.byteOffset + off, len) + initial);
}

/** copySum16(src, so, dst, dOff, len, initial) in WebAssembly, or -1. */
export function wasmCopySum16(src: Uint8Array, so: number, dst: Uint8Array, dOff: number, len: number, initial: number): number {
  const w = wasmChecksumOf(src);
  if (w === null || w !== wasmChecksumOf(dst)) return -1;
  if (so < 0 || dOff < 0 || len < 0 || so + len > src.length || dOff + len > dst.length) return -1;
  const s = src.byteOffset + so;
  const d = dst.byteOffset + dOff;
  // Forward copy: a destination above an overlapping source would read bytes already overwritten.
  if (d > s && d < s + len) return -1;
  return fold(w.copySum(d, s, len) + initial);
}
