/**
 * Fused layer pairs (src/models/fuse.ts; the passes `maxPoolRelu`, `maxPoolReluGrad`,
 * `batchNormAffineRelu`, `batchNormGradMomentsRelu`, `batchNormGradAffineRelu` of src/backend.ts,
 * on the wasm backend in backends/wasm.ts, backends/wasm/batchnorm.ts and assembly/pool.ts,
 * assembly/batchnorm.ts) replace two layers run one by one, so the claim is bit-identity (Object.is
 * per element: ±0 told apart, NaN equal to NaN), not a tolerance:
 * - each pass equals the composition written beside it in src/backend.ts on drawn operands, on the
 *   wasm backend resident and copying, at 1 and 2 threads: pooling windows and strides drawn
 *   (overlapping, tiling, with rows and columns left over), odd channel counts, values from a few
 *   small integers (so windows hold ties, zeros, −0 and negatives), ±∞ and NaN in dy and in some
 *   inputs; sizes both
 *   under and over the sizes from which the passes split over threads;
 * - a model's forward (logits, state) and backward (every gradient), in training and in inference,
 *   with the pairs fused equals the same backend without the passes, for cnn-small, cnn-ternary,
 *   vgg7 and mlp (their conv2d → maxPool pairs, `conv2dPoolArgmax` with the pool's backward from
 *   its maxima, and their relu pairs) at drawn bits, sizes and batches, and the plan fuses exactly
 *   those pairs (cnn-small: layers 0–1, 2–3, 5–6 and 7–8);
 * - training steps (params, batch-norm state, optimizer slots, every loss) equal those of the
 *   backend with `fuse: false`, at 1 and 2 threads, resident and copying;
 * - a backend without the passes (cpu32), or with only some of a pair's passes, runs every layer
 *   alone and gives the same results; a `fuse` option that is not a boolean is a ConfigError.
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { cpu32 } from '../backends/cpu.js';
import { createWasmBackend, type WasmBackend } from '../backends/wasm.js';
import type { Backend, PoolOptions } from '../src/backend.js';
import { ConfigError } from '../src/errors.js';
import { outSize } from '../src/backend.js';
import { plan } from '../src/models/fuse.js';
import { backward, buildModel, forward, initModel, type Model } from '../src/models/model.js';
import { preset, type Bits } from '../src/models/presets.js';
import { rng, uniform } from '../src/random.js';
import type { Tensor } from '../src/tensor.js';
import type { Tree } from '../src/train/optim.js';
import { initTraining, train, type TrainState } from '../src/train/train.js';
import { holdsAsync } from './async-law.js';
import { example, law } from './law.js';
import { cfgOf, sameTree } from './toy.js';
import { sameBits, inScope } from './bits.js';

const backends: [string, WasmBackend][] = [
  ['resident, 1 thread', await createWasmBackend()],
  ['copying, 1 thread', await createWasmBackend({ resident: false })],
  ['resident, 2 threads', await createWasmBackend({ threads: 2 })],
  ['copying, 2 threads', await createWasmBackend({ threads: 2, resident: false })],
];
const unfused: WasmBackend[] = [
  await createWasmBackend({ fuse: false }),
  await createWasmBackend({ resident: false, fuse: false }),
  await createWasmBackend({ threads: 2, fuse: false }),
  await createWasmBackend({ threads: 2, resident: false, fuse: false }),
];

const POOL_RELU = ['maxPoolRelu', 'maxPoolReluGrad'] as const;
const BN_RELU = ['batchNormAffineRelu', 'batchNormGradMomentsRelu', 'batchNormGradAffineRelu'] as const;
const RELU_BN = ['batchNormMomentsOfRelu', 'batchNormAffineOfRelu', 'batchNormGradMomentsOfRelu', 'batchNormGradAffineOfRelu'] as const;
const CONV_POOL = ['conv2dPoolArgmax', 'maxPoolGradArgmax'] as const;
/** The convolution's and pooling's own fused passes (laws/conv-bias.test.ts, laws/pool-argmax.test.ts), also left out by fuse: false. */
const CONV_OWN = ['conv2dBias', 'conv2dGradFilterBias', 'conv2dBackward', 'maxPoolArgmax'] as const;
const PAIR_PASSES = [...POOL_RELU, ...BN_RELU, ...RELU_BN, ...CONV_POOL] as const;

