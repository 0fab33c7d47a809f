// Coalescing of decapsulated UDP/IPv6 datagrams of one flow into one
// GSO_UDP_L4 super-packet: gro-udp.ts's coalescer for the other IP version,
// reached through udpGroAdd / udpGroFinish and sharing their state.
//
// A datagram joins the held super-packet when:
//   IPv6: fixed header followed by UDP (no extension header, ipv6.ts), same
//         version, traffic class and flow label, hop limit, source and
//         destination (ipv6_gro_receive's rules; no ID, no DF in IPv6);
//   UDP:  gro-udp.ts's rules (ports, gso_size, at most 64, 64 KB), and its
//         checksum over the IPv6 pseudo-header verifies or is partial. A zero
//         checksum is not "none" over IPv6 but invalid (RFC 8200 §8.1): such
//         a datagram passes (GRO_PASS_NO_CHECKSUM) and is written alone, for
//         the receiving kernel to judge, instead of being given a real
//         checksum by the kernel's segmentation.
// Neither version joins the other's super-packet.
//
// udpGroFinish6 writes the virtio_net_hdr (NEEDS_CSUM, GSO_UDP_L4,
// csum_start 40), the IPv6 payload length, the UDP length, and in the UDP
// checksum field the pseudo-header partial sum for the whole UDP length.

import { pseudoHeaderSum6, sum16 } from '../checksum.js';
import { PROTO_UDP } from '../header/ipv4.js';
import { IPV6_HEADER_LEN, IPV6_OK, ipv6NextHeader, ipv6PayloadLength, setIpv6PayloadLength, validateIpv6 } from '../header/ipv6.js';
import { UDP_HEADER_LENGTH } from '../header/udp.js';
import { copyBytes, moveSum, sameBytes } from './copy-sum.js';
import {
  GRO_FLUSH,
  GRO_HELD,
  GRO_PASS,
  GRO_PASS_BAD_CHECKSUM,
  GRO_PASS_IPV6_EXTENSION,
  GRO_PASS_NOT_IPV4,
  GRO_PASS_NOT_UDP,
  GRO_PASS_NO_CHECKSUM,
  GRO_PASS_NO_PAYLOAD,
  GRO_PASS_TOO_BIG,
  UDP_GRO_MAX_SEGMENTS,
} from './gro-answers.js';
import type { UdpGroState } from './gro-udp.js';
import { isIpv6ExtensionHeader } from './ipv6.js';
import { VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE, VIRTIO_NET_HDR_GSO_UDP_L4, VIRTIO_NET_HDR_LEN, clearVirtioNetHdr, writeVirtioNetHdr } from './virtio-net-hdr.js';

const HOP_LIMIT = 7;
const ADDRS = 8;
const UDP_LENGTH = 4;
const UDP_CHECKSUM = 6;
const HDRS = IPV6_HEADER_LEN + UDP_HEADER_LENGTH;

function pass(g: UdpGroState, reason: number): number {
  g.passReason = reason;
  return GRO_PASS;
}

/** udpGroAdd for the IPv6 packet b[off, off+len) (off and len already checked against b). */
export function udpGroAdd6(g: UdpGroState, b: Uint8Array, off: number, len: number): number {
  if (validateIpv6(b, off, len) !== IPV6_OK) return pass(g, GRO_PASS_NOT_IPV4);
  const nh = ipv6NextHeader(b, off);
  if (nh !== PROTO_UDP) return pass(g, isIpv6ExtensionHeader(nh) ? GRO_PASS_IPV6_EXTENSION : GRO_PASS_NOT_UDP);
  const udpLen = ipv6PayloadLength(b, off);
  const u = off + IPV6_HEADER_LEN;
  if (udpLen < UDP_HEADER_LENGTH || ((b[u + UDP_LENGTH]! << 8) | b[u + UDP_LENGTH + 1]!) !== udpLen) return pass(g, GRO_PASS_NOT_UDP);
  const n = udpLen - UDP_HEADER_LENGTH;
  if (n === 0) return pass(g, GRO_PASS_NO_PAYLOAD);
  const total = IPV6_HEADER_LEN + udpLen;
  if (total > g.maxPacket) return pass(g, GRO_PASS_TOO_BIG);
  const field = (b[u + UDP_CHECKSUM]! << 8) | b[u + UDP_CHECKSUM + 1]!;
  if (field === 0) return pass(g, GRO_PASS_NO_CHECKSUM);
  const pseudo = pseudoHeaderSum6(b, off + ADDRS, PROTO_UDP, udpLen);
  // A kernel peer's CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum.
  const partial = field === pseudo;
  const o = g.out;
  const held = g.base + VIRTIO_NET_HDR_LEN;

  if (g.count > 0) {
    const joins =
      !g.closed &&
      n <= g.gsoSize &&
      g.count < UDP_GRO_MAX_SEGMENTS &&
      g.length + n <= g.maxPacket &&
      sameBytes(b, off, o, held, 4) && // version, traffic class, flow label
      b[off + HOP_LIMIT] === o[held + HOP_LIMIT] &&
      o[held + 6] === PROTO_UDP &&
      sameBytes(b, off + ADDRS, o, held + ADDRS, 32) &&
      sameBytes(b, u, o, held + IPV6_HEADER_LEN, 4); // ports
    if (!joins) return GRO_FLUSH;
  }
  const at = g.count === 0 ? held + HDRS : held + g.length;
  const s = moveSum(b, u + UDP_HEADER_LENGTH, o, at, n, sum16(b, u, UDP_HEADER_LENGTH, pseudo));
  if (s !== 0xffff && !partial) return pass(g, GRO_PASS_BAD_CHECKSUM);
  if (g.count === 0) {
    copyBytes(b, off, o, held, HDRS);
    g.partial = partial;
    g.length = total;
    g.gsoSize = n;
    g.closed = false;
  } else {
    g.length += n;
    if (n < g.gsoSize) g.closed = true;
  }
  g.count++;
  g.lastId = 0;
  return GRO_HELD;
}

/** udpGroFinish for a held IPv6 super-packet (g.count > 0). */
export function udpGroFinish6(g: UdpGroState): number {
  const o = g.out;
  const p = g.base + VIRTIO_NET_HDR_LEN;
  const n = VIRTIO_NET_HDR_LEN + g.length;
  if (g.count === 1) {
    if (g.partial) writeVirtioNetHdr(o, g.base, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE, HDRS, 0, IPV6_HEADER_LEN, UDP_CHECKSUM);
    else clearVirtioNetHdr(o, g.base);
  } else {
    const u = p + IPV6_HEADER_LEN;
    const udpLen = g.length - IPV6_HEADER_LEN;
    setIpv6PayloadLength(o, p, udpLen);
    o[u + UDP_LENGTH] = udpLen >>> 8;
    o[u + UDP_LENGTH + 1] = udpLen & 0xff;
    const partial = pseudoHeaderSum6(o, p + ADDRS, PROTO_UDP, udpLen);
    o[u + UDP_CHECKSUM] = partial >>> 8;
    o[u + UDP_CHECKSUM + 1] = partial & 0xff;
    writeVirtioNetHdr(o, g.base, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_UDP_L4, HDRS, g.gsoSize, IPV6_HEADER_LEN, UDP_CHECKSUM);
    g.superPackets++;
    g.segmentsMerged += g.count;
  }
  g.count = 0;
  g.length = 0;
  g.closed = false;
  return n;
}
