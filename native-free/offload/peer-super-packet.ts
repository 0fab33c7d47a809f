// A decapsulated TCP/IPv4 packet longer than the tunnel MTU: a kernel peer's
// TSO super-packet that reached weft whole.
//
// A Linux VXLAN node hands its pods' TSO super-packets to the underlay device
// as one SKB_GSO_UDP_TUNNEL skb, for "the NIC" to cut (and checksum: the inner
// checksum is partial, see partial-checksum.ts). A NIC cuts it on the wire; a
// veth passes it on whole, and the receiving UDP socket does not cut it either:
// udp_queue_rcv_skb segments only what udp_unexpected_gso calls unexpected
// (SKB_GSO_UDP_L4, fraglist), so weft's recvmmsg gets one datagram holding a
// VXLAN frame with an inner TCP segment of up to 64 KB. Written to the TUN as
// one packet it would be refused on forwarding (DF, larger than the pod's MTU:
// "fragmentation needed" back to a sender that did nothing wrong), and TCP
// from such a node stalls.
//
// So weft cuts it as the NIC would have, into segments that fit the tunnel
// MTU: with IFF_VNET_HDR by handing it to the kernel as the GSO_TCPV4
// super-packet it is (NEEDS_CSUM, gso_size = MTU − headers; the checksum field
// must then hold the pseudo-header sum, as tcp_gso_segment expects), on a plain
// TUN by segmenting it here (tso.ts, full checksums). Its checksum is judged
// first, like any other packet's: a damaged one is dropped.
//
// IPv6 the same way (GSO_TCPV6, tso6.ts), for a fixed header followed by TCP;
// IPv6 has no DF to ask about: routers never fragment it, so a TCP/IPv6
// packet longer than the MTU is always one to cut.

import { fold, pseudoHeaderSum6 } from '../checksum.js';
import { DROP_BAD_CHECKSUM, FORWARD } from '../drop.js';
import { PROTO_TCP, dontFragment, headerLength, protocol, pseudoHeaderSumOf, totalLength } from '../header/ipv4.js';
import { IPV6_HEADER_LEN, ipv6NextHeader, ipv6PayloadLength } from '../header/ipv6.js';
import { OFFLOAD_OK } from './reasons.js';
import { L4_BAD, L4_PARTIAL, L4_VALID, l4ChecksumState } from './partial-checksum.js';
import { TCP_CHECKSUM_OFFSET, TCP_CWR, setTcpChecksum, tcpFlags, tcpHeaderLength } from './tcp.js';
import { type OffloadResult, type TsoSlab, segmentTcp4 } from './tso.js';
import { segmentTcp6 } from './tso6.js';
import {
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_ECN,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  VIRTIO_NET_HDR_LEN,
  writeVirtioNetHdr,
} from './virtio-net-hdr.js';

/** Not a TCP super-packet weft can cut (another protocol, IPv4 without DF, IPv6 extension headers): written as it is. */
export const NOT_SUPER_PACKET = -1;

/**
 * b[off, off+len) is a decapsulated IP packet longer than `mtu` (the tunnel
 * MTU). vnet: writes the GSO_TCPV4 virtio_net_hdr into b[off - 10, off) and
 * the partial sum into the TCP checksum field; write b[off - 10, off + len).
 * Plain TUN (slab and r given): segments it into slab; write r's packets.
 * Returns FORWARD, DROP_BAD_CHECKSUM, or NOT_SUPER_PACKET when it is no
 * TCP segment weft can cut (then it is written as it is and the kernel
 * judges it, as before). IPv6: the same with GSO_TCPV6 and tso6.ts.
 */
export function prepareSuperPacket(b: Uint8Array, off: number, len: number, mtu: number, slab: TsoSlab | null, r: OffloadResult | null): number {
  if (b[off]! >>> 4 === 6) return prepareSuperPacket6(b, off, len, mtu, slab, r);
  if (b[off]! >>> 4 !== 4 || protocol(b, off) !== PROTO_TCP || !dontFragment(b, off)) return NOT_SUPER_PACKET;
  const state = l4ChecksumState(b, off, len);
  if (state === L4_BAD) return DROP_BAD_CHECKSUM;
  if (state !== L4_VALID && state !== L4_PARTIAL) return NOT_SUPER_PACKET;
  const ihl = headerLength(b, off);
  const t = off + ihl;
  const thl = tcpHeaderLength(b, t);
  const mss = mtu - ihl - thl;
  if (mss < 1) return NOT_SUPER_PACKET;
  if (slab !== null && r !== null) {
    return segmentTcp4(b, off, len, mss, slab, r) === OFFLOAD_OK ? FORWARD : NOT_SUPER_PACKET;
  }
  const tcpLen = totalLength(b, off) - ihl;
  setTcpChecksum(b, t, fold(pseudoHeaderSumOf(b, off, PROTO_TCP, tcpLen)));
  const gso = VIRTIO_NET_HDR_GSO_TCPV4 | ((tcpFlags(b, t) & TCP_CWR) !== 0 ? VIRTIO_NET_HDR_GSO_ECN : 0);
  writeVirtioNetHdr(b, off - VIRTIO_NET_HDR_LEN, VIRTIO_NET_HDR_F_NEEDS_CSUM, gso, ihl + thl, mss, ihl, TCP_CHECKSUM_OFFSET);
  return FORWARD;
}

/** prepareSuperPacket for IPv6: a fixed header followed by TCP. */
function prepareSuperPacket6(b: Uint8Array, off: number, len: number, mtu: number, slab: TsoSlab | null, r: OffloadResult | null): number {
  if (ipv6NextHeader(b, off) !== PROTO_TCP) return NOT_SUPER_PACKET;
  const state = l4ChecksumState(b, off, len);
  if (state === L4_BAD) return DROP_BAD_CHECKSUM;
  if (state !== L4_VALID && state !== L4_PARTIAL) return NOT_SUPER_PACKET;
  const t = off + IPV6_HEADER_LEN;
  const thl = tcpHeaderLength(b, t);
  const mss = mtu - IPV6_HEADER_LEN - thl;
  if (mss < 1) return NOT_SUPER_PACKET;
  if (slab !== null && r !== null) {
    return segmentTcp6(b, off, len, mss, slab, r) === OFFLOAD_OK ? FORWARD : NOT_SUPER_PACKET;
  }
  setTcpChecksum(b, t, pseudoHeaderSum6(b, off + 8, PROTO_TCP, ipv6PayloadLength(b, off)));
  const gso = VIRTIO_NET_HDR_GSO_TCPV6 | ((tcpFlags(b, t) & TCP_CWR) !== 0 ? VIRTIO_NET_HDR_GSO_ECN : 0);
  writeVirtioNetHdr(b, off - VIRTIO_NET_HDR_LEN, VIRTIO_NET_HDR_F_NEEDS_CSUM, gso, IPV6_HEADER_LEN + thl, mss, IPV6_HEADER_LEN, TCP_CHECKSUM_OFFSET);
  return FORWARD;
}
