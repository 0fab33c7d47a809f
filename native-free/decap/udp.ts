// Decapsulation for flannel's legacy "udp" backend: the UDP payload is the
// inner IP packet. Only the sender, the inner packet and its addresses
// (admit.ts) can be checked.

import { DROP_SHORT, FORWARD } from '../drop.js';
import { ECN_UNKNOWN } from '../ecn.js';
import { IPV4_MIN_HEADER_LENGTH } from '../header/ipv4.js';
import { admitInner } from './admit.js';
import type { DecapContext } from './context.js';
import { checkSender, checkSender6, deliverInner } from './deliver.js';

export function decapUdp(
  ctx: DecapContext,
  b: Uint8Array,
  off: number,
  len: number,
  srcAddr: number,
  outerEcn: number = ECN_UNKNOWN,
): number {
  if (len < IPV4_MIN_HEADER_LENGTH) return DROP_SHORT;
  const sender = checkSender(ctx, srcAddr);
  if (sender !== FORWARD) return sender;
  const code = deliverInner(ctx, b, off, len, outerEcn);
  return code !== FORWARD ? code : admitInner(ctx, b, off);
}

/** decapUdp for a datagram from the IPv6 source src[srcOff..srcOff+16). */
export function decapUdp6(
  ctx: DecapContext,
  b: Uint8Array,
  off: number,
  len: number,
  src: Uint8Array,
  srcOff: number,
  outerEcn: number = ECN_UNKNOWN,
): number {
  if (len < IPV4_MIN_HEADER_LENGTH) return DROP_SHORT;
  const sender = checkSender6(ctx, src, srcOff);
  if (sender !== FORWARD) return sender;
  const code = deliverInner(ctx, b, off, len, outerEcn);
  return code !== FORWARD ? code : admitInner(ctx, b, off);
}
