/**
 * A tiny model and a toy problem shared by the laws of models, the training loop and run
 * checkpoints (laws/model.test.ts, laws/train.test.ts, laws/run-checkpoint.test.ts): small enough
 * to train in a fraction of a second on the cpu backend, with an STTN layer and batch norm inside.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { Dataset } from '../src/data/dataset.js';
import { buildModel, type Model } from '../src/models/model.js';
import { derive } from '../src/random.js';
import { tensorEqual } from '../src/tensor.js';
import type { Tree } from '../src/train/optim.js';
import { TrainConfig } from '../src/train/train.js';

/**
 * conv → batch norm → relu → pool → STTN conv → flatten → dense, on 4×4×1 inputs, 3 classes;
 * `inputQuantizer` quantizes the STTN conv's input (default `fp`: none; `ternary` reaches the
 * activations' straight-through gradient).
 */
export const tiny = ({ inputQuantizer = 'fp' }: { readonly inputQuantizer?: string } = {}): Model => {
  const m = buildModel({
    name: inputQuantizer === 'fp' ? 'tiny' : `tiny-${inputQuantizer}`,
    inputShape: [4, 4, 1],
    classes: 3,
    layers: [
      { type: 'conv2d', filters: 2 },
      { type: 'batchNorm' },
      { type: 'relu' },
      { type: 'maxPool' },
      { type: 'conv2d', filters: 2, kernelQuantizer: 'sttn', inputQuantizer },
      { type: 'flatten' },
      { type: 'dense', units: 3 },
    ],
  });
  if (E.isLeft(m)) throw m.left;
  return m.right;
};

/** A small separable problem: the class is which quadrant holds the bright pixel. */
export function toyData(n: number, seed: number): Dataset {
  const r = derive(seed, 9);
  const images = new Float32Array(n * 16);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    labels[i] = c;
    const [y, x] = [[0, 0], [0, 2], [2, 0]][c];
    for (let j = 0; j < 16; j++) images[i * 16 + j] = 0.1 * (r.s[j % 4] % 7) / 7;
    images[i * 16 + (y + (i & 1)) * 4 + x + ((i >> 1) & 1)] = 1;
  }
  return { name: 'toy', images: { shape: [n, 4, 4, 1], data: images }, labels, classes: 3 };
}

/** A TrainConfig from raw JSON, defaults filled in; throws on a bad config. */
export const cfgOf = (raw: unknown): TrainConfig => {
  const r = TrainConfig.decode(raw);
  if (E.isLeft(r)) throw new Error('bad train config');
  return r.right;
};

/** Every tensor of `a` equals `b`'s bit for bit (±0 told apart). */
export const sameTree = (a: Tree, b: Tree): boolean =>
  Object.keys(a).every((l) => Object.keys(a[l]).every((k) => tensorEqual(a[l][k], b[l][k]) && a[l][k].data.every((v, i) => Object.is(v, b[l][k].data[i]))));
