/**
 * The parts a thread pool runs: `layerChunks(d, part, parts)` (the name the pool's op table of
 * backends/wasm/threads.ts calls) reads a task described by i32 fields at `d`, its first the task's
 * kind, and runs part `part` of `parts` of it:
 * - a ternary layer's row chunks (./layer.ts, `layerPart`: chunks part, part + parts, …);
 * - quantize-and-pack (./pack.ts, `quantPack`): a run of whole units of rows (a unit packs into
 *   whole 16-byte groups: 64/k rows when k divides 64, else one row), and where the layer reads
 *   bitplanes, those groups' part of them (./im2col.ts, `planesRange`);
 * - the direct float convolution (./float.ts, `convDirectF32`): a run of images, each thread with its
 *   own scratch (the zero-padded image and the tap table; `scratchSlot`);
 * - the float dense layer (`denseF32`): a run of rows;
 * - max pooling (./pool.ts, `maxPoolF32`): a run of images.
 * Every part is a range of outputs computed exactly as the whole call computes them, never a piece
 * of a sum, so the result is the same bit for bit for any number of parts. The quantizer's state
 * is set by each part on its own instance (every thread has one).
 *
 * Law (laws/engine-threads.test.ts, laws/ternary-kernels.test.ts): every kernel on 2 and 3
 * threads, and with 1, 2 or 3 parts run in turn, equals the reference implementation bit for bit.
 */
import { fld, layerPart, ptr } from './layer';
import { quantPack, setQuantizer } from './pack';
import { planesRange } from './im2col';
import { convDirectF32, denseF32 } from './float';
import { maxPoolF32 } from './pool';
import { scratchSlot } from './memory';

const KIND_LAYER = 0;
const KIND_QUANT = 1;
const KIND_CONV = 2;
const KIND_DENSE = 3;
const KIND_POOL = 4;

/** Bytes of a task descriptor with `fields` fields after its kind. */
export function taskDescBytes(fields: i32): i32 {
  return (fields + 1) * 4;
}

/** The first of `n` items that part `part` of `parts` owns (a run of them, in order). */
@inline
function first(n: i32, part: i32, parts: i32): i32 {
  return <i32>((<i64>n * <i64>part) / <i64>parts);
}

/** Runs part `part` of `parts` of the task described at `d`. */
export function layerChunks(d: usize, part: i32, parts: i32): void {
  const kind = load<i32>(d);
  const f = d + 4;
  if (kind == KIND_LAYER) layerPart(f, part, parts);
  else if (kind == KIND_QUANT) quantPart(f, part, parts);
  else if (kind == KIND_CONV) convPart(f, part, parts);
  else if (kind == KIND_DENSE) densePart(f, part, parts);
  else if (kind == KIND_POOL) poolPart(f, part, parts);
  else unreachable();
}

// quantize-and-pack: x, rows, k, dst, stream, ops, nOps, sign, pos (f32), neg (f32), unit rows,
// unit bytes, then the bitplanes to write (0: none) and the stream's groups (a unit is one group)
function quantPart(d: usize, part: i32, parts: i32): void {
  const rows = fld(d, 1);
  const k = fld(d, 2);
  const unitRows = fld(d, 10);
  const units = (rows + unitRows - 1) / unitRows;
  const u0 = first(units, part, parts);
  const u1 = first(units, part + 1, parts);
  if (u1 <= u0) return;
  const r0 = u0 * unitRows;
  const r1 = min(rows, u1 * unitRows);
  setQuantizer(ptr(d, 5), fld(d, 6), fld(d, 7), load<f32>(d + 32), load<f32>(d + 36));
  quantPack(ptr(d, 0) + ((<usize>r0 * <usize>k) << 2), r1 - r0, k, ptr(d, 3) + <usize>u0 * ptr(d, 11), fld(d, 4));
  const pl = ptr(d, 12);
  if (pl != 0) planesRange(ptr(d, 3), fld(d, 13), pl, u0, u1);
}

// the direct convolution: x, n, h, w, cin, kh, kw, sh, sw, ph, pw, oh, ow, wt, o, opad, bias, relu,
// pool, poolRelu, scratch, scratch bytes per thread, y, output bytes per image, the slot counter
function convPart(d: usize, part: i32, parts: i32): void {
  const n = fld(d, 1);
  const b0 = first(n, part, parts);
  const b1 = first(n, part + 1, parts);
  if (b1 <= b0) return;
  const h = fld(d, 2), w = fld(d, 3), cin = fld(d, 4);
  const x = ptr(d, 0) + ((<usize>b0 * <usize>(h * w * cin)) << 2);
  const scratch = ptr(d, 20) + <usize>scratchSlot(ptr(d, 24)) * ptr(d, 21);
  const y = ptr(d, 22) + <usize>b0 * ptr(d, 23);
  convDirectF32(x, b1 - b0, h, w, cin, fld(d, 5), fld(d, 6), fld(d, 7), fld(d, 8), fld(d, 9), fld(d, 10), fld(d, 11), fld(d, 12), ptr(d, 13), fld(d, 14), fld(d, 15), ptr(d, 16), fld(d, 17), fld(d, 18), fld(d, 19), scratch, y);
}

// the dense layer: x, w, bias, m, k, o, relu, y
function densePart(d: usize, part: i32, parts: i32): void {
  const m = fld(d, 3);
  const i0 = first(m, part, parts);
  const i1 = first(m, part + 1, parts);
  if (i1 <= i0) return;
  const k = fld(d, 4), o = fld(d, 5);
  denseF32(ptr(d, 0) + ((<usize>i0 * <usize>k) << 2), ptr(d, 1), ptr(d, 2), i1 - i0, k, o, fld(d, 6), ptr(d, 7) + ((<usize>i0 * <usize>o) << 2));
}

// max pooling: x, n, h, w, c, kh, kw, sh, sw, oh, ow, relu, y
function poolPart(d: usize, part: i32, parts: i32): void {
  const n = fld(d, 1);
  const b0 = first(n, part, parts);
  const b1 = first(n, part + 1, parts);
  if (b1 <= b0) return;
  const h = fld(d, 2), w = fld(d, 3), c = fld(d, 4), oh = fld(d, 9), ow = fld(d, 10);
  const x = ptr(d, 0) + ((<usize>b0 * <usize>(h * w * c)) << 2);
  const y = ptr(d, 12) + ((<usize>b0 * <usize>(oh * ow * c)) << 2);
  maxPoolF32(x, b1 - b0, h, w, c, fld(d, 5), fld(d, 6), fld(d, 7), fld(d, 8), oh, ow, fld(d, 11), y);
}