/** `B` without the named passes. */
const without = (B: Backend, names: readonly string[]): Backend => Object.fromEntries(Object.entries(B).filter(([k]) => !names.includes(k))) as unknown as Backend;



/**
 * `n` float32 values from `seed`: mostly small integers in [−3, 3] (windows then hold ties, and
 * many elements are 0 or −0), the rest normal-ish; with `special`, some ±∞ and NaN.
 */
function values(n: number, seed: number, special: boolean): Float32Array {
  const r = rng(seed);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = uniform(r);
    d[i] =
      u < 0.1 ? -0
      : u < 0.6 ? Math.floor(uniform(r) * 7) - 3
      : special && u < 0.62 ? [Infinity, -Infinity, NaN][Math.floor(uniform(r) * 3)]
      : (uniform(r) - 0.5) * 10;
  }
  return d;
}

interface PoolCase {
  readonly n: number;
  readonly h: number;
  readonly w: number;
  readonly c: number;
  readonly opts: PoolOptions;
  readonly seed: number;
}

const poolCase = (n: fc.Arbitrary<number>, hw: fc.Arbitrary<number>, c: fc.Arbitrary<number>): fc.Arbitrary<PoolCase> =>
  fc
    .record({ n, h: hw, w: hw, c, kh: fc.integer({ min: 1, max: 3 }), kw: fc.integer({ min: 1, max: 3 }), sh: fc.integer({ min: 1, max: 3 }), sw: fc.integer({ min: 1, max: 3 }), seed: fc.nat(2 ** 31 - 1) })
    .map(({ n, h, w, c, kh, kw, sh, sw, seed }) => ({ n, h: Math.max(h, kh), w: Math.max(w, kw), c, opts: { size: [kh, kw] as const, strides: [sh, sw] as const }, seed }));

/** Both maxPool → relu passes against their compositions, on every backend. */
const poolPassesEqual = (k: PoolCase): boolean => {
  const x: Tensor = { shape: [k.n, k.h, k.w, k.c], data: values(k.n * k.h * k.w * k.c, k.seed, k.seed % 4 === 1) };
  const yShape = [k.n, outSize(k.h, k.opts.size[0], k.opts.strides[0], 0), outSize(k.w, k.opts.size[1], k.opts.strides[1], 0), k.c];
  const dy: Tensor = { shape: yShape, data: values(yShape.reduce((a, b) => a * b, 1), k.seed + 1, true) };
  return backends.every(([, B]) =>
    inScope(B, () => {
      const y = B.maxPoolRelu!(x, k.opts);
      const yRef = B.unary('relu', B.maxPool(x, k.opts));
      const dx = B.maxPoolReluGrad!(x, y, dy, k.opts);
      const dxRef = B.maxPoolGrad(x, B.binary('mul', dy, B.unary('step', yRef)), k.opts);
      return sameBits(y, yRef) && sameBits(dx, dxRef);
    }),
  );
};

/**
 * The three batchNorm → relu passes against their compositions, on every backend. dy has ±∞ and
 * NaN in half the cases only (x, the relu's input of relu → batchNorm, in a quarter): with them
 * every long sum is NaN, whatever it wrongly added.
 */
