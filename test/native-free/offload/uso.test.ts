// UDP segmentation (GSO_UDP_L4 reads, uso.ts): the datagrams it makes are
// checked here field by field against a super-packet built by hand, as the
// kernel's __udp_gso_segment would cut it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OFFLOAD_BAD_UDP, OFFLOAD_NOT_UDP, OFFLOAD_OK, OFFLOAD_TOO_MANY_SEGMENTS } from '../../../native-free/offload/reasons.js';
import { createOffloadResult, createTsoSlab, packedStride, tunReadToPackets, type OffloadResult } from '../../../native-free/offload/tso.js';
import { VNET, ipv4HeaderOk, wordSum } from './tcp4.js';
import { GRO_FLUSH, GRO_PASS } from '../../../native-free/offload/gro.js';
import { createUdpGroState, udpGroAdd, udpGroFinish } from '../../../native-free/offload/gro-udp.js';

interface UdpSpec {
  src: number;
  dst: number;
  sport: number;
  dport: number;
  id: number;
  df: boolean;
  payload: Uint8Array;
  gsoSize: number;
}

const u16 = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;

/** virtio_net_hdr (GSO_UDP_L4, NEEDS_CSUM) + IPv4 + UDP + payload, as the TUN hands it over. */
function udpSuper(s: UdpSpec): Uint8Array {
  const total = 20 + 8 + s.payload.length;
  const b = new Uint8Array(VNET + total);
  const h = new DataView(b.buffer);
  b[0] = 1; // NEEDS_CSUM
  b[1] = 5; // GSO_UDP_L4
  h.setUint16(2, 28, true);
  h.setUint16(4, s.gsoSize, true);
  h.setUint16(6, 20, true);
  h.setUint16(8, 6, true);
  const p = VNET;
  b[p] = 0x45;
  h.setUint16(p + 2, total);
  h.setUint16(p + 4, s.id);
  b[p + 6] = s.df ? 0x40 : 0;
  b[p + 8] = 64;
  b[p + 9] = 17;
  h.setUint32(p + 12, s.src);
  h.setUint32(p + 16, s.dst);
  h.setUint16(p + 10, ~wordSum(b.subarray(p, p + 20)) & 0xffff);
  h.setUint16(p + 20, s.sport);
  h.setUint16(p + 22, s.dport);
  h.setUint16(p + 24, 8 + s.payload.length);
  h.setUint16(p + 26, 0x1234); // a partial sum: must be ignored
  b.set(s.payload, p + 28);
  return b;
}

function udpChecksumOk(pkt: Uint8Array): boolean {
  const total = u16(pkt, 2);
  const src = (u16(pkt, 12) << 16) + u16(pkt, 14);
  const dst = (u16(pkt, 16) << 16) + u16(pkt, 18);
  const pseudo = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + 17 + (total - 20);
  return u16(pkt, 26) !== 0 && wordSum(pkt.subarray(20, total), pseudo) === 0xffff;
}

const slab = createTsoSlab(200, 1500, 64, 2048);
const result = createOffloadResult(200);

function cut(s: UdpSpec): { code: number; r: OffloadResult; datagrams: Uint8Array[] } {
  const read = udpSuper(s);
  const code = tunReadToPackets(read, 0, read.length, slab, result);
  const datagrams: Uint8Array[] = [];
  if (code === OFFLOAD_OK) for (let i = 0; i < result.count; i++) datagrams.push(result.buf.slice(result.offsets[i]!, result.offsets[i]! + result.lengths[i]!));
  return { code, r: result, datagrams };
}

const base = (o: Partial<UdpSpec> = {}): UdpSpec => ({
  src: 0x0af40102,
  dst: 0x0af40702,
  sport: 4433,
  dport: 50000,
  id: 0xfffe,
  df: true,
  payload: Uint8Array.from({ length: 3000 }, (_, i) => (i * 13 + 5) & 255),
  gsoSize: 1200,
  ...o,
});

