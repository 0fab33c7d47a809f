// flannel's legacy "udp" backend: the inner IP packet is the whole UDP payload
// (flannel's default port 8285). No header of its own, no VNI.
//
//   off-28       off-8  off
//   | outer IPv4 | UDP  | inner IP packet ... |
//
// flannel's udp backend is IPv4 only; over an IPv6 underlay (weft's own, for
// weft peers) the outer header is IPv6 (outer6.ts), off-48.

import { FORWARD } from '../drop.js';
import { IPV4_MIN_HEADER_LENGTH } from '../header/ipv4.js';
import { IPV6_HEADER_LEN } from '../header/ipv6.js';
import { UDP_HEADER_LENGTH } from '../header/udp.js';
import { flowHash4, flowHash6 } from '../flow-hash.js';
import type { EncapContext } from './context.js';
import { writeOuterUdp4 } from './outer.js';
import { writeOuterUdp6 } from './outer6.js';
import { routeInner } from './route.js';

export const UDP_OVERHEAD = IPV4_MIN_HEADER_LENGTH + UDP_HEADER_LENGTH;
export const UDP_BACKEND_PORT = 8285;
/** Overhead (and headroom with outerHeaders) over an IPv6 underlay. */
export const UDP6_OVERHEAD = IPV6_HEADER_LEN + UDP_HEADER_LENGTH;

export function encapUdp(ctx: EncapContext, b: Uint8Array, off: number, len: number): number {
  if (off < UDP_OVERHEAD) throw new RangeError(`udp encapsulation needs ${UDP_OVERHEAD} bytes of headroom, got ${off}`);
  const code = routeInner(ctx, b, off, len, true);
  if (code !== FORWARD) return code;
  const r = ctx.result;
  r.flowHash = b[off]! >>> 4 === 4 ? flowHash4(b, off, r.length) : flowHash6(b, off);
  if (!ctx.config.outerHeaders) {
    r.offset = off;
    return FORWARD;
  }
  // flannel's udp backend sends from its own port; so does a whole packet
  // built here (pcap, trace). A worker may send from another port, picked by
  // r.flowHash (flannel's receiver reads with recv() and never looks at it).
  if (r.family === 4) {
    writeOuterUdp4(ctx, b, off, r.length, ctx.config.port, off);
    return FORWARD;
  }
  if (off < UDP6_OVERHEAD) throw new RangeError(`udp encapsulation over IPv6 needs ${UDP6_OVERHEAD} bytes of headroom, got ${off}`);
  // Over IPv6 the flow label spreads flows too.
  writeOuterUdp6(ctx, b, off, r.length, ctx.config.port, off, r.flowHash);
  return FORWARD;
}
