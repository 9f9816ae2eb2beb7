/**
 * The fused batch-norm passes (src/backend.ts `batchNormMoments`, `batchNormAffine`,
 * `batchNormGradMoments`, `batchNormGradAffine`; on the wasm backend backends/wasm/batchnorm.ts
 * over assembly/batchnorm.ts) replace compositions of the backend's own primitives, so the claim
 * is bit-identity (Object.is per element: ±0 told apart), not a tolerance:
 * - the batchNorm layer (src/layers/batch-norm.ts) with the fused passes gives the layer without
 *   them (the same backend, the four members removed) its y, running mean and variance, dγ, dβ
 *   and dx, in training and in inference, on the wasm backend resident and copying, at 1 and 2
 *   threads; shapes drawn with odd channel counts, c = 1, c not a multiple of 4, m = 1, and
 *   values with zeros, −0, negatives, scales from 10⁻³ to 10³ and, in some tensors, ±2⁴⁰ times
 *   the scale (so a sum folded in another order gives other bits);
 * - the same with passes of 2¹⁷ elements or more, the size from which they split over threads
 *   (sums by channels, maps by rows);
 * - each pass alone equals its composition on drawn operands;
 * - every wasm backend has the four passes, and an operand of the wrong shape is a ShapeError
 *   naming the pass and the operand.
 */
import fc from 'fast-check';
import { createWasmBackend } from '../backends/wasm.js';
import type { Backend } from '../src/backend.js';
import { ShapeError } from '../src/errors.js';
import { batchNorm } from '../src/layers/batch-norm.js';
import { normal, rng, uniform } from '../src/random.js';
import type { Tensor } from '../src/tensor.js';
import { example, law, throwsWith } from './law.js';
import { sameBits } from './bits.js';

const backends: [string, Backend][] = [
  ['resident, 1 thread', await createWasmBackend()],
  ['copying, 1 thread', await createWasmBackend({ resident: false })],
  ['resident, 2 threads', await createWasmBackend({ threads: 2 })],
  ['copying, 2 threads', await createWasmBackend({ threads: 2, resident: false })],
];

/** `B` without its fused batch-norm passes: the layer then runs the composition. */
const composedOf = (B: Backend): Backend => {
  const { batchNormMoments: _m, batchNormAffine: _a, batchNormGradMoments: _gm, batchNormGradAffine: _ga, ...rest } = B;
  return rest;
};


/**
 * `n` float32 values from `seed`: a tenth +0, a twentieth −0, the rest normal·scale + offset with
 * a scale and offset per channel (so a mean far from 0 and cancellation in σ² = E[x²] − μ² occur).
 * In a third of the tensors, 3 in 10 values are ±2⁴⁰·scale instead: the float64 sums then absorb
 * the small values in between and cancel, so a sum folded in another order than the composition's
 * gives other float32 bits (a law that only drew the rest could not tell the orders apart).
 */
function values(n: number, c: number, seed: number): Float32Array {
  const r = rng(seed);
  const scale = Array.from({ length: c }, () => 10 ** (uniform(r) * 6 - 3));
  const offset = Array.from({ length: c }, (_, j) => (uniform(r) < 0.5 ? 0 : (uniform(r) * 8 - 4) * scale[j]));
  const huge = uniform(r) < 1 / 3 ? 0.45 : 0.15;
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = uniform(r);
    const j = i % c;
    d[i] = u < 0.1 ? 0 : u < 0.15 ? -0 : u < huge ? (uniform(r) < 0.5 ? -1 : 1) * 2 ** 40 * scale[j] : normal(r) * scale[j] + offset[j];
  }
  return d;
}

interface Case {
  readonly m: number;
  readonly c: number;
  readonly seed: number;
  readonly training: boolean;
  readonly momentum: number;
  readonly epsilon: number;
}

const caseOf = (m: fc.Arbitrary<number>, c: fc.Arbitrary<number>): fc.Arbitrary<Case> =>
  fc.record({
    m,
    c,
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    training: fc.boolean(),
    momentum: fc.constantFrom(0.9, 0.99, 0.5),
    epsilon: fc.constantFrom(1e-3, 1e-5),
  });

