// The TCP header fields segmentation and coalescing touch (RFC 9293 §3.1).
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |          Source Port          |       Destination Port        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                        Sequence Number                        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                    Acknowledgment Number                      |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |  Data |       |C|E|U|A|P|R|S|F|                               |
//   | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//   |       |       |R|E|G|K|H|T|N|N|                               |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |           Checksum            |         Urgent Pointer        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                           [Options]                           |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// (There is no header/tcp.ts yet; this one lives with its only users.)

export const TCP_MIN_HEADER_LENGTH = 20;
export const TCP_MAX_HEADER_LENGTH = 60;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

const SRC_PORT = 0;
const DST_PORT = 2;
const SEQ = 4;
const ACK = 8;
const DATA_OFFSET = 12;
const FLAGS = 13;
const WINDOW = 14;
const CHECKSUM = 16;

/** Offset of the checksum in the header (csum_offset). */
export const TCP_CHECKSUM_OFFSET = CHECKSUM;

function u32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

export function tcpSrcPort(b: Uint8Array, off: number): number {
  return (b[off + SRC_PORT]! << 8) | b[off + SRC_PORT + 1]!;
}

export function tcpDstPort(b: Uint8Array, off: number): number {
  return (b[off + DST_PORT]! << 8) | b[off + DST_PORT + 1]!;
}

/** Both ports as one number (source high), for comparing flows. */
export function tcpPorts(b: Uint8Array, off: number): number {
  return u32(b, off + SRC_PORT);
}

export function tcpSeq(b: Uint8Array, off: number): number {
  return u32(b, off + SEQ);
}

export function tcpAck(b: Uint8Array, off: number): number {
  return u32(b, off + ACK);
}

/** Header length in bytes (data offset × 4). */
export function tcpHeaderLength(b: Uint8Array, off: number): number {
  return (b[off + DATA_OFFSET]! >>> 4) << 2;
}

/** The eight flag bits CWR..FIN (the AE / reserved bits of byte 12 are not included). */
export function tcpFlags(b: Uint8Array, off: number): number {
  return b[off + FLAGS]!;
}

export function tcpWindow(b: Uint8Array, off: number): number {
  return (b[off + WINDOW]! << 8) | b[off + WINDOW + 1]!;
}

export function tcpChecksum(b: Uint8Array, off: number): number {
  return (b[off + CHECKSUM]! << 8) | b[off + CHECKSUM + 1]!;
}

export function setTcpSeq(b: Uint8Array, off: number, v: number): void {
  b[off + SEQ] = v >>> 24;
  b[off + SEQ + 1] = (v >>> 16) & 0xff;
  b[off + SEQ + 2] = (v >>> 8) & 0xff;
  b[off + SEQ + 3] = v & 0xff;
}

export function setTcpFlags(b: Uint8Array, off: number, v: number): void {
  b[off + FLAGS] = v;
}

export function setTcpChecksum(b: Uint8Array, off: number, v: number): void {
  b[off + CHECKSUM] = v >>> 8;
  b[off + CHECKSUM + 1] = v & 0xff;
}
