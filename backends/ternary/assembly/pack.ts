/**
 * Packing into the 2+2-bit rows of src/infer/ternary-kernels.ts: `packI8` / `packF32` /
 * `packF64` (values that must be exactly −1, 0 or +1), and a layer's `quantPack` (activations
 * after their pre ops, compared with float32 bounds and packed, 64 at a time) with the quantizer
 * state `setQuantizer` sets.
 *
 * `quantPack` is compiled once per kind of pre-op sequence it meets (none, one affine, affine →
 * relu → affine, any other read from the table per step), the affines' vectors then read from
 * pointers resolved once per call. 16 values at a time become a vector of codes (−1, 0, +1, or 0x7f for a value that is not
 * ternary) whose bitmasks are the nonzero and sign words. Every float32 operation of the pre ops
 * is a plain (unfused) SIMD operation, so each value is the one the reference computes with
 * Math.fround after every step.
 *
 * Law (laws/ternary-kernels.test.ts, laws/engine.test.ts): `pack*` equals the reference packing
 * bit for bit and names the first value that is not ternary; a layer's packed activations give
 * the reference's outputs bit for bit.
 */

// Packing. Each `pack*` reads `rows` rows of `k` values (row-major, contiguous) at `src` and
// writes `rows` packed rows at `dst`; it returns −1, or the index of the first value that is not
// exactly −1, 0 or +1 (then `dst` is left partly written). A row's last group may read up to 63
// values past the end of `src` (the caller leaves `packSlack()` bytes there); those lanes are
// masked off, so what lies there does not matter.

/** Bytes past the values that a pack may read. */
export function packSlack(): i32 {
  return 64 * 8;
}

/** Lanes of a group that hold values: all 64, or the low `k − j` of the last group. */
@inline
function validLanes(k: i32, j: i32): u64 {
  return k - j >= 64 ? <u64>-1 : (<u64>1 << <u64>(k - j)) - 1;
}

/** Narrows four i32x4 lanes to one i8x16, saturating (−1, 0, 1 and 0x7f pass unchanged). */
@inline
function narrow4(a: v128, b: v128, c: v128, d: v128): v128 {
  return i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(a, b), i16x8.narrow_i32x4_s(c, d));
}

/** The high 32 bits of two pairs of f64 lanes as one i32x4 (sign and exponent of each value). */
@inline
function high32(a: v128, b: v128): v128 {
  return i32x4.shuffle(a, b, 1, 3, 5, 7);
}

/** Lanes of two i64x2 masks as one i32x4 mask. */
@inline
function low32(a: v128, b: v128): v128 {
  return i32x4.shuffle(a, b, 0, 2, 4, 6);
}

/**
 * 16 values of type T at `p` as one i8x16 of codes: −1, 0 or +1 where the value is exactly that,
 * and 0x7f where it is not ternary. Floats are compared by their bits: ±1 and ±0 once the sign
 * bit is cleared (so −0 is 0, and NaN is not ternary).
 */
@inline
function codes16<T>(p: usize): v128 {
  if (sizeof<T>() == 1) {
    const v = v128.load(p);
    // v ∈ {−1, 0, 1} ⇔ v + 1 ≤ 2 as an unsigned byte.
    const bad = i8x16.gt_u(i8x16.add(v, i8x16.splat(1)), i8x16.splat(2));
    return v128.bitselect(i8x16.splat(0x7f), v, bad);
  }
  let c0: v128, c1: v128, c2: v128, c3: v128;
  if (sizeof<T>() == 4) {
    c0 = code4F32(v128.load(p));
    c1 = code4F32(v128.load(p, 16));
    c2 = code4F32(v128.load(p, 32));
    c3 = code4F32(v128.load(p, 48));
  } else {
    c0 = code4F64(v128.load(p), v128.load(p, 16));
    c1 = code4F64(v128.load(p, 32), v128.load(p, 48));
    c2 = code4F64(v128.load(p, 64), v128.load(p, 80));
    c3 = code4F64(v128.load(p, 96), v128.load(p, 112));
  }
  return narrow4(c0, c1, c2, c3);
}

/** Codes (as i32x4: −1, 0, 1, or 0x7f) of four float32 values. */
@inline
function code4F32(v: v128): v128 {
  const abs = v128.and(v, i32x4.splat(0x7fffffff));
  const one = i32x4.eq(abs, i32x4.splat(0x3f800000));
  const ok = v128.or(one, i32x4.eq(abs, i32x4.splat(0)));
  // ±1 → (v >> 31) | 1 = ±1; ±0 → 0; anything else → 0x7f.
  const code = v128.and(v128.or(i32x4.shr_s(v, 31), i32x4.splat(1)), one);
  return v128.bitselect(code, i32x4.splat(0x7f), ok);
}