describe('uso: a UDP super-packet from the TUN becomes gso_size datagrams', () => {
  it('3000 bytes at 1200: datagrams of 1200, 1200 and 600, ids +1 (wrapping), lengths and checksums right, payload in order', () => {
    const s = base();
    const { code, datagrams } = cut(s);
    expect(code).toBe(OFFLOAD_OK);
    expect(datagrams.map((d) => d.length)).toEqual([1228, 1228, 628]);
    expect(datagrams.map((d) => u16(d, 4))).toEqual([0xfffe, 0xffff, 0x0000]);
    const joined: number[] = [];
    for (const d of datagrams) {
      expect(ipv4HeaderOk(d)).toBe(true);
      expect(u16(d, 2)).toBe(d.length);
      expect(u16(d, 24)).toBe(d.length - 20); // UDP length
      expect([u16(d, 20), u16(d, 22)]).toEqual([4433, 50000]);
      expect(d[6]).toBe(0x40); // DF kept
      expect(udpChecksumOk(d)).toBe(true);
      joined.push(...d.subarray(28));
    }
    expect(Buffer.from(joined).equals(Buffer.from(s.payload))).toBe(true);
  });

  it('packedStride lays UDP datagrams back to back: the UDP header is 8 bytes, not a TCP data offset', () => {
    const read = udpSuper(base());
    expect(packedStride(read, 0, read.length, 22)).toBe(22 + 20 + 8 + 1200);
  });

  it('any payload and gso_size: every datagram valid, the payload reassembles', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 9000 }), fc.integer({ min: 60, max: 1472 }), fc.nat(0xffff), (payload, gsoSize, id) => {
        const { code, datagrams } = cut(base({ payload, gsoSize, id }));
        expect(code).toBe(OFFLOAD_OK);
        expect(datagrams.length).toBe(Math.max(1, Math.ceil(payload.length / gsoSize)));
        let at = 0;
        datagrams.forEach((d, i) => {
          expect(ipv4HeaderOk(d) && udpChecksumOk(d)).toBe(true);
          expect(u16(d, 4)).toBe((id + i) & 0xffff);
          const body = d.subarray(28);
          if (i < datagrams.length - 1) expect(body.length).toBe(gsoSize);
          expect(Buffer.from(body).equals(Buffer.from(payload.subarray(at, at + body.length)))).toBe(true);
          at += body.length;
        });
        expect(at).toBe(payload.length);
      }),
      { numRuns: 300 },
    );
  });

  it.each([
    ['not UDP (protocol TCP)', (b: Uint8Array) => { b[VNET + 9] = 6; fixIpChecksum(b); }, OFFLOAD_NOT_UDP],
    ['UDP length disagrees with the IPv4 length', (b: Uint8Array) => { b[VNET + 25]! += 1; }, OFFLOAD_BAD_UDP],
    ['gso_size 1 on 3000 bytes: more datagrams than the slab holds', (b: Uint8Array) => { b[4] = 1; b[5] = 0; }, OFFLOAD_TOO_MANY_SEGMENTS],
  ])('%s: refused with a reason, never a throw', (_name, spoil, reason) => {
    const read = udpSuper(base());
    spoil(read);
    expect(tunReadToPackets(read, 0, read.length, slab, result)).toBe(reason);
  });
});

function fixIpChecksum(b: Uint8Array): void {
  b[VNET + 10] = 0;
  b[VNET + 11] = 0;
  const c = ~wordSum(b.subarray(VNET, VNET + 20)) & 0xffff;
  b[VNET + 10] = c >>> 8;
  b[VNET + 11] = c & 0xff;
}

