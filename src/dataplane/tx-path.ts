// The transmit loop: TUN queue → encapsulate → underlay socket (io.ts), with
// or without offloads alike. One round reads up to `batch` packets from the
// TUN queue until it has no more, encapsulates each in place, and hands every
// forwarded datagram to the underlay, which sends the round at its end.
//
// A read is one packet, or the segments of one super-packet (the TUN queue
// cut it): those share their route, peer and every header in front of the
// inner payload, so only the first is encapsulated (and decides the fate of
// all: a drop reason applies to every segment); the others get a copy of its
// encapsulation bytes.
//
// Packets over the tunnel MTU with DF get an ICMP "fragmentation needed"
// written back into the TUN (IPv6 packets, which routers never fragment, an
// ICMPv6 "packet too big"); every other drop is counted by reason.
//
// Dual-stack: the encapsulation says which underlay family a packet travels
// over (ctx.result.family, as flannel sends IPv4 pods over flannel.1 and IPv6
// pods over flannel-v6.1); family 6 goes to the IPv6 underlay socket, whose
// destinations are peer ids (send-queue.ts). Captures show the IPv4 underlay
// only.
import { DROPS, TX_BYTES } from './counters.js';
import { DROP_TOO_BIG, DROP_TUN_ERROR, FORWARD } from '../../native-free/drop.js';
import type { EncapContext } from '../../native-free/encap/context.js';
import type { Encap } from '../backend/types.js';
import { FRAG_NEEDED_MAX_LENGTH, PACKET_TOO_BIG_MAX_LENGTH, writeFragNeeded, writePacketTooBig } from '../../native-free/icmp-too-big.js';
import { innerMtu } from '../../native-free/encap/route.js';
import { copyBytes } from '../../native-free/offload/copy-sum.js';
import type { CaptureTap } from './capture-tap.js';
import type { TunPackets, TunQueue, UnderlaySocket } from './io.js';
import { TUN_WRITE_LEAD } from './slab-layout.js';


export interface TxPathOptions {
  tun: TunQueue;
  underlay: UnderlaySocket;
  ctx: EncapContext;
  /** The backend's encapsulation (the caller picks it). */
  encap: Encap;
  counters: Float64Array;
  /** This node's tunnel address, the source of ICMP errors written to the TUN. */
  tunnelAddr: number;
  /** Dual-stack: the IPv6 underlay socket, and this node's IPv6 tunnel address (16 bytes), the source of ICMPv6 errors. */
  underlay6?: UnderlaySocket | null;
  tunnelAddr6?: Uint8Array | null;
  tap: CaptureTap;
  /** At most this many TUN reads per round. */
  batch: number;
}

/** Outer headers an outer capture writes in front of a datagram: IPv4 + UDP, or IPv4 for ipip. */
const OUTER_MAX = 28;

export class TxPath {
  private readonly tun: TunQueue;
  private readonly underlay: UnderlaySocket;
  private readonly underlay6: UnderlaySocket | null;
  private readonly tunnelAddr6: Uint8Array | null;
  private readonly ctx: EncapContext;
  private readonly encap: Encap;
  private readonly counters: Float64Array;
  private readonly tap: CaptureTap;
  private readonly tunnelAddr: number;
  private readonly batch: number;
  /** The ICMP answer is built TUN_WRITE_LEAD bytes in, the room the TUN queue's write wants. */
  private readonly icmp = new Uint8Array(TUN_WRITE_LEAD + Math.max(FRAG_NEEDED_MAX_LENGTH, PACKET_TOO_BIG_MAX_LENGTH));
  /** Bytes in front of a datagram an outer capture overwrites (capture()). */
  private readonly saved = new Uint8Array(OUTER_MAX);

  constructor(o: TxPathOptions) {
    this.tun = o.tun;
    this.underlay = o.underlay;
    this.underlay6 = o.underlay6 ?? null;
    this.tunnelAddr6 = o.tunnelAddr6 ?? null;
    this.ctx = o.ctx;
    this.encap = o.encap;
    this.counters = o.counters;
    this.tap = o.tap;
    this.tunnelAddr = o.tunnelAddr;
    this.batch = o.batch;
  }

