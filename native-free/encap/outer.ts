// The outer IPv4 header every backend writes when it builds whole packets.

import * as ip from '../header/ipv4.js';
import { UDP_HEADER_LENGTH, fillUdpChecksum4, writeUdpHeader } from '../header/udp.js';
import type { EncapContext } from './context.js';

/**
 * Writes a 20-byte outer IPv4 header at b[at..at+20) for a packet of
 * totalLen bytes whose inner packet starts at inner. ECN is copied from the
 * inner header (RFC 6040 §4.1 normal mode). copyDf: IP-in-IP must copy DF from
 * the inner header (RFC 2003 §3.1); VXLAN leaves it clear, as the kernel's
 * VXLAN does by default (df unset), so the underlay may fragment.
 */
export function writeOuterIpv4(
  ctx: EncapContext,
  b: Uint8Array,
  at: number,
  totalLen: number,
  proto: number,
  dst: number,
  inner: number,
  copyDf: boolean,
): void {
  const v4 = b[inner]! >>> 4 === 4;
  const innerEcn = v4 ? ip.ecn(b, inner) : (b[inner + 1]! >>> 4) & 0x03;
  ip.setVersionIhl(b, at, ip.IPV4_MIN_HEADER_LENGTH);
  ip.setTos(b, at, innerEcn);
  ip.setTotalLength(b, at, totalLen);
  ip.setId(b, at, ctx.nextId);
  ctx.nextId = (ctx.nextId + 1) & 0xffff;
  ip.setFlagsFragment(b, at, copyDf && v4 && ip.dontFragment(b, inner), false, 0);
  ip.setTtl(b, at, ctx.config.ttl);
  ip.setProtocol(b, at, proto);
  ip.setSrc(b, at, ctx.config.localUnderlay);
  ip.setDst(b, at, dst);
  ip.fillHeaderChecksum(b, at);
}

/**
 * Writes outer IPv4 + UDP in front of `payload` (the first byte after the UDP
 * header), for `payloadLen` bytes, and sets ctx.result.offset/length to the
 * whole outer packet. The inner IP packet starts at `inner`.
 */
export function writeOuterUdp4(ctx: EncapContext, b: Uint8Array, payload: number, payloadLen: number, sport: number, inner: number): void {
  const r = ctx.result;
  const udp = payload - UDP_HEADER_LENGTH;
  const udpLen = payloadLen + UDP_HEADER_LENGTH;
  writeUdpHeader(b, udp, sport, ctx.config.port, udpLen);
  const outer = udp - ip.IPV4_MIN_HEADER_LENGTH;
  writeOuterIpv4(ctx, b, outer, udpLen + ip.IPV4_MIN_HEADER_LENGTH, ip.PROTO_UDP, r.underlay, inner, false);
  if (ctx.config.udpChecksum) fillUdpChecksum4(b, udp, ctx.config.localUnderlay, r.underlay);
  r.offset = outer;
  r.length = udpLen + ip.IPV4_MIN_HEADER_LENGTH;
}
