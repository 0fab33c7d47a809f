// ICMP for IPv4 (RFC 792), with the Next-Hop MTU of RFC 1191.
//
// Every message starts with type, code and checksum; the second 32-bit word
// depends on the type.
//
// Echo or Echo Reply Message (RFC 792):
//
//     0                   1                   2                   3
//     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |     Type      |     Code      |          Checksum             |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |           Identifier          |        Sequence Number        |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |     Data ...
//    +-+-+-+-+-
//
//    Type 8 for echo message; 0 for echo reply message. Code 0.
//
// Destination Unreachable Message (RFC 792), type 3; Time Exceeded
// Message, type 11, has the same layout:
//
//     0                   1                   2                   3
//     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |     Type      |     Code      |          Checksum             |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |                             unused                            |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |      Internet Header + 64 bits of Original Data Datagram      |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// "Fragmentation needed and DF set" (type 3, code 4) with the next-hop MTU
// in the low-order 16 bits of the second word (RFC 1191, section 4):
//
//     0                   1                   2                   3
//     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |   Type = 3    |   Code = 4    |           Checksum            |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |           unused = 0          |         Next-Hop MTU          |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |      Internet Header + 64 bits of Original Datagram Data      |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The checksum is the 16-bit one's complement of the one's complement sum
// of the ICMP message starting with the ICMP Type (checksum field 0 while
// computing). validateIcmpv4 does not verify it: that is checksum.ts's job.

/** Length of the ICMPv4 header: type, code, checksum and the second word. */
export const ICMPV4_HEADER_LEN = 8;
/** Offset of the echo data, or of the original datagram in an error. */
export const ICMPV4_PAYLOAD_OFFSET = 8;
/** Shortest error message: header + minimal IPv4 header (20) + 64 bits of its data. */
export const ICMPV4_ERROR_MIN_LEN = ICMPV4_HEADER_LEN + 20 + 8;

// Types.
export const ICMPV4_ECHO_REPLY = 0;
export const ICMPV4_DEST_UNREACHABLE = 3;
export const ICMPV4_SOURCE_QUENCH = 4;
export const ICMPV4_REDIRECT = 5;
export const ICMPV4_ECHO_REQUEST = 8;
export const ICMPV4_TIME_EXCEEDED = 11;
export const ICMPV4_PARAMETER_PROBLEM = 12;

// Codes of Destination Unreachable (RFC 792; RFC 1122 and 1812 add 6..15).
export const ICMPV4_NET_UNREACHABLE = 0;
export const ICMPV4_HOST_UNREACHABLE = 1;
export const ICMPV4_PROTOCOL_UNREACHABLE = 2;
export const ICMPV4_PORT_UNREACHABLE = 3;
/** Fragmentation needed and DF set; the next-hop MTU is in icmpv4Mtu. */
export const ICMPV4_FRAG_NEEDED = 4;
export const ICMPV4_SOURCE_ROUTE_FAILED = 5;
/** Highest Destination Unreachable code assigned (precedence cutoff, RFC 1812). */
export const ICMPV4_DEST_UNREACHABLE_MAX_CODE = 15;

// Codes of Time Exceeded.
export const ICMPV4_TTL_EXCEEDED = 0;
export const ICMPV4_REASSEMBLY_TIME_EXCEEDED = 1;

// validateIcmpv4 reasons.
export const ICMPV4_OK = 0;
/** Fewer than ICMPV4_HEADER_LEN bytes. */
export const ICMPV4_TOO_SHORT = 1;
/** An error message (types 3, 4, 5, 11, 12) shorter than ICMPV4_ERROR_MIN_LEN. */
export const ICMPV4_ERROR_TOO_SHORT = 2;
/** A code not defined for an echo, destination unreachable or time exceeded message. */
export const ICMPV4_BAD_CODE = 3;

const TYPE = 0;
const CODE = 1;
const CHECKSUM = 2;
const REST = 4; // second 32-bit word
const IDENT = 4;
const SEQUENCE = 6;
const MTU = 6;

