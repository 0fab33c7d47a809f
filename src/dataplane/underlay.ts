// The kernel underlay socket behind io.ts's UnderlaySocket: the send socket
// and the receive socket of one worker (the same UDP socket for vxlan and
// udp; for ipip a raw socket, read by worker 0 only: rxFd -1 elsewhere).
//
// Send: every datagram goes through the runs (datagram-run.ts): back to back,
// same-sized and to one peer, they leave as one UDP_SEGMENT entry of the
// round's sendmmsg (send-queue.ts), which also owns the fallbacks (GSO
// refused → one datagram at a time; a full socket buffer → wait briefly,
// then drop and count).
//
// Source-port entropy (--source-ports): the send side may hold several
// sockets, each bound to its own source port (host.ts), and every datagram
// goes out on socket flowHash % count. One inner flow thus always leaves from
// one port, in order; many flows spread over the ports, so the underlay's
// ECMP and the receiver's RSS (and its SO_REUSEPORT group) see many flows,
// as with the kernel's VXLAN. Each socket has its own queue, so a round ends
// with one sendmmsg per socket that has anything to send.
//
// Receive: one recvmmsg takes up to `batch` entries into the receive slab.
// With UDP_GRO an entry may hold several datagrams of one flow, gsoSize(i)
// bytes each, back to back, the last possibly shorter: next() hands them out
// one by one, exactly as if each had come alone. A truncated entry is a
// counted drop.
import { DROP_TRUNCATED } from '../../native-free/drop.js';
import { MmsgVector, type PacketSlab, recvBatch } from '../sys/mmsg.js';
import { DROPS, UDP_GRO_DATAGRAMS, UDP_GRO_SEGMENTS } from './counters.js';
import { DatagramRuns } from './datagram-run.js';
import type { UnderlayDatagram, UnderlaySocket } from './io.js';
import { KERNEL_SEND, SendQueue, type GsoState, type SendSys, type Underlay6Addresses } from './send-queue.js';
import { InvalidArgumentError } from '../../native-free/errors.js';

/** recvmmsg into a vector: how many entries arrived, 0 if none (sys/mmsg.ts's recvBatch unless a test gives another). */
export type RecvBatch = (fd: number, v: MmsgVector) => number;

export interface KernelUnderlayOptions {
  /** Sockets to send encapsulated packets on (at least one), picked by flow hash. */
  txFds: readonly number[];
  /** The source port each of txFds sends from (what a capture shows); 0 without UDP. */
  sourcePorts: readonly number[];
  /** Socket to receive from, or -1: receive() then takes nothing. */
  rxFd: number;
  /** Destination port of every datagram (vxlan, udp; 0 for ipip). */
  port: number;
  counters: Float64Array;
  /** The memory datagrams are sent from: the TUN queue's slab. */
  txSlab: PacketSlab;
  /** sendmmsg entries per flush. */
  sendEntries: number;
  /** UDP_SEGMENT may be used (asked for and supported). */
  gso: boolean;
  /** The receive slab (slab-layout.ts rxSlab); null with rxFd -1. */
  rxSlab: PacketSlab | null;
  /** Entries per recvmmsg. */
  batch: number;
  /** The receive socket has UDP_GRO on: entries may hold many datagrams, up to 64 KB. */
  gro: boolean;
  send?: SendSys;
  recv?: RecvBatch;
  /**
   * An IPv6 socket (a dual-stack worker's second underlay, host.ts openUdp6):
   * send()'s addr is a peer id, turned into its IPv6 address through this
   * (the peer table), and received datagrams carry their sender in
   * datagram.from6. Absent or null: IPv4.
   */
  addresses6?: Underlay6Addresses | null;
}

