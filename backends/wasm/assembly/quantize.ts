/**
 * Fused weight-quantizer kernels: each quantizer's forward and backward as one reduction pass
 * and one map pass over float32 weights in linear memory, with no temporaries.
 *
 * They compute exactly what the generic path computes on a float32 backend (src/quantizers/*
 * over cpu32's loops), value for value, signed zeros included:
 * - group sums accumulate in float64 in memory order, one sequential chain per sum, as cpu32's
 *   reduce does (not the two interleaved partial sums of elementwise.ts), and are rounded once
 *   to float32; independent sums (Σ|W1| and Σ|W2|) run as two chains in one loop;
 * - every product, sum and comparison of two float32 values is the float32 operation the generic
 *   path performs in the same order (b·s + (win·g)·α is `add(mul(b, s), mul(mul(win, g), α))`);
 * - the STE window 1[|x| ≤ clip] takes `clipF`, the largest float32 ≤ clip (the caller rounds
 *   down), which for float32 x decides exactly as the float64 comparison does.
 * The scalars between the two passes (α, Δ, s) are formed by the caller (backends/wasm/quantize.ts)
 * from the float32 sums, as the generic path forms them, and passed per group as float32 arrays.
 * Groups are contiguous: `groups` runs of `len` elements (one group for `tensor` granularity,
 * one per output channel for `channel`).
 *
 * Inputs are not checked finite beforehand (that would be another pass): a non-finite input makes
 * a group sum non-finite (Σ|W| is ±∞ or NaN if any |W_i| is), or is flagged (qMaxAbs returns NaN,
 * qSteGrad returns 1), and each backward map returns 1 when an output is not finite; the caller
 * then runs the generic checks, which name the input (NonFiniteError) or the overflowing
 * quantity (OverflowError).
 *
 * Speed (bench/quantize.ts): a float64 chain in memory order costs one dependent add per element
 * (~0.85 ns on the 2-core benchmark machine), whatever else the loop does, so every reduction pass
 * runs its independent sums as parallel chains in one loop, and a map that needs no sum rides in
 * the same pass (TTQ's backward); the maps alone run near the copy bandwidth.
 *
 * Law (laws/quantizers-fast.test.ts): every fast forward and backward equals the generic path on
 * cpu32 bit for bit, for both granularities, at every block boundary, and throws the same
 * OverflowError.
 */

// ---- helpers ---------------------------------------------------------------------------------

/** sign(x) with sign(0) = +1, as float32 lanes. */
@inline
function sign4(x: v128): v128 {
  return v128.bitselect(f32x4.splat(1), f32x4.splat(-1), f32x4.ge(x, f32x4.splat(0)));
}

@inline
function sign1(x: f32): f32 {
  return x >= 0 ? 1 : -1;
}

/** B = sign(x), or with `zero` torch.sign's sign(0) = 0 (STTN `official`, `signOfZero: 0`). */
@inline
function code4(x: v128, zero: bool): v128 {
  if (!zero) return sign4(x);
  const one = f32x4.splat(1);
  return f32x4.sub(v128.and(f32x4.gt(x, f32x4.splat(0)), one), v128.and(f32x4.lt(x, f32x4.splat(0)), one));
}

@inline
function code1(x: f32, zero: bool): f32 {
  if (!zero) return sign1(x);
  return x > 0 ? 1 : x < 0 ? -1 : 0;
}

/** 1 where the lane is not finite (|x| = ∞ or NaN): |x| < ∞ is false there. */
@inline
function notFinite4(x: v128): v128 {
  return v128.not(f32x4.lt(f32x4.abs(x), f32x4.splat(Infinity)));
}

@inline
function notFinite1(x: f32): bool {
  return !(abs<f32>(x) < Infinity);
}

@inline
function at(p: usize, i: i32): usize {
  return p + (<usize>i << 2);
}

// ---- reductions: one float64 chain per sum, in memory order ------------------------------------
// The terms are formed four at a time in f32x4 (branch-free), then added to the float64 chain
// lane by lane, in order: the same sequence of float64 additions as cpu32's loop.

/** s + t0 + t1 + t2 + t3, each added in turn in float64. */
@inline
function acc4(s: f64, v: v128): f64 {
  s += <f64>f32x4.extract_lane(v, 0);
  s += <f64>f32x4.extract_lane(v, 1);
  s += <f64>f32x4.extract_lane(v, 2);
  s += <f64>f32x4.extract_lane(v, 3);
  return s;
}

