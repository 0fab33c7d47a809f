// UDP header (RFC 768).
//
//    0      7 8     15 16    23 24    31
//   +--------+--------+--------+--------+
//   |     Source      |   Destination   |
//   |      Port       |      Port       |
//   +--------+--------+--------+--------+
//   |     Length      |    Checksum     |
//   +--------+--------+--------+--------+
//   |          data octets ...
//   +---------------- ...
//
// Over IPv4 a checksum of zero means "not computed" (RFC 768); a computed
// checksum of zero is sent as 0xFFFF. VXLAN over IPv4 sends zero (RFC 7348 §5).

import { checksum, pseudoHeaderSum4 } from '../checksum.js';
import { PROTO_UDP } from './ipv4.js';

export const UDP_HEADER_LENGTH = 8;

const SRC_PORT = 0;
const DST_PORT = 2;
const LENGTH = 4;
const CHECKSUM = 6;

/** Offset of the checksum in the header (csum_offset for UDP). */
export const UDP_CHECKSUM_OFFSET = CHECKSUM;

export function srcPort(b: Uint8Array, off: number): number {
  return (b[off + SRC_PORT]! << 8) | b[off + SRC_PORT + 1]!;
}

export function dstPort(b: Uint8Array, off: number): number {
  return (b[off + DST_PORT]! << 8) | b[off + DST_PORT + 1]!;
}

export function length(b: Uint8Array, off: number): number {
  return (b[off + LENGTH]! << 8) | b[off + LENGTH + 1]!;
}

export function udpChecksum(b: Uint8Array, off: number): number {
  return (b[off + CHECKSUM]! << 8) | b[off + CHECKSUM + 1]!;
}

/** Writes the whole header; the checksum is left zero ("not computed"). */
export function writeUdpHeader(b: Uint8Array, off: number, sport: number, dport: number, len: number): void {
  b[off + SRC_PORT] = sport >>> 8;
  b[off + SRC_PORT + 1] = sport & 0xff;
  b[off + DST_PORT] = dport >>> 8;
  b[off + DST_PORT + 1] = dport & 0xff;
  b[off + LENGTH] = len >>> 8;
  b[off + LENGTH + 1] = len & 0xff;
  b[off + CHECKSUM] = 0;
  b[off + CHECKSUM + 1] = 0;
}

/** Computes the checksum over the pseudo-header and the whole datagram at off. */
export function fillUdpChecksum4(b: Uint8Array, off: number, src: number, dst: number): void {
  const len = length(b, off);
  b[off + CHECKSUM] = 0;
  b[off + CHECKSUM + 1] = 0;
  const c = checksum(b, off, len, pseudoHeaderSum4(src, dst, PROTO_UDP, len)) || 0xffff;
  b[off + CHECKSUM] = c >>> 8;
  b[off + CHECKSUM + 1] = c & 0xff;
}
