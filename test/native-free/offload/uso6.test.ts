// USO6 (uso6.ts): a UDP/IPv6 super-packet from the TUN (GSO_UDP_L4 over IPv6)
// cut into gso_size datagrams, checked with an independent word sum (ip6.ts);
// and cut then coalesced again (gro-udp6.ts) it is the super-packet it was.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { GRO_FLUSH, GRO_HELD, GRO_PASS, GRO_PASS_NO_CHECKSUM, GRO_PASS_BAD_CHECKSUM } from '../../../native-free/offload/gro.js';
import { createUdpGroState, udpGroAdd, udpGroFinish } from '../../../native-free/offload/gro-udp.js';
import {
  OFFLOAD_BAD_IP,
  OFFLOAD_BAD_UDP,
  OFFLOAD_IPV6_EXTENSION,
  OFFLOAD_NOT_UDP,
  OFFLOAD_OK,
  OFFLOAD_SEGMENT_TOO_BIG,
  OFFLOAD_TOO_MANY_SEGMENTS,
  VNET_BAD_GSO_SIZE,
} from '../../../native-free/offload/reasons.js';
import { createOffloadResult, createTsoSlab, tunReadToPackets } from '../../../native-free/offload/tso.js';
import { type Spec6, UDP, base6, pseudo6, u16, udp6ChecksumOk, udp6Packet, udp6Super } from './ip6.js';
import { VNET, wordSum } from './tcp4.js';

const slab = createTsoSlab(200, 1500, 64, 2048);
const result = createOffloadResult(200);

function cut(read: Uint8Array): { code: number; datagrams: Uint8Array[] } {
  const code = tunReadToPackets(read, 0, read.length, slab, result);
  const datagrams: Uint8Array[] = [];
  if (code === OFFLOAD_OK) for (let i = 0; i < result.count; i++) datagrams.push(result.buf.slice(result.offsets[i]!, result.offsets[i]! + result.lengths[i]!));
  return { code, datagrams };
}

const udpBase = (o: Partial<Spec6> = {}): Spec6 => base6({ sport: 4433, dport: 50000, payload: Uint8Array.from({ length: 3000 }, (_, i) => (i * 13 + 5) & 255), gsoSize: 1200, ...o });

function checkDatagrams(s: Spec6, datagrams: Uint8Array[]): void {
  const head = udp6Packet(s, 'full');
  expect(datagrams.length).toBe(Math.max(1, Math.ceil(s.payload.length / s.gsoSize)));
  let at = 0;
  datagrams.forEach((d, i) => {
    expect(udp6ChecksumOk(d)).toBe(true);
    expect(u16(d, 4)).toBe(d.length - 40); // IPv6 payload length
    expect(u16(d, 44)).toBe(d.length - 40); // UDP length
    expect(Buffer.from(d.subarray(0, 4)).equals(Buffer.from(head.subarray(0, 4)))).toBe(true); // tc, flow label
    expect(Buffer.from(d.subarray(6, 44)).equals(Buffer.from(head.subarray(6, 44)))).toBe(true); // nh, hop, addresses, ports
    const body = d.subarray(48);
    if (i < datagrams.length - 1) expect(body.length).toBe(s.gsoSize);
    expect(Buffer.from(body).equals(Buffer.from(s.payload.subarray(at, at + body.length)))).toBe(true);
    at += body.length;
  });
  expect(at).toBe(s.payload.length);
}

/** Coalesces datagrams as the worker would (each in a buffer of its own); returns the TUN writes. */
function coalesce(datagrams: Uint8Array[]): { writes: Uint8Array[]; answers: number[] } {
  const g = createUdpGroState();
  const writes: Uint8Array[] = [];
  const answers: number[] = [];
  const flush = () => {
    const n = udpGroFinish(g);
    if (n > 0) writes.push(g.out.slice(g.base, g.base + n));
  };
  for (const d of datagrams) {
    let a = udpGroAdd(g, d, 0, d.length);
    if (a === GRO_FLUSH) {
      flush();
      a = udpGroAdd(g, d, 0, d.length);
    }
    answers.push(a === GRO_PASS ? 100 + g.passReason : a);
  }
  flush();
  return { writes, answers };
}

