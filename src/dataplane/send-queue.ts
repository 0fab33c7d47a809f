// The send side of a worker: datagrams queued into one sendmmsg vector, sent
// when the vector is full or the round ends.
//
// An entry is one datagram, or (UDP GSO) a run of equal-sized datagrams laid
// back to back, the last one possibly shorter, sent as one entry with a
// UDP_SEGMENT cmsg: the kernel cuts it into datagrams after routing, so a
// 64 KB TCP super-packet from the TUN costs one send instead of ~45.
//
// Backpressure: a full socket buffer is waited on briefly, then the rest of
// the round is dropped and counted (tx_error). An entry the kernel refuses is
// dropped and counted, the rest still go. A GSO entry refused with EIO (the
// route's device cannot checksum, udp_send_skb) or EINVAL is resent one
// datagram at a time, and GSO stays off for this worker from then on.
//
// One queue per socket: with source-port entropy a worker has several
// (underlay.ts), each flushed with its own sendmmsg and waited on by its own
// fd when full. They share one GsoState: the kernel refuses GSO for the route
// (its device, an xfrm policy), not for the socket, so every socket of the
// worker would be refused alike.
//
// IPv6 (a dual-stack worker's second underlay): the queue is made with an
// Underlay6Addresses, its vectors are { family: 6 }, and an entry's `addr` is
// the peer's id, whose IPv6 underlay address is copied from the peer table
// into the sockaddr_in6 when the entry is queued (16 bytes do not fit the
// number a run is keyed by; the id does, and names the same destination).
import { DROP_TX_ERROR } from '../../native-free/drop.js';
import { DROPS, GSO_FALLBACKS, GSO_SEGMENTS, GSO_SENDS, TX_PACKETS } from './counters.js';
import { MmsgVector, type PacketSlab, sendBatch } from '../sys/mmsg.js';
import { SyscallError } from '../sys/errors.js';
import { waitWritable } from '../sys/socket.js';

/** The two syscalls a flush makes: sys/mmsg.ts's sendBatch and sys/socket.ts's waitWritable, unless a test gives others. */
export interface SendSys {
  sendBatch(fd: number, v: MmsgVector, first: number, n: number): number;
  waitWritable(fd: number, timeoutMs: number): boolean;
}
export const KERNEL_SEND: SendSys = { sendBatch, waitWritable };

/** Whether UDP_SEGMENT may be used: asked for, and not refused by the kernel yet. Shared by a worker's queues. */
export interface GsoState {
  on: boolean;
}

/** Where an IPv6 queue finds a destination's address: the peer table (native-free/table/peers.ts). */
export interface Underlay6Addresses {
  /** Copies peer `id`'s 16-byte IPv6 underlay address to dst[off, off+16). */
  writeUnderlay6(id: number, dst: Uint8Array, off: number): void;
}

/** How long a flush waits for room in a full socket buffer before dropping the rest. */
const SEND_WAIT_MS = 10;
/** Datagrams per sendmmsg when a refused GSO entry is resent one by one. */
const FALLBACK_BATCH = 64;

export class SendQueue {
  private readonly vec: MmsgVector;
  private readonly single: MmsgVector;
  /** Per entry: datagrams in it, and what the fallback needs to resend it. */
  private readonly datagrams: Int32Array;
  private readonly offs: Int32Array;
  private readonly lens: Int32Array;
  private readonly segments: Int32Array;
  private readonly addrs: Float64Array;
  private readonly ports: Int32Array;
  private n = 0;
  /** Scratch for an IPv6 destination on its way into a sockaddr_in6. */
  private readonly addr6 = new Uint8Array(16);

  constructor(
    slab: PacketSlab,
    entries: number,
    private readonly fd: number,
    private readonly counters: Float64Array,
    private readonly gsoState: GsoState,
    private readonly sys: SendSys = KERNEL_SEND,
    /** IPv6: how peer ids become addresses; null (the default) for an IPv4 socket, addr being the u32 address. */
    private readonly addresses6: Underlay6Addresses | null = null,
  ) {
    const family = addresses6 === null ? 4 : 6;
    this.vec = new MmsgVector(slab, entries, { control: gsoState.on, family });
    this.single = new MmsgVector(slab, FALLBACK_BATCH, { family });
    this.datagrams = new Int32Array(entries);
    this.offs = new Int32Array(entries);
    this.lens = new Int32Array(entries);
    this.segments = new Int32Array(entries);
    this.addrs = new Float64Array(entries);
    this.ports = new Int32Array(entries);
  }

