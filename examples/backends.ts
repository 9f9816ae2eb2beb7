/**
 * Train the same tiny quantized dense network (STTN 2+2 hidden layer) on every backend, from the
 * same seed, and compare: the float32 backends (cpu32, wasm, gpu.js) agree to rounding, and every
 * one of them learns.
 *
 *   npx tsx examples/backends.ts                 # cpu32, cpu64, wasm, gpujs:cpu
 *   npx tsx examples/backends.ts gpujs:webgpu    # add any backend by name (see backends/index.ts)
 */
import * as E from 'fp-ts/lib/Either.js';
import { loadBackend } from '../backends/index.js';
import { gather, loadEmbeddedMnist } from '../src/data/index.js';
import { buildModel } from '../src/models/model.js';
import { evaluate, initTraining, train, TrainConfig } from '../src/train/train.js';

const names = ['cpu32', 'cpu64', 'wasm', 'gpujs:cpu', ...process.argv.slice(2)];
const data = loadEmbeddedMnist();
// every 8th training example (the split is sorted by class): a small slice keeps gpu.js's CPU mode quick
const every8th = Int32Array.from({ length: 1000 }, (_, i) => i * 8);
const slice = gather(data.train, every8th);
const train1k = { ...data.train, images: slice.images, labels: slice.labels };

const model = buildModel({
  name: 'tiny-sttn-mlp',
  inputShape: [28, 28, 1],
  classes: 10,
  layers: [
    { type: 'flatten' },
    { type: 'dense', units: 64 },
    { type: 'batchNorm' },
    { type: 'dense', units: 64, kernelQuantizer: 'sttn', inputQuantizer: 'ternary' },
    { type: 'relu' },
    { type: 'batchNorm' },
    { type: 'dense', units: 10 },
  ],
});
if (E.isLeft(model)) throw model.left;

for (const name of names) {
  const B = await loadBackend(name);
  const cfg = TrainConfig.decode({ epochs: 3, batchSize: 64, augmentPad: 0, dtype: B.dtype, optimizer: { lr: 0.01 } });
  if (E.isLeft(cfg)) throw new Error('config');
  const t0 = performance.now();
  let last = 0;
  const r = await train(B, model.right, train1k, cfg.right, initTraining(B, model.right, cfg.right), { onStep: (i) => (last = i.loss) });
  const acc = evaluate(B, model.right, r.state, data.test).accuracy;
  console.log(`${B.name.padEnd(14)} final batch loss ${last.toFixed(4)}  test accuracy ${(100 * acc).toFixed(2)}%  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}
