// TUN → encapsulate → sendmmsg, one packet per TUN read (offloads off).
// One round reads up to `batch` packets from this worker's TUN queue
// (nonblocking reads until EAGAIN), encapsulates each in place in its slab
// slot, and sends every forwarded one with the round's sendmmsg (SendQueue).
// Packets over the tunnel MTU with DF get an ICMP "fragmentation needed"
// written back into the TUN; every other drop is counted by reason.
// tx-offload.ts is the same path for a TUN with offloads on.
import { DROPS, TX_BYTES } from './counters.js';
import { DROP_TOO_BIG, DROP_TUN_ERROR, FORWARD } from '../../native-free/drop.js';
import type { EncapContext } from '../../native-free/encap/context.js';
import { FRAG_NEEDED_MAX_LENGTH, writeFragNeeded } from '../../native-free/icmp-too-big.js';
import { VIRTIO_NET_HDR_LEN } from '../../native-free/offload/virtio-net-hdr.js';
import { PacketSlab } from '../sys/mmsg.js';
import { readPacket } from '../sys/tun.js';
import type { CaptureTap } from './capture-tap.js';
import { SendQueue } from './send-queue.js';
import { DatagramRuns } from './datagram-run.js';
import { copyBytes } from '../../native-free/offload/copy-sum.js';
import type { TunWriter } from './tun-writer.js';

export type Encap = (ctx: EncapContext, b: Uint8Array, off: number, len: number) => number;

/** What a transmit path works with: its fds, the engine's context, counters, the TUN writer, the capture tap. */
export interface TxDeps {
  tunFd: number;
  txFd: number;
  ctx: EncapContext;
  encap: Encap;
  counters: Float64Array;
  /** This node's tunnel address, the source of ICMP errors written to the TUN. */
  tunnelAddr: number;
  tun: TunWriter;
  tap: CaptureTap;
}

/** Outer headers an outer capture writes in front of a datagram: IPv4 + UDP, or IPv4 for ipip. */
const OUTER_MAX = 28;

/** What both transmit paths share: encapsulating one packet, queueing it, capturing, answering "too big". */
export abstract class TxBase {
  protected queue!: SendQueue;
  /** Single packets go through the runs: back to back and same-sized, they leave as one GSO send. */
  protected runs!: DatagramRuns;
  protected readonly tunFd: number;
  protected readonly ctx: EncapContext;
  protected readonly encap: Encap;
  protected readonly counters: Float64Array;
  protected readonly tap: CaptureTap;
  private readonly tunnelAddr: number;
  private readonly tun: TunWriter;
  /** The ICMP answer is built VIRTIO_NET_HDR_LEN bytes in, room for the header a vnet TUN wants. */
  private readonly icmp = new Uint8Array(VIRTIO_NET_HDR_LEN + FRAG_NEEDED_MAX_LENGTH);
  /** Bytes in front of a datagram an outer capture overwrites (capture()). */
  private readonly saved = new Uint8Array(OUTER_MAX);

  constructor(d: TxDeps) {
    this.tunFd = d.tunFd;
    this.ctx = d.ctx;
    this.encap = d.encap;
    this.counters = d.counters;
    this.tap = d.tap;
    this.tunnelAddr = d.tunnelAddr;
    this.tun = d.tun;
  }

  /** Called by each subclass once its buffer exists. */
  protected useQueue(q: SendQueue): void {
    this.queue = q;
    this.runs = new DatagramRuns(q, this.ctx.config.port);
  }

  /** One round; returns how many TUN reads it made. */
  abstract pump(): number;

  /** Ends a round: the open run, then one sendmmsg for everything queued. */
  protected send(): void {
    this.runs.emit();
    if (this.queue.pending > 0) this.queue.flush();
  }

  /** Encapsulates b[off, off+len) in place and hands it to the runs, or counts the drop; true if forwarded. */
  protected one(b: Uint8Array, off: number, len: number): boolean {
    const code = this.encap(this.ctx, b, off, len);
    if (code !== FORWARD) {
      this.dropped(code, b, off, len);
      return false;
    }
    const e = this.ctx.result;
    const start = e.offset;
    const length = e.length;
    const addr = e.underlay;
    const mode = this.tap.mode;
    if (mode !== 0) this.capture(b, off, len, off - start, mode);
    this.counters[TX_BYTES]! += len;
    this.runs.add(start, length, addr);
    return true;
  }

  /**
   * Captures one packet whose encapsulation (h bytes) is in front of it. An
   * outer capture writes the outer IPv4/UDP header in front of the datagram,
   * which may be the previous datagram's tail: those bytes are put back.
   */
  protected capture(b: Uint8Array, off: number, len: number, h: number, mode: number): void {
    const e = this.ctx.result;
    e.offset = off - h;
    e.length = len + h;
    const saved = this.saved;
    const from = e.offset - OUTER_MAX;
    copyBytes(b, from, saved, 0, OUTER_MAX);
    this.tap.tx(this.ctx, b, off, len, mode);
    copyBytes(saved, 0, b, from, OUTER_MAX);
  }

  protected dropped(code: number, b: Uint8Array, off: number, len: number): void {
    this.counters[DROPS + code]!++;
    if (code === DROP_TOO_BIG) this.answerTooBig(b, off, len);
  }

  private answerTooBig(b: Uint8Array, off: number, len: number): void {
    const n = writeFragNeeded(b, off, len, this.ctx.config.mtu, this.tunnelAddr, this.icmp, VIRTIO_NET_HDR_LEN);
    if (n === 0) return;
    if (!this.tun.write(this.icmp, VIRTIO_NET_HDR_LEN, n)) this.counters[DROPS + DROP_TUN_ERROR]!++;
  }
}

export class TxPath extends TxBase {
  private readonly slab: PacketSlab;
  private readonly batch: number;

  constructor(d: TxDeps, batch: number, slotSize: number, headroom: number) {
    super(d);
    this.batch = batch;
    this.slab = new PacketSlab({ slots: batch, slotSize, headroom });
    this.useQueue(new SendQueue(this.slab, batch, d.txFd, d.counters, false));
  }

  pump(): number {
    const slab = this.slab;
    const buf = slab.buf;
    let read = 0;
    for (; read < this.batch; read++) {
      const off = slab.dataOffset(read);
      const n = readPacket(this.tunFd, buf, off, slab.dataSize);
      if (n < 0) break;
      this.one(buf, off, n);
    }
    this.send();
    return read;
  }
}
