/**
 * The wasm backend's kernels: a float32 GEMM over WebAssembly SIMD (f32x4) and the convolutions
 * built on it (im2col / col2im + GEMM), compiled by AssemblyScript. The module's entry: it also
 * re-exports the element-wise kernels (./elementwise.ts), max pooling (./pool.ts) and the fused
 * quantizer kernels (./quantize.ts).
 *
 * The GEMM follows the Goto/BLIS blocking: B is packed per KC×NC block into 8-column panels, A per
 * MC×KC block into 4-row panels, and a 4×8 micro-kernel keeps its C tile in 8 f32x4 accumulators.
 * Transposes happen only inside packing. A is packed even when not transposed: the micro-kernel
 * then walks two pointers instead of five, which V8's codegen turns into ~5% (plain) and ~25%
 * (relaxed) more GFLOP/s than reading four rows of A in place (bench/RESULTS.md). The same source
 * builds twice: with plain SIMD (`mul` then `add`) and with relaxed SIMD (`f32x4.relaxed_madd`,
 * fused on hardware with FMA); `ASC_FEATURE_RELAXED_SIMD` picks the branch at compile time.
 *
 * Memory is owned by the caller (backends/wasm.ts): every function takes byte pointers into linear
 * memory and a `work` area of `gemmWorkBytes()` / `convWorkBytes()` bytes. Nothing here allocates.
 *
 * Law (laws/backend-agreement.test.ts): matmul and the three convolutions agree with the cpu
 * float64 reference within a tolerance derived from float32's unit roundoff and the sum length.
 * Law (laws/wasm-gemm-order.test.ts): the plain build's GEMM sums each element in KC blocks in
 * k order, bit for bit, whichever micro-kernel (4×8, 4×4, the 1–3-column or 1–3-row edge
 * kernels) computes it.
 */

import { Geom } from './geom';
import { partStart } from './elementwise';
import { maxPoolArgImages } from './pool-argmax';

export { binary, unary, scalar, axpy, select, reduce, mapPart } from './elementwise';
export { maxPool, maxPoolGrad, maxPoolPart, maxPoolGradPart, maxPoolRelu, maxPoolReluPart, maxPoolReluGrad, maxPoolReluGradPart } from './pool';
export { maxPoolArg, maxPoolArgPart, maxPoolGradArg, maxPoolGradArgPart } from './pool-argmax';
export * from './quantize';
export { bnMoments, bnAffine, bnGradMoments, bnGradAffine, bnAffineRelu, bnGradMomentsRelu, bnGradAffineRelu, bnMomentsOfRelu, bnAffineOfRelu, bnGradMomentsOfRelu, bnGradAffineOfRelu, bnPart } from './batchnorm';

// Blocking (measured plateau on a 2-core EPYC: MC=128, KC=384, NC=1024).
const MR: i32 = 4;
const NR: i32 = 8;
const MC: i32 = 128;
const KC: i32 = 384;
const NC: i32 = 1024;
/** MC for k blocks shorter than 64 (see `gemm`). */
const MC_SHORT_K: i32 = 32;

const PACK_B_BYTES: usize = <usize>(KC * NC * 4);
const PACK_A_BYTES: usize = <usize>(MC * KC * 4);
const TILE_BYTES: usize = <usize>(MR * NR * 4);

/** Target size of one im2col chunk (rows × kh·kw·cin floats). */
const CHUNK_BYTES: i32 = 512 * 1024;

/** The first free byte after the module's static data: the caller's arena starts here. */
export function heapBase(): usize {
  return __heap_base;
}

/** 1 when this build uses relaxed-SIMD FMA, 0 for plain SIMD. */
export function relaxed(): i32 {
  return ASC_FEATURE_RELAXED_SIMD ? 1 : 0;
}

export function gemmWorkBytes(): usize {
  return PACK_B_BYTES + PACK_A_BYTES + TILE_BYTES;
}

/**
 * Writes the first `mr` rows and `nr` columns of a spilled micro-tile into C (row stride `ldc`
 * bytes), element (i, j) read at tile + i·rowBytes + j·colBytes (a row-major tile, or a transposed
 * one), added to C's value when `acc`.
 */
@inline
function storeTile(tile: usize, rowBytes: i32, colBytes: i32, c: usize, ldc: usize, mr: i32, nr: i32, acc: bool): void {
  for (let i = 0; i < mr; i++) {
    const row = c + <usize>i * ldc;
    const t = tile + <usize>(i * rowBytes);
    for (let j = 0; j < nr; j++) {
      const o = <usize>(j * 4);
      const v = load<f32>(t + <usize>(j * colBytes));
      store<f32>(row + o, acc ? load<f32>(row + o) + v : v);
    }
  }
}

@inline
function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f32x4.relaxed_madd(a, b, c);
  } else {
    return f32x4.add(f32x4.mul(a, b), c);
  }
}

@inline
function imin(a: i32, b: i32): i32 {
  return a < b ? a : b;
}

@inline
function imax(a: i32, b: i32): i32 {
  return a > b ? a : b;
}

/**
 * C[4·panels × nr] (+)= Ap·Bp[k×8] for `panels` 4-row panels of A lying end to end from `ap`
 * (4 floats per k each: rows of op(A)) against one panel of B at `bp` (8 floats per k: columns of
 * op(B), zero beyond the nr valid ones, 5 ≤ nr ≤ 8). One call per column panel and MC block
 * rather than per 4×8 tile: with K = 9 (a first convolution) the per-call cost was ~20% of the
 * product.
 */