/** Codes (as i32x4) of four float64 values in two vectors. */
@inline
function code4F64(a: v128, b: v128): v128 {
  const absMask = i64x2.splat(0x7fffffffffffffff);
  const oneBits = i64x2.splat(0x3ff0000000000000);
  const absA = v128.and(a, absMask), absB = v128.and(b, absMask);
  const one = low32(i64x2.eq(absA, oneBits), i64x2.eq(absB, oneBits));
  const zero = low32(i64x2.eq(absA, i64x2.splat(0)), i64x2.eq(absB, i64x2.splat(0)));
  const code = v128.and(v128.or(i32x4.shr_s(high32(a, b), 31), i32x4.splat(1)), one);
  return v128.bitselect(code, i32x4.splat(0x7f), v128.or(one, zero));
}

/**
 * Packs `rows` rows of `k` values of type T at `src` into packed rows at `dst`; returns −1 or
 * the index of the first value that is not ternary. Works on codes: bit 7 of a code is its sign
 * (−1 = 0xff), a code is nonzero unless it is 0, and 0x7f marks a value that is not ternary.
 */
@inline
function packRows<T>(src: usize, rows: i32, k: i32, dst: usize): i32 {
  const size = <usize>sizeof<T>();
  let d = dst;
  for (let r = 0; r < rows; r++) {
    const row = src + <usize>r * <usize>k * size;
    for (let j = 0; j < k; j += 64, d += 16) {
      const p = row + <usize>j * size;
      const c0 = codes16<T>(p);
      const c1 = codes16<T>(p + 16 * size);
      const c2 = codes16<T>(p + 32 * size);
      const c3 = codes16<T>(p + 48 * size);
      const valid = validLanes(k, j);
      const zero = i8x16.splat(0);
      const nz = bits64(i8x16.ne(c0, zero), i8x16.ne(c1, zero), i8x16.ne(c2, zero), i8x16.ne(c3, zero));
      const neg = bits64(c0, c1, c2, c3);
      store<u64>(d, nz & valid);
      store<u64>(d, neg & valid, 8);
      const m = i8x16.splat(0x7f);
      if (v128.any_true(v128.or(v128.or(i8x16.eq(c0, m), i8x16.eq(c1, m)), v128.or(i8x16.eq(c2, m), i8x16.eq(c3, m))))) {
        const bad = bits64(i8x16.eq(c0, m), i8x16.eq(c1, m), i8x16.eq(c2, m), i8x16.eq(c3, m)) & valid;
        if (bad != 0) return r * k + j + <i32>ctz(bad);
      }
    }
  }
  return -1;
}

/** The sign bits of 64 bytes in four vectors, as one word. */
@inline
function bits64(a: v128, b: v128, c: v128, d: v128): u64 {
  return <u64><u32>i8x16.bitmask(a) | (<u64><u32>i8x16.bitmask(b) << 16) | (<u64><u32>i8x16.bitmask(c) << 32) | (<u64><u32>i8x16.bitmask(d) << 48);
}

export function packI8(src: usize, rows: i32, k: i32, dst: usize): i32 {
  return packRows<i8>(src, rows, k, dst);
}

export function packF32(src: usize, rows: i32, k: i32, dst: usize): i32 {
  return packRows<f32>(src, rows, k, dst);
}

export function packF64(src: usize, rows: i32, k: i32, dst: usize): i32 {
  return packRows<f64>(src, rows, k, dst);
}

// The quantizer of `quantPack`, set by `setQuantizer`: `qN` pre ops at `qOps` (12 bytes each:
// i32 kind — 0 affine, 1 relu — then the byte pointers of the affine's f32 scale and shift,
// padded with zeros to a multiple of 64 channels), then codes: v ≥ qPos ↦ +1, else v ≤ qNeg ↦ −1,
// else 0; with qSign, v ≥ 0 ↦ +1, else −1 (NaN included).
let qOps: usize = 0;
let qN: i32 = 0;
let qSign: bool = false;
let qPos: f32 = 0;
let qNeg: f32 = 0;

// `quantPack` runs `codes64` specialised for the pre ops it finds: none, one affine, affine →
// relu → affine (batch norm, relu, batch norm), or any other sequence read from the table per step
const MODE_NONE = 0;
const MODE_AFFINE = 1;
const MODE_AFFINE_RELU_AFFINE = 2;
const MODE_TABLE = 3;
let qMode: i32 = MODE_NONE;
let qSc0: usize = 0;
let qSf0: usize = 0;
let qSc2: usize = 0;
let qSf2: usize = 0;

