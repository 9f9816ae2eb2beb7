/**
 * Laws of the training pieces: the loss (src/train/loss.ts), the optimizers (src/train/optim.ts), models
 * (src/models/model.ts), presets (src/models/presets.ts) and the loop (src/train/train.ts) — gradient vs finite
 * differences, a hand-computed Adam step, shape errors naming both shapes, a loss that decreases,
 * bit-identical reruns, and a stopped-and-resumed run equal to the uninterrupted one.
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { cpu32, cpu64 } from '../backends/cpu.js';
import { orThrow } from '../src/codec.js';
import { ConfigError, NonFiniteError, ShapeError } from '../src/errors.js';
import type { Dataset } from '../src/data/dataset.js';
import { softmaxCrossEntropy } from '../src/train/loss.js';
import { leafSpecs } from '../src/layers/index.js';
import { backward, buildModel, forward, initModel, type Model } from '../src/models/model.js';
import { initOptimizer, OptimizerConfig, step as optStep, type Tree } from '../src/train/optim.js';
import { BITS, preset, PRESETS } from '../src/models/presets.js';
import { derive, rng } from '../src/random.js';
import { tensor, tensorEqual, type Tensor } from '../src/tensor.js';
import { initTraining, train, TrainConfig, TrainingDiverged, type TrainState } from '../src/train/train.js';
import { gradElement, gradsClose, numericVjp, tensorOf } from './gradcheck.js';
import { example, law, throwsWith } from './law.js';

const B = cpu64;

// ---- loss ---------------------------------------------------------------------------------------

const logitsCase = fc.record({ n: fc.integer({ min: 1, max: 4 }), k: fc.integer({ min: 2, max: 5 }) }).chain(({ n, k }) =>
  fc.record({ z: tensorOf([n, k], fc.double({ min: -5, max: 5, noNaN: true })), y: fc.array(fc.integer({ min: 0, max: k - 1 }), { minLength: n, maxLength: n }), c: fc.double({ min: -50, max: 50, noNaN: true }) }),
);

law('softmax cross-entropy: dL/dz equals the finite differences of L', [logitsCase], ({ z, y }) => {
  const got = softmaxCrossEntropy(B, z, y).dlogits;
  const one = [tensor([], [1])];
  const num = numericVjp((p: { z: Tensor }) => [tensor([], [softmaxCrossEntropy(B, p.z, y).loss])], { z }, one);
  return gradsClose({ z: got }, num, 1e-5, 1e-8, 'xent');
});

law('softmax cross-entropy: invariant under adding a constant to every logit', [logitsCase], ({ z, y, c }) =>
  Math.abs(softmaxCrossEntropy(B, z, y).loss - softmaxCrossEntropy(B, B.scalar('add', z, c), y).loss) < 1e-9);

example('softmax cross-entropy: huge logits stay finite (stable log-sum-exp)', () => {
  const r = softmaxCrossEntropy(B, tensor([1, 3], [1000, -1000, 999]), [2]);
  return Math.abs(r.loss - Math.log(1 + Math.exp(1))) < 1e-12 && r.dlogits.data.every(Number.isFinite);
});
example('softmax cross-entropy: a label out of range and a NaN logit are named', () =>
  throwsWith(() => softmaxCrossEntropy(B, tensor([1, 3], [0, 0, 0]), [3]), ConfigError, 'labels[0]', '[0, 3)') &&
  throwsWith(() => softmaxCrossEntropy(B, tensor([1, 3], [0, NaN, 0]), [1]), NonFiniteError, 'logits', 'index 1'));

// ---- optimizers -----------------------------------------------------------------------------------

example('Adam: one step equals the formula computed by hand', () => {
  const cfg = orThrow(E.mapLeft((e: unknown) => e as Error)(OptimizerConfig.decode({ lr: 0.1, weightDecay: 0.01, schedule: 'constant' })) as E.Either<Error, OptimizerConfig>);
  const params: Tree = { l: { w: tensor([2], [1, -2]) } };
  const grads: Tree = { l: { w: tensor([2], [0.5, 0.25]) } };
  const r = optStep(B, cfg, initOptimizer(B, cfg, params), params, grads, 10);
  const want = [1, -2].map((p, i) => {
    const g = [0.5, 0.25][i] + 0.01 * p;
    const m = 0.1 * g / (1 - 0.9);
    const v = 0.001 * g * g / (1 - 0.999);
    return p - 0.1 * m / (Math.sqrt(v) + 1e-8);
  });
  return Math.abs(r.params.l.w.data[0] - want[0]) < 1e-12 && Math.abs(r.params.l.w.data[1] - want[1]) < 1e-12 && r.state.step === 1;
});

example('SGD with a cosine schedule: lr halves at the midpoint; latent clipping clamps only selected parameters', () => {
  const cfg = orThrow(E.mapLeft((e: unknown) => e as Error)(OptimizerConfig.decode({ kind: 'sgd', lr: 1, momentum: 0, weightDecay: 0, latentClip: 1 })) as E.Either<Error, OptimizerConfig>);
  const params: Tree = { l: { w: tensor([1], [0]), b: tensor([1], [0]) } };
  const grads: Tree = { l: { w: tensor([1], [-3]), b: tensor([1], [-3]) } };
  const st = { ...initOptimizer(B, cfg, params), step: 5 };
  const r = optStep(B, cfg, st, params, grads, 10, (_l, k) => k === 'w');
  return r.params.l.w.data[0] === 1 && Math.abs(r.params.l.b.data[0] - 1.5) < 1e-12;
});

// ---- models and presets -------------------------------------------------------------------------

for (const name of PRESETS) {
  example(`preset ${name}: builds at every bit-width pair, first and last layers full precision`, () =>
    BITS.every((bits) => {
      const spec = preset(name, { bits, width: name === 'vgg7' ? 1 / 16 : 1 / 4 });
      const m = buildModel(spec);
      if (E.isLeft(m)) return false;
      // layers nested in residual blocks count too
      const quant = leafSpecs(m.right.spec.layers).filter((l) => 'kernelQuantizer' in l);
      const first = quant[0] as { kernelQuantizer: { id: string }; inputQuantizer: { id: string } };
      const last = quant[quant.length - 1] as { kernelQuantizer: { id: string } };
      const inner = quant.slice(1, -1) as { kernelQuantizer: { id: string } }[];
      const wantK = bits === '32+32' ? 'fp' : bits.startsWith('1') ? 'sign' : 'sttn';
      return first.kernelQuantizer.id === 'fp' && first.inputQuantizer.id === 'fp' && last.kernelQuantizer.id === 'fp' && inner.length > 0 && inner.every((l) => l.kernelQuantizer.id === wantK);
    }));
}

const tiny = (): Model => {
  const m = buildModel({
    name: 'tiny',
    inputShape: [4, 4, 1],
    classes: 3,
    layers: [
      { type: 'conv2d', filters: 2 },
      { type: 'batchNorm' },
      { type: 'relu' },
      { type: 'maxPool' },
      { type: 'conv2d', filters: 2, kernelQuantizer: 'sttn', inputQuantizer: 'fp' },
      { type: 'flatten' },
      { type: 'dense', units: 3 },
    ],
  });
  if (E.isLeft(m)) throw m.left;
  return m.right;
};

law('model: backward equals finite differences of the loss (float layers; the STTN layer through its exact + STE claim is covered by its own laws)', [
  fc.record({ seed: fc.nat(), x: tensorOf([2, 4, 4, 1], fc.double({ min: 0.1, max: 1, noNaN: true })), dy: tensorOf([2, 3], gradElement) }),
], ({ seed, x, dy }) => {
  const m = buildModel({ name: 'f', inputShape: [4, 4, 1], classes: 3, layers: [{ type: 'conv2d', filters: 2 }, { type: 'batchNorm' }, { type: 'flatten' }, { type: 'dense', units: 3 }] });
  if (E.isLeft(m)) return false;
  const { params, state } = initModel(m.right, rng(seed), 'float64');
  const ctx = { training: true, rng: rng(1) };
  const f = forward(B, m.right, params, state, x, ctx);
  const g = backward(B, m.right, params, f.res, dy);
  for (const layer of Object.keys(params)) {
    const num = numericVjp((p) => [forward(B, m.right, { ...params, [layer]: p }, state, x, ctx).logits] as const, params[layer], [dy]);
    if (!gradsClose(g[layer], num, 1e-5, 1e-7, layer)) return false;
  }
  return true;
}, { numRuns: 10 });

example('model: input of the wrong shape is a ShapeError naming both shapes', () => {
  const m = tiny();
  const { params, state } = initModel(m, rng(1), 'float64');
  return throwsWith(() => forward(B, m, params, state, tensor([1, 5, 5, 1], new Float64Array(25)), { training: false, rng: rng(1) }), ShapeError, '[batch, 4, 4, 1]', '[1, 5, 5, 1]');
});

example('model spec: a layer whose shapes do not chain, or a wrong output size, is a Left naming the layer', () => {
  const bad1 = buildModel({ inputShape: [4, 4, 1], classes: 3, layers: [{ type: 'dense', units: 3 }] });
  const bad2 = buildModel({ inputShape: [4], classes: 3, layers: [{ type: 'dense', units: 4 }] });
  const bad3 = buildModel({ inputShape: [4], classes: 3, layers: [{ type: 'dense', units: 3, kernelQuantizer: { id: 'sttn', config: { clip: -2 } } }] });
  return (
    E.isLeft(bad1) && bad1.left.field.includes('model.layers.0') &&
    E.isLeft(bad2) && bad2.left.message.includes('[4]') && bad2.left.message.includes('[3]') &&
    E.isLeft(bad3) && bad3.left.message.includes('clip')
  );
});

// ---- the loop ---------------------------------------------------------------------------------

/** A small separable problem: the class is which quadrant holds the bright pixel. */
function toyData(n: number, seed: number): Dataset {
  const r = derive(seed, 9);
  const images = new Float32Array(n * 16);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    labels[i] = c;
    const [y, x] = [[0, 0], [0, 2], [2, 0]][c];
    for (let j = 0; j < 16; j++) images[i * 16 + j] = 0.1 * (r.s[j % 4] % 7) / 7;
    images[i * 16 + (y + (i & 1)) * 4 + x + ((i >> 1) & 1)] = 1;
  }
  return { name: 'toy', images: { shape: [n, 4, 4, 1], data: images }, labels, classes: 3 };
}

