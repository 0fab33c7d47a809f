// The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//
// The ones'-complement sum is order-independent per byte lane, so the byte
// loop adds the even (high) and odd (low) bytes into two plain accumulators and
// folds once at the end: no 16-bit word assembly per iteration. Longer ranges
// are summed 4 bytes per load (sum16Words), ~2.5x faster measured here. A JS
// number holds 2^53, so the accumulators cannot overflow for any packet.

import { wasmSum16 } from './simd/sum.js';

/** Below this many bytes the byte loop wins over setting up the word loop. */
const WORD_LOOP_MIN = 64;
/**
 * From this many bytes a packet memory is summed in WebAssembly SIMD (simd/):
 * bench/checksum-pairs.mjs, ns per sum, JS / wasm: 40 B 21 / 35, 64 B 51 / 17, 1500 B 198 / 66.
 */
const WASM_SUM_MIN = 64;

/** u32 loads are little-endian here (x86-64, arm64); elsewhere only the byte loop is used. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** One Uint32Array per buffer, made once: the word loop reads 4 bytes per load. */
const words = new WeakMap<ArrayBufferLike, Uint32Array>();
// The last two arrays seen and their word views: a worker sums in two or three
// buffers, and `b.buffer` plus a WeakMap lookup cost more than a 64-byte sum.
let lastBytes: Uint8Array | null = null;
let lastWords: Uint32Array | null = null;
let prevBytes: Uint8Array | null = null;
let prevWords: Uint32Array | null = null;

function wordView(b: Uint8Array): Uint32Array {
  if (b === lastBytes) return lastWords!;
  if (b === prevBytes) return prevWords!;
  const buffer = b.buffer;
  let v = words.get(buffer);
  if (v === undefined) {
    v = new Uint32Array(buffer, 0, buffer.byteLength >>> 2);
    words.set(buffer, v);
  }
  prevBytes = lastBytes;
  prevWords = lastWords;
  lastBytes = b;
  lastWords = v;
  return v;
}

/** Ones'-complement sum of b[off, off+len), folded to 16 bits, not complemented. */
export function sum16(b: Uint8Array, off: number, len: number, initial = 0): number {
  if (len >= WASM_SUM_MIN) {
    const s = wasmSum16(b, off, len, initial);
    if (s >= 0) return s;
  }
  if (len >= WORD_LOOP_MIN && LITTLE_ENDIAN) return sum16Words(b, off, len, initial);
  return sum16Bytes(b, off, len, initial);
}

function sum16Bytes(b: Uint8Array, off: number, len: number, initial: number): number {
  let hi = 0;
  let lo = 0;
  const end = off + (len & ~1);
  let i = off;
  for (; i + 8 <= end; i += 8) {
    hi += b[i]! + b[i + 2]! + b[i + 4]! + b[i + 6]!;
    lo += b[i + 1]! + b[i + 3]! + b[i + 5]! + b[i + 7]!;
  }
  for (; i < end; i += 2) {
    hi += b[i]!;
    lo += b[i + 1]!;
  }
  if (len & 1) hi += b[end]!;
  return fold(hi * 256 + lo + initial);
}

/**
 * The same sum, 4 bytes per load: the aligned middle is summed as
 * little-endian u32 words, which folds to the sum of little-endian 16-bit
 * words, i.e. the RFC 1071 sum byte-swapped (RFC 1071 §2(B)) - unless the
 * middle starts at an odd distance from off, where the pairing flips and no
 * swap is needed. The unaligned head and tail go byte by byte.
 */
function sum16Words(b: Uint8Array, off: number, len: number, initial: number): number {
  const abs = b.byteOffset + off;
  const head = (4 - (abs & 3)) & 3;
  let hi = 0;
  let lo = 0;
  for (let k = 0; k < head; k++) {
    if ((k & 1) === 0) hi += b[off + k]!;
    else lo += b[off + k]!;
  }
  const count = (len - head) >>> 2;
  const u = wordView(b);
  let w = (abs + head) >>> 2;
  const wend = w + count;
  // Two accumulators: the additions of the two halves do not wait on each other.
  let s = 0;
  let t = 0;
  for (; w + 8 <= wend; w += 8) {
    s += u[w]! + u[w + 1]! + u[w + 2]! + u[w + 3]!;
    t += u[w + 4]! + u[w + 5]! + u[w + 6]! + u[w + 7]!;
  }
  for (; w < wend; w++) s += u[w]!;
  const le = fold(s + t);
  const middle = (head & 1) === 0 ? ((le & 0xff) << 8) | (le >>> 8) : le;
  for (let k = head + 4 * count; k < len; k++) {
    if ((k & 1) === 0) hi += b[off + k]!;
    else lo += b[off + k]!;
  }
  return fold(hi * 256 + lo + middle + initial);
}

/** Folds a non-negative integer sum into 16 bits with end-around carry. */
export function fold(sum: number): number {
  while (sum > 0xffffffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** The checksum field value for b[off, off+len): the complement of the sum. */
export function checksum(b: Uint8Array, off: number, len: number, initial = 0): number {
  return ~sum16(b, off, len, initial) & 0xffff;
}

/**
 * RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') for one 16-bit field changing from
 * m to m'. Unlike eqn. 2 it never produces 0x0000 from a non-zero sum.
 */
export function updateChecksum16(hc: number, oldWord: number, newWord: number): number {
  return ~fold((~hc & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff)) & 0xffff;
}

/** Sum of an IPv4 pseudo-header (RFC 768 / RFC 793) for UDP or TCP checksums. */
export function pseudoHeaderSum4(src: number, dst: number, protocol: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
}

/**
 * Sum of an IPv6 pseudo-header (RFC 8200 §8.1) for UDP or TCP checksums:
 * source and destination address, the 32-bit upper-layer length (below 2^16
 * here: no jumbograms), three zero bytes and the next header. `addrs` is where
 * the two addresses sit, back to back: byte 8 of the IPv6 header. Folded,
 * not complemented.
 */
export function pseudoHeaderSum6(b: Uint8Array, addrs: number, protocol: number, length: number): number {
  let hi = 0;
  let lo = 0;
  for (let i = addrs, end = addrs + 32; i < end; i += 8) {
    hi += b[i]! + b[i + 2]! + b[i + 4]! + b[i + 6]!;
    lo += b[i + 1]! + b[i + 3]! + b[i + 5]! + b[i + 7]!;
  }
  return fold(hi * 256 + lo + protocol + length);
}
