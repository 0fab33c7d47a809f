// A cheap hash of the inner flow, for the VXLAN UDP source port (RFC 7348 §5:
// "a hash of fields from the inner packet", in the dynamic range 49152–65535)
// so that ECMP and RSS on the underlay spread flows while keeping each in order.

import { PROTO_TCP, PROTO_UDP, dst, headerLength, isFragment, protocol, src } from './header/ipv4.js';

export const SPORT_MIN = 49152;
export const SPORT_RANGE = 16384;

function mix(h: number, v: number): number {
  h = Math.imul(h ^ v, 0x9e3779b1);
  return (h << 13) | (h >>> 19);
}

/**
 * Hash of (src, dst, protocol, ports when TCP/UDP and unfragmented) of a
 * validated IPv4 packet of `len` bytes.
 */
export function flowHash4(b: Uint8Array, off: number, len: number): number {
  const proto = protocol(b, off);
  let h = mix(mix(mix(0x2545f491, src(b, off)), dst(b, off)), proto);
  const l4 = off + headerLength(b, off);
  if ((proto === PROTO_TCP || proto === PROTO_UDP) && l4 + 4 <= off + len && !isFragment(b, off)) {
    h = mix(h, (b[l4]! << 24) | (b[l4 + 1]! << 16) | (b[l4 + 2]! << 8) | b[l4 + 3]!);
  }
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  return (h ^ (h >>> 13)) >>> 0;
}

/** Hash of (src, dst, next header, flow label) of an IPv6 packet (RFC 6438). */
export function flowHash6(b: Uint8Array, off: number): number {
  let h = 0x2545f491;
  for (let i = 8; i < 40; i += 4) {
    h = mix(h, (b[off + i]! << 24) | (b[off + i + 1]! << 16) | (b[off + i + 2]! << 8) | b[off + i + 3]!);
  }
  h = mix(h, ((b[off + 1]! & 0x0f) << 16) | (b[off + 2]! << 8) | b[off + 3]!);
  h = mix(h, b[off + 6]!);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  return (h ^ (h >>> 13)) >>> 0;
}

export function sourcePortFor(hash: number): number {
  return SPORT_MIN + (hash & (SPORT_RANGE - 1));
}