describe('uso6: a UDP/IPv6 super-packet from the TUN becomes gso_size datagrams', () => {
  it('3000 bytes at 1200: 1200, 1200, 600; lengths, checksums over the IPv6 pseudo-header, payload in order', () => {
    const s = udpBase();
    const { code, datagrams } = cut(udp6Super(s));
    expect(code).toBe(OFFLOAD_OK);
    expect(datagrams.map((d) => d.length)).toEqual([1248, 1248, 648]);
    checkDatagrams(s, datagrams);
  });

  it('a datagram whose checksum computes to 0 is sent with 0xffff (0 is invalid over IPv6)', () => {
    // Two payload bytes chosen so that the whole sum is 0xffff: ~sum = 0.
    const payload = new Uint8Array(100).fill(0x42);
    const probe = udp6Packet(udpBase({ payload, gsoSize: 1200 }), 'full');
    probe[46] = 0;
    probe[47] = 0;
    const rest = wordSum(probe.subarray(40), pseudo6(probe, UDP, u16(probe, 4)) + 0);
    // Adding w to a ones'-complement sum s gives 0xffff when w = ~s (16 bits).
    const fix = (~rest & 0xffff) + wordSum(payload.subarray(0, 2));
    const w = fix > 0xffff ? (fix & 0xffff) + 1 : fix;
    payload[0] = w >> 8;
    payload[1] = w & 255;
    const s = udpBase({ payload, gsoSize: 1200 });
    const full = udp6Packet(s, 'full');
    expect(u16(full, 46)).toBe(0xffff); // the reference agrees the sum is 0 (and substitutes)
    const { code, datagrams } = cut(udp6Super(s));
    expect(code).toBe(OFFLOAD_OK);
    expect(u16(datagrams[0]!, 46)).toBe(0xffff);
    expect(udp6ChecksumOk(datagrams[0]!)).toBe(true);
  });

  it('any payload and gso_size: every datagram valid, the payload reassembles; coalesced again it is the super-packet (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 9000 }),
        fc.integer({ min: 60, max: 1452 }),
        fc.nat(255),
        fc.nat(0xfffff),
        (payload, gsoSize, tc, flow) => {
          const s = udpBase({ payload, gsoSize, tc, flow });
          const read = udp6Super(s);
          const { code, datagrams } = cut(read);
          expect(code).toBe(OFFLOAD_OK);
          checkDatagrams(s, datagrams);
          if (datagrams.length > 64) return;
          const { writes } = coalesce(datagrams);
          expect(writes.length).toBe(1);
          const w = writes[0]!;
          if (datagrams.length === 1) {
            expect(Array.from(w.subarray(0, VNET))).toEqual(new Array(VNET).fill(0));
            expect(udp6ChecksumOk(w.subarray(VNET))).toBe(true);
          } else {
            // The read as the TUN gave it: same header (GSO_UDP_L4, gso_size, csum 40+6), same packet, partial sum in the field.
            expect(Array.from(w.subarray(0, 2))).toEqual([1, 5]);
            expect([u16le(w, 2), u16le(w, 4), u16le(w, 6), u16le(w, 8)]).toEqual([48, gsoSize, 40, 6]);
            expect(Buffer.from(w.subarray(VNET)).equals(Buffer.from(read.subarray(VNET)))).toBe(true);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it.each([
    ['next header TCP', (b: Uint8Array) => { b[VNET + 6] = 6; }, OFFLOAD_NOT_UDP],
    ['destination options first', (b: Uint8Array) => { b[VNET + 6] = 60; }, OFFLOAD_IPV6_EXTENSION],
    ['UDP length disagrees with the IPv6 payload length', (b: Uint8Array) => { b[VNET + 45]! += 1; }, OFFLOAD_BAD_UDP],
    ['IPv6 payload length past the read', (b: Uint8Array) => { b[VNET + 4]! += 1; }, OFFLOAD_BAD_IP],
    ['IP version 4 in front', (b: Uint8Array) => { b[VNET] = 0x45; }, OFFLOAD_BAD_IP],
    ['gso_size 0', (b: Uint8Array) => { b[4] = 0; b[5] = 0; }, VNET_BAD_GSO_SIZE],
    ['gso_size 1 on 3000 bytes: more datagrams than the slab holds', (b: Uint8Array) => { b[4] = 1; b[5] = 0; }, OFFLOAD_TOO_MANY_SEGMENTS],
    ['gso_size larger than a slot', (b: Uint8Array) => { b[4] = 0; b[5] = 0x09; }, OFFLOAD_SEGMENT_TOO_BIG],
  ])('refused: %s', (_name, spoil, reason) => {
    const read = udp6Super(udpBase());
    spoil(read);
    expect(tunReadToPackets(read, 0, read.length, slab, result)).toBe(reason);
  });
});

const u16le = (b: Uint8Array, o: number) => b[o]! | (b[o + 1]! << 8);

describe('gro-udp6: UDP/IPv6 datagrams of one flow → one GSO_UDP_L4 write', () => {
  const datagrams = (o: Partial<Spec6> = {}, n = 4) =>
    Array.from({ length: n }, (_, i) => udp6Packet(udpBase({ payload: new Uint8Array(i === n - 1 ? 500 : 1200).fill(i + 1), ...o }), 'full'));

  it('four datagrams, the last shorter: one write, partial sum in the field, the kernel cuts it back', () => {
    const { writes, answers } = coalesce(datagrams());
    expect(answers).toEqual([GRO_HELD, GRO_HELD, GRO_HELD, GRO_HELD]);
    expect(writes.length).toBe(1);
    const w = writes[0]!;
    const p = w.subarray(VNET);
    expect(u16(p, 4)).toBe(8 + 3 * 1200 + 500);
    expect(u16(p, 46)).toBe(pseudo6(p, UDP, u16(p, 4)));
  });

  it('partial checksums (a kernel peer) join; a damaged one passes to be dropped; checksum 0 passes to be written alone', () => {
    const ds = datagrams();
    ds[1] = udp6Packet(udpBase({ payload: new Uint8Array(1200).fill(2) }), 'partial');
    ds[2] = udp6Packet(udpBase({ payload: new Uint8Array(1200).fill(3) }), 'damaged');
    ds[3] = udp6Packet(udpBase({ payload: new Uint8Array(1200).fill(4) }), 'zero');
    const { answers } = coalesce(ds);
    expect(answers).toEqual([GRO_HELD, GRO_HELD, 100 + GRO_PASS_BAD_CHECKSUM, 100 + GRO_PASS_NO_CHECKSUM]);
  });

  // [name, change to the second datagram]
  const other: Array<[string, Partial<Spec6>]> = [
    ['traffic class', { tc: 0 }],
    ['flow label', { flow: 1 }],
    ['hop limit', { hop: 64 }],
    ['source', { src: new Uint8Array(16).fill(0xfd) }],
    ['destination port', { dport: 50001 }],
  ];
  it.each(other)('another %s: not joined (flushed first)', (_name, o) => {
    const ds = [datagrams()[0]!, udp6Packet(udpBase({ payload: new Uint8Array(1200), ...o }), 'full')];
    const { writes } = coalesce(ds);
    expect(writes.length).toBe(2);
  });

  it('an IPv4 datagram crafted to match a held IPv6 one at the IPv4 offsets is not joined to it', () => {
    // TOS, DF, TTL, addresses, ports and id = last + 1 copied from where
    // gro-udp.ts reads them for IPv4: only the version byte tells them apart.
    const g = createUdpGroState();
    const v6 = datagrams()[0]!;
    expect(udpGroAdd(g, v6, 0, v6.length)).toBe(GRO_HELD);
    const n = 1200;
    const v4 = new Uint8Array(28 + n);
    v4[0] = 0x45;
    v4[1] = v6[1]!;
    v4[2] = (28 + n) >> 8;
    v4[3] = (28 + n) & 255;
    v4[4] = ((g.lastId + 1) >> 8) & 255;
    v4[5] = (g.lastId + 1) & 255;
    v4[6] = v6[6]! & 0x40;
    v4[8] = v6[8]!;
    v4[9] = 17;
    v4.set(v6.subarray(12, 24), 12); // addresses, then the ports at 20..23
    const ipc = ~wordSum(v4.subarray(0, 20)) & 0xffff;
    v4[10] = ipc >> 8;
    v4[11] = ipc & 255;
    v4[24] = (8 + n) >> 8;
    v4[25] = (8 + n) & 255; // checksum 0: "none" over IPv4, taken as it is
    expect(udpGroAdd(g, v4, 0, v4.length)).toBe(GRO_FLUSH);
  });
});