/** Whether pre op i of the table at `ops` is an affine (else a relu). */
@inline
function isAffine(ops: usize, i: i32): bool {
  return load<i32>(ops + <usize>i * 12) == 0;
}

export function setQuantizer(ops: usize, nOps: i32, sign: i32, pos: f32, neg: f32): void {
  qOps = ops;
  qN = nOps;
  qSign = sign != 0;
  qPos = pos;
  qNeg = neg;
  if (nOps == 0) qMode = MODE_NONE;
  else if (nOps == 1 && isAffine(ops, 0)) qMode = MODE_AFFINE;
  else if (nOps == 3 && isAffine(ops, 0) && !isAffine(ops, 1) && isAffine(ops, 2)) qMode = MODE_AFFINE_RELU_AFFINE;
  else qMode = MODE_TABLE;
  if (qMode == MODE_AFFINE || qMode == MODE_AFFINE_RELU_AFFINE) {
    qSc0 = <usize>load<u32>(ops, 4);
    qSf0 = <usize>load<u32>(ops, 8);
  }
  if (qMode == MODE_AFFINE_RELU_AFFINE) {
    qSc2 = <usize>load<u32>(ops + 24, 4);
    qSf2 = <usize>load<u32>(ops + 24, 8);
  }
}

// nonzero and negative bits of the 64 codes of the last `codes64`
let gNz: u64 = 0;
let gNeg: u64 = 0;

/**
 * gNz, gNeg = the codes under the current quantizer of the 64 f32 values at p, after the pre ops,
 * whose channels' scales and shifts start at byte offset `lane` of the affines' vectors: float32
 * roundings after each operation, as the backend's element-wise ops. Sixteen values at a time,
 * kept in registers through every op.
 */
@inline
function codes64(p: usize, lane: usize, mode: i32): void {
  const pos = f32x4.splat(qPos);
  const neg = f32x4.splat(qNeg);
  const zero = f32x4.splat(0);
  let nzBits: u64 = 0;
  let negBits: u64 = 0;
  for (let s = 0; s < 64; s += 16) {
    const q = p + (<usize>s << 2);
    let v0 = v128.load(q), v1 = v128.load(q, 16), v2 = v128.load(q, 32), v3 = v128.load(q, 48);
    if (mode == MODE_AFFINE || mode == MODE_AFFINE_RELU_AFFINE) {
      // the first (and third) op's vectors from pointers read once per call
      const off = lane + (<usize>s << 2);
      const sc = qSc0 + off;
      const sf = qSf0 + off;
      v0 = f32x4.add(f32x4.mul(v0, v128.load(sc)), v128.load(sf));
      v1 = f32x4.add(f32x4.mul(v1, v128.load(sc, 16)), v128.load(sf, 16));
      v2 = f32x4.add(f32x4.mul(v2, v128.load(sc, 32)), v128.load(sf, 32));
      v3 = f32x4.add(f32x4.mul(v3, v128.load(sc, 48)), v128.load(sf, 48));
      if (mode == MODE_AFFINE_RELU_AFFINE) {
        v0 = f32x4.pmax(zero, v0);
        v1 = f32x4.pmax(zero, v1);
        v2 = f32x4.pmax(zero, v2);
        v3 = f32x4.pmax(zero, v3);
        const sc2 = qSc2 + off;
        const sf2 = qSf2 + off;
        v0 = f32x4.add(f32x4.mul(v0, v128.load(sc2)), v128.load(sf2));
        v1 = f32x4.add(f32x4.mul(v1, v128.load(sc2, 16)), v128.load(sf2, 16));
        v2 = f32x4.add(f32x4.mul(v2, v128.load(sc2, 32)), v128.load(sf2, 32));
        v3 = f32x4.add(f32x4.mul(v3, v128.load(sc2, 48)), v128.load(sf2, 48));
      }
    } else if (mode == MODE_TABLE) {
      for (let i = 0; i < qN; i++) {
        const op = qOps + <usize>i * 12;
        if (load<i32>(op) == 0) {
          const sc = <usize>load<u32>(op, 4) + lane + (<usize>s << 2);
          const sf = <usize>load<u32>(op, 8) + lane + (<usize>s << 2);
          v0 = f32x4.add(f32x4.mul(v0, v128.load(sc)), v128.load(sf));
          v1 = f32x4.add(f32x4.mul(v1, v128.load(sc, 16)), v128.load(sf, 16));
          v2 = f32x4.add(f32x4.mul(v2, v128.load(sc, 32)), v128.load(sf, 32));
          v3 = f32x4.add(f32x4.mul(v3, v128.load(sc, 48)), v128.load(sf, 48));
        } else {
          // 0 < v ? v : 0, as the relu v > 0 ? v : 0
          v0 = f32x4.pmax(zero, v0);
          v1 = f32x4.pmax(zero, v1);
          v2 = f32x4.pmax(zero, v2);
          v3 = f32x4.pmax(zero, v3);
        }
      }
    }
    const p0 = f32x4.ge(v0, pos), p1 = f32x4.ge(v1, pos), p2 = f32x4.ge(v2, pos), p3 = f32x4.ge(v3, pos);
    let n0: v128, n1: v128, n2: v128, n3: v128;
    if (qSign) {
      n0 = v128.not(p0);
      n1 = v128.not(p1);
      n2 = v128.not(p2);
      n3 = v128.not(p3);
    } else {
      n0 = v128.andnot(f32x4.le(v0, neg), p0);
      n1 = v128.andnot(f32x4.le(v1, neg), p1);
      n2 = v128.andnot(f32x4.le(v2, neg), p2);
      n3 = v128.andnot(f32x4.le(v3, neg), p3);
    }
    nzBits |= <u64><u32>i8x16.bitmask(narrow4(v128.or(p0, n0), v128.or(p1, n1), v128.or(p2, n2), v128.or(p3, n3))) << <u64>s;
    negBits |= <u64><u32>i8x16.bitmask(narrow4(n0, n1, n2, n3)) << <u64>s;
  }
  gNz = nzBits;
  gNeg = negBits;
}

