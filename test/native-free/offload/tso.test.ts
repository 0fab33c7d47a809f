import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  OFFLOAD_BAD_IP,
  OFFLOAD_BAD_TCP,
  OFFLOAD_NOT_TCP,
  OFFLOAD_OK,
  OFFLOAD_REASON_COUNT,
  OFFLOAD_SEGMENT_TOO_BIG,
  OFFLOAD_TOO_MANY_SEGMENTS,
  OFFLOAD_NOT_UDP,
  OFFLOAD_UNSUPPORTED_GSO,
  VNET_BAD_GSO_SIZE,
} from '../../../native-free/offload/reasons.js';
import { type TsoSlab, createOffloadResult, createTsoSlab, tunReadToPackets } from '../../../native-free/offload/tso.js';
import { type SuperSpec, VNET, baseSpec, superSpecArb, ipv4HeaderOk, parse, superPacket, tcp4Packet, tcpChecksumOk, wordSum } from './tcp4.js';

const HEADROOM = 64;
const FIN = 1;
const PSH = 8;
const ACK = 0x10;
const CWR = 0x80;
const ECE = 0x40;

function segments(read: Uint8Array, slab: TsoSlab = createTsoSlab(160, 1900, HEADROOM, 2048)) {
  const r = createOffloadResult(160);
  const code = tunReadToPackets(read, 0, read.length, slab, r);
  const pkts: Uint8Array[] = [];
  if (code === OFFLOAD_OK) for (let i = 0; i < r.count; i++) pkts.push(r.buf.slice(r.offsets[i]!, r.offsets[i]! + r.lengths[i]!));
  return { code, r, pkts, slab };
}

/** Every property a segmentation of `s` must have. */
function checkSegmentation(s: SuperSpec, pkts: Uint8Array[]): void {
  const n = s.payload.length;
  const count = n === 0 ? 1 : Math.ceil(n / s.gsoSize);
  expect(pkts.length).toBe(count);
  const joined: number[] = [];
  pkts.forEach((pkt, i) => {
    const p = parse(pkt);
    expect(ipv4HeaderOk(pkt)).toBe(true);
    expect(tcpChecksumOk(pkt)).toBe(true);
    expect(p.total).toBe(pkt.length);
    const want = Math.min(s.gsoSize, n - i * s.gsoSize);
    expect(p.payload.length).toBe(Math.max(0, want));
    expect(p.id).toBe((s.id + i) & 0xffff);
    expect(p.seq).toBe((s.seq + i * s.gsoSize) >>> 0);
    const last = i === count - 1;
    let flags = s.flags;
    if (i > 0) flags &= ~CWR;
    if (!last) flags &= ~(FIN | PSH);
    expect(p.flags).toBe(flags);
    expect([p.src, p.dst, p.sport, p.dport, p.ack, p.window, p.tos, p.ttl, p.flagsFrag, p.urg]).toEqual([s.src, s.dst, s.sport, s.dport, s.ack, s.window, s.tos, s.ttl, s.df ? 0x4000 : 0, 0]);
    expect(Array.from(p.ipOptions)).toEqual(Array.from(s.ipOptions));
    expect(Array.from(p.tcpOptions)).toEqual(Array.from(s.tcpOptions));
    for (const x of p.payload) joined.push(x);
  });
  expect(joined.length).toBe(n);
  expect(Buffer.from(joined).equals(Buffer.from(s.payload))).toBe(true);
}