function kernel(k: i32, ap: usize, bp: usize, c: usize, ldc: usize, panels: i32, nr: i32, acc: bool, tile: usize): void {
  const bp0 = bp;
  for (let q = 0; q < panels; q++) {
    bp = bp0;
    let c00 = f32x4.splat(0);
    let c01 = f32x4.splat(0);
    let c10 = f32x4.splat(0);
    let c11 = f32x4.splat(0);
    let c20 = f32x4.splat(0);
    let c21 = f32x4.splat(0);
    let c30 = f32x4.splat(0);
    let c31 = f32x4.splat(0);
    let b0: v128, b1: v128, a: v128;
    // Eight k steps per trip, with an exit after each. The trip's bookkeeping (V8's loop stack
    // check, index zero-extensions, the back branch) is then paid once per eight steps, which the
    // plain build (mul + add: 16 arithmetic ops per step, front-end bound) turns into ~15% more
    // GFLOP/s (4 steps per trip gave ~10%). A plain 4× unroll is slower: V8 hoists all 24 loads
    // ahead of the arithmetic and spills; the exits keep each step's loads in their own block.
    // `ap` advances per step because a splat load at an offset past 12 costs V8 an extra address
    // computation. Each accumulator still sums k in order, so the bits are unchanged.
    const end = ap + (<usize>k << 4);
    do {
      b0 = v128.load(bp, 0);
      b1 = v128.load(bp, 16);
      a = v128.load32_splat(ap);
      c00 = madd(a, b0, c00);
      c01 = madd(a, b1, c01);
      a = v128.load32_splat(ap, 4);
      c10 = madd(a, b0, c10);
      c11 = madd(a, b1, c11);
      a = v128.load32_splat(ap, 8);
      c20 = madd(a, b0, c20);
      c21 = madd(a, b1, c21);
      a = v128.load32_splat(ap, 12);
      c30 = madd(a, b0, c30);
      c31 = madd(a, b1, c31);
      ap += 16;
      if (ap >= end) break;
      b0 = v128.load(bp, 32);
      b1 = v128.load(bp, 48);
      a = v128.load32_splat(ap);
      c00 = madd(a, b0, c00);
      c01 = madd(a, b1, c01);
      a = v128.load32_splat(ap, 4);
      c10 = madd(a, b0, c10);
      c11 = madd(a, b1, c11);
      a = v128.load32_splat(ap, 8);
      c20 = madd(a, b0, c20);
      c21 = madd(a, b1, c21);
      a = v128.load32_splat(ap, 12);
      c30 = madd(a, b0, c30);
      c31 = madd(a, b1, c31);
      ap += 16;
      if (ap >= end) break;
      b0 = v128.load(bp, 64);
      b1 = v128.load(bp, 80);
      a = v128.load32_splat(ap);
      c00 = madd(a, b0, c00);
      c01 = madd(a, b1, c01);
      a = v128.load32_splat(ap, 4);
      c10 = madd(a, b0, c10);
      c11 = madd(a, b1, c11);
      a = v128.load32_splat(ap, 8);
      c20 = madd(a, b0, c20);
      c21 = madd(a, b1, c21);
      a = v128.load32_splat(ap, 12);
      c30 = madd(a, b0, c30);
      c31 = madd(a, b1, c31);
      ap += 16;
      if (ap >= end) break;
      b0 = v128.load(bp, 96);
      b1 = v128.load(bp, 112);
      a = v128.load32_splat(ap);
      c00 = madd(a, b0, c00);
      c01 = madd(a, b1, c01);
      a = v128.load32_splat(ap, 4);
      c10 = madd(a, b0, c10);
      c11 = madd(a, b1, c11);
      a = v128.load32_splat(ap, 8);
      c20 = madd(a, b0, c20);
      c21 = madd(a, b1, c21);
      a = v128.load32_splat(ap, 12);
      c30 = madd(a, b0, c30);
      c31 = madd(a, b1, c31);
      ap += 16;
      if (ap >= end) break;
      b0 = v128.load(bp, 128);
      b1 = v128.load(bp, 144);
      a = v128.load32_splat(ap);
      c00 = madd(a, b0, c00);
      c01 = madd(a, b1, c01);
      a = v128.load32_splat(ap, 4);
      c10 = madd(a, b0, c10);
      c11 = madd(a, b1, c11);
      a = v128.load32_splat(ap, 8);
      c20 = madd(a, b0, c20);
      c21 = madd(a, b1, c21);
      a = v128.load32_splat(ap, 12);
      c30 = madd(a, b0, c30);
      c31 = madd(a, b1, c31);
      ap += 16;
      if (ap >= end) break;
      b0 = v128.load(bp, 160);
      b1 = v128.load(bp, 176);
      a = v128.load32_splat(ap);
      c00 = madd(a, b0, c00);
      c01 = madd(a, b1, c01);
      a = v128.load32_splat(ap, 4);
      c10 = madd(a, b0, c10);
      c11 = madd(a, b1, c11);
      a = v128.load32_splat(ap, 8);
      c20 = madd(a, b0, c20);
      c21 = madd(a, b1, c21);
      a = v128.load32_splat(ap, 12);
      c30 = madd(a, b0, c30);
      c31 = madd(a, b1, c31);
      ap += 16;
      if (ap >= end) break;
      b0 = v128.load(bp, 192);
      b1 = v128.load(bp, 208);
      a = v128.load32_splat(ap);
      c00 = madd(a, b0, c00);
      c01 = madd(a, b1, c01);
      a = v128.load32_splat(ap, 4);
      c10 = madd(a, b0, c10);
      c11 = madd(a, b1, c11);
      a = v128.load32_splat(ap, 8);
      c20 = madd(a, b0, c20);
      c21 = madd(a, b1, c21);
      a = v128.load32_splat(ap, 12);
      c30 = madd(a, b0, c30);
      c31 = madd(a, b1, c31);
      ap += 16;
      if (ap >= end) break;
      b0 = v128.load(bp, 224);
      b1 = v128.load(bp, 240);
      a = v128.load32_splat(ap);
      c00 = madd(a, b0, c00);
      c01 = madd(a, b1, c01);
      a = v128.load32_splat(ap, 4);
      c10 = madd(a, b0, c10);
      c11 = madd(a, b1, c11);
      a = v128.load32_splat(ap, 8);
      c20 = madd(a, b0, c20);
      c21 = madd(a, b1, c21);
      a = v128.load32_splat(ap, 12);
      c30 = madd(a, b0, c30);
      c31 = madd(a, b1, c31);
      ap += 16;
      bp += 256;
    } while (ap < end);
    if (nr == NR) {
      let r = c;
      if (acc) {
        v128.store(r, f32x4.add(v128.load(r), c00));
        v128.store(r, f32x4.add(v128.load(r, 16), c01), 16);
        r += ldc;
        v128.store(r, f32x4.add(v128.load(r), c10));
        v128.store(r, f32x4.add(v128.load(r, 16), c11), 16);
        r += ldc;
        v128.store(r, f32x4.add(v128.load(r), c20));
        v128.store(r, f32x4.add(v128.load(r, 16), c21), 16);
        r += ldc;
        v128.store(r, f32x4.add(v128.load(r), c30));
        v128.store(r, f32x4.add(v128.load(r, 16), c31), 16);
      } else {
        v128.store(r, c00);
        v128.store(r, c01, 16);
        r += ldc;
        v128.store(r, c10);
        v128.store(r, c11, 16);
        r += ldc;
        v128.store(r, c20);
        v128.store(r, c21, 16);
        r += ldc;
        v128.store(r, c30);
        v128.store(r, c31, 16);
      }
      c += ldc << 2;
      continue;
    }
    // Edge tile (5–7 columns): spill to the scratch tile, then copy the valid 4×nr corner.
    v128.store(tile, c00);
    v128.store(tile, c01, 16);
    v128.store(tile, c10, 32);
    v128.store(tile, c11, 48);
    v128.store(tile, c20, 64);
    v128.store(tile, c21, 80);
    v128.store(tile, c30, 96);
    v128.store(tile, c31, 112);
    storeTile(tile, NR * 4, 4, c, ldc, MR, nr, acc);
    c += ldc << 2;
  }
}

/**
 * The 4×4 variant of `kernel` for a last panel of 4 valid columns: it reads only the first half of
 * each 8-float row of the panel and does half the multiply-adds. Like `kernel`, one call walks
 * every row panel of the block (`rows` rows, the last panel possibly partial).
 */
function kernel4(k: i32, ap: usize, bp: usize, c: usize, ldc: usize, rows: i32, nr: i32, acc: bool, tile: usize): void {
  const bp0 = bp;
  for (let r0 = 0; r0 < rows; r0 += MR) {
    const mr = imin(MR, rows - r0);
    bp = bp0;
    let c0 = f32x4.splat(0);
    let c1 = f32x4.splat(0);
    let c2 = f32x4.splat(0);
    let c3 = f32x4.splat(0);
    let b: v128;
    const end = ap + (<usize>k << 4);
    do {
      b = v128.load(bp);
      c0 = madd(v128.load32_splat(ap), b, c0);
      c1 = madd(v128.load32_splat(ap, 4), b, c1);
      c2 = madd(v128.load32_splat(ap, 8), b, c2);
      c3 = madd(v128.load32_splat(ap, 12), b, c3);
      ap += 16;
      if (ap >= end) break;
      b = v128.load(bp, 32);
      c0 = madd(v128.load32_splat(ap), b, c0);
      c1 = madd(v128.load32_splat(ap, 4), b, c1);
      c2 = madd(v128.load32_splat(ap, 8), b, c2);
      c3 = madd(v128.load32_splat(ap, 12), b, c3);
      ap += 16;
      bp += 64;
    } while (ap < end);
    v128.store(tile, c0);
    v128.store(tile, c1, 16);
    v128.store(tile, c2, 32);
    v128.store(tile, c3, 48);
    storeTile(tile, 16, 4, c, ldc, mr, nr, acc);
    c += ldc << 2;
  }
}

/**
 * A last panel of 1–3 valid columns (N = 9, 17, …): one accumulator per column, holding the 4 rows
 * of the A panel (loaded, not splatted) times that column's B value (splatted). Each element is
 * still the same chain of multiply-adds in k order, so the bits are those of `kernel`. One call
 * walks every row panel of the block (`rows` rows).
 */
function kernelCols(k: i32, ap: usize, bp: usize, c: usize, ldc: usize, rows: i32, nr: i32, acc: bool, tile: usize): void {
  if (nr == 1 && rows >= 16) {
    const done = (rows >> 4) << 4;
    kernelCol1x4(k, ap, bp, c, ldc, rows >> 4, acc, tile);
    ap += <usize>done * (<usize>k << 2);
    c += <usize>done * ldc;
    rows -= done;
  }
  const bp0 = bp;
  for (let r0 = 0; r0 < rows; r0 += MR) {
    const mr = imin(MR, rows - r0);
    bp = bp0;
    let x0 = f32x4.splat(0);
    let x1 = f32x4.splat(0);
    let x2 = f32x4.splat(0);
    let a: v128;
    const end = ap + (<usize>k << 4);
    if (nr == 1) {
      do {
        x0 = madd(v128.load(ap), v128.load32_splat(bp), x0);
        ap += 16;
        if (ap >= end) break;
        x0 = madd(v128.load(ap), v128.load32_splat(bp, 32), x0);
        ap += 16;
        if (ap >= end) break;
        x0 = madd(v128.load(ap), v128.load32_splat(bp, 64), x0);
        ap += 16;
        if (ap >= end) break;
        x0 = madd(v128.load(ap), v128.load32_splat(bp, 96), x0);
        ap += 16;
        bp += 128;
      } while (ap < end);
    } else if (nr == 2) {
      do {
        a = v128.load(ap);
        x0 = madd(a, v128.load32_splat(bp), x0);
        x1 = madd(a, v128.load32_splat(bp, 4), x1);
        ap += 16;
        if (ap >= end) break;
        a = v128.load(ap);
        x0 = madd(a, v128.load32_splat(bp, 32), x0);
        x1 = madd(a, v128.load32_splat(bp, 36), x1);
        ap += 16;
        bp += 64;
      } while (ap < end);
    } else {
      do {
        a = v128.load(ap);
        x0 = madd(a, v128.load32_splat(bp), x0);
        x1 = madd(a, v128.load32_splat(bp, 4), x1);
        x2 = madd(a, v128.load32_splat(bp, 8), x2);
        ap += 16;
        if (ap >= end) break;
        a = v128.load(ap);
        x0 = madd(a, v128.load32_splat(bp, 32), x0);
        x1 = madd(a, v128.load32_splat(bp, 36), x1);
        x2 = madd(a, v128.load32_splat(bp, 40), x2);
        ap += 16;
        bp += 64;
      } while (ap < end);
    }
    // column j's rows are lanes of x_j: spill, then write C transposed
    v128.store(tile, x0);
    v128.store(tile, x1, 16);
    v128.store(tile, x2, 32);
    storeTile(tile, 4, 16, c, ldc, mr, nr, acc);
    c += ldc << 2;
  }
}

