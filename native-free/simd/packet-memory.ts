// Packet memory that WebAssembly can checksum in place.
//
// WebAssembly code reads only its own linear memory, and copying a packet
// into it would cost what SIMD saves. So a slab that wants SIMD checksums is
// itself a WebAssembly.Memory (createPacketMemory), with initial = maximum:
// it never grows (growing hands out a new buffer object and detaches the old
// one of an unshared memory). Unshared by default, its buffer an ordinary
// ArrayBuffer: V8 copies within a SharedArrayBuffer with relaxed atomics, and
// copyWithin of 1448 bytes took ~0.9-1.3 µs there against ~45-80 ns in an
// ArrayBuffer (node 20, measured here), which undid the SIMD gain in
// segmentation; a worker's slabs stay in that worker anyway. { shared: true }
// gives a SharedArrayBuffer for memory that must cross threads.
//
// Each memory gets its own instance of checksum-module.ts; wasmChecksumOf(b)
// finds it from a Uint8Array over that memory, through a two-entry cache of
// the last arrays seen (a worker sums in two or three arrays) and a WeakMap
// by buffer behind it. Arrays over any other buffer get null: the JS loop.
//
// The runtime is asked once per thread: the module must validate (it needs
// SIMD, Node ≥ 16.4) and compile; otherwise simdStatus() says why and
// createPacketMemory returns null, so the caller allocates an ordinary
// ArrayBuffer. native-free/ has no Node types and no DOM lib, so the few
// WebAssembly members used are declared here and looked up on globalThis.

import { checksumModuleBytes, MEMORY_IMPORT } from './checksum-module.js';

export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
}
export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}
export interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => WasmInstance;
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
}

/** The module's two functions over one memory. Addresses are byte offsets in that memory. */
export interface WasmChecksum {
  /** RFC 1071 sum of [p, p+n), folded to 16 bits, not complemented. */
  readonly sum: (p: number, n: number) => number;
  /** Copies [p, p+n) to d (d ≤ p if they overlap) and returns the sum of the bytes. */
  readonly copySum: (d: number, p: number, n: number) => number;
}

export interface SimdStatus {
  /** 'wasm-simd': packet memories are WebAssembly memories; 'js': every sum runs in the JS loop. */
  readonly engine: 'wasm-simd' | 'js';
  /** Why 'js' (no WebAssembly, module not valid, compile error), or '' . */
  readonly reason: string;
  /** Packet memories made so far (in this thread). */
  memories: number;
}

const PAGE = 65536;

const status: SimdStatus = { engine: 'js', reason: 'not tried yet', memories: 0 };
interface Compiled {
  api: WasmApi;
  /** The module for unshared memories, and (compiled when first asked for) for shared ones. */
  unshared: object;
  shared: object | null;
}
let compiled: Compiled | null | undefined;

function compile(api: WasmApi, shared: boolean): object | string {
  const bytes = checksumModuleBytes(shared);
  if (!api.validate(bytes)) return `WebAssembly without SIMD${shared ? ' or shared memory' : ''}: the checksum module does not validate`;
  try {
    return new api.Module(bytes);
  } catch (e) {
    return `WebAssembly checksum module did not compile: ${(e as Error).message}`;
  }
}

function load(): Compiled | null {
  if (compiled !== undefined) return compiled;
  compiled = null;
  const api = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
  if (api === undefined) {
    (status as { reason: string }).reason = 'no WebAssembly in this runtime';
    return null;
  }
  const m = compile(api, false);
  if (typeof m === 'string') {
    (status as { reason: string }).reason = m;
    return null;
  }
  compiled = { api, unshared: m, shared: null };
  Object.assign(status, { engine: 'wasm-simd', reason: '' });
  return compiled;
}

/** Which checksum engine packet memories get in this thread (asks the runtime the first time). */
export function simdStatus(): Readonly<SimdStatus> {
  load();
  return status;
}

const byBuffer = new WeakMap<ArrayBufferLike, WasmChecksum>();

/**
 * An ArrayBuffer (a SharedArrayBuffer with { shared: true }) of at least
 * `bytes` bytes, whole 64 KiB pages, that is a WebAssembly memory with the
 * checksum module instantiated over it; or null if this runtime cannot (see
 * simdStatus).
 */
export function createPacketMemory(bytes: number): ArrayBuffer | null;
export function createPacketMemory(bytes: number, o: { shared: true }): SharedArrayBuffer | null;
export function createPacketMemory(bytes: number, o: { shared: boolean } = { shared: false }): ArrayBuffer | SharedArrayBuffer | null {
  const c = load();
  if (c === null) return null;
  let module = c.unshared;
  if (o.shared) {
    if (c.shared === null) {
      const m = compile(c.api, true);
      if (typeof m === 'string') return null;
      c.shared = m;
    }
    module = c.shared;
  }
  const pages = Math.max(1, Math.ceil(bytes / PAGE));
  const memory = new c.api.Memory({ initial: pages, maximum: pages, shared: o.shared });
  const instance = new c.api.Instance(module, { [MEMORY_IMPORT.module]: { [MEMORY_IMPORT.field]: memory } });
  const fns: WasmChecksum = {
    sum: instance.exports['sum'] as WasmChecksum['sum'],
    copySum: instance.exports['copySum'] as WasmChecksum['copySum'],
  };
  byBuffer.set(memory.buffer, fns);
  status.memories++;
  return memory.buffer;
}

let lastArray: Uint8Array | null = null;
let lastFns: WasmChecksum | null = null;
let prevArray: Uint8Array | null = null;
let prevFns: WasmChecksum | null = null;

/** The checksum functions of the memory b is a view of, or null if it is no packet memory. */
export function wasmChecksumOf(b: Uint8Array): WasmChecksum | null {
  if (b === lastArray) return lastFns;
  if (b === prevArray) return prevFns;
  const fns = byBuffer.get(b.buffer) ?? null;
  prevArray = lastArray;
  prevFns = lastFns;
  lastArray = b;
  lastFns = fns;
  return fns;
}