/**
 * out[g] = f32(Σ|a|) + f32(Σ|b|) per group (STTN's Σ|W1| + Σ|W2|, float32 add of the two sums);
 * with `clamp`, of the latents clamped to [−1, 1] (`official`): |clamp(x)| = min(|x|, 1).
 */
export function qSumAbs2(out: usize, a: usize, b: usize, groups: i32, len: i32, clamp: bool): void {
  if (clamp) {
    qSumAbs2Clamped(out, a, b, groups, len);
    return;
  }
  for (let g = 0; g < groups; g++) {
    const base = <usize>g * <usize>len << 2;
    let sa: f64 = 0;
    let sb: f64 = 0;
    let j = 0;
    for (; j + 4 <= len; j += 4) {
      const o = base + (<usize>j << 2);
      sa = acc4(sa, f32x4.abs(v128.load(a + o)));
      sb = acc4(sb, f32x4.abs(v128.load(b + o)));
    }
    for (; j < len; j++) {
      const o = base + (<usize>j << 2);
      sa += <f64>abs<f32>(load<f32>(a + o));
      sb += <f64>abs<f32>(load<f32>(b + o));
    }
    store<f32>(at(out, g), <f32>sa + <f32>sb);
  }
}

/** qSumAbs2 of the clamped latents; a group holding a non-finite latent gets NaN (clamping hides ±∞). */
function qSumAbs2Clamped(out: usize, a: usize, b: usize, groups: i32, len: i32): void {
  const one = f32x4.splat(1);
  for (let g = 0; g < groups; g++) {
    const base = <usize>g * <usize>len << 2;
    let sa: f64 = 0;
    let sb: f64 = 0;
    let bad = f32x4.splat(0);
    let bad1 = false;
    let j = 0;
    for (; j + 4 <= len; j += 4) {
      const o = base + (<usize>j << 2);
      const x = v128.load(a + o);
      const y = v128.load(b + o);
      sa = acc4(sa, f32x4.min(f32x4.abs(x), one));
      sb = acc4(sb, f32x4.min(f32x4.abs(y), one));
      bad = v128.or(bad, v128.or(notFinite4(x), notFinite4(y)));
    }
    for (; j < len; j++) {
      const o = base + (<usize>j << 2);
      const x = load<f32>(a + o);
      const y = load<f32>(b + o);
      sa += <f64>min<f32>(abs<f32>(x), 1);
      sb += <f64>min<f32>(abs<f32>(y), 1);
      bad1 = bad1 || notFinite1(x) || notFinite1(y);
    }
    store<f32>(at(out, g), bad1 || v128.any_true(bad) ? NaN : <f32>sa + <f32>sb);
  }
}

/** out[g] = f32(Σ|a|) per group. */
export function qSumAbs(out: usize, a: usize, groups: i32, len: i32): void {
  for (let g = 0; g < groups; g++) {
    const base = <usize>g * <usize>len << 2;
    let s: f64 = 0;
    let j = 0;
    for (; j + 4 <= len; j += 4) s = acc4(s, f32x4.abs(v128.load(a + base + (<usize>j << 2))));
    for (; j < len; j++) s += <f64>abs<f32>(load<f32>(a + base + (<usize>j << 2)));
    store<f32>(at(out, g), <f32>s);
  }
}

/**
 * f32(max|a|) over all n elements (TTQ's max|W|; a max does not depend on order); NaN if an
 * element is not finite. Four independent running maxima (`pmax`: one instruction, where `max`
 * is a NaN-propagating sequence whose latency would bound the loop); a NaN, which `pmax` skips,
 * is caught by the finiteness flag.
 */
export function qMaxAbs(a: usize, n: i32): f32 {
  const inf = f32x4.splat(Infinity);
  let m0 = f32x4.splat(0);
  let m1 = m0;
  let m2 = m0;
  let m3 = m0;
  let ok = v128.not(m0);
  let m: f32 = 0;
  let bad1 = false;
  let j = 0;
  for (; j + 16 <= n; j += 16) {
    const p = at(a, j);
    const x0 = f32x4.abs(v128.load(p));
    const x1 = f32x4.abs(v128.load(p, 16));
    const x2 = f32x4.abs(v128.load(p, 32));
    const x3 = f32x4.abs(v128.load(p, 48));
    m0 = f32x4.pmax(m0, x0);
    m1 = f32x4.pmax(m1, x1);
    m2 = f32x4.pmax(m2, x2);
    m3 = f32x4.pmax(m3, x3);
    ok = v128.and(ok, v128.and(v128.and(f32x4.lt(x0, inf), f32x4.lt(x1, inf)), v128.and(f32x4.lt(x2, inf), f32x4.lt(x3, inf))));
  }
  for (; j + 4 <= n; j += 4) {
    const x = f32x4.abs(v128.load(at(a, j)));
    m0 = f32x4.pmax(m0, x);
    ok = v128.and(ok, f32x4.lt(x, inf));
  }
  for (; j < n; j++) {
    const x = load<f32>(at(a, j));
    m = max<f32>(m, abs<f32>(x));
    bad1 = bad1 || notFinite1(x);
  }
  if (bad1 || !v128.all_true<i32>(ok)) return NaN;
  const v = f32x4.pmax(f32x4.pmax(m0, m1), f32x4.pmax(m2, m3));
  return max<f32>(max<f32>(max<f32>(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)), max<f32>(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3))), m);
}

