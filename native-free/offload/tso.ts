// From a TUN read to packets for the tunnel: segmentation of a TCP/IPv4
// super-packet (VIRTIO_NET_HDR_GSO_TCPV4, what TUNSETOFFLOAD(TUN_F_TSO4) lets
// the kernel hand us) into gso_size segments, and completion of a partial
// checksum (NEEDS_CSUM without GSO, what TUN_F_CSUM lets it hand us, IPv4 or
// IPv6 alike: the field holds the pseudo-header sum of either). TCP/IPv6
// (GSO_TCPV6) is cut by tso6.ts, UDP by uso.ts (IPv4) and uso6.ts (IPv6).
//
// Segments are written into a caller's slab, one per `stride` bytes, each
// `headroom` bytes into its slot so encapsulation can prepend its headers in
// place:
//
//   slab.offset + i*stride
//   | headroom ........ | IPv4 | TCP | payload[i*mss, (i+1)*mss) | (unused) |
//                       ^ r.offsets[i], r.lengths[i] bytes
//
// Per segment, as the kernel's tcp_gso_segment / inet_gso_segment do:
//   IPv4: total length, id = original id + i (mod 2^16), header checksum;
//   TCP:  seq = original seq + i*mss, CWR only on the first segment, FIN and
//         PSH only on the last, other flags, ack, window, options copied,
//         full checksum (the super-packet's field holds only the
//         pseudo-header sum and is ignored).
// Nothing is allocated per call; malformed input gives a reason, never a throw.

import { sum16 } from '../checksum.js';
import {
  fillHeaderChecksum,
  headerLength,
  id,
  isFragment,
  protocol,
  pseudoHeaderSumOf,
  PROTO_TCP,
  setId,
  setTotalLength,
  totalLength,
  validateIpv4,
  IPV4_MIN_HEADER_LENGTH,
  IPV4_OK,
} from '../header/ipv4.js';
import { copyBytes, copySum16 } from './copy-sum.js';
import { UDP_HEADER_LENGTH } from '../header/udp.js';
import { segmentUdp4, segmented } from './uso.js';
import { segmentUdp6 } from './uso6.js';
import { segmentTcp6 } from './tso6.js';
import { IPV6_HEADER_LEN } from '../header/ipv6.js';
import {
  OFFLOAD_BAD_IP,
  OFFLOAD_BAD_TCP,
  OFFLOAD_NOT_TCP,
  OFFLOAD_OK,
  OFFLOAD_SEGMENT_TOO_BIG,
  OFFLOAD_TOO_MANY_SEGMENTS,
  OFFLOAD_UNSUPPORTED_GSO,
} from './reasons.js';
import {
  TCP_CWR,
  TCP_FIN,
  TCP_MIN_HEADER_LENGTH,
  TCP_PSH,
  setTcpChecksum,
  setTcpFlags,
  setTcpSeq,
  tcpFlags,
  tcpHeaderLength,
  tcpSeq,
} from './tcp.js';
import {
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_ECN,
  VIRTIO_NET_HDR_GSO_NONE,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  VIRTIO_NET_HDR_GSO_UDP_L4,
  VIRTIO_NET_HDR_LEN,
  validateVirtioNetHdr,
  vnetCsumOffset,
  vnetCsumStart,
  vnetFlags,
  vnetGsoSize,
  vnetGsoType,
} from './virtio-net-hdr.js';

/** Largest IPv4 packet (total length is 16 bits); IPv6 super-packets are held to it too. */
export const MAX_SUPER_PACKET = 65535;

/** Where segments go: slots of `stride` bytes from `offset`, each used from `headroom` on. */
export interface TsoSlab {
  readonly b: Uint8Array;
  /** Where slot 0 starts, the stride and the slot count may change between calls (packedStride). */
  offset: number;
  stride: number;
  readonly headroom: number;
  /** Number of slots. */
  capacity: number;
}

/**
 * The packets a TUN read turned into, reused from call to call. The packets
 * are in `buf`: the slab when segmented, the read itself when the packet was
 * used in place (no GSO).
 */
export interface OffloadResult {
  buf: Uint8Array;
  count: number;
  /** True when buf is the caller's read (packet in place, behind the virtio_net_hdr). */
  inPlace: boolean;
  readonly offsets: Int32Array;
  readonly lengths: Int32Array;
}

/** A slab of `capacity` slots; stride defaults to headroom + mtu rounded up to 64. */
export function createTsoSlab(capacity: number, mtu: number, headroom: number, stride = (headroom + mtu + 63) & ~63): TsoSlab {
  if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`slab capacity must be a positive integer, got ${capacity}`);
  if (!Number.isInteger(stride) || stride < headroom + 40) throw new RangeError(`slab stride ${stride} leaves no room after ${headroom} bytes of headroom`);
  return { b: new Uint8Array(capacity * stride), offset: 0, stride, headroom, capacity };
}

