// The outer IPv6 header (RFC 8200) a backend writes when it builds whole
// packets over an IPv6 underlay, and the UDP header above it.
//
//   at         at+40   at+48
//   | IPv6     | UDP   | payload ... |
//
// Traffic class: DSCP 0 and the inner ECN (RFC 6040 §4.1 normal mode), as
//   the kernel's VXLAN does with tos 0 (ip_tunnel_ecn_encap).
// Flow label: from the inner flow hash (RFC 6438 §3: a tunnel endpoint
//   labels each inner flow, so ECMP/LAG hashing on the underlay spreads
//   them), folded the way Linux's ip6_make_flowlabel folds skb->hash
//   (rotate left 16, low 20 bits; no stateless-range bit, the default
//   net.ipv6.flowlabel_state_ranges = 0). The kernel's VXLAN device itself
//   sends label 0 unless `flowlabel` is configured; a kernel UDP socket
//   (what weft sends through without outerHeaders) labels automatically
//   (net.ipv6.auto_flowlabels = 1).
// Hop limit: config.ttl.
// UDP checksum: always computed. A zero UDP checksum over IPv6 is allowed
//   only for tunnels that opt in on both ends (RFC 6935/6936); the kernel's
//   VXLAN computes it unless udp6zerocsumtx and drops zero ones unless
//   udp6zerocsumrx, both off by default. config.udpChecksum applies to IPv4 only.

import { checksum } from '../checksum.js';
import { IPV6_HEADER_LEN, ipv6PseudoHeaderSum, setIpv6Dst, setIpv6Src } from '../header/ipv6.js';
import { PROTO_UDP } from '../header/ipv4.js';
import { UDP_HEADER_LENGTH, writeUdpHeader } from '../header/udp.js';
import type { EncapContext } from './context.js';

/** The 20-bit flow label for an inner flow hash (Linux ip6_make_flowlabel's fold). */
export function flowLabelFor(hash: number): number {
  return ((hash << 16) | (hash >>> 16)) & 0xfffff;
}

/**
 * Writes a 40-byte outer IPv6 header at b[at..at+40) for `payloadLen` bytes
 * after it, to ctx.result.underlay6 from ctx.localUnderlay6. The inner IP
 * packet (IPv4 or IPv6) starts at `inner`; `hash` is its flow hash.
 */
export function writeOuterIpv6(ctx: EncapContext, b: Uint8Array, at: number, payloadLen: number, nextHeader: number, inner: number, hash: number): void {
  const innerEcn = b[inner]! >>> 4 === 4 ? b[inner + 1]! & 0x03 : (b[inner + 1]! >>> 4) & 0x03;
  const label = flowLabelFor(hash);
  // Version 6, traffic class = ECN only (DSCP 0): tc's high nibble is 0.
  b[at] = 0x60;
  b[at + 1] = (innerEcn << 4) | (label >>> 16);
  b[at + 2] = (label >>> 8) & 0xff;
  b[at + 3] = label & 0xff;
  b[at + 4] = payloadLen >>> 8;
  b[at + 5] = payloadLen & 0xff;
  b[at + 6] = nextHeader;
  b[at + 7] = ctx.config.ttl;
  setIpv6Src(b, at, ctx.localUnderlay6, 0);
  setIpv6Dst(b, at, ctx.result.underlay6, 0);
}

/**
 * Writes outer IPv6 + UDP in front of `payload` (the first byte after the UDP
 * header), for `payloadLen` bytes, with the UDP checksum, and sets
 * ctx.result.offset/length to the whole outer packet.
 */
export function writeOuterUdp6(ctx: EncapContext, b: Uint8Array, payload: number, payloadLen: number, sport: number, inner: number, hash: number): void {
  const r = ctx.result;
  const udp = payload - UDP_HEADER_LENGTH;
  const udpLen = payloadLen + UDP_HEADER_LENGTH;
  writeUdpHeader(b, udp, sport, ctx.config.port, udpLen);
  const outer = udp - IPV6_HEADER_LEN;
  writeOuterIpv6(ctx, b, outer, udpLen, PROTO_UDP, inner, hash);
  // RFC 8200 §8.1: a computed 0 is sent as 0xFFFF; 0 itself would mean "none".
  const c = checksum(b, udp, udpLen, ipv6PseudoHeaderSum(b, outer, PROTO_UDP, udpLen)) || 0xffff;
  b[udp + 6] = c >>> 8;
  b[udp + 7] = c & 0xff;
  r.offset = outer;
  r.length = udpLen + IPV6_HEADER_LEN;
}
