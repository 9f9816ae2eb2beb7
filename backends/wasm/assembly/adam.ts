/**
 * One Adam step over a parameter tensor in one pass (src/backend.ts `adamStep`): reads p, m, v and
 * the gradient once and writes the new p, m and v, where the optimizer's composition
 * (src/train/optim.ts) makes ten to twelve passes and as many temporaries.
 *
 * Each element goes through the composition's operations in its order, each rounded to float32
 * as that backend call stores it (./elementwise.ts): the scalar ops and axpy in float64 rounded at
 * the store, square, sqrt and the division in float32:
 *   g  = gr + wd·p                      (axpy, only when weight decay is on)
 *   m' = (m·β1) + (1 − β1)·g            (scalar mul, then axpy)
 *   v' = (v·β2) + (1 − β2)·(g·g)        (scalar mul, square, axpy)
 *   p' = p + a·(m' / (√(v'·c2) + ε))    (scalar mul, sqrt, scalar add, div, axpy; a = −lr·c1)
 *   p' = clamp(p', clip)                (scalar clamp, only for clipped latent weights)
 * so the three outputs are the composition's bits (NaN included: the same operations see it).
 *
 * Law (laws/adam-fused.test.ts): the wasm backend's adamStep equals the composition bit for bit,
 * and training steps with it equal those without it.
 */

/** x rounded to float32 and back, lane by lane (the store and reload between two backend calls). */
@inline
function r32(x: v128): v128 {
  return f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(x));
}

/** scalar('clamp', x, s) of ./elementwise.ts: x > s ? s : x < −s ? −s : x, in float64. */
@inline
function clamp2(x: v128, s: v128): v128 {
  const ns = f64x2.neg(s);
  return v128.bitselect(s, v128.bitselect(ns, x, f64x2.lt(x, ns)), f64x2.gt(x, s));
}

/**
 * New p, m, v of n elements at po, pm, pv from p, m, v and the gradient g (all float32); `decay`
 * 1 adds wd·p to the gradient first, `clipOn` 1 clamps the new p to ±clip. a = −lr·c1, s1 = 1 − β1,
 * s2 = 1 − β2 (the doubles the composition passes).
 */
export function adam(
  po: usize, pm: usize, pv: usize, p: usize, m: usize, v: usize, g: usize, n: i32,
  b1: f64, s1: f64, b2: f64, s2: f64, c2: f64, eps: f64, a: f64, wd: f64, decay: i32, clip: f64, clipOn: i32,
): void {
  const b1v = f64x2.splat(b1);
  const s1v = f64x2.splat(s1);
  const b2v = f64x2.splat(b2);
  const s2v = f64x2.splat(s2);
  const c2v = f64x2.splat(c2);
  const epsv = f64x2.splat(eps);
  const av = f64x2.splat(a);
  const wdv = f64x2.splat(wd);
  const clipv = f64x2.splat(clip);
  let i = 0;
  for (; i + 2 <= n; i += 2) {
    const o = <usize>i << 2;
    const pd = f64x2.promote_low_f32x4(v128.load64_zero(p + o));
    let gq = v128.load64_zero(g + o);
    if (decay) gq = f32x4.demote_f64x2_zero(f64x2.add(f64x2.promote_low_f32x4(gq), f64x2.mul(wdv, pd)));
    const gd = f64x2.promote_low_f32x4(gq);
    const mm = r32(f64x2.mul(f64x2.promote_low_f32x4(v128.load64_zero(m + o)), b1v));
    const mn = f32x4.demote_f64x2_zero(f64x2.add(mm, f64x2.mul(s1v, gd)));
    const sq = f64x2.promote_low_f32x4(f32x4.mul(gq, gq));
    const vv = r32(f64x2.mul(f64x2.promote_low_f32x4(v128.load64_zero(v + o)), b2v));
    const vn = f32x4.demote_f64x2_zero(f64x2.add(vv, f64x2.mul(s2v, sq)));
    const root = f32x4.sqrt(f32x4.demote_f64x2_zero(f64x2.mul(f64x2.promote_low_f32x4(vn), c2v)));
    const den = f32x4.demote_f64x2_zero(f64x2.add(f64x2.promote_low_f32x4(root), epsv));
    const q = f32x4.div(mn, den);
    let pn = f64x2.add(pd, f64x2.mul(av, f64x2.promote_low_f32x4(q)));
    if (clipOn) pn = clamp2(r32(pn), clipv);
    v128.store64_lane(po + o, f32x4.demote_f64x2_zero(pn), 0);
    v128.store64_lane(pm + o, mn, 0);
    v128.store64_lane(pv + o, vn, 0);
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const pd = <f64>load<f32>(p + o);
    let gq = load<f32>(g + o);
    if (decay) gq = <f32>(<f64>gq + wd * pd);
    const mn = <f32>(<f64><f32>(<f64>load<f32>(m + o) * b1) + s1 * <f64>gq);
    const vn = <f32>(<f64><f32>(<f64>load<f32>(v + o) * b2) + s2 * <f64>(gq * gq));
    const den = <f32>(<f64>sqrt<f32>(<f32>(<f64>vn * c2)) + eps);
    let pn = <f32>(pd + a * <f64>(mn / den));
    if (clipOn) {
      const x = <f64>pn;
      pn = <f32>(x > clip ? clip : x < -clip ? -clip : x);
    }
    store<f32>(po + o, pn);
    store<f32>(pm + o, mn);
    store<f32>(pv + o, vn);
  }
}
