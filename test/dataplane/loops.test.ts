// The transmit and receive loops over the in-memory fakes (fakes.ts): no fd,
// no root. The engine is the real one (VXLAN, as the worker drives it with a
// kernel socket: outer IPv4/UDP left to the kernel).
import { describe, expect, it } from 'vitest';
import { decapVxlan } from '../../native-free/decap/vxlan.js';
import { DROP_BAD_VNI, DROP_NO_ROUTE, DROP_TOO_BIG, DROP_TUN_ERROR, DROP_UNKNOWN_PEER } from '../../native-free/drop.js';
import { type EncapContext } from '../../native-free/encap/context.js';
import { VXLAN_PAYLOAD_OVERHEAD, encapVxlan } from '../../native-free/encap/vxlan.js';
import { CAPTURE_INNER, CAPTURE_OUTER, CaptureRing, createCaptureState } from '../../src/dataplane/capture-ring.js';
import { CaptureTap } from '../../src/dataplane/capture-tap.js';
import { DROPS, ROW, TX_BYTES } from '../../src/dataplane/counters.js';
import type { Decap, Encap } from '../../src/backend/index.js';
import { RxPath } from '../../src/dataplane/rx-path.js';
import { TxPath } from '../../src/dataplane/tx-path.js';
import { A, B, decapAt, encapAt } from '../helpers/engine.js';
import { ipv4Packet } from '../helpers/packets.js';
import { FakeTun, FakeUnderlay } from './fakes.js';

const H = VXLAN_PAYLOAD_OVERHEAD;
const podA = A.subnet + 5;
const podB = B.subnet + 7;

function inner(n: number, size = 100, over: Partial<Parameters<typeof ipv4Packet>[0]> = {}): Uint8Array {
  const payload = new Uint8Array(size - 20).map((_, i) => (n * 31 + i) & 0xff);
  return ipv4Packet({ src: podA, dst: podB, id: n, payload, ...over });
}

function captured(ring: CaptureRing): Uint8Array[] {
  const out: Uint8Array[] = [];
  ring.drain((p) => out.push(p.slice()));
  return out;
}

/** A worker's transmit side on node A over fakes; `encaps` counts the engine calls. */
function txRig(o: { batch?: number; encapBytes?: number; capture?: number; ports?: number[] } = {}) {
  const tun = new FakeTun(o.encapBytes ?? H);
  const underlay = new FakeUnderlay(tun, 64, o.ports);
  const ctx: EncapContext = encapAt(A, { outerHeaders: false, udpChecksum: false });
  const counters = new Float64Array(ROW);
  const cap = createCaptureState(1);
  const ring = new CaptureRing(cap.rings[0]!);
  new Int32Array(cap.control)[0] = o.capture ?? 0;
  const tap = new CaptureTap(cap.control, ring, 'vxlan');
  const rig = { tun, underlay, counters, ring, encaps: 0 };
  const encap: Encap = (c, b, off, len) => {
    rig.encaps++;
    return encapVxlan(c, b, off, len);
  };
  const tx = new TxPath({ tun, underlay, ctx, encap, counters, tunnelAddr: A.subnet, tap, batch: o.batch ?? 64 });
  return { ...rig, tx, get encapCalls() { return rig.encaps; } };
}

/** What node B's decapsulation makes of a datagram A sent: the inner packet, or a drop code. */
function decapAtB(d: Uint8Array): Uint8Array | number {
  const b = new Uint8Array(64 + d.length);
  b.set(d, 64);
  const ctx = decapAt(B);
  const code = decapVxlan(ctx, b, 64, d.length, A.underlay);
  return code === 0 ? b.slice(ctx.result.offset, ctx.result.offset + ctx.result.length) : code;
}

