// Coalescing of decapsulated UDP/IPv4 datagrams of one flow into one
// GSO_UDP_L4 super-packet for a single TUN write, the reverse of uso.ts and
// what the kernel's UDP GRO builds. The receiving socket gets them as the
// datagrams they were: the kernel cuts the super-packet again on delivery
// (or on forwarding) unless the socket asked for UDP_GRO itself.
//
// One flow is held at a time. A datagram joins the held super-packet when:
//   IPv4: header of 20 bytes, not a fragment, same source, destination, TOS,
//         TTL and DF, id = previous id + 1;
//   UDP:  same ports, payload of the first datagram's size (gso_size); a
//         smaller one joins and closes the super-packet; at most 64
//         datagrams (the kernel's UDP_MAX_SEGMENTS before 2024), never past
//         64 KB;
//   and its UDP checksum verifies or is a kernel peer's partial one (as in
//   gro.ts; a zero checksum, "none", is taken as it is: the kernel will
//   write real checksums when it cuts the super-packet). A damaged one
//   passes with GRO_PASS_BAD_CHECKSUM and is dropped by the caller.
// The calls and their answers are gro.ts's: GRO_HELD, GRO_FLUSH, GRO_PASS.
// UDP/IPv6 datagrams (gro-udp6.ts) go through the same calls and state; an
// IPv4 flow and an IPv6 one never mix.
//
// udpGroFinish writes the virtio_net_hdr (NEEDS_CSUM, GSO_UDP_L4), the IPv4
// total length and header checksum, the UDP length, and in the UDP checksum
// field the pseudo-header partial sum for the whole UDP length. A single
// held datagram is written unchanged behind a zero header, or with NEEDS_CSUM
// (no GSO) if its checksum was partial.

import { fold, sum16 } from '../checksum.js';
import {
  IPV4_MIN_HEADER_LENGTH,
  IPV4_OK,
  PROTO_UDP,
  fillHeaderChecksum,
  headerLength,
  id,
  isFragment,
  protocol,
  pseudoHeaderSumOf,
  setTotalLength,
  totalLength,
  validateIpv4,
} from '../header/ipv4.js';
import { UDP_HEADER_LENGTH } from '../header/udp.js';
import { copyBytes, moveSum, sameBytes } from './copy-sum.js';
import {
  GRO_FLUSH,
  GRO_HELD,
  GRO_PASS,
  GRO_PASS_BAD_CHECKSUM,
  GRO_PASS_FRAGMENTABLE,
  GRO_PASS_NONE,
  GRO_PASS_NOT_IPV4,
  GRO_PASS_NO_PAYLOAD,
  GRO_PASS_NOT_UDP,
  GRO_PASS_TOO_BIG,
  UDP_GRO_MAX_SEGMENTS,
} from './gro-answers.js';
import { groArea } from './gro.js';
import { udpGroAdd6, udpGroFinish6 } from './gro-udp6.js';
import { MAX_SUPER_PACKET } from './tso.js';
import { VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE, VIRTIO_NET_HDR_GSO_UDP_L4, VIRTIO_NET_HDR_LEN, clearVirtioNetHdr, writeVirtioNetHdr } from './virtio-net-hdr.js';

export { UDP_GRO_MAX_SEGMENTS };

const UDP_LENGTH = 4;
const UDP_CHECKSUM = 6;
const HDRS = IPV4_MIN_HEADER_LENGTH + UDP_HEADER_LENGTH;

export interface UdpGroState {
  /** virtio_net_hdr at `base`, the held IPv4 packet at base + VIRTIO_NET_HDR_LEN. */
  readonly out: Uint8Array;
  readonly base: number;
  readonly maxPacket: number;
  /** Datagrams held (0: nothing). */
  count: number;
  /** Bytes of the held IPv4 packet. */
  length: number;
  closed: boolean;
  gsoSize: number;
  lastId: number;
  /** The first held datagram's checksum was partial (matters when it stays alone). */
  partial: boolean;
  passReason: number;
  superPackets: number;
  segmentsMerged: number;
}

/** State for one worker; `area` as for createGroState (gro.ts). */
export function createUdpGroState(maxPacket = MAX_SUPER_PACKET, area?: { buf: Uint8Array; offset: number }): UdpGroState {
  const { out, base } = groArea(maxPacket, area);
  return { out, base, maxPacket, count: 0, length: 0, closed: false, gsoSize: 0, lastId: 0, partial: false, passReason: GRO_PASS_NONE, superPackets: 0, segmentsMerged: 0 };
}

export function udpGroPending(g: UdpGroState): boolean {
  return g.count > 0;
}

function pass(g: UdpGroState, reason: number): number {
  g.passReason = reason;
  return GRO_PASS;
}

/**
 * Offers the IPv4 (or IPv6: gro-udp6.ts) packet b[off, off+len) (bytes past
 * its total length are ignored).
 */
