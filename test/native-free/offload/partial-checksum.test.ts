// A kernel peer's partial inner checksums (pseudo-header sum only), valid ones
// and damaged ones, for TCP and UDP, written alone (plain TUN and vnet) and
// coalesced (GRO), and a kernel peer's TSO super-packet that a veth passed
// whole (peer-super-packet.ts). Packets and checksums are built here, field by field; the
// kernel's side of a NEEDS_CSUM write is modelled by kernelCompletes()
// (skb_checksum_help: sum from csum_start to the end, complemented).
import { describe, expect, it } from 'vitest';

import { DROP_BAD_CHECKSUM, FORWARD } from '../../../native-free/drop.js';
import { GRO_FLUSH, GRO_PASS, GRO_PASS_BAD_CHECKSUM, createGroState, groAdd, groFinish } from '../../../native-free/offload/gro.js';
import { createUdpGroState, udpGroAdd, udpGroFinish } from '../../../native-free/offload/gro-udp.js';
import {
  L4_BAD,
  L4_PARTIAL,
  L4_UNCHECKED,
  L4_VALID,
  l4ChecksumState,
  prepareTunWrite,
} from '../../../native-free/offload/partial-checksum.js';
import { NOT_SUPER_PACKET, prepareSuperPacket } from '../../../native-free/offload/peer-super-packet.js';
import { createOffloadResult, createTsoSlab } from '../../../native-free/offload/tso.js';
import { VNET, wordSum } from './tcp4.js';

const TCP = 6;
const UDP = 17;
type State = 'valid' | 'partial' | 'damaged' | 'damaged-partial' | 'udp-zero';
type Family = 4 | 6;

const SRC4 = 0x0af4fa02; // 10.244.250.2
const DST4 = 0x0af41402; // 10.244.20.2
const SRC6 = Uint8Array.from([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfa, 2]);
const DST6 = Uint8Array.from([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x14, 2]);

function put16(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 8) & 0xff;
  b[at + 1] = v & 0xff;
}
const get16 = (b: Uint8Array, at: number): number => (b[at]! << 8) | b[at + 1]!;
const le16 = (b: Uint8Array, at: number): number => b[at]! | (b[at + 1]! << 8);

/** The unfolded pseudo-header sum of pkt (IPv4 or IPv6) for its L4 length. */
function pseudo(pkt: Uint8Array): number {
  if (pkt[0]! >>> 4 === 4) {
    const ihl = (pkt[0]! & 15) * 4;
    let s = pkt[9]! + get16(pkt, 2) - ihl;
    for (let i = 12; i < 20; i += 2) s += get16(pkt, i);
    return s;
  }
  let s = pkt[6]! + get16(pkt, 4);
  for (let i = 8; i < 40; i += 2) s += get16(pkt, i);
  return s;
}

const l4Start = (pkt: Uint8Array): number => (pkt[0]! >>> 4 === 4 ? (pkt[0]! & 15) * 4 : 40);
const fieldAt = (pkt: Uint8Array): number => l4Start(pkt) + ((pkt[0]! >>> 4 === 4 ? pkt[9] : pkt[6]) === TCP ? 16 : 6);

/** The full checksum verifies (the receiving kernel would accept the bytes as they are). */
function fullOk(pkt: Uint8Array): boolean {
  return wordSum(pkt.subarray(l4Start(pkt)), pseudo(pkt)) === 0xffff;
}

interface Seg {
  family?: Family;
  proto: number;
  state: State;
  seq?: number;
  id?: number;
  payload: Uint8Array;
  psh?: boolean;
}

