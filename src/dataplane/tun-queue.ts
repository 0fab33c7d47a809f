// The kernel TUN queue behind io.ts's TunQueue: one fd of a multi-queue TUN.
//
// Reads, in one of two layouts (slab-layout.ts draws both):
//
//   plain  no IFF_VNET_HDR: one packet per read, one slot per read, ENCAP_LEAD
//          free in front of each;
//   vnet   IFF_VNET_HDR + TUNSETOFFLOAD: every read is a virtio_net_hdr and a
//          packet of up to 64 KB:
//            GSO_NONE    one packet, in place (its checksum completed if
//                        NEEDS_CSUM), read right behind the datagram before it
//                        so that runs of same-sized datagrams to one peer
//                        leave as one UDP GSO send (datagram-run.ts);
//            GSO_TCPV4,  a TCP or UDP super-packet, cut into MSS- or
//            GSO_UDP_L4  gso_size-sized segments (native-free/offload/tso.ts,
//                        uso.ts) laid back to back in the segment region, each
//                        with room for the encap bytes in front:
//
//     | encap | IPv4 | TCP | mss bytes | encap | IPv4 | TCP | mss bytes | ... | last, shorter |
//     '--------------- stride --------'
//
//                        so after encapsulating each in place the whole run is
//                        equal datagrams back to back: one UDP_SEGMENT send.
//
//          Both regions fill front to back during a round and are reset by
//          rewind(): a read takes what it got, not a 64 KB slot, so a round
//          still reads `batch` small packets, and as many super-packets as
//          the regions hold (SUPER_PACKETS_PER_ROUND).
//
// Writes go through the TunWriter (tun-writer.ts): vnet header, GRO
// coalescing, checksum judgement, peer super-packets.
import { DROP_BAD_OFFLOAD } from '../../native-free/drop.js';
import { OFFLOAD_OK } from '../../native-free/offload/reasons.js';
import { MAX_SUPER_PACKET, createOffloadResult, packedStride, tunReadToPackets, type OffloadResult, type TsoSlab } from '../../native-free/offload/tso.js';
import { VIRTIO_NET_HDR_LEN } from '../../native-free/offload/virtio-net-hdr.js';
import type { PacketSlab } from '../sys/mmsg.js';
import { readPacket } from '../sys/tun.js';
import { DROPS, OFFLOAD_DROPS, TSO_SEGMENTS, TSO_SUPER_PACKETS } from './counters.js';
import type { TunPackets, TunQueue } from './io.js';
import {
  ENCAP_LEAD,
  MIN_SEGMENT_BYTES,
  READ_MAX,
  READ_REGION,
  SEGMENT_REGION,
  SEGMENTS_MAX,
  alignLine,
  offloadTxSlab,
  pastGap,
  plainTxSlab,
} from './slab-layout.js';
import { TunWriter, type TunWrite } from './tun-writer.js';

/** One read() of a packet: its length, -1 when none is waiting (sys/tun.ts). */
export type TunRead = (fd: number, b: Uint8Array, off: number, maxLen: number) => number;

export interface KernelTunQueueOptions {
  fd: number;
  counters: Float64Array;
  /** The TUN has IFF_VNET_HDR and offloads (TSO4/CSUM): reads are super-packets, writes carry a vnet header and are coalesced. */
  vnet: boolean;
  /** Tunnel MTU (the TunWriter cuts longer TCP packets from kernel peers to it). */
  mtu: number;
  /** Reads per round without vnet: the slots of the plain slab. */
  batch: number;
  /** Bytes per plain slot, lead included. */
  slotSize: number;
  /** The backend's encap bytes (slab-layout.ts): room in front of each segment. */
  encapBytes: number;
  /** Where the writer coalesces (the end of the receive slab), or null: every packet written alone. */
  coalesceIn: { buf: Uint8Array; offset: number } | null;
  /** The syscalls; sys/tun.ts's unless a test gives others. */
  read?: TunRead;
  write?: TunWrite;
}

export class KernelTunQueue implements TunQueue {
  /** The memory reads land in, and the underlay sends from. */
  readonly slab: PacketSlab;
  readonly packets: TunPackets;
  private readonly fd: number;
  private readonly counters: Float64Array;
  private readonly vnet: boolean;
  private readonly sysRead: TunRead;
  private readonly writer: TunWriter;
  /** vnet: the segment region as tunReadToPackets sees it. */
  private readonly segments: TsoSlab;
  private readonly encapBytes: number;
  /** plain: the next slot. */
  private slot = 0;
  /** vnet: where the next packet read lands (behind its vnet header), and where the next segments go. */
  private next = ENCAP_LEAD;
  private segmentAt = READ_REGION;

