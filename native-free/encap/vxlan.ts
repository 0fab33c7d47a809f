// VXLAN encapsulation (RFC 7348) of an L3 packet read from the TUN.
//
// The TUN hands us an IP packet at b[off..off+len); in the headroom before it
// we write, right to left:
//
//   off-50      off-30  off-22     off-14        off
//   | outer IPv4 | UDP  | VXLAN    | Ethernet     | inner IP packet ... |
//   |   20       |  8   |   8      | 14           |
//
// Over an IPv6 underlay the outer header is IPv6 (outer6.ts), 20 bytes more:
//
//   off-70      off-30  off-22     off-14        off
//   | outer IPv6 | UDP  | VXLAN    | Ethernet     | inner IP packet ... |
//
// The Ethernet header is made from the peer's VTEP MAC (destination) and ours
// (source), as the kernel's VXLAN device would after its static neighbour and
// FDB entries (which is how flannel programs it). Over the IPv6 underlay the
// MACs are those of the v6 devices (flannel-v6.1 has its own MAC, advertised
// as BackendV6Data.VtepMAC). A kernel UDP socket adds the outer IP and UDP
// headers itself, so with outerHeaders off we stop at the VXLAN header.

import { FORWARD } from '../drop.js';
import { ETHERNET_HEADER_LENGTH, ETHERTYPE_IPV4, ETHERTYPE_IPV6, setEtherType, setSrc } from '../header/ethernet.js';
import { IPV4_MIN_HEADER_LENGTH } from '../header/ipv4.js';
import { UDP_HEADER_LENGTH } from '../header/udp.js';
import { VXLAN_HEADER_LENGTH, writeVxlanHeader } from '../header/vxlan.js';
import { flowHash4, flowHash6, sourcePortFor } from '../flow-hash.js';
import { IPV6_HEADER_LEN } from '../header/ipv6.js';
import type { EncapContext } from './context.js';
import { writeOuterUdp4 } from './outer.js';
import { writeOuterUdp6 } from './outer6.js';
import { routeInner } from './route.js';

/** Bytes VXLAN adds in front of the inner packet, outer IPv4 included (the MTU overhead). */
export const VXLAN_OVERHEAD = IPV4_MIN_HEADER_LENGTH + UDP_HEADER_LENGTH + VXLAN_HEADER_LENGTH + ETHERNET_HEADER_LENGTH;
/** Bytes in front of the inner packet when a kernel UDP socket adds IPv4 and UDP. */
export const VXLAN_PAYLOAD_OVERHEAD = VXLAN_HEADER_LENGTH + ETHERNET_HEADER_LENGTH;
/** The MTU overhead over an IPv6 underlay (70), and the headroom encapVxlan needs then with outerHeaders. */
export const VXLAN6_OVERHEAD = IPV6_HEADER_LEN + UDP_HEADER_LENGTH + VXLAN_HEADER_LENGTH + ETHERNET_HEADER_LENGTH;

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
  const outer4 = r.family === 4;
  if (outer4) {
    ctx.peers.writeMac(r.peer, b, eth);
    setSrc(b, eth, ctx.config.localMac, 0);
  } else {
    ctx.peers.writeMac6(r.peer, b, eth);
    setSrc(b, eth, ctx.localMac6, 0);
  }
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
  if (outer4) writeOuterUdp4(ctx, b, vx, innerLen + VXLAN_PAYLOAD_OVERHEAD, r.sourcePort, off);
  else {
    if (off < VXLAN6_OVERHEAD) throw new RangeError(`vxlan encapsulation over IPv6 needs ${VXLAN6_OVERHEAD} bytes of headroom, got ${off}`);
    writeOuterUdp6(ctx, b, vx, innerLen + VXLAN_PAYLOAD_OVERHEAD, r.sourcePort, off, r.flowHash);
  }
  return FORWARD;
}
