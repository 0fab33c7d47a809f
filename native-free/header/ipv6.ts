// IPv6 fixed header (RFC 8200, section 3).
//
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |Version| Traffic Class |           Flow Label                  |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |         Payload Length        |  Next Header  |   Hop Limit   |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |                                                               |
//    +                                                               +
//    |                                                               |
//    +                         Source Address                        +
//    |                                                               |
//    +                                                               +
//    |                                                               |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |                                                               |
//    +                                                               +
//    |                                                               |
//    +                      Destination Address                      +
//    |                                                               |
//    +                                                               +
//    |                                                               |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
//    Version         4-bit Internet Protocol version number = 6.
//    Traffic Class   8-bit Traffic Class field (DSCP 6 bits, ECN 2 bits).
//    Flow Label      20-bit flow label.
//    Payload Length  16-bit unsigned integer.  Length of the IPv6 payload,
//                    i.e., the rest of the packet following this IPv6 header,
//                    in octets.  (Extension headers count as payload.)
//    Next Header     8-bit selector, same values as the IPv4 Protocol field.
//    Hop Limit       8-bit unsigned integer, decremented by 1 by each node
//                    that forwards the packet.
//    Source / Destination Address  128 bits each.
//
// Addresses are copied into / out of a caller's Uint8Array at an offset
// (16 bytes). Jumbograms (payload length 0 with a Jumbo Payload option) are
// not supported: a payload length of 0 means an empty payload.

import { pseudoHeaderSum6 } from '../checksum.js';

/** Length of the fixed IPv6 header. */
export const IPV6_HEADER_LEN = 40;
/** Length of an IPv6 address. */
export const IPV6_ADDR_LEN = 16;
/** The value of the version field. */
export const IPV6_VERSION = 6;
/** Next Header value of ICMPv6. */
export const IPV6_NEXT_HEADER_ICMPV6 = 58;
/** Next Header value meaning "no next header". */
export const IPV6_NO_NEXT_HEADER = 59;

// validateIpv6 reasons.
export const IPV6_OK = 0;
/** Fewer than IPV6_HEADER_LEN bytes. */
export const IPV6_TOO_SHORT = 1;
/** Version field is not 6. */
export const IPV6_BAD_VERSION = 2;
/** Header plus payload length runs past the bytes given. */
export const IPV6_BAD_PAYLOAD_LENGTH = 3;

const VERSION_TC_FLOW = 0; // 4 bytes: version(4) tc(8) flow(20)
const PAYLOAD_LENGTH = 4;
const NEXT_HEADER = 6;
const HOP_LIMIT = 7;
const SRC = 8;
const DST = 24;

/**
 * Checks an IPv6 packet of `len` bytes at `off` once; the accessors trust
 * the bytes afterwards. Returns IPV6_OK or a reason. Bytes past
 * 40 + payload length (link-layer padding) are allowed.
 */
export function validateIpv6(b: Uint8Array, off: number, len: number): number {
  const avail = Math.min(len, b.length - off);
  if (off < 0 || avail < IPV6_HEADER_LEN) return IPV6_TOO_SHORT;
  if (b[off + VERSION_TC_FLOW]! >>> 4 !== IPV6_VERSION) return IPV6_BAD_VERSION;
  if (IPV6_HEADER_LEN + ipv6PayloadLength(b, off) > avail) return IPV6_BAD_PAYLOAD_LENGTH;
  return IPV6_OK;
}

export function ipv6Version(b: Uint8Array, off: number): number {
  return b[off + VERSION_TC_FLOW]! >>> 4;
}

/** Sets the 4-bit version, keeping the traffic class. */
export function setIpv6Version(b: Uint8Array, off: number, v: number): void {
  const o = off + VERSION_TC_FLOW;
  b[o] = ((v & 0x0f) << 4) | (b[o]! & 0x0f);
}

