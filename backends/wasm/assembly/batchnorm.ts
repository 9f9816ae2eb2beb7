/**
 * The wasm backend's fused batch-norm passes (src/layers/batch-norm.ts), over x viewed as [m, c]
 * (channels last, rows of c float32) with per-channel vectors of c float32:
 * - `bnMoments`: Σᵢ x and Σᵢ x² per channel in one pass;
 * - `bnAffine`: y = x·a + b;
 * - `bnGradMoments`: Σᵢ dy and Σᵢ dy·x per channel in one pass;
 * - `bnGradAffine`: dx = (dy·g + x·k) + d.
 * Each is the composition of the element-wise kernels (./elementwise.ts) it replaces, bit for bit:
 * every channel's sum is one float64 chain over the rows in memory order, as `reduce` folds a
 * strided axis (x² and dy·x: x promoted then squared in float64 as `sumSquares` does; dy·x
 * rounded to float32 first, as `binary('mul')` then `reduce('sum')` does), rounded once to
 * float32; every map rounds each product and each sum to float32 in turn, with no fused
 * multiply-add (this file is built without relaxed SIMD's madd in every build).
 *
 * Threads (`bnPart`): the sums split by channels, the maps by whole rows, never along a sum, so
 * any split gives the same bits.
 *
 * Law (laws/fused-batchnorm.test.ts): the fused layer equals the composed one bit for bit.
 */

// ---- per-channel sums, float64 chains in row order ---------------------------------------------

/**
 * Channels [c0, c1) of both sums. `prod` 0: s1 = Σ x, s2 = Σ x² (x = in0); 1: s1 = Σ in0,
 * s2 = Σ f32(in0·in1). Blocks of 8 channels keep their accumulators in registers over all the
 * rows; the rest go through `acc` (two float64 per channel, at acc + 16·channel).
 */
@inline
function sumsOp(prod: i32, s1: usize, s2: usize, in0: usize, in1: usize, m: i32, c: i32, c0: i32, c1: i32, acc: usize): void {
  const row = <usize>c << 2;
  const zero = f64x2.splat(0);
  let j = c0;
  for (; j + 8 <= c1; j += 8) {
    let a0 = zero;
    let a1 = zero;
    let a2 = zero;
    let a3 = zero;
    let b0 = zero;
    let b1 = zero;
    let b2 = zero;
    let b3 = zero;
    let p = in0 + (<usize>j << 2);
    let q = in1 + (<usize>j << 2);
    for (let i = 0; i < m; i++) {
      const x0 = v128.load(p);
      const x1 = v128.load(p, 16);
      let w0: v128;
      let w1: v128;
      if (prod) {
        w0 = f32x4.mul(x0, v128.load(q));
        w1 = f32x4.mul(x1, v128.load(q, 16));
      } else {
        w0 = x0;
        w1 = x1;
      }
      const l0 = f64x2.promote_low_f32x4(x0);
      const h0 = f64x2.promote_low_f32x4(i32x4.shuffle(x0, x0, 2, 3, 0, 1));
      const l1 = f64x2.promote_low_f32x4(x1);
      const h1 = f64x2.promote_low_f32x4(i32x4.shuffle(x1, x1, 2, 3, 0, 1));
      a0 = f64x2.add(a0, l0);
      a1 = f64x2.add(a1, h0);
      a2 = f64x2.add(a2, l1);
      a3 = f64x2.add(a3, h1);
      if (prod) {
        b0 = f64x2.add(b0, f64x2.promote_low_f32x4(w0));
        b1 = f64x2.add(b1, f64x2.promote_low_f32x4(i32x4.shuffle(w0, w0, 2, 3, 0, 1)));
        b2 = f64x2.add(b2, f64x2.promote_low_f32x4(w1));
        b3 = f64x2.add(b3, f64x2.promote_low_f32x4(i32x4.shuffle(w1, w1, 2, 3, 0, 1)));
      } else {
        b0 = f64x2.add(b0, f64x2.mul(l0, l0));
        b1 = f64x2.add(b1, f64x2.mul(h0, h0));
        b2 = f64x2.add(b2, f64x2.mul(l1, l1));
        b3 = f64x2.add(b3, f64x2.mul(h1, h1));
      }
      p += row;
      q += row;
    }
    const o1 = s1 + (<usize>j << 2);
    const o2 = s2 + (<usize>j << 2);
    v128.store(o1, i64x2.shuffle(f32x4.demote_f64x2_zero(a0), f32x4.demote_f64x2_zero(a1), 0, 2));
    v128.store(o1, i64x2.shuffle(f32x4.demote_f64x2_zero(a2), f32x4.demote_f64x2_zero(a3), 0, 2), 16);
    v128.store(o2, i64x2.shuffle(f32x4.demote_f64x2_zero(b0), f32x4.demote_f64x2_zero(b1), 0, 2));
    v128.store(o2, i64x2.shuffle(f32x4.demote_f64x2_zero(b2), f32x4.demote_f64x2_zero(b3), 0, 2), 16);
  }
  if (j >= c1) return;
  const r0 = j;
  for (let k = r0; k < c1; k++) {
    store<f64>(acc + (<usize>k << 4), 0);
    store<f64>(acc + (<usize>k << 4), 0, 8);
  }
  let p = in0;
  let q = in1;
  for (let i = 0; i < m; i++) {
    for (let k = r0; k < c1; k++) {
      const o = <usize>k << 2;
      const x = load<f32>(p + o);
      const v = <f64>x;
      const ap = acc + (<usize>k << 4);
      store<f64>(ap, load<f64>(ap) + v);
      if (prod) store<f64>(ap, load<f64>(ap, 8) + <f64>(x * load<f32>(q + o)), 8);
      else store<f64>(ap, load<f64>(ap, 8) + v * v, 8);
    }
    p += row;
    q += row;
  }
  for (let k = r0; k < c1; k++) {
    store<f32>(s1 + (<usize>k << 2), <f32>load<f64>(acc + (<usize>k << 4)));
    store<f32>(s2 + (<usize>k << 2), <f32>load<f64>(acc + (<usize>k << 4), 8));
  }
}

