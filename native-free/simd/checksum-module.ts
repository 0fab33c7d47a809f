// The Internet checksum (RFC 1071) in WebAssembly with 128-bit SIMD: `sum`
// and `copySum` over the memory the module imports (a packet slab, see
// packet-memory.ts). The bytes are built from named opcodes (wasm-encoding.ts);
// the text format of the same module, for reading:
//
//   (module
//     (import   ;; (names on the next line: the purity test would read `import "` as a JS import)
//       "weft" "memory" (memory 0 65536 shared))   ;; or unshared, as asked
//     (func $sum (export "sum") (param $p i32) (param $n i32) (result i32)
//       ;; local $last = p + n, $stop = p + (n & -16): the end, the end of whole vectors
//       (block $vectors (loop $chunks
//         (br_if $vectors (i32.ge_u (local.get $p) (local.get $stop)))
//         ;; at most CHUNK bytes per accumulator: its u32 lanes cannot overflow
//         (local.set $cend (select (i32.add (local.get $p) (i32.const CHUNK)) (local.get $stop)
//                                  (i32.gt_u (i32.sub (local.get $stop) (local.get $p)) (i32.const CHUNK))))
//         (local.set $acc (v128.const i32x4 0 0 0 0))
//         (block $b4 (loop $l4   ;; 64 bytes a turn, added as a tree
//           (br_if $b4 (i32.lt_u (i32.sub (local.get $cend) (local.get $p)) (i32.const 64)))
//           (local.set $acc (i32x4.add (local.get $acc) (i32x4.add
//             (i32x4.add (i32x4.extadd_pairwise_i16x8_u (v128.load offset=0 (local.get $p)))
//                        (i32x4.extadd_pairwise_i16x8_u (v128.load offset=16 (local.get $p))))
//             (i32x4.add (i32x4.extadd_pairwise_i16x8_u (v128.load offset=32 (local.get $p)))
//                        (i32x4.extadd_pairwise_i16x8_u (v128.load offset=48 (local.get $p)))))))
//           (local.set $p (i32.add (local.get $p) (i32.const 64))) (br $l4)))
//         (block $b1 (loop $l1   ;; then 16 at a time
//           (br_if $b1 (i32.ge_u (local.get $p) (local.get $cend)))
//           (local.set $acc (i32x4.add (local.get $acc) (i32x4.extadd_pairwise_i16x8_u (v128.load (local.get $p)))))
//           (local.set $p (i32.add (local.get $p) (i32.const 16))) (br $l1)))
//         (local.set $total (i64.add (local.get $total) (i64.add ... (i64.extend_i32_u (i32x4.extract_lane k (local.get $acc))) ...)))
//         (br $chunks)))
//       (block $bw (loop $lw   ;; whole 16-bit words left
//         (br_if $bw (i32.lt_u (i32.sub (local.get $last) (local.get $p)) (i32.const 2)))
//         (local.set $w (i32.load16_u (local.get $p)))
//         (local.set $total (i64.add (local.get $total) (i64.extend_i32_u (local.get $w))))
//         (local.set $p (i32.add (local.get $p) (i32.const 2))) (br $lw)))
//       (if (i32.lt_u (local.get $p) (local.get $last))   ;; an odd last byte
//         (then (local.set $w (i32.load8_u (local.get $p)))
//               (local.set $total (i64.add (local.get $total) (i64.extend_i32_u (local.get $w))))))
//       ;; 4 times: $total = ($total & 0xffff) + ($total >> 16); then swap the two bytes
//       ...)
//     (func $copySum (export "copySum") (param $d i32) (param $p i32) (param $n i32) (result i32)
//       ;; the same, with every load of the source also stored at $d (which
//       ;; advances with $p): v128.store / i32.store16 / i32.store8
//       ...))
//
// Byte order: loads are little-endian, so each lane holds a 16-bit word with
// its bytes swapped, and the trailing odd byte (the high byte of a padded
// word in network order) lands as a low byte. The ones'-complement sum
// commutes with that swap (RFC 1071 §2(B)): summing swapped words and
// swapping the folded result gives the network-order sum, 0 only for all-zero
// input, as the JS loop's. Pairs start at $p whatever its alignment: no
// parity fix-up as in the JS word loop.
//
// Overflow: a pairwise-widened vector adds at most 2 × 0xffff to each u32
// lane, so CHUNK = 256 KiB (16384 vectors) keeps a lane below 2^31; each chunk
// is then added into an i64, which holds any memory's sum.
//
// Overlap (copySum): each 16-byte block is loaded before it is stored and
// the pointers advance upwards, so a destination below the source may
// overlap it (the JS copySum16 contract); a destination above may not.

import { I32, I64, V128, body, module, op, v128, type Code } from './wasm-encoding.js';

/** Bytes one u32x4 accumulator sums before it is emptied into the i64 total. */
export const CHUNK = 256 * 1024;

