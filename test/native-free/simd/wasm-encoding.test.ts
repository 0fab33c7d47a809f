// The encoder behind native-free/simd/checksum-module.ts: LEB128 as the
// WebAssembly spec (§5.2.2) and its DWARF origin give it, and modules the
// runtime accepts (and refuses when they are wrong).
import { expect, test } from 'vitest';
import { checksumModuleBytes } from '../../../native-free/simd/checksum-module.js';
import type { WasmApi } from '../../../native-free/simd/packet-memory.js';
import { I32, body, module, op, sleb, u32, v128 } from '../../../native-free/simd/wasm-encoding.js';

// @types/node 20 does not declare WebAssembly: the engine's own minimal declaration.
const WebAssembly = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

test.each([
  [0, [0x00]],
  [1, [0x01]],
  [127, [0x7f]],
  [128, [0x80, 0x01]],
  [174, [0xae, 0x01]], // i32x4.add's SIMD opcode: two bytes
  [624485, [0xe5, 0x8e, 0x26]],
  [0xffffffff, [0xff, 0xff, 0xff, 0xff, 0x0f]],
])('u32(%i) is unsigned LEB128', (n, bytes) => {
  expect(u32(n)).toEqual(bytes);
});

test.each([
  [0, [0x00]],
  [63, [0x3f]],
  [64, [0xc0, 0x00]],
  [-1, [0x7f]],
  [-16, [0x70]],
  [-64, [0x40]],
  [-65, [0xbf, 0x7f]],
  [-123456, [0xc0, 0xbb, 0x78]],
  [0xffff, [0xff, 0xff, 0x03]],
  [262144, [0x80, 0x80, 0x10]],
])('sleb(%i) is signed LEB128', (n, bytes) => {
  expect(sleb(n)).toEqual(bytes);
});

test('the checksum module validates for shared and unshared memory', () => {
  expect(WebAssembly.validate(checksumModuleBytes(true))).toBe(true);
  expect(WebAssembly.validate(checksumModuleBytes(false))).toBe(true);
});

test('a module the encoder builds runs; a wrong body is refused by validate', () => {
  // (func (param i32 i32) (result i32) (i32.add (i32.load16_u (local.get 0)) (local.get 1)))
  const good = module({ module: 'weft', field: 'memory', shared: false, minPages: 1, maxPages: 1 }, [
    { exportName: 'f', params: [I32, I32], results: [I32], body: body([], [...op.localGet(0), ...op.i32Load16U(), ...op.localGet(1), op.i32Add]) },
  ]);
  expect(WebAssembly.validate(good)).toBe(true);
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: false });
  new Uint8Array(memory.buffer).set([0x34, 0x12], 10);
  const { exports } = new WebAssembly.Instance(new WebAssembly.Module(good), { weft: { memory } });
  expect((exports['f'] as (a: number, b: number) => number)(10, 1)).toBe(0x1235);
  // A v128 left where an i32 result is due.
  const bad = module({ module: 'weft', field: 'memory', shared: false, minPages: 1, maxPages: 1 }, [
    { exportName: 'f', params: [I32, I32], results: [I32], body: body([], [...op.localGet(0), ...v128.load()]) },
  ]);
  expect(WebAssembly.validate(bad)).toBe(false);
});
