// flannel's legacy "udp" backend: the inner IP packet is the whole UDP payload
// (flannel's default port 8285). No header of its own, no VNI.
//
//   off-28       off-8  off
//   | outer IPv4 | UDP  | inner IP packet ... |

import { FORWARD } from '../drop.js';
import { IPV4_MIN_HEADER_LENGTH, PROTO_UDP } from '../header/ipv4.js';
import { UDP_HEADER_LENGTH, fillUdpChecksum4, writeUdpHeader } from '../header/udp.js';
import type { EncapContext } from './context.js';
import { writeOuterIpv4 } from './outer.js';
import { routeInner } from './route.js';

export const UDP_OVERHEAD = IPV4_MIN_HEADER_LENGTH + UDP_HEADER_LENGTH;
export const UDP_BACKEND_PORT = 8285;

export function encapUdp(ctx: EncapContext, b: Uint8Array, off: number, len: number): number {
  if (off < UDP_OVERHEAD) throw new RangeError(`udp encapsulation needs ${UDP_OVERHEAD} bytes of headroom, got ${off}`);
  const code = routeInner(ctx, b, off, len, true);
  if (code !== FORWARD) return code;
  const r = ctx.result;
  if (!ctx.config.outerHeaders) {
    r.offset = off;
    return FORWARD;
  }
  const udp = off - UDP_HEADER_LENGTH;
  const udpLen = r.length + UDP_HEADER_LENGTH;
  // flannel's udp backend sends from its own port; so does weft.
  writeUdpHeader(b, udp, ctx.config.port, ctx.config.port, udpLen);
  const outer = udp - IPV4_MIN_HEADER_LENGTH;
  writeOuterIpv4(ctx, b, outer, udpLen + IPV4_MIN_HEADER_LENGTH, PROTO_UDP, r.underlay, off, false);
  if (ctx.config.udpChecksum) fillUdpChecksum4(b, udp, ctx.config.localUnderlay, r.underlay);
  r.offset = outer;
  r.length = udpLen + IPV4_MIN_HEADER_LENGTH;
  return FORWARD;
}
