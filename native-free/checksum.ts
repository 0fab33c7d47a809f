// The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//
// The ones'-complement sum is order-independent per byte lane, so the loop adds
// the even (high) and odd (low) bytes into two plain accumulators and folds once
// at the end: no 16-bit word assembly per iteration. A JS number holds 2^53, so
// the accumulators cannot overflow for any packet that fits in memory.

/** Ones'-complement sum of b[off, off+len), folded to 16 bits, not complemented. */
export function sum16(b: Uint8Array, off: number, len: number, initial = 0): number {
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
