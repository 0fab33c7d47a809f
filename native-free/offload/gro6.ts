// Coalescing (GRO) of decapsulated TCP/IPv6 segments into one GSO_TCPV6
// super-packet: gro.ts's coalescer for the other IP version, reached through
// groAdd / groFinish (which hand IPv6 packets here) and sharing their state.
//
// A segment joins the held super-packet when, as the kernel's
// ipv6_gro_receive and tcp_gro_receive ask:
//   IPv6: fixed header followed by TCP (no extension header, ipv6.ts), same
//         version, traffic class and flow label (the first four bytes), same
//         hop limit, source and destination; IPv6 has no ID and no DF;
//   TCP:  gro.ts's rules, unchanged (ports, seq, ack, window, options,
//         flags, sizes, its checksum verifying or partial - over the IPv6
//         pseudo-header, RFC 8200 §8.1).
// An IPv4 super-packet held is never joined (its first byte is not 0x6_),
// nor an IPv6 one by an IPv4 segment (gro.ts compares that byte too).
//
// groFinish6 writes the virtio_net_hdr (NEEDS_CSUM, GSO_TCPV6, csum_start 40),
// the IPv6 payload length, the accumulated PSH, and in the TCP checksum field
// the pseudo-header partial sum for the whole TCP length, as
// __tcp_v6_send_check leaves it for CHECKSUM_PARTIAL. A single held segment
// is written unchanged behind a zero header, or with NEEDS_CSUM (no GSO) if
// its checksum was partial.

import { fold, pseudoHeaderSum6, sum16 } from '../checksum.js';
import { PROTO_TCP } from '../header/ipv4.js';
import { IPV6_HEADER_LEN, IPV6_OK, ipv6NextHeader, ipv6PayloadLength, setIpv6PayloadLength, validateIpv6 } from '../header/ipv6.js';
import { copyBytes, moveSum, sameBytes } from './copy-sum.js';
import {
  GRO_FLUSH,
  GRO_HELD,
  GRO_PASS,
  GRO_PASS_BAD_CHECKSUM,
  GRO_PASS_FLAGS,
  GRO_PASS_IPV6_EXTENSION,
  GRO_PASS_NOT_IPV4,
  GRO_PASS_NOT_TCP,
  GRO_PASS_NO_PAYLOAD,
  GRO_PASS_TOO_BIG,
  MERGEABLE_FLAGS,
} from './gro-answers.js';
import type { GroState } from './gro.js';
import { isIpv6ExtensionHeader } from './ipv6.js';
import {
  TCP_ACK,
  TCP_CHECKSUM_OFFSET,
  TCP_MIN_HEADER_LENGTH,
  TCP_PSH,
  setTcpChecksum,
  setTcpFlags,
  tcpAck,
  tcpChecksum,
  tcpFlags,
  tcpHeaderLength,
  tcpPorts,
  tcpSeq,
  tcpWindow,
} from './tcp.js';
import { VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE, VIRTIO_NET_HDR_GSO_TCPV6, VIRTIO_NET_HDR_LEN, clearVirtioNetHdr, writeVirtioNetHdr } from './virtio-net-hdr.js';

const HOP_LIMIT = 7;
const ADDRS = 8;

function pass(g: GroState, reason: number): number {
  g.passReason = reason;
  return GRO_PASS;
}

