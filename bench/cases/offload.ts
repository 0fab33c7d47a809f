// TUN offloads: segmentation of a 64 KB TCP/IPv4 super-packet (as a TUN read
// with TUN_F_TSO4 hands it over) into 1448-byte segments with full IPv4 and
// TCP checksums, and coalescing of 45 such segments back into one
// super-packet for a TUN write. The unit is one segment in both, so the
// figures compare with the per-packet encap / decap cases.
import { checksum, pseudoHeaderSum4, sum16 } from '../../native-free/checksum.js';
import { GRO_HELD, createGroState, groAdd, groFinish } from '../../native-free/offload/gro.js';
import { OFFLOAD_OK } from '../../native-free/offload/reasons.js';
import { createOffloadResult, createTsoSlab, tunReadToPackets } from '../../native-free/offload/tso.js';
import { VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_LEN, writeVirtioNetHdr } from '../../native-free/offload/virtio-net-hdr.js';
import type { BenchCase } from '../harness.js';

const MSS = 1448;
const HDRS = 20 + 32; // IPv4 + TCP with timestamps
const SEGMENTS = 45; // 45 × 1448 + 52 = 65212 ≤ 65535
const HEADROOM = 64;

/** A TUN read: virtio_net_hdr + a TCP/IPv4 super-packet of `payload` bytes, TCP checksum partial. */
export function superRead(payload: number): Uint8Array {
  const total = HDRS + payload;
  const b = new Uint8Array(VIRTIO_NET_HDR_LEN + total);
  writeVirtioNetHdr(b, 0, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, HDRS, MSS, 20, 16);
  const p = VIRTIO_NET_HDR_LEN;
  b.set([0x45, 0, total >> 8, total & 0xff, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 10, 244, 1, 5, 10, 244, 2, 7], p);
  const c = checksum(b, p, 20);
  b[p + 10] = c >> 8;
  b[p + 11] = c & 0xff;
  const t = p + 20;
  b.set([0x9c, 0x40, 0x14, 0x51, 0x10, 0, 0, 0, 0x20, 0, 0, 0, 0x80, 0x10, 0x01, 0xf6, 0, 0, 0, 0, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], t);
  for (let i = 0; i < payload; i++) b[t + 32 + i] = (i * 7 + 3) & 0xff;
  const partial = sum16(b, 0, 0, pseudoHeaderSum4(0x0af40105, 0x0af40207, 6, total - 20));
  b[t + 16] = partial >> 8;
  b[t + 17] = partial & 0xff;
  return b;
}

const tso: BenchCase = {
  name: 'tso-64k',
  unit: 'segment',
  setup() {
    const read = superRead(65535 - HDRS);
    const slab = createTsoSlab(64, 1500, HEADROOM);
    const r = createOffloadResult(64);
    const perCall = Math.ceil((65535 - HDRS) / MSS);
    return (n) => {
      let acc = 0;
      // n segments: whole super-packets, rounded up.
      for (let done = 0; done < n; done += perCall) {
        if (tunReadToPackets(read, 0, read.length, slab, r) !== OFFLOAD_OK) throw new Error('bench: segmentation failed');
        acc += r.count + r.buf[r.offsets[r.count - 1]! + 37]!;
      }
      return acc;
    };
  },
};

/** The same, with the TUN read in the slab's last slot (native copy of the payload). */
const tsoInSlab: BenchCase = {
  name: 'tso-64k-in-slab',
  unit: 'segment',
  setup() {
    const read = superRead(65535 - HDRS);
    const stride = 1600;
    const slots = 48;
    const b = new Uint8Array(slots * stride + read.length);
    b.set(read, slots * stride);
    const slab = { b, offset: 0, stride, headroom: HEADROOM, capacity: slots };
    const r = createOffloadResult(64);
    const perCall = Math.ceil((65535 - HDRS) / MSS);
    return (n) => {
      let acc = 0;
      for (let done = 0; done < n; done += perCall) {
        if (tunReadToPackets(b, slots * stride, read.length, slab, r) !== OFFLOAD_OK) throw new Error('bench: segmentation failed');
        acc += r.count + r.buf[r.offsets[r.count - 1]! + 37]!;
      }
      return acc;
    };
  },
};

const gro: BenchCase = {
  name: 'gro-45',
  unit: 'segment',
  setup() {
    const read = superRead(SEGMENTS * MSS);
    const slab = createTsoSlab(64, 1500, HEADROOM);
    const r = createOffloadResult(64);
    if (tunReadToPackets(read, 0, read.length, slab, r) !== OFFLOAD_OK || r.count !== SEGMENTS) throw new Error('bench setup: segmentation failed');
    const offsets = Array.from(r.offsets.subarray(0, SEGMENTS));
    const lengths = Array.from(r.lengths.subarray(0, SEGMENTS));
    const g = createGroState();
    return (n) => {
      let acc = 0;
      let k = 0;
      for (let done = 0; done < n; done++) {
        if (groAdd(g, slab.b, offsets[k]!, lengths[k]!) !== GRO_HELD) throw new Error('bench: segment not merged');
        if (++k === SEGMENTS) {
          acc += groFinish(g);
          k = 0;
        }
      }
      return acc + groFinish(g);
    };
  },
};

export const cases: BenchCase[] = [tso, tsoInSlab, gro];
