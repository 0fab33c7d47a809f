import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  GRO_FLUSH,
  GRO_HELD,
  GRO_PASS,
  GRO_PASS_BAD_CHECKSUM,
  GRO_PASS_FLAGS,
  GRO_PASS_FRAGMENTABLE,
  GRO_PASS_IPV6_EXTENSION,
  GRO_PASS_NOT_IPV4,
  GRO_PASS_NOT_TCP,
  GRO_PASS_NO_PAYLOAD,
  GRO_PASS_REASONS,
  GRO_PASS_TOO_BIG,
  type GroState,
  createGroState,
  groAdd,
  groFinish,
  groPending,
} from '../../../native-free/offload/gro.js';
import { OFFLOAD_OK } from '../../../native-free/offload/reasons.js';
import { createOffloadResult, createTsoSlab, tunReadToPackets } from '../../../native-free/offload/tso.js';
import { type SuperSpec, VNET, baseSpec, ipv4HeaderOk, superPacket, superSpecArb, tcp4Packet, tcpChecksumOk, wordSum } from './tcp4.js';

const ACK = 0x10;
const PSH = 0x08;

const slab = createTsoSlab(160, 1900, 64, 2048);
const result = createOffloadResult(160);

/** The segments tso.ts makes of a super-packet for `s`, as separate arrays. */
function segment(s: SuperSpec): Uint8Array[] {
  const read = superPacket(s);
  expect(tunReadToPackets(read, 0, read.length, slab, result)).toBe(OFFLOAD_OK);
  const out: Uint8Array[] = [];
  for (let i = 0; i < result.count; i++) out.push(result.buf.slice(result.offsets[i]!, result.offsets[i]! + result.lengths[i]!));
  return out;
}

/** Feeds packets as a worker would; returns what it writes to the TUN, in order. */
function run(g: GroState, pkts: Uint8Array[], headroom = 16): Uint8Array[] {
  const writes: Uint8Array[] = [];
  const flush = () => {
    const n = groFinish(g);
    if (n > 0) writes.push(g.out.slice(0, n));
  };
  for (const p of pkts) {
    const b = new Uint8Array(headroom + p.length);
    b.set(p, headroom);
    let a = groAdd(g, b, headroom, p.length);
    if (a === GRO_FLUSH) {
      flush();
      a = groAdd(g, b, headroom, p.length);
      expect(a).not.toBe(GRO_FLUSH);
    }
    if (a === GRO_PASS) {
      flush();
      const w = new Uint8Array(VNET + p.length);
      w.set(p, VNET);
      writes.push(w);
    }
  }
  flush();
  return writes;
}

function le16(b: Uint8Array, at: number): number {
  return b[at]! | (b[at + 1]! << 8);
}

