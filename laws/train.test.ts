/**
 * Laws of the training loop (src/train/train.ts): a few epochs on a small problem lower the loss
 * (an STTN layer inside); two runs with one seed are bit-identical; a run stopped at step k and
 * resumed from its state (round-tripped through plain data) equals the uninterrupted run; a
 * non-finite loss stops the run with TrainingDiverged naming the step; so does a non-finite value
 * anywhere in a step (forward, loss, backward, optimizer) under any huge learning rate; evaluating
 * an empty dataset is a ConfigError naming it, never NaN; the step's check of gradients and
 * parameters names the same first non-finite value on the wasm backend (its one-pass check) as on
 * cpu32.
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { cpu32 } from '../backends/cpu.js';
import { ConfigError } from '../src/errors.js';
import { buildModel, type Model } from '../src/models/model.js';
import { tensor } from '../src/tensor.js';
import type { Tree } from '../src/train/optim.js';
import { evaluate, firstNonFinite, initTraining, stepsPerEpoch, train, TrainingDiverged, type TrainState } from '../src/train/train.js';
import { createWasmBackend } from '../backends/wasm.js';
import { holdsAsync } from './async-law.js';
import { example, law, throwsWith } from './law.js';
import { cfgOf, sameTree, tiny, toyData } from './toy.js';

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

example('two runs with one seed are bit-identical; a run stopped at step 7 and resumed equals the uninterrupted run (seed drawn)', () =>
  holdsAsync(fc.nat(1 << 30), async (seed) => {
    const m = tiny();
    const data = toyData(40, 5);
    const cfg = cfgOf({ epochs: 3, batchSize: 8, augmentPad: 1, seed });
    const full1 = (await train(cpu32, m, data, cfg, initTraining(cpu32, m, cfg))).state;
    const full2 = (await train(cpu32, m, data, cfg, initTraining(cpu32, m, cfg))).state;
    let steps = 0;
    const partial = await train(cpu32, m, data, cfg, initTraining(cpu32, m, cfg), { onStep: () => steps++, shouldStop: () => steps >= 7 });
    // round-trip the state through plain data, as a checkpoint would
    const copy = (t: Tree): Tree => JSON.parse(JSON.stringify(t, (_k, v) => (v instanceof Float32Array ? { f32: Array.from(v) } : v)), (_k, v) => (v && v.f32 ? Float32Array.from(v.f32) : v));
    const resumedFrom: TrainState = { ...partial.state, params: copy(partial.state.params), state: copy(partial.state.state) };
    const resumed = (await train(cpu32, m, data, cfg, resumedFrom)).state;
    return partial.stopped && partial.state.step === 7 && sameTree(full1.params, full2.params) && sameTree(full1.params, resumed.params) && sameTree(full1.state, resumed.state) && resumed.step === full1.step;
  }, 2));

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

/** tiny() with ternary activations: a non-finite input to their quantizer throws NonFiniteError in the forward. */
const ternaryActs = (): Model => {
  const m = buildModel({
    name: 'ternary-acts',
    inputShape: [4, 4, 1],
    classes: 3,
    layers: [
      { type: 'flatten' },
      { type: 'dense', units: 8 },
      { type: 'batchNorm' },
      { type: 'dense', units: 8, kernelQuantizer: 'sttn', inputQuantizer: 'ternary' },
      { type: 'dense', units: 3, inputQuantizer: 'ternary' },
    ],
  });
  if (E.isLeft(m)) throw m.left;
  return m.right;
};

example('any huge learning rate, either optimizer, either model: training stops with TrainingDiverged naming a step of the run, never another error', async () => {
  const data = toyData(16, 1);
  const arb = fc.record({ exponent: fc.integer({ min: 20, max: 300 }), kind: fc.constantFrom('adam', 'sgd'), acts: fc.boolean() });
  return holdsAsync(
    arb,
    async ({ exponent, kind, acts }) => {
      const m = acts ? ternaryActs() : tiny();
      const cfg = cfgOf({ epochs: 3, batchSize: 8, augmentPad: 0, optimizer: { kind, lr: 10 ** exponent } });
      try {
        await train(cpu32, m, data, cfg, initTraining(cpu32, m, cfg));
        return false;
      } catch (e) {
        return e instanceof TrainingDiverged && e.message.startsWith(`training diverged at step ${e.step}: `) && e.step < cfg.epochs * stepsPerEpoch(16, 8);
      }
    },
    8,
  );
});

const wasmB = await createWasmBackend();
law('the step\'s finiteness check names the same first NaN or ±∞ of a gradient or parameter tree on wasm (one pass per tensor) as on cpu32, and nothing for a finite tree', [
  fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 5 }),
  fc.array(fc.tuple(fc.nat(), fc.nat(), fc.constantFrom(NaN, Infinity, -Infinity)), { maxLength: 3 }),
  fc.boolean(),
], (lengths, bad, inScope) => {
  const tree: Tree = Object.fromEntries(lengths.map((n, i) => [`l${i}`, { w: tensor([n], new Float32Array(n).map((_, j) => Math.fround(Math.sin(j + i)))) }]));
  for (const [l, at, v] of bad) {
    const d = tree[`l${l % lengths.length}`].w.data as Float32Array;
    if (d.length > 0) d[at % d.length] = v;
  }
  const want = firstNonFinite(cpu32, tree);
  // in a resident scope the tensors are the backend's own results (x·1: the same values), read in place
  const resident = (): Tree => Object.fromEntries(Object.entries(tree).map(([l, ps]) => [l, { w: wasmB.scalar('mul', ps.w, 1) }]));
  const got = inScope ? wasmB.resident!(() => firstNonFinite(wasmB, resident())) : firstNonFinite(wasmB, tree);
  const anyBad = lengths.some((_, i) => (tree[`l${i}`].w.data as Float32Array).some((v) => !Number.isFinite(v)));
  return got === want && (want === null) === !anyBad;
});

law('evaluate on an empty dataset throws a ConfigError naming the dataset, whatever the batch size: never a NaN accuracy', [fc.integer({ min: 1, max: 1000 })], (batch) => {
  const m = tiny();
  const cfg = cfgOf({ epochs: 1 });
  return throwsWith(() => evaluate(cpu32, m, initTraining(cpu32, m, cfg), toyData(0, 1), batch), ConfigError, 'toy', 'empty');
}, { numRuns: 20 });
