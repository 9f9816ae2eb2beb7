/**
 * The wasm backend's fused batch-norm passes (src/layers/batch-norm.ts), over x viewed as [m, c]
 * (channels last, rows of c float32) with per-channel vectors of c float32:
 * - `bnMoments`: Σᵢ x and Σᵢ x² per channel in one pass;
 * - `bnAffine`: y = x·a + b;
 * - `bnGradMoments`: Σᵢ dy and Σᵢ dy·x per channel in one pass;
 * - `bnGradAffine`: dx = (dy·g + x·k) + d.
 * - `bnAffineRelu`, `bnGradMomentsRelu`, `bnGradAffineRelu`: a batchNorm → relu pair (src/models/
 *   fuse.ts): relu applied to y as it is written; dy multiplied by step(y) as it is read.
 * - `bnMomentsOfRelu`, `bnAffineOfRelu`, `bnGradMomentsOfRelu`, `bnGradAffineOfRelu`: a relu →
 *   batchNorm pair: the batch norm reads relu(z) as it reads z (the same chains in the same order),
 *   and its dx is multiplied by step(z), the relu's gradient, as it is written.
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

/**
 * `unary('relu')`'s f32x4.max(x, 0) as pmax(x, 0) + 0: pmax (x < 0 ? 0 : x, one instruction where
 * max is several, for its NaN and ±0 rules) keeps NaN and −0, and adding +0 turns −0 into +0 and
 * leaves every other value as it is, so each lane gets max's value (NaN for NaN; a NaN's payload
 * may differ from what V8's max gives, which no law of values, Object.is included, tells apart).
 */
@inline
export function relu4(x: v128): v128 {
  const zero = f32x4.splat(0);
  return f32x4.add(f32x4.pmax(x, zero), zero);
}

// ---- per-channel sums, float64 chains in row order ---------------------------------------------

/** Bytes of one operand's rows that a chunk of rows spans, at most (they stay in L1 over its channel blocks). */
const CHUNK_BYTES = 8192;

/**
 * Channels [c0, c1) of both sums. `prod` 0: s1 = Σ x, s2 = Σ x² (x = in0); 1: s1 = Σ in0,
 * s2 = Σ f32(in0·in1). The rows go in chunks that fit L1: each chunk is read from memory once,
 * then every block of 8 channels folds its rows with its accumulators in registers (the rest of
 * the channels in pairs, then one by one), carried from chunk to chunk in `acc` (Σ at acc + 8·j,
 * the second sum at acc + 8·(c + j)). Each channel's sums are one chain over the rows in order
 * whatever the chunks and blocks. `prod` 2: in0 multiplied by step(mk) as it is read. `reluX`: x
 * (in0 for prod 0, in1 otherwise) read through relu's max(·, 0), as `unary('relu')` writes it.
 */