  constructor(o: KernelTunQueueOptions) {
    this.fd = o.fd;
    this.counters = o.counters;
    this.vnet = o.vnet;
    this.sysRead = o.read ?? readPacket;
    this.encapBytes = o.encapBytes;
    this.writer = new TunWriter({ fd: o.fd, counters: o.counters, vnet: o.vnet, coalesce: o.vnet, mtu: o.mtu, area: o.coalesceIn, write: o.write });
    if (o.vnet) {
      this.slab = offloadTxSlab();
      this.segments = { b: this.slab.buf, offset: 0, stride: 0, headroom: o.encapBytes, capacity: 0 };
      this.packets = createOffloadResult(Math.ceil(SEGMENTS_MAX / (o.encapBytes + MIN_SEGMENT_BYTES)));
    } else {
      this.slab = plainTxSlab(o.batch, o.slotSize);
      this.segments = { b: this.slab.buf, offset: 0, stride: 0, headroom: 0, capacity: 0 };
      this.packets = createOffloadResult(1);
      this.packets.buf = this.slab.buf;
    }
  }

  rewind(): void {
    this.slot = 0;
    this.next = ENCAP_LEAD;
    this.segmentAt = READ_REGION;
  }

  read(): number {
    return this.vnet ? this.readVnet() : this.readPlain();
  }

  private readPlain(): number {
    const slab = this.slab;
    if (this.slot >= slab.slots) return -1;
    const off = slab.dataOffset(this.slot);
    const n = this.sysRead(this.fd, slab.buf, off, slab.dataSize);
    if (n < 0) return -1;
    this.slot++;
    const p = this.packets;
    p.count = 1;
    p.inPlace = true;
    p.offsets[0] = off;
    p.lengths[0] = n;
    return 1;
  }

  private readVnet(): number {
    const next = this.next;
    if (next + READ_MAX > READ_REGION || this.segmentAt + SEGMENTS_MAX > READ_REGION + SEGMENT_REGION) return -1;
    const buf = this.slab.buf;
    const at = next - VIRTIO_NET_HDR_LEN;
    const n = this.sysRead(this.fd, buf, at, VIRTIO_NET_HDR_LEN + MAX_SUPER_PACKET);
    if (n < 0) return -1;
    const count = this.split(buf, at, n);
    // Behind an in-place packet: its end plus the next one's encapsulation
    // (at least the vnet header the read puts there). Else a run gap.
    this.next = count === 1 && this.packets.inPlace ? next + n - VIRTIO_NET_HDR_LEN + Math.max(this.encapBytes, VIRTIO_NET_HDR_LEN) : pastGap(next, n);
    return count;
  }

  /** The TUN read b[at, at+n) (vnet header and packet) into packets: how many, 0 if dropped. */
  private split(b: Uint8Array, at: number, n: number): number {
    const seg = this.segments;
    seg.offset = this.segmentAt + ENCAP_LEAD;
    // No stride when the headers cannot be read: tunReadToPackets then names what is wrong.
    seg.stride = packedStride(b, at, n, seg.headroom) || seg.headroom + MIN_SEGMENT_BYTES;
    seg.capacity = Math.floor((SEGMENTS_MAX - ENCAP_LEAD) / seg.stride);
    const r: OffloadResult = this.packets;
    const code = tunReadToPackets(b, at, n, seg, r);
    if (code !== OFFLOAD_OK) {
      this.counters[DROPS + DROP_BAD_OFFLOAD]!++;
      this.counters[OFFLOAD_DROPS + code]!++;
      return 0;
    }
    if (r.inPlace) return 1;
    this.counters[TSO_SUPER_PACKETS]!++;
    this.counters[TSO_SEGMENTS]! += r.count;
    this.segmentAt += alignLine(ENCAP_LEAD + r.count * seg.stride);
    return r.count;
  }

  deliver(b: Uint8Array, off: number, len: number): void {
    this.writer.deliver(b, off, len);
  }

  flush(): void {
    this.writer.flush();
  }

  write(b: Uint8Array, off: number, len: number): boolean {
    return this.writer.write(b, off, len);
  }
}
