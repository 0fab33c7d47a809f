// The WebAssembly SIMD checksum (native-free/simd/) against the JS loops it
// stands beside: sum16 and copySum16 over ordinary arrays are the reference,
// and RFC 1071 word by word is the reference's reference. Every start parity
// (of the memory address and of the offset in the view), every length parity,
// lengths past one SIMD chunk (256 KiB), all-0xff input (every add carries),
// initial values of either parity; copies that overlap downwards; the calls
// the module must refuse (-1) so the JS loop runs instead.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { fold, sum16 } from '../../../native-free/checksum.js';
import { copySum16, moveSum } from '../../../native-free/offload/copy-sum.js';
import { CHUNK } from '../../../native-free/simd/checksum-module.js';
import { createPacketMemory, simdStatus, wasmChecksumOf } from '../../../native-free/simd/packet-memory.js';
import { wasmCopySum16, wasmSum16 } from '../../../native-free/simd/sum.js';

/** RFC 1071 by the book: 16-bit big-endian words, end-around carry after each add. */
function rfc1071(b: Uint8Array, off: number, len: number, initial: number): number {
  let s = initial;
  for (let i = 0; i < len; i += 2) {
    s += (b[off + i]! << 8) | (i + 1 < len ? b[off + i + 1]! : 0);
    if (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  }
  return fold(s);
}

const MEMORY_BYTES = 2 * 1024 * 1024;
const memory = createPacketMemory(MEMORY_BYTES);
const sharedMemory = createPacketMemory(MEMORY_BYTES, { shared: true });

/** Deterministic bytes from a seed (xorshift32), or the worst cases for carries. */
type Fill = 'random' | 'ff' | 'zero' | 'ff-but-one';
function fill(b: Uint8Array, from: number, n: number, kind: Fill, seed: number): void {
  let x = seed | 1;
  for (let i = from; i < from + n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = kind === 'ff' ? 0xff : kind === 'zero' ? 0 : kind === 'ff-but-one' ? (i === from + (seed % (n || 1)) ? 0xfe : 0xff) : x & 0xff;
  }
}
/** Index of the first byte where a and b differ, -1 if none (toEqual is slow on 64 KB arrays). */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

const fills = fc.constantFrom<Fill>('random', 'random', 'ff', 'zero', 'ff-but-one');

test('this runtime has WebAssembly SIMD: packet memories are WebAssembly memories', () => {
  expect(simdStatus()).toMatchObject({ engine: 'wasm-simd', reason: '' });
  expect(memory).toBeInstanceOf(ArrayBuffer);
  expect(memory!.byteLength).toBe(MEMORY_BYTES);
  expect(sharedMemory).toBeInstanceOf(SharedArrayBuffer);
  expect(sharedMemory!.byteLength).toBe(MEMORY_BYTES);
});

describe.each([
  ['an unshared', memory],
  ['a shared', sharedMemory],
] as const)('over %s packet memory', (_kind, mem) => {
  if (mem === null) return;
  const m = mem;
  const whole = new Uint8Array(m);

  test.each([
    ['empty', 0, 0],
    ['one byte', 1, 1],
    ['under one vector', 3, 15],
    ['one vector', 0, 16],
    ['one vector and an odd byte, odd start', 1, 17],
    ['under one 64-byte turn', 5, 63],
    ['a 1500-byte packet', 2, 1500],
    ['jumbo, odd', 3, 9001],
    ['64 KB', 1, 65535],
    ['one chunk exactly', 0, CHUNK],
    ['past one chunk', 7, CHUNK + 1234 + 1],
  ])('%s: the same sum as the JS loop and RFC 1071, all-0xff too', (_name, off, len) => {
    for (const kind of ['random', 'ff'] as const) {
      fill(whole, 0, off + len + 64, kind, 12345);
      const plain = whole.slice(0, off + len + 64);
      for (const initial of [0, 1, 0xffff, 0x2_3457]) {
        const want = rfc1071(plain, off, len, initial);
        expect(sum16(plain, off, len, initial)).toBe(want);
        expect(wasmSum16(whole, off, len, initial)).toBe(want);
      }
    }
  });

  test('a total whose folding carries three times (0x1_0000_ffff before the fold) is folded to the end', () => {
    // 65537 words 0xffff and two that load (little-endian) as 0x8000: the
    // total is 0x1_0000_ffff, folding gives 0x1_ffff, then 0x1_0000, then 1.
    const n = 2 * 65537 + 4;
    const b = new Uint8Array(m, 0, n);
    b.fill(0xff, 0, 2 * 65537);
    b.set([0x00, 0x80, 0x00, 0x80], 2 * 65537);
    const plain = b.slice();
    for (const initial of [0, 0x1_fffe]) expect(wasmSum16(b, 0, n, initial)).toBe(rfc1071(plain, 0, n, initial));
  });

  test('any view offset, range, initial value and fill: wasmSum16 = sum16 over a plain copy', () => {
    fc.assert(
      fc.property(fc.nat(67), fc.nat(67), fc.nat(70_000), fc.nat(0x3_ffff), fills, fc.nat(), (viewOffset, off, len, initial, kind, seed) => {
        const b = new Uint8Array(m, viewOffset, off + len + 3);
        fill(b, 0, b.length, kind, seed);
        const plain = b.slice();
        expect(wasmSum16(b, off, len, initial)).toBe(sum16(plain, off, len, initial));
      }),
      { numRuns: 300 },
    );
  });

  test('any source, destination, length and fill: wasmCopySum16 copies exactly the range and returns copySum16', () => {
    const half = MEMORY_BYTES / 2;
    fc.assert(
      fc.property(fc.nat(67), fc.nat(67), fc.nat(70_000), fc.nat(0x3_ffff), fills, fc.nat(), (so, dOff, len, initial, kind, seed) => {
        const src = new Uint8Array(m, 0, half);
        const dst = new Uint8Array(m, half, half);
        fill(src, 0, so + len + 64, kind, seed);
        dst.fill(0xa5, 0, dOff + len + 64);
        const plainDst = new Uint8Array(dOff + len + 64).fill(0xa5);
        const want = copySum16(src.slice(0, so + len + 64), so, plainDst, dOff, len, initial);
        expect(wasmCopySum16(src, so, dst, dOff, len, initial)).toBe(want);
        // Byte for byte, including the guard bytes either side.
        expect(firstDifference(dst.subarray(0, dOff + len + 64), plainDst)).toBe(-1);
      }),
      { numRuns: 200 },
    );
  });

  test('a destination below an overlapping source: the bytes of a memmove, the sum of the source as it was', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100 }), fc.nat(3000), fc.nat(), (shift, len, seed) => {
        const b = new Uint8Array(m, 1, 4000);
        fill(b, 0, b.length, 'random', seed);
        const before = b.slice();
        const want = sum16(before, 200, len, 0);
        const moved = before.slice().copyWithin(200 - shift, 200, 200 + len);
        expect(wasmCopySum16(b, 200, b, 200 - shift, len, 0)).toBe(want);
        expect(firstDifference(b, moved)).toBe(-1);
      }),
      { numRuns: 200 },
    );
  });

  test('refuses (-1, the JS loop runs) what it cannot do right, and touches nothing then', () => {
    const b = new Uint8Array(m, 0, 4096);
    fill(b, 0, 4096, 'random', 7);
    const before = b.slice();
    // Destination above an overlapping source: a forward copy would read what it wrote.
    expect(wasmCopySum16(b, 100, b, 101, 1000, 0)).toBe(-1);
    // Out of the view (the memory is larger: it would not trap, but read past the array).
    expect(wasmSum16(b, 4000, 97, 0)).toBe(-1);
    expect(wasmSum16(b, -1, 10, 0)).toBe(-1);
    expect(wasmCopySum16(b, 0, b, 4000, 97, 0)).toBe(-1);
    expect(firstDifference(b, before)).toBe(-1);
    // Ordinary memory, and arrays over two different packet memories.
    const plain = new Uint8Array(4096);
    expect(wasmChecksumOf(plain)).toBeNull();
    expect(wasmSum16(plain, 0, 100, 0)).toBe(-1);
    expect(wasmCopySum16(plain, 0, b, 0, 100, 0)).toBe(-1);
    const other = new Uint8Array(createPacketMemory(65536)!);
    expect(wasmChecksumOf(other)).not.toBeNull();
    expect(wasmChecksumOf(other)).not.toBe(wasmChecksumOf(b));
    expect(wasmCopySum16(b, 0, other, 0, 100, 0)).toBe(-1);
    expect(new Uint8Array(new SharedArrayBuffer(16)).length).toBe(16);
    expect(wasmChecksumOf(new Uint8Array(new SharedArrayBuffer(16)))).toBeNull();
  });

  test('the lookup cache follows the array, not the last answer: alternating plain and packet arrays', () => {
    const p = new Uint8Array(m, 0, 64);
    const q = new Uint8Array(64);
    const r = new Uint8Array(m, 64, 64);
    for (const [a, want] of [
      [p, true],
      [q, false],
      [r, true],
      [q, false],
      [p, true],
      [r, true],
    ] as const) {
      expect(wasmChecksumOf(a) !== null).toBe(want);
    }
  });
});

