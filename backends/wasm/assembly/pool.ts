/**
 * The wasm backend's max pooling over NHWC float32 (no padding), four channels at a time.
 *
 * The same rule as the cpu backend's loop: a window's running maximum starts at its first element
 * and is replaced only by a strictly greater value, so ties go to the first maximum in row-major
 * window order and a NaN in first position stays (a later NaN never replaces a number). The
 * gradient sends each window's dL/dy to that element, adding where windows overlap.
 *
 * The `…Part` entries run whole images on one thread each (backends/wasm/threads.ts).
 *
 * `maxPoolRelu` and `maxPoolReluGrad` are a maxPool → relu pair in one pass each (src/models/
 * fuse.ts): the bits of `relu(maxPool(x))` and of `maxPoolGrad(x, dy·step(y))`.
 *
 * Law (laws/backend-agreement.test.ts, laws/wasm-elementwise.test.ts): both agree with the cpu
 * backend exactly; laws/resident.test.ts: split over 2 and 3 threads, the same bits;
 * laws/fused-layers.test.ts: the fused pair equals the composition bit for bit.
 */
import { Geom } from './geom';
import { partStart } from './elementwise';
import { relu4 } from './batchnorm';

/** Byte offset of window (b, oy, ox)'s top-left element's channel 0. */
@inline
export function corner(g: Geom, b: i32, oy: i32, ox: i32): usize {
  return (<usize>((b * g.h + oy * g.sh) * g.w + ox * g.sw) * <usize>g.cin) << 2;
}

/** Bytes of one image of the output (or dy). */
@inline
export function outImage(g: Geom): usize {
  return (<usize>g.oh * <usize>g.ow * <usize>g.cin) << 2;
}

/**
 * Per lane of the 4 channels at `at`, the index (ky·kw + kx, row-major) of its window's first
 * maximum: the running maximum starts at the first element and moves only to a strictly greater one.
 */
@inline
function firstMax4(at: usize, kh: i32, kw: i32, rowStep: usize, colStep: usize): v128 {
  let best = v128.load(at);
  let arg = i32x4.splat(0);
  let k = 0;
  for (let ky = 0; ky < kh; ky++) {
    const r = at + <usize>ky * rowStep;
    for (let kx = 0; kx < kw; kx++) {
      const v = v128.load(r + <usize>kx * colStep);
      const m = f32x4.gt(v, best);
      best = v128.bitselect(v, best, m);
      arg = v128.bitselect(i32x4.splat(k), arg, m);
      k++;
    }
  }
  return arg;
}

/** `firstMax4` for the one channel at byte `o` of the window at `at`: the first maximum's byte offset from `at`. */
@inline
function firstMax1(at: usize, o: usize, kh: i32, kw: i32, rowStep: usize, colStep: usize): usize {
  let best = load<f32>(at + o);
  let arg: usize = o;
  for (let ky = 0; ky < kh; ky++) {
    const r = <usize>ky * rowStep + o;
    for (let kx = 0; kx < kw; kx++) {
      const p = r + <usize>kx * colStep;
      const v = load<f32>(at + p);
      if (v > best) {
        best = v;
        arg = p;
      }
    }
  }
  return arg;
}

/** y = maxPool(x). */
export function maxPool(geom: usize, x: usize, y: usize): void {
  const g = changetype<Geom>(geom);
  maxPoolImages(g, x, y, 0, g.n, false);
}

/** Part `part` of `parts` of maxPool: whole images, so the same bits for any split. */
export function maxPoolPart(part: i32, parts: i32, geom: usize, x: usize, y: usize): void {
  const g = changetype<Geom>(geom);
  const b0 = partStart(g.n, part, parts, 1);
  const b1 = partStart(g.n, part + 1, parts, 1);
  if (b1 > b0) maxPoolImages(g, x, y, b0, b1, false);
}

/** y = relu(maxPool(x)) in one pass: each window's maximum through `relu`'s max(·, 0) (elementwise.ts) as it is stored. */
export function maxPoolRelu(geom: usize, x: usize, y: usize): void {
  const g = changetype<Geom>(geom);
  maxPoolImages(g, x, y, 0, g.n, true);
}

/** Part `part` of `parts` of maxPoolRelu: whole images. */
export function maxPoolReluPart(part: i32, parts: i32, geom: usize, x: usize, y: usize): void {
  const g = changetype<Geom>(geom);
  const b0 = partStart(g.n, part, parts, 1);
  const b1 = partStart(g.n, part + 1, parts, 1);
  if (b1 > b0) maxPoolImages(g, x, y, b0, b1, true);
}

