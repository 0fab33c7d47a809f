// The UDP side of the offloads, and coalescing as the worker does it (inside
// the receive buffer, so segments move with copyWithin): cutting a 64 KB
// UDP/IPv4 super-packet (GSO_UDP_L4, what TUN_F_USO hands over when a pod
// sends with UDP_SEGMENT) into 1200-byte datagrams, and coalescing 45 TCP
// segments or 54 UDP datagrams back into one super-packet. The unit is one
// segment or datagram.
import { checksum, pseudoHeaderSum4, sum16 } from '../../native-free/checksum.js';
import { GRO_HELD, createGroState, groAdd, groFinish } from '../../native-free/offload/gro.js';
import { createUdpGroState, udpGroAdd, udpGroFinish } from '../../native-free/offload/gro-udp.js';
import { OFFLOAD_OK } from '../../native-free/offload/reasons.js';
import { createOffloadResult, tunReadToPackets, type TsoSlab } from '../../native-free/offload/tso.js';
import { VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_UDP_L4, VIRTIO_NET_HDR_LEN, writeVirtioNetHdr } from '../../native-free/offload/virtio-net-hdr.js';
import type { BenchCase } from '../harness.js';
import { superRead } from './offload.js';

const GSO = 1200;
const DATAGRAMS = 54; // 54 × 1200 + 28 = 64828 ≤ 65535
const STRIDE = 1600;
const SLOTS = 64;

/** A TUN read: virtio_net_hdr + a UDP/IPv4 super-packet of `payload` bytes, UDP checksum partial. */
function udpSuperRead(payload: number): Uint8Array {
  const total = 28 + payload;
  const b = new Uint8Array(VIRTIO_NET_HDR_LEN + total);
  writeVirtioNetHdr(b, 0, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_UDP_L4, 28, GSO, 20, 6);
  const p = VIRTIO_NET_HDR_LEN;
  b.set([0x45, 0, total >> 8, total & 0xff, 0x12, 0x34, 0x40, 0, 64, 17, 0, 0, 10, 244, 1, 5, 10, 244, 2, 7], p);
  const c = checksum(b, p, 20);
  b[p + 10] = c >> 8;
  b[p + 11] = c & 0xff;
  const u = p + 20;
  b.set([0x11, 0x51, 0xc3, 0x50, (total - 20) >> 8, (total - 20) & 0xff, 0, 0], u);
  for (let i = 0; i < payload; i++) b[u + 8 + i] = (i * 11 + 1) & 0xff;
  const partial = sum16(b, 0, 0, pseudoHeaderSum4(0x0af40105, 0x0af40207, 17, total - 20));
  b[u + 6] = partial >> 8;
  b[u + 7] = partial & 0xff;
  return b;
}

/** A buffer with SLOTS slots of STRIDE bytes, the read after them, and room to coalesce at the end. */
function inBuffer(read: Uint8Array): { b: Uint8Array; slab: TsoSlab; readAt: number; areaAt: number } {
  const readAt = SLOTS * STRIDE;
  const areaAt = readAt + read.length + 64;
  const b = new Uint8Array(areaAt + VIRTIO_NET_HDR_LEN + 65535);
  b.set(read, readAt);
  return { b, slab: { b, offset: 0, stride: STRIDE, headroom: 64, capacity: SLOTS }, readAt, areaAt };
}

const uso: BenchCase = {
  name: 'uso-64k-in-slab',
  unit: 'datagram',
  setup() {
    const read = udpSuperRead(65535 - 28);
    const { b, slab, readAt } = inBuffer(read);
    const r = createOffloadResult(SLOTS);
    const perCall = Math.ceil((65535 - 28) / GSO);
    return (n) => {
      let acc = 0;
      for (let done = 0; done < n; done += perCall) {
        if (tunReadToPackets(b, readAt, read.length, slab, r) !== OFFLOAD_OK) throw new Error('bench: segmentation failed');
        acc += r.count + r.buf[r.offsets[r.count - 1]! + 27]!;
      }
      return acc;
    };
  },
};

/** Cuts `read` once; the segments then sit in the buffer, offered over and over. */
function segmentsOf(read: Uint8Array, count: number) {
  const x = inBuffer(read);
  const r = createOffloadResult(SLOTS);
  if (tunReadToPackets(x.b, x.readAt, read.length, x.slab, r) !== OFFLOAD_OK || r.count !== count) throw new Error('bench setup: segmentation failed');
  return { ...x, offsets: Array.from(r.offsets.subarray(0, count)), lengths: Array.from(r.lengths.subarray(0, count)) };
}

const groInBuffer: BenchCase = {
  name: 'gro-45-in-buffer',
  unit: 'segment',
  setup() {
    const s = segmentsOf(superRead(45 * 1448), 45);
    const g = createGroState(65535, { buf: s.b, offset: s.areaAt });
    return (n) => {
      let acc = 0;
      let k = 0;
      for (let done = 0; done < n; done++) {
        if (groAdd(g, s.b, s.offsets[k]!, s.lengths[k]!) !== GRO_HELD) throw new Error('bench: segment not merged');
        if (++k === 45) {
          acc += groFinish(g);
          k = 0;
        }
      }
      return acc + groFinish(g);
    };
  },
};

const groUdp: BenchCase = {
  name: 'gro-udp-54-in-buffer',
  unit: 'datagram',
  setup() {
    const s = segmentsOf(udpSuperRead(DATAGRAMS * GSO), DATAGRAMS);
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

export const cases: BenchCase[] = [uso, groInBuffer, groUdp];