/**
 * out[2g] = f32(Σ g1·sign(w1)), out[2g+1] = f32(Σ g2·sign(w2)) per group: Σ_j g_kj·B_kj of STTN's
 * α term (and, with one kernel, sign's). `w2 = 0` sums only the first.
 */
export function qSumGradSign(out: usize, w1: usize, g1: usize, w2: usize, g2: usize, groups: i32, len: i32, zero: bool): void {
  for (let g = 0; g < groups; g++) {
    const base = <usize>g * <usize>len << 2;
    let s1: f64 = 0;
    let s2: f64 = 0;
    let j = 0;
    if (w2 != 0) {
      for (; j + 4 <= len; j += 4) {
        const o = base + (<usize>j << 2);
        s1 = acc4(s1, f32x4.mul(v128.load(g1 + o), code4(v128.load(w1 + o), zero)));
        s2 = acc4(s2, f32x4.mul(v128.load(g2 + o), code4(v128.load(w2 + o), zero)));
      }
      for (; j < len; j++) {
        const o = base + (<usize>j << 2);
        s1 += <f64>(load<f32>(g1 + o) * code1(load<f32>(w1 + o), zero));
        s2 += <f64>(load<f32>(g2 + o) * code1(load<f32>(w2 + o), zero));
      }
    } else {
      for (; j + 4 <= len; j += 4) {
        const o = base + (<usize>j << 2);
        s1 = acc4(s1, f32x4.mul(v128.load(g1 + o), sign4(v128.load(w1 + o))));
      }
      for (; j < len; j++) {
        const o = base + (<usize>j << 2);
        s1 += <f64>(load<f32>(g1 + o) * sign1(load<f32>(w1 + o)));
      }
    }
    store<f32>(at(out, 2 * g), <f32>s1);
    store<f32>(at(out, 2 * g + 1), <f32>s2);
  }
}

/**
 * TWN, given Δ per group: out[2g] = f32(|I|) = f32(Σ 1[|w| > Δ]), out[2g+1] = f32(Σ |w|·1[|w| > Δ]).
 */
export function qTwnSums(out: usize, w: usize, delta: usize, groups: i32, len: i32): void {
  const one = f32x4.splat(1);
  for (let g = 0; g < groups; g++) {
    const base = <usize>g * <usize>len << 2;
    const d = load<f32>(at(delta, g));
    const dv = f32x4.splat(d);
    let c: f64 = 0;
    let s: f64 = 0;
    let j = 0;
    for (; j + 4 <= len; j += 4) {
      const a = f32x4.abs(v128.load(w + base + (<usize>j << 2)));
      const m = v128.and(f32x4.gt(a, dv), one);
      c = acc4(c, m);
      s = acc4(s, f32x4.mul(a, m));
    }
    for (; j < len; j++) {
      const a = abs<f32>(load<f32>(w + base + (<usize>j << 2)));
      const m: f32 = a > d ? 1 : 0;
      c += <f64>m;
      s += <f64>(a * m);
    }
    store<f32>(at(out, 2 * g), <f32>c);
    store<f32>(at(out, 2 * g + 1), <f32>s);
  }
}