  /** UDP_SEGMENT may be used (asked for, and not refused by the kernel yet, on any of the worker's sockets). */
  get gso(): boolean {
    return this.gsoState.on;
  }

  /** Entries queued and not yet sent. */
  get pending(): number {
    return this.n;
  }

  /**
   * Queues slab.buf[off, off+len) for addr:port. With segment > 0 (only when
   * this.gso) it holds `datagrams` datagrams of `segment` bytes, the last
   * possibly shorter; otherwise one datagram.
   */
  add(off: number, len: number, addr: number, port: number, segment: number, datagrams: number): void {
    if (this.n === this.vec.count) this.flush();
    const i = this.n++;
    this.setSend(this.vec, i, off, len, addr, port, segment);
    this.datagrams[i] = datagrams;
    this.offs[i] = off;
    this.lens[i] = len;
    this.segments[i] = segment;
    this.addrs[i] = addr;
    this.ports[i] = port;
  }

  flush(): void {
    const n = this.n;
    this.n = 0;
    let first = 0;
    while (first < n) {
      let sent: number;
      try {
        sent = this.sys.sendBatch(this.fd, this.vec, first, n - first);
      } catch (e) {
        this.refused(first, e);
        first++;
        continue;
      }
      if (sent === 0) {
        if (this.sys.waitWritable(this.fd, SEND_WAIT_MS)) continue;
        for (let i = first; i < n; i++) this.counters[DROPS + DROP_TX_ERROR]! += this.datagrams[i]!;
        return;
      }
      for (let i = first; i < first + sent; i++) this.sentEntry(i);
      first += sent;
    }
  }

  private sentEntry(i: number): void {
    const d = this.datagrams[i]!;
    this.counters[TX_PACKETS]! += d;
    if (this.segments[i]! > 0) {
      this.counters[GSO_SENDS]!++;
      this.counters[GSO_SEGMENTS]! += d;
    }
  }

  /** The kernel refused entry i (the first of the rest): resend it datagram by datagram if it was GSO, else drop it. */
  private refused(i: number, e: unknown): void {
    const gsoRefused = this.segments[i]! > 0 && e instanceof SyscallError && (e.errnoName === 'EIO' || e.errnoName === 'EINVAL');
    if (!gsoRefused) {
      this.counters[DROPS + DROP_TX_ERROR]! += this.datagrams[i]!;
      return;
    }
    this.gsoState.on = false;
    this.counters[GSO_FALLBACKS]!++;
    this.resendSplit(this.offs[i]!, this.lens[i]!, this.segments[i]!, this.addrs[i]!, this.ports[i]!);
  }

  private resendSplit(off: number, len: number, segment: number, addr: number, port: number): void {
    const v = this.single;
    const end = off + len;
    let at = off;
    while (at < end) {
      let k = 0;
      for (; k < v.count && at < end; k++, at += segment) this.setSend(v, k, at, Math.min(segment, end - at), addr, port, 0);
      let first = 0;
      while (first < k) {
        let sent: number;
        try {
          sent = this.sys.sendBatch(this.fd, v, first, k - first);
        } catch {
          this.counters[DROPS + DROP_TX_ERROR]!++;
          first++;
          continue;
        }
        if (sent === 0 && !this.sys.waitWritable(this.fd, SEND_WAIT_MS)) {
          this.counters[DROPS + DROP_TX_ERROR]! += k - first;
          break;
        }
        this.counters[TX_PACKETS]! += sent;
        first += sent;
      }
    }
  }

  /** Entry i of v sends off/len to addr (u32 IPv4, or an IPv6 peer id) : port. */
  private setSend(v: MmsgVector, i: number, off: number, len: number, addr: number, port: number, segment: number): void {
    const a6 = this.addresses6;
    if (a6 === null) {
      v.setSend(i, off, len, addr, port, segment);
      return;
    }
    a6.writeUnderlay6(addr, this.addr6, 0);
    v.setSend6(i, off, len, this.addr6, 0, port, segment);
  }
}