describe('tso: TUN read → MSS-sized segments', () => {
  it('a 10000-byte super-packet, 1448-byte segments, headroom kept', () => {
    const s = baseSpec();
    const { code, r, pkts, slab } = segments(superPacket(s));
    expect(code).toBe(OFFLOAD_OK);
    expect(r.inPlace).toBe(false);
    expect(r.buf).toBe(slab.b);
    checkSegmentation(s, pkts);
    expect(Array.from(r.lengths.subarray(0, 7))).toEqual([1500, 1500, 1500, 1500, 1500, 1500, 10000 - 6 * 1448 + 52]);
    for (let i = 0; i < r.count; i++) expect(r.offsets[i]).toBe(i * 2048 + HEADROOM);
  });

  it('a 64 KB super-packet (65535 total), 1448-byte segments', () => {
    const s = baseSpec({ payload: Uint8Array.from({ length: 65535 - 52 }, (_, i) => (i * 31) & 255) });
    const { code, pkts } = segments(superPacket(s));
    expect(code).toBe(OFFLOAD_OK);
    expect(pkts.length).toBe(46);
    checkSegmentation(s, pkts);
  });

  // [name, spec changes, segments]
  const shapes: Array<[string, Partial<SuperSpec>, number]> = [
    ['payload a multiple of the MSS', { payload: new Uint8Array(1448 * 3).fill(9) }, 3],
    ['payload below the MSS: one segment', { payload: new Uint8Array(100).fill(1) }, 1],
    ['no payload: one segment', { payload: new Uint8Array(0) }, 1],
    ['odd MSS', { gsoSize: 1001, payload: Uint8Array.from({ length: 3500 }, (_, i) => i & 255) }, 4],
    ['seq wraps', { seq: 0xffffff00, payload: new Uint8Array(4000).fill(3) }, 3],
    ['id wraps', { id: 0xfffe, payload: new Uint8Array(4000).fill(3) }, 3],
    ['CWR (GSO_ECN) only on the first, FIN and PSH only on the last', { flags: ACK | CWR | ECE | PSH | FIN, gsoType: 0x81, payload: new Uint8Array(3000).fill(5) }, 3],
    ['IPv4 options copied into every segment', { ipOptions: Uint8Array.from([1, 1, 1, 0]), df: false }, 7],
    ['no TCP options', { tcpOptions: new Uint8Array(0) }, 7],
  ];
  it.each(shapes)('%s', (_name, over, count) => {
    const s = baseSpec(over);
    const { code, pkts } = segments(superPacket(s));
    expect(code).toBe(OFFLOAD_OK);
    expect(pkts.length).toBe(count);
    checkSegmentation(s, pkts);
  });

  it('GSO_NONE with NEEDS_CSUM: the checksum is completed in place', () => {
    const s = baseSpec({ payload: Uint8Array.from({ length: 1001 }, (_, i) => (i * 13) & 255) });
    const read = superPacket(s);
    read[1] = 0;
    read[4] = 0;
    read[5] = 0;
    const { code, r } = segments(read);
    expect(code).toBe(OFFLOAD_OK);
    expect(r.inPlace).toBe(true);
    expect(r.buf).toBe(read);
    expect([r.count, r.offsets[0], r.lengths[0]]).toEqual([1, VNET, read.length - VNET]);
    const pkt = read.subarray(VNET);
    expect(tcpChecksumOk(pkt)).toBe(true);
    expect(Array.from(pkt)).toEqual(Array.from(tcp4Packet(s, 'full')));
  });

  it('GSO_NONE without flags: the packet is left as it is', () => {
    const s = baseSpec({ payload: new Uint8Array(300).fill(7) });
    const pkt = tcp4Packet(s, 'full');
    const read = new Uint8Array(VNET + pkt.length);
    read.set(pkt, VNET);
    const { code, r } = segments(read);
    expect(code).toBe(OFFLOAD_OK);
    expect(Array.from(read.subarray(VNET))).toEqual(Array.from(pkt));
    expect([r.count, r.offsets[0], r.lengths[0], r.inPlace]).toEqual([1, VNET, pkt.length, true]);
  });

  it('NEEDS_CSUM that comes to zero is stored as 0xffff', () => {
    // A UDP-style checksum at offset 2 over 4 bytes: 0xffff + field(0) → sum 0xffff → complement 0.
    const read = new Uint8Array(VNET + 8);
    read.set([1, 0, 0, 0, 0, 0, 4, 0, 2, 0]);
    read.set([0, 0, 0, 0, 0xff, 0xff, 0, 0], VNET);
    expect(segments(read).code).toBe(OFFLOAD_OK);
    expect([read[VNET + 6], read[VNET + 7]]).toEqual([0xff, 0xff]);
    expect(wordSum(read.subarray(VNET + 4))).toBe(0xffff);
  });

  // [name, how to break the read, reason]
  const bad: Array<[string, (r: Uint8Array) => void, number]> = [
    ['GSO UDP', (r) => { r[1] = 3; }, OFFLOAD_UNSUPPORTED_GSO],
    ['GSO TCPV6 on an IPv4 packet', (r) => { r[1] = 4; }, OFFLOAD_BAD_IP],
    ['GSO UDP_L4 on a TCP packet', (r) => { r[1] = 5; }, OFFLOAD_NOT_UDP],
    ['gso_size 0', (r) => { r[4] = 0; r[5] = 0; }, VNET_BAD_GSO_SIZE],
    ['IP version 6', (r) => { r[VNET] = 0x65; }, OFFLOAD_BAD_IP],
    ['IP header checksum wrong', (r) => { r[VNET + 11]! ^= 1; }, OFFLOAD_BAD_IP],
    ['IP total length past the read', (r) => { r[VNET + 2] = 0xff; r[VNET + 3] = 0xff; }, OFFLOAD_BAD_IP],
    ['IP fragment (MF)', (r) => { setIp(r, 6, 0x60); }, OFFLOAD_BAD_IP],
    ['protocol UDP', (r) => { setIp(r, 9, 17); }, OFFLOAD_NOT_TCP],
    ['TCP data offset 4', (r) => { r[VNET + 20 + 12] = 0x40; }, OFFLOAD_BAD_TCP],
    ['TCP data offset past the packet', (r) => { setIp(r, 2, 0); setIp(r, 3, 60); r[VNET + 20 + 12] = 0xf0; }, OFFLOAD_BAD_TCP],
    ['IP total length leaves no TCP header', (r) => { setIp(r, 2, 0); setIp(r, 3, 30); }, OFFLOAD_BAD_TCP],
    ['MSS 1 for 10000 bytes', (r) => { r[4] = 1; r[5] = 0; }, OFFLOAD_TOO_MANY_SEGMENTS],
    ['MSS above the slot', (r) => { r[4] = 0xd0; r[5] = 0x07; }, OFFLOAD_SEGMENT_TOO_BIG],
  ];
  /** Sets an IPv4 header byte and fixes the header checksum. */
  function setIp(r: Uint8Array, at: number, v: number): void {
    r[VNET + at] = v;
    r[VNET + 10] = 0;
    r[VNET + 11] = 0;
    const c = ~wordSum(r.subarray(VNET, VNET + 20)) & 0xffff;
    r[VNET + 10] = c >> 8;
    r[VNET + 11] = c & 255;
  }
  it.each(bad)('drops: %s', (_name, breakIt, reason) => {
    const read = superPacket(baseSpec());
    breakIt(read);
    expect(segments(read).code).toBe(reason);
  });

  it('a slab too small for the segment count is a drop, not a throw', () => {
    const read = superPacket(baseSpec());
    expect(segments(read, createTsoSlab(4, 1500, HEADROOM)).code).toBe(OFFLOAD_TOO_MANY_SEGMENTS);
    expect(segments(read, createTsoSlab(7, 1500, HEADROOM)).code).toBe(OFFLOAD_OK);
  });

  it('property: segments carry the payload in order, checksums verify, seq / id / flags right', () => {
    fc.assert(
      fc.property(superSpecArb(), fc.boolean(), (s, ecn) => {
        const read = superPacket({ ...s, gsoType: ecn ? 0x81 : 1 });
        const { code, pkts } = segments(read);
        expect(code).toBe(OFFLOAD_OK);
        checkSegmentation(s, pkts);
      }),
      { numRuns: 300 },
    );
  });

  it('property: a read placed in the slab itself (native copy) gives the same segments', () => {
    fc.assert(
      fc.property(superSpecArb({ maxPayload: 20000 }), (s) => {
        const read = superPacket(s);
        const stride = 2048;
        const slots = 160;
        const b = new Uint8Array(slots * stride + 7 + read.length);
        b.set(read, slots * stride + 7);
        const slab = { b, offset: 0, stride, headroom: HEADROOM, capacity: slots };
        const r = createOffloadResult(160);
        expect(tunReadToPackets(b, slots * stride + 7, read.length, slab, r)).toBe(OFFLOAD_OK);
        expect(r.buf).toBe(b);
        const pkts: Uint8Array[] = [];
        for (let i = 0; i < r.count; i++) pkts.push(b.slice(r.offsets[i]!, r.offsets[i]! + r.lengths[i]!));
        checkSegmentation(s, pkts);
      }),
      { numRuns: 150 },
    );
  });

  it('property: arbitrary bytes and mutated super-packets never throw and give a known reason', () => {
    const slab = createTsoSlab(160, 1900, HEADROOM, 2048);
    const r = createOffloadResult(160);
    const known = (code: number) => Number.isInteger(code) && code >= 0 && code < OFFLOAD_REASON_COUNT;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat({ max: 8 }), (bytes, off) => {
        const b = new Uint8Array(off + bytes.length);
        b.set(bytes, off);
        expect(known(tunReadToPackets(b, off, bytes.length, slab, r))).toBe(true);
        // Lengths that lie about the array must not throw either.
        expect(known(tunReadToPackets(b, off, bytes.length + 50, slab, r))).toBe(true);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(superSpecArb({ maxPayload: 3000 }), fc.array(fc.tuple(fc.nat({ max: 120 }), fc.nat({ max: 255 })), { minLength: 1, maxLength: 4 }), fc.nat({ max: 200 }), (s, flips, cut) => {
        const read = superPacket(s);
        for (const [at, v] of flips) read[at % read.length] = v;
        const len = Math.max(0, read.length - cut);
        const code = tunReadToPackets(read, 0, len, slab, r);
        expect(known(code)).toBe(true);
        if (code === OFFLOAD_OK && !r.inPlace) {
          for (let i = 0; i < r.count; i++) {
            const pkt = r.buf.subarray(r.offsets[i]!, r.offsets[i]! + r.lengths[i]!);
            expect(ipv4HeaderOk(pkt)).toBe(true);
            expect(tcpChecksumOk(pkt)).toBe(true);
          }
        }
      }),
      { numRuns: 1000 },
    );
  });
});
