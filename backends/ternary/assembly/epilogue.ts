/**
 * A ternary layer's epilogue: from the GEMM's integer sums, per output channel
 *   y_o = relu?(a_o·Σ x·c + b_o·Σ x·|c| + bias_o)
 * in float64, rounded once to float32, as the reference computes it; and the max-pool of the
 * integer sums that runs before it where that epilogue is monotone in each channel's sum
 * (`poolSums`: backends/ternary/layer.ts says when).
 *
 * Law (laws/ternary-kernels.test.ts, laws/engine.test.ts): a layer's outputs equal the reference
 * implementation's bit for bit.
 */

/**
 * y[i, j] = f32(relu?(c[i, j]·a[j] + c2[i, j]·b[j] + bias[j])) for i < m, j < n, evaluated in
 * float64 (the c2 term only when `c2` ≠ 0): c and c2 rows `ldc` i32 apart, a, b, bias f64 per
 * channel, y rows n f32 apart. The relu is 0 < v ? v : 0 (so −0 and NaN give +0).
 */
export function epilogueF32(c: usize, c2: usize, m: i32, n: i32, ldc: i32, a: usize, b: usize, bias: usize, relu: i32, y: usize): void {
  const zero = f64x2.splat(0);
  const two = c2 != 0;
  const rl = relu != 0;
  for (let i = 0; i < m; i++) {
    const cr = c + ((<usize>i * <usize>ldc) << 2);
    const cr2 = c2 + ((<usize>i * <usize>ldc) << 2);
    const yr = y + ((<usize>i * <usize>n) << 2);
    let j = 0;
    if (!two) {
      // four at a time: the high two sums moved down and converted like the low two
      for (; j + 4 <= n; j += 4) {
        const jj = <usize>j;
        const c4 = v128.load(cr + (jj << 2));
        let lo = f64x2.add(f64x2.mul(f64x2.convert_low_i32x4_s(c4), v128.load(a + (jj << 3))), v128.load(bias + (jj << 3)));
        let hi = f64x2.add(f64x2.mul(f64x2.convert_low_i32x4_s(i32x4.shuffle(c4, c4, 2, 3, 2, 3)), v128.load(a + (jj << 3), 16)), v128.load(bias + (jj << 3), 16));
        if (rl) {
          lo = f64x2.pmax(zero, lo);
          hi = f64x2.pmax(zero, hi);
        }
        v128.store(yr + (jj << 2), i32x4.shuffle(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5));
      }
    }
    for (; j + 2 <= n; j += 2) {
      const jj = <usize>j;
      let v = f64x2.mul(f64x2.convert_low_i32x4_s(v128.load64_zero(cr + (jj << 2))), v128.load(a + (jj << 3)));
      if (two) v = f64x2.add(v, f64x2.mul(f64x2.convert_low_i32x4_s(v128.load64_zero(cr2 + (jj << 2))), v128.load(b + (jj << 3))));
      v = f64x2.add(v, v128.load(bias + (jj << 3)));
      if (rl) v = f64x2.pmax(zero, v);
      v128.store64_lane(yr + (jj << 2), f32x4.demote_f64x2_zero(v), 0);
    }
    for (; j < n; j++) {
      const jj = <usize>j;
      let v = <f64>load<i32>(cr + (jj << 2)) * load<f64>(a + (jj << 3));
      if (two) v += <f64>load<i32>(cr2 + (jj << 2)) * load<f64>(b + (jj << 3));
      v += load<f64>(bias + (jj << 3));
      if (rl && !(v > 0)) v = 0;
      store<f32>(yr + (jj << 2), <f32>v);
    }
  }
}

/**
 * Max pooling of the GEMM's integer sums before the epilogue, for a layer whose epilogue is
 * monotone in the sum per channel (y = f(c) with f(c) = f32(relu?(c·a + bias)), a ≠ 0: rising for
 * a > 0, falling for a < 0): the window's maximum of f(c) is f of its largest sum where a > 0 and
 * of its smallest where a < 0, so the epilogue runs on the pooled sums only. `imgs` blocks of
 * [oh, ow] rows of sums (rows `ldc` i32 apart, ldc a multiple of 4) at c; `neg` holds ldc i32
 * lanes, −1 where a < 0, else 0; y receives imgs·poh·pow rows of ldc i32 (windows kh×kw, strides
 * sh, sw, no padding).
 */
export function poolSums(c: usize, ldc: i32, imgs: i32, oh: i32, ow: i32, kh: i32, kw: i32, sh: i32, sw: i32, poh: i32, pow: i32, neg: usize, y: usize): void {
  const rowB = <usize>ldc << 2;
  let out = y;
  if (kh == 2 && kw == 2) {
    // 2×2 windows: the four taps in registers
    const down = <usize>ow * rowB;
    for (let b = 0; b < imgs; b++) {
      const img = c + <usize>(b * oh * ow) * rowB;
      for (let py = 0; py < poh; py++) {
        for (let px = 0; px < pow; px++, out += rowB) {
          const p0 = img + <usize>(py * sh * ow + px * sw) * rowB;
          const p1 = p0 + down;
          for (let q: usize = 0; q < rowB; q += 16) {
            const v0 = v128.load(p0 + q), v1 = v128.load(p0 + q + rowB), v2 = v128.load(p1 + q), v3 = v128.load(p1 + q + rowB);
            const hi = i32x4.max_s(i32x4.max_s(v0, v1), i32x4.max_s(v2, v3));
            const lo = i32x4.min_s(i32x4.min_s(v0, v1), i32x4.min_s(v2, v3));
            v128.store(out + q, v128.bitselect(lo, hi, v128.load(neg + q)));
          }
        }
      }
    }
    return;
  }
  for (let b = 0; b < imgs; b++) {
    const img = c + <usize>(b * oh * ow) * rowB;
    for (let py = 0; py < poh; py++) {
      for (let px = 0; px < pow; px++, out += rowB) {
        const corner = img + <usize>(py * sh * ow + px * sw) * rowB;
        for (let q: usize = 0; q < rowB; q += 16) {
          let hi = v128.load(corner + q);
          let lo = hi;
          for (let ky = 0; ky < kh; ky++) {
            for (let kx = 0; kx < kw; kx++) {
              const v = v128.load(corner + <usize>(ky * ow + kx) * rowB + q);
              hi = i32x4.max_s(hi, v);
              lo = i32x4.min_s(lo, v);
            }
          }
          v128.store(out + q, v128.bitselect(lo, hi, v128.load(neg + q)));
        }
      }
    }
  }
}
