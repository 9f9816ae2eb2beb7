/**
 * The convolution with its bias in one pass (src/backend.ts `conv2dBias`; on the wasm backend
 * assembly/index.ts `conv2d` adds the bias to each chunk of output rows right after its product)
 * replaces `binary('add', conv2d(x, w, opts), b, 3)`, and the weight gradient with the bias
 * gradient folded in its pass over dy (`conv2dGradFilterBias`; assembly `conv2dGradFilter`'s
 * `columnSums`) replaces `[conv2dGradFilter(x, dy, …), reduce('sum', dy as [n·oh·ow, cout], 0)]`,
 * so the claim is bit-identity (Object.is per element, ±0 told apart), not a tolerance:
 * - on drawn geometries (batch, size, channels, kernel, strides, padding, the 1×1 pointwise case
 *   that skips im2col, kernels wider than the padded input's rows) and values (zeros, −0, scales
 *   from 10⁻³ to 10³, biases that cancel the product), on the wasm backend resident and copying,
 *   at 1, 2 and 3 threads (a split by images);
 * - the same for the bias gradient, with dy whose channels hold pairs of ±2⁴⁰ times the scale
 *   that cancel (so a sum folded in another order gives other bits), on geometries whose weight
 *   gradient is transposed (a first layer: each part sums its own channels) or not (every part
 *   reads all of dy and sums a share of the channels), over several chunks of rows, odd and even
 *   row counts, and one channel (whose `reduce` is a contiguous run: two interleaved chains);
 * - conv2dBackward (both gradients in one call; on the wasm backend with threads one task whose
 *   parts are the two products' parts) gives the two calls' bits, with and without a bias;
 * - the conv2d layer with the fused passes gives the layer without them (the same backend, the
 *   members removed) its y, dW, db and dx;
 * - a bias of the wrong shape is a ShapeError naming the bias.
 */
import fc from 'fast-check';
import { createWasmBackend } from '../backends/wasm.js';
import type { Backend, Conv2dOptions } from '../src/backend.js';
import { ShapeError } from '../src/errors.js';
import { orThrow } from '../src/codec.js';
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

const withoutFusion = (B: Backend): Backend => {
  const { conv2dBias: _c, conv2dGradFilterBias: _g, conv2dBackward: _b, ...rest } = B;
  return rest;
};


/**
 * `n` float32 values: a tenth +0, a twentieth −0, the rest normal · a scale from 10⁻³ to 10³; in a
 * third of the tensors 3 in 10 values are ±2⁴⁰·scale instead (float64 sums then absorb and cancel,
 * so another order of folding gives other float32 bits).
 */
function values(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const scale = 10 ** (uniform(r) * 6 - 3);
  const huge = uniform(r) < 1 / 3 ? 0.45 : 0.15;
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = uniform(r);
    d[i] = u < 0.1 ? 0 : u < 0.15 ? -0 : u < huge ? (uniform(r) < 0.5 ? -1 : 1) * 2 ** 40 * scale : normal(r) * scale;
  }
  return d;
}

/**
 * `n` float32 values of `c` channels (last axis): normals · scale, and in each channel pairs of
 * +H and −H (H = 2⁴⁰·scale, the − after the +) at drawn rows. The H's cancel exactly, so a
 * channel's sum is the small values' sum, and the small values added while an H was pending were
 * rounded to H's float64 grain: a sum folded in another order, or in other chains, gives other
 * float32 bits.
 */
function cancelling(n: number, c: number, seed: number): Float32Array {
  const r = rng(seed);
  const scale = 10 ** (uniform(r) * 4 - 2);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = normal(r) * scale;
  const rows = Math.floor(n / c);
  if (rows < 2) return d;
  for (let ch = 0; ch < c; ch++) {
    for (let p = 0; p < 3; p++) {
      const a = Math.floor(uniform(r) * (rows - 1));
      const b = a + 1 + Math.floor(uniform(r) * (rows - 1 - a));
      d[a * c + ch] = 2 ** 40 * scale;
      d[b * c + ch] = -(2 ** 40) * scale;
    }
  }
  return d;
}

interface Case {
  readonly n: number;
  readonly h: number;
  readonly w: number;
  readonly cin: number;
  readonly cout: number;
  readonly kh: number;
  readonly kw: number;
  readonly sh: number;
  readonly sw: number;
  readonly ph: number;
  readonly pw: number;
  readonly seed: number;
}

