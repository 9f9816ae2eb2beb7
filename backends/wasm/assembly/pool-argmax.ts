/**
 * Max pooling that also records where each window's maximum is, and the gradient from those
 * records instead of from x: the wasm backend's `maxPoolArgmax` and `maxPoolGradArgmax`
 * (src/backend.ts), and the pooling half of `conv2dPoolArgmax` (index.ts).
 *
 * `arg` has y's layout, one float32 per output element: the row-major index ky·kw + kx of the
 * window's first maximum under pool.ts's rule (the running maximum starts at the first element and
 * moves only to a strictly greater one), so `maxPoolGradArgmax(arg, dy)` sends each dy where
 * `maxPoolGrad(x, dy)` does and adds in the same order: the same bits, without reading x (an
 * activation 4× larger than arg for a 2×2 window).
 *
 * Law (laws/pool-argmax.test.ts): y and the gradient equal maxPool and maxPoolGrad bit for bit on
 * drawn geometries (overlapping, tiling and ragged windows), ties, ±0 and NaN, at 1–3 threads.
 */
import { Geom } from './geom';
import { partStart } from './elementwise';
import { corner, outImage } from './pool';

/** y and arg of images [b0, b1) of x (pool geometry `g`); y, arg point at image 0. */
export function maxPoolArgImages(g: Geom, x: usize, y: usize, arg: usize, b0: i32, b1: i32): void {
  const c = g.cin;
  const rowStep = (<usize>g.w * <usize>c) << 2;
  const colStep = <usize>c << 2;
  const o0 = <usize>b0 * outImage(g);
  let q = y + o0;
  let a = arg + o0;
  for (let b = b0; b < b1; b++) {
    for (let oy = 0; oy < g.oh; oy++) {
      for (let ox = 0; ox < g.ow; ox++) {
        const at = x + corner(g, b, oy, ox);
        let ch = 0;
        if (g.kh == 2 && g.kw == 2) {
          // the 2×2 window unrolled, the index kept as the float32 it is stored as
          for (; ch + 4 <= c; ch += 4) {
            const p = at + (<usize>ch << 2);
            let best = v128.load(p);
            let idx = f32x4.splat(0);
            let v = v128.load(p + colStep);
            let m = f32x4.gt(v, best);
            best = v128.bitselect(v, best, m);
            idx = v128.bitselect(f32x4.splat(1), idx, m);
            v = v128.load(p + rowStep);
            m = f32x4.gt(v, best);
            best = v128.bitselect(v, best, m);
            idx = v128.bitselect(f32x4.splat(2), idx, m);
            v = v128.load(p + rowStep + colStep);
            m = f32x4.gt(v, best);
            best = v128.bitselect(v, best, m);
            idx = v128.bitselect(f32x4.splat(3), idx, m);
            v128.store(q, best);
            v128.store(a, idx);
            q += 16;
            a += 16;
          }
        }
        for (; ch + 4 <= c; ch += 4) {
          const o = <usize>ch << 2;
          let best = v128.load(at + o);
          let idx = i32x4.splat(0);
          let k = 0;
          for (let ky = 0; ky < g.kh; ky++) {
            const r = at + <usize>ky * rowStep + o;
            for (let kx = 0; kx < g.kw; kx++) {
              const v = v128.load(r + <usize>kx * colStep);
              const m = f32x4.gt(v, best);
              best = v128.bitselect(v, best, m);
              idx = v128.bitselect(i32x4.splat(k), idx, m);
              k++;
            }
          }
          v128.store(q, best);
          v128.store(a, f32x4.convert_i32x4_s(idx));
          q += 16;
          a += 16;
        }
        for (; ch < c; ch++) {
          const o = <usize>ch << 2;
          let best = load<f32>(at + o);
          let idx = 0;
          let k = 0;
          for (let ky = 0; ky < g.kh; ky++) {
            const r = at + <usize>ky * rowStep + o;
            for (let kx = 0; kx < g.kw; kx++) {
              const v = load<f32>(r + <usize>kx * colStep);
              if (v > best) {
                best = v;
                idx = k;
              }
              k++;
            }
          }
          store<f32>(q, best);
          store<f32>(a, <f32>idx);
          q += 4;
          a += 4;
        }
      }
    }
  }
}

/** [y, arg] = maxPoolArgmax(x). */
export function maxPoolArg(geom: usize, x: usize, y: usize, arg: usize): void {
  const g = changetype<Geom>(geom);
  maxPoolArgImages(g, x, y, arg, 0, g.n);
}

/** Part `part` of `parts` of maxPoolArg: whole images, so the same bits for any split. */
export function maxPoolArgPart(part: i32, parts: i32, geom: usize, x: usize, y: usize, arg: usize): void {
  const g = changetype<Geom>(geom);
  const b0 = partStart(g.n, part, parts, 1);
  const b1 = partStart(g.n, part + 1, parts, 1);
  if (b1 > b0) maxPoolArgImages(g, x, y, arg, b0, b1);
}