describe('gro-udp: datagrams of one flow → one GSO_UDP_L4 super-packet for the TUN', () => {
  /** Offers the datagrams as the TunWriter does; returns the writes (virtio_net_hdr + packet). */
  function coalesce(datagrams: Uint8Array[], area = false): Uint8Array[] {
    const buf = new Uint8Array(80_000 + 10 + 65535);
    const g = area ? createUdpGroState(65535, { buf, offset: 80_000 }) : createUdpGroState();
    const writes: Uint8Array[] = [];
    const flush = () => {
      const n = udpGroFinish(g);
      if (n > 0) writes.push(g.out.slice(g.base, g.base + n));
    };
    let at = 3;
    for (const d of datagrams) {
      const b = area ? buf : new Uint8Array(16 + d.length);
      const off = area ? at : 16;
      b.set(d, off);
      at += d.length + 50;
      let a = udpGroAdd(g, b, off, d.length);
      if (a === GRO_FLUSH) {
        flush();
        a = udpGroAdd(g, b, off, d.length);
      }
      if (a === GRO_PASS) {
        flush();
        const w = new Uint8Array(VNET + d.length);
        w.set(d, VNET);
        writes.push(w);
      }
    }
    flush();
    return writes;
  }

  /** The super-packet a TUN write holds, cut again by the engine: what the kernel would deliver. */
  function recut(w: Uint8Array): Uint8Array[] {
    const r = createOffloadResult(200);
    expect(tunReadToPackets(w, 0, w.length, createTsoSlab(200, 1500, 0, 1600), r)).toBe(OFFLOAD_OK);
    return Array.from({ length: r.count }, (_, i) => r.buf.slice(r.offsets[i]!, r.offsets[i]! + r.lengths[i]!));
  }

  it.each([false, true])('cut and coalesced again (in the receive buffer: %s): one write, its header right, and it cuts back into the same datagrams', (area) => {
    const { datagrams } = cut(base());
    const copies = datagrams.map((d) => d.slice());
    const writes = coalesce(copies, area);
    expect(writes.length).toBe(1);
    const w = writes[0]!;
    expect([w[0], w[1], w[2]! | (w[3]! << 8), w[4]! | (w[5]! << 8), w[6]! | (w[7]! << 8), w[8]! | (w[9]! << 8)]).toEqual([1, 5, 28, 1200, 20, 6]);
    const pkt = w.subarray(VNET);
    expect(ipv4HeaderOk(pkt)).toBe(true);
    expect(u16(pkt, 2)).toBe(pkt.length);
    expect(u16(pkt, 24)).toBe(pkt.length - 20);
    expect(recut(w).map((d) => Buffer.from(d).toString('hex'))).toEqual(datagrams.map((d) => Buffer.from(d).toString('hex')));
  });

  it('a damaged datagram is written alone (for the kernel to drop), after what was held', () => {
    const { datagrams } = cut(base({ payload: new Uint8Array(4800).fill(7) }));
    const copies = datagrams.map((d) => d.slice());
    copies[2]![100]! ^= 0xff;
    const writes = coalesce(copies);
    // [0,1] coalesced, [2] alone, [3] alone (its id no longer follows what is held)
    expect(writes.map((w) => w[1])).toEqual([5, 0, 0]);
    expect(udpChecksumOk(writes[1]!.subarray(VNET))).toBe(false);
  });

  it('another flow, a bigger datagram or an id gap starts a new super-packet; a shorter one closes it', () => {
    const a = cut(base({ payload: new Uint8Array(3600).fill(1) })).datagrams.map((d) => d.slice());
    const b = cut(base({ payload: new Uint8Array(2400).fill(2), sport: 4434, id: 100 })).datagrams.map((d) => d.slice());
    expect(coalesce([...a, ...b]).map((w) => w[1])).toEqual([5, 5]);
    const short = cut(base({ payload: new Uint8Array(3000).fill(3) })).datagrams.map((d) => d.slice()); // 1200, 1200, 600
    const next = cut(base({ payload: new Uint8Array(1200).fill(4), id: (0xfffe + 3) & 0xffff })).datagrams.map((d) => d.slice());
    expect(coalesce([...short, ...next]).length).toBe(2);
  });

  it('never more than 64 datagrams in one super-packet', () => {
    const { datagrams } = cut(base({ payload: new Uint8Array(100 * 70), gsoSize: 100 }));
    const writes = coalesce(datagrams.map((d) => d.slice()));
    expect(writes.map((w) => recut(w).length)).toEqual([64, 6]);
  });
});
