/**
 * The float32 kernels around the ternary layers (`TernaryKernels.floatConv` and `floatDense`, for
 * the first and last layers a model keeps in float): a direct convolution for inputs with few
 * channels (no patch matrix, an optional 2×2 max-pool fused) and a dense layer. Every float32
 * operation is a plain (unfused) SIMD or scalar operation in the reference's order, so each result
 * is the one the reference TypeScript computes with Math.fround after every step. The `fma` build
 * (relaxed SIMD, opt-in: `createWasmTernaryKernels({ fma: true })`) computes each x·w + sum as one
 * `relaxed_madd` instead, fused where the CPU has FMA: the same sums in the same order, one
 * rounding per tap instead of two.
 *
 * Law (laws/ternary-kernels.test.ts, laws/engine.test.ts): `floatConv` and `floatDense` equal the
 * reference implementation's bit for bit (a non-finite weight included); in the `fma` build they
 * differ from it by at most the float32 rounding of the two sums, 2·γ(n+1)·(Σ|x·w| + |bias|).
 */

/**
 * c + a·b: two roundings (mul, then add) in the plain and `lookup` builds; in the `fma` builds
 * (`STTN_FMA`, a compile-time constant each target of ./asconfig.json sets with `"use"`)
 * `f32x4.relaxed_madd`, which the engine may fuse into one rounding (V8 does where the CPU has
 * FMA3). Not `ASC_FEATURE_RELAXED_SIMD`: the `lookup` builds have relaxed SIMD for ./lookup.ts's
 * swizzles and keep the reference's two roundings here.
 */
