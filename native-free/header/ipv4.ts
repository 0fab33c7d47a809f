// IPv4 header (RFC 791 §3.1), with ECN in the old TOS octet (RFC 3168).
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |Version|  IHL  |  DSCP     |ECN|          Total Length         |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |         Identification        |Flags|      Fragment Offset    |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |  Time to Live |    Protocol   |         Header Checksum       |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                       Source Address                          |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                    Destination Address                        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                    Options                    |    Padding    |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Flags: bit 0 reserved (must be zero), bit 1 DF, bit 2 MF.

import { pseudoHeaderSum4, sum16 } from '../checksum.js';

export const IPV4_MIN_HEADER_LENGTH = 20;
export const IPV4_MAX_HEADER_LENGTH = 60;

export const PROTO_ICMP = 1;
export const PROTO_IPIP = 4;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;

export const ECN_NOT_ECT = 0;
export const ECN_ECT1 = 1;
export const ECN_ECT0 = 2;
export const ECN_CE = 3;

const VERSION_IHL = 0;
const TOS = 1;
const TOTAL_LENGTH = 2;
const ID = 4;
const FLAGS_FRAG = 6;
const TTL = 8;
const PROTOCOL = 9;
const CHECKSUM = 10;
const SRC = 12;
const DST = 16;

const FLAG_DF = 0x40;
const FLAG_MF = 0x20;
const FLAG_RESERVED = 0x80;

// Reasons validateIpv4 gives; 0 is valid.
export const IPV4_OK = 0;
export const IPV4_SHORT = 1;
export const IPV4_BAD_VERSION = 2;
export const IPV4_BAD_IHL = 3;
export const IPV4_BAD_TOTAL_LENGTH = 4;
export const IPV4_BAD_CHECKSUM = 5;

export function version(b: Uint8Array, off: number): number {
  return b[off + VERSION_IHL]! >>> 4;
}

/** Header length in bytes (IHL × 4). */
export function headerLength(b: Uint8Array, off: number): number {
  return (b[off + VERSION_IHL]! & 0x0f) << 2;
}

export function tos(b: Uint8Array, off: number): number {
  return b[off + TOS]!;
}

export function ecn(b: Uint8Array, off: number): number {
  return b[off + TOS]! & 0x03;
}

export function totalLength(b: Uint8Array, off: number): number {
  return (b[off + TOTAL_LENGTH]! << 8) | b[off + TOTAL_LENGTH + 1]!;
}

export function id(b: Uint8Array, off: number): number {
  return (b[off + ID]! << 8) | b[off + ID + 1]!;
}

export function dontFragment(b: Uint8Array, off: number): boolean {
  return (b[off + FLAGS_FRAG]! & FLAG_DF) !== 0;
}

export function moreFragments(b: Uint8Array, off: number): boolean {
  return (b[off + FLAGS_FRAG]! & FLAG_MF) !== 0;
}

export function reservedFlag(b: Uint8Array, off: number): boolean {
  return (b[off + FLAGS_FRAG]! & FLAG_RESERVED) !== 0;
}

/** Fragment offset in bytes (the field counts 8-byte units). */
export function fragmentOffset(b: Uint8Array, off: number): number {
  return (((b[off + FLAGS_FRAG]! & 0x1f) << 8) | b[off + FLAGS_FRAG + 1]!) << 3;
}

/** True for any fragment but an unfragmented packet: MF set or offset non-zero. */
export function isFragment(b: Uint8Array, off: number): boolean {
  return (b[off + FLAGS_FRAG]! & (FLAG_MF | 0x1f)) !== 0 || b[off + FLAGS_FRAG + 1]! !== 0;
}

export function ttl(b: Uint8Array, off: number): number {
  return b[off + TTL]!;
}

export function protocol(b: Uint8Array, off: number): number {
  return b[off + PROTOCOL]!;
}

export function headerChecksum(b: Uint8Array, off: number): number {
  return (b[off + CHECKSUM]! << 8) | b[off + CHECKSUM + 1]!;
}

export function src(b: Uint8Array, off: number): number {
  return ((b[off + SRC]! << 24) | (b[off + SRC + 1]! << 16) | (b[off + SRC + 2]! << 8) | b[off + SRC + 3]!) >>> 0;
}

export function dst(b: Uint8Array, off: number): number {
  return ((b[off + DST]! << 24) | (b[off + DST + 1]! << 16) | (b[off + DST + 2]! << 8) | b[off + DST + 3]!) >>> 0;
}

/** Offset of the destination address, for lookups that read the bytes in place. */
export const IPV4_DST_OFFSET = DST;
export const IPV4_SRC_OFFSET = SRC;