function checksumBody(copy: boolean): Code {
  const base = copy ? 3 : 2; // params: (d, p, n) or (p, n)
  const D = 0;
  const P = copy ? 1 : 0;
  const N = copy ? 2 : 1;
  const LAST = base;
  const STOP = base + 1;
  const CEND = base + 2;
  const W = base + 3;
  const ACC = base + 4;
  const V = base + 5;
  const TOTAL = base + 6;

  // One 16-byte vector at $p + k, widened to u32x4 pairs (and, for copySum, stored at $d + k).
  const vec = (k: number): Code =>
    copy
      ? [...op.localGet(D), ...op.localGet(P), ...v128.load(k), ...op.localTee(V), ...v128.store(k), ...op.localGet(V), ...v128.i32x4ExtaddPairwiseI16x8U()]
      : [...op.localGet(P), ...v128.load(k), ...v128.i32x4ExtaddPairwiseI16x8U()];
  const advance = (k: number): Code => [
    ...op.localGet(P),
    ...op.i32Const(k),
    op.i32Add,
    ...op.localSet(P),
    ...(copy ? [...op.localGet(D), ...op.i32Const(k), op.i32Add, ...op.localSet(D)] : []),
  ];
  const add = v128.i32x4Add();
  // $total += $w, after a scalar load into $w (and its store at $d).
  const addW = (store: Code): Code => [
    ...(copy ? [...op.localGet(D), ...op.localGet(W), ...store] : []),
    ...op.localGet(TOTAL),
    ...op.localGet(W),
    op.i64ExtendI32U,
    op.i64Add,
    ...op.localSet(TOTAL),
  ];
  const lanes: Code = [];
  for (let k = 0; k < 4; k++) lanes.push(...op.localGet(ACC), ...v128.i32x4ExtractLane(k), op.i64ExtendI32U, op.i64Add);
  const foldOnce: Code = [
    ...op.localGet(TOTAL),
    ...op.i64Const(0xffff),
    op.i64And,
    ...op.localGet(TOTAL),
    ...op.i64Const(16),
    op.i64ShrU,
    op.i64Add,
    ...op.localSet(TOTAL),
  ];

  return body(
    [
      [4, I32],
      [2, V128],
      [1, I64],
    ],
    [
      // $last = p + n; $stop = p + (n & -16)
      ...op.localGet(P), ...op.localGet(N), op.i32Add, ...op.localSet(LAST),
      ...op.localGet(P), ...op.localGet(N), ...op.i32Const(-16), op.i32And, op.i32Add, ...op.localSet(STOP),
      op.block(), op.loop(),
      ...op.localGet(P), ...op.localGet(STOP), op.i32GeU, ...op.brIf(1),
      ...op.localGet(P), ...op.i32Const(CHUNK), op.i32Add,
      ...op.localGet(STOP),
      ...op.localGet(STOP), ...op.localGet(P), op.i32Sub, ...op.i32Const(CHUNK), op.i32GtU,
      op.select, ...op.localSet(CEND),
      ...v128.zero(), ...op.localSet(ACC),
      // 64 bytes a turn
      op.block(), op.loop(),
      ...op.localGet(CEND), ...op.localGet(P), op.i32Sub, ...op.i32Const(64), op.i32LtU, ...op.brIf(1),
      ...op.localGet(ACC), ...vec(0), ...vec(16), ...add, ...vec(32), ...vec(48), ...add, ...add, ...add, ...op.localSet(ACC),
      ...advance(64), ...op.br(0),
      op.end, op.end,
      // 16 bytes a turn
      op.block(), op.loop(),
      ...op.localGet(P), ...op.localGet(CEND), op.i32GeU, ...op.brIf(1),
      ...op.localGet(ACC), ...vec(0), ...add, ...op.localSet(ACC),
      ...advance(16), ...op.br(0),
      op.end, op.end,
      ...op.localGet(TOTAL), ...lanes, ...op.localSet(TOTAL),
      ...op.br(0),
      op.end, op.end,
      // whole 16-bit words left
      op.block(), op.loop(),
      ...op.localGet(LAST), ...op.localGet(P), op.i32Sub, ...op.i32Const(2), op.i32LtU, ...op.brIf(1),
      ...op.localGet(P), ...op.i32Load16U(), ...op.localSet(W),
      ...addW(op.i32Store16()),
      ...advance(2), ...op.br(0),
      op.end, op.end,
      // an odd last byte
      ...op.localGet(P), ...op.localGet(LAST), op.i32LtU, ...op.if(),
      ...op.localGet(P), ...op.i32Load8U(), ...op.localSet(W),
      ...addW(op.i32Store8()),
      op.end,
      ...foldOnce, ...foldOnce, ...foldOnce, ...foldOnce,
      // swap the bytes back to network order
      ...op.localGet(TOTAL), op.i32WrapI64, ...op.localTee(W), ...op.i32Const(8), op.i32Shl, ...op.i32Const(0xff00), op.i32And,
      ...op.localGet(W), ...op.i32Const(8), op.i32ShrU, op.i32Or,
    ],
  );
}

/** The import the module expects: `weft.memory`. */
export const MEMORY_IMPORT = { module: 'weft', field: 'memory' } as const;
/** The largest memory it accepts, in 64 KiB pages (4 GiB, all a 32-bit memory can be). */
export const MAX_PAGES = 65536;

/** The module's bytes, for a shared or an unshared memory (the import must say which). */
export function checksumModuleBytes(shared: boolean): Uint8Array {
  return module({ ...MEMORY_IMPORT, shared, minPages: 0, maxPages: MAX_PAGES }, [
    { exportName: 'sum', params: [I32, I32], results: [I32], body: checksumBody(false) },
    { exportName: 'copySum', params: [I32, I32, I32], results: [I32], body: checksumBody(true) },
  ]);
}
