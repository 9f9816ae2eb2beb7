/**
 * Training a TensorFlow.js model with STTN kernels: the quantizer is a tfjs op (`sttn/tfjs`), so
 * tfjs's own autodiff, optimizers and backends do the rest. Run with `npx tsx examples/tfjs.ts`.
 *
 * The model is written by hand with `tf.variable`s (tfjs-layers is not needed): each dense layer
 * keeps two latent float kernels W1, W2 and computes with the merged ternary kernel
 * α·(sign W1 + sign W2) (Eq. 6–7, 10); the gradient reaching W1, W2 is sttn's (Eq. 12 + STE).
 * tfjs dense kernels are `[in, out]`, so the output channel is the last axis: `granularity:
 * 'channel'` with the default `axis: -1` gives one α per output unit.
 *
 * Trains on a slice of the digits embedded in sttn (`sttn/data`) and prints test accuracy.
 * Checked by laws/tfjs.test.ts (the ops); this program is a usage example.
 */
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { loadEmbeddedMnist } from 'sttn/data';
import { sttn, sttnCodes } from 'sttn/tfjs';

// tfjs-core's Node (CommonJS) bundle registers no gradients for its own ops (matMul, relu, …);
// the full @tensorflow/tfjs package does this import for you.
createRequire(import.meta.url)('@tensorflow/tfjs-core/dist/register_all_gradients.js');
tf.env().set('PROD', true);
await tf.setBackend('cpu');

const { train, test } = loadEmbeddedMnist({ trainPerClass: 150, testPerClass: 50 });
const PIX = 28 * 28;
const asTf = (d: typeof train) => ({
  x: tf.tensor2d(d.images.data as Float32Array, [d.labels.length, PIX]),
  y: tf.cast(tf.oneHot(tf.tensor1d(Int32Array.from(d.labels), 'int32'), 10), 'float32'),
});
const TR = asTf(train);
const TE = asTf(test);

/** An STTN dense layer's variables: two latent kernels `[in, out]` and a float bias. */
function sttnDense(nIn: number, nOut: number) {
  const lim = Math.sqrt(6 / (nIn + nOut));
  return {
    w1: tf.variable(tf.randomUniform([nIn, nOut], -lim, lim)),
    w2: tf.variable(tf.randomUniform([nIn, nOut], -lim, lim)),
    b: tf.variable(tf.zeros([nOut])),
  };
}
const OPTS = { granularity: 'channel', gradient: 'exact' } as const;
const l1 = sttnDense(PIX, 64);
const l2 = sttnDense(64, 10);
const apply = (l: ReturnType<typeof sttnDense>, x: tf.Tensor) => tf.add(tf.matMul(x, sttn(l.w1, l.w2, OPTS)), l.b);
const logits = (x: tf.Tensor) => apply(l2, tf.relu(apply(l1, x)));

const accuracy = (d: { x: tf.Tensor; y: tf.Tensor }): number =>
  tf.tidy(() => tf.mean(tf.cast(tf.equal(tf.argMax(logits(d.x), 1), tf.argMax(d.y, 1)), 'float32')).dataSync()[0]);

const opt = tf.train.adam(0.01);
const N = train.labels.length;
const BATCH = 64;
const t0 = performance.now();
for (let epoch = 1; epoch <= 6; epoch++) {
  const order = tf.util.createShuffledIndices(N);
  let loss = 0;
  for (let i = 0; i + BATCH <= N; i += BATCH) {
    const idx = tf.tensor1d(Int32Array.from(order.subarray(i, i + BATCH)), 'int32');
    const cost = opt.minimize(() => tf.losses.softmaxCrossEntropy(tf.gather(TR.y, idx), logits(tf.gather(TR.x, idx))) as tf.Scalar, true);
    loss += cost!.dataSync()[0] * BATCH;
    tf.dispose([cost!, idx]);
  }
  console.log(`epoch ${epoch}: loss ${(loss / N).toFixed(3)}, test accuracy ${(100 * accuracy(TE)).toFixed(1)} %`);
}
const codes = sttnCodes(l1.w1, l1.w2, OPTS).dataSync();
const zeros = codes.filter((c: number) => c === 0).length / codes.length;
console.log(`${((performance.now() - t0) / 1000).toFixed(1)} s on tfjs-${tf.getBackend()}; layer 1 kernel is ternary with ${(100 * zeros).toFixed(1)} % zeros`);