/** dx = maxPoolGrad(x, dy) from arg = maxPoolArgmax(x)[1]. */
export function maxPoolGradArg(geom: usize, arg: usize, dy: usize, dx: usize): void {
  const g = changetype<Geom>(geom);
  maxPoolGradArgImages(g, arg, dy, dx, 0, g.n);
}

/** Part `part` of `parts` of maxPoolGradArg: whole images (windows never span two). */
export function maxPoolGradArgPart(part: i32, parts: i32, geom: usize, arg: usize, dy: usize, dx: usize): void {
  const g = changetype<Geom>(geom);
  const b0 = partStart(g.n, part, parts, 1);
  const b1 = partStart(g.n, part + 1, parts, 1);
  if (b1 > b0) maxPoolGradArgImages(g, arg, dy, dx, b0, b1);
}

/**
 * The gradient of images [b0, b1), as pool.ts `maxPoolGradImages` computes it (a zero fill, then
 * each window's dy added at its maximum in window order; where the windows tile the image, each
 * element written once as 0 + dy or 0), reading the maximum's index from arg.
 */
function maxPoolGradArgImages(g: Geom, arg: usize, dy: usize, dx: usize, b0: i32, b1: i32): void {
  const c = g.cin;
  const kw = g.kw;
  const tiled = g.sh == g.kh && g.sw == g.kw && g.oh * g.kh == g.h && g.ow * g.kw == g.w;
  const image = (<usize>g.h * <usize>g.w * <usize>c) << 2;
  if (!tiled) memory.fill(dx + <usize>b0 * image, 0, <usize>(b1 - b0) * image);
  const rowStep = (<usize>g.w * <usize>c) << 2;
  const colStep = <usize>c << 2;
  const ks = g.kh * kw;
  const zero = f32x4.splat(0);
  const o0 = <usize>b0 * outImage(g);
  let q = dy + o0;
  let a = arg + o0;
  for (let b = b0; b < b1; b++) {
    for (let oy = 0; oy < g.oh; oy++) {
      for (let ox = 0; ox < g.ow; ox++) {
        const dat = dx + corner(g, b, oy, ox);
        let ch = 0;
        if (tiled && g.kh == 2 && kw == 2) {
          // the 2×2 tile unrolled, the float32 index compared as it is stored
          for (; ch + 4 <= c; ch += 4) {
            const p = dat + (<usize>ch << 2);
            const f = v128.load(a);
            const d = v128.load(q);
            v128.store(p, f32x4.add(zero, v128.and(d, f32x4.eq(f, f32x4.splat(0)))));
            v128.store(p + colStep, f32x4.add(zero, v128.and(d, f32x4.eq(f, f32x4.splat(1)))));
            v128.store(p + rowStep, f32x4.add(zero, v128.and(d, f32x4.eq(f, f32x4.splat(2)))));
            v128.store(p + rowStep + colStep, f32x4.add(zero, v128.and(d, f32x4.eq(f, f32x4.splat(3)))));
            q += 16;
            a += 16;
          }
        }
        for (; ch + 4 <= c; ch += 4) {
          const o = <usize>ch << 2;
          const idx = v128.load(a); // compared as float32: only an exact window index matches
          const d = v128.load(q);
          if (tiled) {
            let k = 0;
            for (let ky = 0; ky < g.kh; ky++) {
              const r = dat + <usize>ky * rowStep + o;
              for (let kx = 0; kx < kw; kx++) {
                v128.store(r + <usize>kx * colStep, f32x4.add(zero, v128.and(d, f32x4.eq(idx, f32x4.splat(<f32>k)))));
                k++;
              }
            }
          } else {
            for (let k = 0; k < ks; k++) {
              const m = f32x4.eq(idx, f32x4.splat(<f32>k));
              if (!v128.any_true(m)) continue;
              const p = dat + <usize>(k / kw) * rowStep + <usize>(k % kw) * colStep + o;
              v128.store(p, f32x4.add(v128.load(p), v128.and(d, m)));
            }
          }
          q += 16;
          a += 16;
        }
        for (; ch < c; ch++) {
          const o = <usize>ch << 2;
          // an index that is not one of the window's (not from maxPoolArgmax) sends dy nowhere,
          // as the four-channel paths' comparisons do: never an address outside the window
          const f = load<f32>(a);
          const valid = f >= 0 && f < <f32>ks && f == Mathf.floor(f);
          const k = valid ? <i32>f : 0;
          const d = load<f32>(q);
          const at = <usize>(k / kw) * rowStep + <usize>(k % kw) * colStep + o;
          if (tiled) {
            for (let ky = 0; ky < g.kh; ky++) {
              const r = <usize>ky * rowStep + o;
              for (let kx = 0; kx < kw; kx++) {
                const p = r + <usize>kx * colStep;
                store<f32>(dat + p, valid && p == at ? <f32>0 + d : <f32>0);
              }
            }
          } else if (valid) {
            const p = dat + at;
            store<f32>(p, load<f32>(p) + d);
          }
          q += 4;
          a += 4;
        }
      }
    }
  }
}
