// Copy and checksum in one pass: the payload of a segment is read once, from
// the source, while it is written to the destination. The sum is that of
// sum16 over the source range (first byte high), so it does not depend on
// where the bytes land.

import { fold, sum16 } from '../checksum.js';
import { wasmCopySum16 } from '../simd/sum.js';

/**
 * From this many bytes a copy within one packet memory goes to WebAssembly
 * SIMD (simd/). bench/checksum-pairs.mjs, medians of 3 (ns per copy and sum):
 * 64 B: 26.5 wasm, 64.0 this JS loop, 74.3 copyWithin + sum16 (moveSum's
 * other way); 1500 B: 65.3, 1372, 347.
 */
const WASM_COPY_MIN = 64;

/**
 * Copies src[so, so+len) to dst[dOff, dOff+len) and returns the ones'-complement
 * sum of the bytes (folded, not complemented), plus `initial`. The ranges must
 * not overlap unless they are the same array and dOff <= so.
 */
export function copySum16(src: Uint8Array, so: number, dst: Uint8Array, dOff: number, len: number, initial = 0): number {
  if (len >= WASM_COPY_MIN) {
    const s = wasmCopySum16(src, so, dst, dOff, len, initial);
    if (s >= 0) return s;
  }
  let hi = 0;
  let lo = 0;
  const end = so + (len & ~1);
  let i = so;
  let j = dOff;
  for (; i + 8 <= end; i += 8, j += 8) {
    const a0 = src[i]!;
    const a1 = src[i + 1]!;
    const a2 = src[i + 2]!;
    const a3 = src[i + 3]!;
    const a4 = src[i + 4]!;
    const a5 = src[i + 5]!;
    const a6 = src[i + 6]!;
    const a7 = src[i + 7]!;
    dst[j] = a0;
    dst[j + 1] = a1;
    dst[j + 2] = a2;
    dst[j + 3] = a3;
    dst[j + 4] = a4;
    dst[j + 5] = a5;
    dst[j + 6] = a6;
    dst[j + 7] = a7;
    hi += a0 + a2 + a4 + a6;
    lo += a1 + a3 + a5 + a7;
  }
  for (; i < end; i += 2, j += 2) {
    const a0 = src[i]!;
    const a1 = src[i + 1]!;
    dst[j] = a0;
    dst[j + 1] = a1;
    hi += a0;
    lo += a1;
  }
  if (len & 1) {
    const a0 = src[end]!;
    dst[j] = a0;
    hi += a0;
  }
  return fold(hi * 256 + lo + initial);
}

/** Copies src[so, so+len) to dst[dOff, ...) byte by byte (headers: short, no view needed). */
export function copyBytes(src: Uint8Array, so: number, dst: Uint8Array, dOff: number, len: number): void {
  for (let k = 0; k < len; k++) dst[dOff + k] = src[so + k]!;
}

/**
 * Copies b[from, from+len) to o[to, to+len) and returns the sum of the bytes
 * plus `initial`. Within one array the copy is a native copyWithin (memmove)
 * and the sum a second, word-wide pass, unless the array is a packet memory
 * (simd/): then one SIMD pass does both; across arrays, copySum16.
 */
export function moveSum(b: Uint8Array, from: number, o: Uint8Array, to: number, len: number, initial: number): number {
  if (b !== o) return copySum16(b, from, o, to, len, initial);
  // In a packet memory, one SIMD pass; -1 for ordinary memory or a move upwards over itself.
  const s = len >= WASM_COPY_MIN ? wasmCopySum16(b, from, o, to, len, initial) : -1;
  if (s >= 0) return s;
  o.copyWithin(to, from, from + len);
  return sum16(o, to, len, initial);
}

/** a[ao, ao+len) and b[bo, bo+len) hold the same bytes (headers: short, a plain loop). */
export function sameBytes(a: Uint8Array, ao: number, b: Uint8Array, bo: number, len: number): boolean {
  for (let k = 0; k < len; k++) if (a[ao + k] !== b[bo + k]) return false;
  return true;
}
