/**
 * The wasm backend's element-wise kernels: maps, broadcasts, axpy, select and reductions over
 * float32 arrays in linear memory, with WebAssembly SIMD.
 *
 * Each computes exactly what the cpu backend's float32 loop computes (backends/cpu.ts), element
 * for element, not merely something close:
 * - operations on two float32 values (add, sub, mul, div, max, min, gt, select, neg, abs, sign,
 *   square, sqrt, relu, step, reciprocal) are correctly rounded in float32 (f32x4), which equals
 *   the JS loop's double computation rounded once to float32 (double rounding is harmless for
 *   +, −, ×, ÷ and √ of float32 operands);
 * - operations with a double scalar (every `scalar` op, axpy, rsqrt) run in float64 (f64x2) and
 *   are rounded to float32 at the store, as the JS loop does, so a threshold like
 *   `x > 0.7·mean|W|` compares against the double, not a float32 rounding of it;
 * - reductions accumulate in float64; along a strided axis (inner > 1) in the JS loop's order,
 *   so bit-identical; sums along a contiguous run (inner = 1) in two interleaved partial sums,
 *   which differ from the sequential sum by float64 rounding only, far below float32's.
 * NaN behaves as in the cpu backend: `relu` and the `max`/`min` maps are Math.max / Math.min and
 * propagate it, `step`/`gt`/`lt` send it to 0, reductions' `max` keeps it once seen.
 *
 * Op codes are the indices of the op lists in backends/wasm.ts (UNARY_CODES, SCALAR_CODES,
 * BINARY_CODES, REDUCE_CODES); both sides must change together.
 *
 * Law (laws/backend-agreement.test.ts): every op agrees with the cpu float64 reference within
 * float32 tolerance, and laws/wasm-elementwise.test.ts checks it against cpu32 bit for bit.
 */

// ---- binary: a op b, b the same shape, a scalar, or broadcast along one axis ----------------

@inline
function bin4(op: i32, a: v128, b: v128): v128 {
  switch (op) {
    case 0: return f32x4.add(a, b);
    case 1: return f32x4.sub(a, b);
    case 2: return f32x4.mul(a, b);
    case 3: return f32x4.div(a, b);
    case 4: return f32x4.max(a, b);
    case 5: return f32x4.min(a, b);
    default: return v128.and(f32x4.gt(a, b), f32x4.splat(1));
  }
}

@inline
function bin1(op: i32, a: f32, b: f32): f32 {
  switch (op) {
    case 0: return a + b;
    case 1: return a - b;
    case 2: return a * b;
    case 3: return a / b;
    case 4: return max<f32>(a, b);
    case 5: return min<f32>(a, b);
    default: return a > b ? 1 : 0;
  }
}

/** y[i] = a[i] op bv (a splatted scalar) for n elements. */
@inline
function binSplat(op: i32, y: usize, a: usize, b: f32, n: i32): void {
  const bv = f32x4.splat(b);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, bin4(op, v128.load(a + o), bv));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, bin1(op, load<f32>(a + o), b));
  }
}

/** y[i] = a[i] op b[i] for n elements. */
@inline
function binSame(op: i32, y: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, bin4(op, v128.load(a + o), v128.load(b + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, bin1(op, load<f32>(a + o), load<f32>(b + o)));
  }
}

@inline
function binaryOp(op: i32, same: i32, y: usize, a: usize, b: usize, outer: i32, len: i32, inner: i32): void {
  if (same) {
    binSame(op, y, a, b, outer * len * inner);
  } else if (len == 1) {
    binSplat(op, y, a, load<f32>(b), outer * inner);
  } else if (inner == 1) {
    // broadcast along the last axis (a bias over channels): each row of len meets all of b
    const row = <usize>len << 2;
    for (let o = 0; o < outer; o++) binSame(op, y + <usize>o * row, a + <usize>o * row, b, len);
  } else {
    const run = <usize>inner << 2;
    let p: usize = 0;
    for (let o = 0; o < outer; o++) {
      for (let l = 0; l < len; l++) {
        binSplat(op, y + p, a + p, load<f32>(b + (<usize>l << 2)), inner);
        p += run;
      }
    }
  }
}