/** maxPool of images [b0, b1), then relu when `relu` (a constant at every call, so each is its own loop). */
@inline
function maxPoolImages(g: Geom, x: usize, y: usize, b0: i32, b1: i32, relu: bool): void {
  const c = g.cin;
  const rowStep = (<usize>g.w * <usize>c) << 2;
  const colStep = <usize>c << 2;
  let q = y + <usize>b0 * outImage(g);
  for (let b = b0; b < b1; b++) {
    for (let oy = 0; oy < g.oh; oy++) {
      for (let ox = 0; ox < g.ow; ox++) {
        const at = x + corner(g, b, oy, ox);
        let ch = 0;
        for (; ch + 4 <= c; ch += 4) {
          const o = <usize>ch << 2;
          let best = v128.load(at + o);
          for (let ky = 0; ky < g.kh; ky++) {
            const r = at + <usize>ky * rowStep + o;
            for (let kx = 0; kx < g.kw; kx++) {
              const v = v128.load(r + <usize>kx * colStep);
              best = v128.bitselect(v, best, f32x4.gt(v, best));
            }
          }
          v128.store(q, relu ? relu4(best) : best);
          q += 16;
        }
        for (; ch < c; ch++) {
          const o = <usize>ch << 2;
          let best = load<f32>(at + o);
          for (let ky = 0; ky < g.kh; ky++) {
            const r = at + <usize>ky * rowStep + o;
            for (let kx = 0; kx < g.kw; kx++) {
              const v = load<f32>(r + <usize>kx * colStep);
              if (v > best) best = v;
            }
          }
          store<f32>(q, relu ? max<f32>(best, 0) : best);
          q += 4;
        }
      }
    }
  }
}

/** dx = dL/dx of maxPool, given x and dy. */
export function maxPoolGrad(geom: usize, x: usize, dy: usize, dx: usize): void {
  const g = changetype<Geom>(geom);
  maxPoolGradImages(g, x, dy, 0, dx, 0, g.n);
}

/** Part `part` of `parts` of maxPoolGrad: whole images (windows never span two), so the same bits for any split. */
export function maxPoolGradPart(part: i32, parts: i32, geom: usize, x: usize, dy: usize, dx: usize): void {
  const g = changetype<Geom>(geom);
  const b0 = partStart(g.n, part, parts, 1);
  const b1 = partStart(g.n, part + 1, parts, 1);
  if (b1 > b0) maxPoolGradImages(g, x, dy, 0, dx, b0, b1);
}

/**
 * dx = maxPoolGrad(x, dy·step(y)) in one pass, y = relu(maxPool(x)) (the pair's output): each
 * window's dy is multiplied by step(y) (1[y > 0] as float32, `binary('mul')` then, bit for bit) as
 * it is read.
 */
export function maxPoolReluGrad(geom: usize, x: usize, y: usize, dy: usize, dx: usize): void {
  const g = changetype<Geom>(geom);
  maxPoolGradImages(g, x, dy, y, dx, 0, g.n);
}

/** Part `part` of `parts` of maxPoolReluGrad: whole images. */
export function maxPoolReluGradPart(part: i32, parts: i32, geom: usize, x: usize, y: usize, dy: usize, dx: usize): void {
  const g = changetype<Geom>(geom);
  const b0 = partStart(g.n, part, parts, 1);
  const b1 = partStart(g.n, part + 1, parts, 1);
  if (b1 > b0) maxPoolGradImages(g, x, dy, y, dx, b0, b1);
}

/** The 4 lanes of dy at `q`, times step(y) at the same offset when `mask` (y's base) is not 0. */
@inline
function dy4(q: usize, dy: usize, mask: usize): v128 {
  const d = v128.load(q);
  if (mask == 0) return d;
  return f32x4.mul(d, v128.and(f32x4.gt(v128.load(mask + (q - dy)), f32x4.splat(0)), f32x4.splat(1)));
}

/** `dy4` for one lane. */
@inline
function dy1(q: usize, dy: usize, mask: usize): f32 {
  const d = load<f32>(q);
  if (mask == 0) return d;
  return d * (load<f32>(mask + (q - dy)) > 0 ? <f32>1 : <f32>0);
}

