/**
 * Max pooling of NHWC float32 values (no padding), after a ternary layer or on its own
 * (`TernaryKernels.maxPool`), four channels at a time.
 *
 * Law (laws/ternary-kernels.test.ts, laws/engine.test.ts): `maxPool` and a pooled layer equal the
 * reference implementation's bit for bit (first maximum kept on ties, NaN and ±0 included).
 */

/**
 * Max pooling of NHWC f32 `x` [n, h, w, c] into `y` [n, oh, ow, c] (no padding): each window's
 * first maximum in (ky, kx) order (a later value replaces it only when greater), then, with
 * `relu`, 0 < v ? v : 0.
 */
export function maxPoolF32(x: usize, n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, oh: i32, ow: i32, relu: i32, y: usize): void {
  const cb = <usize>c << 2;
  const zero = f32x4.splat(0);
  let out = y;
  if (kh == 2 && kw == 2 && (c & 3) == 0) {
    // 2×2 windows over whole vectors of channels: the four taps in (ky, kx) order, in registers
    const rowB = <usize>w * cb;
    for (let b = 0; b < n; b++) {
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          const p0 = x + <usize>((b * h + oy * sh) * w + ox * sw) * cb;
          const p1 = p0 + rowB;
          const end = out + cb;
          for (let q: usize = 0; out < end; q += 16, out += 16) {
            let best = v128.load(p0 + q);
            let v = v128.load(p0 + q + cb);
            best = v128.bitselect(v, best, f32x4.gt(v, best));
            v = v128.load(p1 + q);
            best = v128.bitselect(v, best, f32x4.gt(v, best));
            v = v128.load(p1 + q + cb);
            best = v128.bitselect(v, best, f32x4.gt(v, best));
            v128.store(out, relu != 0 ? f32x4.pmax(zero, best) : best);
          }
        }
      }
    }
    return;
  }
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++, out += cb) {
        const corner = x + <usize>((b * h + oy * sh) * w + ox * sw) * cb;
        memory.copy(out, corner, cb);
        for (let ky = 0; ky < kh; ky++) {
          for (let kx = 0; kx < kw; kx++) {
            if (ky == 0 && kx == 0) continue;
            const p = corner + <usize>(ky * w + kx) * cb;
            let q: usize = 0;
            for (; q + 16 <= cb; q += 16) {
              const best = v128.load(out + q);
              const v = v128.load(p + q);
              v128.store(out + q, v128.bitselect(v, best, f32x4.gt(v, best)));
            }
            for (; q < cb; q += 4) {
              const v = load<f32>(p + q);
              if (v > load<f32>(out + q)) store<f32>(out + q, v);
            }
          }
        }
        if (relu != 0) {
          let q: usize = 0;
          for (; q + 16 <= cb; q += 16) v128.store(out + q, f32x4.pmax(zero, v128.load(out + q)));
          for (; q < cb; q += 4) {
            const v = load<f32>(out + q);
            store<f32>(out + q, v > 0 ? v : 0);
          }
        }
      }
    }
  }
}
