// A tiny WebAssembly binary encoder: just what checksum-module.ts needs, so
// that the module is written here as named opcodes, with no build step, no
// .wasm file and no dependency. Encoding per the WebAssembly Core
// Specification 2.0, §5 (binary format); SIMD instructions are 0xfd followed
// by their opcode as an unsigned LEB128 (§5.4.8), so those above 0x7f take
// two bytes.

export type Code = number[];

/** Unsigned LEB128 of a u32 (counts, indices, memory offsets, SIMD opcodes). */
export function u32(n: number): Code {
  const out: Code = [];
  let v = n >>> 0;
  do {
    const byte = v & 0x7f;
    v >>>= 7;
    out.push(v === 0 ? byte : byte | 0x80);
  } while (v !== 0);
  return out;
}

/** Signed LEB128 of an integer within ±2^52 (i32.const / i64.const immediates). */
export function sleb(n: number): Code {
  const out: Code = [];
  let v = n;
  for (;;) {
    const byte = ((v % 128) + 128) % 128;
    v = Math.floor(v / 128);
    const signBit = (byte & 0x40) !== 0;
    if ((v === 0 && !signBit) || (v === -1 && signBit)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

export const I32 = 0x7f;
export const I64 = 0x7e;
export const V128 = 0x7b;
const VOID = 0x40;

/** Scalar instructions (§5.4.1 - §5.4.7); immediates follow as the argument says. */
export const op = {
  block: (): Code => [0x02, VOID],
  loop: (): Code => [0x03, VOID],
  if: (): Code => [0x04, VOID],
  end: 0x0b,
  br: (depth: number): Code => [0x0c, ...u32(depth)],
  brIf: (depth: number): Code => [0x0d, ...u32(depth)],
  select: 0x1b,
  localGet: (i: number): Code => [0x20, ...u32(i)],
  localSet: (i: number): Code => [0x21, ...u32(i)],
  localTee: (i: number): Code => [0x22, ...u32(i)],
  // Memory accesses: alignment hint 0 (our addresses may be odd), then the offset.
  i32Load8U: (offset = 0): Code => [0x2d, 0, ...u32(offset)],
  i32Load16U: (offset = 0): Code => [0x2f, 0, ...u32(offset)],
  i32Store8: (offset = 0): Code => [0x3a, 0, ...u32(offset)],
  i32Store16: (offset = 0): Code => [0x3b, 0, ...u32(offset)],
  i32Const: (n: number): Code => [0x41, ...sleb(n)],
  i64Const: (n: number): Code => [0x42, ...sleb(n)],
  i32LtU: 0x49,
  i32GtU: 0x4b,
  i32GeU: 0x4f,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32And: 0x71,
  i32Or: 0x72,
  i32Shl: 0x74,
  i32ShrU: 0x76,
  i64Add: 0x7c,
  i64And: 0x83,
  i64ShrU: 0x88,
  i32WrapI64: 0xa7,
  i64ExtendI32U: 0xad,
} as const;

const simd = (opcode: number, ...imm: number[]): Code => [0xfd, ...u32(opcode), ...imm];

/** The SIMD instructions used (§5.4.8), by their text-format names. */
export const v128 = {
  load: (offset = 0): Code => simd(0x00, 0, ...u32(offset)),
  store: (offset = 0): Code => simd(0x0b, 0, ...u32(offset)),
  zero: (): Code => simd(0x0c, ...new Array<number>(16).fill(0)),
  i32x4ExtractLane: (lane: number): Code => simd(0x1b, lane),
  i32x4ExtaddPairwiseI16x8U: (): Code => simd(0x7f),
  i32x4Add: (): Code => simd(0xae),
};

/** A function body (§5.5.13): local declarations as [count, type] runs, then the code, then `end`. */
export function body(locals: Array<[number, number]>, code: Array<number | Code>): Code {
  const inner: Code = [...u32(locals.length)];
  for (const [count, type] of locals) inner.push(...u32(count), type);
  for (const c of code) {
    if (typeof c === 'number') inner.push(c);
    else inner.push(...c);
  }
  inner.push(op.end);
  return [...u32(inner.length), ...inner];
}

function section(id: number, items: Code[]): Code {
  const content: Code = [...u32(items.length)];
  for (const it of items) content.push(...it);
  return [id, ...u32(content.length), ...content];
}

function name(s: string): Code {
  const out: Code = u32(s.length);
  for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i));
  return out;
}

export interface FuncSpec {
  exportName: string;
  params: number[];
  results: number[];
  body: Code;
}

/**
 * A module that imports one memory as `module.field` (shared or not, with
 * the given page limits) and exports the functions, each with its own type.
 */
export function module(
  memory: { module: string; field: string; shared: boolean; minPages: number; maxPages: number },
  funcs: FuncSpec[],
): Uint8Array {
  const types = funcs.map((f) => [0x60, ...u32(f.params.length), ...f.params, ...u32(f.results.length), ...f.results]);
  // Limits: flag 0x01 = has maximum, 0x03 = has maximum and shared (threads proposal, now standard).
  const limits = [memory.shared ? 0x03 : 0x01, ...u32(memory.minPages), ...u32(memory.maxPages)];
  const imports = [[...name(memory.module), ...name(memory.field), 0x02, ...limits]];
  const bytes: Code = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  bytes.push(...section(1, types));
  bytes.push(...section(2, imports));
  bytes.push(...section(3, funcs.map((_, i) => u32(i))));
  bytes.push(...section(7, funcs.map((f, i) => [...name(f.exportName), 0x00, ...u32(i)])));
  bytes.push(...section(10, funcs.map((f) => f.body)));
  return Uint8Array.from(bytes);
}
