// Coalescing (GRO) of decapsulated TCP/IPv4 segments into one super-packet
// for a single TUN write with a virtio_net_hdr (GSO_TCPV4, NEEDS_CSUM), the
// reverse of tso.ts.
//
// One flow is held at a time. A segment joins the held super-packet when:
//   IPv4: header of 20 bytes (no options), DF set, not a fragment, same
//         source, destination, TOS and TTL, id = previous id + 1;
//   TCP:  same ports, seq = where the held payload ends, same ack and window,
//         identical options, flags ACK with at most PSH (and ECE if the held
//         one has it) - no SYN, FIN, RST, URG, CWR;
//   size: payload of the first segment's size (gso_size); a smaller one
//         joins and closes the super-packet, as does PSH; never past 64 KB;
//   and its own TCP checksum verifies, or is a kernel peer's partial one
//   (the field holds just the pseudo-header sum: partial-checksum.ts says
//   why that is trusted). The kernel trusts NEEDS_CSUM packets, so a
//   corrupted segment must not be folded into a fresh sum: it passes with
//   GRO_PASS_BAD_CHECKSUM, and the caller drops it (DROP_BAD_CHECKSUM).
//
// IPv6 segments (gro6.ts) are coalesced by the same calls into a GSO_TCPV6
// super-packet, under the same rules with IPv6's fields; a held IPv4 flow
// and an IPv6 one never mix (the version byte is compared like the rest).
//
//   const a = groAdd(g, b, off, len);
//   GRO_HELD:  copied into the held super-packet; nothing to write yet.
//   GRO_FLUSH: mergeable but not with what is held: write the held one
//              (n = groFinish(g); write g.out[g.base, g.base + n)), then groAdd again
//              (it then gives GRO_HELD, or GRO_PASS for a bad checksum).
//   GRO_PASS:  g.passReason GRO_PASS_BAD_CHECKSUM: drop it. Otherwise never
//              mergeable: write the held one first if groPending(g) (order
//              within a flow), then this packet alone behind the
//              virtio_net_hdr prepareTunWrite (partial-checksum.ts) gives it.
// At the end of each receive batch: if groPending(g), write groFinish(g).
//
// groFinish writes the virtio_net_hdr at g.out[g.base], the IPv4 total length and
// header checksum, the accumulated PSH, and in the TCP checksum field the
// pseudo-header partial sum (not complemented) for the whole TCP length, as
// tcp_v4_send_check leaves it for CHECKSUM_PARTIAL. A single held segment is
// written unchanged with a zero header, or, if its checksum was partial, with
// NEEDS_CSUM (no GSO) so that the kernel completes it.

