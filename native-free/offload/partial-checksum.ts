// The inner TCP/UDP checksum of a decapsulated packet, judged before it is
// written to the TUN: valid, partial (a kernel peer's CHECKSUM_PARTIAL), or bad.
//
// Why "partial" exists on the wire at all: Linux builds a TCP or UDP segment
// with ip_summed = CHECKSUM_PARTIAL and only the pseudo-header sum (folded,
// not complemented) in the checksum field (tcp_v4_send_check, udp4_hwcsum),
// leaving the rest "for the NIC" from csum_start/csum_offset (include/linux/
// skbuff.h, "DOC: skb checksums"). The kernel VXLAN device encapsulates it
// unchanged; only a device without checksum offload makes the kernel finish it
// in software (validate_xmit_skb → skb_csum_hwoffload_help → skb_checksum_help,
// net/core/dev.c, which stores csum_fold(sum from csum_start) ?: CSUM_MANGLED_0).
// A veth has NETIF_F_HW_CSUM and passes the skb along with its ip_summed as it
// is (veth_xmit → veth_forward_skb; "veth: don't modify ip_summed", 2015), so
// between namespaces nobody ever completes it: the kernel's own VXLAN receive
// path (vxlan_rcv) keeps the skb's CHECKSUM_PARTIAL, and tcp_v4_rcv /
// udp_rcv take it as verified (skb_csum_unnecessary: "the checksum referred
// to by csum_start + csum_offset ... considered verified"). weft's UDP socket
// gets only the bytes, so it must recognise that state itself.
//
// The rule, per TCP/UDP segment (IPv4 not a fragment, or IPv6 with TCP/UDP as
// the first next header):
//   VALID     the full checksum verifies (or UDP/IPv4 checksum 0, "none");
//   PARTIAL   the checksum field equals the folded pseudo-header sum of this
//             very packet (addresses, protocol, L4 length): the kernel's
//             CHECKSUM_PARTIAL. It is delivered with the checksum completed,
//             by the kernel (virtio_net_hdr NEEDS_CSUM, when the TUN has
//             IFF_VNET_HDR) or here in software (plain TUN);
//   BAD       neither: damaged on the way. Dropped (DROP_BAD_CHECKSUM).
//   UNCHECKED anything else (another protocol, a fragment, IPv6 extension
//             headers, UDP/IPv6 checksum 0, a UDP length that disagrees with
//             the IP length): written as it is, and the receiving kernel judges.
// The PARTIAL test comes first: it costs no pass over the payload. When both
// hold (a full checksum that happens to equal the pseudo-header sum) either
// way of delivering writes the same bytes.
//
// What trusting PARTIAL gives up: such a segment carries no end-to-end check
// of its payload, and the outer UDP checksum of the kernel's VXLAN is 0 by
// default, so corruption in flight of a partial segment is undetectable. That
// is exactly what the kernel itself accepts for CHECKSUM_PARTIAL on veth; a
// damaged segment with a full checksum is still caught (BAD), and so is a
// damaged partial one whose damage hits the addresses, lengths or the field.

import { fold, pseudoHeaderSum6, sum16 } from '../checksum.js';
import { FORWARD, DROP_BAD_CHECKSUM } from '../drop.js';
import { PROTO_TCP, PROTO_UDP, headerLength, isFragment, protocol, pseudoHeaderSumOf, totalLength } from '../header/ipv4.js';
import { IPV6_HEADER_LEN, ipv6NextHeader, ipv6PayloadLength } from '../header/ipv6.js';
import { TCP_CHECKSUM_OFFSET, TCP_MIN_HEADER_LENGTH } from './tcp.js';
import { UDP_CHECKSUM_OFFSET } from '../header/udp.js';
import {
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_NONE,
  VIRTIO_NET_HDR_LEN,
  clearVirtioNetHdr,
  writeVirtioNetHdr,
} from './virtio-net-hdr.js';

export const L4_UNCHECKED = 0;
export const L4_VALID = 1;
export const L4_PARTIAL = 2;
export const L4_BAD = 3;

export const L4_STATES = ['unchecked', 'valid', 'partial', 'bad'] as const;

/**
 * Where the last l4ChecksumState call found the transport header (from the
 * first byte of the IP header: csum_start) and its checksum field (csum_offset
 * within it), and the transport length. One per worker thread, reused: no
 * object per packet. Meaningful after VALID, PARTIAL or BAD.
 */
