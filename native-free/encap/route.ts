// The steps before any header is written: validate the inner packet, find the
// peer that owns its destination, pick the underlay family it travels over
// and check it fits the tunnel MTU of that family.

import { DROP_NO_ROUTE, DROP_NO_UNDERLAY, DROP_TOO_BIG, DROP_UNSUPPORTED_FAMILY, FORWARD } from '../drop.js';
import { FAMILY_V6 } from '../family.js';
import { IPV4_DST_OFFSET, dontFragment } from '../header/ipv4.js';
import { innerPacketLength } from '../inner.js';
import type { EncapContext } from './context.js';

/** Offset of the destination address in the IPv6 fixed header (RFC 8200 §3). */
const IPV6_DST_OFFSET = 24;

/**
 * Fills ctx.result.peer, .family, .underlay or .underlay6, and .length (the
 * inner length) and returns FORWARD, or returns a drop code. DROP_TOO_BIG
 * means the caller should answer with ICMP "fragmentation needed" or ICMPv6
 * "packet too big" (see ../icmp-too-big.ts). The MTU is config.mtu over the IPv4
 * underlay and ctx.mtu6 over the IPv6 one (20 bytes more of outer header).
 */
export function routeInner(ctx: EncapContext, b: Uint8Array, off: number, len: number, allowV6: boolean): number {
  const innerLen = innerPacketLength(b, off, len);
  if (innerLen < 0) return -innerLen;
  const r = ctx.result;
  let peer: number;
  let family: 4 | 6;
  if (b[off]! >>> 4 === 4) {
    peer = ctx.routes4.lookup(b, off + IPV4_DST_OFFSET);
    if (peer < 0) return DROP_NO_ROUTE;
    family = ctx.outerFor4;
    // RFC 2003 §3.1 / RFC 1191: a DF packet that does not fit is refused;
    // without DF the outer packet may be fragmented on the underlay.
    if (innerLen > (family === 4 ? ctx.config.mtu : ctx.mtu6) && dontFragment(b, off)) return DROP_TOO_BIG;
  } else {
    if (!allowV6 || ctx.routes6 === null) return DROP_UNSUPPORTED_FAMILY;
    peer = ctx.routes6.lookup(b, off + IPV6_DST_OFFSET);
    if (peer < 0) return DROP_NO_ROUTE;
    family = ctx.outerFor6;
    // IPv6 is never fragmented by routers (RFC 8200 §5).
    if (innerLen > (family === 4 ? ctx.config.mtu : ctx.mtu6)) return DROP_TOO_BIG;
  }
  r.peer = peer;
  r.family = family;
  r.length = innerLen;
  if (family === 4) {
    const u = ctx.peers.underlayOf(peer);
    // An IPv6-only peer: the kernel would find no FDB entry either.
    if (u === 0) return DROP_NO_UNDERLAY;
    r.underlay = u;
  } else {
    if ((ctx.peers.familiesOf(peer) & FAMILY_V6) === 0) return DROP_NO_UNDERLAY;
    r.underlay = 0;
    ctx.peers.writeUnderlay6(peer, r.underlay6, 0);
  }
  return FORWARD;
}

/**
 * The tunnel MTU for the inner packet at b[off] (IPv4 or IPv6): the one its
 * underlay family has. What a DROP_TOO_BIG answer (ICMP frag-needed or
 * ICMPv6 packet-too-big) reports.
 */
export function innerMtu(ctx: EncapContext, b: Uint8Array, off: number): number {
  const family = b[off]! >>> 4 === 4 ? ctx.outerFor4 : ctx.outerFor6;
  return family === 4 ? ctx.config.mtu : ctx.mtu6;
}
