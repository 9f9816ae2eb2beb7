/**
 * Laws of the TensorFlow.js layers (backends/tfjs/layers.ts), on tfjs-backend-cpu: a
 * sttnConv2d → ternaryActivation → flatten → sttnDense model's forward equals the same computation
 * written by hand with the ops on the layers' own weights (bit for bit: the same ops in the same
 * order); its gradients are finite and non-zero and `fit` lowers the loss on a tiny batch;
 * `model.save` / `tf.loadLayersModel` round-trip configs, weights and outputs bit for bit; the
 * generic quant layers agree with their ops for every kernel and input quantizer.
 */
import fc from 'fast-check';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import * as ops from '../backends/tfjs.js';
import * as layers from '../backends/tfjs/layers.js';
import { ConfigError } from '../src/errors.js';
import { example, law, throwsWith } from './law.js';

// the Node tfjs-core bundle registers no gradients
createRequire(import.meta.url)('@tensorflow/tfjs-core/dist/register_all_gradients.js');
tf.env().set('PROD', true);
await tf.setBackend('cpu');


/** Run `f` in a tfjs scope (every tensor it makes is disposed). */
function scoped<R>(f: () => R): R {
  tf.engine().startScope();
  try {
    return f();
  } finally {
    tf.engine().endScope();
  }
}
async function scopedAsync<R>(f: () => Promise<R>): Promise<R> {
  tf.engine().startScope();
  try {
    return await f();
  } finally {
    tf.engine().endScope();
  }
}

/** Same values bit for bit (−0 and 0 apart, NaN equal to NaN). */
function same(label: string, a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) {
      console.log(`# ${label}[${i}]: ${a[i]} vs ${b[i]}`);
      return false;
    }
  }
  return true;
}
const vals = (t: tf.Tensor): Float32Array => t.dataSync() as Float32Array;
const weight = (l: tfl.layers.Layer, name: string): tf.Tensor => {
  const w = l.weights.find((v) => v.originalName.endsWith(`/${name}`) || v.name.split('/').pop()?.replace(/_\d+$/, '') === name);
  if (w === undefined) throw new Error(`no weight ${name} in ${l.name}`);
  return w.read();
};

const sttnOpts = fc.record({
  gradient: fc.constantFrom('exact' as const, 'paper' as const, 'official' as const),
  granularity: fc.constantFrom('tensor' as const, 'channel' as const),
  clip: fc.constantFrom(1, 0.5, null),
});
const threshold = fc.constantFrom(0.05, 0.2, 0.5);

function sttnModel(o: layers.SttnLayerOptions, th: number): tfl.Sequential {
  return tfl.sequential({
    layers: [
      layers.sttnConv2d({ inputShape: [5, 5, 2], filters: 3, kernelSize: 3, padding: 'same', biasInitializer: 'glorotUniform', ...o }),
      layers.ternaryActivation({ threshold: th }),
      tfl.layers.flatten(),
      layers.sttnDense({ units: 2, activation: 'tanh', biasInitializer: 'glorotUniform', ...o }),
    ],
  });
}

law(
  'sttnConv2d → ternaryActivation → flatten → sttnDense equals the ops on its own weights',
  [sttnOpts, threshold],
  (o, th) =>
    scoped(() => {
      const m = sttnModel(o, th);
      const x = tf.randomNormal([3, 5, 5, 2]);
      const y = m.predict(x) as tf.Tensor;
      const [conv, , , dense] = m.layers;
      const opt = { ...o, axis: -1 };
      const k1 = ops.sttn(weight(conv, 'kernel1'), weight(conv, 'kernel2'), opt) as tf.Tensor4D;
      const h = ops.ternaryActivation(tf.add(tf.conv2d(x as tf.Tensor4D, k1, 1, 'same'), weight(conv, 'bias')), { threshold: th });
      const k2 = ops.sttn(weight(dense, 'kernel1'), weight(dense, 'kernel2'), opt) as tf.Tensor2D;
      const want = tf.tanh(tf.add(tf.matMul(tf.reshape(h, [3, -1]), k2), weight(dense, 'bias')));
      const [a, b] = [vals(weight(conv, 'kernel1')), vals(weight(conv, 'kernel2'))];
      const distinct = a.some((v, i) => v !== b[i]); // initialised independently
      return same('forward', vals(y), vals(want)) && distinct;
    }),
  { numRuns: 8 },
);

example('the STTN model has finite, non-zero gradients and fit lowers the loss on a tiny batch', async () =>
  scopedAsync(async () => {
    const m = sttnModel({ gradient: 'exact', granularity: 'channel', clip: 1 }, 0.05);
    const x = tf.randomNormal([8, 5, 5, 2]);
    const t = tf.tanh(tf.randomNormal([8, 2]));
    const { grads } = tf.variableGrads(() => tf.losses.meanSquaredError(t, m.apply(x) as tf.Tensor) as tf.Scalar);
    const gradsOk = m.trainableWeights.every((w) => {
      const g = vals(grads[w.name]);
      return g.every(Number.isFinite) && g.some((v) => v !== 0);
    });
    m.compile({ optimizer: tf.train.adam(0.02), loss: 'meanSquaredError' });
    const h = await m.fit(x, t, { epochs: 15, batchSize: 8, verbose: 0 });
    const loss = h.history.loss as number[];
    return gradsOk && loss[loss.length - 1] < loss[0];
  }),
);