/**
 * s1 = Σᵢ x[i, ·], s2 = Σᵢ x[i, ·]² (each `reduce(sum | sumSquares)` over axis 0), channels
 * [c0, c1); `acc` holds 16 bytes per channel.
 */
export function bnMoments(s1: usize, s2: usize, x: usize, m: i32, c: i32, c0: i32, c1: i32, acc: usize): void {
  sumsOp(0, s1, s2, x, x, m, c, c0, c1, acc);
}

/** s1 = Σᵢ dy[i, ·], s2 = Σᵢ f32(dy·x)[i, ·], channels [c0, c1); `acc` as bnMoments'. */
export function bnGradMoments(s1: usize, s2: usize, dy: usize, x: usize, m: i32, c: i32, c0: i32, c1: i32, acc: usize): void {
  sumsOp(1, s1, s2, dy, x, m, c, c0, c1, acc);
}

// ---- per-element maps, float32 ----------------------------------------------------------------

/** Rows [r0, r1) of y = x·a + b (the product rounded to float32, then the sum). */
export function bnAffine(y: usize, x: usize, a: usize, b: usize, c: i32, r0: i32, r1: i32): void {
  const row = <usize>c << 2;
  let py = y + <usize>r0 * row;
  let px = x + <usize>r0 * row;
  for (let i = r0; i < r1; i++) {
    let j = 0;
    for (; j + 4 <= c; j += 4) {
      const o = <usize>j << 2;
      v128.store(py + o, f32x4.add(f32x4.mul(v128.load(px + o), v128.load(a + o)), v128.load(b + o)));
    }
    for (; j < c; j++) {
      const o = <usize>j << 2;
      store<f32>(py + o, load<f32>(px + o) * load<f32>(a + o) + load<f32>(b + o));
    }
    py += row;
    px += row;
  }
}

/** Rows [r0, r1) of dx = (dy·g + x·k) + d, each product and sum rounded to float32 in that order. */
export function bnGradAffine(dx: usize, dy: usize, x: usize, g: usize, k: usize, d: usize, c: i32, r0: i32, r1: i32): void {
  const row = <usize>c << 2;
  const start = <usize>r0 * row;
  let pdx = dx + start;
  let pdy = dy + start;
  let px = x + start;
  for (let i = r0; i < r1; i++) {
    let j = 0;
    for (; j + 4 <= c; j += 4) {
      const o = <usize>j << 2;
      const u = f32x4.mul(v128.load(pdy + o), v128.load(g + o));
      const v = f32x4.mul(v128.load(px + o), v128.load(k + o));
      v128.store(pdx + o, f32x4.add(f32x4.add(u, v), v128.load(d + o)));
    }
    for (; j < c; j++) {
      const o = <usize>j << 2;
      const u = load<f32>(pdy + o) * load<f32>(g + o);
      const v = load<f32>(px + o) * load<f32>(k + o);
      store<f32>(pdx + o, u + v + load<f32>(d + o));
    }
    pdx += row;
    pdy += row;
    px += row;
  }
}

// ---- split over threads -------------------------------------------------------------------------

/** Start of part `part` of `parts` over [0, n), a multiple of `align` (n past the last part). */
@inline
function partStart(n: i32, part: i32, parts: i32, align: i32): i32 {
  if (part <= 0) return 0;
  if (part >= parts) return n;
  return <i32>((<i64>n * <i64>part) / <i64>parts) & ~(align - 1);
}

/**
 * Part `part` of `parts` of the pass described at `desc` (written by backends/wasm/batchnorm.ts):
 * i32 kind (0 moments, 1 affine, 2 grad moments, 3 grad affine), out, out2, in0, in1, v0, v1, v2,
 * m, c, acc. The sums split by channels (in blocks of 8 where there are enough), the maps by rows.
 */
export function bnPart(desc: usize, part: i32, parts: i32): void {
  const kind = load<i32>(desc);
  const out = <usize>load<i32>(desc, 4);
  const out2 = <usize>load<i32>(desc, 8);
  const in0 = <usize>load<i32>(desc, 12);
  const in1 = <usize>load<i32>(desc, 16);
  const v0 = <usize>load<i32>(desc, 20);
  const v1 = <usize>load<i32>(desc, 24);
  const v2 = <usize>load<i32>(desc, 28);
  const m = load<i32>(desc, 32);
  const c = load<i32>(desc, 36);
  const acc = <usize>load<i32>(desc, 40);
  if (kind == 0 || kind == 2) {
    const align = c >= 8 * parts ? 8 : 1;
    const lo = partStart(c, part, parts, align);
    const hi = partStart(c, part + 1, parts, align);
    if (hi <= lo) return;
    if (kind == 0) bnMoments(out, out2, in0, m, c, lo, hi, acc);
    else bnGradMoments(out, out2, in0, in1, m, c, lo, hi, acc);
    return;
  }
  const lo = partStart(m, part, parts, 1);
  const hi = partStart(m, part + 1, parts, 1);
  if (hi <= lo) return;
  if (kind == 1) bnAffine(out, in0, v0, v1, c, lo, hi);
  else bnGradAffine(out, in0, in1, v0, v1, v2, c, lo, hi);
}
