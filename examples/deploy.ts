/**
 * From a training run to a deployed model: export, packed storage, the inference engine.
 * Run with `npx tsx examples/deploy.ts [CHECKPOINT]` (e.g. the one examples/train.ts leaves).
 *
 * Without a checkpoint it first trains cnn-small 2+2 STTN for 100 steps on the embedded MNIST
 * (under a minute). Then:
 *   1. `exportModel` merges each STTN pair into one ternary kernel α(B1+B2) (codes (B1+B2)/2,
 *      scale 2α), folds batch norm where that is exact, keeps the full-precision first and last
 *      layers as float32;
 *   2. `saveDeployed` writes the `.sttn` container, 2 bits or base 3 per ternary weight, and
 *      `exportedSize` predicted its size to the byte;
 *   3. `createEngine` runs the file: float layers on the wasm backend, 2+2 layers as packed
 *      ternary × ternary products on the WebAssembly ternary kernels;
 *   4. the engine's test accuracy is the training-time `evaluate`'s.
 * `sttn export CHECKPOINT` and `sttn predict MODEL IMAGE…` do the same from the command line.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { orThrow } from 'sttn';
import { loadBackend, loadTernaryKernels } from 'sttn/backends';
import { fromCheckpoint, loadCheckpoint } from 'sttn/checkpoint';
import { loadEmbeddedMnist } from 'sttn/data';
import { ENCODINGS, exportedSize, exportModel, formatSizeReport, loadDeployed, saveDeployed, sizeReport, type ExportSource } from 'sttn/export';
import { createEngine } from 'sttn/infer';
import { buildModel, preset } from 'sttn/models';
import { evaluate, initTraining, train, trainConfig } from 'sttn/train';

const B = await loadBackend('wasm');
const data = loadEmbeddedMnist();

// ---- a run: from a checkpoint, or 100 quick steps -------------------------------------------
let run: ExportSource;
const file = process.argv[2];
if (file !== undefined) {
  run = orThrow(fromCheckpoint(orThrow(loadCheckpoint(file)))); // a bad file: an error naming it and the field
} else {
  const model = orThrow(buildModel(preset('cnn-small', { bits: '2+2' })));
  const cfg = trainConfig({ epochs: 1, batchSize: 64 });
  let steps = 0;
  const r = await train(B, model, data.train, cfg, initTraining(B, model, cfg), { onStep: () => void steps++, shouldStop: () => steps >= 100 });
  run = { model, state: r.state };
}

// ---- 1. export: the deployable network ------------------------------------------------------
const deployed = exportModel(B, run);
console.log(formatSizeReport(sizeReport(deployed)));

// ---- 2. packed storage: predicted size = written size ----------------------------------------
const dir = mkdtempSync(join(tmpdir(), 'sttn-deploy-'));
for (const enc of ENCODINGS) {
  const out = join(dir, `model-${enc}.sttn`);
  const written = saveDeployed(out, deployed, enc);
  console.log(`${out}: ${written} bytes written, ${exportedSize(deployed, enc)} predicted`);
}
const loaded = orThrow(loadDeployed(join(dir, 'model-base3.sttn'))); // a corrupt or foreign file: an error naming it and what is wrong

// ---- 3. the engine ---------------------------------------------------------------------------
const engine = createEngine(loaded, { backend: B, kernels: await loadTernaryKernels('wasm') });
console.log(engine.plan.join('\n'));
const test = data.test;
const n = test.images.shape[0];
const per = test.images.data.length / n;
let correct = 0;
for (let a = 0; a < n; a += 250) {
  const b = Math.min(250, n - a);
  const { classes } = engine.predict({ shape: [b, ...test.images.shape.slice(1)], data: test.images.data.subarray(a * per, (a + b) * per) });
  for (let i = 0; i < b; i++) if (classes[i] === test.labels[a + i]) correct++;
}

// ---- 4. the same accuracy as the training-time forward ---------------------------------------
const ref = evaluate(B, run.model, run.state, test);
console.log(`engine test accuracy ${((100 * correct) / n).toFixed(2)}%, training-time evaluate ${(100 * ref.accuracy).toFixed(2)}% (${n} digits)`);