const geometry: fc.Arbitrary<Case> = fc
  .record({
    n: fc.integer({ min: 1, max: 9 }),
    h: fc.integer({ min: 1, max: 12 }),
    w: fc.integer({ min: 1, max: 12 }),
    cin: fc.oneof(fc.constantFrom(1, 3, 4, 8, 32), fc.integer({ min: 1, max: 20 })),
    cout: fc.oneof(fc.constantFrom(1, 4, 5, 16, 32, 64), fc.integer({ min: 1, max: 40 })),
    kh: fc.integer({ min: 1, max: 4 }),
    kw: fc.integer({ min: 1, max: 4 }),
    sh: fc.integer({ min: 1, max: 3 }),
    sw: fc.integer({ min: 1, max: 3 }),
    ph: fc.integer({ min: 0, max: 2 }),
    pw: fc.integer({ min: 0, max: 2 }),
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  })
  // a quarter of the cases pointwise (1×1, stride 1, no padding: the product without im2col)
  .chain((k) => fc.oneof({ weight: 3, arbitrary: fc.constant(k) }, { weight: 1, arbitrary: fc.constant({ ...k, kh: 1, kw: 1, sh: 1, sw: 1, ph: 0, pw: 0 }) }))
  .filter((k) => k.h + 2 * k.ph >= k.kh && k.w + 2 * k.pw >= k.kw);

const operandsOf = (k: Case): { x: Tensor; w: Tensor; b: Tensor; opts: Conv2dOptions } => {
  const b = values(k.cout, k.seed + 3);
  // some biases are minus a product's value, so sums that cancel to ±0 occur
  return {
    x: { shape: [k.n, k.h, k.w, k.cin], data: values(k.n * k.h * k.w * k.cin, k.seed + 1) },
    w: { shape: [k.cout, k.kh, k.kw, k.cin], data: values(k.cout * k.kh * k.kw * k.cin, k.seed + 2) },
    b: { shape: [k.cout], data: b },
    opts: { strides: [k.sh, k.sw], pads: [k.ph, k.pw] },
  };
};


law(
  'conv2dBias gives binary(add, conv2d(x, w), b, 3) its bits, at 1, 2 and 3 threads, resident and copying',
  [geometry],
  (k) => {
    const { x, w, b, opts } = operandsOf(k);
    return backends.every(([, B]) => {
      const [fused, composed] = inScope(B, () => {
        // resident operands too: made by the backend inside the scope, read in place
        const [xr, wr, br] = [B.from(x), B.from(w), B.from(b)];
        const c = B.conv2d(xr, wr, opts);
        // a bias that cancels the first output's product where that is not 0
        const bc = c.data.length > 0 && c.data[0] !== 0 ? { shape: b.shape, data: Float32Array.from(b.data, (v, i) => (i === 0 ? -c.data[0] : v)) } : br;
        return [B.conv2dBias!(xr, wr, B.from(bc), opts), B.binary('add', c, B.from(bc), 3)];
      });
      return sameBits(fused, composed);
    });
  },
  { numRuns: 80 },
);

law(
  'the same on a batch large enough to split over the threads by images (64 images of 14×14×8)',
  [fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.constantFrom(8, 16, 33)],
  (seed, cout) => {
    const { x, w, b, opts } = operandsOf({ n: 64, h: 14, w: 14, cin: 8, cout, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1, seed });
    return backends.every(([, B]) => inScope(B, () => sameBits(B.conv2dBias!(x, w, b, opts), B.binary('add', B.conv2d(x, w, opts), b, 3))));
  },
  { numRuns: 4 },
);

/** [dW, db] fused and composed on `B` (inside its scope), dy drawn for the geometry. */
const gradPairs = (B: Backend, k: Case, cancel: boolean): [Tensor[], Tensor[]] => {
  const { x, w, opts } = operandsOf(k);
  return inScope(B, () => {
    const oh = Math.floor((k.h + 2 * k.ph - k.kh) / k.sh) + 1;
    const ow = Math.floor((k.w + 2 * k.pw - k.kw) / k.sw) + 1;
    const len = k.n * oh * ow * k.cout;
    const dy = B.from({ shape: [k.n, oh, ow, k.cout], data: cancel ? cancelling(len, k.cout, k.seed + 7) : values(len, k.seed + 7) });
    const xr = B.from(x);
    const fused = B.conv2dGradFilterBias!(xr, dy, w.shape, opts);
    return [fused, [B.conv2dGradFilter(xr, dy, w.shape, opts), B.reduce('sum', { shape: [k.n * oh * ow, k.cout], data: dy.data }, 0)]];
  });
};

law(
  'conv2dGradFilterBias gives [conv2dGradFilter, reduce(sum) of dy over its pixels] their bits, at 1, 2 and 3 threads, resident and copying',
  [geometry, fc.boolean()],
  (k, cancel) =>
    backends.every(([, B]) => {
      const [f, c] = gradPairs(B, k, cancel);
      return sameBits(f[0], c[0]) && sameBits(f[1], c[1]);
    }),
  { numRuns: 80 },
);

