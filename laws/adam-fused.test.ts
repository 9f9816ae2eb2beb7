/**
 * The fused Adam step (src/backend.ts `adamStep`; on the wasm backend assembly/adam.ts) replaces
 * the composition of the backend's own primitives in src/train/adam-step.ts, so the claim is
 * bit-identity (Object.is per element: ±0 told apart), not a tolerance:
 * - on drawn tensors (lengths 1 to 5000, odd ones included; values with +0, −0, tiny and huge
 *   magnitudes, some NaN and ±∞ gradients) and drawn hyperparameters (β1, β2, the step t, ε, the
 *   learning rate, weight decay off or on, latent clipping off or on), p', m' and v' equal the
 *   composition's on the same backend and on cpu32, on the wasm backend resident and copying, at
 *   1 and 2 threads;
 * - Adam training steps (weight decay and latent clipping on) give the parameters and optimizer
 *   slots of the same backend without `adamStep`, bit for bit;
 * - operands of other shapes, and non-finite scalars, take the composition, with its ShapeError or
 *   ConfigError.
 */
import fc from 'fast-check';
import { cpu32 } from '../backends/cpu.js';
import { createWasmBackend } from '../backends/wasm.js';
import type { AdamStepScalars, Backend } from '../src/backend.js';
import { orThrow, decodeWith } from '../src/codec.js';
import { ConfigError, ShapeError } from '../src/errors.js';
import { buildModel, initModel } from '../src/models/model.js';
import { preset } from '../src/models/presets.js';
import { rng, uniform, normal } from '../src/random.js';
import type { Tensor } from '../src/tensor.js';
import { adamComposed } from '../src/train/adam-step.js';
import { OptimizerConfig, step, initOptimizer } from '../src/train/optim.js';
import { inScope, sameBits } from './bits.js';
import { example, law, throwsWith } from './law.js';

const backends: [string, Backend][] = [
  ['resident, 1 thread', await createWasmBackend()],
  ['copying, 1 thread', await createWasmBackend({ resident: false })],
  ['resident, 2 threads', await createWasmBackend({ threads: 2 })],
];

/** `B` without its fused Adam step: the optimizer then runs the composition. */
const composedOf = (B: Backend): Backend => {
  const { adamStep: _a, ...rest } = B;
  return rest;
};

/**
 * `n` float32 values from `seed` at magnitudes 10^[lo, hi]: a tenth +0, a twentieth −0, the rest
 * of either sign; with `special`, one in fifty NaN and one in fifty ±∞.
 */
function values(n: number, seed: number, lo: number, hi: number, opts: { positive?: boolean; special?: boolean } = {}): Float32Array {
  const r = rng(seed);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = uniform(r);
    const mag = 10 ** (lo + (hi - lo) * uniform(r)) * Math.abs(normal(r));
    const sign = opts.positive === true || uniform(r) < 0.5 ? 1 : -1;
    d[i] = u < 0.1 ? 0 : u < 0.15 ? -0 : opts.special === true && u < 0.17 ? NaN : opts.special === true && u < 0.19 ? sign * Infinity : sign * mag;
  }
  return d;
}

interface Case {
  readonly n: number;
  readonly seed: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly t: number;
  readonly epsilon: number;
  readonly lr: number;
  readonly weightDecay: number;
  readonly clip: number | null;
  readonly special: boolean;
}

const arbCase: fc.Arbitrary<Case> = fc.record({
  n: fc.oneof(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 10, max: 5000 })),
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  beta1: fc.constantFrom(0.9, 0.5, 0.99, 0.123),
  beta2: fc.constantFrom(0.999, 0.99, 0.9, 0.3),
  t: fc.integer({ min: 1, max: 5000 }),
  epsilon: fc.constantFrom(1e-8, 1e-6, 1e-3, 0.1),
  lr: fc.double({ min: 1e-5, max: 1, noNaN: true }),
  weightDecay: fc.constantFrom(0, 0, 1e-6, 5e-4, 0.1),
  clip: fc.constantFrom(null, 1, 0.3, 1e-3),
  special: fc.boolean(),
});

