/**
 * Laws of the affine augmentation (src/data/augment.ts: rotation and zoom with the crop, sampled
 * bilinearly) and of its training options (src/train/train.ts: augmentRotate, augmentScale).
 */
import fc from 'fast-check';
import { augment, warp } from '../src/data/augment.js';
import { ConfigError } from '../src/errors.js';
import { restore, rng, snapshot, uniform, int } from '../src/random.js';
import { tensorEqual, type Tensor } from '../src/tensor.js';
import { TrainConfig } from '../src/train/train.js';
import { example, law, throwsWith } from './law.js';

/** One image h×w×c of values in [−1, 1], with its geometry. */
const imageArb = fc
  .tuple(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 3 }))
  .chain(([h, w, c]) =>
    fc.array(fc.integer({ min: -255, max: 255 }), { minLength: h * w * c, maxLength: h * w * c }).map((v) => ({ h, w, c, data: Float32Array.from(v, (b) => b / 255) })),
  );

type Img = { h: number; w: number; c: number; data: Float32Array };
const px = (im: Img, y: number, x: number, k: number): number => (y < 0 || y >= im.h || x < 0 || x >= im.w ? 0 : im.data[(y * im.w + x) * im.c + k]);
const warped = (im: Img, p: Parameters<typeof warp>[6]): Float32Array => {
  const o = new Float32Array(im.data.length);
  warp(im.data, o, 0, im.h, im.w, im.c, p);
  return o;
};
/** Every pixel of `o` equals `ref(y, x, k)` within `tol`. */
const matches = (im: Img, o: Float32Array, ref: (y: number, x: number, k: number) => number, tol = 0): boolean => {
  for (let y = 0; y < im.h; y++)
    for (let x = 0; x < im.w; x++)
      for (let k = 0; k < im.c; k++) if (!(Math.abs(o[(y * im.w + x) * im.c + k] - ref(y, x, k)) <= tol)) return false;
  return true;
};

law(
  'warp: no rotation, zoom 1 and an integer shift is the crop (output (x, y) = input (x + dx, y + dy), mirrored when asked), exactly',
  [imageArb, fc.integer({ min: -4, max: 4 }), fc.integer({ min: -4, max: 4 }), fc.boolean()],
  (im, dx, dy, mirror) => matches(im, warped(im, { theta: 0, zoom: 1, dx, dy, mirror }), (y, x, k) => px(im, y + dy, (mirror ? im.w - 1 - x : x) + dx, k)),
);

law('warp: a half turn reverses both axes (within float64 rounding of sin π)', [imageArb], (im) =>
  matches(im, warped(im, { theta: Math.PI, zoom: 1, dx: 0, dy: 0, mirror: false }), (y, x, k) => px(im, im.h - 1 - y, im.w - 1 - x, k), 1e-6),
);

law(
  'warp: a quarter turn of a square image is the documented matrix: output (x, y) = input (row w−1−x, column y)',
  [fc.tuple(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 3 })).chain(([n, c]) =>
    fc.array(fc.integer({ min: -255, max: 255 }), { minLength: n * n * c, maxLength: n * n * c }).map((v) => ({ h: n, w: n, c, data: Float32Array.from(v, (b) => b / 255) })),
  )],
  (im) => matches(im, warped(im, { theta: Math.PI / 2, zoom: 1, dx: 0, dy: 0, mirror: false }), (y, x, k) => px(im, im.w - 1 - x, y, k), 1e-6),

);

law(
  'warp: zoom 2 about the centre samples halfway between the centre and the pixel, bilinearly',
  [imageArb],
  (im) => {
    const cx = (im.w - 1) / 2;
    const cy = (im.h - 1) / 2;
    const bilinear = (sy: number, sx: number, k: number): number => {
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      return (1 - fy) * ((1 - fx) * px(im, y0, x0, k) + fx * px(im, y0, x0 + 1, k)) + fy * ((1 - fx) * px(im, y0 + 1, x0, k) + fx * px(im, y0 + 1, x0 + 1, k));
    };
    return matches(im, warped(im, { theta: 0, zoom: 2, dx: 0, dy: 0, mirror: false }), (y, x, k) => bilinear(cy + (y - cy) / 2, cx + (x - cx) / 2, k), 1e-6);
  },
);

law(
  'warp: every output lies between min(0, channel minimum) and max(0, channel maximum) of its image, for any angle, zoom and shift',
  [imageArb, fc.double({ min: -Math.PI, max: Math.PI, noNaN: true }), fc.double({ min: 0.1, max: 1.9, noNaN: true }), fc.double({ min: -3, max: 3, noNaN: true }), fc.double({ min: -3, max: 3, noNaN: true }), fc.boolean()],
  (im, theta, zoom, dx, dy, mirror) => {
    const o = warped(im, { theta, zoom, dx, dy, mirror });
    for (let k = 0; k < im.c; k++) {
      let lo = 0;
      let hi = 0;
      for (let i = k; i < im.data.length; i += im.c) (lo = Math.min(lo, im.data[i])), (hi = Math.max(hi, im.data[i]));
      for (let i = k; i < o.length; i += im.c) if (!(o[i] >= lo - 1e-6 && o[i] <= hi + 1e-6)) return false;
    }
    return true;
  },
);