describe('TxPath over fakes', () => {
  it('reads at most a batch per round, encapsulates each in place and sends the round with one flush', () => {
    const r = txRig({ batch: 3 });
    const packets = [0, 1, 2, 3, 4].map((n) => inner(n));
    r.tun.push(...packets);
    expect(r.tx.pump()).toBe(3);
    expect([r.underlay.flushes, r.underlay.sent.length, r.tun.waiting]).toEqual([1, 3, 2]);
    expect(r.tx.pump()).toBe(2);
    expect(r.tx.pump()).toBe(0);
    expect(r.underlay.flushes).toBe(3);
    expect(r.underlay.sent.map((s) => s.addr)).toEqual(packets.map(() => B.underlay));
    expect(r.underlay.sent.map((s) => decapAtB(s.bytes))).toEqual(packets);
    expect(r.counters[TX_BYTES]).toBe(5 * 100);
  });

  it('offloads on: the segments of a super-packet are encapsulated once and sent back to back, one stride apart', () => {
    const r = txRig();
    const segments = [0, 1, 2].map((n) => inner(n, 1000)).concat([inner(3, 300)]);
    r.tun.pushSuperPacket(segments);
    r.tun.push(inner(9, 60));
    expect(r.tx.pump()).toBe(2);
    expect(r.encapCalls).toBe(2);
    const sent = r.underlay.sent;
    expect(sent.map((s) => s.bytes.length)).toEqual([H + 1000, H + 1000, H + 1000, H + 300, H + 60]);
    // Back to back: what lets the kernel underlay send them as one UDP GSO entry.
    expect([sent[1]!.off - sent[0]!.off, sent[2]!.off - sent[1]!.off, sent[3]!.off - sent[2]!.off]).toEqual([H + 1000, H + 1000, H + 1000]);
    expect(sent.map((s) => decapAtB(s.bytes))).toEqual([...segments, inner(9, 60)]);
    expect(r.counters[TX_BYTES]).toBe(3300 + 60);
  });

  it('counts drops by reason, for every segment of a super-packet, and still sends the rest', () => {
    const r = txRig();
    const lost = { dst: 0x0a090909 };
    r.tun.push(inner(0, 100, lost), inner(1));
    r.tun.pushSuperPacket([inner(2, 500, lost), inner(3, 500, lost)]);
    r.tx.pump();
    expect(r.counters[DROPS + DROP_NO_ROUTE]).toBe(3);
    expect(r.underlay.sent.map((s) => decapAtB(s.bytes))).toEqual([inner(1)]);
  });

  it('answers a too-big DF packet with ICMP fragmentation needed into the TUN; a refused write is a tun_error drop', () => {
    const r = txRig();
    r.tun.push(inner(0, 1500, { df: true }));
    r.tx.pump();
    expect(r.counters[DROPS + DROP_TOO_BIG]).toBe(1);
    expect(r.underlay.sent).toEqual([]);
    expect(r.tun.written.length).toBe(1);
    const icmp = r.tun.written[0]!;
    expect([icmp[9], icmp[20], icmp[21], (icmp[26]! << 8) | icmp[27]!]).toEqual([1, 3, 4, 1450]);
    r.tun.refuseWrites = true;
    r.tun.push(inner(1, 1500, { df: true }));
    r.tx.pump();
    expect([r.counters[DROPS + DROP_TOO_BIG], r.counters[DROPS + DROP_TUN_ERROR]]).toEqual([2, 1]);
  });

  it('capture tap: outer captures show the whole IPv4/UDP/VXLAN packet and leave what is sent unchanged', () => {
    const plain = txRig();
    const r = txRig({ capture: CAPTURE_OUTER });
    for (const rig of [plain, r]) {
      rig.tun.pushSuperPacket([0, 1, 2].map((n) => inner(n, 700)));
      rig.tun.push(inner(5, 80), inner(6, 80));
      rig.tx.pump();
    }
    expect(r.underlay.sent).toEqual(plain.underlay.sent);
    const records = captured(r.ring);
    expect(records.map((p) => p.length)).toEqual([...[700, 700, 700, 80, 80].map((n) => 28 + H + n)]);
    for (const p of records) {
      expect([p[0], p[9], (p[22]! << 8) | p[23]!]).toEqual([0x45, 17, 4789]); // IPv4, UDP, to the VXLAN port
      expect(((p[16]! << 24) | (p[17]! << 16) | (p[18]! << 8) | p[19]!) >>> 0).toBe(B.underlay);
    }
    expect(captured(plain.ring)).toEqual([]);
  });

  it("source-port entropy: each datagram goes with its inner flow's hash: one flow one hash, other flows other hashes, a super-packet's segments their flow's; an outer capture shows the port it leaves from", () => {
    /** A UDP packet of flow sport → 53, payload byte n. */
    const udp = (sport: number, n: number, size = 100) => {
      const payload = new Uint8Array(size - 20).fill(n);
      payload.set([sport >> 8, sport & 0xff, 0, 53], 0);
      return ipv4Packet({ src: podA, dst: podB, id: n, payload });
    };
    const ports = [40001, 40002, 40003, 40004];
    const r = txRig({ capture: CAPTURE_OUTER, ports });
    const flows = Array.from({ length: 16 }, (_, i) => 1000 + i);
    for (const sport of flows) r.tun.push(udp(sport, 1), udp(sport, 2));
    r.tun.pushSuperPacket([0, 1, 2].map((n) => udp(5000, n, 700)));
    r.tx.pump();
    const sent = r.underlay.sent;
    expect(sent.length).toBe(16 * 2 + 3);
    const hashes = flows.map((_, i) => sent[2 * i]!.flow);
    flows.forEach((_, i) => expect(sent[2 * i + 1]!.flow, `flow ${i}: both packets with one hash`).toBe(hashes[i]));
    expect(new Set(hashes).size, 'distinct flows, distinct hashes').toBe(16);
    expect(new Set(hashes.map((h) => r.underlay.sourcePort(h))).size, '16 flows over 4 ports use more than one').toBeGreaterThan(1);
    const seg = sent.slice(32).map((d) => d.flow);
    expect(new Set(seg).size).toBe(1);
    expect(hashes).not.toContain(seg[0]);
    // The outer capture's UDP source port is the one the underlay picks for the datagram's flow.
    const records = captured(r.ring);
    expect(records.map((p) => (p[20]! << 8) | p[21]!)).toEqual(sent.map((d) => r.underlay.sourcePort(d.flow)));
  });

  it('capture tap: inner captures show the packet as the TUN gave it', () => {
    const r = txRig({ capture: CAPTURE_INNER });
    r.tun.push(inner(1, 90));
    r.tx.pump();
    expect(captured(r.ring)).toEqual([inner(1, 90)]);
  });
});