export class KernelUnderlay implements UnderlaySocket {
  readonly datagram: UnderlayDatagram;
  private readonly queues: SendQueue[];
  private readonly ports: Int32Array;
  private readonly gsoState: GsoState;
  private readonly runs: DatagramRuns;
  private readonly rxFd: number;
  private readonly vec: MmsgVector | null;
  private readonly gro: boolean;
  private readonly counters: Float64Array;
  private readonly sysRecv: RecvBatch;
  private readonly v6: boolean;
  /** What receive() took, and where next() is in it: entry, the current entry's datagram size and end. */
  private entries = 0;
  private entry = -1;
  private at = 0;
  private end = 0;
  private segment = 0;

  constructor(o: KernelUnderlayOptions) {
    if (o.txFds.length === 0 || o.txFds.length !== o.sourcePorts.length) {
      throw new InvalidArgumentError(`underlay: ${o.txFds.length} send sockets and ${o.sourcePorts.length} source ports (one each, at least one)`);
    }
    this.gsoState = { on: o.gso };
    const a6 = o.addresses6 ?? null;
    this.v6 = a6 !== null;
    this.queues = o.txFds.map((fd) => new SendQueue(o.txSlab, o.sendEntries, fd, o.counters, this.gsoState, o.send ?? KERNEL_SEND, a6));
    this.ports = Int32Array.from(o.sourcePorts);
    this.runs = new DatagramRuns(this.queues, o.port);
    this.rxFd = o.rxFd;
    this.gro = o.gro;
    this.counters = o.counters;
    this.sysRecv = o.recv ?? recvBatch;
    this.vec = o.rxFd >= 0 && o.rxSlab !== null ? new MmsgVector(o.rxSlab, o.batch, { control: o.gro, family: this.v6 ? 6 : 4 }) : null;
    this.vec?.armRecvAll();
    this.datagram = { buf: o.rxSlab?.buf ?? new Uint8Array(0), offset: 0, length: 0, from: 0, from6: new Uint8Array(16), fromPort: 0 };
  }

  /** UDP_SEGMENT is in use (asked for, and not refused by the kernel yet). */
  get gso(): boolean {
    return this.gsoState.on;
  }

  send(off: number, len: number, addr: number, flow: number): void {
    this.runs.add(off, len, addr, (flow >>> 0) % this.queues.length);
  }

  sourcePort(flow: number): number {
    return this.ports[(flow >>> 0) % this.queues.length]!;
  }

  flush(): void {
    this.runs.emit();
    const queues = this.queues;
    for (let i = 0; i < queues.length; i++) if (queues[i]!.pending > 0) queues[i]!.flush();
  }

  receive(): number {
    this.entries = 0;
    this.entry = -1;
    this.at = this.end = 0;
    const vec = this.vec;
    if (vec === null) return 0;
    let n: number;
    try {
      n = this.sysRecv(this.rxFd, vec);
    } catch {
      // A pending socket error (e.g. from an ICMP the kernel queued) is consumed by the failed call.
      return 0;
    }
    this.entries = n;
    return n;
  }

  next(): boolean {
    const d = this.datagram;
    if (this.at < this.end) return this.piece(d);
    const vec = this.vec!;
    while (++this.entry < this.entries) {
      const i = this.entry;
      if (vec.truncated(i)) {
        this.counters[DROPS + DROP_TRUNCATED]!++;
        continue;
      }
      const off = vec.offset(i);
      const len = vec.length(i);
      if (this.v6) vec.peerAddr6(i, d.from6, 0);
      else d.from = vec.peerAddr(i);
      d.fromPort = vec.peerPort(i);
      const seg = this.gro ? vec.gsoSize(i) : 0;
      if (seg === 0 || seg >= len) {
        d.offset = off;
        d.length = len;
        return true;
      }
      this.counters[UDP_GRO_DATAGRAMS]!++;
      this.at = off;
      this.end = off + len;
      this.segment = seg;
      return this.piece(d);
    }
    return false;
  }

  /** The next datagram of a coalesced entry. */
  private piece(d: UnderlayDatagram): boolean {
    this.counters[UDP_GRO_SEGMENTS]!++;
    d.offset = this.at;
    d.length = Math.min(this.segment, this.end - this.at);
    this.at += d.length;
    return true;
  }
}
