// The kernel TUN queue (src/dataplane/tun-queue.ts) with its read() and
// write() replaced by in-memory ones: the virtio_net_hdr handling, TSO
// segmentation and GRO coalescing it hides, with offloads on and off, and no
// TUN device (no root).
import { describe, expect, it } from 'vitest';
import { decapVxlan } from '../../native-free/decap/vxlan.js';
import { DROP_BAD_OFFLOAD, DROP_TUN_ERROR } from '../../native-free/drop.js';
import { VXLAN_PAYLOAD_OVERHEAD, encapVxlan } from '../../native-free/encap/vxlan.js';
import { VNET_BAD_GSO_TYPE } from '../../native-free/offload/reasons.js';
import { CaptureRing, createCaptureState } from '../../src/dataplane/capture-ring.js';
import { CaptureTap } from '../../src/dataplane/capture-tap.js';
import { DROPS, OFFLOAD_DROPS, ROW, RX_PACKETS, TSO_SEGMENTS, TSO_SUPER_PACKETS, TUN_GRO_SEGMENTS, TUN_GRO_WRITES } from '../../src/dataplane/counters.js';
import { ENCAP_LEAD, coalesceArea, rxSlab } from '../../src/dataplane/slab-layout.js';
import { TxPath } from '../../src/dataplane/tx-path.js';
import { KernelTunQueue } from '../../src/dataplane/tun-queue.js';
import { A, B, decapAt, encapAt } from '../helpers/engine.js';
import { VNET, baseSpec, parse, superPacket, tcp4Packet, tcpChecksumOk } from '../native-free/offload/tcp4.js';
import { FakeUnderlay } from './fakes.js';

const H = VXLAN_PAYLOAD_OVERHEAD;

/** A TUN fd in memory: reads come from `reads`, writes go to `writes`. */
function fakeFd() {
  const fd = {
    reads: [] as Uint8Array[],
    writes: [] as Uint8Array[],
    refuse: false,
    read: (_fd: number, b: Uint8Array, off: number, max: number): number => {
      const r = fd.reads.shift();
      if (r === undefined) return -1;
      b.set(r.subarray(0, Math.min(max, r.length)), off);
      return Math.min(max, r.length);
    },
    write: (_fd: number, b: Uint8Array, off: number, len: number): number => {
      if (fd.refuse) throw new Error('EIO');
      fd.writes.push(b.slice(off, off + len));
      return len;
    },
  };
  return fd;
}

function queue(vnet: boolean, o: { batch?: number; withArea?: boolean } = {}) {
  const fd = fakeFd();
  const counters = new Float64Array(ROW);
  const rx = rxSlab(4, 2048, coalesceArea(vnet, vnet));
  const q = new KernelTunQueue({
    fd: 3,
    counters,
    vnet,
    mtu: 1450,
    batch: o.batch ?? 8,
    slotSize: 2048,
    encapBytes: H,
    coalesceIn: o.withArea !== false && rx.coalesceAt >= 0 ? { buf: rx.slab.buf, offset: rx.coalesceAt } : null,
    read: fd.read,
    write: fd.write,
  });
  return { fd, counters, q, rx: rx.slab };
}

/** A vnet read of a plain packet: a zeroed virtio_net_hdr (GSO_NONE) in front. */
function vnetPlain(p: Uint8Array): Uint8Array {
  const out = new Uint8Array(VNET + p.length);
  out.set(p, VNET);
  return out;
}

const spec = (n: number, payload = 1000) =>
  baseSpec({ flags: 0x10, seq: 0x10000000 + n * payload, id: 0x100 + n, payload: Uint8Array.from({ length: payload }, (_, i) => (n + i) & 255) });