law(
  'the same over several chunks of rows and split over the threads: a first layer (transposed product, 1 channel) and a 32-channel layer',
  [fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.constantFrom(1, 32), fc.oneof(fc.constant(1), fc.constantFrom(8, 32, 33, 64)), fc.boolean()],
  (seed, cin, cout, odd) => {
    // 1 channel: 9-float patch rows, chunks of ~14,500 rows: 2 images of 96×96 = 18,432 rows, or
    // 3 of 73×73 = 15,987 (odd: a one-channel dy's sum is two interleaved chains and a last row);
    // 32 channels: 288-float rows, chunks of ~456: 8 images of 14×14, or 7 of 13×13 = 1,183
    const [n, h] = cin === 1 ? (odd ? [3, 73] : [2, 96]) : odd ? [7, 13] : [8, 14];
    const k: Case = { n, h, w: h, cin, cout, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1, seed };
    return backends.every(([, B]) => {
      const [f, c] = gradPairs(B, k, true);
      return sameBits(f[0], c[0]) && sameBits(f[1], c[1]);
    });
  },
  { numRuns: 10 },
);

law(
  'conv2dBackward gives [conv2dGradFilter(Bias), conv2dGradInput] their bits, at 1, 2 and 3 threads, resident and copying',
  [fc.oneof(geometry, geometry.map((k) => ({ ...k, n: k.n + 16 }))), fc.boolean()],
  (k, bias) => {
    const { x, w, opts } = operandsOf(k);
    return backends.every(([, B]) =>
      inScope(B, () => {
        const oh = Math.floor((k.h + 2 * k.ph - k.kh) / k.sh) + 1;
        const ow = Math.floor((k.w + 2 * k.pw - k.kw) / k.sw) + 1;
        const dy = B.from({ shape: [k.n, oh, ow, k.cout], data: values(k.n * oh * ow * k.cout, k.seed + 7) });
        const [dw, db, dx] = B.conv2dBackward!(x, w, dy, opts, bias);
        const [dw0, db0] = bias ? B.conv2dGradFilterBias!(x, dy, w.shape, opts) : [B.conv2dGradFilter(x, dy, w.shape, opts), undefined];
        const dx0 = B.conv2dGradInput(dy, w, x.shape, opts);
        return sameBits(dw, dw0) && sameBits(dx, dx0) && (db === undefined ? db0 === undefined : db0 !== undefined && sameBits(db, db0));
      }),
    );
  },
  { numRuns: 60 },
);

law(
  'the conv2d layer with conv2dBias, conv2dGradFilterBias and conv2dBackward gives the layer without them its y, dW, db and dx',
  [geometry],
  (k) => {
    const { x } = operandsOf(k);
    const layer = buildLayer(orThrow(decodeLayerSpec({ type: 'conv2d', filters: k.cout, kernelSize: [k.kh, k.kw], strides: [k.sh, k.sw], padding: [k.ph, k.pw], useBias: true })));
    const init = layer.init([k.h, k.w, k.cin], rng(k.seed), 'float32');
    const params = { ...init.params, b: { shape: [k.cout], data: values(k.cout, k.seed + 5) } };
    const run = (B: Backend): Tensor[] =>
      inScope(B, () => {
        const f = layer.forward(B, params, init.state, x, { training: true, rng: rng(0) });
        const dy = { shape: f.y.shape, data: values(f.y.data.length, k.seed + 6) };
        const g = layer.backward(B, params, f.res, dy, true);
        return [f.y, ...Object.values(g.dparams), g.dx];
      });
    return backends.every(([, B]) => {
      const a = run(B);
      const c = run(withoutFusion(B));
      return a.length === c.length && a.every((t, i) => sameBits(t, c[i]));
    });
  },
  { numRuns: 40 },
);

example('an empty kernel (0 input channels): conv2dGradFilterBias\'s bias gradient is the backend\'s own reduce, one channel\'s two chains included', () => {
  const x = { shape: [1, 2, 2, 0], data: new Float32Array(0) };
  const dy = { shape: [1, 2, 2, 1], data: Float32Array.from([1, 2 ** 60, 1, -(2 ** 60)]) };
  const opts: Conv2dOptions = { strides: [1, 1], pads: [0, 0] };
  return backends.every(([, B]) =>
    inScope(B, () => {
      const [dw, db] = B.conv2dGradFilterBias!(x, dy, [1, 1, 1, 0], opts);
      return dw.data.length === 0 && sameBits(db, B.reduce('sum', { shape: [4, 1], data: dy.data }, 0));
    }),
  );
});

example('every wasm backend has conv2dBias and conv2dGradFilterBias, and a bias of the wrong shape is a ShapeError naming it', () => {
  const x = { shape: [1, 4, 4, 2], data: new Float32Array(32) };
  const w = { shape: [3, 3, 3, 2], data: new Float32Array(54) };
  const opts: Conv2dOptions = { strides: [1, 1], pads: [1, 1] };
  return backends.every(
    ([, B]) =>
      typeof B.conv2dBias === 'function' &&
      typeof B.conv2dGradFilterBias === 'function' &&
      throwsWith(() => B.conv2dBias!(x, w, { shape: [2], data: new Float32Array(2) }, opts), ShapeError, 'conv2dBias bias', '[3]') &&
      throwsWith(() => B.conv2dBias!(x, w, { shape: [3, 1], data: new Float32Array(3) }, opts), ShapeError, 'conv2dBias bias'),
  );
});