/** One IPv4/IPv6 TCP (flags ACK) or UDP segment with its checksum in `state`. */
function segment(s: Seg): Uint8Array {
  const family = s.family ?? 4;
  const ipLen = family === 4 ? 20 : 40;
  const l4Hdr = s.proto === TCP ? 20 : 8;
  const p = new Uint8Array(ipLen + l4Hdr + s.payload.length);
  const l4Len = l4Hdr + s.payload.length;
  if (family === 4) {
    p[0] = 0x45;
    put16(p, 2, p.length);
    put16(p, 4, s.id ?? 0x100);
    p[6] = 0x40; // DF
    p[8] = 63;
    p[9] = s.proto;
    put16(p, 12, SRC4 >>> 16);
    put16(p, 14, SRC4 & 0xffff);
    put16(p, 16, DST4 >>> 16);
    put16(p, 18, DST4 & 0xffff);
    put16(p, 10, ~wordSum(p.subarray(0, 20)) & 0xffff);
  } else {
    p[0] = 0x60;
    put16(p, 4, l4Len);
    p[6] = s.proto;
    p[7] = 63;
    p.set(SRC6, 8);
    p.set(DST6, 24);
  }
  const t = ipLen;
  put16(p, t, 40000);
  put16(p, t + 2, 5201);
  if (s.proto === TCP) {
    const seq = s.seq ?? 1000;
    put16(p, t + 4, seq >>> 16);
    put16(p, t + 6, seq & 0xffff);
    put16(p, t + 10, 77);
    p[t + 12] = 0x50;
    p[t + 13] = 0x10 | (s.psh ? 0x08 : 0);
    put16(p, t + 14, 502);
  } else {
    put16(p, t + 4, l4Len);
  }
  p.set(s.payload, t + l4Hdr);
  const f = fieldAt(p);
  const partial = wordSum(new Uint8Array(0), pseudo(p)); // folded, not complemented: what tcp_v4_send_check leaves
  if (s.state === 'udp-zero') return p;
  if (s.state === 'partial' || s.state === 'damaged-partial') put16(p, f, partial);
  else put16(p, f, ~wordSum(p.subarray(t), pseudo(p)) & 0xffff || (s.proto === UDP ? 0xffff : 0));
  if (s.state === 'damaged') p[p.length - 1]! ^= 0x01; // a payload bit flipped in flight
  if (s.state === 'damaged-partial') p[f + 1]! ^= 0x04; // the field itself hit: neither full nor partial
  return p;
}

/** What the kernel does with a TUN write (virtio_net_hdr + packet): completes a NEEDS_CSUM checksum. */
function kernelCompletes(w: Uint8Array): Uint8Array {
  const pkt = w.slice(VNET);
  if ((w[0]! & 1) !== 0) {
    const start = le16(w, 6);
    const at = start + le16(w, 8);
    let c = ~wordSum(pkt.subarray(start)) & 0xffff;
    const proto = pkt[0]! >>> 4 === 4 ? pkt[9] : pkt[6];
    if (c === 0 && proto === UDP) c = 0xffff;
    put16(pkt, at, c);
  }
  return pkt;
}

const bytes = (n: number, k: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7 + k) & 0xff);

/** Packet p in a buffer with 16 bytes of headroom (room for the virtio_net_hdr). */
function inBuffer(p: Uint8Array): Uint8Array {
  const b = new Uint8Array(16 + p.length);
  b.set(p, 16);
  return b;
}

describe('l4ChecksumState: the rule', () => {
  const cases: Array<[string, Seg, number]> = [
    ['TCP/IPv4 valid', { proto: TCP, state: 'valid', payload: bytes(100, 1) }, L4_VALID],
    ['TCP/IPv4 partial', { proto: TCP, state: 'partial', payload: bytes(100, 1) }, L4_PARTIAL],
    ['TCP/IPv4 damaged payload', { proto: TCP, state: 'damaged', payload: bytes(100, 1) }, L4_BAD],
    ['TCP/IPv4 damaged field', { proto: TCP, state: 'damaged-partial', payload: bytes(100, 1) }, L4_BAD],
    ['UDP/IPv4 valid', { proto: UDP, state: 'valid', payload: bytes(101, 2) }, L4_VALID],
    ['UDP/IPv4 partial', { proto: UDP, state: 'partial', payload: bytes(101, 2) }, L4_PARTIAL],
    ['UDP/IPv4 damaged payload', { proto: UDP, state: 'damaged', payload: bytes(101, 2) }, L4_BAD],
    ['UDP/IPv4 damaged field', { proto: UDP, state: 'damaged-partial', payload: bytes(101, 2) }, L4_BAD],
    ['UDP/IPv4 checksum 0 ("none", RFC 768)', { proto: UDP, state: 'udp-zero', payload: bytes(101, 2) }, L4_VALID],
    ['TCP/IPv6 valid', { family: 6, proto: TCP, state: 'valid', payload: bytes(99, 3) }, L4_VALID],
    ['TCP/IPv6 partial', { family: 6, proto: TCP, state: 'partial', payload: bytes(99, 3) }, L4_PARTIAL],
    ['TCP/IPv6 damaged', { family: 6, proto: TCP, state: 'damaged', payload: bytes(99, 3) }, L4_BAD],
    ['UDP/IPv6 partial', { family: 6, proto: UDP, state: 'partial', payload: bytes(64, 4) }, L4_PARTIAL],
    ['UDP/IPv6 damaged', { family: 6, proto: UDP, state: 'damaged', payload: bytes(64, 4) }, L4_BAD],
    ['UDP/IPv6 checksum 0: left to the kernel', { family: 6, proto: UDP, state: 'udp-zero', payload: bytes(64, 4) }, L4_UNCHECKED],
  ];
  it.each(cases)('%s', (_name, seg, want) => {
    const p = segment(seg);
    expect(l4ChecksumState(p, 0, p.length)).toBe(want);
  });

  it('an IPv4 fragment, ICMP, or a UDP length that disagrees with the IP length is not judged (the kernel does)', () => {
    const frag = segment({ proto: UDP, state: 'damaged', payload: bytes(64, 5) });
    frag[6] = 0x20; // MF
    expect(l4ChecksumState(frag, 0, frag.length)).toBe(L4_UNCHECKED);
    const icmp = segment({ proto: UDP, state: 'damaged', payload: bytes(64, 5) });
    icmp[9] = 1;
    expect(l4ChecksumState(icmp, 0, icmp.length)).toBe(L4_UNCHECKED);
    const udpLen = segment({ proto: UDP, state: 'damaged', payload: bytes(64, 5) });
    put16(udpLen, 24, 30);
    expect(l4ChecksumState(udpLen, 0, udpLen.length)).toBe(L4_UNCHECKED);
  });

  it('a partial segment whose payload is damaged in flight is not detectable (as for the kernel on veth): it is delivered', () => {
    const p = segment({ proto: TCP, state: 'partial', payload: bytes(100, 1) });
    p[p.length - 1]! ^= 0x01;
    expect(l4ChecksumState(p, 0, p.length)).toBe(L4_PARTIAL);
  });
});

