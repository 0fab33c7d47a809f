// VXLAN decapsulation of a UDP payload received on the VXLAN port.
//
//   off     off+8      off+22
//   | VXLAN | Ethernet | inner IP packet ... |
//
// Checks, in order (first failure is the reason): length, I flag, VNI, sender
// is a known node, inner destination MAC is ours, no VLAN tag, EtherType is
// IP, inner packet sound, TTL non-zero, ECN combination allowed, then
// admission (admit.ts: inner IPv4, its source the sender's, its destination
// ours). Reserved bits are ignored (RFC 7348 §5). Never throws on any input.
//
// decapVxlan6 is the same for a datagram that came over the IPv6 underlay:
// the sender is looked up by its IPv6 address, and the inner destination MAC
// must be our v6 device's (localMac6). Either inner family may ride either.

import { DROP_BAD_FLAGS, DROP_BAD_INNER, DROP_BAD_VNI, DROP_NOT_FOR_US, DROP_NOT_IP, DROP_SHORT, DROP_VLAN_TAGGED, FORWARD } from '../drop.js';
import { ECN_UNKNOWN } from '../ecn.js';
import { ETHERNET_HEADER_LENGTH, ETHERTYPE_IPV4, ETHERTYPE_IPV6, dstEquals, etherType, isVlanTagged } from '../header/ethernet.js';
import { IPV4_MIN_HEADER_LENGTH } from '../header/ipv4.js';
import { VXLAN_HEADER_LENGTH, hasValidVniFlag, vni } from '../header/vxlan.js';
import { admitInner } from './admit.js';
import type { DecapContext } from './context.js';
import { checkSender, checkSender6, deliverInner } from './deliver.js';

const MIN_LENGTH = VXLAN_HEADER_LENGTH + ETHERNET_HEADER_LENGTH + IPV4_MIN_HEADER_LENGTH;

/**
 * srcAddr: the outer source address (u32) the socket reported.
 * outerEcn: the outer ECN bits if known (IP_RECVTOS), else ECN_UNKNOWN.
 */
export function decapVxlan(
  ctx: DecapContext,
  b: Uint8Array,
  off: number,
  len: number,
  srcAddr: number,
  outerEcn: number = ECN_UNKNOWN,
): number {
  if (len < MIN_LENGTH) return DROP_SHORT;
  if (!hasValidVniFlag(b, off)) return DROP_BAD_FLAGS;
  if (vni(b, off) !== ctx.config.vni) return DROP_BAD_VNI;
  const sender = checkSender(ctx, srcAddr);
  if (sender !== FORWARD) return sender;
  return decapFrame(ctx, b, off, len, outerEcn, ctx.config.localMac);
}

/** decapVxlan for a datagram from the IPv6 source src[srcOff..srcOff+16). */
export function decapVxlan6(
  ctx: DecapContext,
  b: Uint8Array,
  off: number,
  len: number,
  src: Uint8Array,
  srcOff: number,
  outerEcn: number = ECN_UNKNOWN,
): number {
  if (len < MIN_LENGTH) return DROP_SHORT;
  if (!hasValidVniFlag(b, off)) return DROP_BAD_FLAGS;
  if (vni(b, off) !== ctx.config.vni) return DROP_BAD_VNI;
  const sender = checkSender6(ctx, src, srcOff);
  if (sender !== FORWARD) return sender;
  return decapFrame(ctx, b, off, len, outerEcn, ctx.localMac6);
}

// Everything after the sender check: the inner Ethernet frame and IP packet.
function decapFrame(ctx: DecapContext, b: Uint8Array, off: number, len: number, outerEcn: number, localMac: Uint8Array): number {
  const eth = off + VXLAN_HEADER_LENGTH;
  if (!dstEquals(b, eth, localMac, 0)) return DROP_NOT_FOR_US;
  if (isVlanTagged(b, eth)) return DROP_VLAN_TAGGED;
  const type = etherType(b, eth);
  if (type !== ETHERTYPE_IPV4 && type !== ETHERTYPE_IPV6) return DROP_NOT_IP;
  const inner = eth + ETHERNET_HEADER_LENGTH;
  // The EtherType and the IP version nibble must agree.
  if ((type === ETHERTYPE_IPV4) !== (b[inner]! >>> 4 === 4)) return DROP_BAD_INNER;
  const code = deliverInner(ctx, b, inner, len - (inner - off), outerEcn);
  return code !== FORWARD ? code : admitInner(ctx, b, inner);
}