export function udpGroAdd(g: UdpGroState, b: Uint8Array, off: number, len: number): number {
  if (off < 0 || len > b.length - off) return pass(g, GRO_PASS_NOT_IPV4);
  if (validateIpv4(b, off, len) !== IPV4_OK) return b[off]! >>> 4 === 6 ? udpGroAdd6(g, b, off, len) : pass(g, GRO_PASS_NOT_IPV4);
  if (headerLength(b, off) !== IPV4_MIN_HEADER_LENGTH) return pass(g, GRO_PASS_NOT_IPV4);
  if (protocol(b, off) !== PROTO_UDP) return pass(g, GRO_PASS_NOT_UDP);
  if (isFragment(b, off)) return pass(g, GRO_PASS_FRAGMENTABLE);
  const total = totalLength(b, off);
  const u = off + IPV4_MIN_HEADER_LENGTH;
  const udpLen = total - IPV4_MIN_HEADER_LENGTH;
  if (udpLen < UDP_HEADER_LENGTH || ((b[u + UDP_LENGTH]! << 8) | b[u + UDP_LENGTH + 1]!) !== udpLen) return pass(g, GRO_PASS_NOT_UDP);
  const n = udpLen - UDP_HEADER_LENGTH;
  if (n === 0) return pass(g, GRO_PASS_NO_PAYLOAD);
  if (total > g.maxPacket) return pass(g, GRO_PASS_TOO_BIG);
  const field = (b[u + UDP_CHECKSUM]! << 8) | b[u + UDP_CHECKSUM + 1]!;
  const pseudo = pseudoHeaderSumOf(b, off, PROTO_UDP, udpLen);
  // A kernel peer's CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum.
  const partial = field === fold(pseudo);
  const o = g.out;
  const held = g.base + VIRTIO_NET_HDR_LEN;

  if (g.count > 0) {
    // Same flow, in order, and room left? Compare with the held headers in place.
    const joins =
      !g.closed &&
      b[off] === o[held] && // version and IHL: never onto an IPv6 super-packet
      n <= g.gsoSize &&
      g.count < UDP_GRO_MAX_SEGMENTS &&
      g.length + n <= g.maxPacket &&
      b[off + 1] === o[held + 1] && // TOS
      b[off + 8] === o[held + 8] && // TTL
      (b[off + 6]! & 0x40) === (o[held + 6]! & 0x40) && // DF
      id(b, off) === ((g.lastId + 1) & 0xffff) &&
      sameBytes(b, off + 12, o, held + 12, 8) && // addresses
      sameBytes(b, u, o, held + IPV4_MIN_HEADER_LENGTH, 4); // ports
    if (!joins) return GRO_FLUSH;
  }
  const at = g.count === 0 ? held + HDRS : held + g.length;
  const s = moveSum(b, u + UDP_HEADER_LENGTH, o, at, n, sum16(b, u, UDP_HEADER_LENGTH, pseudo));
  if (field !== 0 && s !== 0xffff && !partial) return pass(g, GRO_PASS_BAD_CHECKSUM);
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
  g.lastId = id(b, off);
  return GRO_HELD;
}

/**
 * Completes the held super-packet and returns the bytes to write,
 * g.out[g.base, g.base + n). Empties the state. 0 when nothing is held.
 */
export function udpGroFinish(g: UdpGroState): number {
  if (g.count === 0) return 0;
  const o = g.out;
  const p = g.base + VIRTIO_NET_HDR_LEN;
  if (o[p]! >>> 4 === 6) return udpGroFinish6(g);
  const n = VIRTIO_NET_HDR_LEN + g.length;
  if (g.count === 1) {
    if (g.partial) writeVirtioNetHdr(o, g.base, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE, HDRS, 0, IPV4_MIN_HEADER_LENGTH, UDP_CHECKSUM);
    else clearVirtioNetHdr(o, g.base);
  } else {
    const u = p + IPV4_MIN_HEADER_LENGTH;
    const udpLen = g.length - IPV4_MIN_HEADER_LENGTH;
    setTotalLength(o, p, g.length);
    fillHeaderChecksum(o, p);
    o[u + UDP_LENGTH] = udpLen >>> 8;
    o[u + UDP_LENGTH + 1] = udpLen & 0xff;
    const partial = sum16(o, 0, 0, pseudoHeaderSumOf(o, p, PROTO_UDP, udpLen));
    o[u + UDP_CHECKSUM] = partial >>> 8;
    o[u + UDP_CHECKSUM + 1] = partial & 0xff;
    writeVirtioNetHdr(o, g.base, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_UDP_L4, HDRS, g.gsoSize, IPV4_MIN_HEADER_LENGTH, UDP_CHECKSUM);
    g.superPackets++;
    g.segmentsMerged += g.count;
  }
  g.count = 0;
  g.length = 0;
  g.closed = false;
  return n;
}