describe('prepareTunWrite: one packet written alone', () => {
  const protos: Array<[string, number, Family]> = [
    ['TCP/IPv4', TCP, 4],
    ['UDP/IPv4', UDP, 4],
    ['TCP/IPv6', TCP, 6],
    ['UDP/IPv6', UDP, 6],
  ];
  for (const [name, proto, family] of protos) {
    for (const vnet of [false, true]) {
      const mode = vnet ? 'vnet (NEEDS_CSUM)' : 'plain TUN (completed in software)';
      it(`${name}, ${mode}: valid unchanged, partial completed, damaged dropped`, () => {
        for (const state of ['valid', 'partial', 'damaged', 'damaged-partial'] as const) {
          const p = segment({ family, proto, state, payload: bytes(333, proto) });
          const b = inBuffer(p);
          const code = prepareTunWrite(b, 16, p.length, vnet);
          if (state === 'damaged' || state === 'damaged-partial') {
            expect(code, state).toBe(DROP_BAD_CHECKSUM);
            continue;
          }
          expect(code, state).toBe(FORWARD);
          // What the receiving kernel ends up with: the full, right checksum.
          const got = vnet ? kernelCompletes(b.subarray(16 - VNET)) : b.slice(16);
          expect(fullOk(got), `${state}: checksum complete`).toBe(true);
          const want = segment({ family, proto, state: 'valid', payload: bytes(333, proto) });
          expect(Buffer.from(got).equals(Buffer.from(want)), `${state}: the bytes a NIC would have sent`).toBe(true);
          if (vnet) {
            const h = b.subarray(16 - VNET, 16);
            if (state === 'valid') expect(Array.from(h)).toEqual(new Array(VNET).fill(0));
            else expect([h[0], h[1], le16(h, 6), le16(h, 8)]).toEqual([1, 0, l4Start(p), proto === TCP ? 16 : 6]);
          }
        }
      });
    }
  }

  it('UDP/IPv4 checksum 0 stays 0, both modes', () => {
    for (const vnet of [false, true]) {
      const p = segment({ proto: UDP, state: 'udp-zero', payload: bytes(50, 9) });
      const b = inBuffer(p);
      expect(prepareTunWrite(b, 16, p.length, vnet)).toBe(FORWARD);
      expect(get16(b, 16 + 26)).toBe(0);
      if (vnet) expect(b[16 - VNET]).toBe(0);
    }
  });

  it('a partial UDP checksum that completes to 0 is written as 0xffff (RFC 768, CSUM_MANGLED_0)', () => {
    // Find a payload whose real checksum is 0 by fixing its last two bytes.
    const p = segment({ proto: UDP, state: 'partial', payload: bytes(40, 1) });
    const end = p.length - 2;
    put16(p, end, 0);
    // Completed = ~(sum of the segment, the field holding the partial sum): 0 when that sums to 0xffff.
    const segSum = wordSum(p.subarray(20));
    put16(p, end, ~segSum & 0xffff);
    expect(wordSum(p.subarray(20))).toBe(0xffff);
    const b = inBuffer(p);
    expect(prepareTunWrite(b, 16, p.length, false)).toBe(FORWARD);
    expect(get16(b, 16 + 26)).toBe(0xffff);
    expect(fullOk(b.subarray(16))).toBe(true);
  });
});