/** TTQ, given Δ: out[2g] = f32(Σ g·1[w > Δ]), out[2g+1] = f32(Σ g·1[−w > Δ]) per group. */
export function qTtqSums(out: usize, w: usize, gr: usize, delta: f32, groups: i32, len: i32): void {
  const one = f32x4.splat(1);
  const dv = f32x4.splat(delta);
  for (let g = 0; g < groups; g++) {
    const base = <usize>g * <usize>len << 2;
    let sp: f64 = 0;
    let sn: f64 = 0;
    let j = 0;
    for (; j + 4 <= len; j += 4) {
      const o = base + (<usize>j << 2);
      const x = v128.load(w + o);
      const gv = v128.load(gr + o);
      sp = acc4(sp, f32x4.mul(gv, v128.and(f32x4.gt(x, dv), one)));
      sn = acc4(sn, f32x4.mul(gv, v128.and(f32x4.gt(f32x4.neg(x), dv), one)));
    }
    for (; j < len; j++) {
      const o = base + (<usize>j << 2);
      const x = load<f32>(w + o);
      const gv = load<f32>(gr + o);
      const p: f32 = x > delta ? 1 : 0;
      const q: f32 = -x > delta ? 1 : 0;
      sp += <f64>(gv * p);
      sn += <f64>(gv * q);
    }
    store<f32>(at(out, 2 * g), <f32>sp);
    store<f32>(at(out, 2 * g + 1), <f32>sn);
  }
}

// ---- maps ------------------------------------------------------------------------------------

/**
 * STTN forward: merged = (B1 + B2)·α, and where the pointers are non-zero w1q = B1·α,
 * w2q = B2·α, codes = B1 + B2 (α per group).
 */
export function qSttnMap(merged: usize, w1q: usize, w2q: usize, codes: usize, w1: usize, w2: usize, alpha: usize, groups: i32, len: i32, zero: bool): void {
  const all = w1q != 0;
  for (let g = 0; g < groups; g++) {
    const base = <usize>g * <usize>len << 2;
    const a1 = load<f32>(at(alpha, g));
    const av = f32x4.splat(a1);
    let j = 0;
    for (; j + 4 <= len; j += 4) {
      const o = base + (<usize>j << 2);
      const b1 = code4(v128.load(w1 + o), zero);
      const b2 = code4(v128.load(w2 + o), zero);
      const c = f32x4.add(b1, b2);
      v128.store(merged + o, f32x4.mul(c, av));
      if (all) {
        v128.store(w1q + o, f32x4.mul(b1, av));
        v128.store(w2q + o, f32x4.mul(b2, av));
        v128.store(codes + o, c);
      }
    }
    for (; j < len; j++) {
      const o = base + (<usize>j << 2);
      const b1 = code1(load<f32>(w1 + o), zero);
      const b2 = code1(load<f32>(w2 + o), zero);
      const c = b1 + b2;
      store<f32>(merged + o, c * a1);
      if (all) {
        store<f32>(w1q + o, b1 * a1);
        store<f32>(w2q + o, b2 * a1);
        store<f32>(codes + o, c);
      }
    }
  }
}

/**
 * The chain-rule gradient of one binary kernel with scale α (STTN `exact`, sign `exact`):
 * dw = B·s + (1[|w| ≤ clip]·g)·α, s and α per group. Returns 1 if an output is not finite.
 */
export function qBinaryGrad(dw: usize, w: usize, gr: usize, s: usize, alpha: usize, clipF: f32, groups: i32, len: i32): i32 {
  const one = f32x4.splat(1);
  const cv = f32x4.splat(clipF);
  let bad = f32x4.splat(0);
  let bad1 = false;
  for (let g = 0; g < groups; g++) {
    const base = <usize>g * <usize>len << 2;
    const s1 = load<f32>(at(s, g));
    const a1 = load<f32>(at(alpha, g));
    const sv = f32x4.splat(s1);
    const av = f32x4.splat(a1);
    let j = 0;
    for (; j + 4 <= len; j += 4) {
      const o = base + (<usize>j << 2);
      const x = v128.load(w + o);
      const win = v128.and(f32x4.le(f32x4.abs(x), cv), one);
      const y = f32x4.add(f32x4.mul(sign4(x), sv), f32x4.mul(f32x4.mul(win, v128.load(gr + o)), av));
      v128.store(dw + o, y);
      bad = v128.or(bad, notFinite4(y));
    }
    for (; j < len; j++) {
      const o = base + (<usize>j << 2);
      const x = load<f32>(w + o);
      const win: f32 = abs<f32>(x) <= clipF ? 1 : 0;
      const y = sign1(x) * s1 + (win * load<f32>(gr + o)) * a1;
      store<f32>(dw + o, y);
      bad1 = bad1 || notFinite1(y);
    }
  }
  return bad1 || v128.any_true(bad) ? 1 : 0;
}

/**
 * qBinaryGrad of STTN's two kernels in one pass (same s and α): dw1 from (w1, g1), dw2 from
 * (w2, g2); a layer's g1 = g2 is then read once. Each output is the same float32 expression as
 * qBinaryGrad's. Returns 1 if an output is not finite.
 */
