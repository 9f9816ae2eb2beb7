/**
 * The paper's augmentation: pad each image with `pad` zeros on every side and crop a random
 * window of the original size (offsets uniform in [0, 2·pad] on each axis), then, when `flip`
 * is on, mirror it left–right with probability 1/2 (off by default: digits are not symmetric).
 *
 * Randomness comes only from the explicit `rng`: per image, two `int` draws when pad > 0, then
 * one `uniform` draw when flip is on, in image order. So the output is a function of the batch,
 * the options and the rng state.
 *
 * Law (laws/data.test.ts): the shape is kept; the same rng state gives the same output; with
 * pad 0 and no flip it is the identity; every output pixel is 0 or some input pixel of the same
 * image and channel.
 */
import { ConfigError, ShapeError } from '../errors.js';
import { int, uniform, type Rng } from '../random.js';
import { alloc, dtypeOf, sameShape, type Tensor } from '../tensor.js';

export interface AugmentOptions {
  /** Zero padding on each side before the random crop (default 2, as in the paper). */
  readonly pad?: number;
  /** Random left–right flip with probability 1/2 (default false). */
  readonly flip?: boolean;
}

/**
 * Augments an NHWC batch. Writes into `out` when given (same shape, must not share `images`'
 * buffer) and returns it; otherwise allocates a tensor of the same dtype.
 */
export function augment(images: Tensor, rng: Rng, opts: AugmentOptions = {}, out?: Tensor): Tensor {
  const pad = opts.pad ?? 2;
  const flip = opts.flip ?? false;
  if (!Number.isInteger(pad) || pad < 0) throw new ConfigError('pad', `must be a non-negative integer, got ${pad}`);
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
    const mirror = flip && uniform(rng) < 0.5;
    const base = k * h * row;
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

function overlaps(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}
