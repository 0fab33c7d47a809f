// The steps before any header is written: validate the inner packet, find the
// peer that owns its destination, and check it fits the tunnel MTU.

import { DROP_NO_ROUTE, DROP_TOO_BIG, DROP_UNSUPPORTED_FAMILY, FORWARD } from '../drop.js';
import { IPV4_DST_OFFSET, dontFragment } from '../header/ipv4.js';
import { innerPacketLength } from '../inner.js';
import type { EncapContext } from './context.js';

/** Offset of the destination address in the IPv6 fixed header (RFC 8200 §3). */
const IPV6_DST_OFFSET = 24;

/**
 * Fills ctx.result.peer, .underlay and .length (the inner length) and returns
 * FORWARD, or returns a drop code. DROP_TOO_BIG means the caller should answer
 * with ICMP "fragmentation needed" (see ../icmp-too-big.ts).
 */
export function routeInner(ctx: EncapContext, b: Uint8Array, off: number, len: number, allowV6: boolean): number {
  const innerLen = innerPacketLength(b, off, len);
  if (innerLen < 0) return -innerLen;
  const r = ctx.result;
  let peer: number;
  if (b[off]! >>> 4 === 4) {
    peer = ctx.routes4.lookup(b, off + IPV4_DST_OFFSET);
    // RFC 2003 §3.1 / RFC 1191: a DF packet that does not fit is refused;
    // without DF the outer packet may be fragmented on the underlay.
    if (peer >= 0 && innerLen > ctx.config.mtu && dontFragment(b, off)) return DROP_TOO_BIG;
  } else {
    if (!allowV6 || ctx.routes6 === null) return DROP_UNSUPPORTED_FAMILY;
    peer = ctx.routes6.lookup(b, off + IPV6_DST_OFFSET);
    // IPv6 is never fragmented by routers (RFC 8200 §5).
    if (peer >= 0 && innerLen > ctx.config.mtu) return DROP_TOO_BIG;
  }
  if (peer < 0) return DROP_NO_ROUTE;
  r.peer = peer;
  r.underlay = ctx.peers.underlayOf(peer);
  r.length = innerLen;
  return FORWARD;
}