export function qBinaryGrad2(dw1: usize, dw2: usize, w1: usize, w2: usize, g1: usize, g2: usize, s: usize, alpha: usize, clipF: f32, groups: i32, len: i32): i32 {
  const one = f32x4.splat(1);
  const cv = f32x4.splat(clipF);
  const inf = f32x4.splat(Infinity);
  let ok = v128.not(f32x4.splat(0));
  let bad1 = false;
  for (let g = 0; g < groups; g++) {
    const base = <usize>g * <usize>len << 2;
    const s1 = load<f32>(at(s, g));
    const a1 = load<f32>(at(alpha, g));
    const sv = f32x4.splat(s1);
    const av = f32x4.splat(a1);
    let j = 0;
    for (; j + 4 <= len; j += 4) {
      const o = base + (<usize>j << 2);
      const x1 = v128.load(w1 + o);
      const x2 = v128.load(w2 + o);
      const win1 = v128.and(f32x4.le(f32x4.abs(x1), cv), one);
      const win2 = v128.and(f32x4.le(f32x4.abs(x2), cv), one);
      const y1 = f32x4.add(f32x4.mul(sign4(x1), sv), f32x4.mul(f32x4.mul(win1, v128.load(g1 + o)), av));
      const y2 = f32x4.add(f32x4.mul(sign4(x2), sv), f32x4.mul(f32x4.mul(win2, v128.load(g2 + o)), av));
      v128.store(dw1 + o, y1);
      v128.store(dw2 + o, y2);
      ok = v128.and(ok, v128.and(f32x4.lt(f32x4.abs(y1), inf), f32x4.lt(f32x4.abs(y2), inf)));
    }
    for (; j < len; j++) {
      const o = base + (<usize>j << 2);
      const x1 = load<f32>(w1 + o);
      const x2 = load<f32>(w2 + o);
      const win1: f32 = abs<f32>(x1) <= clipF ? 1 : 0;
      const win2: f32 = abs<f32>(x2) <= clipF ? 1 : 0;
      const y1 = sign1(x1) * s1 + (win1 * load<f32>(g1 + o)) * a1;
      const y2 = sign1(x2) * s1 + (win2 * load<f32>(g2 + o)) * a1;
      store<f32>(dw1 + o, y1);
      store<f32>(dw2 + o, y2);
      bad1 = bad1 || notFinite1(y1) || notFinite1(y2);
    }
  }
  return bad1 || !v128.all_true<i32>(ok) ? 1 : 0;
}

/**
 * STTN `official`: dW = g + B·s, s per group (each kernel its own: Σ_j B_j·g_j / n), B = sign(W)
 * or torch.sign with `zero`. Returns 1 if an output is not finite.
 */
export function qOfficialGrad(dw: usize, w: usize, gr: usize, s: usize, groups: i32, len: i32, zero: bool): i32 {
  let bad = f32x4.splat(0);
  let bad1 = false;
  for (let g = 0; g < groups; g++) {
    const base = <usize>g * <usize>len << 2;
    const s1 = load<f32>(at(s, g));
    const sv = f32x4.splat(s1);
    let j = 0;
    for (; j + 4 <= len; j += 4) {
      const o = base + (<usize>j << 2);
      const y = f32x4.add(v128.load(gr + o), f32x4.mul(code4(v128.load(w + o), zero), sv));
      v128.store(dw + o, y);
      bad = v128.or(bad, notFinite4(y));
    }
    for (; j < len; j++) {
      const o = base + (<usize>j << 2);
      const y = load<f32>(gr + o) + code1(load<f32>(w + o), zero) * s1;
      store<f32>(dw + o, y);
      bad1 = bad1 || notFinite1(y);
    }
  }
  return bad1 || v128.any_true(bad) ? 1 : 0;
}