function operands(c: Case): { p: Tensor; m: Tensor; v: Tensor; g: Tensor; h: AdamStepScalars } {
  const shape = [c.n];
  const h: AdamStepScalars = { beta1: c.beta1, beta2: c.beta2, c2: 1 / (1 - c.beta2 ** c.t), epsilon: c.epsilon, a: -c.lr * (1 / (1 - c.beta1 ** c.t)), weightDecay: c.weightDecay, clip: c.clip };
  return {
    p: { shape, data: values(c.n, c.seed, -3, 1) },
    m: { shape, data: values(c.n, c.seed + 1, -6, 0) },
    v: { shape, data: values(c.n, c.seed + 2, -9, 0, { positive: true }) },
    g: { shape, data: values(c.n, c.seed + 3, -8, 2, { special: c.special }) },
    h,
  };
}

const sameTriple = (a: readonly Tensor[], b: readonly Tensor[]): boolean => a.length === 3 && b.length === 3 && a.every((t, i) => sameBits(t, b[i]));

for (const [name, B] of backends) {
  law(`adam: the wasm backend's fused step (${name}) gives the composition's p', m', v' bit for bit, on the same backend and on cpu32`, [arbCase], (c) => {
    const { p, m, v, g, h } = operands(c);
    return inScope(B, () => {
      const fused = B.adamStep!(p, m, v, g, h);
      const composed = adamComposed(B, p, m, v, g, h);
      const reference = adamComposed(cpu32, p, m, v, g, h);
      // copy out of the scope before it ends (resident results are views into wasm memory)
      return sameTriple(fused, composed) && sameTriple(fused, reference);
    });
  }, { numRuns: 60 });
}

example('adam: every wasm backend has adamStep; on operands of another shape it is the composition\'s ShapeError, on a non-finite scalar its ConfigError naming the scalar', () => {
  const [, B] = backends[1];
  const t = (n: number): Tensor => ({ shape: [n], data: new Float32Array(n).fill(0.5) });
  const h: AdamStepScalars = { beta1: 0.9, beta2: 0.999, c2: 1, epsilon: 1e-8, a: -0.01, weightDecay: 0, clip: null };
  return (
    backends.every(([, b]) => typeof b.adamStep === 'function') &&
    throwsWith(() => B.adamStep!(t(5), t(5), t(4), t(5), h), ShapeError, 'axpy') &&
    throwsWith(() => adamComposed(cpu32, t(5), t(5), t(5), t(5), { ...h, c2: Infinity }), ConfigError, 'scalar(mul).s') &&
    throwsWith(() => B.adamStep!(t(5), t(5), t(5), t(5), { ...h, c2: Infinity }), ConfigError, 'scalar(mul).s') &&
    throwsWith(() => B.adamStep!(t(5), t(5), t(5), t(5), { ...h, epsilon: NaN }), ConfigError, 'scalar(add).s')
  );
});

law('adam: optimizer steps with the fused step give the parameters and slots of the same backend without it, bit for bit (weight decay and latent clipping on or off), resident, copying and at 2 threads', [fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.constantFrom(0, 1e-4), fc.constantFrom<number | null>(null, 0.2)], (seed, weightDecay, latentClip) => {
  const cfg = orThrow(decodeWith(OptimizerConfig, { kind: 'adam', lr: 0.05, weightDecay, latentClip, schedule: 'cosine' }, 'optimizer'));
  const model = orThrow(buildModel(preset('mlp', { bits: '2+2', inputShape: [6, 6, 1], classes: 3, width: 1 / 16 })));
  const params0 = initModel(model, rng(seed), 'float32').params;
  const r = rng(seed + 1);
  // four gradients per parameter, the same for both runs
  const grads = Array.from({ length: 4 }, () => Object.fromEntries(Object.entries(params0).map(([l, rec]) => [l, Object.fromEntries(Object.entries(rec).map(([k, t]) => [k, { shape: t.shape, data: Float32Array.from(t.data, () => normal(r) * 0.1) }]))])));
  return backends.every(([, B]) => {
    const runs = [B, composedOf(B)].map((on) =>
      inScope(on, () => {
        let params = params0;
        let state = initOptimizer(on, cfg, params);
        for (const g of grads) ({ params, state } = step(on, cfg, state, params, g, 10, (_, k) => k.startsWith('w')));
        return JSON.stringify([params, state], (_, x: unknown) => (x instanceof Float32Array ? Array.from(x, (e) => (Object.is(e, -0) ? '-0' : e)) : x));
      }),
    );
    return runs[0] === runs[1];
  });
}, { numRuns: 10 });
