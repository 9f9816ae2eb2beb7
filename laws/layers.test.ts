/**
 * Laws of the layers (src/layers/*): every backward equals the central finite differences of its
 * forward on the float64 cpu backend, for every parameter and the input; every backward is linear
 * in dy; the merged STTN convolution equals two binary convolutions whose outputs add (Eq. 7), in
 * value and in gradient.
 */
import fc from 'fast-check';
import { cpu64 } from '../backends/cpu.js';
import { orThrow } from '../src/codec.js';
import { ShapeError } from '../src/errors.js';
import { buildLayer, decodeLayerSpec, type Layer } from '../src/layers/index.js';
import type { Params } from '../src/quantizers/common.js';
import * as sttn from '../src/quantizers/sttn.js';
import { restore, rng, snapshot, type Rng } from '../src/random.js';
import { tensor, tensorClose, type Tensor } from '../src/tensor.js';
import { gradElement, gradsClose, isLinear, numericVjp, tensorOf } from './gradcheck.js';
import { example, law, throwsWith } from './law.js';

const B = cpu64;
const layerOf = (spec: unknown): Layer => buildLayer(orThrow(decodeLayerSpec(spec)));

/** Input elements away from 0 by 0.05 (relu/prelu kinks) and pairwise distinct enough for max-pool. */
const inputElem = fc.double({ min: 0.05, max: 2, noNaN: true }).chain((m) => fc.boolean().map((s) => (s ? -m : m)));

interface Case {
  readonly layer: Layer;
  readonly params: Params;
  readonly state: Params;
  readonly x: Tensor;
  readonly dy: Tensor;
  readonly dy2: Tensor;
  readonly seed: number;
}

function caseOf(spec: unknown, inShape: number[], training: boolean, seed: number, xs: fc.Arbitrary<Tensor>): fc.Arbitrary<Case & { training: boolean }> {
  const layer = layerOf(spec);
  const init = layer.init(inShape.slice(1), rng(seed), 'float64');
  const outShape = [inShape[0], ...init.outShape];
  return fc.record({
    layer: fc.constant(layer),
    params: fc.constant(init.params),
    state: fc.constant(init.state),
    x: xs,
    dy: tensorOf(outShape, gradElement),
    dy2: tensorOf(outShape, gradElement),
    seed: fc.constant(seed),
    training: fc.constant(training),
  });
}

/** The layer's backward vs the finite differences of (params, x) ↦ y. */
function backwardMatchesFd(c: Case & { training: boolean }, rtol = 1e-6, atol = 1e-7): boolean {
  const r0 = snapshot(rng(c.seed + 1));
  const ctx = () => ({ training: c.training, rng: restore(r0) as Rng });
  const f = (p: Params) => {
    const { x, ...params } = p;
    return [c.layer.forward(B, params, c.state, x, ctx()).y] as const;
  };
  const fw = c.layer.forward(B, c.params, c.state, c.x, ctx());
  const bw = c.layer.backward(B, c.params, fw.res, c.dy, true);
  const numeric = numericVjp(f, { ...c.params, x: c.x }, [c.dy]);
  return gradsClose({ ...bw.dparams, x: bw.dx }, numeric, rtol, atol, c.layer.type);
}

function backwardIsLinear(c: Case & { training: boolean }): boolean {
  const r0 = snapshot(rng(c.seed + 1));
  const fw = c.layer.forward(B, c.params, c.state, c.x, { training: c.training, rng: restore(r0) });
  return isLinear(B, ([g]) => {
    const bw = c.layer.backward(B, c.params, fw.res, g, true);
    return { ...bw.dparams, x: bw.dx };
  }, [c.dy], [c.dy2], 0.7, -1.3);
}