@inline
function sumsOp(prod: i32, reluX: bool, s1: usize, s2: usize, in0: usize, in1: usize, mk: usize, m: i32, c: i32, c0: i32, c1: i32, acc: usize): void {
  const one = f32x4.splat(1);
  const zero = f32x4.splat(0);
  const row = <usize>c << 2;
  const acc2 = acc + (<usize>c << 3);
  for (let k = c0; k < c1; k++) {
    store<f64>(acc + (<usize>k << 3), 0);
    store<f64>(acc2 + (<usize>k << 3), 0);
  }
  const chunk = max<i32>(8, CHUNK_BYTES / ((c1 - c0) << 2));
  for (let r0 = 0; r0 < m; r0 += chunk) {
    const r1 = min<i32>(m, r0 + chunk);
    const first = <usize>r0 * row;
    let j = c0;
    for (; j + 8 <= c1; j += 8) {
      const pa = acc + (<usize>j << 3);
      const pb = acc2 + (<usize>j << 3);
      let a0 = v128.load(pa);
      let a1 = v128.load(pa, 16);
      let a2 = v128.load(pa, 32);
      let a3 = v128.load(pa, 48);
      let b0 = v128.load(pb);
      let b1 = v128.load(pb, 16);
      let b2 = v128.load(pb, 32);
      let b3 = v128.load(pb, 48);
      let p = in0 + first + (<usize>j << 2);
      let q = in1 + first + (<usize>j << 2);
      let r = mk + first + (<usize>j << 2);
      for (let i = r0; i < r1; i++) {
        let x0 = v128.load(p);
        let x1 = v128.load(p, 16);
        if (reluX && prod == 0) {
          x0 = relu4(x0);
          x1 = relu4(x1);
        }
        if (prod == 2) {
          x0 = f32x4.mul(x0, v128.and(f32x4.gt(v128.load(r), zero), one));
          x1 = f32x4.mul(x1, v128.and(f32x4.gt(v128.load(r, 16), zero), one));
          r += row;
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
          let y0 = v128.load(q);
          let y1 = v128.load(q, 16);
          if (reluX) {
            y0 = relu4(y0);
            y1 = relu4(y1);
          }
          const w0 = f32x4.mul(x0, y0);
          const w1 = f32x4.mul(x1, y1);
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
      v128.store(pa, a0);
      v128.store(pa, a1, 16);
      v128.store(pa, a2, 32);
      v128.store(pa, a3, 48);
      v128.store(pb, b0);
      v128.store(pb, b1, 16);
      v128.store(pb, b2, 32);
      v128.store(pb, b3, 48);
    }
    for (; j + 2 <= c1; j += 2) {
      const pa = acc + (<usize>j << 3);
      const pb = acc2 + (<usize>j << 3);
      let a = v128.load(pa);
      let b = v128.load(pb);
      let p = in0 + first + (<usize>j << 2);
      let q = in1 + first + (<usize>j << 2);
      let r = mk + first + (<usize>j << 2);
      for (let i = r0; i < r1; i++) {
        let x = v128.load64_zero(p);
        if (reluX && prod == 0) x = relu4(x);
        if (prod == 2) {
          x = f32x4.mul(x, v128.and(f32x4.gt(v128.load64_zero(r), zero), one));
          r += row;
        }
        const v = f64x2.promote_low_f32x4(x);
        a = f64x2.add(a, v);
        if (prod) {
          let y = v128.load64_zero(q);
          if (reluX) y = relu4(y);
          b = f64x2.add(b, f64x2.promote_low_f32x4(f32x4.mul(x, y)));
        }
        else b = f64x2.add(b, f64x2.mul(v, v));
        p += row;
        q += row;
      }
      v128.store(pa, a);
      v128.store(pb, b);
    }
    for (; j < c1; j++) {
      const pa = acc + (<usize>j << 3);
      const pb = acc2 + (<usize>j << 3);
      let a = load<f64>(pa);
      let b = load<f64>(pb);
      let p = in0 + first + (<usize>j << 2);
      let q = in1 + first + (<usize>j << 2);
      let r = mk + first + (<usize>j << 2);
      for (let i = r0; i < r1; i++) {
        let x = load<f32>(p);
        if (reluX && prod == 0) x = max<f32>(x, 0);
        if (prod == 2) {
          x = x * (load<f32>(r) > 0 ? <f32>1 : <f32>0);
          r += row;
        }
        const v = <f64>x;
        a += v;
        if (prod) b += <f64>(x * (reluX ? max<f32>(load<f32>(q), 0) : load<f32>(q)));
        else b += v * v;
        p += row;
        q += row;
      }
      store<f64>(pa, a);
      store<f64>(pb, b);
    }
  }
  for (let k = c0; k < c1; k++) {
    store<f32>(s1 + (<usize>k << 2), <f32>load<f64>(acc + (<usize>k << 3)));
    store<f32>(s2 + (<usize>k << 2), <f32>load<f64>(acc2 + (<usize>k << 3)));
  }
}

/**
 * s1 = Σᵢ x[i, ·], s2 = Σᵢ x[i, ·]² (each `reduce(sum | sumSquares)` over axis 0), channels
 * [c0, c1); `acc` holds 16 bytes per channel (of all c).
 */
export function bnMoments(s1: usize, s2: usize, x: usize, m: i32, c: i32, c0: i32, c1: i32, acc: usize): void {
  sumsOp(0, false, s1, s2, x, x, 0, m, c, c0, c1, acc);
}

/** s1 = Σᵢ dy[i, ·], s2 = Σᵢ f32(dy·x)[i, ·], channels [c0, c1); `acc` as bnMoments'. */
export function bnGradMoments(s1: usize, s2: usize, dy: usize, x: usize, m: i32, c: i32, c0: i32, c1: i32, acc: usize): void {
  sumsOp(1, false, s1, s2, dy, x, 0, m, c, c0, c1, acc);
}

/**
 * bnGradMoments of dy·step(y) (dy masked by the relu after the batch norm; y its output, whose
 * step is its input's): the mask applied as dy is read, as `binary('mul', dy, unary('step', y))`.
 */
export function bnGradMomentsRelu(s1: usize, s2: usize, dy: usize, x: usize, y: usize, m: i32, c: i32, c0: i32, c1: i32, acc: usize): void {
  sumsOp(2, false, s1, s2, dy, x, y, m, c, c0, c1, acc);
}

/** bnMoments of relu(z) (a relu → batchNorm pair), relu applied as z is read. */
export function bnMomentsOfRelu(s1: usize, s2: usize, z: usize, m: i32, c: i32, c0: i32, c1: i32, acc: usize): void {
  sumsOp(0, true, s1, s2, z, z, 0, m, c, c0, c1, acc);
}

/** bnGradMoments(dy, relu(z)), relu applied as z is read. */
export function bnGradMomentsOfRelu(s1: usize, s2: usize, dy: usize, z: usize, m: i32, c: i32, c0: i32, c1: i32, acc: usize): void {
  sumsOp(1, true, s1, s2, dy, z, 0, m, c, c0, c1, acc);
}

// ---- per-element maps, float32 ----------------------------------------------------------------

/** Rows [r0, r1) of y = x·a + b (the product rounded to float32, then the sum). */
export function bnAffine(y: usize, x: usize, a: usize, b: usize, c: i32, r0: i32, r1: i32): void {
  affineOp(false, false, y, x, a, b, c, r0, r1);
}

/** Rows [r0, r1) of y = relu(x·a + b): `relu`'s max(·, 0) (elementwise.ts) applied as y is written. */
export function bnAffineRelu(y: usize, x: usize, a: usize, b: usize, c: i32, r0: i32, r1: i32): void {
  affineOp(false, true, y, x, a, b, c, r0, r1);
}

/** Rows [r0, r1) of y = relu(z)·a + b (a relu → batchNorm pair): relu applied as z is read. */
export function bnAffineOfRelu(y: usize, z: usize, a: usize, b: usize, c: i32, r0: i32, r1: i32): void {
  affineOp(true, false, y, z, a, b, c, r0, r1);
}

@inline
function affineOp(reluIn: bool, relu: bool, y: usize, x: usize, a: usize, b: usize, c: i32, r0: i32, r1: i32): void {
  const zero = f32x4.splat(0);
  const row = <usize>c << 2;
  let py = y + <usize>r0 * row;
  let px = x + <usize>r0 * row;
  for (let i = r0; i < r1; i++) {
    let j = 0;
    for (; j + 4 <= c; j += 4) {
      const o = <usize>j << 2;
      let xv = v128.load(px + o);
      if (reluIn) xv = relu4(xv);
      const v = f32x4.add(f32x4.mul(xv, v128.load(a + o)), v128.load(b + o));
      v128.store(py + o, relu ? relu4(v) : v);
    }
    for (; j < c; j++) {
      const o = <usize>j << 2;
      const xs = reluIn ? max<f32>(load<f32>(px + o), 0) : load<f32>(px + o);
      const v = xs * load<f32>(a + o) + load<f32>(b + o);
      store<f32>(py + o, relu ? max<f32>(v, 0) : v);
    }
    py += row;
    px += row;
  }
}

/** Rows [r0, r1) of dx = (dy·g + x·k) + d, each product and sum rounded to float32 in that order. */
export function bnGradAffine(dx: usize, dy: usize, x: usize, g: usize, k: usize, d: usize, c: i32, r0: i32, r1: i32): void {
  gradAffineOp(false, dx, dy, x, 0, g, k, d, c, r0, r1);
}

/** bnGradAffine of dy·step(y) (as bnGradMomentsRelu), the mask applied as dy is read. */
export function bnGradAffineRelu(dx: usize, dy: usize, x: usize, y: usize, g: usize, k: usize, d: usize, c: i32, r0: i32, r1: i32): void {
  gradAffineOp(false, dx, dy, x, y, g, k, d, c, r0, r1);
}

/**
 * dx = bnGradAffine(dy, relu(z), g, k, d)·step(z) (a relu → batchNorm pair: the relu's gradient
 * too): relu applied as z is read, the mask as dx is written.
 */
export function bnGradAffineOfRelu(dx: usize, dy: usize, z: usize, g: usize, k: usize, d: usize, c: i32, r0: i32, r1: i32): void {
  gradAffineOp(true, dx, dy, z, 0, g, k, d, c, r0, r1);
}

/** bnGradAffine, of dy·step(mk) where `mk` (a constant 0 at the unmasked call) is not 0. */
@inline
function gradAffineOp(reluIn: bool, dx: usize, dy: usize, x: usize, mk: usize, g: usize, k: usize, d: usize, c: i32, r0: i32, r1: i32): void {
  const one = f32x4.splat(1);
  const zero = f32x4.splat(0);
  const row = <usize>c << 2;
  const start = <usize>r0 * row;
  let pdx = dx + start;
  let pdy = dy + start;
  let px = x + start;
  let pm = mk + start;
  for (let i = r0; i < r1; i++) {
    let j = 0;
    for (; j + 4 <= c; j += 4) {
      const o = <usize>j << 2;
      let e = v128.load(pdy + o);
      if (mk != 0) e = f32x4.mul(e, v128.and(f32x4.gt(v128.load(pm + o), zero), one));
      const u = f32x4.mul(e, v128.load(g + o));
      const z = v128.load(px + o);
      const v = f32x4.mul(reluIn ? relu4(z) : z, v128.load(k + o));
      const w = f32x4.add(f32x4.add(u, v), v128.load(d + o));
      v128.store(pdx + o, reluIn ? f32x4.mul(w, v128.and(f32x4.gt(z, zero), one)) : w);
    }
    for (; j < c; j++) {
      const o = <usize>j << 2;
      let e = load<f32>(pdy + o);
      if (mk != 0) e = e * (load<f32>(pm + o) > 0 ? <f32>1 : <f32>0);
      const u = e * load<f32>(g + o);
      const z = load<f32>(px + o);
      const v = (reluIn ? max<f32>(z, 0) : z) * load<f32>(k + o);
      const w = u + v + load<f32>(d + o);
      store<f32>(pdx + o, reluIn ? w * (z > 0 ? <f32>1 : <f32>0) : w);
    }
    pdx += row;
    pdy += row;
    px += row;
    pm += row;
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
 * i32 kind (0 moments, 1 affine, 2 grad moments, 3 grad affine, 4 affine + relu, 5 grad moments
 * masked by step(v0), 6 grad affine masked by step(out2), 7 moments of relu(in0), 8 affine of
 * relu(in0), 9 grad moments of (in0, relu(in1)), 10 grad affine of relu(in1) masked by step(in1)),
 * out, out2, in0, in1, v0, v1, v2, m, c, acc. The sums split by channels (in blocks of 8 where there are enough), the maps by rows.
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
  if (kind == 0 || kind == 2 || kind == 5 || kind == 7 || kind == 9) {
    const align = c >= 8 * parts ? 8 : 1;
    const lo = partStart(c, part, parts, align);
    const hi = partStart(c, part + 1, parts, align);
    if (hi <= lo) return;
    if (kind == 0) bnMoments(out, out2, in0, m, c, lo, hi, acc);
    else if (kind == 2) bnGradMoments(out, out2, in0, in1, m, c, lo, hi, acc);
    else if (kind == 5) bnGradMomentsRelu(out, out2, in0, in1, v0, m, c, lo, hi, acc);
    else if (kind == 7) bnMomentsOfRelu(out, out2, in0, m, c, lo, hi, acc);
    else bnGradMomentsOfRelu(out, out2, in0, in1, m, c, lo, hi, acc);
    return;
  }
  const lo = partStart(m, part, parts, 1);
  const hi = partStart(m, part + 1, parts, 1);
  if (hi <= lo) return;
  if (kind == 1) bnAffine(out, in0, v0, v1, c, lo, hi);
  else if (kind == 4) bnAffineRelu(out, in0, v0, v1, c, lo, hi);
  else if (kind == 3) bnGradAffine(out, in0, in1, v0, v1, v2, c, lo, hi);
  else if (kind == 6) bnGradAffineRelu(out, in0, in1, out2, v0, v1, v2, c, lo, hi);
  else if (kind == 8) bnAffineOfRelu(out, in0, v0, v1, c, lo, hi);
  else bnGradAffineOfRelu(out, in0, in1, v0, v1, v2, c, lo, hi);
}
