// Anti-spoofing: may this inner packet, from this peer, enter this node?
//
// The outer checks (checkSender) only say the datagram's underlay source is
// a known node, and an underlay source is easy to forge. Without the checks
// here, anyone who can put a packet on the underlay with a node's address
// reaches every pod of this node under any source address, and, since the
// TUN hands the packet to the kernel's forwarding, through this node to
// other nodes' pods or out of the cluster: weft would relay for them. The
// kernel's VXLAN device and flannel check none of this.
//
// What a legitimate sender (weft or a kernel VXLAN / flannel peer) puts
// inside, and why each passes:
//   - source: a pod of its subnet, or its own tunnel address (the .0 of its
//     subnet: the kernel picks it for the host's own traffic and for the ICMP
//     errors its router sends back): inside its subnet, so the route table
//     maps it to the sender's peer id.
//   - destination: a pod of this node's subnet, or this node's tunnel
//     address (the .0 of our subnet, flannel.1's / weft0's address).
// A node holding two leases for a while (an old one not yet expired) has two
// routes to one peer id, so both of its subnets pass.
//
// Run after the inner packet has been validated (deliverInner): reasons for
// a malformed packet come first, and the address fields read here are sound.
// No allocation: one route lookup and two compares. IPv6 inner packets go to
// admit6.ts (same rules); a family the node does not carry (config
// innerFamilies) is dropped as family_disabled, admission on or off.

import { DROP_FAMILY_DISABLED, DROP_NOT_LOCAL, DROP_SPOOFED_SOURCE, FORWARD } from '../drop.js';
import { FAMILY_V4 } from '../family.js';
import { IPV4_SRC_OFFSET, dst, src } from '../header/ipv4.js';
import { admitInner6 } from './admit6.js';
import type { DecapContext } from './context.js';

/**
 * Checks the inner IP packet at b[off] (already validated) against the peer
 * in ctx.result.peer. Returns FORWARD or DROP_FAMILY_DISABLED,
 * DROP_SPOOFED_SOURCE, DROP_NOT_LOCAL.
 */
export function admitInner(ctx: DecapContext, b: Uint8Array, off: number): number {
  if (b[off]! >>> 4 !== 4) return admitInner6(ctx, b, off);
  // A node without IPv4 pods (IPv6 only) takes none, with or without admission.
  if ((ctx.families & FAMILY_V4) === 0) return DROP_FAMILY_DISABLED;
  const a = ctx.config.admission;
  if (a === null) return FORWARD;
  // The source's owner, by the route table (-1: no node's subnet). With
  // --accept-unknown-peers an unknown sender is peer -1, so it passes only
  // with a source no known node owns.
  if (a.routes.lookup(b, off + IPV4_SRC_OFFSET) !== ctx.result.peer) return DROP_SPOOFED_SOURCE;
  // Our own pods never reach us through the tunnel: a source in our subnet
  // is forged (the route table holds no route for our own subnet).
  if (((src(b, off) & a.mask) >>> 0) === a.subnet) return DROP_SPOOFED_SOURCE;
  if (((dst(b, off) & a.mask) >>> 0) !== a.subnet) return DROP_NOT_LOCAL;
  return FORWARD;
}

