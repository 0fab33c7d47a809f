// Segmentation of a UDP/IPv4 super-packet (VIRTIO_NET_HDR_GSO_UDP_L4, what
// TUNSETOFFLOAD(TUN_F_USO4|TUN_F_USO6) lets the kernel hand us when a pod
// sends with UDP_SEGMENT, as QUIC stacks do) into gso_size datagrams, laid
// out in the slab as tso.ts lays TCP segments.
//
// Per datagram, as the kernel's __udp_gso_segment / inet_gso_segment do:
//   IPv4: total length, id = original id + i (mod 2^16), header checksum;
//   UDP:  ports copied, length = 8 + payload, full checksum (0 is sent as
//         0xffff: 0 would read "no checksum"); the super-packet's checksum
//         field holds only the pseudo-header sum and is ignored.
// Every datagram but the last carries exactly gso_size bytes.
// Nothing is allocated per call; malformed input gives a reason, never a throw.

import { sum16 } from '../checksum.js';
import {
  IPV4_OK,
  PROTO_UDP,
  fillHeaderChecksum,
  headerLength,
  id,
  isFragment,
  protocol,
  pseudoHeaderSumOf,
  setId,
  setTotalLength,
  totalLength,
  validateIpv4,
} from '../header/ipv4.js';
import { UDP_HEADER_LENGTH } from '../header/udp.js';
import { copyBytes, copySum16 } from './copy-sum.js';
import {
  OFFLOAD_BAD_IP,
  OFFLOAD_BAD_UDP,
  OFFLOAD_NOT_UDP,
  OFFLOAD_OK,
  OFFLOAD_SEGMENT_TOO_BIG,
  OFFLOAD_TOO_MANY_SEGMENTS,
} from './reasons.js';
import type { OffloadResult, TsoSlab } from './tso.js';

const UDP_LENGTH = 4;
const UDP_CHECKSUM = 6;

/**
 * Cuts the UDP/IPv4 packet b[p, p+plen) into datagrams of at most
 * `gsoSize` payload bytes, written into `slab` (which may share b's array,
 * as in segmentTcp4). Returns OFFLOAD_OK with r filled, or a reason.
 */
export function segmentUdp4(b: Uint8Array, p: number, plen: number, gsoSize: number, slab: TsoSlab, r: OffloadResult): number {
  if (gsoSize < 1) return OFFLOAD_TOO_MANY_SEGMENTS;
  if (validateIpv4(b, p, plen) !== IPV4_OK || isFragment(b, p)) return OFFLOAD_BAD_IP;
  if (protocol(b, p) !== PROTO_UDP) return OFFLOAD_NOT_UDP;
  const ihl = headerLength(b, p);
  const total = totalLength(b, p);
  const u = p + ihl;
  const udpLen = total - ihl;
  if (udpLen < UDP_HEADER_LENGTH || ((b[u + UDP_LENGTH]! << 8) | b[u + UDP_LENGTH + 1]!) !== udpLen) return OFFLOAD_BAD_UDP;
  const hdrs = ihl + UDP_HEADER_LENGTH;
  const payload = udpLen - UDP_HEADER_LENGTH;
  const count = payload === 0 ? 1 : Math.ceil(payload / gsoSize);
  if (count > slab.capacity || count > r.offsets.length) return OFFLOAD_TOO_MANY_SEGMENTS;
  const first = payload < gsoSize ? payload : gsoSize;
  if (slab.headroom + hdrs + first > slab.stride || slab.offset + count * slab.stride > slab.b.length) return OFFLOAD_SEGMENT_TOO_BIG;

  const out = slab.b;
  const id0 = id(b, p);
  const pseudo = pseudoHeaderSumOf(b, p, PROTO_UDP, 0);
  // The ports, summed once: the other UDP header words change per datagram.
  const ports = ((b[u]! << 8) | b[u + 1]!) + ((b[u + 2]! << 8) | b[u + 3]!);
  const sameArray = out === b;
  let src = p + hdrs;
  let left = payload;
  for (let i = 0; i < count; i++) {
    const n = left < gsoSize ? left : gsoSize;
    const o = slab.offset + i * slab.stride + slab.headroom;
    const ou = o + ihl;
    const len = UDP_HEADER_LENGTH + n;
    copyBytes(b, p, out, o, hdrs);
    setTotalLength(out, o, ihl + len);
    setId(out, o, (id0 + i) & 0xffff);
    fillHeaderChecksum(out, o);
    out[ou + UDP_LENGTH] = len >>> 8;
    out[ou + UDP_LENGTH + 1] = len & 0xff;
    // Pseudo-header (with its length), ports, the length word again (UDP header), payload.
    const h = pseudo + len + ports + len;
    let s: number;
    if (sameArray) {
      out.copyWithin(ou + UDP_HEADER_LENGTH, src, src + n);
      s = sum16(out, ou + UDP_HEADER_LENGTH, n, h);
    } else {
      s = copySum16(b, src, out, ou + UDP_HEADER_LENGTH, n, h);
    }
    let c = ~s & 0xffff;
    if (c === 0) c = 0xffff;
    out[ou + UDP_CHECKSUM] = c >>> 8;
    out[ou + UDP_CHECKSUM + 1] = c & 0xff;
    r.offsets[i] = o;
    r.lengths[i] = ihl + len;
    src += n;
    left -= n;
  }
  return segmented(r, out, count);
}

/** Marks r as holding `count` segments cut into `out` (by tso.ts or here); OFFLOAD_OK. */
export function segmented(r: OffloadResult, out: Uint8Array, count: number): number {
  r.buf = out;
  r.inPlace = false;
  r.count = count;
  return OFFLOAD_OK;
}