/** The layer's forward then backward (dx wanted) on `B`, inside `B.resident` when it has one. */
function runLayer(B: Backend, k: Case): Tensor[] {
  const { m, c, seed } = k;
  const t = (shape: number[], s: number): Tensor => ({ shape, data: values(shape.reduce((a, b) => a * b, 1), c, seed + s) });
  // rank 4 when m factors, so the layer's reshape to [m, c] is exercised
  const xShape = m % 2 === 0 ? [2, m / 2, 1, c] : [m, c];
  const x = t(xShape, 1);
  const dy = t(xShape, 2);
  const params = { gamma: t([c], 3), beta: t([c], 4) };
  const variance = t([c], 5);
  const state = { mean: t([c], 6), variance: { shape: [c], data: variance.data.map(Math.abs) } };
  const layer = batchNorm({ momentum: k.momentum, epsilon: k.epsilon });
  const go = (): Tensor[] => {
    const f = layer.forward(B, params, state, x, { training: k.training, rng: rng(0) });
    const b = layer.backward(B, params, f.res, dy, true);
    return [f.y, f.state.mean, f.state.variance, b.dparams.gamma, b.dparams.beta, b.dx];
  };
  return B.resident ? B.resident(go) : go();
}

const layerEqual = (k: Case): boolean =>
  backends.every(([, B]) => {
    const fused = runLayer(B, k);
    const composed = runLayer(composedOf(B), k);
    return fused.length === composed.length && fused.every((f, i) => sameBits(f, composed[i]));
  });

example('every wasm backend has the four fused batch-norm passes', () =>
  backends.every(([, B]) =>
    [B.batchNormMoments, B.batchNormAffine, B.batchNormGradMoments, B.batchNormGradAffine].every((f) => typeof f === 'function'),
  ),
);

law(
  'the batchNorm layer with fused passes gives the composed layer its bits (y, running stats, dγ, dβ, dx)',
  [caseOf(fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 200 })), fc.oneof(fc.constantFrom(1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 33), fc.integer({ min: 1, max: 70 })))],
  layerEqual,
  { numRuns: 60 },
);

law(
  'the same with passes of 2¹⁷ elements or more (split over threads: sums by channels, maps by rows)',
  [
    fc
      .tuple(fc.constantFrom(3, 5, 8, 17, 32, 33, 64), fc.integer({ min: 0, max: 3000 }))
      .chain(([c, extra]) => caseOf(fc.constant(Math.ceil(2 ** 17 / c) + extra), fc.constant(c))),
  ],
  layerEqual,
  { numRuns: 8 },
);

law(
  'each fused pass alone equals its composition',
  [fc.integer({ min: 1, max: 90 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 2 ** 31 - 1 })],
  (m, c, seed) => {
    const t = (shape: number[], s: number): Tensor => ({ shape, data: values(shape.reduce((a, b) => a * b, 1), c, seed + s) });
    const [x, dy, a, b, d] = [t([m, c], 1), t([m, c], 2), t([c], 3), t([c], 4), t([c], 5)];
    return backends.every(([, B]) => {
      const [s1, s2] = B.batchNormMoments!(x);
      const [g1, g2] = B.batchNormGradMoments!(dy, x);
      return (
        sameBits(s1, B.reduce('sum', x, 0)) &&
        sameBits(s2, B.reduce('sumSquares', x, 0)) &&
        sameBits(g1, B.reduce('sum', dy, 0)) &&
        sameBits(g2, B.reduce('sum', B.binary('mul', dy, x), 0)) &&
        sameBits(B.batchNormAffine!(x, a, b), B.binary('add', B.binary('mul', x, a, 1), b, 1)) &&
        sameBits(B.batchNormGradAffine!(dy, x, a, b, d), B.binary('add', B.binary('add', B.binary('mul', dy, a, 1), B.binary('mul', x, b, 1)), d, 1))
      );
    });
  },
  { numRuns: 40 },
);

example('an operand of the wrong shape is a ShapeError naming the pass and the operand', () => {
  const B = backends[0][1];
  const x: Tensor = { shape: [3, 4], data: new Float32Array(12) };
  const v4: Tensor = { shape: [4], data: new Float32Array(4) };
  const v3: Tensor = { shape: [3], data: new Float32Array(3) };
  const x3: Tensor = { shape: [2, 2, 3], data: new Float32Array(12) };
  return (
    throwsWith(() => B.batchNormMoments!(x3), ShapeError, 'batchNormMoments x', '[m, c]') &&
    throwsWith(() => B.batchNormAffine!(x, v3, v4), ShapeError, 'batchNormAffine a', '[4]') &&
    throwsWith(() => B.batchNormAffine!(x, v4, v3), ShapeError, 'batchNormAffine b') &&
    throwsWith(() => B.batchNormGradMoments!(x, x3), ShapeError, 'batchNormGradMoments x', '[3, 4]') &&
    throwsWith(() => B.batchNormGradAffine!(x, x, v4, v4, v3), ShapeError, 'batchNormGradAffine d')
  );
});
