// TCP/IPv6 and UDP/IPv6 packets and super-packets as a TUN read gives them
// (virtio_net_hdr first), and their checksums, built and checked here field
// by field with a plain word sum (wordSum, tcp4.ts), not by the engine.
import fc from 'fast-check';

import { VNET, wordSum } from './tcp4.js';

export const TCP = 6;
export const UDP = 17;

export interface Spec6 {
  src: Uint8Array; // 16 bytes
  dst: Uint8Array;
  tc: number;
  flow: number;
  hop: number;
  /** IPv6 next header (default: the protocol). */
  nextHeader?: number;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  tcpOptions: Uint8Array;
  payload: Uint8Array;
  gsoSize: number;
}

export const u16 = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;
export const u32 = (b: Uint8Array, o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

/** RFC 8200 §8.1 pseudo-header sum: addresses, upper-layer length, next header. */
export function pseudo6(pkt: Uint8Array, proto: number, len: number): number {
  return wordSum(pkt.subarray(8, 40), proto + len);
}

function ipv6Header(p: Uint8Array, s: Spec6, proto: number, plen: number): void {
  p[0] = 0x60 | (s.tc >> 4);
  p[1] = ((s.tc & 15) << 4) | ((s.flow >> 16) & 15);
  p[2] = (s.flow >> 8) & 255;
  p[3] = s.flow & 255;
  p[4] = plen >> 8;
  p[5] = plen & 255;
  p[6] = s.nextHeader ?? proto;
  p[7] = s.hop;
  p.set(s.src, 8);
  p.set(s.dst, 24);
}

/** The TCP/IPv6 packet, its TCP checksum field full, partial (pseudo-header sum only) or `damaged` (full, then a payload bit flipped). */
export function tcp6Packet(s: Omit<Spec6, 'gsoSize'>, check: 'full' | 'partial' | 'damaged'): Uint8Array {
  const thl = 20 + s.tcpOptions.length;
  const plen = thl + s.payload.length;
  const p = new Uint8Array(40 + plen);
  ipv6Header(p, s as Spec6, TCP, plen);
  const t = 40;
  p[t] = s.sport >> 8;
  p[t + 1] = s.sport & 255;
  p[t + 2] = s.dport >> 8;
  p[t + 3] = s.dport & 255;
  for (let i = 0; i < 4; i++) {
    p[t + 4 + i] = (s.seq >>> (24 - 8 * i)) & 255;
    p[t + 8 + i] = (s.ack >>> (24 - 8 * i)) & 255;
  }
  p[t + 12] = (thl >> 2) << 4;
  p[t + 13] = s.flags;
  p[t + 14] = s.window >> 8;
  p[t + 15] = s.window & 255;
  p.set(s.tcpOptions, t + 20);
  p.set(s.payload, t + thl);
  const ps = pseudo6(p, TCP, plen);
  const c = check === 'partial' ? ps : ~wordSum(p.subarray(t), ps) & 0xffff;
  p[t + 16] = c >> 8;
  p[t + 17] = c & 255;
  if (check === 'damaged') p[p.length - 1]! ^= 0x10;
  return p;
}

/** The UDP/IPv6 datagram with its checksum field full, partial, or zero. */
export function udp6Packet(s: Omit<Spec6, 'gsoSize'>, check: 'full' | 'partial' | 'zero' | 'damaged'): Uint8Array {
  const plen = 8 + s.payload.length;
  const p = new Uint8Array(40 + plen);
  ipv6Header(p, s as Spec6, UDP, plen);
  p[40] = s.sport >> 8;
  p[41] = s.sport & 255;
  p[42] = s.dport >> 8;
  p[43] = s.dport & 255;
  p[44] = plen >> 8;
  p[45] = plen & 255;
  p.set(s.payload, 48);
  const ps = pseudo6(p, UDP, plen);
  let c = check === 'partial' ? ps : check === 'zero' ? 0 : ~wordSum(p.subarray(40), ps) & 0xffff;
  if (check !== 'zero' && c === 0) c = 0xffff;
  p[46] = c >> 8;
  p[47] = c & 255;
  if (check === 'damaged') p[p.length - 1]! ^= 0x10;
  return p;
}

function withVnet(pkt: Uint8Array, gsoType: number, hdrLen: number, gsoSize: number, csumOffset: number): Uint8Array {
  const out = new Uint8Array(VNET + pkt.length);
  const le = (at: number, v: number) => {
    out[at] = v & 255;
    out[at + 1] = v >> 8;
  };
  out[0] = 1; // NEEDS_CSUM
  out[1] = gsoType;
  le(2, hdrLen);
  le(4, gsoSize);
  le(6, 40);
  le(8, csumOffset);
  out.set(pkt, VNET);
  return out;
}

/** virtio_net_hdr (GSO_TCPV6 = 4 unless told, NEEDS_CSUM at 40+16) + the super-packet with its partial checksum. */
export function tcp6Super(s: Spec6, gsoType = 4): Uint8Array {
  return withVnet(tcp6Packet(s, 'partial'), gsoType, 40 + 20 + s.tcpOptions.length, s.gsoSize, 16);
}

/** virtio_net_hdr (GSO_UDP_L4 = 5, NEEDS_CSUM at 40+6) + the UDP super-packet with its partial checksum. */
export function udp6Super(s: Spec6): Uint8Array {
  return withVnet(udp6Packet(s, 'partial'), 5, 48, s.gsoSize, 6);
}

export function tcp6ChecksumOk(pkt: Uint8Array): boolean {
  const plen = u16(pkt, 4);
  return wordSum(pkt.subarray(40, 40 + plen), pseudo6(pkt, TCP, plen)) === 0xffff;
}

/** Full UDP/IPv6 checksum verifies, and is not 0 (invalid over IPv6). */
export function udp6ChecksumOk(pkt: Uint8Array): boolean {
  const plen = u16(pkt, 4);
  return u16(pkt, 46) !== 0 && wordSum(pkt.subarray(40, 40 + plen), pseudo6(pkt, UDP, plen)) === 0xffff;
}

export const addr = (...words: number[]): Uint8Array => {
  const a = new Uint8Array(16);
  words.forEach((w, i) => {
    a[2 * i] = w >> 8;
    a[2 * i + 1] = w & 255;
  });
  return a;
};

export function base6(over: Partial<Spec6> = {}): Spec6 {
  return {
    src: addr(0xfd00, 0, 0, 1, 0, 0, 0, 5),
    dst: addr(0xfd00, 0, 0, 2, 0, 0, 0, 7),
    tc: 0xb8,
    flow: 0x9abcd,
    hop: 63,
    sport: 40000,
    dport: 5201,
    seq: 0x10000000,
    ack: 0x20000000,
    flags: 0x18,
    window: 502,
    tcpOptions: Uint8Array.from([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]),
    payload: Uint8Array.from({ length: 10000 }, (_, i) => (i * 7 + 3) & 255),
    gsoSize: 1428,
    ...over,
  };
}

const words = (max: number) => fc.integer({ min: 0, max }).chain((k) => fc.uint8Array({ minLength: 4 * k, maxLength: 4 * k }));

/** Random valid TCP/IPv6 super-packet specs. */
export const spec6Arb = (o: { flags?: fc.Arbitrary<number>; maxPayload?: number; minPayload?: number } = {}) =>
  fc.record({
    src: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    dst: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    tc: fc.nat({ max: 255 }),
    flow: fc.nat({ max: 0xfffff }),
    hop: fc.integer({ min: 1, max: 255 }),
    sport: fc.nat({ max: 0xffff }),
    dport: fc.nat({ max: 0xffff }),
    seq: fc.nat({ max: 0xffffffff }),
    ack: fc.nat({ max: 0xffffffff }),
    flags: o.flags ?? fc.constantFrom(0x10, 0x18, 0x11, 0x10 | 0x08 | 0x01, 0x10 | 0x80, 0x50, 0xd8),
    window: fc.nat({ max: 0xffff }),
    tcpOptions: words(10),
    payload: fc.uint8Array({ minLength: o.minPayload ?? 0, maxLength: o.maxPayload ?? 9000 }),
    gsoSize: fc.oneof(fc.integer({ min: 64, max: 1800 }), fc.constantFrom(536, 1428, 1440)),
  });
