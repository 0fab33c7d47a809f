// What the offloads take of an IPv6 header: the fixed 40 bytes (header/
// ipv6.ts draws it) followed at once by TCP or UDP, nothing in between.
//
// Why no extension headers: a TCP or UDP super-packet from a pod's own stack
// carries none unless the socket set sticky options (IPV6_HOPOPTS,
// IPV6_RTHDR, IPV6_DSTOPTS) or IPsec is in use - nothing a cluster network
// sees in practice. Cutting one correctly means walking the chain, copying
// it into every segment and, with a routing header, taking the pseudo-
// header's destination from its last address (RFC 8200 §8.1): code for
// traffic that does not come. So such a super-packet is refused with
// OFFLOAD_IPV6_EXTENSION (counted), and GRO passes such a segment on alone;
// a segment that is no super-packet is never touched.

import { IPV6_OK, ipv6NextHeader, validateIpv6 } from '../header/ipv6.js';
import { OFFLOAD_BAD_IP, OFFLOAD_IPV6_EXTENSION, OFFLOAD_OK } from './reasons.js';

/**
 * The next-header values that are extension headers (IANA "IPv6 Extension
 * Header Types", RFC 8200 §4, RFC 7045): hop-by-hop 0, routing 43,
 * fragment 44, ESP 50, AH 51, destination options 60, mobility 135, HIP 139,
 * shim6 140, experimental 253 and 254.
 */
export function isIpv6ExtensionHeader(nh: number): boolean {
  return nh === 0 || nh === 43 || nh === 44 || nh === 50 || nh === 51 || nh === 60 || nh === 135 || nh === 139 || nh === 140 || nh === 253 || nh === 254;
}

/**
 * Checks the IPv6 packet b[p, p+plen) of a super-packet: version 6, 40 +
 * payload length within plen, next header `proto`. Returns OFFLOAD_OK,
 * OFFLOAD_BAD_IP, OFFLOAD_IPV6_EXTENSION, or `wrongProto` (NOT_TCP / NOT_UDP).
 */
export function validateOffloadIpv6(b: Uint8Array, p: number, plen: number, proto: number, wrongProto: number): number {
  if (validateIpv6(b, p, plen) !== IPV6_OK) return OFFLOAD_BAD_IP;
  const nh = ipv6NextHeader(b, p);
  if (nh === proto) return OFFLOAD_OK;
  return isIpv6ExtensionHeader(nh) ? OFFLOAD_IPV6_EXTENSION : wrongProto;
}