describe('KernelTunQueue reads', () => {
  it('offloads on: a TCP super-packet comes out as MSS segments, encap bytes in front of each, one stride apart', () => {
    const { fd, counters, q } = queue(true);
    const s = baseSpec(); // 10000 bytes of payload, MSS 1448, 12 bytes of TCP options
    fd.reads.push(superPacket(s));
    expect(q.read()).toBe(7);
    const p = q.packets;
    expect(p.inPlace).toBe(false);
    const stride = H + 20 + 32 + 1448;
    for (let i = 1; i < 7; i++) expect(p.offsets[i]! - p.offsets[i - 1]!).toBe(stride);
    expect(Array.from(p.lengths.subarray(0, 7))).toEqual([...Array(6).fill(52 + 1448), 52 + 10000 - 6 * 1448]);
    const segs = Array.from({ length: 7 }, (_, i) => p.buf.slice(p.offsets[i]!, p.offsets[i]! + p.lengths[i]!));
    expect(segs.every(tcpChecksumOk)).toBe(true);
    expect(segs.map((g) => parse(g).seq - s.seq)).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => i * 1448));
    expect([counters[TSO_SUPER_PACKETS], counters[TSO_SEGMENTS]]).toEqual([1, 7]);
    expect(q.read()).toBe(-1);
  });

  it('offloads on: small packets are read in place behind the datagram before them, so their datagrams lie back to back', () => {
    const { fd, counters, q } = queue(true);
    const packets = [0, 1, 2].map((n) => tcp4Packet(spec(n, 200), 'full'));
    for (const p of packets) fd.reads.push(vnetPlain(p));
    const underlay = new FakeUnderlay(q);
    const cap = createCaptureState(1);
    const tap = new CaptureTap(cap.control, new CaptureRing(cap.rings[0]!), 'vxlan');
    const ctx = encapAt(A, { outerHeaders: false, udpChecksum: false });
    new TxPath({ tun: q, underlay, ctx, encap: encapVxlan, counters, tunnelAddr: A.subnet, tap, batch: 64 }).pump();
    const sent = underlay.sent;
    expect(sent.map((d) => d.bytes.length)).toEqual(packets.map((p) => H + p.length));
    expect(sent[1]!.off).toBe(sent[0]!.off + sent[0]!.bytes.length);
    expect(sent[2]!.off).toBe(sent[1]!.off + sent[1]!.bytes.length);
    const decap = decapAt(B);
    const inner = sent.map((d) => {
      const b = new Uint8Array(64 + d.bytes.length);
      b.set(d.bytes, 64);
      expect(decapVxlan(decap, b, 64, d.bytes.length, A.underlay)).toBe(0);
      return b.slice(decap.result.offset, decap.result.offset + decap.result.length);
    });
    expect(inner).toEqual(packets);
  });

  it('offloads on: a read the engine cannot segment is a bad_offload drop, counted by offload reason', () => {
    const { fd, counters, q } = queue(true);
    const bad = superPacket(baseSpec());
    bad[1] = 0x42; // no such gso_type
    fd.reads.push(bad);
    expect(q.read()).toBe(0);
    expect([counters[DROPS + DROP_BAD_OFFLOAD], counters[OFFLOAD_DROPS + VNET_BAD_GSO_TYPE]]).toEqual([1, 1]);
  });

  it('offloads off: one packet per slot with the lead in front, until the slots of a round are used; rewind() starts over', () => {
    const { fd, q } = queue(false, { batch: 2 });
    for (let n = 0; n < 3; n++) fd.reads.push(tcp4Packet(spec(n, 100), 'full'));
    expect([q.read(), q.packets.inPlace, q.packets.offsets[0]]).toEqual([1, true, ENCAP_LEAD]);
    expect([q.read(), q.packets.offsets[0]]).toEqual([1, 2048 + ENCAP_LEAD]);
    expect(q.read()).toBe(-1);
    q.rewind();
    expect([q.read(), q.packets.offsets[0]]).toEqual([1, ENCAP_LEAD]);
    expect(q.packets.buf.slice(ENCAP_LEAD, ENCAP_LEAD + q.packets.lengths[0]!)).toEqual(tcp4Packet(spec(2, 100), 'full'));
  });
});

describe('KernelTunQueue writes', () => {
  /** Delivers packets from the receive slab, as the receive loop does, then flushes. */
  function deliverAll(t: ReturnType<typeof queue>, packets: Uint8Array[]): void {
    packets.forEach((p, i) => {
      const off = t.rx.dataOffset(i);
      t.rx.buf.set(p, off);
      t.q.deliver(t.rx.buf, off, p.length);
    });
    t.q.flush();
  }
  const inOrder = () => [0, 1, 2].map((n) => tcp4Packet(spec(n), 'full'));

  it('offloads on: in-order TCP segments of one flow become one GSO_TCPV4 write behind a virtio_net_hdr', () => {
    const t = queue(true);
    deliverAll(t, inOrder());
    expect(t.fd.writes.length).toBe(1);
    const w = t.fd.writes[0]!;
    expect([w[1], w[4]! | (w[5]! << 8)]).toEqual([1, 1000]); // GSO_TCPV4, gso_size 1000
    expect(parse(w.subarray(VNET)).payload.length).toBe(3000);
    expect([t.counters[TUN_GRO_WRITES], t.counters[TUN_GRO_SEGMENTS], t.counters[RX_PACKETS]]).toEqual([1, 3, 3]);
  });

  it('offloads on without a coalescing area: each packet alone behind a zeroed virtio_net_hdr', () => {
    const t = queue(true, { withArea: false });
    const packets = inOrder();
    deliverAll(t, packets);
    expect(t.fd.writes.map((w) => w.subarray(0, VNET).every((x) => x === 0))).toEqual([true, true, true]);
    expect(t.fd.writes.map((w) => w.slice(VNET))).toEqual(packets);
  });

  it('offloads off: each packet written as it is', () => {
    const t = queue(false);
    const packets = inOrder();
    deliverAll(t, packets);
    expect(t.fd.writes).toEqual(packets);
    expect([t.counters[TUN_GRO_WRITES], t.counters[RX_PACKETS]]).toEqual([0, 3]);
  });

  it('a write the kernel refuses is a tun_error drop for every packet in it', () => {
    const t = queue(true);
    t.fd.refuse = true;
    deliverAll(t, inOrder());
    expect([t.counters[DROPS + DROP_TUN_ERROR], t.counters[RX_PACKETS]]).toEqual([3, 0]);
    const icmp = new Uint8Array(VNET + 28);
    expect(t.q.write(icmp, VNET, 28)).toBe(false);
  });
});