/**
 * One valid column, four row panels (16 rows) at a time: `kernelCols` with one column keeps a
 * single accumulator, whose add chain (~3 cycles per k) bounds it; four panels give four chains
 * sharing each splatted B value. Per element the same multiply-adds in k order.
 */
function kernelCol1x4(k: i32, ap: usize, bp: usize, c: usize, ldc: usize, quads: i32, acc: bool, tile: usize): void {
  const ps = <usize>k << 4;
  for (let q = 0; q < quads; q++) {
    let x0 = f32x4.splat(0);
    let x1 = f32x4.splat(0);
    let x2 = f32x4.splat(0);
    let x3 = f32x4.splat(0);
    let p0 = ap;
    let b = bp;
    let s: v128;
    const end = ap + ps;
    do {
      s = v128.load32_splat(b);
      x0 = madd(v128.load(p0), s, x0);
      x1 = madd(v128.load(p0 + ps), s, x1);
      x2 = madd(v128.load(p0 + 2 * ps), s, x2);
      x3 = madd(v128.load(p0 + 3 * ps), s, x3);
      p0 += 16;
      if (p0 >= end) break;
      s = v128.load32_splat(b, 32);
      x0 = madd(v128.load(p0), s, x0);
      x1 = madd(v128.load(p0 + ps), s, x1);
      x2 = madd(v128.load(p0 + 2 * ps), s, x2);
      x3 = madd(v128.load(p0 + 3 * ps), s, x3);
      p0 += 16;
      b += 64;
    } while (p0 < end);
    v128.store(tile, x0);
    v128.store(tile, x1, 16);
    v128.store(tile, x2, 32);
    v128.store(tile, x3, 48);
    for (let i = 0; i < 16; i++) {
      const row = c + <usize>i * ldc;
      const v = load<f32>(tile + <usize>(i << 2));
      store<f32>(row, acc ? load<f32>(row) + v : v);
    }
    ap += ps << 2;
    c += ldc << 4;
  }
}

/**
 * A last panel of 1–3 valid rows (M = 9, 10, …) against a panel of 5–8 columns: two accumulators
 * per row instead of the 4-row kernel's eight, the same chain of multiply-adds per element.
 */
function kernelRows(k: i32, ap: usize, bp: usize, c: usize, ldc: usize, mr: i32, nr: i32, acc: bool, tile: usize): void {
  let c00 = f32x4.splat(0);
  let c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0);
  let c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0);
  let c21 = f32x4.splat(0);
  let a: v128, b0: v128, b1: v128;
  const end = ap + (<usize>k << 4);
  if (mr == 1) {
    do {
      a = v128.load32_splat(ap);
      c00 = madd(a, v128.load(bp), c00);
      c01 = madd(a, v128.load(bp, 16), c01);
      ap += 16;
      if (ap >= end) break;
      a = v128.load32_splat(ap);
      c00 = madd(a, v128.load(bp, 32), c00);
      c01 = madd(a, v128.load(bp, 48), c01);
      ap += 16;
      if (ap >= end) break;
      a = v128.load32_splat(ap);
      c00 = madd(a, v128.load(bp, 64), c00);
      c01 = madd(a, v128.load(bp, 80), c01);
      ap += 16;
      if (ap >= end) break;
      a = v128.load32_splat(ap);
      c00 = madd(a, v128.load(bp, 96), c00);
      c01 = madd(a, v128.load(bp, 112), c01);
      ap += 16;
      bp += 128;
    } while (ap < end);
  } else if (mr == 2) {
    do {
      b0 = v128.load(bp);
      b1 = v128.load(bp, 16);
      a = v128.load32_splat(ap);
      c00 = madd(a, b0, c00);
      c01 = madd(a, b1, c01);
      a = v128.load32_splat(ap, 4);
      c10 = madd(a, b0, c10);
      c11 = madd(a, b1, c11);
      ap += 16;
      if (ap >= end) break;
      b0 = v128.load(bp, 32);
      b1 = v128.load(bp, 48);
      a = v128.load32_splat(ap);
      c00 = madd(a, b0, c00);
      c01 = madd(a, b1, c01);
      a = v128.load32_splat(ap, 4);
      c10 = madd(a, b0, c10);
      c11 = madd(a, b1, c11);
      ap += 16;
      bp += 64;
    } while (ap < end);
  } else {
    do {
      b0 = v128.load(bp);
      b1 = v128.load(bp, 16);
      a = v128.load32_splat(ap);
      c00 = madd(a, b0, c00);
      c01 = madd(a, b1, c01);
      a = v128.load32_splat(ap, 4);
      c10 = madd(a, b0, c10);
      c11 = madd(a, b1, c11);
      a = v128.load32_splat(ap, 8);
      c20 = madd(a, b0, c20);
      c21 = madd(a, b1, c21);
      ap += 16;
      if (ap >= end) break;
      b0 = v128.load(bp, 32);
      b1 = v128.load(bp, 48);
      a = v128.load32_splat(ap);
      c00 = madd(a, b0, c00);
      c01 = madd(a, b1, c01);
      a = v128.load32_splat(ap, 4);
      c10 = madd(a, b0, c10);
      c11 = madd(a, b1, c11);
      a = v128.load32_splat(ap, 8);
      c20 = madd(a, b0, c20);
      c21 = madd(a, b1, c21);
      ap += 16;
      bp += 64;
    } while (ap < end);
  }
  v128.store(tile, c00);
  v128.store(tile, c01, 16);
  v128.store(tile, c10, 32);
  v128.store(tile, c11, 48);
  v128.store(tile, c20, 64);
  v128.store(tile, c21, 80);
  storeTile(tile, NR * 4, 4, c, ldc, mr, nr, acc);
}

/** Packs op(B)[pc:pc+kc, jc:jc+nc] into 8-column panels (kc×8 floats each, zero padded). */
function packB(transB: bool, b: usize, ldb: i32, pc: i32, jc: i32, kc: i32, nc: i32, dst: usize): void {
  const ldbB = <usize>ldb << 2;
  for (let jr = 0; jr < nc; jr += NR) {
    const nr = imin(NR, nc - jr);
    let d = dst + <usize>(jr * kc) * 4;
    if (!transB) {
      // op(B)(p, j) = b[p·ldb + j]: each k is a contiguous run of nr floats.
      let s = b + (<usize>pc * ldbB) + (<usize>(jc + jr) << 2);
      if (nr == NR) {
        for (let p = 0; p < kc; p++) {
          v128.store(d, v128.load(s));
          v128.store(d, v128.load(s, 16), 16);
          s += ldbB;
          d += 32;
        }
      } else {
        for (let p = 0; p < kc; p++) {
          for (let j = 0; j < NR; j++) {
            store<f32>(d + (<usize>j << 2), j < nr ? load<f32>(s + (<usize>j << 2)) : 0);
          }
          s += ldbB;
          d += 32;
        }
      }
    } else {
      // op(B)(p, j) = b[j·ldb + p]: gather one float from each of nr rows per k.
      const s = b + <usize>(jc + jr) * ldbB + (<usize>pc << 2);
      if (nr == NR) {
        const s0 = s;
        const s1 = s0 + ldbB;
        const s2 = s1 + ldbB;
        const s3 = s2 + ldbB;
        const s4 = s3 + ldbB;
        const s5 = s4 + ldbB;
        const s6 = s5 + ldbB;
        const s7 = s6 + ldbB;
        let p = 0;
        // 4×4 transposes: four k at a time from four rows, twice.
        for (; p + 4 <= kc; p += 4) {
          const o = <usize>p << 2;
          transpose4(s0 + o, s1 + o, s2 + o, s3 + o, d, 32);
          transpose4(s4 + o, s5 + o, s6 + o, s7 + o, d + 16, 32);
          d += 128;
        }
        for (; p < kc; p++) {
          const o = <usize>p << 2;
          store<f32>(d, load<f32>(s0 + o));
          store<f32>(d, load<f32>(s1 + o), 4);
          store<f32>(d, load<f32>(s2 + o), 8);
          store<f32>(d, load<f32>(s3 + o), 12);
          store<f32>(d, load<f32>(s4 + o), 16);
          store<f32>(d, load<f32>(s5 + o), 20);
          store<f32>(d, load<f32>(s6 + o), 24);
          store<f32>(d, load<f32>(s7 + o), 28);
          d += 32;
        }
      } else {
        for (let p = 0; p < kc; p++) {
          const o = <usize>p << 2;
          for (let j = 0; j < NR; j++) {
            store<f32>(d + (<usize>j << 2), j < nr ? load<f32>(s + <usize>j * ldbB + o) : 0);
          }
          d += 32;
        }
      }
    }
  }
}

