// Segmentation of a UDP/IPv6 super-packet (VIRTIO_NET_HDR_GSO_UDP_L4 over
// IPv6, what TUNSETOFFLOAD(TUN_F_USO4|TUN_F_USO6) lets the kernel hand us
// when a pod sends with UDP_SEGMENT on an IPv6 socket) into gso_size
// datagrams, laid out in the slab as uso.ts lays UDP/IPv4 ones.
//
// Per datagram, as the kernel's __udp_gso_segment / ipv6_gso_segment do:
//   IPv6: payload length = 8 + payload; traffic class, flow label, hop limit
//         and addresses copied;
//   UDP:  ports copied, length = 8 + payload, full checksum over the IPv6
//         pseudo-header (RFC 8200 §8.1). A result of 0 is sent as 0xffff:
//         over IPv6 a zero UDP checksum is not "none" but invalid (RFC 8200
//         §8.1: receivers discard it). The super-packet's field holds only the
//         pseudo-header sum and is ignored.
// Every datagram but the last carries exactly gso_size bytes. Only a fixed
// header followed by UDP is cut (ipv6.ts says why).
// Nothing is allocated per call; malformed input gives a reason, never a throw.

import { pseudoHeaderSum6, sum16 } from '../checksum.js';
import { PROTO_UDP } from '../header/ipv4.js';
import { IPV6_HEADER_LEN, ipv6PayloadLength, setIpv6PayloadLength } from '../header/ipv6.js';
import { UDP_HEADER_LENGTH } from '../header/udp.js';
import { copyBytes, copySum16 } from './copy-sum.js';
import { validateOffloadIpv6 } from './ipv6.js';
import { OFFLOAD_BAD_UDP, OFFLOAD_NOT_UDP, OFFLOAD_OK, OFFLOAD_SEGMENT_TOO_BIG, OFFLOAD_TOO_MANY_SEGMENTS } from './reasons.js';
import type { OffloadResult, TsoSlab } from './tso.js';
import { segmented } from './uso.js';

const ADDRS = 8;
const UDP_LENGTH = 4;
const UDP_CHECKSUM = 6;
const HDRS = IPV6_HEADER_LEN + UDP_HEADER_LENGTH;

/**
 * Cuts the UDP/IPv6 packet b[p, p+plen) into datagrams of at most `gsoSize`
 * payload bytes, written into `slab` (which may share b's array). Returns
 * OFFLOAD_OK with r filled, or a reason.
 */
export function segmentUdp6(b: Uint8Array, p: number, plen: number, gsoSize: number, slab: TsoSlab, r: OffloadResult): number {
  if (gsoSize < 1) return OFFLOAD_TOO_MANY_SEGMENTS;
  const v = validateOffloadIpv6(b, p, plen, PROTO_UDP, OFFLOAD_NOT_UDP);
  if (v !== OFFLOAD_OK) return v;
  const u = p + IPV6_HEADER_LEN;
  const udpLen = ipv6PayloadLength(b, p);
  if (udpLen < UDP_HEADER_LENGTH || ((b[u + UDP_LENGTH]! << 8) | b[u + UDP_LENGTH + 1]!) !== udpLen) return OFFLOAD_BAD_UDP;
  const payload = udpLen - UDP_HEADER_LENGTH;
  const count = payload === 0 ? 1 : Math.ceil(payload / gsoSize);
  if (count > slab.capacity || count > r.offsets.length) return OFFLOAD_TOO_MANY_SEGMENTS;
  const first = payload < gsoSize ? payload : gsoSize;
  if (slab.headroom + HDRS + first > slab.stride || slab.offset + count * slab.stride > slab.b.length) return OFFLOAD_SEGMENT_TOO_BIG;

  const out = slab.b;
  const pseudo = pseudoHeaderSum6(b, p + ADDRS, PROTO_UDP, 0);
  // The ports, summed once: the other UDP header words change per datagram.
  const ports = ((b[u]! << 8) | b[u + 1]!) + ((b[u + 2]! << 8) | b[u + 3]!);
  const sameArray = out === b;
  let src = p + HDRS;
  let left = payload;
  for (let i = 0; i < count; i++) {
    const n = left < gsoSize ? left : gsoSize;
    const o = slab.offset + i * slab.stride + slab.headroom;
    const ou = o + IPV6_HEADER_LEN;
    const len = UDP_HEADER_LENGTH + n;
    copyBytes(b, p, out, o, HDRS);
    setIpv6PayloadLength(out, o, len);
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
    r.lengths[i] = IPV6_HEADER_LEN + len;
    src += n;
    left -= n;
  }
  return segmented(r, out, count);
}