export function createOffloadResult(capacity: number): OffloadResult {
  return { buf: new Uint8Array(0), count: 0, inPlace: false, offsets: new Int32Array(capacity), lengths: new Int32Array(capacity) };
}

/**
 * The stride that packs the segments of the TCP or UDP super-packet behind the
 * virtio_net_hdr at b[off, off+len) back to back: per slot `headroom` bytes
 * (the encapsulation headers), the IPv4 and TCP (or UDP) headers, gso_size bytes of
 * payload. Every segment but the last then fills its slot exactly, the layout
 * one UDP_SEGMENT send of equal-sized datagrams needs. 0 when the headers
 * cannot be read; tunReadToPackets then names what is wrong.
 */
export function packedStride(b: Uint8Array, off: number, len: number, headroom: number): number {
  const p = off + VIRTIO_NET_HDR_LEN;
  if (off < 0 || off + len > b.length || len < VIRTIO_NET_HDR_LEN + 40) return 0;
  if (b[p]! >>> 4 === 6) return packedStride6(b, off, len, headroom);
  const ihl = headerLength(b, p);
  if (ihl < IPV4_MIN_HEADER_LENGTH) return 0;
  if ((vnetGsoType(b, off) & ~VIRTIO_NET_HDR_GSO_ECN) === VIRTIO_NET_HDR_GSO_UDP_L4) return headroom + ihl + UDP_HEADER_LENGTH + vnetGsoSize(b, off);
  if (VIRTIO_NET_HDR_LEN + ihl + TCP_MIN_HEADER_LENGTH > len) return 0;
  const thl = tcpHeaderLength(b, p + ihl);
  return headroom + ihl + thl + vnetGsoSize(b, off);
}

/** packedStride for an IPv6 super-packet: the fixed header is 40 bytes (tso6.ts, uso6.ts cut nothing else). */
function packedStride6(b: Uint8Array, off: number, len: number, headroom: number): number {
  const gso = vnetGsoSize(b, off);
  if ((vnetGsoType(b, off) & ~VIRTIO_NET_HDR_GSO_ECN) === VIRTIO_NET_HDR_GSO_UDP_L4) return headroom + IPV6_HEADER_LEN + UDP_HEADER_LENGTH + gso;
  if (VIRTIO_NET_HDR_LEN + IPV6_HEADER_LEN + TCP_MIN_HEADER_LENGTH > len) return 0;
  return headroom + IPV6_HEADER_LEN + tcpHeaderLength(b, off + VIRTIO_NET_HDR_LEN + IPV6_HEADER_LEN) + gso;
}

/**
 * Completes the checksum of a NEEDS_CSUM packet in place: sums
 * p[start, end) (the field holds the pseudo-header sum already) and stores
 * the complement at start + csumOffset; a zero result is stored as 0xffff,
 * as the kernel does (UDP would otherwise read "no checksum").
 */
export function completeChecksum(b: Uint8Array, start: number, end: number, csumOffset: number): void {
  let c = ~sum16(b, start, end - start) & 0xffff;
  if (c === 0) c = 0xffff;
  const at = start + csumOffset;
  b[at] = c >>> 8;
  b[at + 1] = c & 0xff;
}

/**
 * Turns a TUN read b[off, off+len) — virtio_net_hdr then IP packet — into
 * ready packets in r. GSO_NONE: the packet stays in place (checksum
 * completed if NEEDS_CSUM), r.count 1. GSO_TCPV4, GSO_TCPV6 (tso6.ts) and
 * GSO_UDP_L4 (uso.ts, uso6.ts; by the IP version): segmented into `slab`.
 * Returns OFFLOAD_OK or a reason; r is only meaningful on OFFLOAD_OK.
 */