/** Reads 4 floats from each of rows r0..r3 and writes them transposed: 4 vectors `stride` bytes apart. */
@inline
function transpose4(r0: usize, r1: usize, r2: usize, r3: usize, d: usize, stride: usize): void {
  const x0 = v128.load(r0);
  const x1 = v128.load(r1);
  const x2 = v128.load(r2);
  const x3 = v128.load(r3);
  const t0 = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5); // a0 b0 a1 b1
  const t1 = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5); // c0 d0 c1 d1
  const t2 = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7); // a2 b2 a3 b3
  const t3 = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7); // c2 d2 c3 d3
  v128.store(d, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
  v128.store(d + stride, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
  v128.store(d + 2 * stride, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5));
  v128.store(d + 3 * stride, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7));
}

/**
 * Packs op(A)[ic:ic+mc, pc:pc+kc] with A stored transposed (`a[p·lda + i]`) into 4-row panels:
 * panel q holds, for each k, the 4 floats of rows 4q..4q+3 (zero past mc).
 */
function packAT(a: usize, lda: i32, ic: i32, pc: i32, mc: i32, kc: i32, dst: usize): void {
  const ldaB = <usize>lda << 2;
  for (let ir = 0; ir < mc; ir += MR) {
    const mr = imin(MR, mc - ir);
    let s = a + <usize>pc * ldaB + (<usize>(ic + ir) << 2);
    let d = dst + <usize>(ir * kc) * 4;
    if (mr == MR) {
      for (let p = 0; p < kc; p++) {
        v128.store(d, v128.load(s));
        s += ldaB;
        d += 16;
      }
    } else {
      for (let p = 0; p < kc; p++) {
        for (let i = 0; i < MR; i++) {
          store<f32>(d + (<usize>i << 2), i < mr ? load<f32>(s + (<usize>i << 2)) : 0);
        }
        s += ldaB;
        d += 16;
      }
    }
  }
}

/** Packs A[ic:ic+mc, pc:pc+kc] stored row-major (`a[i·lda + p]`) into the same 4-row panels. */
function packAN(a: usize, lda: i32, ic: i32, pc: i32, mc: i32, kc: i32, dst: usize): void {
  const ldaB = <usize>lda << 2;
  for (let ir = 0; ir < mc; ir += MR) {
    const mr = imin(MR, mc - ir);
    const s0 = a + <usize>(ic + ir) * ldaB + (<usize>pc << 2);
    let d = dst + <usize>(ir * kc) * 4;
    if (mr == MR) {
      const s1 = s0 + ldaB;
      const s2 = s1 + ldaB;
      const s3 = s2 + ldaB;
      let p = 0;
      for (; p + 4 <= kc; p += 4) {
        const o = <usize>p << 2;
        transpose4(s0 + o, s1 + o, s2 + o, s3 + o, d, 16);
        d += 64;
      }
      for (; p < kc; p++) {
        const o = <usize>p << 2;
        store<f32>(d, load<f32>(s0 + o));
        store<f32>(d, load<f32>(s1 + o), 4);
        store<f32>(d, load<f32>(s2 + o), 8);
        store<f32>(d, load<f32>(s3 + o), 12);
        d += 16;
      }
    } else {
      for (let p = 0; p < kc; p++) {
        const o = <usize>p << 2;
        for (let i = 0; i < MR; i++) {
          store<f32>(d + (<usize>i << 2), i < mr ? load<f32>(s0 + <usize>i * ldaB + o) : 0);
        }
        d += 16;
      }
    }
  }
}

/**
 * C[m×n] (+)= op(A)·op(B), float32, row-major with leading dimensions in elements.
 * op(A) is m×k (`a` stored [k, lda≥m] when `transA`, else [m, lda≥k]); op(B) is k×n likewise.
 * `accumulate` adds into C; otherwise C is overwritten. `work` holds `gemmWorkBytes()` bytes.
 */