export function ipv6TrafficClass(b: Uint8Array, off: number): number {
  const o = off + VERSION_TC_FLOW;
  return ((b[o]! & 0x0f) << 4) | (b[o + 1]! >>> 4);
}

/** Sets the 8-bit traffic class, keeping the version and flow label. */
export function setIpv6TrafficClass(b: Uint8Array, off: number, tc: number): void {
  const o = off + VERSION_TC_FLOW;
  b[o] = (b[o]! & 0xf0) | ((tc >>> 4) & 0x0f);
  b[o + 1] = ((tc & 0x0f) << 4) | (b[o + 1]! & 0x0f);
}

export function ipv6FlowLabel(b: Uint8Array, off: number): number {
  const o = off + VERSION_TC_FLOW;
  return ((b[o + 1]! & 0x0f) << 16) | (b[o + 2]! << 8) | b[o + 3]!;
}

/** Sets the 20-bit flow label, keeping the traffic class. */
export function setIpv6FlowLabel(b: Uint8Array, off: number, flow: number): void {
  const o = off + VERSION_TC_FLOW;
  b[o + 1] = (b[o + 1]! & 0xf0) | ((flow >>> 16) & 0x0f);
  b[o + 2] = flow >>> 8;
  b[o + 3] = flow;
}

export function ipv6PayloadLength(b: Uint8Array, off: number): number {
  return (b[off + PAYLOAD_LENGTH]! << 8) | b[off + PAYLOAD_LENGTH + 1]!;
}

export function setIpv6PayloadLength(b: Uint8Array, off: number, v: number): void {
  b[off + PAYLOAD_LENGTH] = v >>> 8;
  b[off + PAYLOAD_LENGTH + 1] = v;
}

export function ipv6NextHeader(b: Uint8Array, off: number): number {
  return b[off + NEXT_HEADER]!;
}

export function setIpv6NextHeader(b: Uint8Array, off: number, v: number): void {
  b[off + NEXT_HEADER] = v;
}

export function ipv6HopLimit(b: Uint8Array, off: number): number {
  return b[off + HOP_LIMIT]!;
}

export function setIpv6HopLimit(b: Uint8Array, off: number, v: number): void {
  b[off + HOP_LIMIT] = v;
}

/** Copies the source address (16 bytes) into `dst` at `dstOff`. */
export function ipv6Src(b: Uint8Array, off: number, dst: Uint8Array, dstOff: number): void {
  copy16(b, off + SRC, dst, dstOff);
}

/** Copies 16 bytes of `src` at `srcOff` into the source address. */
export function setIpv6Src(b: Uint8Array, off: number, src: Uint8Array, srcOff: number): void {
  copy16(src, srcOff, b, off + SRC);
}

/** Copies the destination address (16 bytes) into `dst` at `dstOff`. */
export function ipv6Dst(b: Uint8Array, off: number, dst: Uint8Array, dstOff: number): void {
  copy16(b, off + DST, dst, dstOff);
}

/** Copies 16 bytes of `src` at `srcOff` into the destination address. */
export function setIpv6Dst(b: Uint8Array, off: number, src: Uint8Array, srcOff: number): void {
  copy16(src, srcOff, b, off + DST);
}

function copy16(from: Uint8Array, fromOff: number, to: Uint8Array, toOff: number): void {
  for (let i = 0; i < IPV6_ADDR_LEN; i++) to[toOff + i] = from[fromOff + i]!;
}

/**
 * The sum (RFC 1071, folded, not complemented) of the IPv6 pseudo-header
 * (RFC 8200 §8.1) of the header at off: its source and destination
 * addresses, the upper-layer length and next header. For UDP, TCP and
 * ICMPv6 checksums, passed as `initial` to checksum().
 */
export function ipv6PseudoHeaderSum(b: Uint8Array, off: number, nextHeader: number, length: number): number {
  return pseudoHeaderSum6(b, off + SRC, nextHeader, length);
}