export function tunReadToPackets(b: Uint8Array, off: number, len: number, slab: TsoSlab, r: OffloadResult): number {
  const v = validateVirtioNetHdr(b, off, len);
  if (v !== OFFLOAD_OK) return v;
  const p = off + VIRTIO_NET_HDR_LEN;
  const plen = len - VIRTIO_NET_HDR_LEN;
  const gso = vnetGsoType(b, off) & ~VIRTIO_NET_HDR_GSO_ECN;
  if (gso === VIRTIO_NET_HDR_GSO_NONE) {
    if ((vnetFlags(b, off) & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0) {
      completeChecksum(b, p + vnetCsumStart(b, off), p + plen, vnetCsumOffset(b, off));
    }
    if (r.offsets.length < 1) return OFFLOAD_TOO_MANY_SEGMENTS;
    r.buf = b;
    r.inPlace = true;
    r.count = 1;
    r.offsets[0] = p;
    r.lengths[0] = plen;
    return OFFLOAD_OK;
  }
  if (gso === VIRTIO_NET_HDR_GSO_TCPV4) return segmentTcp4(b, p, plen, vnetGsoSize(b, off), slab, r);
  if (gso === VIRTIO_NET_HDR_GSO_UDP_L4) {
    // One gso_type for both versions (the kernel's SKB_GSO_UDP_L4): the header says which.
    if (b[p]! >>> 4 === 6) return segmentUdp6(b, p, plen, vnetGsoSize(b, off), slab, r);
    return segmentUdp4(b, p, plen, vnetGsoSize(b, off), slab, r);
  }
  if (gso === VIRTIO_NET_HDR_GSO_TCPV6) return segmentTcp6(b, p, plen, vnetGsoSize(b, off), slab, r);
  return OFFLOAD_UNSUPPORTED_GSO;
}

/**
 * Segments the TCP/IPv4 packet b[p, p+plen) into segments of at most `mss`
 * payload bytes, written into `slab`. The slots used must not overlap the
 * input; the input may be in the same array (a TUN read into a spare slot
 * of the slab), which lets the payload be copied natively (copyWithin).
 * Returns OFFLOAD_OK with r filled, or a reason.
 */
export function segmentTcp4(b: Uint8Array, p: number, plen: number, mss: number, slab: TsoSlab, r: OffloadResult): number {
  if (mss < 1) return OFFLOAD_TOO_MANY_SEGMENTS;
  if (validateIpv4(b, p, plen) !== IPV4_OK || isFragment(b, p)) return OFFLOAD_BAD_IP;
  if (protocol(b, p) !== PROTO_TCP) return OFFLOAD_NOT_TCP;
  const ihl = headerLength(b, p);
  const total = totalLength(b, p);
  const t = p + ihl;
  const tcpLen = total - ihl;
  if (tcpLen < TCP_MIN_HEADER_LENGTH) return OFFLOAD_BAD_TCP;
  const thl = tcpHeaderLength(b, t);
  if (thl < TCP_MIN_HEADER_LENGTH || thl > tcpLen) return OFFLOAD_BAD_TCP;
  const hdrs = ihl + thl;
  const payload = tcpLen - thl;
  const count = payload === 0 ? 1 : Math.ceil(payload / mss);
  if (count > slab.capacity || count > r.offsets.length) return OFFLOAD_TOO_MANY_SEGMENTS;
  const first = payload < mss ? payload : mss;
  if (slab.headroom + hdrs + first > slab.stride || slab.offset + (count - 1) * slab.stride + slab.stride > slab.b.length) {
    return OFFLOAD_SEGMENT_TOO_BIG;
  }

  const out = slab.b;
  const id0 = id(b, p);
  const seq0 = tcpSeq(b, t);
  const flags0 = tcpFlags(b, t);
  // Pseudo-header without the length: addresses and protocol, in 16-bit words.
  const pseudo = pseudoHeaderSumOf(b, p, PROTO_TCP, 0);
  const last = count - 1;
  const sameArray = out === b;
  let src = p + hdrs;
  let left = payload;
  for (let i = 0; i < count; i++) {
    const n = left < mss ? left : mss;
    const o = slab.offset + i * slab.stride + slab.headroom;
    const ot = o + ihl;
    copyBytes(b, p, out, o, hdrs);
    setTotalLength(out, o, hdrs + n);
    setId(out, o, (id0 + i) & 0xffff);
    fillHeaderChecksum(out, o);
    setTcpSeq(out, ot, (seq0 + i * mss) >>> 0);
    let f = flags0;
    if (i > 0) f &= ~TCP_CWR;
    if (i < last) f &= ~(TCP_FIN | TCP_PSH);
    setTcpFlags(out, ot, f);
    setTcpChecksum(out, ot, 0);
    const h = sum16(out, ot, thl, pseudo + thl + n);
    let s: number;
    if (sameArray) {
      // Read into the slab itself: a native copy, then the sum.
      out.copyWithin(ot + thl, src, src + n);
      s = sum16(out, ot + thl, n, h);
    } else {
      s = copySum16(b, src, out, ot + thl, n, h);
    }
    setTcpChecksum(out, ot, ~s & 0xffff);
    r.offsets[i] = o;
    r.lengths[i] = hdrs + n;
    src += n;
    left -= n;
  }
  return segmented(r, out, count);
}