/** A worker's receive side on node B over fakes. */
function rxRig(capture = 0) {
  const tun = new FakeTun();
  const underlay = new FakeUnderlay(tun, 4);
  const counters = new Float64Array(ROW);
  const cap = createCaptureState(1);
  const ring = new CaptureRing(cap.rings[0]!);
  new Int32Array(cap.control)[0] = capture;
  const tap = new CaptureTap(cap.control, ring, 'vxlan');
  const decap: Decap = (c, b, off, len, src) => decapVxlan(c, b, off, len, src);
  const rx = new RxPath({ underlay, tun, ctx: decapAt(B), decap, counters, tap, local: B.underlay, localPort: 4789 });
  return { tun, underlay, counters, ring, rx };
}

/** The datagram A's kernel socket would carry for packet p (what B's socket returns). */
function fromA(p: Uint8Array, vni = 1): Uint8Array {
  const r = txRig();
  r.tun.push(p);
  r.tx.pump();
  const d = r.underlay.sent[0]!.bytes;
  d[4] = vni >> 16;
  d[5] = (vni >> 8) & 0xff;
  d[6] = vni & 0xff;
  return d;
}

describe('RxPath over fakes', () => {
  it('decapsulates a batch per round and delivers it, flushing the TUN queue once at the end of each round', () => {
    const r = rxRig();
    const packets = [0, 1, 2, 3, 4, 5].map((n) => inner(n));
    for (const p of packets) r.underlay.push(fromA(p), A.underlay);
    expect(r.rx.pump()).toBe(4);
    expect([r.tun.flushes, r.tun.delivered.length]).toEqual([1, 4]);
    expect(r.rx.pump()).toBe(2);
    expect(r.rx.pump()).toBe(0);
    expect(r.tun.delivered).toEqual(packets);
  });

  it('counts drops by reason and delivers the rest', () => {
    const r = rxRig();
    r.underlay.push(fromA(inner(0)), A.underlay);
    r.underlay.push(fromA(inner(1), 7), A.underlay);
    r.underlay.push(fromA(inner(2)), 0xcb007101); // 203.0.113.1: no such peer
    r.underlay.push(fromA(inner(3)), A.underlay);
    r.rx.pump();
    expect([r.counters[DROPS + DROP_BAD_VNI], r.counters[DROPS + DROP_UNKNOWN_PEER]]).toEqual([1, 1]);
    expect(r.tun.delivered).toEqual([inner(0), inner(3)]);
  });

  it('capture tap: an outer capture rebuilds the IPv4/UDP header from the sender and this node; dropped ones too', () => {
    const r = rxRig(CAPTURE_OUTER);
    r.underlay.push(fromA(inner(0)), A.underlay, 40000);
    r.underlay.push(fromA(inner(1), 9), A.underlay, 40001);
    r.rx.pump();
    const records = captured(r.ring);
    expect(records.length).toBe(2);
    const u32 = (p: Uint8Array, o: number) => ((p[o]! << 24) | (p[o + 1]! << 16) | (p[o + 2]! << 8) | p[o + 3]!) >>> 0;
    expect(records.map((p) => [p.length, u32(p, 12), u32(p, 16), (p[20]! << 8) | p[21]!, (p[22]! << 8) | p[23]!])).toEqual([
      [28 + H + 100, A.underlay, B.underlay, 40000, 4789],
      [28 + H + 100, A.underlay, B.underlay, 40001, 4789],
    ]);
    expect(r.tun.delivered).toEqual([inner(0)]);
  });

  it('capture tap: an inner capture records delivered packets only', () => {
    const r = rxRig(CAPTURE_INNER);
    r.underlay.push(fromA(inner(0)), A.underlay);
    r.underlay.push(fromA(inner(1), 9), A.underlay);
    r.rx.pump();
    expect(captured(r.ring)).toEqual([inner(0)]);
  });
});