const bnPassesEqual = (m: number, c: number, seed: number): boolean => {
  const t = (shape: number[], s: number, special = false): Tensor => ({ shape, data: values(shape.reduce((a, b) => a * b, 1), seed + s, special) });
  const [x, dy, a, b, g, kk, d] = [t([m, c], 1, seed % 4 === 1), t([m, c], 2, seed % 2 === 0), t([c], 3), t([c], 4), t([c], 5), t([c], 6), t([c], 7)];
  return backends.every(([, B]) =>
    inScope(B, () => {
      const y = B.batchNormAffineRelu!(x, a, b);
      const yRef = B.unary('relu', B.batchNormAffine!(x, a, b));
      const masked = B.binary('mul', dy, B.unary('step', yRef));
      const [s1, s2] = B.batchNormGradMomentsRelu!(dy, x, y);
      const [r1, r2] = B.batchNormGradMoments!(masked, x);
      // relu → batchNorm: x is the relu's input z
      const rx = B.unary('relu', x);
      const [m1, m2] = B.batchNormMomentsOfRelu!(x);
      const [n1, n2] = B.batchNormMoments!(rx);
      const [q1, q2] = B.batchNormGradMomentsOfRelu!(dy, x);
      const [p1, p2] = B.batchNormGradMoments!(dy, rx);
      return (
        sameBits(y, yRef) &&
        sameBits(s1, r1) &&
        sameBits(s2, r2) &&
        sameBits(B.batchNormGradAffineRelu!(dy, x, y, g, kk, d), B.batchNormGradAffine!(masked, x, g, kk, d)) &&
        sameBits(m1, n1) &&
        sameBits(m2, n2) &&
        sameBits(q1, p1) &&
        sameBits(q2, p2) &&
        sameBits(B.batchNormAffineOfRelu!(x, a, b), B.batchNormAffine!(rx, a, b)) &&
        sameBits(B.batchNormGradAffineOfRelu!(dy, x, g, kk, d), B.binary('mul', B.batchNormGradAffine!(dy, rx, g, kk, d), B.unary('step', x)))
      );
    }),
  );
};

example('every wasm backend has the eleven pair passes and the convolution’s four, and none with fuse: false', () =>
  backends.every(([, B]) => [...PAIR_PASSES, ...CONV_OWN].every((p) => typeof B[p] === 'function')) &&
  unfused.every((B) => [...PAIR_PASSES, ...CONV_OWN].every((p) => B[p] === undefined)),
);

example('a fuse option that is not true or false is a ConfigError naming createWasmBackend.fuse', async () => {
  const refused = await Promise.all(
    ['no', 0, 1, null].map((fuse) =>
      createWasmBackend({ fuse: fuse as unknown as boolean }).then(
        (B) => (B.dispose(), false),
        (e: unknown) => e instanceof ConfigError && e.message.includes('createWasmBackend.fuse'),
      ),
    ),
  );
  return refused.every(Boolean);
});

law('maxPoolRelu = relu(maxPool(x)) and maxPoolReluGrad = maxPoolGrad(x, dy·step(y)) bit for bit (ties, ±0, ±∞, NaN; windows and strides drawn)', [poolCase(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 11 }))], poolPassesEqual, { numRuns: 60 });

law(
  'the same on operands of 2¹⁶ elements or more (split over threads by images)',
  // n·side²·c ≥ 4·30²·33 = 118,800 ≥ 2¹⁶ in every draw
  [poolCase(fc.integer({ min: 4, max: 9 }), fc.integer({ min: 30, max: 40 }), fc.constantFrom(33, 48))],
  poolPassesEqual,
  { numRuns: 6 },
);

law(
  'the batchNorm → relu passes (…Relu) and the relu → batchNorm passes (…OfRelu) equal their compositions bit for bit',
  [fc.integer({ min: 1, max: 90 }), fc.oneof(fc.constantFrom(1, 2, 3, 4, 5, 7, 8, 9, 17), fc.integer({ min: 1, max: 40 })), fc.nat(2 ** 31 - 1)],
  bnPassesEqual,
  { numRuns: 50 },
);

law(
  'the same with 2¹⁷ elements or more (sums split by channels, maps by rows)',
  [fc.tuple(fc.constantFrom(3, 8, 17, 32, 64), fc.nat(3000)).map(([c, extra]) => [Math.ceil(2 ** 17 / c) + extra, c] as const), fc.nat(2 ** 31 - 1)],
  ([m, c], seed) => bnPassesEqual(m, c, seed),
  { numRuns: 8 },
);

// ---- models ------------------------------------------------------------------------------------

const modelOf = (raw: unknown): Model => {
  const m = buildModel(raw);
  if (E.isLeft(m)) throw m.left;
  return m.right;
};

/**
 * The first layers of the pairs a model's plan should fuse, left to right: a maxPool or batchNorm
 * and the relu after it, else a relu and the batchNorm after it; `has` says which kinds of pair the
 * backend has every pass of.
 */
