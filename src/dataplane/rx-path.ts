// recvmmsg → decapsulate → TUN. One round takes up to `batch` datagrams that
// are waiting on this worker's socket, checks and strips each in place, and
// writes every delivered inner packet to the TUN.
import { DROPS, RX_BYTES, RX_PACKETS } from '../daemon/counters.js';
import { DROP_TRUNCATED, DROP_TUN_ERROR, FORWARD } from '../../native-free/drop.js';
import type { DecapContext } from '../../native-free/decap/context.js';
import { MmsgVector, PacketSlab, recvBatch } from '../sys/mmsg.js';
import { writePacket } from '../sys/tun.js';
import { type CaptureTap, OUTER_UDP_BYTES } from './capture-tap.js';

/** Decapsulates b[off..off+len) received from underlay address src. */
export type Decap = (ctx: DecapContext, b: Uint8Array, off: number, len: number, src: number) => number;

export class RxPath {
  private readonly slab: PacketSlab;
  private readonly vec: MmsgVector;

  constructor(
    private readonly rxFd: number,
    private readonly tunFd: number,
    private readonly ctx: DecapContext,
    private readonly decap: Decap,
    private readonly counters: Float64Array,
    batch: number,
    slotSize: number,
    private readonly tap: CaptureTap,
    private readonly local: number,
    private readonly localPort: number,
  ) {
    // Headroom only so a capture can rebuild the outer IPv4/UDP header in place.
    this.slab = new PacketSlab({ slots: batch, slotSize: slotSize + OUTER_UDP_BYTES, headroom: OUTER_UDP_BYTES });
    this.vec = new MmsgVector(this.slab, batch);
    this.vec.armRecvAll();
  }

  /** One round; returns how many datagrams arrived. */
  pump(): number {
    const vec = this.vec;
    let n: number;
    try {
      n = recvBatch(this.rxFd, vec);
    } catch {
      // A pending socket error (e.g. from an ICMP the kernel queued) is consumed by the failed call.
      return 0;
    }
    const buf = this.slab.buf;
    const r = this.ctx.result;
    for (let i = 0; i < n; i++) {
      if (vec.truncated(i)) {
        this.counters[DROPS + DROP_TRUNCATED]!++;
        continue;
      }
      const off = vec.offset(i);
      const len = vec.length(i);
      const code = this.decap(this.ctx, buf, off, len, vec.peerAddr(i));
      const mode = this.tap.mode;
      if (mode !== 0) this.captured(buf, off, len, i, code === FORWARD, mode);
      if (code !== FORWARD) {
        this.counters[DROPS + code]!++;
        continue;
      }
      if (this.deliver(buf, r.offset, r.length)) {
        this.counters[RX_PACKETS]!++;
        this.counters[RX_BYTES]! += r.length;
      }
    }
    return n;
  }

  private captured(buf: Uint8Array, off: number, len: number, i: number, delivered: boolean, mode: number): void {
    const r = this.ctx.result;
    const vec = this.vec;
    this.tap.rx(buf, off, len, vec.peerAddr(i), vec.peerPort(i), this.local, this.localPort, r.offset, delivered ? r.length : 0, mode);
  }

  private deliver(buf: Uint8Array, off: number, len: number): boolean {
    try {
      if (writePacket(this.tunFd, buf, off, len) >= 0) return true;
    } catch {
      // fall through: counted below
    }
    this.counters[DROPS + DROP_TUN_ERROR]!++;
    return false;
  }
}
