// The Internet checksum, JS loop against WebAssembly SIMD (native-free/simd/),
// at the sizes packets come in: an IPv4 header (20), a TCP/IP header pair
// (40 / 64), an MTU-sized packet (1500), a jumbo frame (9000) and a 64 KB
// super-packet (65535). One operation is one sum (or one copy and its sum)
// of that many bytes; bytes/s = ops/s × size.
//
//   sum16-js-N            sum16 over an ordinary array (the JS word loop)
//   sum16-wasm-N          wasmSum16 over a packet memory (unshared, as the worker's slabs)
//   copysum-js-N          copySum16 between ordinary arrays (one JS pass, byte by byte)
//   copywithin-sum-js-N   copyWithin then sum16 (what moveSum and same-array
//                         segmentation do today: a native memmove, then the word loop)
//   copywithin-sum-wasm-N the same with wasmSum16 over a packet memory (what
//                         same-array segmentation does with the dispatch on)
//   copysum-wasm-N        wasmCopySum16 within a packet memory (one SIMD pass)
//
// Then the offload cases whose time is mostly checksums, with their buffer a
// packet memory: compare with tso-64k-in-slab, uso-64k-in-slab and
// gro-45-in-buffer (offload.ts, offload-udp.ts), which use ordinary memory.
// sum16 / copySum16 / moveSum send their sums to WebAssembly by size
// (checksum.ts, copy-sum.ts); segmentation in one array still copies with
// copyWithin (tso.ts), so there only the sum is SIMD.
import { sum16 } from '../../native-free/checksum.js';
import { GRO_HELD, createGroState, groAdd, groFinish } from '../../native-free/offload/gro.js';
import { copySum16 } from '../../native-free/offload/copy-sum.js';
import { OFFLOAD_OK } from '../../native-free/offload/reasons.js';
import { createOffloadResult, tunReadToPackets } from '../../native-free/offload/tso.js';
import { VIRTIO_NET_HDR_LEN } from '../../native-free/offload/virtio-net-hdr.js';
import { createPacketMemory } from '../../native-free/simd/packet-memory.js';
import { wasmCopySum16, wasmSum16 } from '../../native-free/simd/sum.js';
import type { BenchCase } from '../harness.js';
import { superRead } from './offload.js';

const SIZES = [20, 40, 64, 1500, 9000, 65535];
const AREA = 2 * 65536 + 4096;
/** Source at an even offset that is not 16-aligned (as packets behind a 28-byte capture room are). */
const SRC = 92;
const DST = 65536 + 256 + 28;

function filled(b: Uint8Array): Uint8Array {
  for (let i = 0; i < b.length; i++) b[i] = (i * 131 + 7) & 0xff;
  return b;
}

function packetArray(bytes: number): Uint8Array {
  const m = createPacketMemory(bytes);
  if (m === null) throw new Error('bench: this runtime has no WebAssembly SIMD for packet memories');
  return new Uint8Array(m, 0, bytes);
}

function sumCase(name: string, size: number, buffer: () => Uint8Array, f: (b: Uint8Array, off: number, len: number, initial: number) => number): BenchCase {
  return {
    name,
    unit: 'sum',
    setup() {
      const b = buffer();
      return (n) => {
        let acc = 0;
        for (let i = 0; i < n; i++) acc += f(b, SRC, size, i & 7);
        return acc;
      };
    },
  };
}

function copyCase(
  name: string,
  size: number,
  buffer: () => Uint8Array,
  f: (src: Uint8Array, so: number, dst: Uint8Array, dOff: number, len: number, initial: number) => number,
): BenchCase {
  return {
    name,
    unit: 'copy+sum',
    setup() {
      const b = buffer();
      return (n) => {
        let acc = 0;
        for (let i = 0; i < n; i++) acc += f(b, SRC, b, DST, size, i & 7);
        return acc;
      };
    },
  };
}

