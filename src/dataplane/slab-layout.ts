// How a worker lays out its packet memory, and the names of the bytes in it.
//
// Glossary (the word "headroom" used to mean six of these):
//
//   slot          a fixed-size piece of a PacketSlab (src/sys/mmsg.ts); the
//                 slab's `headroom` is the bytes kept free at the start of
//                 each slot. Nothing else here is called headroom.
//   lead          ENCAP_LEAD: bytes left free in front of a packet read from
//                 the TUN. The engine asks for room for the whole outer
//                 header in front of the inner packet, even when the kernel
//                 socket writes the outer IPv4/UDP itself. run.ts sizes the
//                 plain slots with it; `weft trace` builds its packet behind it.
//   encap bytes   what the encapsulation really writes in front of the inner
//                 packet with a kernel socket (vxlan: VXLAN + Ethernet, ipip
//                 and udp: nothing): each backend's encapBytes (src/backend/).
//                 A segment's slot starts with this many bytes, so that after
//                 encapsulating, the datagrams lie back to back.
//   vnet header   VIRTIO_NET_HDR_LEN (10) bytes in front of every read from
//                 and write to a TUN opened with IFF_VNET_HDR. TUN_WRITE_LEAD
//                 is the room a caller leaves for it in front of a packet it
//                 hands the TUN queue to write.
//   capture room  OUTER_UDP_BYTES (28) in front of a received datagram: a
//                 capture rebuilds the outer IPv4/UDP header there (and the
//                 vnet header of a lone packet written to the TUN lands in it).
//   stride        distance from one segment's slot to the next: encap bytes
//                 + IPv4 + TCP/UDP headers + MSS (tso.ts packedStride).
//   run gap       RUN_GAP: at least this many unused bytes behind a TUN read
//                 that was not used in place, so no datagram run spans it and
//                 the next read starts on a fresh cache line.
//   coalescing    room at the end of the receive slab where the TUN queue
//   area          builds GRO super-packets (tun-writer.ts), in the same buffer
//                 as the received packets so that segments move with a native
//                 copyWithin.
//
// Transmit slab, offloads off (one read per slot, `batch` slots):
//
//   | lead | packet ≤ slot - lead | lead | packet | ...
//
// Transmit slab, offloads on (one slot, two regions filled front to back in
// a round, reset after its sendmmsg; a read takes what it got, not 64 KB):
//
//   | read region: lead | vnet | pkt | vnet | pkt | ... | gap | lead | vnet | super-packet | ...
//   | segment region: lead | encap | hdrs | mss | encap | hdrs | mss | ... | last, shorter |
//
// Receive slab (`batch` slots of 64 KB, then the coalescing area):
//
//   | capture room | datagram ≤ 64 KB | capture room | datagram | ... | TCP area | UDP area |
//
// Each slab is one packet memory (native-free/simd/packet-memory.ts): an
// unshared WebAssembly memory (a slab stays in its worker), so that sum16 / copySum16 / moveSum on its bytes run in
// WebAssembly SIMD, in place. Where the runtime has no SIMD, or with
// WEFT_CHECKSUM_ENGINE=js (an A/B switch for measuring), it is an ordinary
// ArrayBuffer and the JS loops run.
import { MAX_SUPER_PACKET } from '../../native-free/offload/tso.js';
import { VIRTIO_NET_HDR_LEN } from '../../native-free/offload/virtio-net-hdr.js';
import { createPacketMemory, simdStatus } from '../../native-free/simd/packet-memory.js';
import { PacketSlab } from '../sys/mmsg.js';
import { OUTER_UDP_BYTES } from './capture-tap.js';

/** Bytes free in front of every packet read from the TUN (the engine's room for outer headers). */
export const ENCAP_LEAD = 64;
/** Bytes a caller leaves free in front of a packet it asks the TUN queue to write (for the vnet header). */
export const TUN_WRITE_LEAD = VIRTIO_NET_HDR_LEN;
/** Cache line: regions and reads start on one. */
export const CACHE_LINE = 64;
/** Unused bytes at least behind a read not used in place (see the glossary). */
export const RUN_GAP = 64;
/** The fewest bytes a TCP segment takes: IPv4 (20) and TCP (20) headers and 1 byte of payload. */
export const MIN_SEGMENT_BYTES = 41;