import { fold, sum16 } from '../checksum.js';
import {
  IPV4_MIN_HEADER_LENGTH,
  IPV4_OK,
  PROTO_TCP,
  dontFragment,
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
import { copyBytes, moveSum, sameBytes } from './copy-sum.js';
import {
  GRO_FLUSH,
  GRO_HELD,
  GRO_PASS,
  GRO_PASS_BAD_CHECKSUM,
  GRO_PASS_FLAGS,
  GRO_PASS_FRAGMENTABLE,
  GRO_PASS_NONE,
  GRO_PASS_NOT_IPV4,
  GRO_PASS_NOT_TCP,
  GRO_PASS_NO_PAYLOAD,
  GRO_PASS_TOO_BIG,
  MERGEABLE_FLAGS,
} from './gro-answers.js';
import { groAdd6, groFinish6 } from './gro6.js';
import { MAX_SUPER_PACKET } from './tso.js';
import {
  TCP_ACK,
  TCP_CHECKSUM_OFFSET,
  TCP_MIN_HEADER_LENGTH,
  TCP_PSH,
  setTcpChecksum,
  tcpChecksum,
  setTcpFlags,
  tcpAck,
  tcpFlags,
  tcpHeaderLength,
  tcpPorts,
  tcpSeq,
  tcpWindow,
} from './tcp.js';
import {
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_NONE,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_LEN,
  clearVirtioNetHdr,
  writeVirtioNetHdr,
} from './virtio-net-hdr.js';

export {
  GRO_FLUSH,
  GRO_HELD,
  GRO_PASS,
  GRO_PASS_BAD_CHECKSUM,
  GRO_PASS_FLAGS,
  GRO_PASS_FRAGMENTABLE,
  GRO_PASS_IPV6_EXTENSION,
  GRO_PASS_NONE,
  GRO_PASS_NOT_IPV4,
  GRO_PASS_NOT_TCP,
  GRO_PASS_NOT_UDP,
  GRO_PASS_NO_CHECKSUM,
  GRO_PASS_NO_PAYLOAD,
  GRO_PASS_REASONS,
  GRO_PASS_TOO_BIG,
} from './gro-answers.js';

export interface GroState {
  /** virtio_net_hdr at `base`, the held IPv4 packet at base + VIRTIO_NET_HDR_LEN. */
  readonly out: Uint8Array;
  readonly base: number;
  /** Largest IPv4 total length a super-packet may reach. */
  readonly maxPacket: number;
  /** Segments held (0: nothing). */
  count: number;
  /** Bytes of the held IPv4 packet. */
  length: number;
  /** No further segment may join (PSH or a short segment joined). */
  closed: boolean;
  gsoSize: number;
  hdrs: number;
  tcpHeaderLength: number;
  nextSeq: number;
  lastId: number;
  flags: number;
  /** The first held segment's checksum was partial (matters when it stays alone). */
  partial: boolean;
  passReason: number;
  /** Super-packets written by groFinish with more than one segment, and segments in them. */
  superPackets: number;
  segmentsMerged: number;
}

/**
 * State for one worker; `maxPacket` at most 65535 (IPv4 total length). With
 * `area`, the super-packet is built in area.buf from area.offset on
 * (VIRTIO_NET_HDR_LEN + maxPacket bytes): when segments are offered from the
 * same array (a receive buffer with this area at its end) they are moved with
 * copyWithin, a native memmove, instead of a JS byte loop.
 */
export function createGroState(maxPacket = MAX_SUPER_PACKET, area?: { buf: Uint8Array; offset: number }): GroState {
  const { out, base } = groArea(maxPacket, area);
  return {
    out,
    base,
    maxPacket,
    count: 0,
    length: 0,
    closed: false,
    gsoSize: 0,
    hdrs: 0,
    tcpHeaderLength: 0,
    nextSeq: 0,
    lastId: 0,
    flags: 0,
    partial: false,
    passReason: GRO_PASS_NONE,
    superPackets: 0,
    segmentsMerged: 0,
  };
}

/** Where a super-packet of up to maxPacket bytes is built: the caller's area, checked, or a buffer of its own. */
export function groArea(maxPacket: number, area?: { buf: Uint8Array; offset: number }): { out: Uint8Array; base: number } {
  if (!Number.isInteger(maxPacket) || maxPacket < 576 || maxPacket > MAX_SUPER_PACKET) {
    throw new RangeError(`gro maxPacket must be an integer in [576, ${MAX_SUPER_PACKET}], got ${maxPacket}`);
  }
  const need = VIRTIO_NET_HDR_LEN + maxPacket;
  if (area !== undefined && !(Number.isInteger(area.offset) && area.offset >= 0 && area.offset + need <= area.buf.length)) {
    throw new RangeError(`gro area at ${area.offset} needs ${need} bytes inside a buffer of ${area.buf.length}`);
  }
  return { out: area?.buf ?? new Uint8Array(need), base: area?.offset ?? 0 };
}

export function groPending(g: GroState): boolean {
  return g.count > 0;
}

function pass(g: GroState, reason: number): number {
  g.passReason = reason;
  return GRO_PASS;
}

/**
 * Offers the IPv4 (or IPv6: gro6.ts) packet b[off, off+len) (bytes past its
 * total length are ignored).
 */
export function groAdd(g: GroState, b: Uint8Array, off: number, len: number): number {
  if (off < 0 || len > b.length - off) return pass(g, GRO_PASS_NOT_IPV4);
  if (validateIpv4(b, off, len) !== IPV4_OK) return b[off]! >>> 4 === 6 ? groAdd6(g, b, off, len) : pass(g, GRO_PASS_NOT_IPV4);
  const ihl = headerLength(b, off);
  if (ihl !== IPV4_MIN_HEADER_LENGTH) return pass(g, GRO_PASS_NOT_IPV4);
  if (protocol(b, off) !== PROTO_TCP) return pass(g, GRO_PASS_NOT_TCP);
  if (isFragment(b, off) || !dontFragment(b, off)) return pass(g, GRO_PASS_FRAGMENTABLE);
  const total = totalLength(b, off);
  const t = off + ihl;
  const tcpLen = total - ihl;
  if (tcpLen < TCP_MIN_HEADER_LENGTH) return pass(g, GRO_PASS_NOT_TCP);
  const thl = tcpHeaderLength(b, t);
  if (thl < TCP_MIN_HEADER_LENGTH || thl > tcpLen) return pass(g, GRO_PASS_NOT_TCP);
  const flags = tcpFlags(b, t);
  if ((flags & ~MERGEABLE_FLAGS) !== 0 || (flags & TCP_ACK) === 0 || (b[t + 12]! & 0x0f) !== 0) return pass(g, GRO_PASS_FLAGS);
  const n = tcpLen - thl;
  if (n === 0) return pass(g, GRO_PASS_NO_PAYLOAD);
  if (total > g.maxPacket) return pass(g, GRO_PASS_TOO_BIG);

  const o = g.out;
  const held = g.base + VIRTIO_NET_HDR_LEN;
  const pseudo = pseudoHeaderSumOf(b, off, PROTO_TCP, 0) + tcpLen;
  // A kernel peer's CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum.
  const partial = tcpChecksum(b, t) === fold(pseudo);
  if (g.count === 0) {
    // Start a super-packet with this segment, verifying its checksum on the way.
    copyBytes(b, off, o, held, ihl + thl);
    const s = moveSum(b, t + thl, o, held + ihl + thl, n, sum16(b, t, thl, pseudo));
    if (s !== 0xffff && !partial) return pass(g, GRO_PASS_BAD_CHECKSUM);
    g.partial = partial;
    g.count = 1;
    g.length = total;
    g.closed = (flags & TCP_PSH) !== 0;
    g.gsoSize = n;
    g.hdrs = ihl + thl;
    g.tcpHeaderLength = thl;
    g.nextSeq = (tcpSeq(b, t) + n) >>> 0;
    g.lastId = id(b, off);
    g.flags = flags;
    return GRO_HELD;
  }

  // Same flow and in order? Compare with the held headers in place.
  const ht = held + IPV4_MIN_HEADER_LENGTH;
  if (
    g.closed ||
    b[off] !== o[held] || // version and IHL: never onto an IPv6 super-packet
    thl !== g.tcpHeaderLength ||
    n > g.gsoSize ||
    g.length + n > g.maxPacket ||
    b[off + 1] !== o[held + 1] || // TOS (ECN included)
    b[off + 8] !== o[held + 8] || // TTL
    !sameBytes(b, off + 12, o, held + 12, 8) || // addresses
    tcpPorts(b, t) !== tcpPorts(o, ht) ||
    tcpSeq(b, t) !== g.nextSeq ||
    tcpAck(b, t) !== tcpAck(o, ht) ||
    tcpWindow(b, t) !== tcpWindow(o, ht) ||
    (flags & ~TCP_PSH) !== (g.flags & ~TCP_PSH) ||
    id(b, off) !== ((g.lastId + 1) & 0xffff) ||
    !sameBytes(b, t + TCP_MIN_HEADER_LENGTH, o, ht + TCP_MIN_HEADER_LENGTH, thl - TCP_MIN_HEADER_LENGTH)
  ) {
    return GRO_FLUSH;
  }
  const at = held + g.length;
  const s = moveSum(b, t + thl, o, at, n, sum16(b, t, thl, pseudo));
  if (s !== 0xffff && !partial) return pass(g, GRO_PASS_BAD_CHECKSUM);
  g.count++;
  g.length += n;
  g.nextSeq = (g.nextSeq + n) >>> 0;
  g.lastId = (g.lastId + 1) & 0xffff;
  g.flags |= flags & TCP_PSH;
  if ((flags & TCP_PSH) !== 0 || n < g.gsoSize) g.closed = true;
  return GRO_HELD;
}

/**
 * Completes the held super-packet and returns the bytes to write,
 * g.out[g.base, g.base + n): virtio_net_hdr and IPv4 packet. Empties the state. 0 when
 * nothing is held.
 */
export function groFinish(g: GroState): number {
  if (g.count === 0) return 0;
  const o = g.out;
  const p = g.base + VIRTIO_NET_HDR_LEN;
  if (o[p]! >>> 4 === 6) return groFinish6(g);
  const n = VIRTIO_NET_HDR_LEN + g.length;
  if (g.count === 1) {
    if (g.partial) writeVirtioNetHdr(o, g.base, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE, g.hdrs, 0, IPV4_MIN_HEADER_LENGTH, TCP_CHECKSUM_OFFSET);
    else clearVirtioNetHdr(o, g.base);
  } else {
    const t = p + IPV4_MIN_HEADER_LENGTH;
    setTotalLength(o, p, g.length);
    fillHeaderChecksum(o, p);
    setTcpFlags(o, t, g.flags);
    const tcpLen = g.length - IPV4_MIN_HEADER_LENGTH;
    const partial = sum16(o, 0, 0, pseudoHeaderSumOf(o, p, PROTO_TCP, 0) + tcpLen);
    setTcpChecksum(o, t, partial);
    writeVirtioNetHdr(o, g.base, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, g.hdrs, g.gsoSize, IPV4_MIN_HEADER_LENGTH, TCP_CHECKSUM_OFFSET);
    g.superPackets++;
    g.segmentsMerged += g.count;
  }
  g.count = 0;
  g.length = 0;
  g.closed = false;
  return n;
}
