/**
 * A tfjs-layers model with STTN layers (`sttn/tfjs/layers`), trained with `model.fit` on the
 * digits embedded in sttn and saved and reloaded through tfjs's own serialization. Run with
 * `npx tsx examples/tfjs-layers.ts` (needs @tensorflow/tfjs-core and @tensorflow/tfjs-layers).
 *
 *   sttnConv2d (STTN 2-bit kernel, one conv with α(B1+B2)) → ternaryActivation (Eq. 14) →
 *   maxPooling (the conv has stride 2, to stay quick on tfjs-cpu) → flatten → sttnDense → dense (full precision, 10 logits)
 *
 * Checked by laws/tfjs-layers.test.ts (the layers); this program is a usage example.
 */
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { loadEmbeddedMnist } from 'sttn/data';
import { sttnConv2d, sttnDense, ternaryActivation } from 'sttn/tfjs/layers';

// tfjs-core's Node bundle registers no gradients for its own ops; @tensorflow/tfjs does this for you
createRequire(import.meta.url)('@tensorflow/tfjs-core/dist/register_all_gradients.js');
tf.env().set('PROD', true);
await tf.setBackend('cpu');

const { train, test } = loadEmbeddedMnist({ trainPerClass: 60, testPerClass: 30 });
const asTf = (d: typeof train) => ({
  x: tf.tensor4d(d.images.data as Float32Array, [d.labels.length, 28, 28, 1]),
  y: tf.cast(tf.oneHot(tf.tensor1d(Int32Array.from(d.labels), 'int32'), 10), 'float32'),
});
const TR = asTf(train);
const TE = asTf(test);

const model = tfl.sequential({
  layers: [
    sttnConv2d({ inputShape: [28, 28, 1], filters: 8, kernelSize: 3, strides: 2, padding: 'same', granularity: 'channel' }),
    tfl.layers.batchNormalization(),
    ternaryActivation({ threshold: 0.5 }),
    tfl.layers.maxPooling2d({ poolSize: 2 }),
    tfl.layers.flatten(),
    sttnDense({ units: 32, activation: 'relu' }),
    tfl.layers.dense({ units: 10 }),
  ],
});
model.compile({ optimizer: tf.train.adam(0.01), loss: (y: tf.Tensor, p: tf.Tensor) => tf.losses.softmaxCrossEntropy(y, p) });

const t0 = performance.now();
await model.fit(TR.x, TR.y, { epochs: 6, batchSize: 30, shuffle: true, verbose: 0 });
const accuracy = (m: tfl.LayersModel): number =>
  tf.tidy(() => tf.mean(tf.cast(tf.equal(tf.argMax(m.predict(TE.x) as tf.Tensor, 1), tf.argMax(TE.y, 1)), 'float32')).dataSync()[0]);
const acc = accuracy(model);
console.log(`trained in ${((performance.now() - t0) / 1000).toFixed(1)} s: test accuracy ${(100 * acc).toFixed(1)} % on ${test.labels.length} digits`);

// save and load with tfjs's own serialization: the STTN layers are registered classes
let saved: tf.io.ModelArtifacts | undefined;
await model.save(tf.io.withSaveHandler(async (artifacts) => {
  saved = artifacts;
  return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
}));
const reloaded = await tfl.loadLayersModel(tf.io.fromMemory(saved!));
const same = accuracy(reloaded) === acc;
console.log(`reloaded through model.save / tf.loadLayersModel: same test accuracy: ${same}`);
if (!same) process.exitCode = 1;