/**
 * `y = a op b`: op 0 add, 1 sub, 2 mul, 3 div, 4 max, 5 min, 6 gt (1[a > b]). `same` 1: b has a's
 * size; else b is broadcast as [len] over a viewed as [outer, len, inner] (len 1: a scalar).
 */
export function binary(op: i32, same: i32, y: usize, a: usize, b: usize, outer: i32, len: i32, inner: i32): void {
  switch (op) {
    case 0: binaryOp(0, same, y, a, b, outer, len, inner); break;
    case 1: binaryOp(1, same, y, a, b, outer, len, inner); break;
    case 2: binaryOp(2, same, y, a, b, outer, len, inner); break;
    case 3: binaryOp(3, same, y, a, b, outer, len, inner); break;
    case 4: binaryOp(4, same, y, a, b, outer, len, inner); break;
    case 5: binaryOp(5, same, y, a, b, outer, len, inner); break;
    default: binaryOp(6, same, y, a, b, outer, len, inner); break;
  }
}

// ---- unary maps in float32 ----------------------------------------------------------------

@inline
function un4(op: i32, x: v128): v128 {
  const one = f32x4.splat(1);
  switch (op) {
    case 0: return f32x4.neg(x);
    case 1: return f32x4.abs(x);
    case 2: {
      // x ≥ 0 → +1, x < 0 → −1, NaN → NaN
      const nan = f32x4.splat(NaN);
      return v128.bitselect(one, v128.bitselect(f32x4.splat(-1), nan, f32x4.lt(x, f32x4.splat(0))), f32x4.ge(x, f32x4.splat(0)));
    }
    case 3: return f32x4.mul(x, x);
    case 4: return f32x4.sqrt(x);
    case 5: return f32x4.max(x, f32x4.splat(0)); // Math.max(x, 0): NaN stays NaN
    case 6: return v128.and(one, f32x4.gt(x, f32x4.splat(0)));
    default: return f32x4.div(one, x);
  }
}

@inline
function un1(op: i32, x: f32): f32 {
  switch (op) {
    case 0: return -x;
    case 1: return abs<f32>(x);
    case 2: return x >= 0 ? 1 : x < 0 ? -1 : NaN;
    case 3: return x * x;
    case 4: return sqrt<f32>(x);
    case 5: return max<f32>(x, 0);
    case 6: return x > 0 ? 1 : 0;
    default: return <f32>1 / x;
  }
}

@inline
function unaryOp(op: i32, y: usize, x: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, un4(op, v128.load(x + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, un1(op, load<f32>(x + o)));
  }
}

/** `y = f(x)`: 0 neg, 1 abs, 2 sign, 3 square, 4 sqrt, 5 relu, 6 step, 7 reciprocal, 8 rsqrt. */
export function unary(op: i32, y: usize, x: usize, n: i32): void {
  switch (op) {
    case 0: unaryOp(0, y, x, n); break;
    case 1: unaryOp(1, y, x, n); break;
    case 2: unaryOp(2, y, x, n); break;
    case 3: unaryOp(3, y, x, n); break;
    case 4: unaryOp(4, y, x, n); break;
    case 5: unaryOp(5, y, x, n); break;
    case 6: unaryOp(6, y, x, n); break;
    case 7: unaryOp(7, y, x, n); break;
    default: scalarOp(10, y, x, 0, n); break;
  }
}

// ---- maps with a double scalar, in float64 ---------------------------------------------------