function copyWithinSum(src: Uint8Array, so: number, dst: Uint8Array, dOff: number, len: number, initial: number): number {
  dst.copyWithin(dOff, so, so + len);
  return sum16(dst, dOff, len, initial);
}

function copyWithinWasmSum(src: Uint8Array, so: number, dst: Uint8Array, dOff: number, len: number, initial: number): number {
  dst.copyWithin(dOff, so, so + len);
  return wasmSum16(dst, dOff, len, initial);
}

function checksumCases(): BenchCase[] {
  // Made at the first setup: a run filtered to other cases allocates nothing here.
  let p: Uint8Array | null = null;
  let w: Uint8Array | null = null;
  const plain = (): Uint8Array => (p ??= filled(new Uint8Array(AREA)));
  const packet = (): Uint8Array => (w ??= filled(packetArray(AREA)));
  const out: BenchCase[] = [];
  for (const size of SIZES) {
    out.push(sumCase(`sum16-js-${size}`, size, plain, sum16));
    out.push(sumCase(`sum16-wasm-${size}`, size, packet, wasmSum16));
    out.push(copyCase(`copysum-js-${size}`, size, plain, copySum16));
    out.push(copyCase(`copywithin-sum-js-${size}`, size, plain, copyWithinSum));
    out.push(copyCase(`copywithin-sum-wasm-${size}`, size, packet, copyWithinWasmSum));
    out.push(copyCase(`copysum-wasm-${size}`, size, packet, wasmCopySum16));
  }
  return out;
}

const MSS = 1448;
const STRIDE = 1600;
const SLOTS = 48;

/** tso-64k-in-slab (offload.ts) with the slab and the read in one packet memory. */
const tsoInPacketMemory: BenchCase = {
  name: 'tso-64k-in-packet-memory',
  unit: 'segment',
  setup() {
    const read = superRead(65535 - 52);
    const b = packetArray(SLOTS * STRIDE + read.length);
    b.set(read, SLOTS * STRIDE);
    const slab = { b, offset: 0, stride: STRIDE, headroom: 64, capacity: SLOTS };
    const r = createOffloadResult(64);
    const perCall = Math.ceil((65535 - 52) / MSS);
    return (n) => {
      let acc = 0;
      for (let done = 0; done < n; done += perCall) {
        if (tunReadToPackets(b, SLOTS * STRIDE, read.length, slab, r) !== OFFLOAD_OK) throw new Error('bench: segmentation failed');
        acc += r.count + r.buf[r.offsets[r.count - 1]! + 37]!;
      }
      return acc;
    };
  },
};

/** gro-45-in-buffer (offload-udp.ts) with the segments and the coalescing area in one packet memory. */
const groInPacketMemory: BenchCase = {
  name: 'gro-45-in-packet-memory',
  unit: 'segment',
  setup() {
    const read = superRead(45 * MSS);
    const readAt = 64 * STRIDE;
    const areaAt = readAt + read.length + 64;
    const b = packetArray(areaAt + VIRTIO_NET_HDR_LEN + 65535);
    b.set(read, readAt);
    const r = createOffloadResult(64);
    const slab = { b, offset: 0, stride: STRIDE, headroom: 64, capacity: 64 };
    if (tunReadToPackets(b, readAt, read.length, slab, r) !== OFFLOAD_OK || r.count !== 45) throw new Error('bench setup: segmentation failed');
    const offsets = Array.from(r.offsets.subarray(0, 45));
    const lengths = Array.from(r.lengths.subarray(0, 45));
    const g = createGroState(65535, { buf: b, offset: areaAt });
    return (n) => {
      let acc = 0;
      let k = 0;
      for (let done = 0; done < n; done++) {
        if (groAdd(g, b, offsets[k]!, lengths[k]!) !== GRO_HELD) throw new Error('bench: segment not merged');
        if (++k === 45) {
          acc += groFinish(g);
          k = 0;
        }
      }
      return acc + groFinish(g);
    };
  },
};

export const cases: BenchCase[] = [...checksumCases(), tsoInPacketMemory, groInPacketMemory];
