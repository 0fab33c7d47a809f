// Anti-spoofing for IPv6 inner packets: the same rules as admit.ts for IPv4,
// read against the IPv6 route table and this node's IPv6 subnet.
//
// What a legitimate sender puts inside, and why each passes:
//   - source: a pod of its IPv6 subnet, or its own tunnel address (flannel
//     gives flannel-v6.1 the first address of the node's IPv6 subnet, /128;
//     the kernel picks it for the host's own traffic and its ICMPv6 errors):
//     inside its subnet, so the IPv6 route table maps it to the sender.
//   - destination: a pod of our IPv6 subnet or our tunnel address.
// Link-local (fe80::/10) and multicast addresses are in no node's subnet, so
// they are refused: flannel programs static neighbours (no Neighbor
// Discovery crosses the tunnel) and forwards no multicast.
//
// Run after deliverInner has validated the inner IPv6 header (40 bytes, the
// payload length within the buffer), so the 32 address bytes read here exist.

import { DROP_FAMILY_DISABLED, DROP_NOT_LOCAL, DROP_SPOOFED_SOURCE, FORWARD } from '../drop.js';
import { FAMILY_V6 } from '../family.js';
import type { DecapContext } from './context.js';

const SRC = 8;
const DST = 24;

/** Whether the 16 bytes at b[off] lie in net/prefix (net: 16 bytes, host bits zero). */
export function inPrefix6(b: Uint8Array, off: number, net: Uint8Array, prefix: number): boolean {
  const full = prefix >>> 3;
  for (let i = 0; i < full; i++) if (b[off + i] !== net[i]) return false;
  const rest = prefix & 7;
  if (rest === 0) return true;
  const m = (0xff00 >>> rest) & 0xff;
  return (b[off + full]! & m) === net[full];
}

/**
 * Checks the validated inner IPv6 packet at b[off] against the peer in
 * ctx.result.peer. Returns FORWARD or DROP_FAMILY_DISABLED,
 * DROP_SPOOFED_SOURCE, DROP_NOT_LOCAL.
 */
export function admitInner6(ctx: DecapContext, b: Uint8Array, off: number): number {
  if ((ctx.families & FAMILY_V6) === 0) return DROP_FAMILY_DISABLED;
  const routes6 = ctx.routes6;
  if (routes6 === null) return FORWARD; // admission off (--spoof-check=false)
  if (routes6.lookup(b, off + SRC) !== ctx.result.peer) return DROP_SPOOFED_SOURCE;
  // No route exists for our own subnet: a source inside it is forged.
  if (inPrefix6(b, off + SRC, ctx.subnet6, ctx.prefix6)) return DROP_SPOOFED_SOURCE;
  if (!inPrefix6(b, off + DST, ctx.subnet6, ctx.prefix6)) return DROP_NOT_LOCAL;
  return FORWARD;
}