/** maxPoolGrad of images [b0, b1); with `mask` (not 0), of dy·step(mask). */
@inline
function maxPoolGradImages(g: Geom, x: usize, dy: usize, mask: usize, dx: usize, b0: i32, b1: i32): void {
  if (g.sh == g.kh && g.sw == g.kw && g.oh * g.kh == g.h && g.ow * g.kw == g.w) {
    maxPoolGradTiled(g, x, dy, mask, dx, b0, b1);
    return;
  }
  const c = g.cin;
  const image = (<usize>g.h * <usize>g.w * <usize>c) << 2;
  memory.fill(dx + <usize>b0 * image, 0, <usize>(b1 - b0) * image);
  const rowStep = (<usize>g.w * <usize>c) << 2;
  const colStep = <usize>c << 2;
  const ks = g.kh * g.kw;
  let q = dy + <usize>b0 * outImage(g);
  for (let b = b0; b < b1; b++) {
    for (let oy = 0; oy < g.oh; oy++) {
      for (let ox = 0; ox < g.ow; ox++) {
        const off = corner(g, b, oy, ox);
        const at = x + off;
        const dat = dx + off;
        let ch = 0;
        for (; ch + 4 <= c; ch += 4) {
          const o = <usize>ch << 2;
          const arg = firstMax4(at + o, g.kh, g.kw, rowStep, colStep);
          const d = dy4(q, dy, mask);
          for (let k = 0; k < ks; k++) {
            const m = i32x4.eq(arg, i32x4.splat(k));
            if (!v128.any_true(m)) continue;
            const p = dat + <usize>(k / g.kw) * rowStep + <usize>(k % g.kw) * colStep + o;
            v128.store(p, f32x4.add(v128.load(p), v128.and(d, m)));
          }
          q += 16;
        }
        for (; ch < c; ch++) {
          const o = <usize>ch << 2;
          const arg = firstMax1(at, o, g.kh, g.kw, rowStep, colStep);
          const p = dat + arg;
          store<f32>(p, load<f32>(p) + dy1(q, dy, mask));
          q += 4;
        }
      }
    }
  }
}

/**
 * maxPoolGrad of images [b0, b1) when the windows tile the image (stride = window, no rows or
 * columns left over): every element of dx lies in exactly one window, so each is written once,
 * as 0 + (its window's dy where it is the first maximum, else 0) — the bits of the general loop's
 * zero fill and add — with no fill and no read of dx.
 * Inlined, so that the unmasked callers' `mask` is the constant 0 and the mask's test folds away.
 */
@inline
function maxPoolGradTiled(g: Geom, x: usize, dy: usize, mask: usize, dx: usize, b0: i32, b1: i32): void {
  const c = g.cin;
  const kh = g.kh;
  const kw = g.kw;
  const rowStep = (<usize>g.w * <usize>c) << 2;
  const colStep = <usize>c << 2;
  const zero = f32x4.splat(0);
  let q = dy + <usize>b0 * outImage(g);
  for (let b = b0; b < b1; b++) {
    for (let oy = 0; oy < g.oh; oy++) {
      for (let ox = 0; ox < g.ow; ox++) {
        const off = corner(g, b, oy, ox);
        const at = x + off;
        const dat = dx + off;
        let ch = 0;
        for (; ch + 4 <= c; ch += 4) {
          const o = <usize>ch << 2;
          const arg = firstMax4(at + o, kh, kw, rowStep, colStep);
          const d = dy4(q, dy, mask);
          let k = 0;
          for (let ky = 0; ky < kh; ky++) {
            const r = dat + <usize>ky * rowStep + o;
            for (let kx = 0; kx < kw; kx++) {
              const m = i32x4.eq(arg, i32x4.splat(k));
              v128.store(r + <usize>kx * colStep, f32x4.add(zero, v128.and(d, m)));
              k++;
            }
          }
          q += 16;
        }
        for (; ch < c; ch++) {
          const o = <usize>ch << 2;
          const arg = firstMax1(at, o, kh, kw, rowStep, colStep);
          const d = dy1(q, dy, mask);
          for (let ky = 0; ky < kh; ky++) {
            const r = <usize>ky * rowStep + o;
            for (let kx = 0; kx < kw; kx++) {
              const p = r + <usize>kx * colStep;
              store<f32>(dat + p, p == arg ? <f32>0 + d : <f32>0);
            }
          }
          q += 4;
        }
      }
    }
  }
}
