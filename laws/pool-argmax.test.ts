/**
 * Max pooling that records each window's first maximum (src/backend.ts `maxPoolArgmax`,
 * `maxPoolGradArgmax`, `conv2dPoolArgmax`; on the wasm backend assembly/pool-argmax.ts and
 * index.ts `conv2dPool`) replaces compositions of the backend's own calls, so the claim is
 * bit-identity (Object.is per element), not a tolerance:
 * - maxPoolArgmax's y is maxPool's, and its arg is the row-major index of the window's first
 *   maximum under maxPool's rule (the running maximum moves only to a strictly greater value, so
 *   ties and a NaN in first place keep the earlier element), computed here independently;
 * - maxPoolGradArgmax(arg, dy, xShape) is maxPoolGrad(x, dy): windows that overlap (the adds in
 *   window order), tile the image, or leave rows and columns over; channel counts that are and are
 *   not multiples of 4; values drawn from ties, ±0, NaN and normals;
 * - conv2dPoolArgmax is maxPoolArgmax of conv2dBias (or conv2d without a bias), both outputs,
 *   also over several image groups per part, strided convolutions and overlapping pools;
 * - maxPoolGradArgmax given entries that are not window indices sends their dy nowhere and
 *   writes nothing outside dx (an earlier resident tensor is unchanged);
 * - the maxPool layer, which keeps the indices instead of x where the backend has the passes,
 *   gives the layer without them (the members removed) its y and dx;
 * - all of it on the wasm backend resident and copying, at 1, 2 and 3 threads, including batches
 *   large enough to split by images;
 * - an operand of the wrong shape is a ShapeError naming the call and the operand.
 */
import fc from 'fast-check';
import { createWasmBackend } from '../backends/wasm.js';
import type { Backend, Conv2dOptions, PoolOptions } from '../src/backend.js';
import { orThrow } from '../src/codec.js';
import { ShapeError } from '../src/errors.js';
import { buildLayer, decodeLayerSpec } from '../src/layers/index.js';
import { normal, rng, uniform } from '../src/random.js';
import type { Tensor } from '../src/tensor.js';
import { example, law, throwsWith } from './law.js';
import { sameBits, inScope } from './bits.js';

const backends: [string, Backend][] = [
  ['resident, 1 thread', await createWasmBackend()],
  ['copying, 1 thread', await createWasmBackend({ resident: false })],
  ['resident, 2 threads', await createWasmBackend({ threads: 2 })],
  ['copying, 3 threads', await createWasmBackend({ threads: 3, resident: false })],
];



/**
 * `n` float32 values: in half the tensors drawn from {−1, −0, 0, 1, 2} (ties everywhere) with a
 * NaN now and then, in the others normals with a twentieth NaN and a tenth ±0.
 */
function values(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const ties = uniform(r) < 0.5;
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = uniform(r);
    if (ties) d[i] = u < 0.03 ? NaN : [-1, -0, 0, 1, 2][Math.floor(uniform(r) * 5)];
    else d[i] = u < 0.05 ? NaN : u < 0.1 ? 0 : u < 0.15 ? -0 : normal(r);
  }
  return d;
}

interface PoolCase {
  readonly n: number;
  readonly h: number;
  readonly w: number;
  readonly c: number;
  readonly kh: number;
  readonly kw: number;
  readonly sh: number;
  readonly sw: number;
  readonly seed: number;
}

const poolCase: fc.Arbitrary<PoolCase> = fc
  .record({
    n: fc.integer({ min: 1, max: 5 }),
    h: fc.integer({ min: 1, max: 11 }),
    w: fc.integer({ min: 1, max: 11 }),
    c: fc.oneof(fc.constantFrom(1, 3, 4, 8, 9, 32), fc.integer({ min: 1, max: 20 })),
    kh: fc.integer({ min: 1, max: 3 }),
    kw: fc.integer({ min: 1, max: 3 }),
    sh: fc.integer({ min: 1, max: 3 }),
    sw: fc.integer({ min: 1, max: 3 }),
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  })
  // a third of the cases tile the image (stride = window, no rows or columns over)
  .chain((k) => fc.oneof({ weight: 2, arbitrary: fc.constant(k) }, { weight: 1, arbitrary: fc.constant({ ...k, sh: k.kh, sw: k.kw, h: k.kh * Math.max(1, Math.floor(k.h / k.kh)), w: k.kw * Math.max(1, Math.floor(k.w / k.kw)) }) }))
  .filter((k) => k.h >= k.kh && k.w >= k.kw);

