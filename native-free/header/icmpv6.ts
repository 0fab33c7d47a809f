// ICMPv6 (RFC 4443), the parts weft writes and must recognise: the message
// header, the Packet Too Big message (§3.2), and which types are errors.
//
//     0                   1                   2                   3
//     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |     Type      |     Code      |          Checksum             |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |                             MTU                               |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |                    As much of invoking packet                 |
//    +               as possible without the ICMPv6 packet           +
//    |               exceeding the minimum IPv6 MTU [IPv6]           |
//
//    Packet Too Big: Type 2, Code 0 (set by the sender, ignored by the
//    receiver). The checksum covers the IPv6 pseudo-header (RFC 8200 §8.1,
//    next header 58) and the whole ICMPv6 message.
//
// Types 0-127 are error messages, 128-255 informational (§2.1).

export const ICMPV6_HEADER_LEN = 8;
export const ICMPV6_PACKET_TOO_BIG = 2;
/** Redirect (RFC 4861 §4.5): RFC 4443 §2.4 (e.2) forbids answering it with an error. */
export const ICMPV6_REDIRECT = 137;

export function isIcmpv6Error(type: number): boolean {
  return type < 128;
}

export function icmpv6Type(b: Uint8Array, off: number): number {
  return b[off]!;
}

export function icmpv6Code(b: Uint8Array, off: number): number {
  return b[off + 1]!;
}

export function icmpv6Checksum(b: Uint8Array, off: number): number {
  return (b[off + 2]! << 8) | b[off + 3]!;
}

/** The 32-bit MTU field of a Packet Too Big message. */
export function icmpv6Mtu(b: Uint8Array, off: number): number {
  return ((b[off + 4]! << 24) | (b[off + 5]! << 16) | (b[off + 6]! << 8) | b[off + 7]!) >>> 0;
}

/** Writes type, code, a zero checksum and the 32-bit word after it (MTU, pointer or unused). */
export function writeIcmpv6Header(b: Uint8Array, off: number, type: number, code: number, word: number): void {
  b[off] = type;
  b[off + 1] = code;
  b[off + 2] = 0;
  b[off + 3] = 0;
  b[off + 4] = word >>> 24;
  b[off + 5] = (word >>> 16) & 0xff;
  b[off + 6] = (word >>> 8) & 0xff;
  b[off + 7] = word & 0xff;
}

export function setIcmpv6Checksum(b: Uint8Array, off: number, v: number): void {
  b[off + 2] = v >>> 8;
  b[off + 3] = v & 0xff;
}