@inline
function sc2(op: i32, x: v128, s: v128): v128 {
  const one = f64x2.splat(1);
  switch (op) {
    case 0: return f64x2.add(x, s);
    case 1: return f64x2.mul(x, s);
    case 2: return f64x2.max(x, s); // Math.max(x, s)
    case 3: return f64x2.min(x, s); // Math.min(x, s)
    case 4: {
      // x > s ? s : x < −s ? −s : x
      const ns = f64x2.neg(s);
      return v128.bitselect(s, v128.bitselect(ns, x, f64x2.lt(x, ns)), f64x2.gt(x, s));
    }
    case 5: return v128.and(one, f64x2.gt(x, s));
    case 6: return v128.and(one, f64x2.lt(x, s));
    case 7: return v128.and(one, f64x2.le(f64x2.abs(x), s));
    case 8: {
      // x > s ? 1 : x < −s ? −1 : 0
      const neg = v128.and(f64x2.splat(-1), f64x2.lt(x, f64x2.neg(s)));
      return v128.bitselect(one, neg, f64x2.gt(x, s));
    }
    case 9: {
      // x ≥ s ? 1 : x < −s ? −1 : 0
      const neg = v128.and(f64x2.splat(-1), f64x2.lt(x, f64x2.neg(s)));
      return v128.bitselect(one, neg, f64x2.ge(x, s));
    }
    default: return f64x2.div(one, f64x2.sqrt(x)); // rsqrt: 1 / √x
  }
}

@inline
function sc1(op: i32, x: f64, s: f64): f64 {
  switch (op) {
    case 0: return x + s;
    case 1: return x * s;
    case 2: return max<f64>(x, s);
    case 3: return min<f64>(x, s);
    case 4: return x > s ? s : x < -s ? -s : x;
    case 5: return x > s ? 1 : 0;
    case 6: return x < s ? 1 : 0;
    case 7: return abs<f64>(x) <= s ? 1 : 0;
    case 8: return x > s ? 1 : x < -s ? -1 : 0;
    case 9: return x >= s ? 1 : x < -s ? -1 : 0;
    default: return 1 / sqrt<f64>(x);
  }
}

@inline
function scalarOp(op: i32, y: usize, x: usize, s: f64, n: i32): void {
  const sv = f64x2.splat(s);
  let i = 0;
  for (; i + 2 <= n; i += 2) {
    const o = <usize>i << 2;
    const r = sc2(op, f64x2.promote_low_f32x4(v128.load64_zero(x + o)), sv);
    v128.store64_lane(y + o, f32x4.demote_f64x2_zero(r), 0);
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, <f32>sc1(op, <f64>load<f32>(x + o), s));
  }
}

/**
 * `y = f(x, s)` in float64: 0 add, 1 mul, 2 max, 3 min, 4 clamp, 5 gt, 6 lt, 7 window,
 * 8 ternarize, 9 ternarizeOfficial (see src/backend.ts for their definitions).
 */
export function scalar(op: i32, y: usize, x: usize, s: f64, n: i32): void {
  switch (op) {
    case 0: scalarOp(0, y, x, s, n); break;
    case 1: scalarOp(1, y, x, s, n); break;
    case 2: scalarOp(2, y, x, s, n); break;
    case 3: scalarOp(3, y, x, s, n); break;
    case 4: scalarOp(4, y, x, s, n); break;
    case 5: scalarOp(5, y, x, s, n); break;
    case 6: scalarOp(6, y, x, s, n); break;
    case 7: scalarOp(7, y, x, s, n); break;
    case 8: scalarOp(8, y, x, s, n); break;
    default: scalarOp(9, y, x, s, n); break;
  }
}

/** `y = a + s·b` in float64, rounded once to float32. */
export function axpy(y: usize, a: usize, s: f64, b: usize, n: i32): void {
  const sv = f64x2.splat(s);
  let i = 0;
  for (; i + 2 <= n; i += 2) {
    const o = <usize>i << 2;
    const av = f64x2.promote_low_f32x4(v128.load64_zero(a + o));
    const bv = f64x2.promote_low_f32x4(v128.load64_zero(b + o));
    v128.store64_lane(y + o, f32x4.demote_f64x2_zero(f64x2.add(av, f64x2.mul(sv, bv))), 0);
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, <f32>(<f64>load<f32>(a + o) + s * <f64>load<f32>(b + o)));
  }
}

