// The IPv6 offloads, laid out as the worker does (reads in the slab,
// coalescing inside the receive buffer): cutting a 64 KB TCP/IPv6
// super-packet (GSO_TCPV6, TUN_F_TSO6) into 1428-byte segments and a 64 KB
// UDP/IPv6 one (GSO_UDP_L4, TUN_F_USO6) into 1200-byte datagrams, and
// coalescing 45 segments or 54 datagrams back into one. One segment or
// datagram is the unit, so the rows compare with their IPv4 twins
// (tso-64k-in-slab, uso-64k-in-slab, gro-45-in-buffer, gro-udp-54-in-buffer).
import { pseudoHeaderSum6 } from '../../native-free/checksum.js';
import { GRO_HELD, createGroState, groAdd, groFinish } from '../../native-free/offload/gro.js';
import { createUdpGroState, udpGroAdd, udpGroFinish } from '../../native-free/offload/gro-udp.js';
import { OFFLOAD_OK } from '../../native-free/offload/reasons.js';
import { type TsoSlab, createOffloadResult, tunReadToPackets } from '../../native-free/offload/tso.js';
import {
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_TCPV6,
  VIRTIO_NET_HDR_GSO_UDP_L4,
  VIRTIO_NET_HDR_LEN,
  writeVirtioNetHdr,
} from '../../native-free/offload/virtio-net-hdr.js';
import type { BenchCase } from '../harness.js';

const MSS = 1428;
const TCP_HDRS = 40 + 32; // IPv6 + TCP with timestamps
const SEGMENTS = 45; // 45 × 1428 + 72 = 64332 ≤ 65535
const GSO = 1200;
const DATAGRAMS = 54; // 54 × 1200 + 48 = 64848
const STRIDE = 1600;
const SLOTS = 64;
const ADDRS = [0xfd, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5, 0xfd, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 7];

/** A TUN read: virtio_net_hdr + an IPv6 super-packet of `proto` with `payload` bytes, the L4 checksum partial. */
function read6(proto: 6 | 17, payload: number): Uint8Array {
  const l4h = proto === 6 ? 32 : 8;
  const plen = l4h + payload;
  const b = new Uint8Array(VIRTIO_NET_HDR_LEN + 40 + plen);
  writeVirtioNetHdr(b, 0, VIRTIO_NET_HDR_F_NEEDS_CSUM, proto === 6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_UDP_L4, 40 + l4h, proto === 6 ? MSS : GSO, 40, proto === 6 ? 16 : 6);
  const p = VIRTIO_NET_HDR_LEN;
  b.set([0x60, 0x09, 0xab, 0xcd, plen >> 8, plen & 0xff, proto, 64, ...ADDRS], p);
  const t = p + 40;
  if (proto === 6) b.set([0x9c, 0x40, 0x14, 0x51, 0x10, 0, 0, 0, 0x20, 0, 0, 0, 0x80, 0x10, 0x01, 0xf6, 0, 0, 0, 0, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], t);
  else b.set([0x11, 0x51, 0xc3, 0x50, plen >> 8, plen & 0xff, 0, 0], t);
  for (let i = 0; i < payload; i++) b[t + l4h + i] = (i * 7 + 3) & 0xff;
  const partial = pseudoHeaderSum6(b, p + 8, proto, plen);
  const at = t + (proto === 6 ? 16 : 6);
  b[at] = partial >> 8;
  b[at + 1] = partial & 0xff;
  return b;
}

/** SLOTS slots of STRIDE bytes, the read after them, room to coalesce at the end. */
function inBuffer(read: Uint8Array): { b: Uint8Array; slab: TsoSlab; readAt: number; areaAt: number } {
  const readAt = SLOTS * STRIDE;
  const areaAt = readAt + read.length + 64;
  const b = new Uint8Array(areaAt + VIRTIO_NET_HDR_LEN + 65535);
  b.set(read, readAt);
  return { b, slab: { b, offset: 0, stride: STRIDE, headroom: 64, capacity: SLOTS }, readAt, areaAt };
}

function cutting(name: string, unit: string, read: Uint8Array, tailAt: number): BenchCase {
  return {
    name,
    unit,
    setup() {
      const { b, slab, readAt } = inBuffer(read);
      const r = createOffloadResult(SLOTS);
      if (tunReadToPackets(b, readAt, read.length, slab, r) !== OFFLOAD_OK) throw new Error(`bench setup: ${name} failed`);
      const perCall = r.count;
      return (n) => {
        let acc = 0;
        for (let done = 0; done < n; done += perCall) {
          if (tunReadToPackets(b, readAt, read.length, slab, r) !== OFFLOAD_OK) throw new Error('bench: segmentation failed');
          acc += r.count + r.buf[r.offsets[r.count - 1]! + tailAt]!;
        }
        return acc;
      };
    },
  };
}

/** Cuts `read` once; the segments then sit in the buffer, offered over and over. */
function segmentsOf(read: Uint8Array, count: number) {
  const x = inBuffer(read);
  const r = createOffloadResult(SLOTS);
  if (tunReadToPackets(x.b, x.readAt, read.length, x.slab, r) !== OFFLOAD_OK || r.count !== count) throw new Error('bench setup: segmentation failed');
  return { ...x, offsets: Array.from(r.offsets.subarray(0, count)), lengths: Array.from(r.lengths.subarray(0, count)) };
}

const gro6: BenchCase = {
  name: 'gro6-45-in-buffer',
  unit: 'segment',
  setup() {
    const s = segmentsOf(read6(6, SEGMENTS * MSS), SEGMENTS);
    const g = createGroState(65535, { buf: s.b, offset: s.areaAt });
    return (n) => {
      let acc = 0;
      let k = 0;
      for (let done = 0; done < n; done++) {
        if (groAdd(g, s.b, s.offsets[k]!, s.lengths[k]!) !== GRO_HELD) throw new Error('bench: segment not merged');
        if (++k === SEGMENTS) {
          acc += groFinish(g);
          k = 0;
        }
      }
      return acc + groFinish(g);
    };
  },
};

const groUdp6: BenchCase = {
  name: 'gro-udp6-54-in-buffer',
  unit: 'datagram',
  setup() {
    const s = segmentsOf(read6(17, DATAGRAMS * GSO), DATAGRAMS);
    const g = createUdpGroState(65535, { buf: s.b, offset: s.areaAt });
    return (n) => {
      let acc = 0;
      let k = 0;
      for (let done = 0; done < n; done++) {
        if (udpGroAdd(g, s.b, s.offsets[k]!, s.lengths[k]!) !== GRO_HELD) throw new Error('bench: datagram not merged');
        if (++k === DATAGRAMS) {
          acc += udpGroFinish(g);
          k = 0;
        }
      }
      return acc + udpGroFinish(g);
    };
  },
};

export const cases: BenchCase[] = [
  cutting('tso6-64k-in-slab', 'segment', read6(6, 65535 - TCP_HDRS), 57),
  cutting('uso6-64k-in-slab', 'datagram', read6(17, 65535 - 48), 47),
  gro6,
  groUdp6,
];
