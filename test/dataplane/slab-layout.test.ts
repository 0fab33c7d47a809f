// The worker's slabs are packet memories (native-free/simd/): WebAssembly
// memories, so checksums over their bytes run in WebAssembly SIMD in place;
// WEFT_CHECKSUM_ENGINE=js gives ordinary ArrayBuffers. The kernel must see
// the same bytes at the slab's address as JS and WebAssembly do: a read(2)
// from /dev/zero into the slab through its address, then a sum over it.
import { afterEach, expect, test } from 'vitest';
import { sum16 } from '../../native-free/checksum.js';
import { wasmChecksumOf } from '../../native-free/simd/packet-memory.js';
import { checksumEngine, offloadTxSlab, plainTxSlab, rxSlab } from '../../src/dataplane/slab-layout.js';
import { O_RDWR } from '../../src/sys/constants.js';
import { libc } from '../../src/sys/libc.js';

afterEach(() => {
  delete process.env['WEFT_CHECKSUM_ENGINE'];
});

test('every slab of a worker is a packet memory, each its own', () => {
  const slabs = [plainTxSlab(8, 2048), offloadTxSlab(), rxSlab(4, 2048, 0).slab];
  for (const s of slabs) {
    // Not shared: V8 copies within a SharedArrayBuffer with relaxed atomics, ~20x slower (packet-memory.ts).
    expect(s.buf.buffer).toBeInstanceOf(ArrayBuffer);
    expect(wasmChecksumOf(s.buf)).not.toBeNull();
  }
  expect(new Set(slabs.map((s) => wasmChecksumOf(s.buf))).size).toBe(3);
});

test('WEFT_CHECKSUM_ENGINE=js: ordinary memory, the JS loops', () => {
  process.env['WEFT_CHECKSUM_ENGINE'] = 'js';
  const s = plainTxSlab(8, 2048);
  expect(s.buf.buffer).toBeInstanceOf(ArrayBuffer);
  expect(wasmChecksumOf(s.buf)).toBeNull();
  expect(checksumEngine()).toEqual({ engine: 'js', reason: 'WEFT_CHECKSUM_ENGINE=js' });
  delete process.env['WEFT_CHECKSUM_ENGINE'];
  expect(checksumEngine()).toEqual({ engine: 'wasm-simd', reason: '' });
});

test('the kernel writes where the slab address says: read(2) into a packet memory, summed in WebAssembly', () => {
  const s = rxSlab(2, 2048, 0).slab;
  const off = s.dataOffset(1);
  s.buf.fill(0xff);
  expect(sum16(s.buf, off, 1500)).toBe(0xffff);
  const fd = libc.open('/dev/zero', O_RDWR, 0);
  expect(fd).toBeGreaterThanOrEqual(0);
  try {
    expect(libc.read(fd, s.base + off, 1000)).toBe(1000);
  } finally {
    libc.close(fd);
  }
  // 1000 zeros, then 500 bytes of 0xff: 250 words of 0xffff.
  expect(s.buf[off + 999]).toBe(0);
  expect(s.buf[off + 1000]).toBe(0xff);
  expect(sum16(s.buf, off, 1500)).toBe(0xffff);
  expect(sum16(s.buf, off, 1000)).toBe(0);
  expect(sum16(s.buf, off + 1, 1000)).toBe(0xff);
});