/** `y = c ≠ 0 ? a : b` (NaN ≠ 0, −0 = 0). */
export function select(y: usize, c: usize, a: usize, b: usize, n: i32): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, v128.bitselect(v128.load(a + o), v128.load(b + o), f32x4.ne(v128.load(c + o), zero)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(c + o) != 0 ? load<f32>(a + o) : load<f32>(b + o));
  }
}

// ---- the maps split over threads ------------------------------------------------------------

/** Start of part `part` of `parts` over [0, n): a multiple of `align`, 0 for the first part, n past the last. */
@inline
export function partStart(n: i32, part: i32, parts: i32, align: i32): i32 {
  if (part <= 0) return 0;
  if (part >= parts) return n;
  return <i32>((<i64>n * <i64>part) / <i64>parts) & ~(align - 1);
}

/**
 * Part `part` of `parts` of one map described at `desc` (written by backends/wasm.ts): i32 kind
 * (0 unary, 1 scalar, 2 binary, 3 axpy, 4 select), op, same, y, a, b, c, outer, len, inner, then
 * f64 s at byte 40. A map splits into runs of whole elements (starting at multiples of 16, so
 * every element takes the SIMD or scalar path it takes unsplit), a broadcast binary into whole
 * rows of `outer`: each element is computed as on one thread, so the result is the same bits.
 * For unary, scalar, axpy and select, `outer` holds the element count; select's c, a, b are
 * a, b, c here. Kind 5 is a reduction (`reduce`: op, y, x in a, its float64 work area in b,
 * outer, len, inner), split never along its sum: contiguous runs (inner 1) by whole rows of
 * `outer`, strided ones by columns of `inner` (each column's float64 accumulator is its own,
 * folded over the rows in memory order as on one thread), so each output is the same bits.
 */
export function mapPart(desc: usize, part: i32, parts: i32): void {
  const kind = load<i32>(desc);
  const op = load<i32>(desc, 4);
  const same = load<i32>(desc, 8);
  const y = <usize>load<i32>(desc, 12);
  const a = <usize>load<i32>(desc, 16);
  const b = <usize>load<i32>(desc, 20);
  const c = <usize>load<i32>(desc, 24);
  const outer = load<i32>(desc, 28);
  const len = load<i32>(desc, 32);
  const inner = load<i32>(desc, 36);
  const s = load<f64>(desc, 40);
  if (kind == 5) {
    if (inner == 1) {
      const lo = partStart(outer, part, parts, 1);
      const hi = partStart(outer, part + 1, parts, 1);
      if (hi > lo) reduce(op, y + (<usize>lo << 2), a + (<usize>(<i64>lo * <i64>len) << 2), hi - lo, len, 1, b);
    } else {
      const lo = partStart(inner, part, parts, 2);
      const hi = partStart(inner, part + 1, parts, 2);
      if (hi > lo) reduceColumns(op, y, a, outer, len, inner, lo, hi, b);
    }
    return;
  }
  if (kind == 2 && !same && len != 1) {
    const lo = partStart(outer, part, parts, 1);
    const hi = partStart(outer, part + 1, parts, 1);
    if (hi <= lo) return;
    const row = <usize>(<i64>lo * <i64>len * <i64>inner) << 2;
    binary(op, 0, y + row, a + row, b, hi - lo, len, inner);
    return;
  }
  const n = kind == 2 ? outer * len * inner : outer;
  const lo = partStart(n, part, parts, 16);
  const hi = partStart(n, part + 1, parts, 16);
  if (hi <= lo) return;
  const o = <usize>lo << 2;
  const k = hi - lo;
  switch (kind) {
    case 0: unary(op, y + o, a + o, k); break;
    case 1: scalar(op, y + o, a + o, s, k); break;
    case 2:
      if (same) binary(op, 1, y + o, a + o, b + o, 1, k, 1);
      else binary(op, 0, y + o, a + o, b, k, 1, 1);
      break;
    case 3: axpy(y + o, a + o, s, b + o, k); break;
    default: select(y + o, a + o, b + o, c + o, k); break;
  }
}

