// Writing packets into this worker's TUN queue, in one of three ways:
//
//   plain  the TUN has no IFF_VNET_HDR: one write() per packet, as it is;
//   vnet   IFF_VNET_HDR (offloads on): every write starts with a virtio_net_hdr,
//          so a lone packet is written behind a zeroed one, put in the 10
//          bytes in front of it (headroom, or bytes already consumed);
//   gro    vnet, and in-order TCP segments of one flow are coalesced into one
//          GSO_TCPV4 super-packet (native-free/offload/gro.ts), UDP datagrams
//          of one flow into one GSO_UDP_L4 super-packet (gro-udp.ts): one
//          write and one trip through the kernel's stack for up to 64 KB.
//          flush() at the end of every receive batch writes what is held.
//          Until it has room in the receive buffer (the `area` option, or
//          coalesceIn()), it writes every packet alone.
//
// The write half of the kernel TUN queue (tun-queue.ts); the receive loop
// sees only TunQueue.deliver/flush.
//
// Before any write the inner TCP/UDP checksum is judged (offload/
// partial-checksum.ts): a kernel peer's partial checksum is completed (by the
// kernel via NEEDS_CSUM with vnet, in software on a plain TUN), a damaged one
// is dropped and counted as bad_checksum in every mode alike. A TCP packet
// longer than the tunnel MTU (a kernel peer's TSO super-packet that a veth
// passed whole: offload/peer-super-packet.ts) is cut to the MTU, by the kernel
// (GSO_TCPV4) with vnet, here on a plain TUN.
import { DROP_BAD_CHECKSUM, DROP_TUN_ERROR, FORWARD } from '../../native-free/drop.js';
import { GRO_FLUSH, GRO_PASS, GRO_PASS_BAD_CHECKSUM, createGroState, groAdd, groFinish, groPending, type GroState } from '../../native-free/offload/gro.js';
import { MAX_SUPER_PACKET } from '../../native-free/offload/tso.js';
import { createUdpGroState, udpGroAdd, udpGroFinish, udpGroPending, type UdpGroState } from '../../native-free/offload/gro-udp.js';
import { PROTO_UDP } from '../../native-free/header/ipv4.js';
import { prepareTunWrite } from '../../native-free/offload/partial-checksum.js';
import { NOT_SUPER_PACKET, prepareSuperPacket } from '../../native-free/offload/peer-super-packet.js';
import { type OffloadResult, type TsoSlab, createOffloadResult, createTsoSlab } from '../../native-free/offload/tso.js';
import { VIRTIO_NET_HDR_LEN, clearVirtioNetHdr } from '../../native-free/offload/virtio-net-hdr.js';
import { DROPS, RX_BYTES, RX_PACKETS, TUN_GRO_SEGMENTS, TUN_GRO_WRITES } from './counters.js';
import { writePacket } from '../sys/tun.js';
import { COALESCE_AREA_EACH as AREA, coalesceArea } from './slab-layout.js';

/** One write() of a whole packet: its length, -1 if it would block; throws if the kernel refused it (sys/tun.ts). */
export type TunWrite = (fd: number, b: Uint8Array, off: number, len: number) => number;

export interface TunWriterOptions {
  fd: number;
  counters: Float64Array;
  /** The TUN was opened with IFF_VNET_HDR. */
  vnet: boolean;
  /** Coalesce received segments into super-packets (vnet only). */
  coalesce: boolean;
  /** The tunnel MTU: longer TCP packets are cut to it; 0 writes every packet as it comes. */
  mtu?: number;
  /** Room for the coalescers, coalesceArea(vnet, coalesce) bytes in the receive buffer (slab-layout.ts). */
  area?: { buf: Uint8Array; offset: number } | null;
  /** The write(); sys/tun.ts's writePacket unless a test gives another. */
  write?: TunWrite;
}

export class TunWriter {
  private tcp: GroState | null = null;
  private udp: UdpGroState | null = null;
  /** Inner bytes of the packets each coalescer holds. */
  private tcpBytes = 0;
  private udpBytes = 0;
  /** Where a plain TUN's super-packets from kernel peers are cut (null with vnet: the kernel cuts them). */
  private readonly cut: { slab: TsoSlab; r: OffloadResult } | null;

  private readonly fd: number;
  private readonly counters: Float64Array;
  /** The TUN was opened with IFF_VNET_HDR. */
  readonly vnet: boolean;
  private readonly coalesce: boolean;
  /** The receive buffer the coalescers work in (coalesceIn). */
  private areaBuf: Uint8Array | null = null;
  private readonly mtu: number;
  private readonly sysWrite: TunWrite;

  constructor(o: TunWriterOptions) {
    this.fd = o.fd;
    this.counters = o.counters;
    this.vnet = o.vnet;
    this.coalesce = o.coalesce;
    const mtu = (this.mtu = o.mtu ?? 0);
    this.sysWrite = o.write ?? writePacket;
    const segments = Math.ceil(MAX_SUPER_PACKET / Math.max(1, mtu - 80));
    this.cut = !o.vnet && mtu >= 576 ? { slab: createTsoSlab(segments, mtu, 0), r: createOffloadResult(segments) } : null;
    if (o.area) this.coalesceIn(o.area.buf, o.area.offset);
  }

  /** Bytes coalescing needs in the receive buffer (coalesceIn), 0 when this writer does not coalesce. */
  get coalesceArea(): number {
    return coalesceArea(this.vnet, this.coalesce);
  }

  /**
   * Builds super-packets in buf[offset, offset + coalesceArea): buf is the
   * receive buffer the packets handed to deliver() come from, so segments
   * move with a native copyWithin.
   */
  coalesceIn(buf: Uint8Array, offset: number): void {
    if (this.coalesceArea === 0) return;
    this.areaBuf = buf;
    this.tcp = createGroState(MAX_SUPER_PACKET, { buf, offset });
    this.udp = createUdpGroState(MAX_SUPER_PACKET, { buf, offset: offset + AREA });
  }

