/**
 * Build, train, save, load and resume a ternary network from code (no CLI), with the package's
 * public API. Run with `npx tsx examples/train.ts [OUT_DIR]` (about half a minute on one core).
 *
 *   1. a model from a preset: cnn-small whose middle convolution is an STTN 2+2 layer (two
 *      binary kernels sharing one α, Eq. 10, 12, merged into α(B1+B2) at inference, Eq. 6–7) fed
 *      by the ternary activation of Eq. 14;
 *   2. `train()` on the embedded MNIST digits with hooks: `onStep` for progress, `onEpoch` to
 *      checkpoint, `shouldStop` to end early (as a Ctrl-C handler would);
 *   3. the stopped run saved atomically, loaded back and resumed: the result is bit-identical to
 *      a run that never stopped (training is a pure function of config, data and step).
 * The checkpoint it leaves is what `examples/deploy.ts CHECKPOINT` and `sttn export` take.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { orThrow } from 'sttn';
import { loadBackend } from 'sttn/backends';
import { fromCheckpoint, loadCheckpoint, paramTreeBitEqual, saveCheckpoint, toCheckpoint } from 'sttn/checkpoint';
import { loadEmbeddedMnist } from 'sttn/data';
import { buildModel, preset } from 'sttn/models';
import { evaluate, initTraining, stepsPerEpoch, train, trainConfig, type TrainState } from 'sttn/train';

const dir = process.argv[2] ?? mkdtempSync(join(tmpdir(), 'sttn-train-'));
mkdirSync(dir, { recursive: true });
const B = await loadBackend('wasm'); // or 'cpu' (pure TypeScript), 'gpujs:webgl2' (with gpu.js installed), …

// ---- 1. a model: a preset is plain data (a ModelSpec); buildModel checks it and infers shapes ----
const model = orThrow(buildModel(preset('cnn-small', { bits: '2+2', ternary: 'sttn' })));
const data = loadEmbeddedMnist({ trainPerClass: 150, testPerClass: 50 }); // 1,500 / 500 digits
const cfg = trainConfig({ epochs: 2, batchSize: 50, seed: 7, optimizer: { lr: 0.005 } }); // typed: a wrong key or literal does not compile
const spe = stepsPerEpoch(data.train.images.shape[0], cfg.batchSize);
const file = join(dir, 'checkpoint.json');
const save = (s: TrainState) => saveCheckpoint(file, toCheckpoint(model, cfg, s, spe, { data: 'embedded', history: [] }));

// ---- 2. train with hooks, stopping 10 steps into the second epoch --------------------------------
let step = 0;
let window = 0;
const stopped = await train(B, model, data.train, cfg, initTraining(B, model, cfg), {
  onStep: (s) => {
    step = s.step;
    window += s.loss;
    if (s.step % 10 === 0) {
      console.log(`epoch ${s.epoch + 1} step ${s.stepInEpoch}/${s.stepsPerEpoch}  loss ${(window / 10).toFixed(4)}`);
      window = 0;
    }
  },
  onEpoch: (epoch, s) => {
    save(s);
    console.log(`epoch ${epoch + 1} done: checkpoint ${file}`);
  },
  shouldStop: () => step >= spe + 10,
});
save(stopped.state); // what a SIGINT handler does: nothing trained is lost
console.log(`stopped at step ${stopped.state.step} of ${cfg.epochs * spe}; saved ${file}`);

// ---- 3. load and resume; compare with a run that never stopped -----------------------------------
const ck = orThrow(loadCheckpoint(file)); // a missing, truncated or foreign file: an error naming it and the field
const run = orThrow(fromCheckpoint(ck)); // the model, config and state it holds
const resumed = await train(B, run.model, data.train, run.config, run.state);
save(resumed.state);

const straight = await train(B, model, data.train, cfg, initTraining(B, model, cfg));
const identical = paramTreeBitEqual(resumed.state.params, straight.state.params);
const acc = evaluate(B, run.model, resumed.state, data.test);
console.log(`resumed to step ${resumed.state.step}: test accuracy ${(100 * acc.accuracy).toFixed(2)}%, loss ${acc.loss.toFixed(4)}`);
console.log(`stopped + resumed = never stopped, bit for bit: ${identical}`);
if (!identical) process.exitCode = 1;