/** Save to memory and load back. */
async function roundTrip(m: tfl.LayersModel): Promise<tfl.LayersModel> {
  let art: tf.io.ModelArtifacts | undefined;
  await m.save(
    tf.io.withSaveHandler(async (a) => {
      art = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return tfl.loadLayersModel(tf.io.fromMemory(art!));
}

example('save / loadLayersModel round-trips configs, weights and outputs bit for bit', async () =>
  scopedAsync(async () => {
    const m = tfl.sequential({
      layers: [
        layers.quantConv2d({ inputShape: [4, 4, 2], filters: 2, kernelSize: 2, kernelQuantizer: 'ttq', kernelQuantizerOptions: { granularity: 'channel' } }),
        layers.ternaryActivation({ threshold: 0.3, boundary: 'official' }),
        layers.sttnConv2d({ filters: 3, kernelSize: [2, 1], strides: 2, gradient: 'paper', granularity: 'channel' }),
        tfl.layers.flatten(),
        layers.quantDense({ units: 4, kernelQuantizer: 'twn', inputQuantizer: 'ste_sign', activation: 'relu' }),
        layers.sttnDense({ units: 2, useBias: false }),
      ],
    });
    const x = tf.randomNormal([2, 4, 4, 2]);
    // TTQ's scales away from 1, so loading them is observable
    m.layers[0].setWeights(m.layers[0].getWeights().map((w, i) => (i === 0 ? w : tf.randomUniform(w.shape, 0.5, 2))));
    const m2 = await roundTrip(m);
    const configs = m.layers.every((l, i) => JSON.stringify(l.getConfig()) === JSON.stringify(m2.layers[i].getConfig()));
    const classes = m2.layers.map((l) => l.getClassName()).join(',') === 'SttnQuantConv2D,SttnTernaryActivation,SttnConv2D,Flatten,SttnQuantDense,SttnDense';
    const ws = m.getWeights();
    const ws2 = m2.getWeights();
    const weights = ws.length === ws2.length && ws.every((w, i) => same(`weight ${i}`, vals(w), vals(ws2[i])));
    return configs && classes && weights && same('output', vals(m.predict(x) as tf.Tensor), vals(m2.predict(x) as tf.Tensor));
  }),
);

const kernelQ = fc.constantFrom('sign' as const, 'twn' as const, 'ttq' as const, 'fp' as const);
const inputQ = fc.constantFrom('ternary' as const, 'ste_sign' as const, 'fp' as const);

law(
  'quantDense and quantConv2d with each quantizer equal their ops',
  [kernelQ, inputQ, fc.constantFrom('tensor' as const, 'channel' as const), fc.boolean()],
  (kq, iq, granularity, conv) =>
    scoped(() => {
      const kopts = kq === 'fp' ? undefined : { granularity };
      const iopts = iq === 'ternary' ? { threshold: 0.3 } : undefined;
      const common = { kernelQuantizer: kq, kernelQuantizerOptions: kopts, inputQuantizer: iq, inputQuantizerOptions: iopts, biasInitializer: 'glorotUniform' as const };
      const l = conv ? layers.quantConv2d({ filters: 3, kernelSize: 2, ...common }) : layers.quantDense({ units: 3, ...common });
      const x = conv ? tf.randomNormal([2, 4, 4, 2]) : tf.randomNormal([4, 5]);
      const y = l.apply(x) as tf.Tensor;
      if (kq === 'ttq') l.setWeights(l.getWeights().map((w, i) => (i === 1 || i === 2 ? tf.randomUniform(w.shape, 0.5, 2) : w)));
      const y2 = l.apply(x) as tf.Tensor;
      const w = weight(l, 'kernel');
      const o = { granularity, axis: -1 };
      const k =
        kq === 'sign' ? ops.sign(w, o) : kq === 'twn' ? ops.twn(w, o) : kq === 'ttq' ? ops.ttq(w, weight(l, 'wp'), weight(l, 'wn'), o) : w;
      const xi = iq === 'ternary' ? ops.ternaryActivation(x, iopts) : iq === 'ste_sign' ? ops.steSign(x) : x;
      const prod = conv ? tf.conv2d(xi as tf.Tensor4D, k as tf.Tensor4D, 1, 'valid') : tf.matMul(xi as tf.Tensor2D, k as tf.Tensor2D);
      const want = tf.add(prod, weight(l, 'bias'));
      const shapeOk = y.shape.join() === want.shape.join();
      return shapeOk && same('quant forward', vals(y2), vals(want));
    }),
  { numRuns: 24 },
);

example('an unknown quantizer or option is a ConfigError naming the field', () =>
  throwsWith(() => layers.quantDense({ units: 2, kernelQuantizer: 'xnor' as never }), ConfigError, 'kernelQuantizer') &&
  throwsWith(() => layers.quantConv2d({ filters: 2, kernelSize: 1, inputQuantizer: 'relu' as never }), ConfigError, 'inputQuantizer') &&
  throwsWith(() => layers.ternaryActivation({ threshold: -1 }), ConfigError, 'threshold') &&
  throwsWith(() => layers.sttnConv2d({ filters: 2, kernelSize: 1, dataFormat: 'channelsFirst' as never }), ConfigError, 'dataFormat'),
);
