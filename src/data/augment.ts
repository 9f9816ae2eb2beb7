/**
 * The paper's augmentation: pad each image with `pad` zeros on every side and crop a random
 * window of the original size (offsets uniform in [0, 2·pad] on each axis), then, when `flip`
 * is on, mirror it left–right with probability 1/2 (off by default: digits are not symmetric).
 *
 * Optionally (both off by default, and then nothing below is drawn, so older runs replay bit for
 * bit) a random affine warp about the image centre: a rotation by an angle uniform in
 * [−rotate, rotate] degrees and a zoom by a factor uniform in [1 − scale, 1 + scale], applied
 * together with the crop's shift and sampled bilinearly (zeros outside the image). Output pixel
 * p = (x, y) reads the input at c + M·(p − c) + (dx, dy), with c the centre ((w−1)/2, (h−1)/2)
 * and M = [[cos θ, sin θ], [−sin θ, cos θ]] / z: the content turns by θ and grows by z.
 * The sampling is float64 arithmetic without fused multiply-adds, and V8's `Math.cos`/`Math.sin`
 * are its own fdlibm port, so in Node and Chromium it is the same on every CPU (other engines
 * may take cos/sin from the system's maths library).
 *
 * Randomness comes only from the explicit `rng`: per image, two `int` draws when pad > 0, then
 * one `uniform` draw when rotate > 0, one when scale > 0, then one when flip is on, in image
 * order. So the output is a function of the batch, the options and the rng state.
 *
 * Law (laws/data.test.ts): the shape is kept; the same rng state gives the same output; with
 * pad 0 and no flip it is the identity; every output pixel is 0 or some input pixel of the same
 * image and channel. (laws/augment-affine.test.ts): the warp with no rotation, zoom 1 and an
 * integer shift equals the crop; a half turn reverses both axes; every warped pixel lies between
 * 0 and the extremes of its image's channel; rotate and scale 0 draw nothing more.
 */
import { ConfigError, ShapeError } from '../errors.js';
import { int, uniform, type Rng } from '../random.js';
import { alloc, dtypeOf, sameShape, type Tensor } from '../tensor.js';

export interface AugmentOptions {
  /** Zero padding on each side before the random crop (default 2, as in the paper). */
  readonly pad?: number;
  /** Random left–right flip with probability 1/2 (default false). */
  readonly flip?: boolean;
  /** Random rotation in [−rotate, rotate] degrees, 0 ≤ rotate ≤ 180 (default 0: none). */
  readonly rotate?: number;
  /** Random zoom by a factor in [1 − scale, 1 + scale], 0 ≤ scale < 1 (default 0: none). */
  readonly scale?: number;
}

/**
 * Augments an NHWC batch. Writes into `out` when given (same shape, must not share `images`'
 * buffer) and returns it; otherwise allocates a tensor of the same dtype.
 */