/** qOfficialGrad of STTN's two kernels in one pass: dw1 from (w1, g1, s1), dw2 from (w2, g2, s2). Returns 1 if an output is not finite. */
export function qOfficialGrad2(dw1: usize, dw2: usize, w1: usize, w2: usize, g1: usize, g2: usize, s1p: usize, s2p: usize, groups: i32, len: i32, zero: bool): i32 {
  const inf = f32x4.splat(Infinity);
  let ok = v128.not(f32x4.splat(0));
  let bad1 = false;
  for (let g = 0; g < groups; g++) {
    const base = <usize>g * <usize>len << 2;
    const s1 = load<f32>(at(s1p, g));
    const s2 = load<f32>(at(s2p, g));
    const sv1 = f32x4.splat(s1);
    const sv2 = f32x4.splat(s2);
    let j = 0;
    for (; j + 4 <= len; j += 4) {
      const o = base + (<usize>j << 2);
      const y1 = f32x4.add(v128.load(g1 + o), f32x4.mul(code4(v128.load(w1 + o), zero), sv1));
      const y2 = f32x4.add(v128.load(g2 + o), f32x4.mul(code4(v128.load(w2 + o), zero), sv2));
      v128.store(dw1 + o, y1);
      v128.store(dw2 + o, y2);
      ok = v128.and(ok, v128.and(f32x4.lt(f32x4.abs(y1), inf), f32x4.lt(f32x4.abs(y2), inf)));
    }
    for (; j < len; j++) {
      const o = base + (<usize>j << 2);
      const y1 = load<f32>(g1 + o) + code1(load<f32>(w1 + o), zero) * s1;
      const y2 = load<f32>(g2 + o) + code1(load<f32>(w2 + o), zero) * s2;
      store<f32>(dw1 + o, y1);
      store<f32>(dw2 + o, y2);
      bad1 = bad1 || notFinite1(y1) || notFinite1(y2);
    }
  }
  return bad1 || !v128.all_true<i32>(ok) ? 1 : 0;
}

/** sign `xnor` (Eq. 11): dw = g·((win·α) + 1/n), `inv` = f32(1/n). Returns 1 if an output is not finite. */
export function qXnorGrad(dw: usize, w: usize, gr: usize, alpha: usize, inv: f32, clipF: f32, groups: i32, len: i32): i32 {
  const one = f32x4.splat(1);
  const cv = f32x4.splat(clipF);
  const iv = f32x4.splat(inv);
  let bad = f32x4.splat(0);
  let bad1 = false;
  for (let g = 0; g < groups; g++) {
    const base = <usize>g * <usize>len << 2;
    const a1 = load<f32>(at(alpha, g));
    const av = f32x4.splat(a1);
    let j = 0;
    for (; j + 4 <= len; j += 4) {
      const o = base + (<usize>j << 2);
      const win = v128.and(f32x4.le(f32x4.abs(v128.load(w + o)), cv), one);
      const y = f32x4.mul(v128.load(gr + o), f32x4.add(f32x4.mul(win, av), iv));
      v128.store(dw + o, y);
      bad = v128.or(bad, notFinite4(y));
    }
    for (; j < len; j++) {
      const o = base + (<usize>j << 2);
      const win: f32 = abs<f32>(load<f32>(w + o)) <= clipF ? 1 : 0;
      const y = load<f32>(gr + o) * (win * a1 + inv);
      store<f32>(dw + o, y);
      bad1 = bad1 || notFinite1(y);
    }
  }
  return bad1 || v128.any_true(bad) ? 1 : 0;
}

/** sign forward: y = sign(w)·α, and codes = sign(w) where `codes` ≠ 0. */
export function qSignMap(y: usize, codes: usize, w: usize, alpha: usize, groups: i32, len: i32): void {
  for (let g = 0; g < groups; g++) {
    const base = <usize>g * <usize>len << 2;
    const a1 = load<f32>(at(alpha, g));
    const av = f32x4.splat(a1);
    let j = 0;
    for (; j + 4 <= len; j += 4) {
      const o = base + (<usize>j << 2);
      const b = sign4(v128.load(w + o));
      v128.store(y + o, f32x4.mul(b, av));
      if (codes != 0) v128.store(codes + o, b);
    }
    for (; j < len; j++) {
      const o = base + (<usize>j << 2);
      const b = sign1(load<f32>(w + o));
      store<f32>(y + o, b * a1);
      if (codes != 0) store<f32>(codes + o, b);
    }
  }
}

/** TWN forward: T = sign(w)·1[|w| > Δ], y = T·α (Δ, α per group); codes = T where `codes` ≠ 0. */
export function qTwnMap(y: usize, codes: usize, w: usize, delta: usize, alpha: usize, groups: i32, len: i32): void {
  const one = f32x4.splat(1);
  for (let g = 0; g < groups; g++) {
    const base = <usize>g * <usize>len << 2;
    const d1 = load<f32>(at(delta, g));
    const a1 = load<f32>(at(alpha, g));
    const dv = f32x4.splat(d1);
    const av = f32x4.splat(a1);
    let j = 0;
    for (; j + 4 <= len; j += 4) {
      const o = base + (<usize>j << 2);
      const x = v128.load(w + o);
      const t = f32x4.mul(sign4(x), v128.and(f32x4.gt(f32x4.abs(x), dv), one));
      v128.store(y + o, f32x4.mul(t, av));
      if (codes != 0) v128.store(codes + o, t);
    }
    for (; j < len; j++) {
      const o = base + (<usize>j << 2);
      const x = load<f32>(w + o);
      const m: f32 = abs<f32>(x) > d1 ? 1 : 0;
      const t = sign1(x) * m;
      store<f32>(y + o, t * a1);
      if (codes != 0) store<f32>(codes + o, t);
    }
  }
}