export const l4 = { start: 0, csumOffset: 0, length: 0, proto: 0 };

/**
 * Judges the TCP/UDP checksum of the IP packet b[off, off+len) (len: its IP
 * length, already validated by innerPacketLength). Never throws, never writes.
 */
export function l4ChecksumState(b: Uint8Array, off: number, len: number): number {
  const v = b[off]! >>> 4;
  let proto: number;
  let start: number;
  let l4len: number;
  let pseudo: number;
  if (v === 4) {
    if (isFragment(b, off)) return L4_UNCHECKED;
    const ihl = headerLength(b, off);
    proto = protocol(b, off);
    start = ihl;
    l4len = totalLength(b, off) - ihl;
    pseudo = pseudoHeaderSumOf(b, off, proto, l4len);
  } else if (v === 6) {
    proto = ipv6NextHeader(b, off);
    start = IPV6_HEADER_LEN;
    l4len = ipv6PayloadLength(b, off);
    pseudo = pseudoHeaderSum6(b, off + 8, proto, l4len);
  } else {
    return L4_UNCHECKED;
  }
  if (start + l4len > len) return L4_UNCHECKED;
  let field: number;
  if (proto === PROTO_TCP) {
    if (l4len < TCP_MIN_HEADER_LENGTH) return L4_UNCHECKED;
    field = TCP_CHECKSUM_OFFSET;
  } else if (proto === PROTO_UDP) {
    if (l4len < 8) return L4_UNCHECKED;
    const u = off + start;
    if (((b[u + 4]! << 8) | b[u + 5]!) !== l4len) return L4_UNCHECKED;
    field = UDP_CHECKSUM_OFFSET;
  } else {
    return L4_UNCHECKED;
  }
  const at = off + start + field;
  const c = (b[at]! << 8) | b[at + 1]!;
  if (c === 0 && proto === PROTO_UDP) return v === 4 ? L4_VALID : L4_UNCHECKED; // RFC 768 "no checksum"; IPv6: the kernel's rule (RFC 6935)
  l4.start = start;
  l4.csumOffset = field;
  l4.length = l4len;
  l4.proto = proto;
  if (c === fold(pseudo)) return L4_PARTIAL;
  return sum16(b, off + start, l4len, pseudo) === 0xffff ? L4_VALID : L4_BAD;
}

/**
 * Completes the partial checksum of the packet at off, as skb_checksum_help
 * does: the sum from csum_start to the end (the field holds the pseudo-header
 * sum, so it is included), complemented; a UDP result of 0 is sent as 0xffff
 * (RFC 768, CSUM_MANGLED_0). Uses `l4` from the l4ChecksumState call that said
 * PARTIAL for this packet.
 */
export function completeL4Checksum(b: Uint8Array, off: number): void {
  const s = off + l4.start;
  let c = ~sum16(b, s, l4.length) & 0xffff;
  if (c === 0 && l4.proto === PROTO_UDP) c = 0xffff;
  b[s + l4.csumOffset] = c >>> 8;
  b[s + l4.csumOffset + 1] = c & 0xff;
}

/**
 * Readies one decapsulated packet b[off, off+len) for a TUN write on its own.
 * vnet (IFF_VNET_HDR): writes the virtio_net_hdr into b[off - 10, off) - zero,
 * or NEEDS_CSUM with csum_start/csum_offset for a partial checksum, which the
 * kernel then treats as it treats its own CHECKSUM_PARTIAL. Plain TUN: a
 * partial checksum is completed in place. Returns FORWARD, or
 * DROP_BAD_CHECKSUM for a segment whose checksum is neither valid nor partial.
 */
export function prepareTunWrite(b: Uint8Array, off: number, len: number, vnet: boolean): number {
  const state = l4ChecksumState(b, off, len);
  if (state === L4_BAD) return DROP_BAD_CHECKSUM;
  if (vnet) {
    const h = off - VIRTIO_NET_HDR_LEN;
    if (state === L4_PARTIAL) {
      writeVirtioNetHdr(b, h, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE, l4.start + l4.csumOffset + 2, 0, l4.start, l4.csumOffset);
    } else {
      clearVirtioNetHdr(b, h);
    }
  } else if (state === L4_PARTIAL) {
    completeL4Checksum(b, off);
  }
  return FORWARD;
}