const poolOpts = (k: PoolCase): PoolOptions => ({ size: [k.kh, k.kw], strides: [k.sh, k.sw] });

/** The index of each window's first maximum under maxPool's rule, by a plain loop. */
function firstMaxima(x: Tensor, k: PoolCase): number[] {
  const [n, h, w, c] = x.shape;
  const oh = Math.floor((h - k.kh) / k.sh) + 1;
  const ow = Math.floor((w - k.kw) / k.sw) + 1;
  const out: number[] = [];
  for (let b = 0; b < n; b++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++)
        for (let ch = 0; ch < c; ch++) {
          let best = NaN;
          let arg = -1;
          for (let ky = 0; ky < k.kh; ky++)
            for (let kx = 0; kx < k.kw; kx++) {
              const v = x.data[((b * h + oy * k.sh + ky) * w + ox * k.sw + kx) * c + ch];
              if (arg < 0 || v > best) {
                best = v;
                arg = ky * k.kw + kx;
              }
            }
          out.push(arg);
        }
  return out;
}

law(
  'maxPoolArgmax: y is maxPool(x) and arg the index of each window’s first maximum; maxPoolGradArgmax(arg, dy) is maxPoolGrad(x, dy), at 1–3 threads, resident and copying',
  [poolCase],
  (k) => {
    const x: Tensor = { shape: [k.n, k.h, k.w, k.c], data: values(k.n * k.h * k.w * k.c, k.seed) };
    const want = firstMaxima(x, k);
    return backends.every(([, B]) =>
      inScope(B, () => {
        const xr = B.from(x);
        const [y, arg] = B.maxPoolArgmax!(xr, poolOpts(k));
        const dy = B.from({ shape: y.shape, data: values(y.data.length, k.seed + 1) });
        return (
          sameBits(y, B.maxPool(xr, poolOpts(k))) &&
          arg.data.length === want.length &&
          want.every((a, i) => arg.data[i] === a) &&
          sameBits(B.maxPoolGradArgmax!(arg, dy, x.shape, poolOpts(k)), B.maxPoolGrad(xr, dy, poolOpts(k)))
        );
      }),
    );
  },
  { numRuns: 120 },
);

law(
  'the same on batches large enough to split over the threads by images (2×2 tiling and 3×3 stride-2 overlapping windows)',
  [fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.constantFrom(1, 2), fc.constantFrom(8, 32, 35)],
  (seed, kind, c) => {
    const k: PoolCase = kind === 1 ? { n: 16, h: 28, w: 28, c, kh: 2, kw: 2, sh: 2, sw: 2, seed } : { n: 16, h: 27, w: 27, c, kh: 3, kw: 3, sh: 2, sw: 2, seed };
    const x: Tensor = { shape: [k.n, k.h, k.w, k.c], data: values(k.n * k.h * k.w * k.c, seed) };
    return backends.every(([, B]) =>
      inScope(B, () => {
        const [y, arg] = B.maxPoolArgmax!(x, poolOpts(k));
        const dy = { shape: y.shape, data: values(y.data.length, seed + 1) };
        return sameBits(y, B.maxPool(x, poolOpts(k))) && sameBits(B.maxPoolGradArgmax!(arg, dy, x.shape, poolOpts(k)), B.maxPoolGrad(x, dy, poolOpts(k)));
      }),
    );
  },
  { numRuns: 6 },
);

interface ConvPoolCase {
  readonly n: number;
  readonly h: number;
  readonly w: number;
  readonly cin: number;
  readonly cout: number;
  readonly k: number;
  readonly pad: number;
  readonly pool: number;
  readonly bias: boolean;
  readonly seed: number;
}