/** groAdd for the IPv6 packet b[off, off+len) (off and len already checked against b by groAdd). */
export function groAdd6(g: GroState, b: Uint8Array, off: number, len: number): number {
  if (validateIpv6(b, off, len) !== IPV6_OK) return pass(g, GRO_PASS_NOT_IPV4);
  const nh = ipv6NextHeader(b, off);
  if (nh !== PROTO_TCP) return pass(g, isIpv6ExtensionHeader(nh) ? GRO_PASS_IPV6_EXTENSION : GRO_PASS_NOT_TCP);
  const tcpLen = ipv6PayloadLength(b, off);
  const t = off + IPV6_HEADER_LEN;
  if (tcpLen < TCP_MIN_HEADER_LENGTH) return pass(g, GRO_PASS_NOT_TCP);
  const thl = tcpHeaderLength(b, t);
  if (thl < TCP_MIN_HEADER_LENGTH || thl > tcpLen) return pass(g, GRO_PASS_NOT_TCP);
  const flags = tcpFlags(b, t);
  if ((flags & ~MERGEABLE_FLAGS) !== 0 || (flags & TCP_ACK) === 0 || (b[t + 12]! & 0x0f) !== 0) return pass(g, GRO_PASS_FLAGS);
  const n = tcpLen - thl;
  if (n === 0) return pass(g, GRO_PASS_NO_PAYLOAD);
  const total = IPV6_HEADER_LEN + tcpLen;
  if (total > g.maxPacket) return pass(g, GRO_PASS_TOO_BIG);

  const o = g.out;
  const held = g.base + VIRTIO_NET_HDR_LEN;
  const pseudo = pseudoHeaderSum6(b, off + ADDRS, PROTO_TCP, tcpLen);
  // A kernel peer's CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum.
  const partial = tcpChecksum(b, t) === pseudo;
  if (g.count === 0) {
    copyBytes(b, off, o, held, IPV6_HEADER_LEN + thl);
    const s = moveSum(b, t + thl, o, held + IPV6_HEADER_LEN + thl, n, sum16(b, t, thl, pseudo));
    if (s !== 0xffff && !partial) return pass(g, GRO_PASS_BAD_CHECKSUM);
    g.partial = partial;
    g.count = 1;
    g.length = total;
    g.closed = (flags & TCP_PSH) !== 0;
    g.gsoSize = n;
    g.hdrs = IPV6_HEADER_LEN + thl;
    g.tcpHeaderLength = thl;
    g.nextSeq = (tcpSeq(b, t) + n) >>> 0;
    g.lastId = 0;
    g.flags = flags;
    return GRO_HELD;
  }

  // Same flow and in order? Compare with the held headers in place.
  const ht = held + IPV6_HEADER_LEN;
  if (
    g.closed ||
    !sameBytes(b, off, o, held, 4) || // version, traffic class, flow label
    thl !== g.tcpHeaderLength ||
    n > g.gsoSize ||
    g.length + n > g.maxPacket ||
    b[off + HOP_LIMIT] !== o[held + HOP_LIMIT] ||
    o[held + 6] !== PROTO_TCP ||
    !sameBytes(b, off + ADDRS, o, held + ADDRS, 32) ||
    tcpPorts(b, t) !== tcpPorts(o, ht) ||
    tcpSeq(b, t) !== g.nextSeq ||
    tcpAck(b, t) !== tcpAck(o, ht) ||
    tcpWindow(b, t) !== tcpWindow(o, ht) ||
    (flags & ~TCP_PSH) !== (g.flags & ~TCP_PSH) ||
    !sameBytes(b, t + TCP_MIN_HEADER_LENGTH, o, ht + TCP_MIN_HEADER_LENGTH, thl - TCP_MIN_HEADER_LENGTH)
  ) {
    return GRO_FLUSH;
  }
  const s = moveSum(b, t + thl, o, held + g.length, n, sum16(b, t, thl, pseudo));
  if (s !== 0xffff && !partial) return pass(g, GRO_PASS_BAD_CHECKSUM);
  g.count++;
  g.length += n;
  g.nextSeq = (g.nextSeq + n) >>> 0;
  g.flags |= flags & TCP_PSH;
  if ((flags & TCP_PSH) !== 0 || n < g.gsoSize) g.closed = true;
  return GRO_HELD;
}

/** groFinish for a held IPv6 super-packet (g.count > 0). */
export function groFinish6(g: GroState): number {
  const o = g.out;
  const p = g.base + VIRTIO_NET_HDR_LEN;
  const n = VIRTIO_NET_HDR_LEN + g.length;
  if (g.count === 1) {
    if (g.partial) writeVirtioNetHdr(o, g.base, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE, g.hdrs, 0, IPV6_HEADER_LEN, TCP_CHECKSUM_OFFSET);
    else clearVirtioNetHdr(o, g.base);
  } else {
    const t = p + IPV6_HEADER_LEN;
    const tcpLen = g.length - IPV6_HEADER_LEN;
    setIpv6PayloadLength(o, p, tcpLen);
    setTcpFlags(o, t, g.flags);
    setTcpChecksum(o, t, fold(pseudoHeaderSum6(o, p + ADDRS, PROTO_TCP, tcpLen)));
    writeVirtioNetHdr(o, g.base, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV6, g.hdrs, g.gsoSize, IPV6_HEADER_LEN, TCP_CHECKSUM_OFFSET);
    g.superPackets++;
    g.segmentsMerged += g.count;
  }
  g.count = 0;
  g.length = 0;
  g.closed = false;
  return n;
}
