/**
 * Laws of a training run as a checkpoint (src/checkpoint/run.ts): through a checkpoint file,
 * fromCheckpoint(toCheckpoint(run)) gives back the model spec, the train config, the parameters,
 * the batch-norm statistics and the optimizer's slots bit for bit; a run stopped at step k, saved,
 * loaded and resumed equals the uninterrupted run; a foreign model spec or train config in a
 * checkpoint is a Left naming the field.
 */
import * as E from 'fp-ts/lib/Either.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { cpu32 } from '../backends/cpu.js';
import { loadCheckpoint, saveCheckpoint } from '../src/checkpoint/checkpoint.js';
import { fromCheckpoint, toCheckpoint, type Run } from '../src/checkpoint/run.js';
import type { Model } from '../src/models/model.js';
import { initTraining, stepsPerEpoch, train, type TrainConfig, type TrainState } from '../src/train/train.js';
import { example } from './law.js';
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