const batchArb = fc
  .tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 2 }))
  .chain(([n, h, w, c]) =>
    fc.array(fc.integer({ min: 0, max: 255 }), { minLength: n * h * w * c, maxLength: n * h * w * c }).map((v): Tensor => ({ shape: [n, h, w, c], data: Float32Array.from(v, (b) => b / 255) })),
  );

law(
  'augment with rotate/scale: the documented draws per image (pad: two ints; rotate, scale: one uniform each; flip: one), applied by warp',
  [batchArb, fc.integer({ min: 0, max: 3 }), fc.double({ min: 0, max: 180, noNaN: true }), fc.double({ min: 0, max: 0.9, noNaN: true }), fc.boolean(), fc.integer()],
  (x, pad, rotate, scale, flip, seed) => {
    const y = augment(x, rng(seed), { pad, rotate, scale, flip });
    const r = rng(seed);
    const [n, h, w, c] = x.shape;
    const ref = new Float32Array(x.data.length);
    for (let k = 0; k < n; k++) {
      const dy = pad > 0 ? int(r, 2 * pad + 1) - pad : 0;
      const dx = pad > 0 ? int(r, 2 * pad + 1) - pad : 0;
      const theta = rotate > 0 ? ((2 * uniform(r) - 1) * rotate * Math.PI) / 180 : 0;
      const zoom = scale > 0 ? 1 + (2 * uniform(r) - 1) * scale : 1;
      const mirror = flip && uniform(r) < 0.5;
      const one = { h, w, c, data: x.data.subarray(k * h * w * c, (k + 1) * h * w * c) as Float32Array };
      ref.set(warped(one, { theta, zoom, dx, dy, mirror }), k * h * w * c);
    }
    return y.shape.join() === x.shape.join() && tensorEqual(y, { shape: x.shape, data: ref });
  },
  { numRuns: 200 },
);

law(
  'augment with rotate/scale: deterministic for a given rng state; rotate 0 and scale 0 draw nothing beyond the crop and flip (older runs replay)',
  [batchArb, fc.integer({ min: 0, max: 3 }), fc.double({ min: 0, max: 180, noNaN: true }), fc.boolean(), fc.integer()],
  (x, pad, rotate, flip, seed) => {
    const r = rng(seed);
    const st = snapshot(r);
    const a = augment(x, r, { pad, rotate, scale: 0.2, flip });
    const b = augment(x, restore(st), { pad, rotate, scale: 0.2, flip });
    const plain = augment(x, rng(seed), { pad, flip });
    const zero = augment(x, rng(seed), { pad, flip, rotate: 0, scale: 0 });
    // the crop's and the flip's draws only, by hand
    const r1 = rng(seed);
    for (let k = 0; k < x.shape[0]; k++) {
      if (pad > 0) int(r1, 2 * pad + 1), int(r1, 2 * pad + 1);
      if (flip) uniform(r1);
    }
    const r2 = rng(seed);
    augment(x, r2, { pad, flip, rotate: 0, scale: 0 });
    return tensorEqual(a, b) && tensorEqual(plain, zero) && snapshot(r1).s.join() === snapshot(r2).s.join();
  },
);

example('augment: rotate outside [0, 180] and scale outside [0, 1) are ConfigErrors naming them', () => {
  const x: Tensor = { shape: [1, 4, 4, 1], data: new Float32Array(16) };
  return (
    throwsWith(() => augment(x, rng(1), { rotate: -1 }), ConfigError, 'rotate') &&
    throwsWith(() => augment(x, rng(1), { rotate: 181 }), ConfigError, 'rotate') &&
    throwsWith(() => augment(x, rng(1), { rotate: NaN }), ConfigError, 'rotate') &&
    throwsWith(() => augment(x, rng(1), { scale: 1 }), ConfigError, 'scale') &&
    throwsWith(() => augment(x, rng(1), { scale: -0.1 }), ConfigError, 'scale') &&
    throwsWith(() => augment(x, rng(1), { rotate: true as unknown as number }), ConfigError, 'rotate') &&
    throwsWith(() => augment(x, rng(1), { scale: '0.1' as unknown as number }), ConfigError, 'scale')
  );
});

example('train config: rotate and scale default to 0 (a checkpoint written before them decodes), and out-of-range values are refused', () => {
  const old = TrainConfig.decode({ epochs: 2, batchSize: 8, augmentPad: 1 });
  const bad = TrainConfig.decode({ augmentRotate: 200 });
  const badScale = TrainConfig.decode({ augmentScale: 1 });
  return old._tag === 'Right' && old.right.augmentRotate === 0 && old.right.augmentScale === 0 && bad._tag === 'Left' && badScale._tag === 'Left';
});