/** The packet behind a GSO write as the kernel would segment it: checks the header and the partial sum. */
function expectGsoWrite(w: Uint8Array, hdrs: number, gsoSize: number): void {
  expect([w[0], w[1], le16(w, 2), le16(w, 4), le16(w, 6), le16(w, 8)]).toEqual([1, 1, hdrs, gsoSize, 20, 16]);
  const pkt = w.subarray(VNET);
  expect(ipv4HeaderOk(pkt)).toBe(true);
  // The TCP checksum field holds the folded pseudo-header sum for the whole TCP length.
  const tcpLen = pkt.length - 20;
  const src = ((pkt[12]! << 24) | (pkt[13]! << 16) | (pkt[14]! << 8) | pkt[15]!) >>> 0;
  const dst = ((pkt[16]! << 24) | (pkt[17]! << 16) | (pkt[18]! << 8) | pkt[19]!) >>> 0;
  const partial = wordSum(new Uint8Array(0), (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + 6 + tcpLen);
  expect((pkt[36]! << 8) | pkt[37]!).toBe(partial);
}

describe('gro: segments → one super-packet for the TUN', () => {
  it('the 7 segments of a 10000-byte super-packet come back as it', () => {
    const s = baseSpec();
    const segs = segment(s);
    expect(segs.length).toBe(7);
    const g = createGroState();
    const writes = run(g, segs);
    expect(writes.length).toBe(1);
    const w = writes[0]!;
    expectGsoWrite(w, 52, 1448);
    expect(Buffer.from(w).equals(Buffer.from(superPacket(s)))).toBe(true);
    expect([g.superPackets, g.segmentsMerged, groPending(g)]).toEqual([1, 7, false]);
  });

  it('a single segment is written unchanged behind a zero header', () => {
    const s = baseSpec({ payload: new Uint8Array(700).fill(4) });
    const writes = run(createGroState(), segment(s));
    expect(writes.length).toBe(1);
    expect(Array.from(writes[0]!.subarray(0, VNET))).toEqual(new Array(VNET).fill(0));
    expect(Array.from(writes[0]!.subarray(VNET))).toEqual(Array.from(tcp4Packet(s, 'full')));
  });

  it('stops at 64 KB: 90 segments of 1448 make two super-packets', () => {
    const s = baseSpec({ payload: Uint8Array.from({ length: 1448 * 45 }, (_, i) => i & 255) });
    const t = baseSpec({ payload: Uint8Array.from({ length: 1448 * 45 }, (_, i) => (i * 3) & 255), seq: (0x10000000 + 1448 * 45) >>> 0, id: 0x4321 + 45 });
    const segs = [...segment(s), ...segment(t)];
    const g = createGroState();
    // 45 × 1448 + 52 = 65212 fits; one more would not.
    const writes = run(g, segs);
    expect(writes.length).toBe(2);
    expect(Buffer.from(writes[0]!).equals(Buffer.from(superPacket(s)))).toBe(true);
    expect(Buffer.from(writes[1]!).equals(Buffer.from(superPacket(t)))).toBe(true);
  });

  it('PSH closes the super-packet; the next segment starts a new one', () => {
    const a = segment(baseSpec({ payload: new Uint8Array(1448 * 2).fill(1), flags: ACK | PSH }));
    const b = segment(baseSpec({ payload: new Uint8Array(1448 * 2).fill(2), flags: ACK, seq: 0x10000000 + 2896, id: 0x4323 }));
    const writes = run(createGroState(), [...a, ...b]);
    expect(writes.length).toBe(2);
    expectGsoWrite(writes[0]!, 52, 1448);
    expect(writes[0]![VNET + 20 + 13]).toBe(ACK | PSH);
    expect(writes[1]![VNET + 20 + 13]).toBe(ACK);
  });

  // [name, change to the third of 4 segments (after checksums are redone), writes]
  const flushes: Array<[string, (p: Uint8Array) => void, number]> = [
    ['seq gap', (p) => { bump(p, 20 + 7, 1); }, 3],
    ['other ack', (p) => { bump(p, 20 + 11, 1); }, 3],
    ['other window', (p) => { bump(p, 20 + 15, 1); }, 3],
    ['other source port', (p) => { bump(p, 20 + 1, 1); }, 3],
    ['other destination', (p) => { bump(p, 19, 1); }, 3],
    ['other TOS (ECN CE)', (p) => { p[1] = 3; }, 3],
    ['other TTL', (p) => { p[8] = 63; }, 3],
    ['id not +1', (p) => { bump(p, 5, 1); }, 3],
    ['other TCP option bytes', (p) => { bump(p, 20 + 31, 1); }, 3],
    ['ECE appears', (p) => { p[20 + 13] = ACK | 0x40; }, 3],
  ];
  function bump(p: Uint8Array, at: number, d: number): void {
    p[at] = (p[at]! + d) & 255;
  }
  /** Redoes both checksums of a full packet (test-side). */
  function fix(p: Uint8Array): void {
    p[10] = p[11] = 0;
    const c = ~wordSum(p.subarray(0, 20)) & 0xffff;
    p[10] = c >> 8;
    p[11] = c & 255;
    p[36] = p[37] = 0;
    const src = ((p[12]! << 24) | (p[13]! << 16) | (p[14]! << 8) | p[15]!) >>> 0;
    const dst = ((p[16]! << 24) | (p[17]! << 16) | (p[18]! << 8) | p[19]!) >>> 0;
    const t = ~wordSum(p.subarray(20), (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + 6 + p.length - 20) & 0xffff;
    p[36] = t >> 8;
    p[37] = t & 255;
  }
  it.each(flushes)('flushes on %s', (_name, change, count) => {
    const segs = segment(baseSpec({ payload: new Uint8Array(1448 * 4).fill(6) }));
    change(segs[2]!);
    fix(segs[2]!);
    expect(tcpChecksumOk(segs[2]!)).toBe(true);
    const writes = run(createGroState(), segs);
    expect(writes.length).toBe(count);
  });

  it('a longer segment than the first starts a new super-packet; a shorter one closes it', () => {
    const s = baseSpec({ payload: new Uint8Array(1000 + 1448 * 2 + 500).fill(8) });
    // segments of 1000, then 1448, 1448, 500 (seq and id continue): 1000 | 1448 1448 500
    const head = segment({ ...s, payload: s.payload.subarray(0, 1000), gsoSize: 1000, flags: ACK });
    const tail = segment({ ...s, payload: s.payload.subarray(1000), seq: s.seq + 1000, id: s.id + 1, gsoSize: 1448 });
    const g = createGroState();
    const writes = run(g, [...head, ...tail]);
    expect(writes.length).toBe(2);
    expect(writes[0]![1]).toBe(0);
    expectGsoWrite(writes[1]!, 52, 1448);
    expect(writes[1]!.length).toBe(VNET + 52 + 3396);
  });

  // [name, packet, pass reason]
  const passes: Array<[string, () => Uint8Array, number]> = [
    ['UDP', () => { const p = tcp4Packet(baseSpec({ payload: new Uint8Array(100) }), 'full'); p[9] = 17; fix(p); return p; }, GRO_PASS_NOT_TCP],
    ['IPv6, hop-by-hop options first (gro6.ts)', () => Uint8Array.from({ length: 60 }, (_, i) => (i === 0 ? 0x60 : 0)), GRO_PASS_IPV6_EXTENSION],
    ['IP version 5', () => Uint8Array.from({ length: 60 }, (_, i) => (i === 0 ? 0x55 : 0)), GRO_PASS_NOT_IPV4],
    ['IPv4 options', () => tcp4Packet(baseSpec({ ipOptions: Uint8Array.from([1, 1, 1, 0]), payload: new Uint8Array(100) }), 'full'), GRO_PASS_NOT_IPV4],
    ['DF clear', () => tcp4Packet(baseSpec({ df: false, payload: new Uint8Array(100) }), 'full'), GRO_PASS_FRAGMENTABLE],
    ['SYN', () => tcp4Packet(baseSpec({ flags: 0x12, payload: new Uint8Array(100) }), 'full'), GRO_PASS_FLAGS],
    ['FIN', () => tcp4Packet(baseSpec({ flags: 0x11, payload: new Uint8Array(100) }), 'full'), GRO_PASS_FLAGS],
    ['RST', () => tcp4Packet(baseSpec({ flags: 0x14, payload: new Uint8Array(100) }), 'full'), GRO_PASS_FLAGS],
    ['URG', () => tcp4Packet(baseSpec({ flags: 0x30, payload: new Uint8Array(100) }), 'full'), GRO_PASS_FLAGS],
    ['CWR', () => tcp4Packet(baseSpec({ flags: 0x90, payload: new Uint8Array(100) }), 'full'), GRO_PASS_FLAGS],
    ['no ACK', () => tcp4Packet(baseSpec({ flags: 0x08, payload: new Uint8Array(100) }), 'full'), GRO_PASS_FLAGS],
    ['pure ACK', () => tcp4Packet(baseSpec({ payload: new Uint8Array(0) }), 'full'), GRO_PASS_NO_PAYLOAD],
    ['bad TCP checksum', () => { const p = tcp4Packet(baseSpec({ payload: new Uint8Array(100) }), 'full'); p[p.length - 1]! ^= 0x40; return p; }, GRO_PASS_BAD_CHECKSUM],
    ['TCP data offset 4', () => { const p = tcp4Packet(baseSpec({ payload: new Uint8Array(100) }), 'full'); p[32] = 0x40; return p; }, GRO_PASS_NOT_TCP],
  ];
  it.each(passes)('passes: %s', (_name, make, reason) => {
    const g = createGroState();
    const p = make();
    expect(groAdd(g, p, 0, p.length)).toBe(GRO_PASS);
    expect(g.passReason).toBe(reason);
    expect(groPending(g)).toBe(false);
  });

  it('passes a bad checksum in the middle of a run; what was held stays good', () => {
    const segs = segment(baseSpec({ payload: new Uint8Array(1448 * 4).fill(6) }));
    segs[2]![100]! ^= 1;
    const g = createGroState();
    const writes = run(g, segs);
    // held [0,1] flushed, [2] passed alone, [3] can no longer join (seq gap) → alone too.
    expect(writes.length).toBe(3);
    expectGsoWrite(writes[0]!, 52, 1448);
    expect(writes[1]![0]).toBe(0);
    expect(g.passReason).toBe(GRO_PASS_BAD_CHECKSUM);
  });

  it('a packet larger than maxPacket passes', () => {
    const g = createGroState(1500);
    const p = tcp4Packet(baseSpec({ payload: new Uint8Array(1449 + 12) }), 'full');
    expect(groAdd(g, p, 0, p.length)).toBe(GRO_PASS);
    expect(g.passReason).toBe(GRO_PASS_TOO_BIG);
  });

  it('property: GRO of what TSO made gives back the super-packet (payload and headers, partial sum, virtio header)', () => {
    fc.assert(
      fc.property(superSpecArb({ ipOptions: false, flags: fc.constantFrom(ACK, ACK | PSH, ACK | 0x40), minPayload: 1, maxPayload: 20000 }), (s) => {
        const segs = segment(s);
        const g = createGroState();
        const writes = run(g, segs, 3);
        expect(writes.length).toBe(1);
        const w = writes[0]!;
        if (segs.length === 1) {
          expect(Array.from(w.subarray(0, VNET))).toEqual(new Array(VNET).fill(0));
          expect(Buffer.from(w.subarray(VNET)).equals(Buffer.from(tcp4Packet(s, 'full')))).toBe(true);
        } else {
          expectGsoWrite(w, 40 + s.tcpOptions.length, s.gsoSize);
          expect(Buffer.from(w).equals(Buffer.from(superPacket(s)))).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('property: arbitrary bytes and mutated segments never throw and give a known action', () => {
    const g = createGroState();
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.uint8Array({ maxLength: 120 }), superSpecArb({ maxPayload: 3000 }).map((s) => segment(s)[0]!)), { maxLength: 6 }),
        fc.array(fc.tuple(fc.nat({ max: 80 }), fc.nat({ max: 255 })), { maxLength: 3 }),
        (pkts, flips) => {
          for (const p of pkts) {
            for (const [at, v] of flips) if (p.length > 0) p[at % p.length] = v;
            for (const len of [p.length, p.length + 40]) {
              const a = groAdd(g, p, 0, len);
              expect([GRO_HELD, GRO_FLUSH, GRO_PASS]).toContain(a);
              expect(g.passReason >= 0 && g.passReason < GRO_PASS_REASONS.length).toBe(true);
              if (a === GRO_FLUSH) groFinish(g);
            }
          }
          const n = groFinish(g);
          expect(n === 0 || n > VNET + 20).toBe(true);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('gro: building in the receive buffer (area), as the worker does', () => {
  /** Like run(), but each packet is placed in one receive buffer that also holds the GRO area. */
  function runInArea(pkts: Uint8Array[], areaOffset: number): Uint8Array[] {
    const recv = 70_000;
    const buf = new Uint8Array(recv + areaOffset + VNET + 65535);
    const g = createGroState(65535, { buf, offset: recv + areaOffset });
    const writes: Uint8Array[] = [];
    const flush = () => {
      const n = groFinish(g);
      if (n > 0) writes.push(buf.slice(g.base, g.base + n));
    };
    let at = 7; // odd: the copy and the sum must not depend on alignment
    for (const p of pkts) {
      if (at + p.length > recv) at = 7;
      buf.set(p, at);
      let a = groAdd(g, buf, at, p.length);
      if (a === GRO_FLUSH) {
        flush();
        a = groAdd(g, buf, at, p.length);
      }
      if (a === GRO_PASS) {
        flush();
        const w = new Uint8Array(VNET + p.length);
        w.set(p, VNET);
        writes.push(w);
      }
      at += p.length + 22;
    }
    flush();
    return writes;
  }

  it('gives the same writes as a separate buffer, for any area offset', () => {
    const s = baseSpec({ payload: Uint8Array.from({ length: 1448 * 30 + 100 }, (_, i) => (i * 7) & 255) });
    const segs = segment(s);
    const expected = run(createGroState(), segs);
    for (const areaOffset of [0, 1, 2, 3]) {
      const got = runInArea(segs, areaOffset);
      expect(got.length).toBe(expected.length);
      got.forEach((w, i) => expect(Buffer.from(w).equals(Buffer.from(expected[i]!))).toBe(true));
    }
  });

  it('a corrupted segment still passes alone (checksum verified on the native-copy path too)', () => {
    const segs = segment(baseSpec({ payload: new Uint8Array(1448 * 4).fill(9) }));
    const bad = segs[2]!.slice();
    bad[bad.length - 1]! ^= 0x55;
    const writes = runInArea([segs[0]!, segs[1]!, bad, segs[3]!], 1);
    // held 0+1, bad alone, 3 alone (seq no longer follows what is held)
    expect(writes.length).toBe(3);
    expect(Array.from(writes[1]!.subarray(0, VNET))).toEqual(new Array(VNET).fill(0));
  });

  it('refuses an area that does not fit in its buffer', () => {
    expect(() => createGroState(65535, { buf: new Uint8Array(1000), offset: 0 })).toThrow(RangeError);
  });
});