/** Offers segments to a GRO state the way TunWriter does; returns the writes (kernel-completed packets) and the drops. */
function coalesce(proto: number, segs: Uint8Array[]): { writes: Uint8Array[]; headers: Uint8Array[]; dropped: number } {
  const tcp = proto === TCP;
  const g = tcp ? createGroState() : createUdpGroState();
  const add = (b: Uint8Array): number => (tcp ? groAdd(g as ReturnType<typeof createGroState>, b, 16, b.length - 16) : udpGroAdd(g as ReturnType<typeof createUdpGroState>, b, 16, b.length - 16));
  const finish = (): number => (tcp ? groFinish(g as ReturnType<typeof createGroState>) : udpGroFinish(g as ReturnType<typeof createUdpGroState>));
  const writes: Uint8Array[] = [];
  const headers: Uint8Array[] = [];
  let dropped = 0;
  const flush = (): void => {
    const n = finish();
    if (n > 0) {
      const w = g.out.slice(g.base, g.base + n);
      headers.push(w.slice(0, VNET));
      writes.push(kernelCompletes(w));
    }
  };
  for (const p of segs) {
    const b = inBuffer(p);
    let a = add(b);
    if (a === GRO_FLUSH) {
      flush();
      a = add(b);
    }
    if (a !== GRO_PASS) continue;
    if (g.passReason === GRO_PASS_BAD_CHECKSUM) {
      dropped++;
      continue;
    }
    flush();
    expect(prepareTunWrite(b, 16, p.length, true)).toBe(FORWARD);
    headers.push(b.slice(16 - VNET, 16));
    writes.push(kernelCompletes(b.subarray(16 - VNET)));
  }
  flush();
  return { writes, headers, dropped };
}

describe('GRO: partial segments coalesce, damaged ones are dropped', () => {
  const SIZE = 1200;
  const flow = (proto: number, states: State[]): Uint8Array[] =>
    states.map((state, i) => segment({ proto, state, seq: 1000 + i * SIZE, id: 0x100 + i, payload: bytes(SIZE, i) }));

  for (const [name, proto] of [['TCP', TCP], ['UDP', UDP]] as const) {
    const cases: Array<[string, State[], number, number]> = [
      // [what, states of the segments, writes, drops]
      ['all valid', ['valid', 'valid', 'valid', 'valid'], 1, 0],
      ['all partial (a kernel peer with offloads on)', ['partial', 'partial', 'partial', 'partial'], 1, 0],
      ['partial and valid mixed', ['partial', 'valid', 'partial', 'valid'], 1, 0],
      ['one damaged among partial (the gap it leaves splits the run)', ['partial', 'partial', 'damaged', 'partial'], 2, 1],
      ['one damaged-field among partial', ['partial', 'damaged-partial', 'partial', 'partial'], 2, 1],
      ['a lone partial segment', ['partial'], 1, 0],
      ['a lone damaged segment', ['damaged'], 0, 1],
    ];
    it.each(cases)(`${name}: %s`, (_what, states, nWrites, nDrops) => {
      const segs = flow(proto, states);
      const r = coalesce(proto, segs);
      expect(r.dropped).toBe(nDrops);
      expect(r.writes.length).toBe(nWrites);
      for (const w of r.writes) expect(fullOk(w), 'checksum complete once the kernel fills it in').toBe(true);
      // The payload delivered is that of the segments not dropped, in order.
      const hdr = proto === TCP ? 40 : 28;
      const kept = segs.filter((_, i) => states[i] !== 'damaged' && states[i] !== 'damaged-partial');
      const delivered = Buffer.concat(r.writes.map((w) => w.subarray(hdr)));
      const want = Buffer.concat(kept.map((p) => p.subarray(hdr)));
      // A dropped segment in the middle splits the flow (TCP: a sequence gap flushes).
      expect(delivered.equals(want)).toBe(true);
      if (states.length === 1 && states[0] === 'partial') {
        // Alone, it is not a super-packet: NEEDS_CSUM without GSO.
        const h = r.headers[0]!;
        expect([h[0], h[1], le16(h, 6), le16(h, 8)]).toEqual([1, 0, 20, proto === TCP ? 16 : 6]);
      }
    });
  }

  it('UDP datagrams with checksum 0 still coalesce (IPv4 "no checksum" is valid)', () => {
    const r = coalesce(UDP, flow(UDP, ['udp-zero', 'udp-zero', 'udp-zero']));
    expect([r.writes.length, r.dropped]).toEqual([1, 0]);
    expect(r.headers[0]![1]).toBe(5); // GSO_UDP_L4
  });
});

