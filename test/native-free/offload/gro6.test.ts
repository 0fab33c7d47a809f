// GRO for TCP/IPv6 (gro6.ts through groAdd / groFinish): segments of one flow
// coalesced into one GSO_TCPV6 write, the flow and flag rules of gro.ts with
// IPv6's fields, never mixed with IPv4; segmented by tso6.ts then coalesced
// it is the super-packet it was.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  GRO_FLUSH,
  GRO_HELD,
  GRO_PASS,
  GRO_PASS_BAD_CHECKSUM,
  GRO_PASS_FLAGS,
  GRO_PASS_IPV6_EXTENSION,
  GRO_PASS_NOT_IPV4,
  GRO_PASS_NOT_TCP,
  GRO_PASS_NO_PAYLOAD,
  GRO_PASS_REASONS,
  type GroState,
  createGroState,
  groAdd,
  groFinish,
} from '../../../native-free/offload/gro.js';
import { OFFLOAD_OK } from '../../../native-free/offload/reasons.js';
import { createOffloadResult, createTsoSlab, tunReadToPackets } from '../../../native-free/offload/tso.js';
import { type Spec6, TCP, base6, pseudo6, spec6Arb, tcp6ChecksumOk, tcp6Packet, tcp6Super, u16 } from './ip6.js';
import { VNET, baseSpec, tcp4Packet } from './tcp4.js';

const ACK = 0x10;
const PSH = 0x08;
const slab = createTsoSlab(160, 1900, 64, 2048);
const result = createOffloadResult(160);
const le16 = (b: Uint8Array, at: number) => b[at]! | (b[at + 1]! << 8);

function segment6(s: Spec6): Uint8Array[] {
  const read = tcp6Super(s);
  expect(tunReadToPackets(read, 0, read.length, slab, result)).toBe(OFFLOAD_OK);
  const out: Uint8Array[] = [];
  for (let i = 0; i < result.count; i++) out.push(result.buf.slice(result.offsets[i]!, result.offsets[i]! + result.lengths[i]!));
  return out;
}

/** Feeds packets as tun-writer.ts does; returns the TUN writes in order and each answer (100 + reason for a pass). */
function run(g: GroState, pkts: Uint8Array[]): { writes: Uint8Array[]; answers: number[] } {
  const writes: Uint8Array[] = [];
  const answers: number[] = [];
  const flush = () => {
    const n = groFinish(g);
    if (n > 0) writes.push(g.out.slice(g.base, g.base + n));
  };
  for (const p of pkts) {
    const b = new Uint8Array(16 + p.length);
    b.set(p, 16);
    let a = groAdd(g, b, 16, p.length);
    if (a === GRO_FLUSH) {
      flush();
      a = groAdd(g, b, 16, p.length);
      expect(a).not.toBe(GRO_FLUSH);
    }
    answers.push(a === GRO_PASS ? 100 + g.passReason : a);
    if (a === GRO_PASS && g.passReason !== GRO_PASS_BAD_CHECKSUM) {
      flush();
      const w = new Uint8Array(VNET + p.length);
      w.set(p, VNET);
      writes.push(w);
    }
  }
  flush();
  return { writes, answers };
}

function expectGso6Write(w: Uint8Array, hdrs: number, gsoSize: number): void {
  expect([w[0], w[1], le16(w, 2), le16(w, 4), le16(w, 6), le16(w, 8)]).toEqual([1, 4, hdrs, gsoSize, 40, 16]);
  const pkt = w.subarray(VNET);
  expect(u16(pkt, 4)).toBe(pkt.length - 40);
  expect(u16(pkt, 56)).toBe(pseudo6(pkt, TCP, pkt.length - 40));
}