// ---- reductions, accumulated in float64 ---------------------------------------------------

@inline
function fold2(op: i32, acc: v128, v: v128): v128 {
  switch (op) {
    case 0: return f64x2.add(acc, v);
    case 1: return f64x2.add(acc, f64x2.abs(v));
    case 2: return f64x2.add(acc, f64x2.mul(v, v));
    case 3: return v128.bitselect(v, acc, v128.or(f64x2.gt(v, acc), f64x2.ne(v, v)));
    default: {
      const a = f64x2.abs(v);
      return v128.bitselect(a, acc, v128.or(f64x2.gt(a, acc), f64x2.ne(v, v)));
    }
  }
}

@inline
function fold1(op: i32, acc: f64, v: f64): f64 {
  switch (op) {
    case 0: return acc + v;
    case 1: return acc + abs<f64>(v);
    case 2: return acc + v * v;
    case 3: return v > acc || v != v ? v : acc;
    default: return abs<f64>(v) > acc || v != v ? abs<f64>(v) : acc;
  }
}

@inline
function reduceOp(op: i32, y: usize, x: usize, outer: i32, len: i32, inner: i32, acc: usize): void {
  const init: f64 = op >= 3 ? -Infinity : 0;
  const initv = f64x2.splat(init);
  const ir = <usize>inner << 2;
  let p = x;
  for (let o = 0; o < outer; o++) {
    const yo = y + <usize>o * ir;
    if (inner == 1) {
      // a contiguous run: sums in two interleaved accumulators, combined at the end; max in
      // order (splitting it could turn a tie of +0 and −0 into the other zero)
      let r: f64 = init;
      let j = 0;
      if (op < 3) {
        let a = initv;
        for (; j + 2 <= len; j += 2) a = fold2(op, a, f64x2.promote_low_f32x4(v128.load64_zero(p + (<usize>j << 2))));
        r = f64x2.extract_lane(a, 0) + f64x2.extract_lane(a, 1);
      }
      for (; j < len; j++) r = fold1(op, r, <f64>load<f32>(p + (<usize>j << 2)));
      store<f32>(yo, <f32>r);
      p += <usize>len << 2;
      continue;
    }
    stridedRow(op, yo, p, len, inner, 0, inner, acc);
    p += <usize>len * ir;
  }
}

/**
 * Columns [c0, c1) of one strided row block (x: len rows of `inner`) into yo: one float64
 * accumulator per column, the rows folded in memory order: blocks of 8 columns in registers, the
 * rest at acc + 8·column. A column's result does not depend on c0, c1 or the block (the two-lane
 * fold is the one-lane fold per lane).
 */