const convPoolCase: fc.Arbitrary<ConvPoolCase> = fc
  .record({
    n: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.constant(12)),
    h: fc.integer({ min: 2, max: 14 }),
    w: fc.integer({ min: 2, max: 14 }),
    cin: fc.constantFrom(1, 2, 3, 8),
    cout: fc.constantFrom(1, 4, 7, 16, 32),
    k: fc.constantFrom(1, 3),
    pad: fc.constantFrom(0, 1),
    pool: fc.constantFrom(1, 2, 3),
    bias: fc.boolean(),
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  })
  .filter((c) => c.h + 2 * c.pad - c.k + 1 >= c.pool && c.w + 2 * c.pad - c.k + 1 >= c.pool);

law(
  'conv2dPoolArgmax gives maxPoolArgmax(conv2dBias(x, w, b)) (or of conv2d without a bias) its bits, both outputs, at 1–3 threads, resident and copying',
  [convPoolCase],
  (c) => {
    const x: Tensor = { shape: [c.n, c.h, c.w, c.cin], data: values(c.n * c.h * c.w * c.cin, c.seed) };
    const w: Tensor = { shape: [c.cout, c.k, c.k, c.cin], data: values(c.cout * c.k * c.k * c.cin, c.seed + 1) };
    const b: Tensor | undefined = c.bias ? { shape: [c.cout], data: values(c.cout, c.seed + 2) } : undefined;
    const co: Conv2dOptions = { strides: [1, 1], pads: [c.pad, c.pad] };
    const po: PoolOptions = { size: [c.pool, c.pool], strides: [c.pool, c.pool] };
    return backends.every(([, B]) =>
      inScope(B, () => {
        const [y, arg] = B.conv2dPoolArgmax!(x, w, b, co, po);
        const conv = b ? B.conv2dBias!(x, w, b, co) : B.conv2d(x, w, co);
        const [y2, arg2] = B.maxPoolArgmax!(conv, po);
        return sameBits(y, y2) && sameBits(arg, arg2) && sameBits(y, B.maxPool(conv, po));
      }),
    );
  },
  { numRuns: 60 },
);

/** `B` without the argmax passes: the maxPool layer then keeps x and runs maxPoolGrad. */
const withoutArgmax = (B: Backend): Backend => {
  const { maxPoolArgmax: _a, maxPoolGradArgmax: _g, conv2dPoolArgmax: _c, ...rest } = B;
  return rest;
};

law(
  'the maxPool layer with the argmax passes gives the layer without them its y and dx, and keeps a quarter of x for a 2×2 window',
  [poolCase],
  (k) => {
    const layer = buildLayer(orThrow(decodeLayerSpec({ type: 'maxPool', size: [k.kh, k.kw], strides: [k.sh, k.sw] })));
    const x: Tensor = { shape: [k.n, k.h, k.w, k.c], data: values(k.n * k.h * k.w * k.c, k.seed) };
    const run = (B: Backend): [Tensor, Tensor, unknown] =>
      inScope(B, () => {
        const f = layer.forward(B, {}, {}, x, { training: true, rng: rng(0) });
        const dy = { shape: f.y.shape, data: values(f.y.data.length, k.seed + 1) };
        return [f.y, layer.backward(B, {}, f.res, dy, true).dx, f.res];
      });
    return backends.every(([, B]) => {
      const [y, dx, res] = run(B);
      const [y0, dx0] = run(withoutArgmax(B));
      const kept = (res as { arg?: Tensor }).arg;
      return sameBits(y, y0) && sameBits(dx, dx0) && kept !== undefined && kept.data.length === y.data.length;
    });
  },
  { numRuns: 60 },
);

law(
  'conv2dPoolArgmax over several image groups per part (48×48×32 outputs, ~295 kB an image), strided convolutions and overlapping or ragged pools',
  [fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.constantFrom(1, 2), fc.constantFrom<[number, number]>([2, 2], [3, 2], [2, 1], [3, 3]), fc.constantFrom(32, 33), fc.integer({ min: 3, max: 7 })],
  (seed, cs, [pool, ps], cout, n) => {
    const h = cs === 1 ? 48 : 95;
    const x: Tensor = { shape: [n, h, h, 2], data: values(n * h * h * 2, seed) };
    const w: Tensor = { shape: [cout, 3, 3, 2], data: values(cout * 18, seed + 1) };
    const b: Tensor = { shape: [cout], data: values(cout, seed + 2) };
    const co: Conv2dOptions = { strides: [cs, cs], pads: [1, 1] };
    const po: PoolOptions = { size: [pool, pool], strides: [ps, ps] };
    return backends.every(([, B]) =>
      inScope(B, () => {
        const [y, arg] = B.conv2dPoolArgmax!(x, w, b, co, po);
        const [y2, arg2] = B.maxPoolArgmax!(B.conv2dBias!(x, w, b, co), po);
        return sameBits(y, y2) && sameBits(arg, arg2);
      }),
    );
  },
  { numRuns: 4 },
);