/** Room one offload read needs: lead, vnet header and the largest packet. */
export const READ_MAX = ENCAP_LEAD + VIRTIO_NET_HDR_LEN + MAX_SUPER_PACKET;
/** Room segmenting one super-packet may need: 64 KB of payload plus headers per segment. */
export const SEGMENTS_MAX = ENCAP_LEAD + 2 * MAX_SUPER_PACKET;
/** Super-packets the offload regions hold per round. */
export const SUPER_PACKETS_PER_ROUND = 16;
export const READ_REGION = SUPER_PACKETS_PER_ROUND * READ_MAX;
export const SEGMENT_REGION = SUPER_PACKETS_PER_ROUND * SEGMENTS_MAX;
/** Room one coalescer needs: the vnet header and a 64 KB IPv4 packet (one for TCP, one for UDP). */
export const COALESCE_AREA_EACH = VIRTIO_NET_HDR_LEN + MAX_SUPER_PACKET;

/** x rounded up to a multiple of CACHE_LINE. */
export function alignLine(x: number): number {
  return (x + CACHE_LINE - 1) & ~(CACHE_LINE - 1);
}

/** Where the read after one of n bytes at `at`, not used in place, may start: a run gap on, aligned. */
export function pastGap(at: number, n: number): number {
  return alignLine(at + n + RUN_GAP);
}

/** Which checksum engine the slabs get, and why not SIMD: for the one log line at start (pool.ts). */
export function checksumEngine(): { engine: 'wasm-simd' | 'js'; reason: string } {
  if (process.env['WEFT_CHECKSUM_ENGINE'] === 'js') return { engine: 'js', reason: 'WEFT_CHECKSUM_ENGINE=js' };
  const { engine, reason } = simdStatus();
  return { engine, reason };
}

/** Memory for a slab of `bytes`: a packet memory (see the top), or undefined for an ordinary ArrayBuffer. */
export function slabMemory(bytes: number): ArrayBuffer | undefined {
  if (process.env['WEFT_CHECKSUM_ENGINE'] === 'js') return undefined;
  return createPacketMemory(bytes) ?? undefined;
}

/** The transmit slab for offloads off: `batch` slots of slotSize (lead included). */
export function plainTxSlab(batch: number, slotSize: number): PacketSlab {
  return new PacketSlab({ slots: batch, slotSize, headroom: ENCAP_LEAD, memory: slabMemory(batch * slotSize) });
}

/** The transmit slab for offloads on: one slot holding the read and the segment region. */
export function offloadTxSlab(): PacketSlab {
  return new PacketSlab({ slots: 1, slotSize: READ_REGION + SEGMENT_REGION, headroom: 0, memory: slabMemory(READ_REGION + SEGMENT_REGION) });
}

/** Bytes the TUN queue coalesces in at the end of the receive slab: 0 unless it has vnet headers and coalesces. */
export function coalesceArea(vnet: boolean, coalesce: boolean): number {
  return vnet && coalesce ? 2 * COALESCE_AREA_EACH : 0;
}

/**
 * The receive slab: `batch` slots with capture room, then whole slots for the
 * coalescing area. Slots of 64 KB even without UDP_GRO: a kernel peer behind
 * a veth sends its TSO super-packets as one datagram of up to 64 KB
 * (offload/peer-super-packet.ts).
 */
export function rxSlab(batch: number, slotSize: number, area: number): { slab: PacketSlab; coalesceAt: number } {
  const size = Math.max(slotSize, MAX_SUPER_PACKET) + OUTER_UDP_BYTES;
  const extra = Math.ceil(area / size);
  const slab = new PacketSlab({ slots: batch + extra, slotSize: size, headroom: OUTER_UDP_BYTES, memory: slabMemory((batch + extra) * size) });
  return { slab, coalesceAt: extra > 0 ? batch * size : -1 };
}
