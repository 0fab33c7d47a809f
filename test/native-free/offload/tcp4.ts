// TCP/IPv4 super-packets as a TUN read gives them (virtio_net_hdr first),
// and checksums, built and checked here field by field, not by the engine.
import fc from 'fast-check';

export interface SuperSpec {
  src: number;
  dst: number;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  /** TCP flag byte (CWR..FIN). */
  flags: number;
  window: number;
  id: number;
  tos: number;
  ttl: number;
  df: boolean;
  ipOptions: Uint8Array;
  tcpOptions: Uint8Array;
  payload: Uint8Array;
  gsoSize: number;
  /** virtio gso_type (default TCPV4 = 1). */
  gsoType?: number;
}

export const VNET = 10;

/** Ones'-complement sum of 16-bit big-endian words, folded (odd tail padded with zero). */
export function wordSum(b: Uint8Array, initial = 0): number {
  let s = initial;
  for (let i = 0; i < b.length; i += 2) s += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

export function pseudo(src: number, dst: number, len: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + 6 + len;
}

const u32 = (b: Uint8Array, o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
const u16 = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;

export function ipv4HeaderOk(pkt: Uint8Array): boolean {
  const ihl = (pkt[0]! & 15) * 4;
  return wordSum(pkt.subarray(0, ihl)) === 0xffff;
}

export function tcpChecksumOk(pkt: Uint8Array): boolean {
  const ihl = (pkt[0]! & 15) * 4;
  const total = u16(pkt, 2);
  return wordSum(pkt.subarray(ihl, total), pseudo(u32(pkt, 12), u32(pkt, 16), total - ihl)) === 0xffff;
}

export interface Parsed {
  ihl: number;
  total: number;
  id: number;
  tos: number;
  ttl: number;
  flagsFrag: number;
  src: number;
  dst: number;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  thl: number;
  flags: number;
  window: number;
  check: number;
  urg: number;
  ipOptions: Uint8Array;
  tcpOptions: Uint8Array;
  payload: Uint8Array;
}

export function parse(pkt: Uint8Array): Parsed {
  const ihl = (pkt[0]! & 15) * 4;
  const t = ihl;
  const thl = (pkt[t + 12]! >> 4) * 4;
  const total = u16(pkt, 2);
  return {
    ihl,
    total,
    id: u16(pkt, 4),
    tos: pkt[1]!,
    ttl: pkt[8]!,
    flagsFrag: u16(pkt, 6),
    src: u32(pkt, 12),
    dst: u32(pkt, 16),
    sport: u16(pkt, t),
    dport: u16(pkt, t + 2),
    seq: u32(pkt, t + 4),
    ack: u32(pkt, t + 8),
    thl,
    flags: pkt[t + 13]!,
    window: u16(pkt, t + 14),
    check: u16(pkt, t + 16),
    urg: u16(pkt, t + 18),
    ipOptions: pkt.slice(20, ihl),
    tcpOptions: pkt.slice(t + 20, t + thl),
    payload: pkt.slice(t + thl, total),
  };
}

/** The IPv4/TCP packet with the TCP checksum field holding `check`. */
export function tcp4Packet(s: Omit<SuperSpec, 'gsoSize' | 'gsoType'>, check: 'full' | 'partial'): Uint8Array {
  const ihl = 20 + s.ipOptions.length;
  const thl = 20 + s.tcpOptions.length;
  const total = ihl + thl + s.payload.length;
  const p = new Uint8Array(total);
  p[0] = 0x40 | (ihl >> 2);
  p[1] = s.tos;
  p[2] = total >> 8;
  p[3] = total & 255;
  p[4] = s.id >> 8;
  p[5] = s.id & 255;
  p[6] = s.df ? 0x40 : 0;
  p[8] = s.ttl;
  p[9] = 6;
  for (let i = 0; i < 4; i++) {
    p[12 + i] = (s.src >>> (24 - 8 * i)) & 255;
    p[16 + i] = (s.dst >>> (24 - 8 * i)) & 255;
  }
  p.set(s.ipOptions, 20);
  const ipc = ~wordSum(p.subarray(0, ihl)) & 0xffff;
  p[10] = ipc >> 8;
  p[11] = ipc & 255;
  const t = ihl;
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
  const ps = pseudo(s.src, s.dst, total - ihl);
  const c = check === 'partial' ? wordSum(new Uint8Array(0), ps) : ~wordSum(p.subarray(t), ps) & 0xffff;
  p[t + 16] = c >> 8;
  p[t + 17] = c & 255;
  return p;
}

/** virtio_net_hdr (GSO TCPV4, NEEDS_CSUM, little-endian) + the super-packet with its partial checksum. */
export function superPacket(s: SuperSpec): Uint8Array {
  const pkt = tcp4Packet(s, 'partial');
  const ihl = 20 + s.ipOptions.length;
  const thl = 20 + s.tcpOptions.length;
  const out = new Uint8Array(VNET + pkt.length);
  const le = (at: number, v: number) => {
    out[at] = v & 255;
    out[at + 1] = v >> 8;
  };
  out[0] = 1;
  out[1] = s.gsoType ?? 1;
  le(2, ihl + thl);
  le(4, s.gsoSize);
  le(6, ihl);
  le(8, 16);
  out.set(pkt, VNET);
  return out;
}

export function baseSpec(over: Partial<SuperSpec> = {}): SuperSpec {
  return {
    src: 0x0af40105,
    dst: 0x0af40207,
    sport: 40000,
    dport: 5201,
    seq: 0x10000000,
    ack: 0x20000000,
    flags: 0x18,
    window: 502,
    id: 0x4321,
    tos: 0,
    ttl: 64,
    df: true,
    ipOptions: new Uint8Array(0),
    tcpOptions: Uint8Array.from([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]),
    payload: Uint8Array.from({ length: 10000 }, (_, i) => (i * 7 + 3) & 255),
    gsoSize: 1448,
    ...over,
  };
}

/** Random valid super-packet specs: flags from ACK, PSH, FIN, CWR, ECE; payload up to maxPayload. */
const words = (max: number) => fc.integer({ min: 0, max }).chain((k) => fc.uint8Array({ minLength: 4 * k, maxLength: 4 * k }));

export const superSpecArb = (o: { ipOptions?: boolean; flags?: fc.Arbitrary<number>; maxPayload?: number; minPayload?: number } = {}) =>
  fc.record({
    src: fc.nat({ max: 0xffffffff }),
    dst: fc.nat({ max: 0xffffffff }),
    sport: fc.nat({ max: 0xffff }),
    dport: fc.nat({ max: 0xffff }),
    seq: fc.nat({ max: 0xffffffff }),
    ack: fc.nat({ max: 0xffffffff }),
    flags: o.flags ?? fc.constantFrom(0x10, 0x18, 0x11, 0x10 | 0x08 | 0x01, 0x10 | 0x80, 0x50, 0xd8),
    window: fc.nat({ max: 0xffff }),
    id: fc.nat({ max: 0xffff }),
    tos: fc.nat({ max: 255 }),
    ttl: fc.integer({ min: 1, max: 255 }),
    df: o.ipOptions === false ? fc.constant(true) : fc.boolean(),
    ipOptions: o.ipOptions === false ? fc.constant(new Uint8Array(0)) : words(10),
    tcpOptions: words(10),
    payload: fc.uint8Array({ minLength: o.minPayload ?? 0, maxLength: o.maxPayload ?? 9000 }),
    gsoSize: fc.oneof(fc.integer({ min: 64, max: 1800 }), fc.constantFrom(536, 1448, 1460)),
  });