law(
  'maxPoolGradArgmax given indices that are not window indices (negative, too large, fractional, NaN) sends their dy nowhere and writes nothing outside dx',
  [poolCase],
  (k) => {
    const x: Tensor = { shape: [k.n, k.h, k.w, k.c], data: values(k.n * k.h * k.w * k.c, k.seed) };
    const ks = k.kh * k.kw;
    const oh = Math.floor((k.h - k.kh) / k.sh) + 1;
    const ow = Math.floor((k.w - k.kw) / k.sw) + 1;
    const r = rng(k.seed + 5);
    const bad = [-1, -1500, ks, ks + 1e6, 0.5, NaN, -0.5];
    const arg = Float32Array.from(firstMaxima(x, k), (a) => (uniform(r) < 0.3 ? bad[Math.floor(uniform(r) * bad.length)] : a));
    const dy = values(arg.length, k.seed + 6);
    // the reference: dx = +0, then each window's dy added (tiling windows: 0 + dy) at its index if valid
    const tiled = k.sh === k.kh && k.sw === k.kw && oh * k.kh === k.h && ow * k.kw === k.w;
    const want = new Float32Array(x.data.length);
    let e = 0;
    for (let b = 0; b < k.n; b++)
      for (let oy = 0; oy < oh; oy++)
        for (let ox = 0; ox < ow; ox++)
          for (let ch = 0; ch < k.c; ch++, e++) {
            const a = arg[e];
            if (!(a >= 0 && a < ks && Number.isInteger(a))) continue;
            const at = ((b * k.h + oy * k.sh + Math.floor(a / k.kw)) * k.w + ox * k.sw + (a % k.kw)) * k.c + ch;
            want[at] = Math.fround((tiled ? 0 : want[at]) + dy[e]);
          }
    return backends.every(([, B]) =>
      inScope(B, () => {
        const guard = B.from({ shape: [4096], data: new Float32Array(4096).fill(7) });
        const dx = B.maxPoolGradArgmax!({ shape: [k.n, oh, ow, k.c], data: arg }, { shape: [k.n, oh, ow, k.c], data: dy }, x.shape, poolOpts(k));
        return sameBits(dx, { shape: x.shape, data: want }) && guard.data.every((v) => v === 7);
      }),
    );
  },
  { numRuns: 60 },
);

example('every wasm backend has the three passes, and an operand of the wrong shape is a ShapeError naming it', () => {
  const x = { shape: [2, 4, 4, 3], data: new Float32Array(96) };
  const po: PoolOptions = { size: [2, 2], strides: [2, 2] };
  const w = { shape: [5, 3, 3, 3], data: new Float32Array(135) };
  const co: Conv2dOptions = { strides: [1, 1], pads: [1, 1] };
  return backends.every(([, B]) => {
    const [y, arg] = B.maxPoolArgmax!(x, po);
    return (
      typeof B.maxPoolGradArgmax === 'function' &&
      typeof B.conv2dPoolArgmax === 'function' &&
      throwsWith(() => B.maxPoolGradArgmax!(arg, { shape: [2, 2, 2, 2], data: new Float32Array(16) }, x.shape, po), ShapeError, 'maxPoolGradArgmax dy') &&
      throwsWith(() => B.maxPoolGradArgmax!({ shape: [2, 2, 3], data: new Float32Array(12) }, y, x.shape, po), ShapeError, 'maxPoolGradArgmax arg') &&
      throwsWith(() => B.conv2dPoolArgmax!(x, w, { shape: [4], data: new Float32Array(4) }, co, po), ShapeError, 'conv2dPoolArgmax bias', '[5]')
    );
  });
});
