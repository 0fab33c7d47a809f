// The receive loop: underlay socket → decapsulate → TUN queue (io.ts). One
// round takes what is waiting on this worker's socket (up to a batch),
// checks and strips each datagram in place, hands every delivered inner
// packet to the TUN queue, and ends with its flush. Whether the socket
// coalesced datagrams (UDP_GRO) or the TUN queue coalesces packets (GRO into
// super-packets) is theirs to know: each datagram is decapsulated on its own,
// exactly as if it had come alone.
//
// A dual-stack worker has two: one over its IPv4 socket, one over its IPv6
// socket (decap6: the sender is known by its 16-byte address). Captures
// (capture-tap.ts) show the IPv4 underlay only; over IPv6 they are skipped.
import { DROPS } from './counters.js';
import { FORWARD } from '../../native-free/drop.js';
import type { DecapContext } from '../../native-free/decap/context.js';
import type { Decap, Decap6 } from '../backend/types.js';
import type { CaptureTap } from './capture-tap.js';
import type { TunQueue, UnderlaySocket } from './io.js';


export interface RxPathOptions {
  underlay: UnderlaySocket;
  tun: TunQueue;
  ctx: DecapContext;
  /** The backend's decapsulation (the caller picks it). */
  decap: Decap;
  /** Set for the IPv6 underlay: decapsulation of datagrams from an IPv6 sender (datagram.from6). */
  decap6?: Decap6 | null;
  counters: Float64Array;
  tap: CaptureTap;
  /** This node's underlay address and the backend's port: the destination an outer capture shows. */
  local: number;
  localPort: number;
}

export class RxPath {
  private readonly underlay: UnderlaySocket;
  private readonly tun: TunQueue;
  private readonly ctx: DecapContext;
  private readonly decap: Decap;
  private readonly decap6: Decap6 | null;
  private readonly counters: Float64Array;
  private readonly tap: CaptureTap;
  private readonly local: number;
  private readonly localPort: number;

  constructor(o: RxPathOptions) {
    this.underlay = o.underlay;
    this.tun = o.tun;
    this.ctx = o.ctx;
    this.decap = o.decap;
    this.decap6 = o.decap6 ?? null;
    this.counters = o.counters;
    this.tap = o.tap;
    this.local = o.local;
    this.localPort = o.localPort;
  }

  /** One round; returns how many receive entries arrived. */
  pump(): number {
    const u = this.underlay;
    const n = u.receive();
    const d = u.datagram;
    if (this.decap6 !== null) {
      while (u.next()) this.datagram6(d.buf, d.offset, d.length, d.from6);
    } else {
      while (u.next()) this.datagram(d.buf, d.offset, d.length, d.from, d.fromPort);
    }
    this.tun.flush();
    return n;
  }

  /** One datagram b[off, off+len) from from:fromPort: decapsulate, capture, deliver or count the drop. */
  private datagram(buf: Uint8Array, off: number, len: number, from: number, fromPort: number): void {
    const code = this.decap(this.ctx, buf, off, len, from);
    const mode = this.tap.mode;
    if (mode !== 0) {
      const r = this.ctx.result;
      this.tap.rx(buf, off, len, from, fromPort, this.local, this.localPort, r.offset, code === FORWARD ? r.length : 0, mode);
    }
    if (code !== FORWARD) {
      this.counters[DROPS + code]!++;
      return;
    }
    const r = this.ctx.result;
    this.tun.deliver(buf, r.offset, r.length);
  }

  /** One datagram from the IPv6 underlay (sender from6): decapsulate, deliver or count the drop. */
  private datagram6(buf: Uint8Array, off: number, len: number, from6: Uint8Array): void {
    const code = this.decap6!(this.ctx, buf, off, len, from6, 0);
    if (code !== FORWARD) {
      this.counters[DROPS + code]!++;
      return;
    }
    const r = this.ctx.result;
    this.tun.deliver(buf, r.offset, r.length);
  }
}
