// sum16 has two loops (bytes; 4-byte words for 64 bytes and more): both must
// give RFC 1071's sum, computed here the slow, obvious way, for every start
// alignment, odd and even lengths, and shared memory.
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { checksum, pseudoHeaderSum6, sum16 } from '../../native-free/checksum.js';

/** RFC 1071 by the book: 16-bit big-endian words, end-around carry after each add. */
function reference(b: Uint8Array, off: number, len: number, initial: number): number {
  let s = initial;
  for (let i = 0; i < len; i += 2) {
    const word = (b[off + i]! << 8) | (i + 1 < len ? b[off + i + 1]! : 0);
    s += word;
    while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  }
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

test.each([
  ['empty', 0, 0],
  ['short, byte loop', 3, 63],
  ['word loop, aligned', 0, 64],
  ['word loop, start 1 past a word', 1, 1500],
  ['word loop, start 2 past a word', 2, 1499],
  ['word loop, start 3 past a word', 3, 9001],
  ['a whole 64 KB super-packet', 5, 65535],
])('%s: sum16 agrees with RFC 1071 computed word by word', (_name, off, len) => {
  const b = new Uint8Array(off + len + 8);
  for (let i = 0; i < b.length; i++) b[i] = (i * 131 + 7) & 0xff;
  expect(sum16(b, off, len, 0)).toBe(reference(b, off, len, 0));
  expect(sum16(b, off, len, 0x1_2345)).toBe(reference(b, off, len, 0x1_2345));
});

test('any range of any view (offset views, SharedArrayBuffer): sum16 agrees with the reference', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 3000 }),
      fc.nat(7),
      fc.nat(3000),
      fc.nat(3000),
      fc.boolean(),
      fc.nat(0x3_ffff),
      (bytes, viewOffset, a, c, shared, initial) => {
        const memory = shared ? new SharedArrayBuffer(bytes.length + viewOffset) : new ArrayBuffer(bytes.length + viewOffset);
        const b = new Uint8Array(memory, viewOffset, bytes.length);
        b.set(bytes);
        const off = Math.min(a, b.length);
        const len = Math.min(c, b.length - off);
        expect(sum16(b, off, len, initial)).toBe(reference(b, off, len, initial));
      },
    ),
    { numRuns: 2000 },
  );
});

test('a packet with its checksum in place sums to 0xffff whatever its alignment', () => {
  for (let shift = 0; shift < 4; shift++) {
    const b = new Uint8Array(200 + shift);
    for (let i = 0; i < 200; i++) b[shift + i] = (i * 37) & 0xff;
    b[shift + 10] = 0;
    b[shift + 11] = 0;
    const c = checksum(b, shift, 200);
    b[shift + 10] = c >>> 8;
    b[shift + 11] = c & 0xff;
    expect(sum16(b, shift, 200)).toBe(0xffff);
  }
});

test('pseudoHeaderSum6 is the sum of RFC 8200 §8.1 pseudo-header, laid out byte by byte (property)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.nat(7), fc.constantFrom(6, 17, 58), fc.nat(0xffff), (addrs, at, proto, length) => {
      const b = new Uint8Array(at + 32);
      b.set(addrs, at);
      // Source, destination, 32-bit upper-layer length, three zero bytes, next header.
      const ph = new Uint8Array(40);
      ph.set(addrs, 0);
      ph[34] = length >> 8;
      ph[35] = length & 0xff;
      ph[39] = proto;
      expect(pseudoHeaderSum6(b, at, proto, length)).toBe(reference(ph, 0, 40, 0));
    }),
    { numRuns: 500 },
  );
});