/** TTQ forward: y = 1[w > Δ]·Wp − 1[−w > Δ]·Wn (Wp, Wn per group); codes = pos − neg where `codes` ≠ 0. */
export function qTtqMap(y: usize, codes: usize, w: usize, delta: f32, wp: usize, wn: usize, groups: i32, len: i32): void {
  const one = f32x4.splat(1);
  const dv = f32x4.splat(delta);
  for (let g = 0; g < groups; g++) {
    const base = <usize>g * <usize>len << 2;
    const p1 = load<f32>(at(wp, g));
    const n1 = load<f32>(at(wn, g));
    const pv = f32x4.splat(p1);
    const nv = f32x4.splat(n1);
    let j = 0;
    for (; j + 4 <= len; j += 4) {
      const o = base + (<usize>j << 2);
      const x = v128.load(w + o);
      const pos = v128.and(f32x4.gt(x, dv), one);
      const neg = v128.and(f32x4.gt(f32x4.neg(x), dv), one);
      v128.store(y + o, f32x4.sub(f32x4.mul(pos, pv), f32x4.mul(neg, nv)));
      if (codes != 0) v128.store(codes + o, f32x4.sub(pos, neg));
    }
    for (; j < len; j++) {
      const o = base + (<usize>j << 2);
      const x = load<f32>(w + o);
      const pos: f32 = x > delta ? 1 : 0;
      const neg: f32 = -x > delta ? 1 : 0;
      store<f32>(y + o, pos * p1 - neg * n1);
      if (codes != 0) store<f32>(codes + o, pos - neg);
    }
  }
}

/**
 * TTQ's latent gradient: dw = g·0 + g·slope, slope = (pos·Wp + neg·Wn) + (1 − (pos + neg)), as
 * the generic sum of its two terms. Returns 1 if an output is not finite.
 */
export function qTtqGrad(dw: usize, w: usize, gr: usize, delta: f32, wp: usize, wn: usize, groups: i32, len: i32): i32 {
  const one = f32x4.splat(1);
  const zero = f32x4.splat(0);
  const dv = f32x4.splat(delta);
  let bad = f32x4.splat(0);
  let bad1 = false;
  for (let g = 0; g < groups; g++) {
    const base = <usize>g * <usize>len << 2;
    const p1 = load<f32>(at(wp, g));
    const n1 = load<f32>(at(wn, g));
    const pv = f32x4.splat(p1);
    const nv = f32x4.splat(n1);
    let j = 0;
    for (; j + 4 <= len; j += 4) {
      const o = base + (<usize>j << 2);
      const x = v128.load(w + o);
      const gv = v128.load(gr + o);
      const pos = v128.and(f32x4.gt(x, dv), one);
      const neg = v128.and(f32x4.gt(f32x4.neg(x), dv), one);
      const mid = f32x4.add(f32x4.neg(f32x4.add(pos, neg)), one);
      const slope = f32x4.add(f32x4.add(f32x4.mul(pos, pv), f32x4.mul(neg, nv)), mid);
      const y = f32x4.add(f32x4.mul(gv, zero), f32x4.mul(gv, slope));
      v128.store(dw + o, y);
      bad = v128.or(bad, notFinite4(y));
    }
    for (; j < len; j++) {
      const o = base + (<usize>j << 2);
      const x = load<f32>(w + o);
      const gv = load<f32>(gr + o);
      const pos: f32 = x > delta ? 1 : 0;
      const neg: f32 = -x > delta ? 1 : 0;
      const slope = (pos * p1 + neg * n1) + (-(pos + neg) + 1);
      const y = gv * <f32>0 + gv * slope;
      store<f32>(dw + o, y);
      bad1 = bad1 || notFinite1(y);
    }
  }
  return bad1 || v128.any_true(bad) ? 1 : 0;
}