@inline
function madd(a: v128, b: v128, c: v128): v128 {
  if (STTN_FMA) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

/** 1 in the `fma` builds (float32 multiply-adds may be fused), 0 in the plain and `lookup` ones. */
export function fused(): i32 {
  return STTN_FMA ? 1 : 0;
}

/** Stores the first `left` lanes of v at p (all four when left ≥ 4, none when left ≤ 0). */
@inline
function putLanes(p: usize, v: v128, left: i32): void {
  if (left >= 4) v128.store(p, v);
  else {
    if (left > 0) store<f32>(p, f32x4.extract_lane(v, 0));
    if (left > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
    if (left > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
  }
}

/** bias, then relu (0 < v ? v : 0), on one vector of sums. */
@inline
function finishF32(acc: v128, bias: v128, relu: bool): v128 {
  const v = f32x4.add(acc, bias);
  return relu ? f32x4.pmax(f32x4.splat(0), v) : v;
}

/** Bytes of scratch `convDirectF32` needs: the zero-padded image and the table of tap offsets. */
export function convDirectScratchBytes(h: i32, w: i32, cin: i32, kh: i32, kw: i32, ph: i32, pw: i32): usize {
  return ((<usize>((h + 2 * ph) * (w + 2 * pw) * cin) << 2) + 15 & ~15) + (<usize>(kh * kw * cin) << 2);
}

/**
 * Four outputs × eight channels: output k's taps start at xb + ok (o0 = 0), tap t's byte offset
 * is the i32 at tab + 4t, its 8 weights are at wp + t·tapB. Each sum is, in float32 with a
 * rounding after every operation, 0 + x·w + x·w + … in tap order, then + bias (at bp), then with
 * `relu` 0 < v ? v : 0. With `pooled` the four are a pooling window, stored as its first maximum
 * (a later value replacing it only when greater; then with `poolRelu` 0 < v ? v : 0) at dst;
 * else output k ≤ `last` is stored at dst + k·outB. `left` channels from j on are stored.
 */
@inline
function block4x8(xb: usize, o1: usize, o2: usize, o3: usize, tab: usize, taps: i32, wp: usize, tapB: usize, bp: usize, relu: bool, pooled: bool, poolRelu: bool, dst: usize, outB: usize, last: i32, left: i32): void {
  let a0 = f32x4.splat(0), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0, d1 = a0;
  const end = tab + (<usize>taps << 2);
  for (let t = tab; t < end; t += 4, wp += tapB) {
    const xp = xb + <usize>load<i32>(t);
    const w0 = v128.load(wp), w1 = v128.load(wp, 16);
    let xs = v128.load32_splat(xp);
    a0 = madd(xs, w0, a0);
    a1 = madd(xs, w1, a1);
    xs = v128.load32_splat(xp + o1);
    b0 = madd(xs, w0, b0);
    b1 = madd(xs, w1, b1);
    xs = v128.load32_splat(xp + o2);
    c0 = madd(xs, w0, c0);
    c1 = madd(xs, w1, c1);
    xs = v128.load32_splat(xp + o3);
    d0 = madd(xs, w0, d0);
    d1 = madd(xs, w1, d1);
  }
  const bb0 = v128.load(bp), bb1 = v128.load(bp, 16);
  a0 = finishF32(a0, bb0, relu);
  a1 = finishF32(a1, bb1, relu);
  b0 = finishF32(b0, bb0, relu);
  b1 = finishF32(b1, bb1, relu);
  c0 = finishF32(c0, bb0, relu);
  c1 = finishF32(c1, bb1, relu);
  d0 = finishF32(d0, bb0, relu);
  d1 = finishF32(d1, bb1, relu);
  if (pooled) {
    let m0 = later(later(later(a0, b0), c0), d0);
    let m1 = later(later(later(a1, b1), c1), d1);
    if (poolRelu) {
      m0 = f32x4.pmax(f32x4.splat(0), m0);
      m1 = f32x4.pmax(f32x4.splat(0), m1);
    }
    putLanes(dst, m0, left);
    putLanes(dst + 16, m1, left - 4);
  } else {
    putLanes(dst, a0, left);
    putLanes(dst + 16, a1, left - 4);
    if (last >= 1) {
      putLanes(dst + outB, b0, left);
      putLanes(dst + outB + 16, b1, left - 4);
    }
    if (last >= 2) {
      putLanes(dst + 2 * outB, c0, left);
      putLanes(dst + 2 * outB + 16, c1, left - 4);
    }
    if (last >= 3) {
      putLanes(dst + 3 * outB, d0, left);
      putLanes(dst + 3 * outB + 16, d1, left - 4);
    }
  }
}

/** The larger of best and v, best kept unless v > best (the max-pool's rule). */
@inline
function later(best: v128, v: v128): v128 {
  return v128.bitselect(v, best, f32x4.gt(v, best));
}

/**
 * A float32 convolution computed directly (no patch matrix), for inputs with few channels: x
 * NHWC [n, h, w, cin], weights HWIO [kh, kw, cin, opad] (opad = o rounded up to 8, zero
 * padded), bias [opad]; y [n, oh, ow, o], or with `pool` its 2×2 max-pooling with stride 2
 * [n, oh/2, ow/2, o] (rounded down). Each output is, in float32 with a rounding after every
 * operation, acc = 0; acc += x·w over the taps in (ky, kx, ci) order; then acc + bias, then with
 * `relu` 0 < v ? v : 0. Each image is first copied into `scratch` (`convDirectScratchBytes`)
 * with ph rows and pw columns of zeros around it, so every output reads all its taps: a tap
 * outside the image adds 0·w = ±0, which leaves the sum as it is for finite weights (a sum that
 * starts at +0 is never −0), the sum the reference forms by skipping it. Four outputs × eight
 * channels at a time: a pooling window (then the window's first maximum in (ky, kx) order, a later
 * value replacing it only when greater, and with `poolRelu` 0 < v ? v : 0), or four neighbours
 * in a row (the last block of a row repeats its last output, stored once).
 */
export function convDirectF32(x: usize, n: i32, h: i32, w: i32, cin: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32, wt: usize, o: i32, opad: i32, bias: usize, relu: i32, pool: i32, poolRelu: i32, scratch: usize, y: usize): void {
  const hp = h + 2 * ph;
  const wp = w + 2 * pw;
  const pixB = <usize>cin << 2;
  const imgB = <usize>(hp * wp) * pixB;
  const tab = scratch + ((imgB + 15) & ~15);
  const taps = kh * kw * cin;
  for (let ky = 0, t = 0; ky < kh; ky++)
    for (let kx = 0; kx < kw; kx++)
      for (let ci = 0; ci < cin; ci++, t++) store<i32>(tab + (<usize>t << 2), ((ky * wp + kx) * cin + ci) << 2);
  const tapB = <usize>opad << 2;
  const outB = <usize>o << 2;
  const colB = <usize>sw * pixB; // between horizontal neighbours
  const rowB = <usize>(sh * wp) * pixB; // between vertical neighbours
  const rl = relu != 0;
  const rowIn = <usize>(w * cin);
  let out = y;
  for (let b = 0; b < n; b++) {
    memory.fill(scratch, 0, imgB);
    for (let iy = 0; iy < h; iy++) {
      const src = x + ((<usize>(b * h + iy) * rowIn) << 2);
      const dst = scratch + <usize>((iy + ph) * wp + pw) * pixB;
      memory.copy(dst, src, rowIn << 2);
    }
    if (pool != 0) {
      const poh = oh >> 1;
      const pow = ow >> 1;
      for (let py = 0; py < poh; py++) {
        for (let px = 0; px < pow; px++, out += outB) {
          const xb = scratch + <usize>(2 * py) * rowB + <usize>(2 * px) * colB;
          for (let j = 0; j < opad; j += 8) block4x8(xb, colB, rowB, rowB + colB, tab, taps, wt + (<usize>j << 2), tapB, bias + (<usize>j << 2), rl, true, poolRelu != 0, out + (<usize>j << 2), 0, 3, o - j);
        }
      }
      continue;
    }
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox += 4) {
        const xb = scratch + <usize>oy * rowB + <usize>ox * colB;
        const last = min(3, ow - 1 - ox); // outputs ox … ox + last are this row's
        const o1 = colB * <usize>min(1, last);
        const o2 = colB * <usize>min(2, last);
        const o3 = colB * <usize>last;
        for (let j = 0; j < opad; j += 8) block4x8(xb, o1, o2, o3, tab, taps, wt + (<usize>j << 2), tapB, bias + (<usize>j << 2), rl, false, false, out + (<usize>j << 2), outB, last, o - j);
        out += <usize>(last + 1) * outB;
      }
    }
  }
}

/**
 * A float32 dense layer: y[i, j] = relu?(Σ_k x[i, k]·w[j, k] + bias[j]) for m rows of k inputs
 * at `x` and o rows of k weights at `w` (bias [o], y [m, o]). In float32 with a rounding after
 * every operation: lane l of four partial sums takes the k ≡ l (mod 4) terms in order, the sum is
 * (s0 + s2) + (s1 + s3), then + bias, then with `relu` 0 < v ? v : 0. Four outputs at a time (four
 * independent chains of additions; the last block of a row repeats its last output, stored once).
 * Rows of x and w may be read up to 3 values past their ends (those products are not added).
 */
export function denseF32(x: usize, w: usize, bias: usize, m: i32, k: i32, o: i32, relu: i32, y: usize): void {
  const k4 = k & ~3;
  const rowB = <usize>k << 2;
  const end = <usize>k4 << 2;
  // the last k mod 4 products, in lanes 0 … k mod 4 − 1
  const keep = i32x4.lt_s(i32x4(0, 1, 2, 3), i32x4.splat(k - k4));
  for (let i = 0; i < m; i++) {
    const xr = x + <usize>i * rowB;
    const yr = y + ((<usize>i * <usize>o) << 2);
    for (let j = 0; j < o; j += 4) {
      const last = min(3, o - 1 - j);
      const w0 = w + <usize>j * rowB;
      const w1 = w + <usize>(j + min(1, last)) * rowB;
      const w2 = w + <usize>(j + min(2, last)) * rowB;
      const w3 = w + <usize>(j + last) * rowB;
      let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0;
      let q: usize = 0;
      for (; q < end; q += 16) {
        const xv = v128.load(xr + q);
        s0 = madd(xv, v128.load(w0 + q), s0);
        s1 = madd(xv, v128.load(w1 + q), s1);
        s2 = madd(xv, v128.load(w2 + q), s2);
        s3 = madd(xv, v128.load(w3 + q), s3);
      }
      if (k4 < k) {
        const xv = v128.load(xr + q);
        s0 = f32x4.add(s0, v128.and(f32x4.mul(xv, v128.load(w0 + q)), keep));
        s1 = f32x4.add(s1, v128.and(f32x4.mul(xv, v128.load(w1 + q)), keep));
        s2 = f32x4.add(s2, v128.and(f32x4.mul(xv, v128.load(w2 + q)), keep));
        s3 = f32x4.add(s3, v128.and(f32x4.mul(xv, v128.load(w3 + q)), keep));
      }
      const yj = yr + (<usize>j << 2);
      const bj = bias + (<usize>j << 2);
      store<f32>(yj, denseOut(s0, load<f32>(bj), relu));
      if (last >= 1) store<f32>(yj, denseOut(s1, load<f32>(bj, 4), relu), 4);
      if (last >= 2) store<f32>(yj, denseOut(s2, load<f32>(bj, 8), relu), 8);
      if (last >= 3) store<f32>(yj, denseOut(s3, load<f32>(bj, 12), relu), 12);
    }
  }
}

/** (s0 + s2) + (s1 + s3) + bias, then with `relu` 0 < v ? v : 0. */
@inline
function denseOut(s: v128, bias: f32, relu: i32): f32 {
  const h = f32x4.add(s, v128.shuffle<f32>(s, s, 2, 3, 0, 1));
  let v: f32 = f32x4.extract_lane(h, 0) + f32x4.extract_lane(h, 1);
  v += bias;
  if (relu != 0 && !(v > 0)) v = 0;
  return v;
}
