// TUN → segment → encapsulate → sendmmsg, for a TUN with offloads on
// (IFF_VNET_HDR + TUNSETOFFLOAD). Every read is a virtio_net_hdr and a packet
// of up to 64 KB:
//
//   GSO_NONE    one packet, in place (its checksum completed if NEEDS_CSUM;
//               TxBase.one), read right behind the datagram before it so that runs of
//               same-sized datagrams to one peer leave as one UDP GSO send
//               (datagram-run.ts);
//   GSO_TCPV4,  a TCP or UDP super-packet: cut into MSS- or gso_size-sized
//   GSO_UDP_L4  segments (native-free/offload/tso.ts, uso.ts) laid back to
//               back in the segment region, each with room for the
//               encapsulation in front:
//
//     | encap | IPv4 | TCP | mss bytes | encap | IPv4 | TCP | mss bytes | ... | last, shorter |
//     '--------------- stride --------'
//
//               so after encapsulating each in place the whole run is equal
//               datagrams back to back: with UDP GSO one sendmmsg entry
//               (UDP_SEGMENT = stride) carries up to 64 of them, else one
//               entry each.
//
// Memory: one PacketSlab (every iovec points into one buffer) holding a read
// region and a segment region, both filled front to back during a round and
// reset after its sendmmsg: a read takes what it got, not a 64 KB slot, so a
// round still reads `reads` small packets, and as many super-packets as the
// regions hold (about 16).
import { DROP_BAD_OFFLOAD, FORWARD } from '../../native-free/drop.js';
import { OFFLOAD_OK } from '../../native-free/offload/reasons.js';
import { MAX_SUPER_PACKET, createOffloadResult, packedStride, tunReadToPackets, type OffloadResult, type TsoSlab } from '../../native-free/offload/tso.js';
import { VIRTIO_NET_HDR_LEN } from '../../native-free/offload/virtio-net-hdr.js';
import { copyBytes } from '../../native-free/offload/copy-sum.js';
import { DROPS, OFFLOAD_DROPS, TSO_SEGMENTS, TSO_SUPER_PACKETS, TX_BYTES } from './counters.js';
import { PacketSlab } from '../sys/mmsg.js';
import { readPacket } from '../sys/tun.js';
import { SendQueue } from './send-queue.js';
import { MAX_GSO_SEGMENTS, MAX_UDP_PAYLOAD } from './datagram-run.js';
import { TxBase, type TxDeps } from './tx-path.js';

/** Bytes before each packet: encapsulation asks for room for outer headers even when the kernel adds them. */
const LEAD = 64;
/** Room one read needs: lead, virtio_net_hdr and the largest packet. */
const READ_MAX = LEAD + VIRTIO_NET_HDR_LEN + MAX_SUPER_PACKET;
/** Room segmenting one super-packet may need: 64 KB of payload plus headers per segment. */
const SEGMENTS_MAX = LEAD + 2 * MAX_SUPER_PACKET;
/** Super-packets the regions hold per round. */
const SUPER_PACKETS_PER_ROUND = 16;
const READ_REGION = SUPER_PACKETS_PER_ROUND * READ_MAX;
const SEGMENT_REGION = SUPER_PACKETS_PER_ROUND * SEGMENTS_MAX;

export interface TxOffloadOptions {
  /** At most this many TUN reads per round. */
  reads: number;
  /** Bytes the encapsulation writes in front of the inner packet (what the kernel socket does not add). */
  encapHeadroom: number;
  /** UDP_SEGMENT may be used (vxlan and udp backends, asked for and supported). */
  gso: boolean;
}

export class TxOffloadPath extends TxBase {
  private readonly slab: PacketSlab;
  private readonly reads: number;
  private readonly segments: TsoSlab;
  private readonly result: OffloadResult;
  /** Where the next super-packet's segments go in this round. */
  private segmentAt = 0;
  /** Bytes the encapsulation writes in front of an inner packet. */
  private readonly headroom: number;

  constructor(d: TxDeps, o: TxOffloadOptions) {
    super(d);
    this.reads = o.reads;
    this.slab = new PacketSlab({ slots: 1, slotSize: READ_REGION + SEGMENT_REGION, headroom: 0 });
    this.segments = { b: this.slab.buf, offset: 0, stride: 0, headroom: o.encapHeadroom, capacity: 0 };
    // Every segment has at least 40 bytes of headers and 1 of payload.
    this.result = createOffloadResult(Math.ceil(SEGMENTS_MAX / (o.encapHeadroom + 41)));
    this.useQueue(new SendQueue(this.slab, 64, d.txFd, d.counters, o.gso));
    this.headroom = o.encapHeadroom;
  }