describe('a kernel peer TSO super-packet that a veth passed whole (longer than the tunnel MTU)', () => {
  const MTU = 1450;
  const PAYLOAD = 7000;
  const mss = MTU - 40;
  for (const state of ['valid', 'partial', 'damaged', 'damaged-partial'] as const) {
    const bad = state === 'damaged' || state === 'damaged-partial';
    it(`${state}, vnet: ${bad ? 'dropped as bad_checksum' : 'handed to the kernel as GSO_TCPV4 with gso_size = MTU − headers'}`, () => {
      const p = segment({ proto: TCP, state, payload: bytes(PAYLOAD, 3) });
      const b = inBuffer(p);
      const code = prepareSuperPacket(b, 16, p.length, MTU, null, null);
      if (bad) {
        expect(code).toBe(DROP_BAD_CHECKSUM);
        return;
      }
      expect(code).toBe(FORWARD);
      const h = b.subarray(16 - VNET, 16);
      expect([h[0], h[1], le16(h, 2), le16(h, 4), le16(h, 6), le16(h, 8)]).toEqual([1, 1, 40, mss, 20, 16]);
      // tcp_gso_segment expects the pseudo-header sum in the field; completing it gives the full checksum.
      expect(get16(b, 16 + 36)).toBe(wordSum(new Uint8Array(0), pseudo(p)));
      expect(fullOk(kernelCompletes(b.subarray(16 - VNET)))).toBe(true);
    });
    it(`${state}, plain TUN: ${bad ? 'dropped as bad_checksum' : 'cut here into segments within the MTU, full checksums'}`, () => {
      const p = segment({ proto: TCP, state, payload: bytes(PAYLOAD, 3) });
      const b = inBuffer(p);
      const slab = createTsoSlab(64, MTU, 0);
      const r = createOffloadResult(64);
      const code = prepareSuperPacket(b, 16, p.length, MTU, slab, r);
      if (bad) {
        expect(code).toBe(DROP_BAD_CHECKSUM);
        return;
      }
      expect(code).toBe(FORWARD);
      expect(r.count).toBe(Math.ceil(PAYLOAD / mss));
      const segs = Array.from({ length: r.count }, (_, i) => r.buf.slice(r.offsets[i]!, r.offsets[i]! + r.lengths[i]!));
      for (const [i, s] of segs.entries()) {
        expect(s.length, `segment ${i} within the MTU`).toBeLessThanOrEqual(MTU);
        expect(fullOk(s), `segment ${i} checksum`).toBe(true);
        expect(((get16(s, 24) << 16) | get16(s, 26)) >>> 0, `segment ${i} seq`).toBe(1000 + i * mss);
      }
      expect(Buffer.concat(segs.map((s) => s.subarray(40))).equals(Buffer.from(bytes(PAYLOAD, 3)))).toBe(true);
    });
  }

  it('not cut: UDP, no DF (the kernel fragments or refuses it as before)', () => {
    const udp = segment({ proto: UDP, state: 'partial', payload: bytes(PAYLOAD, 1) });
    expect(prepareSuperPacket(inBuffer(udp), 16, udp.length, MTU, null, null)).toBe(NOT_SUPER_PACKET);
    const noDf = segment({ proto: TCP, state: 'valid', payload: bytes(PAYLOAD, 1) });
    noDf[6] = 0;
    put16(noDf, 10, 0);
    put16(noDf, 10, ~wordSum(noDf.subarray(0, 20)) & 0xffff);
    expect(prepareSuperPacket(inBuffer(noDf), 16, noDf.length, MTU, null, null)).toBe(NOT_SUPER_PACKET);
  });
});
