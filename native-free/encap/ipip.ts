// IP-in-IP encapsulation (RFC 2003): one outer IPv4 header, protocol 4, in
// front of the inner IPv4 packet. Only IPv4 rides in protocol 4 (IPv6 would be
// protocol 41), so IPv6 inner packets are dropped as unsupported_family;
// so is everything when the IPv4 inner family is set to travel over an IPv6
// underlay (flannel's ipip is IPv4 only: a raw IPPROTO_IPIP socket on IPv4).
//
//   off-20       off
//   | outer IPv4 | inner IPv4 packet ... |
//
// With outerHeaders off (a raw socket without IP_HDRINCL builds the outer
// header), there is nothing to write: the route and MTU checks still apply.

import { DROP_UNSUPPORTED_FAMILY, FORWARD } from '../drop.js';
import { IPV4_MIN_HEADER_LENGTH, PROTO_IPIP } from '../header/ipv4.js';
import type { EncapContext } from './context.js';
import { writeOuterIpv4 } from './outer.js';
import { routeInner } from './route.js';

export const IPIP_OVERHEAD = IPV4_MIN_HEADER_LENGTH;

export function encapIpip(ctx: EncapContext, b: Uint8Array, off: number, len: number): number {
  if (off < IPIP_OVERHEAD) throw new RangeError(`ipip encapsulation needs ${IPIP_OVERHEAD} bytes of headroom, got ${off}`);
  if (ctx.outerFor4 !== 4) return DROP_UNSUPPORTED_FAMILY;
  const code = routeInner(ctx, b, off, len, false);
  if (code !== FORWARD) return code;
  const r = ctx.result;
  if (!ctx.config.outerHeaders) {
    r.offset = off;
    return FORWARD;
  }
  const outer = off - IPIP_OVERHEAD;
  r.length += IPIP_OVERHEAD;
  writeOuterIpv4(ctx, b, outer, r.length, PROTO_IPIP, r.underlay, off, true);
  r.offset = outer;
  return FORWARD;
}