function expectedPairs(m: Model, has = { poolRelu: true, bnRelu: true, reluBn: true, convPool: true }): number[] {
  const out: number[] = [];
  const t = (i: number) => m.layers[i]?.type;
  for (let i = 0; i < m.layers.length; i++) {
    if (t(i) === 'conv2d' && t(i + 1) === 'maxPool' && has.convPool) {
      out.push(i++);
      continue;
    }
    const then = t(i + 1) === 'relu' && ((t(i) === 'maxPool' && has.poolRelu) || (t(i) === 'batchNorm' && has.bnRelu));
    if (then || (t(i) === 'relu' && t(i + 1) === 'batchNorm' && has.reluBn)) out.push(i++);
  }
  return out;
}

const fusedAt = (B: Backend, m: Model): number[] => plan(B, m.layers).flatMap((s) => (s.pair ? [s.i] : []));

example('cnn-small fuses conv2d → maxPool (layers 0, 1 and 5, 6), batchNorm → relu (2, 3) and relu → batchNorm (7, 8); mlp its relu → batchNorm (2, 3 and 5, 6)', () => {
  const m = modelOf(preset('cnn-small'));
  const mlp = modelOf(preset('mlp'));
  return (
    fusedAt(backends[0][1], m).join() === '0,2,5,7' && m.layers[0].type === 'conv2d' && m.layers[1].type === 'maxPool' && m.layers[2].type === 'batchNorm' &&
    m.layers[5].type === 'conv2d' && m.layers[7].type === 'relu' && m.layers[8].type === 'batchNorm' &&
    fusedAt(backends[0][1], mlp).join() === '2,5' && mlp.layers[2].type === 'relu' && mlp.layers[3].type === 'batchNorm'
  );
});

interface ModelCase {
  readonly name: 'cnn-small' | 'vgg7' | 'cnn-ternary' | 'mlp';
  readonly bits: Bits;
  readonly side: number;
  readonly batch: number;
  readonly seed: number;
  readonly training: boolean;
}

const modelCase: fc.Arbitrary<ModelCase> = fc.record({
  name: fc.constantFrom('cnn-small' as const, 'vgg7' as const, 'cnn-ternary' as const, 'mlp' as const),
  bits: fc.constantFrom<Bits>('32+32', '2+2', '2+32', '1+1'),
  side: fc.constantFrom(8, 12),
  batch: fc.integer({ min: 1, max: 5 }),
  seed: fc.nat(2 ** 31 - 1),
  training: fc.boolean(),
});

const buildCase = (k: ModelCase): Model =>
  modelOf(preset(k.name, { bits: k.bits, inputShape: [k.side, k.side, 1], classes: 3, ...(k.name === 'vgg7' ? { width: 1 / 16 } : k.name === 'mlp' ? { width: 1 / 8 } : {}) }));

/** Logits, next state and every gradient of one forward and backward on `B`. */
function passOf(B: Backend, m: Model, k: ModelCase): { logits: Tensor; state: Tree; grads: Tree } {
  const { params, state } = initModel(m, rng(k.seed), 'float32');
  const x: Tensor = { shape: [k.batch, k.side, k.side, 1], data: values(k.batch * k.side * k.side, k.seed + 1, false) };
  return inScope(B, () => {
    const f = forward(B, m, params, state, x, { training: k.training, rng: rng(k.seed + 2) });
    const dlogits: Tensor = { shape: f.logits.shape, data: values(f.logits.data.length, k.seed + 3, false) };
    return { logits: f.logits, state: f.state, grads: backward(B, m, params, f.res, dlogits) };
  });
}

const samePass = (a: ReturnType<typeof passOf>, b: ReturnType<typeof passOf>): boolean =>
  sameBits(a.logits, b.logits) && sameTree(a.state, b.state) && sameTree(a.grads, b.grads) &&
  Object.keys(a.grads).length === Object.keys(b.grads).length && Object.keys(a.state).length === Object.keys(b.state).length;