export function gemm(
  transA: bool,
  transB: bool,
  m: i32,
  n: i32,
  k: i32,
  a: usize,
  lda: i32,
  b: usize,
  ldb: i32,
  c: usize,
  ldc: i32,
  accumulate: bool,
  work: usize,
): void {
  if (m <= 0 || n <= 0) return;
  const ldcB = <usize>ldc << 2;
  if (k <= 0) {
    if (!accumulate) {
      for (let i = 0; i < m; i++) memory.fill(c + <usize>i * ldcB, 0, <usize>n << 2);
    }
    return;
  }
  const bPack = work;
  const aPack = work + PACK_B_BYTES;
  const tile = aPack + PACK_A_BYTES;
  for (let jc = 0; jc < n; jc += NC) {
    const nc = imin(NC, n - jc);
    for (let pc = 0; pc < k; pc += KC) {
      const kc = imin(KC, k - pc);
      packB(transB, b, ldb, pc, jc, kc, nc, bPack);
      // every KC block after the first adds to what the earlier blocks wrote
      const acc = accumulate || pc > 0;
      // With a short k block (a first convolution's K = 9 or 32) the A block is small anyway and
      // the C block it writes, revisited once per column panel, is what must stay in L1: 32 rows
      // ran conv1's products (50176×9×32, 50176×32×9) 30–40% faster than 128 (any MC, same bits).
      const mcMax = kc < 64 ? MC_SHORT_K : MC;
      for (let ic = 0; ic < m; ic += mcMax) {
        const mc = imin(mcMax, m - ic);
        if (transA) packAT(a, lda, ic, pc, mc, kc, aPack);
        else packAN(a, lda, ic, pc, mc, kc, aPack);
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = imin(NR, nc - jr);
          const bp = bPack + <usize>(jr * kc) * 4;
          const cCol = c + (<usize>(jc + jr) << 2);
          if (nr > 4) {
            // the full 4-row panels in one call (its panels lie end to end in aPack), then the rest
            const full = mc >> 2;
            if (full > 0) kernel(kc, aPack, bp, cCol + <usize>ic * ldcB, ldcB, full, nr, acc, tile);
            const ir = full << 2;
            if (ir < mc) {
              const cij = cCol + <usize>(ic + ir) * ldcB;
              kernelRows(kc, aPack + <usize>(ir * kc) * 4, bp, cij, ldcB, mc - ir, nr, acc, tile);
            }
            continue;
          }
          const cij = cCol + <usize>ic * ldcB;
          if (nr == 4) kernel4(kc, aPack, bp, cij, ldcB, mc, nr, acc, tile);
          else kernelCols(kc, aPack, bp, cij, ldcB, mc, nr, acc, tile);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Convolutions. Geometry is passed as a flat record in linear memory (Geom, ./geom.ts) so the
// exported signatures stay short.


/** Rows of im2col per chunk: enough to fill ~CHUNK_BYTES, at least one KC block, a multiple of MR. */
function chunkRows(g: Geom): i32 {
  const kd = g.kh * g.kw * g.cin;
  let r = CHUNK_BYTES / (kd * 4);
  if (r < KC) r = KC;
  r = (r + MR - 1) & ~(MR - 1);
  const total = g.n * g.oh * g.ow;
  return r < total ? r : total;
}

/**
 * Work bytes for the convolutions of geometry `geom`: the GEMM's work, one column chunk and, for a
 * transposed weight gradient, its kd×cout buffer.
 */
export function convWorkBytes(geom: usize): usize {
  const g = changetype<Geom>(geom);
  const kd = g.kh * g.kw * g.cin;
  return gemmWorkBytes() + <usize>chunkRows(g) * <usize>kd * 4 + (gradFilterTransposed(g) ? <usize>kd * <usize>g.cout * 4 : 0) + <usize>imax(g.cout, 4) * 8;
}

/** Where the weight gradient's bias sums (cout float64s) sit in a work area laid out by convWorkBytes. */
function biasSumsAt(g: Geom, work: usize): usize {
  const kd = g.kh * g.kw * g.cin;
  return work + gemmWorkBytes() + <usize>chunkRows(g) * <usize>kd * 4 + (gradFilterTransposed(g) ? <usize>kd * <usize>g.cout * 4 : 0);
}

/**
 * acc[c] += x[r, c] for rows r = 0 … rows−1 in order, columns [c0, c1) of rows `ld` floats apart:
 * one float64 chain per column, each value promoted from float32, so that chunks folded one after
 * another give each column exactly the chain of `reduce('sum', ·, 0)` (assembly/elementwise.ts
 * `stridedRow`: blocks of 8 columns in registers, the rest two and one at a time, all in memory
 * order), and the float32 rounding of acc[c] at the end its bits.
 */
function columnSums(acc: usize, x: usize, rows: i32, ld: i32, c0: i32, c1: i32): void {
  const lr = <usize>ld << 2;
  let i = c0;
  for (; i + 8 <= c1; i += 8) {
    const ap = acc + (<usize>i << 3);
    let a0 = v128.load(ap);
    let a1 = v128.load(ap, 16);
    let a2 = v128.load(ap, 32);
    let a3 = v128.load(ap, 48);
    let q = x + (<usize>i << 2);
    for (let r = 0; r < rows; r++) {
      a0 = f64x2.add(a0, f64x2.promote_low_f32x4(v128.load64_zero(q)));
      a1 = f64x2.add(a1, f64x2.promote_low_f32x4(v128.load64_zero(q, 8)));
      a2 = f64x2.add(a2, f64x2.promote_low_f32x4(v128.load64_zero(q, 16)));
      a3 = f64x2.add(a3, f64x2.promote_low_f32x4(v128.load64_zero(q, 24)));
      q += lr;
    }
    v128.store(ap, a0);
    v128.store(ap, a1, 16);
    v128.store(ap, a2, 32);
    v128.store(ap, a3, 48);
  }
  if (i >= c1) return;
  const rest = i;
  let p = x;
  for (let r = 0; r < rows; r++) {
    i = rest;
    for (; i + 2 <= c1; i += 2) {
      const ap = acc + (<usize>i << 3);
      v128.store(ap, f64x2.add(v128.load(ap), f64x2.promote_low_f32x4(v128.load64_zero(p + (<usize>i << 2)))));
    }
    for (; i < c1; i++) {
      const ap = acc + (<usize>i << 3);
      store<f64>(ap, load<f64>(ap) + <f64>load<f32>(p + (<usize>i << 2)));
    }
    p += lr;
  }
}

/**
 * The bias sums of a one-channel dy, whose `reduce('sum', ·, 0)` is a contiguous run (inner 1):
 * elementwise.ts `reduceOp` folds it in two interleaved float64 chains (even rows, odd rows) up to
 * the last even count, adds the two, then the last row when the count is odd. Rows r0 … r0+rows−1
 * of `total` fold into acc[0] (even), acc[1] (odd), acc[2] (the odd count's last row).
 */
function columnSums1(acc: usize, x: usize, r0: i32, rows: i32, total: i32): void {
  const paired = total & ~1;
  for (let r = 0; r < rows; r++) {
    const j = r0 + r;
    const v = <f64>load<f32>(x + (<usize>r << 2));
    if (j < paired) {
      const ap = acc + (<usize>(j & 1) << 3);
      store<f64>(ap, load<f64>(ap) + v);
    } else store<f64>(acc, v, 16);
  }
}

/** The bias sums of rows r0 … r0+rows−1 (of `total`) of dy, columns [c0, c1) of `cout`, folded into acc as `reduce` folds them. */
function biasSums(acc: usize, dyr: usize, r0: i32, rows: i32, total: i32, cout: i32, c0: i32, c1: i32): void {
  if (cout == 1) columnSums1(acc, dyr, r0, rows, total);
  else columnSums(acc, dyr, rows, cout, c0, c1);
}

/** acc[c0 … c1) = +0 (a chain's start, as `reduce` starts each column; a one-channel dy's three chains). */
function zeroSums(acc: usize, c0: i32, c1: i32, cout: i32): void {
  if (cout == 1 && c1 > c0) c1 = 3;
  for (let i = c0; i < c1; i++) store<f64>(acc + (<usize>i << 3), 0);
}

/** db[c] = float32(acc[c]) for c in [c0, c1) (a one-channel dy: its chains combined as `reduce` combines them). */
function storeSums(db: usize, acc: usize, c0: i32, c1: i32, cout: i32, total: i32): void {
  if (cout == 1) {
    if (c1 <= c0) return;
    let r = load<f64>(acc) + load<f64>(acc, 8);
    if ((total & 1) != 0) r += load<f64>(acc, 16);
    store<f32>(db, <f32>r);
    return;
  }
  for (let i = c0; i < c1; i++) store<f32>(db + (<usize>i << 2), <f32>load<f64>(acc + (<usize>i << 3)));
}

@inline
function copyF32(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(dst + (<usize>i << 2), v128.load(src + (<usize>i << 2)));
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), load<f32>(src + (<usize>i << 2)));
}

@inline
function zeroF32(dst: usize, n: i32): void {
  let i = 0;
  const z = f32x4.splat(0);
  for (; i + 4 <= n; i += 4) v128.store(dst + (<usize>i << 2), z);
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), 0);
}