const cfgOf = (raw: unknown): TrainConfig => {
  const r = TrainConfig.decode(raw);
  if (E.isLeft(r)) throw new Error('bad train config');
  return r.right;
};

const sameTree = (a: Tree, b: Tree) => Object.keys(a).every((l) => Object.keys(a[l]).every((k) => tensorEqual(a[l][k], b[l][k]) && a[l][k].data.every((v, i) => Object.is(v, b[l][k].data[i]))));

example('training lowers the loss on a small problem (STTN layer inside)', async () => {
  const m = tiny();
  const data = toyData(48, 3);
  const cfg = cfgOf({ epochs: 6, batchSize: 8, augmentPad: 0, optimizer: { lr: 0.01 } });
  const losses: number[] = [];
  await train(cpu32, m, data, cfg, initTraining(cpu32, m, cfg), { onStep: (i) => losses.push(i.loss) });
  const first = losses.slice(0, 6).reduce((a, b) => a + b) / 6;
  const last = losses.slice(-6).reduce((a, b) => a + b) / 6;
  return last < 0.7 * first;
});

example('two runs with one seed are bit-identical; a run stopped at step 7 and resumed equals the uninterrupted run', async () => {
  const m = tiny();
  const data = toyData(40, 5);
  const cfg = cfgOf({ epochs: 3, batchSize: 8, augmentPad: 1, seed: 42 });
  const full1 = (await train(cpu32, m, data, cfg, initTraining(cpu32, m, cfg))).state;
  const full2 = (await train(cpu32, m, data, cfg, initTraining(cpu32, m, cfg))).state;
  let steps = 0;
  const partial = await train(cpu32, m, data, cfg, initTraining(cpu32, m, cfg), { onStep: () => steps++, shouldStop: () => steps >= 7 });
  // round-trip the state through plain data, as a checkpoint would
  const copy = (t: Tree): Tree => JSON.parse(JSON.stringify(t, (_k, v) => (v instanceof Float32Array ? { f32: Array.from(v) } : v)), (_k, v) => (v && v.f32 ? Float32Array.from(v.f32) : v));
  const resumedFrom: TrainState = { ...partial.state, params: copy(partial.state.params), state: copy(partial.state.state) };
  const resumed = (await train(cpu32, m, data, cfg, resumedFrom)).state;
  return partial.stopped && partial.state.step === 7 && sameTree(full1.params, full2.params) && sameTree(full1.params, resumed.params) && sameTree(full1.state, resumed.state) && resumed.step === full1.step;
});

example('a diverging run stops with TrainingDiverged naming the step', async () => {
  const m = tiny();
  const data = toyData(16, 1);
  const cfg = cfgOf({ epochs: 1, batchSize: 8, augmentPad: 0 });
  const s = initTraining(cpu32, m, cfg);
  const poisoned: TrainState = { ...s, params: { ...s.params, l06_dense: { ...s.params.l06_dense, b: tensor([3], new Float32Array([NaN, 0, 0])) } } };
  try {
    await train(cpu32, m, data, cfg, poisoned);
    return false;
  } catch (e) {
    return e instanceof TrainingDiverged && e.step === 0 && /step 0/.test(e.message);
  }
});

export type { Tensor };
