// Segmentation of a TCP/IPv6 super-packet (VIRTIO_NET_HDR_GSO_TCPV6, what
// TUNSETOFFLOAD(TUN_F_TSO6) lets the kernel hand us) into gso_size segments,
// laid out in the slab as tso.ts lays TCP/IPv4 ones:
//
//   slab.offset + i*stride
//   | headroom ........ | IPv6 (40) | TCP | payload[i*mss, (i+1)*mss) | (unused) |
//                       ^ r.offsets[i], r.lengths[i] bytes
//
// Per segment, as the kernel's tcp6_gso_segment / ipv6_gso_segment do:
//   IPv6: payload length = TCP header + payload; traffic class, flow label,
//         hop limit and addresses copied (there is no ID and no header
//         checksum);
//   TCP:  seq = original seq + i*mss, CWR only on the first segment, FIN and
//         PSH only on the last, ack, window, options copied, full checksum
//         over the IPv6 pseudo-header (RFC 8200 §8.1; the super-packet's
//         field holds only the pseudo-header sum and is ignored).
// Only a fixed header followed by TCP is cut (ipv6.ts says why).
// Nothing is allocated per call; malformed input gives a reason, never a throw.

import { pseudoHeaderSum6, sum16 } from '../checksum.js';
import { IPV6_HEADER_LEN, ipv6PayloadLength, setIpv6PayloadLength } from '../header/ipv6.js';
import { PROTO_TCP } from '../header/ipv4.js';
import { copyBytes, copySum16 } from './copy-sum.js';
import { validateOffloadIpv6 } from './ipv6.js';
import { OFFLOAD_BAD_TCP, OFFLOAD_NOT_TCP, OFFLOAD_OK, OFFLOAD_SEGMENT_TOO_BIG, OFFLOAD_TOO_MANY_SEGMENTS } from './reasons.js';
import { TCP_CWR, TCP_FIN, TCP_MIN_HEADER_LENGTH, TCP_PSH, setTcpChecksum, setTcpFlags, setTcpSeq, tcpFlags, tcpHeaderLength, tcpSeq } from './tcp.js';
import type { OffloadResult, TsoSlab } from './tso.js';
import { segmented } from './uso.js';

const ADDRS = 8;

/**
 * Segments the TCP/IPv6 packet b[p, p+plen) into segments of at most `mss`
 * payload bytes, written into `slab` (which may share b's array, as in
 * segmentTcp4). Returns OFFLOAD_OK with r filled, or a reason.
 */
export function segmentTcp6(b: Uint8Array, p: number, plen: number, mss: number, slab: TsoSlab, r: OffloadResult): number {
  if (mss < 1) return OFFLOAD_TOO_MANY_SEGMENTS;
  const v = validateOffloadIpv6(b, p, plen, PROTO_TCP, OFFLOAD_NOT_TCP);
  if (v !== OFFLOAD_OK) return v;
  const t = p + IPV6_HEADER_LEN;
  const tcpLen = ipv6PayloadLength(b, p);
  if (tcpLen < TCP_MIN_HEADER_LENGTH) return OFFLOAD_BAD_TCP;
  const thl = tcpHeaderLength(b, t);
  if (thl < TCP_MIN_HEADER_LENGTH || thl > tcpLen) return OFFLOAD_BAD_TCP;
  const hdrs = IPV6_HEADER_LEN + thl;
  const payload = tcpLen - thl;
  const count = payload === 0 ? 1 : Math.ceil(payload / mss);
  if (count > slab.capacity || count > r.offsets.length) return OFFLOAD_TOO_MANY_SEGMENTS;
  const first = payload < mss ? payload : mss;
  if (slab.headroom + hdrs + first > slab.stride || slab.offset + count * slab.stride > slab.b.length) return OFFLOAD_SEGMENT_TOO_BIG;

  const out = slab.b;
  const seq0 = tcpSeq(b, t);
  const flags0 = tcpFlags(b, t);
  // Pseudo-header without the length: addresses and next header.
  const pseudo = pseudoHeaderSum6(b, p + ADDRS, PROTO_TCP, 0);
  const last = count - 1;
  const sameArray = out === b;
  let src = p + hdrs;
  let left = payload;
  for (let i = 0; i < count; i++) {
    const n = left < mss ? left : mss;
    const o = slab.offset + i * slab.stride + slab.headroom;
    const ot = o + IPV6_HEADER_LEN;
    copyBytes(b, p, out, o, hdrs);
    setIpv6PayloadLength(out, o, thl + n);
    setTcpSeq(out, ot, (seq0 + i * mss) >>> 0);
    let f = flags0;
    if (i > 0) f &= ~TCP_CWR;
    if (i < last) f &= ~(TCP_FIN | TCP_PSH);
    setTcpFlags(out, ot, f);
    setTcpChecksum(out, ot, 0);
    const h = sum16(out, ot, thl, pseudo + thl + n);
    let s: number;
    if (sameArray) {
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