  /** Delivers a received packet b[off, off+len), counted as received, or as a bad_checksum or TUN drop. */
  deliver(b: Uint8Array, off: number, len: number): void {
    if (len > this.mtu && this.mtu > 0) this.superPacket(b, off, len);
    else if (this.tcp === null) this.alone(b, off, len);
    // The coalescers join IPv4 segments in place, in the one receive buffer
    // they were given. IPv6 goes alone (another flow: what they hold keeps its
    // order); so does an IPv4 packet from another buffer (a dual-stack
    // worker's IPv6 underlay), after what they hold, which may be its flow.
    else if (b[off]! >>> 4 !== 4) this.alone(b, off, len);
    else if (b !== this.areaBuf) {
      this.flush();
      this.alone(b, off, len);
    } else if (b[off + 9] === PROTO_UDP) this.deliverUdp(this.udp!, b, off, len);
    else this.deliverTcp(this.tcp, b, off, len);
  }

  private deliverTcp(g: GroState, b: Uint8Array, off: number, len: number): void {
    let a = groAdd(g, b, off, len);
    if (a === GRO_FLUSH) {
      this.flushTcp();
      a = groAdd(g, b, off, len);
    }
    if (a !== GRO_PASS) {
      this.tcpBytes += len;
      return;
    }
    if (g.passReason === GRO_PASS_BAD_CHECKSUM) {
      this.counters[DROPS + DROP_BAD_CHECKSUM]!++;
      return;
    }
    this.flush(); // keep the order of what is held
    this.alone(b, off, len);
  }

  private deliverUdp(g: UdpGroState, b: Uint8Array, off: number, len: number): void {
    let a = udpGroAdd(g, b, off, len);
    if (a === GRO_FLUSH) {
      this.flushUdp();
      a = udpGroAdd(g, b, off, len);
    }
    if (a !== GRO_PASS) {
      this.udpBytes += len;
      return;
    }
    if (g.passReason === GRO_PASS_BAD_CHECKSUM) {
      this.counters[DROPS + DROP_BAD_CHECKSUM]!++;
      return;
    }
    this.flush();
    this.alone(b, off, len);
  }

  /** A packet longer than the MTU: cut to it if it is a kernel peer's TCP super-packet, else written as it is. */
  private superPacket(b: Uint8Array, off: number, len: number): void {
    this.flush(); // order within the flow
    const cut = this.cut;
    const code = prepareSuperPacket(b, off, len, this.mtu, cut?.slab ?? null, cut?.r ?? null);
    if (code === NOT_SUPER_PACKET) {
      this.alone(b, off, len);
    } else if (code !== FORWARD) {
      this.counters[DROPS + code]!++;
    } else if (cut === null) {
      this.counted(this.writeRaw(b, off - VIRTIO_NET_HDR_LEN, len + VIRTIO_NET_HDR_LEN), 1, len);
    } else {
      const r = cut.r;
      for (let i = 0; i < r.count; i++) this.counted(this.writeRaw(r.buf, r.offsets[i]!, r.lengths[i]!), 1, r.lengths[i]!);
    }
  }

  /** One received packet written on its own, its checksum judged first. */
  private alone(b: Uint8Array, off: number, len: number): void {
    const code = prepareTunWrite(b, off, len, this.vnet);
    if (code !== FORWARD) {
      this.counters[DROPS + code]!++;
      return;
    }
    const h = this.vnet ? VIRTIO_NET_HDR_LEN : 0;
    this.counted(this.writeRaw(b, off - h, len + h), 1, len);
  }

  /** Writes what the coalescers hold, if anything. */
  flush(): void {
    this.flushTcp();
    this.flushUdp();
  }

  private flushTcp(): void {
    const g = this.tcp;
    if (g === null || !groPending(g)) return;
    const segments = g.count;
    const bytes = this.tcpBytes;
    this.tcpBytes = 0;
    this.written(this.writeRaw(g.out, g.base, groFinish(g)), segments, bytes);
  }

  private flushUdp(): void {
    const g = this.udp;
    if (g === null || !udpGroPending(g)) return;
    const segments = g.count;
    const bytes = this.udpBytes;
    this.udpBytes = 0;
    this.written(this.writeRaw(g.out, g.base, udpGroFinish(g)), segments, bytes);
  }

  private written(ok: boolean, segments: number, bytes: number): void {
    if (ok && segments > 1) {
      this.counters[TUN_GRO_WRITES]!++;
      this.counters[TUN_GRO_SEGMENTS]! += segments;
    }
    this.counted(ok, segments, bytes);
  }

  /** Writes one whole packet b[off, off+len) (behind a zeroed header in vnet mode); false if the kernel refused it. */
  write(b: Uint8Array, off: number, len: number): boolean {
    if (!this.vnet) return this.writeRaw(b, off, len);
    const h = off - VIRTIO_NET_HDR_LEN;
    clearVirtioNetHdr(b, h);
    return this.writeRaw(b, h, len + VIRTIO_NET_HDR_LEN);
  }

  private writeRaw(b: Uint8Array, off: number, len: number): boolean {
    try {
      return this.sysWrite(this.fd, b, off, len) >= 0;
    } catch {
      return false;
    }
  }

  private counted(ok: boolean, packets: number, bytes: number): void {
    if (ok) {
      this.counters[RX_PACKETS]! += packets;
      this.counters[RX_BYTES]! += bytes;
    } else {
      this.counters[DROPS + DROP_TUN_ERROR]! += packets;
    }
  }
}