  /** One round; returns how many TUN reads it made. */
  pump(): number {
    const tun = this.tun;
    const p = tun.packets;
    tun.rewind();
    let read = 0;
    for (; read < this.batch; read++) {
      const n = tun.read();
      if (n < 0) break;
      if (n === 0) continue;
      if (p.inPlace) this.one(p.buf, p.offsets[0]!, p.lengths[0]!);
      else this.segments(p);
    }
    this.underlay.flush();
    this.underlay6?.flush();
    return read;
  }

  /** Encapsulates b[off, off+len) in place and hands it to the underlay, or counts the drop. */
  private one(b: Uint8Array, off: number, len: number): void {
    const code = this.encap(this.ctx, b, off, len);
    if (code !== FORWARD) {
      this.dropped(code, b, off, len);
      return;
    }
    const e = this.ctx.result;
    const start = e.offset;
    const length = e.length;
    const flow = e.flowHash;
    this.counters[TX_BYTES]! += len;
    if (e.family === 6) {
      this.underlay6!.send(start, length, e.peer, flow);
      return;
    }
    const addr = e.underlay;
    const mode = this.tap.mode;
    if (mode !== 0) this.capture(b, off, len, off - start, mode);
    this.underlay.send(start, length, addr, flow);
  }

  /** The segments of one super-packet: the first encapsulated, its encapsulation copied in front of the others. */
  private segments(p: TunPackets): void {
    const b = p.buf;
    const first = p.offsets[0]!;
    const code = this.encap(this.ctx, b, first, p.lengths[0]!);
    if (code !== FORWARD) {
      for (let i = 0; i < p.count; i++) this.dropped(code, b, p.offsets[i]!, p.lengths[i]!);
      return;
    }
    const e = this.ctx.result;
    const h = first - e.offset; // encapsulation bytes in front of each inner packet
    const v6 = e.family === 6;
    const addr = v6 ? e.peer : e.underlay;
    const flow = e.flowHash; // one flow: every segment from one port
    const mode = v6 ? 0 : this.tap.mode;
    const underlay = v6 ? this.underlay6! : this.underlay;
    let bytes = 0;
    for (let i = 0; i < p.count; i++) {
      const off = p.offsets[i]!;
      const len = p.lengths[i]!;
      if (i > 0) copyBytes(b, first - h, b, off - h, h);
      if (mode !== 0) this.capture(b, off, len, h, mode);
      bytes += len;
      underlay.send(off - h, len + h, addr, flow);
    }
    this.counters[TX_BYTES]! += bytes;
  }

  /**
   * Captures one packet whose encapsulation (h bytes) is in front of it. An
   * outer capture writes the outer IPv4/UDP header in front of the datagram,
   * which may be the previous datagram's tail: those bytes are put back.
   */
  private capture(b: Uint8Array, off: number, len: number, h: number, mode: number): void {
    const e = this.ctx.result;
    e.offset = off - h;
    e.length = len + h;
    const saved = this.saved;
    const from = e.offset - OUTER_MAX;
    copyBytes(b, from, saved, 0, OUTER_MAX);
    this.tap.tx(this.ctx, b, off, len, mode, this.underlay.sourcePort(e.flowHash));
    copyBytes(saved, 0, b, from, OUTER_MAX);
  }

  private dropped(code: number, b: Uint8Array, off: number, len: number): void {
    this.counters[DROPS + code]!++;
    if (code === DROP_TOO_BIG) this.answerTooBig(b, off, len);
  }

  private answerTooBig(b: Uint8Array, off: number, len: number): void {
    const mtu = innerMtu(this.ctx, b, off);
    let n: number;
    if (b[off]! >>> 4 === 4) n = writeFragNeeded(b, off, len, mtu, this.tunnelAddr, this.icmp, TUN_WRITE_LEAD);
    else if (this.tunnelAddr6 !== null) n = writePacketTooBig(b, off, len, mtu, this.tunnelAddr6, 0, this.icmp, TUN_WRITE_LEAD);
    else return;
    if (n === 0) return;
    if (!this.tun.write(this.icmp, TUN_WRITE_LEAD, n)) this.counters[DROPS + DROP_TUN_ERROR]!++;
  }
}