export function augment(images: Tensor, rng: Rng, opts: AugmentOptions = {}, out?: Tensor): Tensor {
  const pad = opts.pad ?? 2;
  const flip = opts.flip ?? false;
  const rotate = opts.rotate ?? 0;
  const scale = opts.scale ?? 0;
  if (!Number.isInteger(pad) || pad < 0) throw new ConfigError('pad', `must be a non-negative integer, got ${pad}`);
  if (typeof rotate !== 'number' || !(rotate >= 0 && rotate <= 180)) throw new ConfigError('rotate', `must be a number of degrees in [0, 180], got ${rotate}`);
  if (typeof scale !== 'number' || !(scale >= 0 && scale < 1)) throw new ConfigError('scale', `must be a number in [0, 1), got ${scale}`);
  const s = images.shape;
  if (s.length !== 4) throw new ShapeError('augment: images', '[n, h, w, c]', s);
  const [n, h, w, ch] = s;
  const dst = out ?? { shape: [...s], data: alloc(dtypeOf(images), images.data.length) };
  if (!sameShape(dst.shape, s)) throw new ShapeError('augment: out', s, dst.shape);
  if (overlaps(dst.data, images.data)) throw new ConfigError('out', 'must not overlap the memory of images');
  const src = images.data;
  const o = dst.data;
  const row = w * ch;
  for (let k = 0; k < n; k++) {
    const dy = pad > 0 ? int(rng, 2 * pad + 1) - pad : 0;
    const dx = pad > 0 ? int(rng, 2 * pad + 1) - pad : 0;
    const theta = rotate > 0 ? ((2 * uniform(rng) - 1) * rotate * Math.PI) / 180 : 0;
    const zoom = scale > 0 ? 1 + (2 * uniform(rng) - 1) * scale : 1;
    const mirror = flip && uniform(rng) < 0.5;
    const base = k * h * row;
    if (rotate > 0 || scale > 0) {
      warp(src, o, base, h, w, ch, { theta, zoom, dx, dy, mirror });
      continue;
    }
    for (let y = 0; y < h; y++) {
      const sy = y + dy;
      const orow = base + y * row;
      if (sy < 0 || sy >= h) {
        o.fill(0, orow, orow + row);
        continue;
      }
      const srow = base + sy * row;
      if (!mirror) {
        // Output x reads input x + dx: one contiguous copy, zeros on the side it leaves.
        const x0 = Math.min(w, Math.max(0, -dx));
        const x1 = Math.max(x0, Math.min(w, w - dx));
        o.fill(0, orow, orow + x0 * ch);
        if (x1 > x0) o.set(src.subarray(srow + (x0 + dx) * ch, srow + (x1 + dx) * ch), orow + x0 * ch);
        o.fill(0, orow + x1 * ch, orow + row);
      } else {
        for (let x = 0; x < w; x++) {
          const sx = w - 1 - x + dx;
          const oi = orow + x * ch;
          if (sx < 0 || sx >= w) for (let c = 0; c < ch; c++) o[oi + c] = 0;
          else for (let c = 0; c < ch; c++) o[oi + c] = src[srow + sx * ch + c];
        }
      }
    }
  }
  return dst;
}

/** An affine warp of one image: which input point each output pixel reads. */
export interface Warp {
  /** rotation of the content, radians */
  readonly theta: number;
  /** zoom factor of the content (> 0) */
  readonly zoom: number;
  /** shift of the window, pixels: output (x, y) reads near input (x + dx, y + dy) */
  readonly dx: number;
  readonly dy: number;
  /** mirror left–right after the warp */
  readonly mirror: boolean;
}

/**
 * Writes image `base` (offset into `src` and `o`, h×w×ch, NHWC) of `src` warped by `p` into `o`:
 * bilinear samples of the input, zeros outside it, computed in float64.
 */
export function warp(src: ArrayLike<number>, o: { [i: number]: number }, base: number, h: number, w: number, ch: number, p: Warp): void {
  const cx = (w - 1) / 2;
  const cy = (h - 1) / 2;
  const c = Math.cos(p.theta) / p.zoom;
  const s = Math.sin(p.theta) / p.zoom;
  const at = (yy: number, xx: number, k: number): number => (yy < 0 || yy >= h || xx < 0 || xx >= w ? 0 : src[base + (yy * w + xx) * ch + k]);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const u = (p.mirror ? w - 1 - x : x) - cx;
      const v = y - cy;
      // the inverse map: rotate the output offset back by θ, shrink by the zoom, then shift
      const sx = c * u + s * v + cx + p.dx;
      const sy = -s * u + c * v + cy + p.dy;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      const oi = base + (y * w + x) * ch;
      for (let k = 0; k < ch; k++) {
        const top = fx === 0 ? at(y0, x0, k) : (1 - fx) * at(y0, x0, k) + fx * at(y0, x0 + 1, k);
        const bottom = fy === 0 ? 0 : fx === 0 ? at(y0 + 1, x0, k) : (1 - fx) * at(y0 + 1, x0, k) + fx * at(y0 + 1, x0 + 1, k);
        o[oi + k] = fy === 0 ? top : (1 - fy) * top + fy * bottom;
      }
    }
  }
}

function overlaps(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}