const seed = fc.integer({ min: 0, max: 2 ** 31 - 1 });
const cases: [string, fc.Arbitrary<Case & { training: boolean }>][] = [
  ['dense (bias)', seed.chain((s) => caseOf({ type: 'dense', units: 3 }, [2, 4], true, s, tensorOf([2, 4], inputElem)))],
  ['dense (no bias)', seed.chain((s) => caseOf({ type: 'dense', units: 2, useBias: false }, [3, 5], true, s, tensorOf([3, 5], inputElem)))],
  ['conv2d 3×3 same', seed.chain((s) => caseOf({ type: 'conv2d', filters: 3 }, [2, 4, 4, 2], true, s, tensorOf([2, 4, 4, 2], inputElem)))],
  ['conv2d 3×3 stride 2 valid', seed.chain((s) => caseOf({ type: 'conv2d', filters: 2, strides: 2, padding: 'valid' }, [1, 5, 5, 2], true, s, tensorOf([1, 5, 5, 2], inputElem)))],
  ['conv2d 2×3 pad [1, 0]', seed.chain((s) => caseOf({ type: 'conv2d', filters: 2, kernelSize: [2, 3], padding: [1, 0] }, [1, 3, 4, 1], true, s, tensorOf([1, 3, 4, 1], inputElem)))],
  ['batchNorm (training)', seed.chain((s) => caseOf({ type: 'batchNorm' }, [3, 2, 2, 3], true, s, tensorOf([3, 2, 2, 3], inputElem)))],
  ['batchNorm (inference)', seed.chain((s) => caseOf({ type: 'batchNorm' }, [2, 3], false, s, tensorOf([2, 3], inputElem)))],
  ['maxPool 2×2', seed.chain((s) => caseOf({ type: 'maxPool' }, [2, 4, 4, 2], true, s, fc.uniqueArray(fc.integer({ min: -1000, max: 1000 }), { minLength: 64, maxLength: 64 }).map((v) => tensor([2, 4, 4, 2], v.map((k) => k / 100)))))],
  ['maxPool 3×3 stride 2', seed.chain((s) => caseOf({ type: 'maxPool', size: 3, strides: 2 }, [1, 5, 5, 1], true, s, fc.uniqueArray(fc.integer({ min: -1000, max: 1000 }), { minLength: 25, maxLength: 25 }).map((v) => tensor([1, 5, 5, 1], v.map((k) => k / 100)))))],
  ['globalAvgPool', seed.chain((s) => caseOf({ type: 'globalAvgPool' }, [2, 3, 2, 3], true, s, tensorOf([2, 3, 2, 3], inputElem)))],
  ['relu', seed.chain((s) => caseOf({ type: 'relu' }, [2, 6], true, s, tensorOf([2, 6], inputElem)))],
  ['prelu', seed.chain((s) => caseOf({ type: 'prelu' }, [2, 2, 2, 3], true, s, tensorOf([2, 2, 2, 3], inputElem)))],
  ['flatten', seed.chain((s) => caseOf({ type: 'flatten' }, [2, 2, 3, 1], true, s, tensorOf([2, 2, 3, 1], inputElem)))],
  ['dropout (training, mask from the rng)', seed.chain((s) => caseOf({ type: 'dropout', rate: 0.3 }, [2, 8], true, s, tensorOf([2, 8], inputElem)))],
  ['dropout (inference)', seed.chain((s) => caseOf({ type: 'dropout', rate: 0.3 }, [2, 8], false, s, tensorOf([2, 8], inputElem)))],
];

for (const [name, arb] of cases) {
  law(`${name}: backward = finite differences of forward`, [arb], (c) => backwardMatchesFd(c), { numRuns: 15 });
  law(`${name}: backward is linear in dy`, [arb], (c) => backwardIsLinear(c), { numRuns: 15 });
}

// ---- Eq. 7 for conv2d: one merged convolution = two binary convolutions --------------------------

const sttnConvCase = fc.record({
  seed,
  gradient: fc.constantFrom<sttn.SttnGradient>('exact', 'paper', 'official'),
  granularity: fc.constantFrom('tensor', 'channel'),
  x: tensorOf([2, 4, 4, 2], inputElem),
  dy: tensorOf([2, 4, 4, 3], gradElement),
});

