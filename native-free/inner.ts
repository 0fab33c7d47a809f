// Checks on the inner IP packet, shared by every encapsulation (packets from
// the TUN) and decapsulation (packets from the wire): version, lengths, header
// checksum, TTL / hop limit. Validated once here; later steps trust the bytes.

import { DROP_BAD_INNER, DROP_TTL_EXPIRED } from './drop.js';
import { IPV4_OK, totalLength, ttl, validateIpv4 } from './header/ipv4.js';
import { IPV6_OK, ipv6HopLimit, ipv6PayloadLength, validateIpv6, IPV6_HEADER_LEN } from './header/ipv6.js';

/**
 * Length of the valid inner packet at b[off..off+len) (bytes past it are
 * padding), or the negated drop code.
 */
export function innerPacketLength(b: Uint8Array, off: number, len: number): number {
  if (len < 1) return -DROP_BAD_INNER;
  const v = b[off]! >>> 4;
  if (v === 4) {
    if (validateIpv4(b, off, len) !== IPV4_OK) return -DROP_BAD_INNER;
    if (ttl(b, off) === 0) return -DROP_TTL_EXPIRED;
    return totalLength(b, off);
  }
  if (v === 6) {
    if (validateIpv6(b, off, len) !== IPV6_OK) return -DROP_BAD_INNER;
    if (ipv6HopLimit(b, off) === 0) return -DROP_TTL_EXPIRED;
    return IPV6_HEADER_LEN + ipv6PayloadLength(b, off);
  }
  return -DROP_BAD_INNER;
}