  pump(): number {
    const buf = this.slab.buf;
    this.segmentAt = READ_REGION;
    // Where the next packet read lands. A small packet goes right behind the
    // datagram before it (its virtio_net_hdr over the room its encapsulation
    // will take), so their datagrams lie back to back for DatagramRuns.
    let next = LEAD;
    let read = 0;
    while (read < this.reads && next + READ_MAX <= READ_REGION && this.segmentAt + SEGMENTS_MAX <= READ_REGION + SEGMENT_REGION) {
      const at = next - VIRTIO_NET_HDR_LEN;
      const n = readPacket(this.tunFd, buf, at, VIRTIO_NET_HDR_LEN + MAX_SUPER_PACKET);
      if (n < 0) break;
      read++;
      const inPlace = this.packets(buf, at, n);
      // Behind an in-place packet: its end plus the next one's encapsulation
      // (at least the header the read puts there). Else a gap: no run spans it.
      next = inPlace ? next + n - VIRTIO_NET_HDR_LEN + Math.max(this.headroom, VIRTIO_NET_HDR_LEN) : (next + n + 127) & ~63;
    }
    this.send();
    return read;
  }

  /** The TUN read b[at, at+n) (header and packet) into packets, each queued; true if it was one packet, used in place. */
  private packets(b: Uint8Array, at: number, n: number): boolean {
    const seg = this.segments;
    seg.offset = this.segmentAt + LEAD;
    seg.stride = packedStride(b, at, n, seg.headroom) || seg.headroom + 41;
    seg.capacity = Math.floor((SEGMENTS_MAX - LEAD) / seg.stride);
    const r = this.result;
    const code = tunReadToPackets(b, at, n, seg, r);
    if (code !== OFFLOAD_OK) {
      this.counters[DROPS + DROP_BAD_OFFLOAD]!++;
      this.counters[OFFLOAD_DROPS + code]!++;
      return false;
    }
    if (r.inPlace) return this.one(b, r.offsets[0]!, r.lengths[0]!);
    this.counters[TSO_SUPER_PACKETS]!++;
    this.counters[TSO_SEGMENTS]! += r.count;
    this.segmentAt += (LEAD + r.count * seg.stride + 63) & ~63;
    this.runs.emit(); // keep the order of what was read
    this.segmentsOut(b, r, seg.stride);
    return false;
  }

  /**
   * Encapsulates the segments in r and queues them: with GSO, runs of
   * full-stride datagrams back to back to the same peer as one entry.
   * Segments of one super-packet share their route, peer and headers in front
   * of the inner packet, so only the first is encapsulated (and decides the
   * fate of all: a drop reason applies to every segment); the others get a
   * copy of its encapsulation bytes.
   */
  private segmentsOut(b: Uint8Array, r: OffloadResult, stride: number): void {
    const first = r.offsets[0]!;
    const code = this.encap(this.ctx, b, first, r.lengths[0]!);
    if (code !== FORWARD) {
      for (let i = 0; i < r.count; i++) this.dropped(code, b, r.offsets[i]!, r.lengths[i]!);
      return;
    }
    const e = this.ctx.result;
    const start = e.offset;
    const h = first - start; // encapsulation bytes in front of each inner packet
    const addr = e.underlay;
    const mode = this.tap.mode;
    let bytes = 0;
    for (let i = 0; i < r.count; i++) {
      const off = r.offsets[i]!;
      if (i > 0) copyBytes(b, first - h, b, off - h, h);
      if (mode !== 0) this.capture(b, off, r.lengths[i]!, h, mode);
      bytes += r.lengths[i]!;
    }
    this.counters[TX_BYTES]! += bytes;
    this.queueRun(start, r, h, stride, addr);
  }

  /** Queues segments whose encapsulated datagrams start at `start`, every `stride` bytes. */
  private queueRun(start: number, r: OffloadResult, h: number, stride: number, addr: number): void {
    const q = this.queue;
    const port = this.ctx.config.port;
    if (!q.gso || h !== this.segments.headroom) {
      for (let i = 0; i < r.count; i++) q.add(r.offsets[i]! - h, r.lengths[i]! + h, addr, port, 0, 1);
      return;
    }
    // Back to back by construction (packedStride): cut into sends of at most
    // MAX_GSO_SEGMENTS datagrams and MAX_UDP_PAYLOAD bytes.
    const perSend = Math.max(1, Math.min(MAX_GSO_SEGMENTS, Math.floor(MAX_UDP_PAYLOAD / stride)));
    for (let i = 0; i < r.count; i += perSend) {
      const n = Math.min(perSend, r.count - i);
      const last = i + n - 1;
      const len = last * stride + r.lengths[last]! + h - i * stride;
      q.add(start + i * stride, len, addr, port, n > 1 ? stride : 0, n);
    }
  }
}