describe('gro6: TCP/IPv6 segments → one GSO_TCPV6 super-packet for the TUN', () => {
  it('the 8 segments of a 10000-byte super-packet come back as it, byte for byte', () => {
    const s = base6();
    const segs = segment6(s);
    expect(segs.length).toBe(8);
    const g = createGroState();
    const { writes } = run(g, segs);
    expect(writes.length).toBe(1);
    expectGso6Write(writes[0]!, 72, 1428);
    expect(Buffer.from(writes[0]!).equals(Buffer.from(tcp6Super(s)))).toBe(true);
    expect([g.superPackets, g.segmentsMerged]).toEqual([1, 8]);
  });

  it('segment then coalesce gives back the original stream, for any spec (property)', () => {
    fc.assert(
      fc.property(spec6Arb({ flags: fc.constantFrom(ACK, ACK | PSH, ACK | 0x40), minPayload: 1, maxPayload: 20000 }), (s) => {
        const segs = segment6(s);
        const { writes } = run(createGroState(), segs);
        expect(writes.length).toBe(1);
        const w = writes[0]!;
        if (segs.length === 1) {
          expect(Array.from(w.subarray(0, VNET))).toEqual(new Array(VNET).fill(0));
          expect(tcp6ChecksumOk(w.subarray(VNET))).toBe(true);
          expect(Buffer.from(w.subarray(VNET)).equals(Buffer.from(tcp6Packet(s, 'full')))).toBe(true);
        } else {
          expectGso6Write(w, 60 + s.tcpOptions.length, s.gsoSize);
          expect(Buffer.from(w).equals(Buffer.from(tcp6Super(s)))).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('a kernel peer partial checksum joins; alone it is written with NEEDS_CSUM at 40+16', () => {
    const s = base6({ payload: new Uint8Array(900).fill(9) });
    const { writes } = run(createGroState(), [tcp6Packet(s, 'partial')]);
    expect([writes[0]![0], writes[0]![1], le16(writes[0]!, 6), le16(writes[0]!, 8)]).toEqual([1, 0, 40, 16]);
    const two = [tcp6Packet(base6({ flags: ACK, payload: new Uint8Array(1428).fill(1) }), 'partial'), tcp6Packet(base6({ flags: ACK, payload: new Uint8Array(100).fill(2), seq: 0x10000000 + 1428 }), 'full')];
    const r = run(createGroState(), two);
    expect(r.answers).toEqual([GRO_HELD, GRO_HELD]);
    expectGso6Write(r.writes[0]!, 72, 1428);
  });

  const seg = (i: number, o: Partial<Spec6> = {}, check: 'full' | 'partial' | 'damaged' = 'full') =>
    tcp6Packet(base6({ flags: ACK, payload: new Uint8Array(1428).fill(i), seq: (0x10000000 + i * 1428) >>> 0, ...o }), check);

  // [name, change to the second of three segments]
  const flushes: Array<[string, Partial<Spec6>]> = [
    ['traffic class', { tc: 0xb9 }],
    ['flow label', { flow: 0x9abce }],
    ['hop limit', { hop: 62 }],
    ['source address', { src: new Uint8Array(16).fill(0xfd) }],
    ['destination address', { dst: new Uint8Array(16).fill(0xfd) }],
    ['source port', { sport: 40001 }],
    ['ack', { ack: 0x20000001 }],
    ['window', { window: 503 }],
    ['TCP option bytes', { tcpOptions: Uint8Array.from([1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 2]) }],
    ['sequence gap', { seq: 0x10000000 + 1428 + 1 }],
    ['ECE where the held had none', { flags: ACK | 0x40 }],
  ];
  it.each(flushes)('another %s: the held one is written first, not joined', (_name, o) => {
    const { writes, answers } = run(createGroState(), [seg(0), seg(1, o), seg(2)]);
    expect(answers).toEqual([GRO_HELD, GRO_HELD, GRO_HELD]);
    expect(writes.length).toBe(3);
  });

  // [name, packet, pass reason]
  const passes: Array<[string, () => Uint8Array, number]> = [
    ['SYN', () => seg(0, { flags: 0x12 }), GRO_PASS_FLAGS],
    ['FIN', () => seg(0, { flags: 0x11 }), GRO_PASS_FLAGS],
    ['CWR', () => seg(0, { flags: 0x90 }), GRO_PASS_FLAGS],
    ['no ACK', () => seg(0, { flags: PSH }), GRO_PASS_FLAGS],
    ['pure ACK', () => tcp6Packet(base6({ flags: ACK, payload: new Uint8Array(0) }), 'full'), GRO_PASS_NO_PAYLOAD],
    ['hop-by-hop options first', () => seg(0, { nextHeader: 0 }), GRO_PASS_IPV6_EXTENSION],
    ['fragment header first', () => seg(0, { nextHeader: 44 }), GRO_PASS_IPV6_EXTENSION],
    ['next header UDP', () => seg(0, { nextHeader: 17 }), GRO_PASS_NOT_TCP],
    ['damaged payload', () => seg(0, {}, 'damaged'), GRO_PASS_BAD_CHECKSUM],
    ['payload length past the bytes', () => { const p = seg(0); p[5]! += 1; return p; }, GRO_PASS_NOT_IPV4],
    ['data offset past the payload', () => { const p = tcp6Packet(base6({ flags: ACK, payload: new Uint8Array(4), tcpOptions: new Uint8Array(0) }), 'full'); p[52] = 0xf0; return p; }, GRO_PASS_NOT_TCP],
  ];
  it.each(passes)('passes: %s', (_name, make, reason) => {
    const g = createGroState();
    const p = make();
    expect(groAdd(g, p, 0, p.length)).toBe(GRO_PASS);
    expect(g.passReason).toBe(reason);
    expect(GRO_PASS_REASONS[reason]).toBeDefined();
  });

  it('never coalesces IPv4 with IPv6: a v4 flow held, a v6 segment flushes it, and back', () => {
    const v4 = (i: number) => tcp4Packet(baseSpec({ flags: ACK, payload: new Uint8Array(1448).fill(i), seq: 0x10000000 + i * 1448, id: 0x4321 + i }), 'full');
    const { writes, answers } = run(createGroState(), [v4(0), v4(1), seg(0), seg(1), v4(2), v4(3)]);
    expect(answers).toEqual([GRO_HELD, GRO_HELD, GRO_HELD, GRO_HELD, GRO_HELD, GRO_HELD]);
    expect(writes.map((w) => [w[1], w[VNET]! >> 4])).toEqual([
      [1, 4],
      [4, 6],
      [1, 4],
    ]);
  });

  it('a v6 segment whose bytes at the v4 offsets copy a held v4 header still does not join it', () => {
    // Byte 1 (TOS), 8 (TTL), 12..19 (addresses) and the TCP offsets of an IPv4 packet are not where IPv6 keeps them: the version byte decides.
    const v4 = tcp4Packet(baseSpec({ flags: ACK, payload: new Uint8Array(1448).fill(1) }), 'full');
    const v6 = seg(0);
    const g = createGroState();
    expect(groAdd(g, v4, 0, v4.length)).toBe(GRO_HELD);
    expect(groAdd(g, v6, 0, v6.length)).toBe(GRO_FLUSH);
  });

  it('an IPv4 segment crafted to match a held IPv6 one at the IPv4 offsets is not joined to it', () => {
    // Every field gro.ts compares for IPv4 (TOS, TTL, addresses, ports, ack,
    // window, options, id = last + 1, seq) copied from where those offsets
    // fall in the held IPv6 packet: only the version byte tells them apart.
    const g = createGroState();
    const v6 = seg(0);
    expect(groAdd(g, v6, 0, v6.length)).toBe(GRO_HELD);
    const h = v6;
    const be32 = (o: number) => ((h[o]! << 24) | (h[o + 1]! << 16) | (h[o + 2]! << 8) | h[o + 3]!) >>> 0;
    const v4 = tcp4Packet(
      baseSpec({
        tos: h[1]!,
        ttl: h[8]!,
        src: be32(12),
        dst: be32(16),
        sport: u16(h, 20),
        dport: u16(h, 22),
        seq: g.nextSeq,
        ack: be32(28),
        window: u16(h, 34),
        id: (g.lastId + 1) & 0xffff,
        flags: ACK,
        tcpOptions: h.slice(40, 52),
        payload: new Uint8Array(1428).fill(7),
      }),
      'full',
    );
    expect(groAdd(g, v4, 0, v4.length)).toBe(GRO_FLUSH);
  });

  it('hostile input: damaged IPv6/IPv4 segments in any order never throw, and whatever is written is well formed (property)', () => {
    const valid = [...segment6(base6({ flags: ACK, payload: new Uint8Array(5000).fill(5) })), tcp4Packet(baseSpec({ flags: ACK, payload: new Uint8Array(1448).fill(1) }), 'full')];
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(valid.length - 1), fc.array(fc.tuple(fc.nat(1600), fc.nat(255)), { maxLength: 4 }), fc.integer({ min: -8, max: 8 })), { minLength: 1, maxLength: 12 }),
        (picks) => {
          const g = createGroState();
          const writes: Uint8Array[] = [];
          for (const [k, pokes, trim] of picks) {
            const p = valid[k]!.slice();
            for (const [at, v] of pokes) if (at < p.length) p[at] = v;
            const len = Math.max(0, Math.min(p.length, p.length + trim));
            let a = groAdd(g, p, 0, len);
            if (a === GRO_FLUSH) {
              writes.push(g.out.slice(g.base, g.base + groFinish(g)));
              a = groAdd(g, p, 0, len);
            }
            expect([GRO_HELD, GRO_PASS]).toContain(a);
            if (a === GRO_PASS) expect(GRO_PASS_REASONS[g.passReason]).toBeDefined();
          }
          writes.push(g.out.slice(g.base, g.base + groFinish(g)));
          for (const w of writes) {
            if (w.length === 0) continue;
            const pkt = w.subarray(VNET);
            // The IP length field covers exactly what is written, and a GSO write is a TCP super-packet of the right version.
            if (pkt[0]! >> 4 === 6) expect(u16(pkt, 4)).toBe(pkt.length - 40);
            else expect(u16(pkt, 2)).toBe(pkt.length);
            if (w[1] !== 0) expect(w[1]).toBe(pkt[0]! >> 4 === 6 ? 4 : 1);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