law(
  "a model's forward and backward with its pairs fused equal the backend without the passes, bit for bit (training and inference), and the plan fuses every maxPool/batchNorm → relu and relu → batchNorm",
  [modelCase],
  (k) => {
    const m = buildCase(k);
    const want = expectedPairs(m);
    return (
      want.length > 0 &&
      backends.every(([, B], j) => {
        const fused = passOf(B, m, k);
        return (
          fusedAt(B, m).join() === want.join() &&
          fusedAt(unfused[j], m).length === 0 &&
          samePass(fused, passOf(unfused[j], m, k)) &&
          samePass(fused, passOf(without(B, PAIR_PASSES), m, k))
        );
      })
    );
  },
  { numRuns: 12 },
);

law(
  'a backend with only some of a pair’s passes runs its layers alone, with the same bits; cpu32 (no passes) fuses nothing',
  [modelCase, fc.subarray([...PAIR_PASSES], { minLength: 1, maxLength: 8 })],
  (k, drop) => {
    const m = buildCase(k);
    const B = backends[k.seed % backends.length][1];
    const partial = without(B, drop);
    const all = (names: readonly string[]) => names.every((p) => !drop.includes(p as (typeof PAIR_PASSES)[number]));
    const want = expectedPairs(m, { poolRelu: all(POOL_RELU), bnRelu: all(BN_RELU), reluBn: all(RELU_BN), convPool: all(CONV_POOL) });
    return fusedAt(partial, m).join() === want.join() && samePass(passOf(partial, m, k), passOf(B, m, k)) && fusedAt(cpu32, m).length === 0;
  },
  { numRuns: 8 },
);

// ---- training ----------------------------------------------------------------------------------

/** Images of `side`², 3 classes: the class is which third of the image holds the bright band. */
function bandData(n: number, side: number, seed: number) {
  const r = rng(seed);
  const images = new Float32Array(n * side * side);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 3;
    for (let p = 0; p < side * side; p++) {
      const row = Math.floor(p / side);
      images[i * side * side + p] = Math.floor((row * 3) / side) === labels[i] ? 1 : 0.2 * uniform(r) - 0.1;
    }
  }
  return { name: 'bands', images: { shape: [n, side, side, 1], data: images }, labels, classes: 3 };
}

async function runTraining(B: WasmBackend, m: Model, dataSeed: number, raw: object): Promise<{ s: TrainState; losses: number[] }> {
  const cfg = cfgOf({ epochs: 2, batchSize: 8, ...raw });
  const losses: number[] = [];
  const r = await train(B, m, bandData(24, 8, dataSeed), cfg, initTraining(B, m, cfg), { onStep: (info) => void losses.push(info.loss) });
  return { s: r.state, losses };
}

const sameRun = (a: Awaited<ReturnType<typeof runTraining>>, b: Awaited<ReturnType<typeof runTraining>>): boolean =>
  sameTree(a.s.params, b.s.params) &&
  sameTree(a.s.state, b.s.state) &&
  Object.keys(a.s.optimizer.slots).every((k) => sameTree(a.s.optimizer.slots[k], b.s.optimizer.slots[k])) &&
  a.losses.length === b.losses.length &&
  a.losses.every((l, i) => Object.is(l, b.losses[i]));

example('training steps with the pairs fused give the params, state, optimizer slots and losses of fuse: false, at 1 and 2 threads, resident and copying (seeds, model, optimizer drawn)', () =>
  holdsAsync(
    fc.record({ dataSeed: fc.nat(1 << 20), seed: fc.nat(1 << 20), name: fc.constantFrom('cnn-small' as const, 'cnn-ternary' as const, 'mlp' as const), bits: fc.constantFrom<Bits>('2+2', '32+32'), kind: fc.constantFrom('adam', 'sgd') }),
    async ({ dataSeed, seed, name, bits, kind }) => {
      const m = modelOf(preset(name, { bits, inputShape: [8, 8, 1], classes: 3, ...(name === 'mlp' ? { width: 1 / 8 } : {}) }));
      const raw = { seed, optimizer: { kind } };
      for (let j = 0; j < backends.length; j++) {
        const a = await runTraining(backends[j][1], m, dataSeed, raw);
        const b = await runTraining(unfused[j], m, dataSeed, raw);
        if (!sameRun(a, b) || a.losses.length !== 6) return false;
      }
      return true;
    },
    3,
  ));