law('Eq. 7 (conv2d): the STTN layer (one convolution with α(B1+B2)) equals two binary convolutions that add, in value and gradient', [sttnConvCase], ({ seed: s, gradient, granularity, x, dy }) => {
  const q = { id: 'sttn', config: { gradient, granularity } };
  const layer = layerOf({ type: 'conv2d', filters: 3, useBias: false, kernelQuantizer: q });
  const { params } = layer.init([4, 4, 2], rng(s), 'float64');
  const ctx = { training: true, rng: rng(s) };
  const fw = layer.forward(B, params, {}, x, ctx);
  const cfg = orThrow(sttn.decodeConfig({ gradient, granularity }));
  const f = sttn.forward(B, { w1: params.w1, w2: params.w2 }, cfg);
  const opts = { strides: [1, 1] as [number, number], pads: [1, 1] as [number, number] };
  // value: conv(x, αB1) + conv(x, αB2)
  const two = B.binary('add', B.conv2d(x, f.w1q, opts), B.conv2d(x, f.w2q, opts));
  if (!tensorClose(fw.y, two, 1e-12, 1e-12)) return false;
  // gradient: dL/dW̃_k by finite differences of the two-convolution loss ⟨dy, conv(x, W̃1) + conv(x, W̃2)⟩
  const g = numericVjp((p: Params) => [B.binary('add', B.conv2d(x, p.a, opts), B.conv2d(x, p.b, opts))] as const, { a: f.w1q, b: f.w2q }, [dy]);
  const want = sttn.backward(B, f, { g1: g.a, g2: g.b }, cfg);
  const got = layer.backward(B, params, fw.res, dy, false).dparams;
  return gradsClose(got, want, 1e-6, 1e-6, 'sttn conv');
}, { numRuns: 20 });

law('quantized dense: the kernel gradient is the quantizer VJP of dŴ = dyᵀ·q(x), for every kernel/input quantizer', [
  fc.record({
    seed,
    k: fc.constantFrom('sign', 'twn', 'ttq', 'sttn'),
    a: fc.constantFrom('fp', 'ste_sign', 'ternary'),
    x: tensorOf([3, 4], inputElem),
    dy: tensorOf([3, 2], gradElement),
  }),
], ({ seed: s, k, a, x, dy }) => {
  const layer = layerOf({ type: 'dense', units: 2, useBias: false, kernelQuantizer: k, inputQuantizer: a });
  const { params } = layer.init([4], rng(s), 'float64');
  const fw = layer.forward(B, params, {}, x, { training: true, rng: rng(s) });
  const r = fw.res as { xq: Tensor; w: Tensor };
  // dŴ by finite differences of ⟨dy, xq·Ŵᵀ⟩, then mapped by the layer: compare with its own matmul
  const dW = numericVjp((p: Params) => [B.matmul(r.xq, p.w, { transB: true })] as const, { w: r.w }, [dy]).w;
  return tensorClose(dW, B.matmul(dy, r.xq, { transA: true }), 1e-6, 1e-7) && layer.backward(B, params, fw.res, dy, true).dx.shape.join() === x.shape.join();
}, { numRuns: 30 });

example('a dense layer fed the wrong number of features: a ShapeError naming both shapes', () => {
  const layer = layerOf({ type: 'dense', units: 2 });
  const { params } = layer.init([4], rng(1), 'float64');
  return throwsWith(() => layer.forward(B, params, {}, tensor([2, 5], new Float64Array(10)), { training: true, rng: rng(1) }), ShapeError, '[2, 4]', '[2, 5]');
});

example('batch norm updates its running statistics in training and not in inference', () => {
  const layer = layerOf({ type: 'batchNorm', momentum: 0.5 });
  const init = layer.init([2], rng(1), 'float64');
  const x = tensor([2, 2], [1, 2, 3, 6]);
  const tr = layer.forward(B, init.params, init.state, x, { training: true, rng: rng(1) });
  const inf = layer.forward(B, init.params, init.state, x, { training: false, rng: rng(1) });
  // batch mean [2, 4], unbiased var [2, 8]: running = 0.5·[0,0] + 0.5·[2,4], 0.5·[1,1] + 0.5·[2,8]
  return tensorClose(tr.state.mean, tensor([2], [1, 2]), 1e-15) && tensorClose(tr.state.variance, tensor([2], [1.5, 4.5]), 1e-15) && inf.state === init.state;
});
