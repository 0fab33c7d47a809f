// recvmmsg → decapsulate → TUN. One round takes up to `batch` datagrams that
// are waiting on this worker's socket, checks and strips each in place, and
// hands every delivered inner packet to the TunWriter (one write each, or
// coalesced into super-packets with offloads on).
//
// With UDP_GRO the kernel hands over several datagrams of one flow as one
// entry: `gsoSize(i)` bytes each, back to back, the last possibly shorter.
// Each is decapsulated on its own, exactly as if it had come alone.
import { DROPS, UDP_GRO_DATAGRAMS, UDP_GRO_SEGMENTS } from './counters.js';
import { DROP_TRUNCATED, FORWARD } from '../../native-free/drop.js';
import type { DecapContext } from '../../native-free/decap/context.js';
import { MAX_SUPER_PACKET } from '../../native-free/offload/tso.js';
import { MmsgVector, PacketSlab, recvBatch } from '../sys/mmsg.js';
import { type CaptureTap, OUTER_UDP_BYTES } from './capture-tap.js';
import type { TunWriter } from './tun-writer.js';

/** Decapsulates b[off..off+len) received from underlay address src. */
export type Decap = (ctx: DecapContext, b: Uint8Array, off: number, len: number, src: number) => number;

export class RxPath {
  private readonly slab: PacketSlab;
  private readonly vec: MmsgVector;

  constructor(
    private readonly rxFd: number,
    private readonly tun: TunWriter,
    private readonly ctx: DecapContext,
    private readonly decap: Decap,
    private readonly counters: Float64Array,
    batch: number,
    slotSize: number,
    private readonly tap: CaptureTap,
    private readonly local: number,
    private readonly localPort: number,
    /** The socket has UDP_GRO on: entries may hold many datagrams, up to 64 KB. */
    private readonly udpGro: boolean,
  ) {
    // Headroom so a capture can rebuild the outer IPv4/UDP header in place
    // (it also holds the virtio_net_hdr written in front of a lone packet).
    // Slots past `batch` are the room the TunWriter coalesces in: the same
    // buffer, so segments move there with copyWithin.
    // Slots of 64 KB even without UDP_GRO: a kernel peer behind a veth sends its
    // TSO super-packets as one datagram of up to 64 KB (offload/peer-super-packet.ts).
    const size = Math.max(slotSize, MAX_SUPER_PACKET) + OUTER_UDP_BYTES;
    const extra = Math.ceil(tun.coalesceArea / size);
    this.slab = new PacketSlab({ slots: batch + extra, slotSize: size, headroom: OUTER_UDP_BYTES });
    this.vec = new MmsgVector(this.slab, batch, { control: udpGro });
    this.vec.armRecvAll();
    if (extra > 0) tun.coalesceIn(this.slab.buf, batch * size);
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
    for (let i = 0; i < n; i++) {
      if (vec.truncated(i)) {
        this.counters[DROPS + DROP_TRUNCATED]!++;
        continue;
      }
      const off = vec.offset(i);
      const len = vec.length(i);
      const seg = this.udpGro ? vec.gsoSize(i) : 0;
      if (seg === 0 || seg >= len) {
        this.datagram(buf, off, len, i);
        continue;
      }
      this.counters[UDP_GRO_DATAGRAMS]!++;
      const end = off + len;
      for (let at = off; at < end; at += seg) {
        this.counters[UDP_GRO_SEGMENTS]!++;
        this.datagram(buf, at, Math.min(seg, end - at), i);
      }
    }
    this.tun.flush();
    return n;
  }

  /** One datagram b[off, off+len) of entry i: decapsulate, capture, deliver or count the drop. */
  private datagram(buf: Uint8Array, off: number, len: number, i: number): void {
    const code = this.decap(this.ctx, buf, off, len, this.vec.peerAddr(i));
    const mode = this.tap.mode;
    if (mode !== 0) this.captured(buf, off, len, i, code === FORWARD, mode);
    if (code !== FORWARD) {
      this.counters[DROPS + code]!++;
      return;
    }
    const r = this.ctx.result;
    this.tun.deliver(buf, r.offset, r.length);
  }

  private captured(buf: Uint8Array, off: number, len: number, i: number, delivered: boolean, mode: number): void {
    const r = this.ctx.result;
    const vec = this.vec;
    this.tap.rx(buf, off, len, vec.peerAddr(i), vec.peerPort(i), this.local, this.localPort, r.offset, delivered ? r.length : 0, mode);
  }
}
