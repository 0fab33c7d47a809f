// VXLAN encapsulation (RFC 7348) of an L3 packet read from the TUN.
//
// The TUN hands us an IP packet at b[off..off+len); in the headroom before it
// we write, right to left:
//
//   off-50      off-30  off-22     off-14        off
//   | outer IPv4 | UDP  | VXLAN    | Ethernet     | inner IP packet ... |
//   |   20       |  8   |   8      | 14           |
//
// The Ethernet header is made from the peer's VTEP MAC (destination) and ours
// (source), as the kernel's VXLAN device would after its static neighbour and
// FDB entries (which is how flannel programs it). A kernel UDP socket adds
// the outer IPv4 and UDP headers itself, so with outerHeaders off we stop at
// the VXLAN header.

import { FORWARD } from '../drop.js';
import { ETHERNET_HEADER_LENGTH, ETHERTYPE_IPV4, ETHERTYPE_IPV6, setEtherType, setSrc } from '../header/ethernet.js';
import { IPV4_MIN_HEADER_LENGTH } from '../header/ipv4.js';
import { UDP_HEADER_LENGTH } from '../header/udp.js';
import { VXLAN_HEADER_LENGTH, writeVxlanHeader } from '../header/vxlan.js';
import { flowHash4, flowHash6, sourcePortFor } from '../flow-hash.js';
import type { EncapContext } from './context.js';
import { writeOuterUdp4 } from './outer.js';
import { routeInner } from './route.js';

/** Bytes VXLAN adds in front of the inner packet, outer IPv4 included (the MTU overhead). */
export const VXLAN_OVERHEAD = IPV4_MIN_HEADER_LENGTH + UDP_HEADER_LENGTH + VXLAN_HEADER_LENGTH + ETHERNET_HEADER_LENGTH;
/** Bytes in front of the inner packet when a kernel UDP socket adds IPv4 and UDP. */
export const VXLAN_PAYLOAD_OVERHEAD = VXLAN_HEADER_LENGTH + ETHERNET_HEADER_LENGTH;

/**
 * Encapsulates b[off..off+len) in place. Returns FORWARD with ctx.result
 * holding what to send, or a drop code. Needs VXLAN_OVERHEAD bytes of headroom.
 */
export function encapVxlan(ctx: EncapContext, b: Uint8Array, off: number, len: number): number {
  if (off < VXLAN_OVERHEAD) throw new RangeError(`vxlan encapsulation needs ${VXLAN_OVERHEAD} bytes of headroom, got ${off}`);
  const code = routeInner(ctx, b, off, len, true);
  if (code !== FORWARD) return code;
  const r = ctx.result;
  const innerLen = r.length;
  const v4 = b[off]! >>> 4 === 4;
  const eth = off - ETHERNET_HEADER_LENGTH;
  ctx.peers.writeMac(r.peer, b, eth);
  setSrc(b, eth, ctx.config.localMac, 0);
  setEtherType(b, eth, v4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6);
  const vx = eth - VXLAN_HEADER_LENGTH;
  writeVxlanHeader(b, vx, ctx.config.vni);
  r.flowHash = v4 ? flowHash4(b, off, innerLen) : flowHash6(b, off);
  r.sourcePort = sourcePortFor(r.flowHash);
  if (!ctx.config.outerHeaders) {
    r.offset = vx;
    r.length = innerLen + VXLAN_PAYLOAD_OVERHEAD;
    return FORWARD;
  }
  writeOuterUdp4(ctx, b, vx, innerLen + VXLAN_PAYLOAD_OVERHEAD, r.sourcePort, off);
  return FORWARD;
}