/**
 * Quantizes `rows` rows of k f32 values at `x` (channel = index in the row) with the current
 * quantizer and packs them at `dst`. When k divides 64 (k < 64), the values are taken as one
 * stream, 64 at a time (64/k rows per step, the affines' vectors tiled to 64 lanes by the
 * caller); otherwise row by row, a group at a time (the vectors padded with zeros to whole
 * groups). With `stream` (and k dividing 64), the rows are packed as one stream of rows·k lanes
 * instead, 64 to a group, as the rows of a k that is a multiple of 64 are anyway. The last step
 * reads up to 63 values past the end (`packSlack()` bytes): those lanes are masked off.
 */
export function quantPack(x: usize, rows: i32, k: i32, dst: usize, stream: i32): void {
  // each call below is specialised for its constant mode when inlined
  if (qMode == MODE_NONE) packWith(x, rows, k, dst, stream, MODE_NONE);
  else if (qMode == MODE_AFFINE) packWith(x, rows, k, dst, stream, MODE_AFFINE);
  else if (qMode == MODE_AFFINE_RELU_AFFINE) packWith(x, rows, k, dst, stream, MODE_AFFINE_RELU_AFFINE);
  else packWith(x, rows, k, dst, stream, MODE_TABLE);
}

@inline
function packWith(x: usize, rows: i32, k: i32, dst: usize, stream: i32, mode: i32): void {
  let d = dst;
  if (k < 64 && 64 % k == 0 && stream != 0) {
    // one packed stream of rows·k lanes, 64 to a group (what `im2colStream` reads)
    const total = rows * k;
    for (let c = 0; c < total; c += 64, d += 16) {
      codes64(x + (<usize>c << 2), 0, mode);
      const valid = validLanes(total, c);
      store<u64>(d, gNz & valid);
      store<u64>(d, gNeg & valid, 8);
    }
    return;
  }
  if (k < 64 && 64 % k == 0) {
    const total = rows * k;
    const mask: u64 = (<u64>1 << <u64>k) - 1;
    for (let c = 0; c < total; c += 64) {
      codes64(x + (<usize>c << 2), 0, mode);
      const valid = validLanes(total, c);
      const nz = gNz & valid;
      const ng = gNeg & valid;
      const cnt = min(64, total - c) / k;
      for (let t = 0; t < cnt; t++, d += 16) {
        const sh = <u64>(t * k);
        store<u64>(d, (nz >> sh) & mask);
        store<u64>(d, (ng >> sh) & mask, 8);
      }
    }
    return;
  }
  for (let r = 0; r < rows; r++) {
    const row = x + ((<usize>r * <usize>k) << 2);
    for (let j = 0; j < k; j += 64, d += 16) {
      codes64(row + (<usize>j << 2), <usize>j << 2, mode);
      const valid = validLanes(k, j);
      store<u64>(d, gNz & valid);
      store<u64>(d, gNeg & valid, 8);
    }
  }
}
