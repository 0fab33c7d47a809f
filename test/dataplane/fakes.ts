// In-memory fakes of the data plane's two I/O interfaces (src/dataplane/io.ts),
// as wireguard-go's tun/tuntest and conn/bindtest: the transmit and receive
// loops run over them with no fd, no namespace and no root.
//
// FakeTun: packets pushed in are what the host sends into the TUN; a pushed
// super-packet comes out as its segments, laid out as the kernel TUN queue
// lays them (encap bytes in front of each, one stride apart). Delivered
// packets are held until flush(), as a coalescing TUN queue holds them.
//
// FakeUnderlay: send() records, flush() copies the bytes out of the TUN
// queue's buffer then (as sendmmsg reads them at that moment, so a loop that
// changes them between send and flush is caught). Datagrams pushed in are
// received, a batch per receive(), each with capture room in front.
import { createOffloadResult } from '../../native-free/offload/tso.js';
import { OUTER_UDP_BYTES } from '../../src/dataplane/capture-tap.js';
import type { TunPackets, TunQueue, UnderlayDatagram, UnderlaySocket } from '../../src/dataplane/io.js';
import { ENCAP_LEAD, TUN_WRITE_LEAD, alignLine } from '../../src/dataplane/slab-layout.js';

const TUN_BUFFER = 1 << 20;

export class FakeTun implements TunQueue {
  readonly packets: TunPackets = createOffloadResult(256);
  /** What the host sent into the TUN, not read yet: a packet, or the segments of one super-packet. */
  private readonly inbound: { segments: Uint8Array[]; superPacket: boolean }[] = [];
  private at = 0;
  private held: Uint8Array[] = [];
  /** Packets delivered and flushed to the host, in order. */
  readonly delivered: Uint8Array[] = [];
  /** Packets written with write() (ICMP answers). */
  readonly written: Uint8Array[] = [];
  reads = 0;
  flushes = 0;
  /** write() refuses, as a kernel returning an error would. */
  refuseWrites = false;

  /** @param encapBytes room in front of each segment, as the kernel queue leaves the backend's encap bytes. */
  constructor(private readonly encapBytes = 0) {
    this.packets.buf = new Uint8Array(TUN_BUFFER);
  }

  push(...packets: Uint8Array[]): void {
    for (const p of packets) this.inbound.push({ segments: [p], superPacket: false });
  }

  /** A super-packet that the TUN queue cut into these segments (offloads on). */
  pushSuperPacket(segments: Uint8Array[]): void {
    this.inbound.push({ segments, superPacket: true });
  }

  get waiting(): number {
    return this.inbound.length;
  }

  read(): number {
    const next = this.inbound.shift();
    if (next === undefined) return -1;
    this.reads++;
    const p = this.packets;
    const buf = p.buf;
    p.inPlace = !next.superPacket;
    p.count = next.segments.length;
    const stride = next.superPacket ? this.encapBytes + Math.max(...next.segments.map((s) => s.length)) : 0;
    const base = this.at + ENCAP_LEAD;
    next.segments.forEach((s, i) => {
      const off = base + i * stride + (next.superPacket ? this.encapBytes : 0);
      if (off + s.length > buf.length) throw new Error('FakeTun: buffer full (rewind() not called?)');
      buf.set(s, off);
      p.offsets[i] = off;
      p.lengths[i] = s.length;
    });
    this.at = alignLine(p.offsets[p.count - 1]! + p.lengths[p.count - 1]!);
    return p.count;
  }

  rewind(): void {
    this.at = 0;
  }

  deliver(b: Uint8Array, off: number, len: number): void {
    if (off < TUN_WRITE_LEAD) throw new Error(`FakeTun.deliver: ${off} bytes in front, ${TUN_WRITE_LEAD} needed`);
    this.held.push(b.slice(off, off + len));
  }

  flush(): void {
    this.flushes++;
    this.delivered.push(...this.held);
    this.held = [];
  }

  write(b: Uint8Array, off: number, len: number): boolean {
    if (off < TUN_WRITE_LEAD) throw new Error(`FakeTun.write: ${off} bytes in front, ${TUN_WRITE_LEAD} needed`);
    if (this.refuseWrites) return false;
    this.written.push(b.slice(off, off + len));
    return true;
  }
}

export interface SentDatagram {
  addr: number;
  /** The inner flow hash it was sent with (UnderlaySocket.send). */
  flow: number;
  /** Where it lay in the TUN queue's buffer. */
  off: number;
  bytes: Uint8Array;
}

const RX_SLOT = OUTER_UDP_BYTES + 65536;

export class FakeUnderlay implements UnderlaySocket {
  readonly datagram: UnderlayDatagram;
  /** Datagrams sent (flushed), in order. */
  readonly sent: SentDatagram[] = [];
  flushes = 0;
  private queued: { off: number; len: number; addr: number; flow: number }[] = [];
  private readonly inbound: { bytes: Uint8Array; from: number; from6: Uint8Array | null; fromPort: number }[] = [];
  private taken: { off: number; len: number; from: number; from6: Uint8Array | null; fromPort: number }[] = [];
  private cursor = 0;

  /**
   * @param source where sent datagrams are read from: the TUN queue's buffer.
   * @param ports the source ports it sends from, picked by flow hash.
   */
  constructor(
    private readonly source: { readonly packets: TunPackets },
    private readonly batch = 64,
    private readonly ports: readonly number[] = [4789],
  ) {
    this.datagram = { buf: new Uint8Array(batch * RX_SLOT), offset: 0, length: 0, from: 0, from6: new Uint8Array(16), fromPort: 0 };
  }

  /** Datagrams queued and not flushed yet. */
  get pending(): number {
    return this.queued.length;
  }

  send(off: number, len: number, addr: number, flow: number): void {
    this.queued.push({ off, len, addr, flow });
  }

  /** As KernelUnderlay picks: ports[flow % ports.length]. */
  sourcePort(flow: number): number {
    return this.ports[(flow >>> 0) % this.ports.length]!;
  }

  flush(): void {
    this.flushes++;
    const buf = this.source.packets.buf;
    for (const q of this.queued) this.sent.push({ addr: q.addr, flow: q.flow, off: q.off, bytes: buf.slice(q.off, q.off + q.len) });
    this.queued = [];
  }

  /** A datagram arriving from from:fromPort (the payload a kernel socket would return). */
  push(bytes: Uint8Array, from: number, fromPort = 4789): void {
    this.inbound.push({ bytes, from, from6: null, fromPort });
  }

  /** The same from an IPv6 sender (the socket of a dual-stack worker's second underlay). */
  push6(bytes: Uint8Array, from6: Uint8Array, fromPort = 4789): void {
    this.inbound.push({ bytes, from: 0, from6: Uint8Array.from(from6), fromPort });
  }

  receive(): number {
    const n = Math.min(this.batch, this.inbound.length);
    const buf = this.datagram.buf;
    this.taken = this.inbound.splice(0, n).map((d, i) => {
      const off = i * RX_SLOT + OUTER_UDP_BYTES;
      buf.set(d.bytes, off);
      return { off, len: d.bytes.length, from: d.from, from6: d.from6, fromPort: d.fromPort };
    });
    this.cursor = 0;
    return n;
  }

  next(): boolean {
    const t = this.taken[this.cursor++];
    if (t === undefined) return false;
    const d = this.datagram;
    d.offset = t.off;
    d.length = t.len;
    d.from = t.from;
    if (t.from6 !== null) d.from6.set(t.from6);
    d.fromPort = t.fromPort;
    return true;
  }
}
