// TUN → encapsulate → sendmmsg. One round reads up to `batch` packets from
// this worker's TUN queue (nonblocking reads until EAGAIN), encapsulates each
// in place in its slab slot, and sends every forwarded one in one sendmmsg.
// Packets over the tunnel MTU with DF get an ICMP "fragmentation needed"
// written back into the TUN; every other drop is counted by reason.
import { DROPS, TX_BYTES, TX_PACKETS } from '../daemon/counters.js';
import { DROP_TOO_BIG, DROP_TUN_ERROR, DROP_TX_ERROR, FORWARD } from '../../native-free/drop.js';
import type { EncapContext } from '../../native-free/encap/context.js';
import { FRAG_NEEDED_MAX_LENGTH, writeFragNeeded } from '../../native-free/icmp-too-big.js';
import { MmsgVector, PacketSlab, sendBatch } from '../sys/mmsg.js';
import { readPacket, writePacket } from '../sys/tun.js';
import { waitWritable } from '../sys/socket.js';
import type { CaptureTap } from './capture-tap.js';

/** How long a round waits for room in a full socket buffer before dropping the rest. */
const SEND_WAIT_MS = 10;

export type Encap = (ctx: EncapContext, b: Uint8Array, off: number, len: number) => number;

export class TxPath {
  private readonly slab: PacketSlab;
  private readonly vec: MmsgVector;
  private readonly icmp = new Uint8Array(FRAG_NEEDED_MAX_LENGTH);

  constructor(
    private readonly tunFd: number,
    private readonly txFd: number,
    private readonly ctx: EncapContext,
    private readonly encap: Encap,
    private readonly counters: Float64Array,
    private readonly tunnelAddr: number,
    batch: number,
    slotSize: number,
    headroom: number,
    private readonly tap: CaptureTap,
  ) {
    this.slab = new PacketSlab({ slots: batch, slotSize, headroom });
    this.vec = new MmsgVector(this.slab, batch);
  }

  /** One round; returns how many packets were read from the TUN. */
  pump(): number {
    const slab = this.slab;
    const buf = slab.buf;
    const r = this.ctx.result;
    let read = 0;
    let queued = 0;
    for (; read < this.vec.count; read++) {
      const off = slab.dataOffset(read);
      const n = readPacket(this.tunFd, buf, off, slab.dataSize);
      if (n < 0) break;
      const code = this.encap(this.ctx, buf, off, n);
      if (code === FORWARD) {
        const mode = this.tap.mode;
        if (mode !== 0) this.tap.tx(this.ctx, buf, off, n, mode);
        this.vec.setSend(queued++, r.offset, r.length, r.underlay, this.ctx.config.port);
        this.counters[TX_BYTES]! += n;
      } else {
        this.counters[DROPS + code]!++;
        if (code === DROP_TOO_BIG) this.answerTooBig(buf, off, n);
      }
    }
    if (queued > 0) this.send(queued);
    return read;
  }

  private send(n: number): void {
    let first = 0;
    while (first < n) {
      let sent: number;
      try {
        sent = sendBatch(this.txFd, this.vec, first, n - first);
      } catch {
        // The first datagram of the rest was refused (unreachable, too big): skip it.
        this.counters[DROPS + DROP_TX_ERROR]!++;
        first++;
        continue;
      }
      if (sent === 0) {
        // Socket buffer full: wait briefly for room (backpressure), else drop the rest.
        if (waitWritable(this.txFd, SEND_WAIT_MS)) continue;
        this.counters[DROPS + DROP_TX_ERROR]! += n - first;
        return;
      }
      this.counters[TX_PACKETS]! += sent;
      first += sent;
    }
  }

  private answerTooBig(buf: Uint8Array, off: number, len: number): void {
    const n = writeFragNeeded(buf, off, len, this.ctx.config.mtu, this.tunnelAddr, this.icmp, 0);
    if (n === 0) return;
    try {
      writePacket(this.tunFd, this.icmp, 0, n);
    } catch {
      this.counters[DROPS + DROP_TUN_ERROR]!++;
    }
  }
}
