/**
 * Laws of a training run as a checkpoint (src/checkpoint/run.ts): through a checkpoint file,
 * fromCheckpoint(toCheckpoint(run)) gives back the model spec, the train config, the parameters,
 * the batch-norm statistics and the optimizer's slots bit for bit; a run stopped at step k, saved,
 * loaded and resumed equals the uninterrupted run; a foreign model spec or train config in a
 * checkpoint is a Left naming the field. A checkpoint must fit its model: a fresh run of every
 * preset passes, and one tensor removed, added, reshaped, resized, made non-finite, or a negative
 * batch-norm variance or Adam second moment, in the parameters, the state or an optimizer slot,
 * is a Left naming its path (and the file, when read from one); so are a foreign optimizer kind
 * and a missing or unexpected slot.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { cpu32 } from '../backends/cpu.js';
import { CheckpointError, loadCheckpoint, saveCheckpoint, type Checkpoint } from '../src/checkpoint/checkpoint.js';
import { fromCheckpoint, toCheckpoint, type Run } from '../src/checkpoint/run.js';
import { orThrow } from '../src/codec.js';
import { ConfigError } from '../src/errors.js';
import { buildModel, type Model } from '../src/models/model.js';
import { BITS, preset, PRESETS, type Bits, type PresetName } from '../src/models/presets.js';
import type { ParamTree } from '../src/tensor-codec.js';
import type { Tensor } from '../src/tensor.js';
import { initTraining, stepsPerEpoch, train, type TrainConfig, type TrainState } from '../src/train/train.js';
import { example, law } from './law.js';
import { cfgOf, sameTree, tiny, toyData } from './toy.js';

const dir = mkdtempSync(join(tmpdir(), 'sttn-run-ckpt-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const data = toyData(40, 5);
const history = [{ epoch: 1, loss: 1.25, trainAccuracy: 0.5, testAccuracy: null, seconds: 0.5 }];

/** Save the run's checkpoint to a file, load it back and decode the run. */
function throughFile(name: string, m: Model, cfg: TrainConfig, s: TrainState): E.Either<Error, Run> {
  const file = join(dir, `${name}.json`);
  saveCheckpoint(file, toCheckpoint(m, cfg, s, stepsPerEpoch(data.labels.length, cfg.batchSize), { data: 'toy', history }));
  const c = loadCheckpoint(file);
  return E.isLeft(c) ? c : fromCheckpoint(c.right);
}

const sameState = (a: TrainState, b: TrainState): boolean =>
  a.step === b.step &&
  a.optimizer.step === b.optimizer.step &&
  sameTree(a.params, b.params) &&
  sameTree(a.state, b.state) &&
  isDeepStrictEqual(Object.keys(a.optimizer.slots).sort(), Object.keys(b.optimizer.slots).sort()) &&
  Object.keys(a.optimizer.slots).every((k) => sameTree(a.optimizer.slots[k], b.optimizer.slots[k]));

example('fromCheckpoint(toCheckpoint(run)) through a file gives back the spec, the config and the state bit for bit', async () => {
  const m = tiny();
  const cfg = cfgOf({ epochs: 2, batchSize: 8, augmentPad: 1, seed: 7, optimizer: { kind: 'sgd', lr: 0.05 } });
  let steps = 0;
  const partial = await train(cpu32, m, data, cfg, initTraining(cpu32, m, cfg), { onStep: () => steps++, shouldStop: () => steps >= 3 });
  const r = throughFile('roundtrip', m, cfg, partial.state);
  return (
    E.isRight(r) &&
    isDeepStrictEqual(r.right.model.spec, m.spec) &&
    isDeepStrictEqual(r.right.config, cfg) &&
    sameState(partial.state, r.right.state) &&
    r.right.meta.data === 'toy' &&
    isDeepStrictEqual(r.right.meta.history, history)
  );
});