test('a packet memory is whole 64 KiB pages, at least what was asked for', () => {
  const b = createPacketMemory(65537);
  expect(b?.byteLength).toBe(2 * 65536);
});

describe.runIf(memory !== null)('the dispatch in sum16, copySum16 and moveSum', () => {
  test('over a packet memory they give what they give over ordinary memory, bytes included', () => {
    const m = memory!;
    fc.assert(
      fc.property(fc.nat(7), fc.nat(40), fc.nat(20_000), fc.nat(0x3_ffff), fills, fc.nat(), fc.integer({ min: -64, max: 64 }), (view, off, len, initial, kind, seed, shift) => {
        const b = new Uint8Array(m, view, 2 * (off + len) + 256);
        fill(b, 0, b.length, kind, seed);
        const p = b.slice();
        expect(sum16(b, off, len, initial)).toBe(sum16(p, off, len, initial));
        const to = off + len + 64;
        expect(copySum16(b, off, b, to, len, initial)).toBe(copySum16(p, off, p, to, len, initial));
        // moveSum within one array, either direction (upwards over itself: copyWithin, then the sum).
        const from = 64 + off;
        const dest = Math.max(0, from + shift);
        expect(moveSum(b, from, b, dest, len, initial)).toBe(moveSum(p, from, p, dest, len, initial));
        expect(firstDifference(b, p)).toBe(-1);
      }),
      { numRuns: 300 },
    );
  });
});