@inline
function stridedRow(op: i32, yo: usize, x: usize, len: i32, inner: i32, c0: i32, c1: i32, acc: usize): void {
  const init: f64 = op >= 3 ? -Infinity : 0;
  const initv = f64x2.splat(init);
  const ir = <usize>inner << 2;
  let i = c0;
  // blocks of 8 columns, their accumulators in locals (registers) over all the rows
  for (; i + 8 <= c1; i += 8) {
    let a0 = initv;
    let a1 = initv;
    let a2 = initv;
    let a3 = initv;
    let q = x + (<usize>i << 2);
    for (let j = 0; j < len; j++) {
      a0 = fold2(op, a0, f64x2.promote_low_f32x4(v128.load64_zero(q)));
      a1 = fold2(op, a1, f64x2.promote_low_f32x4(v128.load64_zero(q, 8)));
      a2 = fold2(op, a2, f64x2.promote_low_f32x4(v128.load64_zero(q, 16)));
      a3 = fold2(op, a3, f64x2.promote_low_f32x4(v128.load64_zero(q, 24)));
      q += ir;
    }
    const yi = yo + (<usize>i << 2);
    store<f32>(yi, <f32>f64x2.extract_lane(a0, 0));
    store<f32>(yi, <f32>f64x2.extract_lane(a0, 1), 4);
    store<f32>(yi, <f32>f64x2.extract_lane(a1, 0), 8);
    store<f32>(yi, <f32>f64x2.extract_lane(a1, 1), 12);
    store<f32>(yi, <f32>f64x2.extract_lane(a2, 0), 16);
    store<f32>(yi, <f32>f64x2.extract_lane(a2, 1), 20);
    store<f32>(yi, <f32>f64x2.extract_lane(a3, 0), 24);
    store<f32>(yi, <f32>f64x2.extract_lane(a3, 1), 28);
  }
  if (i >= c1) return;
  c0 = i;
  let p = x;
  for (; i < c1; i++) store<f64>(acc + (<usize>i << 3), init);
  for (let j = 0; j < len; j++) {
    i = c0;
    for (; i + 2 <= c1; i += 2) {
      const ap = acc + (<usize>i << 3);
      v128.store(ap, fold2(op, v128.load(ap), f64x2.promote_low_f32x4(v128.load64_zero(p + (<usize>i << 2)))));
    }
    for (; i < c1; i++) {
      const ap = acc + (<usize>i << 3);
      store<f64>(ap, fold1(op, load<f64>(ap), <f64>load<f32>(p + (<usize>i << 2))));
    }
    p += ir;
  }
  for (i = c0; i < c1; i++) store<f32>(yo + (<usize>i << 2), <f32>load<f64>(acc + (<usize>i << 3)));
}

@inline
function reduceColumnsOp(op: i32, y: usize, x: usize, outer: i32, len: i32, inner: i32, c0: i32, c1: i32, acc: usize): void {
  const block = <usize>len * (<usize>inner << 2);
  for (let o = 0; o < outer; o++) stridedRow(op, y + <usize>o * (<usize>inner << 2), x + <usize>o * block, len, inner, c0, c1, acc);
}

/** Columns [c0, c1) of `reduce` with inner > 1 (a part of a split reduction; `acc` as reduce's). */
function reduceColumns(op: i32, y: usize, x: usize, outer: i32, len: i32, inner: i32, c0: i32, c1: i32, acc: usize): void {
  switch (op) {
    case 0: reduceColumnsOp(0, y, x, outer, len, inner, c0, c1, acc); break;
    case 1: reduceColumnsOp(1, y, x, outer, len, inner, c0, c1, acc); break;
    case 2: reduceColumnsOp(2, y, x, outer, len, inner, c0, c1, acc); break;
    case 3: reduceColumnsOp(3, y, x, outer, len, inner, c0, c1, acc); break;
    default: reduceColumnsOp(4, y, x, outer, len, inner, c0, c1, acc); break;
  }
}

/**
 * Reduce x viewed as [outer, len, inner] over len into y [outer, inner]: 0 sum, 1 sumAbs,
 * 2 sumSquares, 3 max, 4 maxAbs. `acc` is a work area of inner float64s.
 */
export function reduce(op: i32, y: usize, x: usize, outer: i32, len: i32, inner: i32, acc: usize): void {
  switch (op) {
    case 0: reduceOp(0, y, x, outer, len, inner, acc); break;
    case 1: reduceOp(1, y, x, outer, len, inner, acc); break;
    case 2: reduceOp(2, y, x, outer, len, inner, acc); break;
    case 3: reduceOp(3, y, x, outer, len, inner, acc); break;
    default: reduceOp(4, y, x, outer, len, inner, acc); break;
  }
}