@inline
function addF32(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(dst + o, f32x4.add(v128.load(dst + o), v128.load(src + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dst + o, load<f32>(dst + o) + load<f32>(src + o));
  }
}

/**
 * Copies `n` floats as whole vectors: it reads and writes up to 3 floats past the run (see
 * `im2col` for when that is safe).
 */
@inline
function copyF32Over(dst: usize, src: usize, n: i32): void {
  for (let i = 0; i < n; i += 4) v128.store(dst + (<usize>i << 2), v128.load(src + (<usize>i << 2)));
}

/**
 * Row (b, oy, ox) of the patch matrix of NHWC `x` at `d`. With `over`, runs are copied as whole
 * vectors (`copyF32Over`): the up to 3 floats written past a run land on the next run of the row
 * or the next row, written after it.
 */
@inline
function patchRow(g: Geom, x: usize, b: i32, oy: i32, ox: i32, d: usize, over: bool): void {
  const cin = g.cin;
  const kwc = g.kw * cin;
  const ix0 = ox * g.sw - g.pw;
  const inside = ix0 >= 0 && ix0 + g.kw <= g.w;
  for (let ky = 0; ky < g.kh; ky++) {
    const iy = oy * g.sh - g.ph + ky;
    const dr = d + <usize>(ky * kwc) * 4;
    if (iy < 0 || iy >= g.h) {
      zeroF32(dr, kwc);
      continue;
    }
    const src = x + (<usize>((b * g.h + iy) * g.w) * <usize>cin << 2);
    if (inside) {
      if (over) copyF32Over(dr, src + (<usize>(ix0 * cin) << 2), kwc);
      else copyF32(dr, src + (<usize>(ix0 * cin) << 2), kwc);
    } else {
      for (let kx = 0; kx < g.kw; kx++) {
        const ix = ix0 + kx;
        const dk = dr + <usize>(kx * cin) * 4;
        if (ix < 0 || ix >= g.w) zeroF32(dk, cin);
        else if (over) copyF32Over(dk, src + (<usize>(ix * cin) << 2), cin);
        else copyF32(dk, src + (<usize>(ix * cin) << 2), cin);
      }
    }
  }
}

/**
 * Rows r0..r0+rows of the patch matrix of NHWC `x` (`[n·oh·ow, kh·kw·cin]`), zero where a window
 * hits padding. A window row (ky) inside the image is one contiguous run of kw·cin floats. Where a
 * patch row has at least 3 floats, every row but the last copies whole vectors (a first layer's
 * runs are 3 floats): the ≤ 3 floats it writes past its end land in the next row of this call,
 * rewritten after, and what it reads past x's end is inside memory (checked); the last row, which
 * another part's rows or the caller's buffers may follow, copies exactly.
 */
function im2col(g: Geom, x: usize, r0: i32, rows: i32, cols: usize): void {
  const cin = g.cin;
  const kh = g.kh;
  const kw = g.kw;
  const kwc = kw * cin;
  const kdB = <usize>(kh * kwc) << 2;
  const runB = <usize>kwc << 2;
  const imageRowB = <usize>(g.w * cin) << 2;
  const ohw = g.oh * g.ow;
  const gw = g.w, gh = g.h, gow = g.ow, goh = g.oh, gsh = g.sh, gsw = g.sw, gph = g.ph, gpw = g.pw;
  const xEnd = x + ((<usize>g.n * <usize>gh * <usize>gw * <usize>cin) << 2);
  // a run's overflow (≤ 3 floats) stays inside the next row only when a row has at least 3 floats
  const over = kh * kwc >= 3 && xEnd + 16 <= (<usize>memory.size() << 16);
  const end = r0 + rows;
  let d = cols;
  // the window of row r0, then stepped row by row (no division per row)
  let b = r0 / ohw;
  let oy = (r0 - b * ohw) / gow;
  let ox = r0 - b * ohw - oy * gow;
  let r = r0;
  while (r < end) {
    // the rows of output row (b, oy) from ox on: `full` when every window row is inside the image
    const runEnd = imin(end, r + gow - ox);
    const iy0 = oy * gsh - gph;
    const kyLo = imax(0, -iy0);
    const kyHi = imin(kh, gh - iy0);
    const full = over && kyLo == 0 && kyHi == kh;
    for (; r < runEnd; r++) {
      const ix0 = ox * gsw - gpw;
      if (full && r + 1 < end && ix0 >= 0 && ix0 + kw <= gw) {
        // a window wholly inside the image: kh runs, as whole vectors (one for a first layer's 3 floats)
        let src = x + <usize>((b * gh + iy0) * gw + ix0) * <usize>cin * 4;
        let dd = d;
        for (let ky = 0; ky < kh; ky++) {
          if (kwc <= 4) v128.store(dd, v128.load(src));
          else copyF32Over(dd, src, kwc);
          src += imageRowB;
          dd += runB;
        }
      } else if (over && r + 1 < end) {
        patchRow(g, x, b, oy, ox, d, true);
      } else {
        patchRow(g, x, b, oy, ox, d, false);
      }
      d += kdB;
      ox++;
    }
    if (ox == gow) {
      ox = 0;
      if (++oy == goh) {
        oy = 0;
        b++;
      }
    }
  }
}

/**
 * Rows r0..r0+rows, columns c0..c1 of the patch matrix of NHWC `x` (`[n·oh·ow, kh·kw·cin]`),
 * written as rows of c1 − c0 floats at `cols`, zero where a window hits padding. A window row (ky)
 * inside the image is one contiguous run of kw·cin floats.
 */
function im2colColumns(g: Geom, x: usize, r0: i32, rows: i32, cols: usize, c0: i32, c1: i32): void {
  if (c0 == 0 && c1 == g.kh * g.kw * g.cin) {
    im2col(g, x, r0, rows, cols);
    return;
  }
  const cin = g.cin;
  const kwc = g.kw * cin;
  const ohw = g.oh * g.ow;
  const ky0 = c0 / kwc;
  const ky1 = (c1 + kwc - 1) / kwc;
  let d = cols;
  // the window of row r0, then stepped row by row (no division per row)
  let b = r0 / ohw;
  let oy = (r0 - b * ohw) / g.ow;
  let ox = r0 - b * ohw - oy * g.ow;
  for (let r = r0; r < r0 + rows; r++) {
    const ix0 = ox * g.sw - g.pw;
    const inside = ix0 >= 0 && ix0 + g.kw <= g.w;
    for (let ky = ky0; ky < ky1; ky++) {
      // this window row's columns [u0, u1) of its kw·cin, at column ky·kwc + u0 of the matrix
      const u0 = imax(c0 - ky * kwc, 0);
      const u1 = imin(c1 - ky * kwc, kwc);
      const iy = oy * g.sh - g.ph + ky;
      const dr = d + (<usize>(ky * kwc + u0 - c0) << 2);
      if (iy < 0 || iy >= g.h) {
        zeroF32(dr, u1 - u0);
        continue;
      }
      const src = x + (<usize>((b * g.h + iy) * g.w) * <usize>cin << 2);
      if (inside) {
        copyF32(dr, src + (<usize>(ix0 * cin + u0) << 2), u1 - u0);
      } else {
        for (let kx = u0 / cin; kx * cin < u1; kx++) {
          const v0 = imax(u0, kx * cin);
          const v1 = imin(u1, kx * cin + cin);
          const ix = ix0 + kx;
          const dk = dr + (<usize>(v0 - u0) << 2);
          if (ix < 0 || ix >= g.w) zeroF32(dk, v1 - v0);
          else copyF32(dk, src + (<usize>(ix0 * cin + v0) << 2), v1 - v0);
        }
      }
    }
    d += <usize>(c1 - c0) << 2;
    if (++ox == g.ow) {
      ox = 0;
      if (++oy == g.oh) {
        oy = 0;
        b++;
      }
    }
  }
}

/** The adjoint of im2col for rows r0..r0+rows: adds each patch row back into NHWC `x`. */
function col2im(g: Geom, cols: usize, r0: i32, rows: i32, x: usize): void {
  const cin = g.cin;
  const kwc = g.kw * cin;
  const kd = g.kh * kwc;
  const ohw = g.oh * g.ow;
  let s = cols;
  let b = r0 / ohw;
  let oy = (r0 - b * ohw) / g.ow;
  let ox = r0 - b * ohw - oy * g.ow;
  for (let r = r0; r < r0 + rows; r++) {
    const ix0 = ox * g.sw - g.pw;
    const inside = ix0 >= 0 && ix0 + g.kw <= g.w;
    for (let ky = 0; ky < g.kh; ky++) {
      const iy = oy * g.sh - g.ph + ky;
      if (iy < 0 || iy >= g.h) continue;
      const sr = s + <usize>(ky * kwc) * 4;
      const dst = x + (<usize>((b * g.h + iy) * g.w) * <usize>cin << 2);
      if (inside) {
        addF32(dst + (<usize>(ix0 * cin) << 2), sr, kwc);
      } else {
        for (let kx = 0; kx < g.kw; kx++) {
          const ix = ix0 + kx;
          if (ix < 0 || ix >= g.w) continue;
          addF32(dst + (<usize>(ix * cin) << 2), sr + <usize>(kx * cin) * 4, cin);
        }
      }
    }
    s += <usize>kd << 2;
    if (++ox == g.ow) {
      ox = 0;
      if (++oy == g.oh) {
        oy = 0;
        b++;
      }
    }
  }
}

/** True when im2col is the identity (1×1 kernel, stride 1, no padding): the input is the matrix. */
@inline
function pointwiseConv(g: Geom): bool {
  return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
}

/**
 * y[r, c] += b[c] for `rows` rows of `cout` floats: float32 adds, each the same bits as the
 * broadcast `binary add` of assembly/elementwise.ts (one correctly rounded f32 add per element).
 */
function addBiasRows(y: usize, rows: i32, cout: i32, b: usize): void {
  for (let r = 0; r < rows; r++) addF32(y + <usize>r * <usize>cout * 4, b, cout);
}

/**
 * y[n·oh·ow, cout] = im2col(x) · wᵀ (+ b), with w OHWI = [cout, kh·kw·cin]; `b` 0: no bias, else
 * cout floats added to every row of each chunk right after its product, while the chunk is in
 * cache (the bits of the product then a broadcast add: each sum is complete before its add).
 */
export function conv2d(geom: usize, x: usize, w: usize, y: usize, work: usize, b: usize): void {
  const g = changetype<Geom>(geom);
  const kd = g.kh * g.kw * g.cin;
  const total = g.n * g.oh * g.ow;
  if (pointwiseConv(g)) {
    gemm(false, true, total, g.cout, kd, x, kd, w, kd, y, g.cout, false, work);
    if (b != 0) addBiasRows(y, total, g.cout, b);
    return;
  }
  const cols = work + gemmWorkBytes();
  const ch = chunkRows(g);
  for (let r0 = 0; r0 < total; r0 += ch) {
    const rows = imin(ch, total - r0);
    im2col(g, x, r0, rows, cols);
    const yr = y + <usize>r0 * <usize>g.cout * 4;
    gemm(false, true, rows, g.cout, kd, cols, kd, w, kd, yr, g.cout, false, work);
    if (b != 0) addBiasRows(yr, rows, g.cout, b);
  }
}

/** The 16-byte multiple at or above `n`. */
@inline
function align16(n: usize): usize {
  return (n + 15) & ~(<usize>15);
}

/**
 * Work bytes of one part of conv2dPool (and of the single call): two geometry records, one
 * image of the convolution's output, and a convolution's work area.
 */
export function conv2dPoolWorkBytes(geom: usize): usize {
  const g = changetype<Geom>(geom);
  return 128 + align16(<usize>poolGroup(g) * <usize>g.oh * <usize>g.ow * <usize>g.cout * 4) + convWorkBytes(geom);
}

/** Images convolved per call of conv2dPool: their output about CHUNK_BYTES (at least one image), so the product's packing of w is paid once per group, not per image. */
function poolGroup(g: Geom): i32 {
  const img = g.oh * g.ow * g.cout * 4;
  return imax(1, imin(g.n, CHUNK_BYTES / imax(img, 1)));
}

/**
 * [y, arg] = maxPoolArgmax(conv2d(x, w) + b) for images [n0, n1) (`b` 0: no bias), a group of
 * images at a time (`poolGroup`): the group's convolution output is made in the work area by
 * `conv2d` on the group's geometry (each output element's sum is the same arithmetic however the
 * rows are chunked, which is why conv2d's parts by images give its bits) and pooled from there
 * (pool-argmax.ts) while it is in cache, so the whole output is never written. `pgeom` is the pooling's geometry over that output (n, oh, ow,
 * cout as its n, h, w, cin).
 */
function conv2dPoolImages(geom: usize, pgeom: usize, x: usize, w: usize, b: usize, y: usize, arg: usize, work: usize, n0: i32, n1: i32): void {
  const g = changetype<Geom>(geom);
  const sub = work;
  const psub = work + 64;
  memory.copy(sub, geom, 13 * 4);
  memory.copy(psub, pgeom, 13 * 4);
  const group = poolGroup(g);
  const img = work + 128;
  const cw = img + align16(<usize>group * <usize>g.oh * <usize>g.ow * <usize>g.cout * 4);
  const pg = changetype<Geom>(pgeom);
  const xImage = <usize>(g.h * g.w * g.cin) * 4;
  const yImage = <usize>(pg.oh * pg.ow * pg.cin) * 4;
  for (let n = n0; n < n1; n += group) {
    const k = imin(group, n1 - n);
    changetype<Geom>(sub).n = k;
    changetype<Geom>(psub).n = k;
    conv2d(sub, x + <usize>n * xImage, w, img, cw, b);
    maxPoolArgImages(changetype<Geom>(psub), img, y + <usize>n * yImage, arg + <usize>n * yImage, 0, k);
  }
}

/** conv2dPool over every image. */
export function conv2dPool(geom: usize, pgeom: usize, x: usize, w: usize, b: usize, y: usize, arg: usize, work: usize): void {
  conv2dPoolImages(geom, pgeom, x, w, b, y, arg, work, 0, changetype<Geom>(geom).n);
}

/** Part `part` of `parts` of conv2dPool: whole images, each part with its own work area. */
export function conv2dPoolPart(part: i32, parts: i32, geom: usize, pgeom: usize, x: usize, w: usize, b: usize, y: usize, arg: usize, work: usize): void {
  const n = changetype<Geom>(geom).n;
  const n0 = partStart(n, part, parts, 1);
  const n1 = partStart(n, part + 1, parts, 1);
  if (n1 > n0) conv2dPoolImages(geom, pgeom, x, w, b, y, arg, work + <usize>part * conv2dPoolWorkBytes(geom), n0, n1);
}

/** dx = col2im(dy · w): dy is [n·oh·ow, cout], w is [cout, kh·kw·cin]. */
export function conv2dGradInput(geom: usize, dy: usize, w: usize, dx: usize, work: usize): void {
  const g = changetype<Geom>(geom);
  const kd = g.kh * g.kw * g.cin;
  const total = g.n * g.oh * g.ow;
  if (pointwiseConv(g)) {
    gemm(false, false, total, kd, g.cout, dy, g.cout, w, kd, dx, kd, false, work);
    return;
  }
  memory.fill(dx, 0, <usize>(g.n * g.h * g.w) * <usize>g.cin * 4);
  const cols = work + gemmWorkBytes();
  const ch = chunkRows(g);
  for (let r0 = 0; r0 < total; r0 += ch) {
    const rows = imin(ch, total - r0);
    gemm(false, false, rows, kd, g.cout, dy + <usize>r0 * <usize>g.cout * 4, g.cout, w, kd, cols, kd, false, work);
    col2im(g, cols, r0, rows, dx);
  }
}

/** dw[cout, kh·kw·cin] = dyᵀ · im2col(x), accumulated over column chunks. */
/** Micro-tile work of an m×n product: rows round up to MR, columns to NR. */
function tileWork(m: i32, n: i32): i32 {
  return (((m + MR - 1) / MR) * MR) * (((n + NR - 1) / NR) * NR);
}

/**
 * Whether the weight gradient is better computed transposed, dWᵀ = colsᵀ·dY (kd×cout), than as
 * dW = dYᵀ·cols (cout×kd): true when that fills the 4×8 tiles better, e.g. a first layer with
 * kd = 3·3·1 = 9 wastes 7 of 16 columns one way and 3 of 12 rows the other.
 */
function gradFilterTransposed(g: Geom): bool {
  const kd = g.kh * g.kw * g.cin;
  return tileWork(kd, g.cout) < tileWork(g.cout, kd);
}

/**
 * dW (+)= dYᵀ·A over `rows` patch rows, A = the patch rows (`a`, [rows, kd]); dY rows at `dyr`.
 * When `gradFilterTransposed`, accumulates dWᵀ into `dwt` ([kd, cout]) instead.
 */
function gradFilterBlock(g: Geom, a: usize, dyr: usize, rows: i32, dw: usize, dwt: usize, acc: bool, work: usize): void {
  const kd = g.kh * g.kw * g.cin;
  if (gradFilterTransposed(g)) gemm(true, false, kd, g.cout, rows, a, kd, dyr, g.cout, dwt, g.cout, acc, work);
  else gemm(true, false, g.cout, kd, rows, dyr, g.cout, a, kd, dw, kd, acc, work);
}

/**
 * dw[cout, kh·kw·cin] = dyᵀ · im2col(x), accumulated over column chunks; `db` 0: no bias, else
 * db[c] = Σ over the n·oh·ow rows of dy[·, c], folded chunk by chunk as each chunk of dy is read
 * (the bits of `reduce('sum', dy as [n·oh·ow, cout], 0)`: `columnSums`).
 */
export function conv2dGradFilter(geom: usize, x: usize, dy: usize, dw: usize, work: usize, db: usize): void {
  const g = changetype<Geom>(geom);
  const kd = g.kh * g.kw * g.cin;
  const total = g.n * g.oh * g.ow;
  const cols = work + gemmWorkBytes();
  const dwt = cols + <usize>chunkRows(g) * <usize>kd * 4;
  const sums = biasSumsAt(g, work);
  if (db != 0) zeroSums(sums, 0, g.cout, g.cout);
  if (pointwiseConv(g)) {
    gradFilterBlock(g, x, dy, total, dw, dwt, false, work);
    if (db != 0) biasSums(sums, dy, 0, total, total, g.cout, 0, g.cout);
  } else {
    const ch = chunkRows(g);
    for (let r0 = 0; r0 < total; r0 += ch) {
      const rows = imin(ch, total - r0);
      im2col(g, x, r0, rows, cols);
      const dyr = dy + <usize>r0 * <usize>g.cout * 4;
      // every chunk after the first adds to what the earlier chunks wrote
      gradFilterBlock(g, cols, dyr, rows, dw, dwt, r0 > 0, work);
      if (db != 0) biasSums(sums, dyr, r0, rows, total, g.cout, 0, g.cout);
    }
  }
  if (db != 0) storeSums(db, sums, 0, g.cout, g.cout, total);
  if (gradFilterTransposed(g)) {
    for (let i = 0; i < kd; i++) {
      for (let o = 0; o < g.cout; o++) {
        store<f32>(dw + (<usize>(o * kd + i) << 2), load<f32>(dwt + (<usize>(i * g.cout + o) << 2)));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Parts for threads (backends/wasm/threads.ts): part `part` of `parts` of one product or
// convolution, split by output rows only, never along a sum, so every output element is computed
// by exactly the arithmetic of the single-threaded call and results are bit-identical for any
// number of parts. Each part has its own work area at `work + part·partWorkBytes`.

/** Bytes one part of a conv needs: its geometry record, then the conv's work area. */
export function convPartWorkBytes(geom: usize): usize {
  return 64 + convWorkBytes(geom);
}

/** The first row of part `p` of `m` rows in `parts` parts, rounded to the micro-kernel's MR. */
@inline
function partStartRoundedUp(p: i32, parts: i32, m: i32, step: i32): i32 {
  let per = (m + parts - 1) / parts;
  per = ((per + step - 1) / step) * step;
  const s = p * per;
  return s < m ? s : m;
}

/** Rows [m0, m1) of C of `gemm`, with its own work area (`gemmWorkBytes()` per part). */
export function gemmPart(
  part: i32, parts: i32,
  transA: bool, transB: bool, m: i32, n: i32, k: i32,
  a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32,
  accumulate: bool, work: usize,
): void {
  const m0 = partStartRoundedUp(part, parts, m, MR);
  const m1 = partStartRoundedUp(part + 1, parts, m, MR);
  if (m1 <= m0) return;
  const ap = transA ? a + (<usize>m0 << 2) : a + <usize>m0 * <usize>lda * 4;
  gemm(transA, transB, m1 - m0, n, k, ap, lda, b, ldb, c + <usize>m0 * <usize>ldc * 4, ldc, accumulate, work + <usize>part * gemmWorkBytes());
}

/** A copy of `geom` at `dst` for images [n0, n1). */
function subBatch(geom: usize, dst: usize, n0: i32, n1: i32): usize {
  memory.copy(dst, geom, 13 * 4);
  changetype<Geom>(dst).n = n1 - n0;
  return dst;
}

/** conv2d of images [n0, n1) (each image's output rows depend on that image only). */
export function conv2dPart(part: i32, parts: i32, geom: usize, x: usize, w: usize, y: usize, work: usize, b: usize): void {
  const g = changetype<Geom>(geom);
  const n0 = partStartRoundedUp(part, parts, g.n, 1);
  const n1 = partStartRoundedUp(part + 1, parts, g.n, 1);
  if (n1 <= n0) return;
  const pw = work + <usize>part * convPartWorkBytes(geom);
  const sub = subBatch(geom, pw, n0, n1);
  conv2d(sub, x + <usize>n0 * <usize>(g.h * g.w * g.cin) * 4, w, y + <usize>n0 * <usize>(g.oh * g.ow * g.cout) * 4, pw + 64, b);
}

/** conv2dGradInput of images [n0, n1) (col2im adds only within an image). */
export function conv2dGradInputPart(part: i32, parts: i32, geom: usize, dy: usize, w: usize, dx: usize, work: usize): void {
  const g = changetype<Geom>(geom);
  const n0 = partStartRoundedUp(part, parts, g.n, 1);
  const n1 = partStartRoundedUp(part + 1, parts, g.n, 1);
  if (n1 <= n0) return;
  const pw = work + <usize>part * convPartWorkBytes(geom);
  const sub = subBatch(geom, pw, n0, n1);
  conv2dGradInput(sub, dy + <usize>n0 * <usize>(g.oh * g.ow * g.cout) * 4, w, dx + <usize>n0 * <usize>(g.h * g.w * g.cin) * 4, pw + 64);
}

/**
 * Part `part` of `parts` of conv2dGradFilter, by columns of `gradFilterBlock`'s product: patch
 * columns of dW, each part forming only its own columns of the patch matrix, or output channels
 * of dWᵀ (a small patch matrix, formed whole by each part). The sum over the batch stays whole and
 * in order inside each part — the same chunks of rows, KC blocks and k order as the single call —
 * so every element is the same bits for any number of parts.
 */
export function conv2dGradFilterPart(part: i32, parts: i32, geom: usize, x: usize, dy: usize, dw: usize, work: usize, db: usize): void {
  gradFilterPart(part, parts, geom, x, false, dy, dw, work, db);
}

/**
 * conv2dGradFilterPart with the whole patch matrix of the input already at `cols` (im2colPart):
 * the parts share it instead of each forming it again, with the same chunks, blocks and order.
 */
export function conv2dGradFilterColsPart(part: i32, parts: i32, geom: usize, cols: usize, dy: usize, dw: usize, work: usize, db: usize): void {
  gradFilterPart(part, parts, geom, cols, true, dy, dw, work, db);
}

/**
 * A convolution's weight gradient and input gradient as one task (the two products are
 * independent): parts [0, pw) are conv2dGradFilterPart's parts of pw, the rest
 * conv2dGradInputPart's parts of px, each with the arithmetic of its own call, so a thread done
 * with its share of one claims parts of the other instead of waiting. Descriptor (i32): geom, x,
 * dy, w, dw, db (0: none), dx, the weight gradient's work, the input gradient's work, pw, px.
 */
export function convGradsPart(desc: usize, part: i32, parts: i32): void {
  const geom = <usize>load<i32>(desc);
  const pw = load<i32>(desc, 36);
  const px = load<i32>(desc, 40);
  if (part < pw) {
    gradFilterPart(part, pw, geom, <usize>load<i32>(desc, 4), false, <usize>load<i32>(desc, 8), <usize>load<i32>(desc, 16), <usize>load<i32>(desc, 28), <usize>load<i32>(desc, 20));
  } else if (part - pw < px) {
    conv2dGradInputPart(part - pw, px, geom, <usize>load<i32>(desc, 8), <usize>load<i32>(desc, 12), <usize>load<i32>(desc, 24), <usize>load<i32>(desc, 32));
  }
}

/** Bytes of the whole patch matrix when the parts of conv2dGradFilter should share it (the transposed product: every part reads all of it), else 0. */
export function gradFilterSharedColsBytes(geom: usize): usize {
  const g = changetype<Geom>(geom);
  if (pointwiseConv(g) || !gradFilterTransposed(g)) return 0;
  return <usize>(g.n * g.oh * g.ow) * <usize>(g.kh * g.kw * g.cin) * 4;
}

/**
 * Part `part` of `parts` of the weight gradient; `whole`: `x` is the input's whole patch matrix.
 * With a bias (`db` ≠ 0) the part also folds the bias sums of some output channels, chunk by chunk
 * as conv2dGradFilter does: its own channels when the product is transposed (it reads only those
 * columns of dY), else an even share of them (every part reads all of dY).
 */
function gradFilterPart(part: i32, parts: i32, geom: usize, x: usize, whole: bool, dy: usize, dw: usize, work: usize, db: usize): void {
  const g = changetype<Geom>(geom);
  const kd = g.kh * g.kw * g.cin;
  const total = g.n * g.oh * g.ow;
  const tr = gradFilterTransposed(g);
  const n = tr ? g.cout : kd;
  const j0 = partStartRoundedUp(part, parts, n, NR);
  const j1 = partStartRoundedUp(part + 1, parts, n, NR);
  const b0 = db == 0 ? 0 : tr ? imin(j0, g.cout) : partStart(g.cout, part, parts, 1);
  const b1 = db == 0 ? 0 : tr ? imin(j1, g.cout) : partStart(g.cout, part + 1, parts, 1);
  if (j1 <= j0 && b1 <= b0) return;
  const nj = j1 - j0;
  const pw = work + <usize>part * convPartWorkBytes(geom) + 64;
  const cols = pw + gemmWorkBytes();
  const dwt = cols + <usize>chunkRows(g) * <usize>kd * 4;
  const sums = biasSumsAt(g, pw);
  zeroSums(sums, b0, b1, g.cout);
  const pt = pointwiseConv(g);
  // the patch rows are read in place when the input is the patch matrix or it was formed whole
  const given = pt || whole;
  const ch = pt ? total : chunkRows(g);
  for (let r0 = 0; r0 < total; r0 += ch) {
    const rows = imin(ch, total - r0);
    const dyr = dy + <usize>r0 * <usize>g.cout * 4;
    const acc = r0 > 0;
    const patches = x + <usize>r0 * <usize>kd * 4;
    if (nj <= 0) {
      // no columns of the product here, only bias sums
    } else if (tr) {
      // dWᵀ[:, j0:j1] = colsᵀ · dY[:, j0:j1]
      let a = patches;
      if (!given) {
        im2col(g, x, r0, rows, cols);
        a = cols;
      }
      gemm(true, false, kd, nj, rows, a, kd, dyr + (<usize>j0 << 2), g.cout, dwt + (<usize>j0 << 2), g.cout, acc, pw);
    } else {
      // dW[:, j0:j1] = dYᵀ · the patch columns [j0, j1)
      let b = patches + (<usize>j0 << 2);
      let ldb = kd;
      if (!given) {
        im2colColumns(g, x, r0, rows, cols, j0, j1);
        b = cols;
        ldb = nj;
      }
      gemm(true, false, g.cout, nj, rows, dyr, g.cout, b, ldb, dw + (<usize>j0 << 2), kd, acc, pw);
    }
    if (b1 > b0) biasSums(sums, dyr, r0, rows, total, g.cout, b0, b1);
  }
  if (tr) {
    for (let i = 0; i < kd; i++) {
      for (let o = j0; o < j1; o++) {
        store<f32>(dw + (<usize>(o * kd + i) << 2), load<f32>(dwt + (<usize>(i * g.cout + o) << 2)));
      }
    }
  }
  storeSums(db, sums, b0, b1, g.cout, total);
}

/**
 * Part `part` of `parts` of the whole patch matrix of geometry `geom` into `cols` (`[n·oh·ow,
 * kh·kw·cin]`), by rows: any split writes the same matrix (conv2dGradFilterColsPart reads it).
 */
export function im2colPart(part: i32, parts: i32, geom: usize, x: usize, cols: usize): void {
  const g = changetype<Geom>(geom);
  const total = g.n * g.oh * g.ow;
  const r0 = partStart(total, part, parts, 1);
  const r1 = partStart(total, part + 1, parts, 1);
  if (r1 > r0) im2col(g, x, r0, r1 - r0, cols + <usize>r0 * <usize>(g.kh * g.kw * g.cin) * 4);
}