example('a run stopped at step 7, saved, loaded and resumed equals the uninterrupted run, bit for bit', async () => {
  const m = tiny();
  const cfg = cfgOf({ epochs: 3, batchSize: 8, augmentPad: 1, seed: 42 });
  const full = (await train(cpu32, m, data, cfg, initTraining(cpu32, m, cfg))).state;
  let steps = 0;
  const partial = await train(cpu32, m, data, cfg, initTraining(cpu32, m, cfg), { onStep: () => steps++, shouldStop: () => steps >= 7 });
  const run = throughFile('resume', m, cfg, partial.state);
  if (E.isLeft(run) || !partial.stopped || partial.state.step !== 7) return false;
  const resumed = (await train(cpu32, run.right.model, data, run.right.config, run.right.state)).state;
  return sameState(full, resumed);
});

example('a checkpoint with a foreign model spec or train config is a Left naming the field', () => {
  const m = tiny();
  const cfg = cfgOf({ epochs: 1, batchSize: 8 });
  const c = toCheckpoint(m, cfg, initTraining(cpu32, m, cfg), 5, { data: 'toy', history: [] });
  const badTrain = fromCheckpoint({ ...c, meta: { ...c.meta, train: { ...(c.meta.train as object), epochs: -1 } } });
  const notTrain = fromCheckpoint({ ...c, meta: { ...c.meta, train: 'adam' } });
  const badModel = fromCheckpoint({ ...c, model: { ...(c.model as object), layers: [{ type: 'transformer' }] } });
  return (
    E.isRight(fromCheckpoint(c)) &&
    E.isLeft(badTrain) && badTrain.left.field === 'checkpoint.meta.train.epochs' &&
    E.isLeft(notTrain) && notTrain.left.field === 'checkpoint.meta.train' &&
    E.isLeft(badModel) && badModel.left.field.startsWith('model.layers.0')
  );
});

// ---------------------------------------------------------------------------------------------
// A checkpoint must fit its model spec: every tensor the model needs, of the shape it needs,
// finite, in its domain, and nothing else.

const TERNARY = ['twn', 'ttq', 'sttn'] as const;

/** A fresh run of a random preset (small inputs and widths) as a checkpoint. */
const presetRun = (name: PresetName, bits: Bits, ternary: (typeof TERNARY)[number], kind: 'adam' | 'sgd'): Checkpoint => {
  const m = orThrow(buildModel(preset(name, { bits, ternary, inputShape: [8, 8, 1], classes: 3, width: name === 'vgg7' ? 1 / 16 : 1 / 4 })));
  const cfg = cfgOf({ epochs: 1, batchSize: 8, optimizer: { kind } });
  return toCheckpoint(m, cfg, initTraining(cpu32, m, cfg), 5, { data: 'toy', history: [] });
};

const presetArb = fc.record({ name: fc.constantFrom(...PRESETS), bits: fc.constantFrom(...BITS), ternary: fc.constantFrom(...TERNARY), kind: fc.constantFrom('adam' as const, 'sgd' as const) });

type Mutation =
  | { readonly kind: 'remove' | 'removeLayer' | 'add' | 'addLayer' | 'reshape' | 'resize'; readonly pick: number }
  | { readonly kind: 'nonFinite'; readonly pick: number; readonly index: number; readonly value: number }
  | { readonly kind: 'negativeVariance' | 'negativeMoment'; readonly pick: number; readonly index: number; readonly value: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constantFrom('remove' as const, 'removeLayer' as const, 'add' as const, 'addLayer' as const, 'reshape' as const, 'resize' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('nonFinite' as const), pick: fc.nat(), index: fc.nat(), value: fc.constantFrom(NaN, Infinity, -Infinity) }),
  fc.record({ kind: fc.constantFrom('negativeVariance' as const, 'negativeMoment' as const), pick: fc.nat(), index: fc.nat(), value: fc.double({ min: 1e-30, max: 1e30, noNaN: true }) }),
);

/** Where a tensor sits in a checkpoint: `params`, `state` or `optimizer.slots.<name>`, then layer and name. */
interface Place {
  readonly tree: string;
  readonly layer: string;
  readonly name: string;
}

const treeAt = (c: Checkpoint, tree: string): ParamTree => (tree === 'params' ? c.params : tree === 'state' ? c.state : c.optimizer.slots[tree.slice('optimizer.slots.'.length)]);

