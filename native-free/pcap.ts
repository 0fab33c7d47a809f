// Classic libpcap capture format, encoder only, no I/O: the caller writes the
// chunks wherever it likes (a file, a socket, a test's temp dir).
//
// File header (24 bytes), then one record per packet:
//
//   magic_number   u32  0xa1b2c3d4 (microsecond timestamps)
//   version_major  u16  2
//   version_minor  u16  4
//   thiszone       i32  0 (GMT)
//   sigfigs        u32  0
//   snaplen        u32  65535
//   network        u32  link type (LINKTYPE_*)
//
//   ts_sec         u32  seconds since the epoch
//   ts_usec        u32  microseconds, < 1_000_000
//   incl_len       u32  bytes of the packet saved (at most snaplen)
//   orig_len       u32  length of the packet on the wire
//   packet data    incl_len bytes
//
// Readers find the byte order from the magic number; this encoder always
// writes little-endian (the layout of a capture taken on x86 or arm64), so
// the same input gives the same bytes on any host.

import { InvalidArgumentError } from './errors.js';

/** Ethernet II frames (DLT_EN10MB). */
export const LINKTYPE_ETHERNET = 1;
/** Raw IP: each packet starts with an IPv4 or IPv6 header. */
export const LINKTYPE_RAW = 101;

export const PCAP_MAGIC = 0xa1b2c3d4;
export const PCAP_VERSION_MAJOR = 2;
export const PCAP_VERSION_MINOR = 4;
export const PCAP_SNAPLEN = 65535;
/** Length of the file header. */
export const PCAP_HEADER_LEN = 24;
/** Length of a record header (before the packet bytes). */
export const PCAP_RECORD_HEADER_LEN = 16;

/** The 24-byte file header for packets of `linktype`. */
export function pcapHeader(linktype: number, snaplen: number = PCAP_SNAPLEN): Uint8Array {
  checkU32('linktype', linktype);
  checkU32('snaplen', snaplen);
  const h = new Uint8Array(PCAP_HEADER_LEN);
  le32(h, 0, PCAP_MAGIC);
  le16(h, 4, PCAP_VERSION_MAJOR);
  le16(h, 6, PCAP_VERSION_MINOR);
  le32(h, 8, 0); // thiszone
  le32(h, 12, 0); // sigfigs
  le32(h, 16, snaplen);
  le32(h, 20, linktype);
  return h;
}

/**
 * Writes the 16-byte record header for `packetLen` bytes captured at
 * `tsMicros` (microseconds since the epoch) into `out` at `off`, so a writer
 * can send header and packet without copying the packet. Returns the number
 * of packet bytes to save after it (min(packetLen, snaplen)).
 */
export function writePcapRecordHeader(
  out: Uint8Array,
  off: number,
  packetLen: number,
  tsMicros: number,
  snaplen: number = PCAP_SNAPLEN,
): number {
  if (!Number.isSafeInteger(tsMicros) || tsMicros < 0) {
    throw new InvalidArgumentError(`pcap timestamp must be a non-negative integer of microseconds, got ${tsMicros}`);
  }
  const sec = Math.floor(tsMicros / 1_000_000);
  checkU32('timestamp seconds', sec);
  checkU32('packet length', packetLen);
  const incl = Math.min(packetLen, snaplen);
  le32(out, off, sec);
  le32(out, off + 4, tsMicros - sec * 1_000_000);
  le32(out, off + 8, incl);
  le32(out, off + 12, packetLen);
  return incl;
}

/** One record: header and the packet's bytes (cut to `snaplen`), in a new array. */
export function pcapRecord(packet: Uint8Array, tsMicros: number, snaplen: number = PCAP_SNAPLEN): Uint8Array {
  const head = new Uint8Array(PCAP_RECORD_HEADER_LEN);
  const incl = writePcapRecordHeader(head, 0, packet.length, tsMicros, snaplen);
  const rec = new Uint8Array(PCAP_RECORD_HEADER_LEN + incl);
  rec.set(head, 0);
  rec.set(incl === packet.length ? packet : packet.subarray(0, incl), PCAP_RECORD_HEADER_LEN);
  return rec;
}

export interface PcapPacket {
  data: Uint8Array;
  /** Microseconds since the epoch. */
  tsMicros: number;
}

/** A whole capture file in one array: header, then one record per packet in order. */
export function pcapFile(
  linktype: number,
  packets: readonly PcapPacket[],
  snaplen: number = PCAP_SNAPLEN,
): Uint8Array {
  const chunks: Uint8Array[] = [pcapHeader(linktype, snaplen)];
  let total = PCAP_HEADER_LEN;
  for (const p of packets) {
    const rec = pcapRecord(p.data, p.tsMicros, snaplen);
    chunks.push(rec);
    total += rec.length;
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

function checkU32(what: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new InvalidArgumentError(`pcap ${what} must be an unsigned 32-bit integer, got ${v}`);
  }
}

function le16(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
}

function le32(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
  b[o + 2] = v >>> 16;
  b[o + 3] = v >>> 24;
}