export function setVersionIhl(b: Uint8Array, off: number, headerBytes: number): void {
  b[off + VERSION_IHL] = 0x40 | (headerBytes >>> 2);
}

export function setTos(b: Uint8Array, off: number, v: number): void {
  b[off + TOS] = v;
}

export function setTotalLength(b: Uint8Array, off: number, v: number): void {
  b[off + TOTAL_LENGTH] = v >>> 8;
  b[off + TOTAL_LENGTH + 1] = v & 0xff;
}

export function setId(b: Uint8Array, off: number, v: number): void {
  b[off + ID] = (v >>> 8) & 0xff;
  b[off + ID + 1] = v & 0xff;
}

/** Writes flags and fragment offset (bytes, multiple of 8) together. */
export function setFlagsFragment(b: Uint8Array, off: number, df: boolean, mf: boolean, fragOffsetBytes: number): void {
  const units = fragOffsetBytes >>> 3;
  b[off + FLAGS_FRAG] = (df ? FLAG_DF : 0) | (mf ? FLAG_MF : 0) | ((units >>> 8) & 0x1f);
  b[off + FLAGS_FRAG + 1] = units & 0xff;
}

export function setTtl(b: Uint8Array, off: number, v: number): void {
  b[off + TTL] = v;
}

export function setProtocol(b: Uint8Array, off: number, v: number): void {
  b[off + PROTOCOL] = v;
}

export function setHeaderChecksum(b: Uint8Array, off: number, v: number): void {
  b[off + CHECKSUM] = v >>> 8;
  b[off + CHECKSUM + 1] = v & 0xff;
}

export function setSrc(b: Uint8Array, off: number, addr: number): void {
  writeAddr(b, off + SRC, addr);
}

export function setDst(b: Uint8Array, off: number, addr: number): void {
  writeAddr(b, off + DST, addr);
}

function writeAddr(b: Uint8Array, at: number, addr: number): void {
  b[at] = addr >>> 24;
  b[at + 1] = (addr >>> 16) & 0xff;
  b[at + 2] = (addr >>> 8) & 0xff;
  b[at + 3] = addr & 0xff;
}

/**
 * Ones'-complement sum of the header. The option-less 20-byte header is by far
 * the common case, so it is summed unrolled (high and low byte lanes apart).
 */
function headerSum(b: Uint8Array, off: number): number {
  const hl = headerLength(b, off);
  if (hl !== IPV4_MIN_HEADER_LENGTH) return sum16(b, off, hl);
  const hi = b[off]! + b[off + 2]! + b[off + 4]! + b[off + 6]! + b[off + 8]! + b[off + 10]! + b[off + 12]! + b[off + 14]! + b[off + 16]! + b[off + 18]!;
  const lo = b[off + 1]! + b[off + 3]! + b[off + 5]! + b[off + 7]! + b[off + 9]! + b[off + 11]! + b[off + 13]! + b[off + 15]! + b[off + 17]! + b[off + 19]!;
  let sum = hi * 256 + lo;
  sum = (sum & 0xffff) + (sum >>> 16);
  return (sum & 0xffff) + (sum >>> 16);
}

/** Computes and stores the header checksum over the IHL-sized header. */
export function fillHeaderChecksum(b: Uint8Array, off: number): void {
  setHeaderChecksum(b, off, 0);
  setHeaderChecksum(b, off, ~headerSum(b, off) & 0xffff);
}

/** A header whose checksum field is right sums to 0xffff. */
export function headerChecksumValid(b: Uint8Array, off: number): boolean {
  return headerSum(b, off) === 0xffff;
}

/**
 * Checks an IPv4 packet of `len` available bytes once: version, IHL, total
 * length (not above what arrived, not below the header) and header checksum.
 * Bytes past the total length are link padding, not an error.
 */
export function validateIpv4(b: Uint8Array, off: number, len: number): number {
  if (len < IPV4_MIN_HEADER_LENGTH) return IPV4_SHORT;
  if (version(b, off) !== 4) return IPV4_BAD_VERSION;
  const hl = headerLength(b, off);
  if (hl < IPV4_MIN_HEADER_LENGTH || hl > len) return IPV4_BAD_IHL;
  const total = totalLength(b, off);
  if (total < hl || total > len) return IPV4_BAD_TOTAL_LENGTH;
  if (!headerChecksumValid(b, off)) return IPV4_BAD_CHECKSUM;
  return IPV4_OK;
}

/** The pseudo-header sum (RFC 793/768) of the IPv4 header at off: its addresses, `proto` and `length`, unfolded. */
export function pseudoHeaderSumOf(b: Uint8Array, off: number, proto: number, length: number): number {
  return pseudoHeaderSum4(src(b, off), dst(b, off), proto, length);
}