const withTree = (c: Checkpoint, tree: string, t: ParamTree): Checkpoint =>
  tree === 'params' ? { ...c, params: t } : tree === 'state' ? { ...c, state: t } : { ...c, optimizer: { ...c.optimizer, slots: { ...c.optimizer.slots, [tree.slice('optimizer.slots.'.length)]: t } } };

const places = (c: Checkpoint, keep: (p: Place) => boolean = () => true): Place[] =>
  ['params', 'state', ...Object.keys(c.optimizer.slots).map((k) => `optimizer.slots.${k}`)].flatMap((tree) => {
    const t = treeAt(c, tree);
    return Object.keys(t).flatMap((layer) => Object.keys(t[layer]).map((name) => ({ tree, layer, name })));
  }).filter(keep);

const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

/** Apply `mu` to `c`: the damaged checkpoint, the path the error must name and what its message must say. */
function mutate(c: Checkpoint, mu: Mutation): { c: Checkpoint; path: string; says: string[] } | undefined {
  const keep =
    mu.kind === 'negativeVariance' ? (p: Place) => p.tree === 'state' && p.name.endsWith('variance') : mu.kind === 'negativeMoment' ? (p: Place) => p.tree === 'optimizer.slots.v' : () => true;
  const all = places(c, keep);
  if (all.length === 0) return undefined;
  const p = all[mu.pick % all.length];
  const tree = treeAt(c, p.tree);
  const x = tree[p.layer][p.name];
  const path = `checkpoint.${p.tree}.${p.layer}.${p.name}`;
  const setLayer = (rec: Record<string, Tensor> | undefined, layer = p.layer): ParamTree => {
    const out: Record<string, Record<string, Tensor>> = { ...tree };
    if (rec === undefined) delete out[layer];
    else out[layer] = rec;
    return out;
  };
  const setTensor = (t: Tensor | undefined): ParamTree => {
    const rec: Record<string, Tensor> = { ...tree[p.layer] };
    if (t === undefined) delete rec[p.name];
    else rec[p.name] = t;
    return setLayer(rec);
  };
  const poked = (v: number): Tensor => {
    const data = x.data.slice();
    data[(mu as { index: number }).index % data.length] = v;
    return { shape: x.shape, data };
  };
  switch (mu.kind) {
    case 'remove':
      return { c: withTree(c, p.tree, setTensor(undefined)), path, says: ['missing', fmt(x.shape)] };
    case 'removeLayer':
      return { c: withTree(c, p.tree, setLayer(undefined)), path: `checkpoint.${p.tree}.${p.layer}`, says: ['missing'] };
    case 'add':
      return { c: withTree(c, p.tree, setLayer({ ...tree[p.layer], [`${p.name}_extra`]: x })), path: `${path}_extra`, says: ['unexpected'] };
    case 'addLayer':
      return { c: withTree(c, p.tree, setLayer({ w: x }, 'l99_extra')), path: `checkpoint.${p.tree}.l99_extra`, says: ['unexpected'] };
    case 'reshape': {
      const shape = [...x.shape, 1];
      return { c: withTree(c, p.tree, setTensor({ shape, data: x.data })), path, says: [fmt(x.shape), fmt(shape)] };
    }
    case 'resize': {
      const shape = x.shape.length === 0 ? [2] : [x.shape[0] + 1, ...x.shape.slice(1)];
      const data = new (x.data.constructor as Float32ArrayConstructor)(shape.reduce((a, b) => a * b, 1));
      data.set(x.data);
      return { c: withTree(c, p.tree, setTensor({ shape, data })), path, says: [fmt(x.shape), fmt(shape)] };
    }
    case 'nonFinite':
      return { c: withTree(c, p.tree, setTensor(poked(mu.value))), path, says: ['non-finite', String(mu.value)] };
    case 'negativeVariance':
    case 'negativeMoment':
      return { c: withTree(c, p.tree, setTensor(poked(-mu.value))), path, says: ['negative'] };
  }
}

