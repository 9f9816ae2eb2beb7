/**
 * Train the same tiny quantized dense network (STTN 2+2 hidden layer) on every backend, from the
 * same seed, and compare: the float32 backends (cpu32, wasm, gpu.js) agree to rounding, and every
 * one of them learns.
 *
 *   npx tsx examples/backends.ts                 # cpu32, cpu64, wasm, gpujs:cpu (if gpu.js is installed)
 *   npx tsx examples/backends.ts gpujs:webgpu    # add any backend by name (see backends/index.ts)
 */
import { orThrow, SttnError } from 'sttn';
import { backendName, loadBackend } from 'sttn/backends';
import { gather, loadEmbeddedMnist } from 'sttn/data';
import { buildModel } from 'sttn/models';
import { evaluate, initTraining, train, trainConfig } from 'sttn/train';

const names = ['cpu32', 'cpu64', 'wasm', 'gpujs:cpu', ...process.argv.slice(2)];
const data = loadEmbeddedMnist();
// every 8th training example (the split is sorted by class): a small slice keeps gpu.js's CPU mode quick
const every8th = Int32Array.from({ length: 1000 }, (_, i) => i * 8);
const slice = gather(data.train, every8th);
const train1k = { ...data.train, images: slice.images, labels: slice.labels };

const model = orThrow(
  buildModel({
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
  }),
);

for (const name of names) {
  let B;
  try {
    B = await loadBackend(backendName(name)); // names from the command line: checked at run time
  } catch (e) {
    // e.g. gpu.js backends without the optional peer dependency: the message names the install command
    if (!(e instanceof SttnError)) throw e;
    console.log(`${name.padEnd(14)} unavailable: ${e.message}`);
    continue;
  }
  const cfg = trainConfig({ epochs: 3, batchSize: 64, augmentPad: 0, dtype: B.dtype, optimizer: { lr: 0.01 } });
  const t0 = performance.now();
  let last = 0;
  const r = await train(B, model, train1k, cfg, initTraining(B, model, cfg), { onStep: (i) => (last = i.loss) });
  const acc = evaluate(B, model, r.state, data.test).accuracy;
  console.log(`${B.name.padEnd(14)} final batch loss ${last.toFixed(4)}  test accuracy ${(100 * acc).toFixed(2)}%  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}
