// The last checks every decapsulation shares: who sent it, is the inner packet
// sound, and what its ECN field becomes (RFC 6040).

import { updateChecksum16 } from '../checksum.js';
import { DROP_ECN_CE_NOT_ECT, DROP_UNKNOWN_PEER, FORWARD } from '../drop.js';
import { decapEcn } from '../ecn.js';
import * as ip from '../header/ipv4.js';
import { innerPacketLength } from '../inner.js';
import type { DecapContext } from './context.js';

/** Sets ctx.result.peer from the outer source, or refuses an unknown sender. */
export function checkSender(ctx: DecapContext, srcAddr: number): number {
  const peer = ctx.peers.findByUnderlay(srcAddr);
  if (peer < 0 && !ctx.config.acceptUnknownPeers) return DROP_UNKNOWN_PEER;
  ctx.result.peer = peer;
  return FORWARD;
}

/** checkSender for an IPv6 outer source: the 16 bytes at src[srcOff] (from the socket's sockaddr_in6). */
export function checkSender6(ctx: DecapContext, src: Uint8Array, srcOff: number): number {
  const peer = ctx.peers.findByUnderlay6(src, srcOff);
  if (peer < 0 && !ctx.config.acceptUnknownPeers) return DROP_UNKNOWN_PEER;
  ctx.result.peer = peer;
  return FORWARD;
}

/**
 * Validates the inner packet at b[off..off+len), applies the outer ECN and
 * fills ctx.result.offset/length. Returns FORWARD or a drop code.
 */
export function deliverInner(ctx: DecapContext, b: Uint8Array, off: number, len: number, outerEcn: number): number {
  const innerLen = innerPacketLength(b, off, len);
  if (innerLen < 0) return -innerLen;
  if (b[off]! >>> 4 === 4) {
    const inner = ip.ecn(b, off);
    const next = decapEcn(inner, outerEcn);
    if (next < 0) return DROP_ECN_CE_NOT_ECT;
    if (next !== inner) setEcn4(b, off, next);
  } else {
    const inner = (b[off + 1]! >>> 4) & 0x03;
    const next = decapEcn(inner, outerEcn);
    if (next < 0) return DROP_ECN_CE_NOT_ECT;
    if (next !== inner) b[off + 1] = (b[off + 1]! & 0xcf) | (next << 4);
  }
  ctx.result.offset = off;
  ctx.result.length = innerLen;
  return FORWARD;
}

/** Rewrites the ECN bits and patches the header checksum (RFC 1624) instead of recomputing it. */
function setEcn4(b: Uint8Array, off: number, value: number): void {
  const oldWord = (b[off]! << 8) | b[off + 1]!;
  const tos = (ip.tos(b, off) & 0xfc) | value;
  ip.setTos(b, off, tos);
  const newWord = (b[off]! << 8) | tos;
  ip.setHeaderChecksum(b, off, updateChecksum16(ip.headerChecksum(b, off), oldWord, newWord));
}