/** fromCheckpoint of `c` through a file (non-finite values let through the codec, so that fromCheckpoint must catch them). */
function viaFile(name: string, c: Checkpoint): { file: string; r: E.Either<Error, Run> } {
  const file = join(dir, `${name}-${files++}.json`);
  saveCheckpoint(file, c, { allowNonFinite: true });
  const l = loadCheckpoint(file, { allowNonFinite: true });
  return { file, r: E.isLeft(l) ? l : fromCheckpoint(l.right) };
}
let files = 0;

law('a fresh run of every preset (bits, ternary weights, Adam or SGD) passes the model-fit checks through a file', [presetArb], (p) => {
  const c = presetRun(p.name, p.bits, p.ternary, p.kind);
  return E.isRight(fromCheckpoint(c)) && E.isRight(viaFile('fresh', c).r);
}, { numRuns: 40 });

law('a checkpoint with a tensor removed, added, reshaped, resized, non-finite, or a negative variance or second moment is a named error (in memory: the path; from a file: the file too)', [presetArb, mutationArb], (p, mu) => {
  const c = presetRun(p.name, p.bits, p.ternary, mu.kind === 'negativeMoment' ? 'adam' : p.kind);
  const m = mutate(c, mu);
  if (m === undefined) return false;
  const inMemory = fromCheckpoint(m.c);
  const { file, r } = viaFile('mutant', m.c);
  const names = (e: Error): boolean => m.says.every((s) => e.message.includes(s)) && e.message.includes(m.path);
  return (
    E.isLeft(inMemory) && inMemory.left instanceof ConfigError && inMemory.left.field === m.path && names(inMemory.left) &&
    E.isLeft(r) && r.left instanceof CheckpointError && r.left.file === file && r.left.field === m.path && r.left.message.startsWith(`${file}: `) && names(r.left)
  );
}, { numRuns: 80 });

example('the optimizer must be the train config\'s, with its slots: a foreign kind, a missing or an unexpected slot are named', () => {
  const c = presetRun('mlp', '2+2', 'sttn', 'adam');
  const field = (x: Checkpoint): string | undefined => {
    const r = fromCheckpoint(x);
    return E.isLeft(r) ? r.left.field : undefined;
  };
  const { v, ...onlyM } = c.optimizer.slots;
  return (
    field(c) === undefined &&
    field({ ...c, optimizer: { ...c.optimizer, kind: 'sgd' } }) === 'checkpoint.optimizer.kind' &&
    field({ ...c, optimizer: { ...c.optimizer, slots: onlyM } }) === 'checkpoint.optimizer.slots.v' &&
    field({ ...c, optimizer: { ...c.optimizer, slots: { ...c.optimizer.slots, u: v } } }) === 'checkpoint.optimizer.slots.u'
  );
});

law(
  'a model spec edited to declare huge layers is refused before the model is allocated (fast, in little memory), naming the model',
  [presetArb, fc.constantFrom(2 ** 20, 2 ** 24, 2 ** 31 - 1, 2 ** 53, 1e21), fc.nat()],
  (p, huge, pick) => {
    const c = presetRun(p.name, p.bits, p.ternary, p.kind);
    const spec = JSON.parse(JSON.stringify(c.model)) as { layers: Record<string, unknown>[] };
    // every dense/conv layer at any depth (residual blocks nest theirs under `layers`)
    const sized: Record<string, unknown>[] = [];
    const walk = (ls: Record<string, unknown>[]): void =>
      ls.forEach((l) => (l.type === 'residual' ? walk(l.layers as Record<string, unknown>[]) : (l.type === 'dense' || l.type === 'conv2d') && sized.push(l)));
    walk(spec.layers);
    const target = sized[pick % sized.length];
    target[target.type === 'dense' ? 'units' : 'filters'] = huge;
    const t0 = performance.now();
    const heap0 = process.memoryUsage().arrayBuffers;
    const r = fromCheckpoint({ ...c, model: spec });
    const ms = performance.now() - t0;
    const grew = process.memoryUsage().arrayBuffers - heap0;
    return E.isLeft(r) && r.left instanceof ConfigError && r.left.message.includes('model') && ms < 2_000 && grew < 64 * 2 ** 20;
  },
  { numRuns: 40 },
);