/** True for the types that carry the invoking datagram's header (3, 4, 5, 11, 12). */
export function isIcmpv4Error(type: number): boolean {
  return (
    type === ICMPV4_DEST_UNREACHABLE ||
    type === ICMPV4_TIME_EXCEEDED ||
    type === ICMPV4_PARAMETER_PROBLEM ||
    type === ICMPV4_REDIRECT ||
    type === ICMPV4_SOURCE_QUENCH
  );
}

/**
 * Checks an ICMPv4 message of `len` bytes at `off` (the IPv4 payload) once;
 * the accessors trust the bytes afterwards. Returns ICMPV4_OK or a reason.
 * Unknown types pass: the caller decides what to do with them.
 */
export function validateIcmpv4(b: Uint8Array, off: number, len: number): number {
  const avail = Math.min(len, b.length - off);
  if (off < 0 || avail < ICMPV4_HEADER_LEN) return ICMPV4_TOO_SHORT;
  const type = b[off + TYPE]!;
  const code = b[off + CODE]!;
  if (isIcmpv4Error(type) && avail < ICMPV4_ERROR_MIN_LEN) return ICMPV4_ERROR_TOO_SHORT;
  switch (type) {
    case ICMPV4_ECHO_REQUEST:
    case ICMPV4_ECHO_REPLY:
      if (code !== 0) return ICMPV4_BAD_CODE;
      break;
    case ICMPV4_DEST_UNREACHABLE:
      if (code > ICMPV4_DEST_UNREACHABLE_MAX_CODE) return ICMPV4_BAD_CODE;
      break;
    case ICMPV4_TIME_EXCEEDED:
      if (code > ICMPV4_REASSEMBLY_TIME_EXCEEDED) return ICMPV4_BAD_CODE;
      break;
  }
  return ICMPV4_OK;
}

export function icmpv4Type(b: Uint8Array, off: number): number {
  return b[off + TYPE]!;
}

export function setIcmpv4Type(b: Uint8Array, off: number, v: number): void {
  b[off + TYPE] = v;
}

export function icmpv4Code(b: Uint8Array, off: number): number {
  return b[off + CODE]!;
}

export function setIcmpv4Code(b: Uint8Array, off: number, v: number): void {
  b[off + CODE] = v;
}

export function icmpv4Checksum(b: Uint8Array, off: number): number {
  return (b[off + CHECKSUM]! << 8) | b[off + CHECKSUM + 1]!;
}

export function setIcmpv4Checksum(b: Uint8Array, off: number, v: number): void {
  b[off + CHECKSUM] = v >>> 8;
  b[off + CHECKSUM + 1] = v;
}

/** The second 32-bit word as a whole ("unused", or identifier + sequence, ...). */
export function icmpv4RestOfHeader(b: Uint8Array, off: number): number {
  const o = off + REST;
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

export function setIcmpv4RestOfHeader(b: Uint8Array, off: number, v: number): void {
  const o = off + REST;
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

/** Echo / echo reply identifier. */
export function icmpv4Ident(b: Uint8Array, off: number): number {
  return (b[off + IDENT]! << 8) | b[off + IDENT + 1]!;
}

export function setIcmpv4Ident(b: Uint8Array, off: number, v: number): void {
  b[off + IDENT] = v >>> 8;
  b[off + IDENT + 1] = v;
}

/** Echo / echo reply sequence number. */
export function icmpv4Sequence(b: Uint8Array, off: number): number {
  return (b[off + SEQUENCE]! << 8) | b[off + SEQUENCE + 1]!;
}

export function setIcmpv4Sequence(b: Uint8Array, off: number, v: number): void {
  b[off + SEQUENCE] = v >>> 8;
  b[off + SEQUENCE + 1] = v;
}

/** Next-hop MTU of a "fragmentation needed" message (RFC 1191); 0 from pre-1191 routers. */
export function icmpv4Mtu(b: Uint8Array, off: number): number {
  return (b[off + MTU]! << 8) | b[off + MTU + 1]!;
}

/** Sets the next-hop MTU; the unused high-order 16 bits are left as they are. */
export function setIcmpv4Mtu(b: Uint8Array, off: number, v: number): void {
  b[off + MTU] = v >>> 8;
  b[off + MTU + 1] = v;
}