/**
 * qTtqSums and qTtqGrad in one pass (the map needs neither sum): out[2g], out[2g+1] as qTtqSums,
 * dw as qTtqGrad, each the same float32 expression, the sums the same float64 chains. Returns 1
 * if an output of the map is not finite.
 */
export function qTtqSumsGrad(out: usize, dw: usize, w: usize, gr: usize, delta: f32, wp: usize, wn: usize, groups: i32, len: i32): i32 {
  const one = f32x4.splat(1);
  const zero = f32x4.splat(0);
  const inf = f32x4.splat(Infinity);
  const dv = f32x4.splat(delta);
  let ok = v128.not(zero);
  let bad1 = false;
  for (let g = 0; g < groups; g++) {
    const base = <usize>g * <usize>len << 2;
    const p1 = load<f32>(at(wp, g));
    const n1 = load<f32>(at(wn, g));
    const pv = f32x4.splat(p1);
    const nv = f32x4.splat(n1);
    let sp: f64 = 0;
    let sn: f64 = 0;
    let j = 0;
    for (; j + 4 <= len; j += 4) {
      const o = base + (<usize>j << 2);
      const x = v128.load(w + o);
      const gv = v128.load(gr + o);
      const pos = v128.and(f32x4.gt(x, dv), one);
      const neg = v128.and(f32x4.gt(f32x4.neg(x), dv), one);
      sp = acc4(sp, f32x4.mul(gv, pos));
      sn = acc4(sn, f32x4.mul(gv, neg));
      const mid = f32x4.add(f32x4.neg(f32x4.add(pos, neg)), one);
      const slope = f32x4.add(f32x4.add(f32x4.mul(pos, pv), f32x4.mul(neg, nv)), mid);
      const y = f32x4.add(f32x4.mul(gv, zero), f32x4.mul(gv, slope));
      v128.store(dw + o, y);
      ok = v128.and(ok, f32x4.lt(f32x4.abs(y), inf));
    }
    for (; j < len; j++) {
      const o = base + (<usize>j << 2);
      const x = load<f32>(w + o);
      const gv = load<f32>(gr + o);
      const pos: f32 = x > delta ? 1 : 0;
      const neg: f32 = -x > delta ? 1 : 0;
      sp += <f64>(gv * pos);
      sn += <f64>(gv * neg);
      const slope = (pos * p1 + neg * n1) + (-(pos + neg) + 1);
      const y = gv * <f32>0 + gv * slope;
      store<f32>(dw + o, y);
      bad1 = bad1 || notFinite1(y);
    }
    store<f32>(at(out, 2 * g), <f32>sp);
    store<f32>(at(out, 2 * g + 1), <f32>sn);
  }
  return bad1 || !v128.all_true<i32>(ok) ? 1 : 0;
}

/**
 * The activations' straight-through gradient: dx = g·1[|x| ≤ clip] over n elements. Returns 1 if
 * an x or g is not finite.
 */
export function qSteGrad(dx: usize, x: usize, gr: usize, clipF: f32, n: i32): i32 {
  const one = f32x4.splat(1);
  const cv = f32x4.splat(clipF);
  let bad = f32x4.splat(0);
  let bad1 = false;
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const o = <usize>j << 2;
    const xv = v128.load(x + o);
    const gv = v128.load(gr + o);
    const win = v128.and(f32x4.le(f32x4.abs(xv), cv), one);
    v128.store(dx + o, f32x4.mul(gv, win));
    bad = v128.or(bad, v128.or(notFinite4(xv), notFinite4(gv)));
  }
  for (; j < n; j++) {
    const o = <usize>j << 2;
    const xv = load<f32>(x + o);
    const gv = load<f32>(gr + o);
    const win: f32 = abs<f32>(xv) <= clipF ? 1 : 0;
    store<f32>(dx + o, gv * win);
    bad1 = bad1 || notFinite1(xv) || notFinite1(gv);
  }
  return bad1 || v128.any_true(bad) ? 1 : 0;
}

/** 1 when each of the `n` floats at `x` is finite, else 0 (the activations' input check, one pass). */
export function qAllFinite(x: usize, n: i32): i32 {
  let b0 = i32x4.splat(0);
  let b1 = i32x4.splat(0);
  let j = 0;
  for (; j + 8 <= n; j += 8) {
    b0 = v128.or(b0, notFinite4(v128.load(at(x, j))));
    b1 = v128.or(b1, notFinite4(v128.load(at(x, j + 4))));
  }
  let bad = v128.any_true(v128.or(b0, b1));
  for (; j < n; j++) bad = bad || notFinite1(load<f32>(at(x, j)));
  return bad ? 0 : 1;
}
