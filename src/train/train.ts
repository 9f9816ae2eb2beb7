/**
 * The training loop: mini-batch training of a model on a dataset, deterministic given one seed.
 *
 * All randomness is counter-based: the order of epoch e is `derive(seed, ORDER, e)`, the
 * augmentation of step s is `derive(seed, AUGMENT, s)`, dropout's `derive(seed, DROPOUT, s)`, the
 * initialisation `derive(seed, INIT)`. A run is therefore a pure function of (config, data, step):
 * resuming from a checkpoint at step s continues bit-for-bit as if never interrupted.
 *
 * Faults: a non-finite value anywhere in a step — the forward (a quantizer's input check or an
 * overflowing scale), the loss, the gradient or the parameters the optimizer returns — stops training with a
 * `TrainingDiverged` error naming the step (the caller adds the last good checkpoint); other
 * errors (a shape, a label out of range) pass through unchanged. `shouldStop()` (e.g. after
 * SIGINT) ends the loop after the current step so the caller can save. `evaluate` on an empty
 * dataset is a ConfigError naming it (an accuracy of 0/0 is not a number to report).
 *
 * Law (laws/train.test.ts): a few steps on a small problem lower the loss; two runs with one seed
 * are bit-identical; a run stopped at step k and resumed equals the uninterrupted run; a NaN in
 * the parameters, or any huge learning rate, stops the run with TrainingDiverged naming the step;
 * evaluating an empty dataset throws; `firstNonFinite` names the same value on every backend.
 */
import * as t from 'io-ts';
import type { Backend } from '../backend.js';
import { decodeWith, NonNegativeInt, oneOf, PositiveInt, refinedNumber, withDefaults } from '../codec.js';
import { ConfigError, NonFiniteError, SttnError } from '../errors.js';
import { augment } from '../data/augment.js';
import { epochIndices, gather } from '../data/batches.js';
import type { Dataset } from '../data/dataset.js';
import { leafLayers } from '../layers/index.js';
import { OverflowError } from '../errors.js';
import { softmaxCrossEntropy } from './loss.js';
import { backward, forward, initModel, type Model } from '../models/model.js';
import { initOptimizer, OptimizerConfig, step as optimizerStep, type OptimizerState, type Tree } from './optim.js';
import { knownFinite } from '../quantizers/fast.js';
import { derive } from '../random.js';
import type { Tensor } from '../tensor.js';

export const STREAM = { INIT: 1, ORDER: 2, AUGMENT: 3, DROPOUT: 4 } as const;

const defaultOptimizer = (): OptimizerConfig => {
  const r = OptimizerConfig.decode({});
  if (r._tag === 'Left') throw new Error('unreachable: optimizer defaults do not decode');
  return r.right;
};

export const TrainConfig = withDefaults(
  'train',
  {
    epochs: PositiveInt,
    batchSize: PositiveInt,
    seed: NonNegativeInt,
    optimizer: OptimizerConfig,
    /** zero padding before the random crop (the paper: 2); 0 disables cropping */
    augmentPad: NonNegativeInt,
    augmentFlip: t.boolean,
    /** random rotation in [−r, r] degrees and zoom in [1 − s, 1 + s] with the crop (0: off) */
    augmentRotate: refinedNumber('number of degrees in [0, 180]', (n) => n >= 0 && n <= 180),
    augmentScale: refinedNumber('number in [0, 1)', (n) => n >= 0 && n < 1),
    /** label smoothing ε of the training loss (src/train/loss.ts; 0: plain cross-entropy) */
    labelSmoothing: refinedNumber('number in [0, 1)', (n) => n >= 0 && n < 1),
    evalBatchSize: PositiveInt,
    dtype: oneOf<'float32' | 'float64'>('dtype', ['float32', 'float64']),
  },
  () => ({ epochs: 15, batchSize: 64, seed: 1, optimizer: defaultOptimizer(), augmentPad: 2, augmentFlip: false, augmentRotate: 0, augmentScale: 0, labelSmoothing: 0, evalBatchSize: 500, dtype: 'float32' as const }),
);
export type TrainConfig = t.TypeOf<typeof TrainConfig>;

/** What a caller writes: any subset of the config, the optimizer's too (typed from the codecs). */
export type TrainOptions = Partial<Omit<TrainConfig, 'optimizer'>> & { readonly optimizer?: Partial<OptimizerConfig> };

/**
 * The full TrainConfig from typed options, defaults filled in (epochs 15, batch 64, seed 1, Adam
 * 0.005 with cosine decay, pad-2 crops, float32). An out-of-range value throws a ConfigError
 * naming the field (`train.epochs`, `train.optimizer.lr`…). From JSON, use
 * `decodeWith(TrainConfig, raw, 'train')`, which returns an Either instead.
 */
export function trainConfig(options: TrainOptions = {}): TrainConfig {
  const r = decodeWith(TrainConfig, options, 'train');
  if (r._tag === 'Left') throw r.left;
  return r.right;
}

/** Everything that changes during training: what a checkpoint stores. */
export interface TrainState {
  readonly params: Tree;
  /** batch-norm running statistics */
  readonly state: Tree;
  readonly optimizer: OptimizerState;
  /** global step (batches done) */
  readonly step: number;
}

export class TrainingDiverged extends SttnError {
  override readonly name = 'TrainingDiverged';
  constructor(
    readonly step: number,
    readonly what: string,
  ) {
    super(`training diverged at step ${step}: ${what}`);
  }
}

export function initTraining(B: Backend, model: Model, cfg: TrainConfig): TrainState {
  const { params, state } = initModel(model, derive(cfg.seed, STREAM.INIT), cfg.dtype);
  const p = Object.fromEntries(Object.entries(params).map(([l, ps]) => [l, Object.fromEntries(Object.entries(ps).map(([k, v]) => [k, B.from(v)]))]));
  return { params: p, state, optimizer: initOptimizer(B, cfg.optimizer, p), step: 0 };
}

export const stepsPerEpoch = (n: number, batchSize: number): number => Math.ceil(n / batchSize);

export interface StepInfo {
  readonly step: number;
  readonly epoch: number;
  /** steps into this epoch, 1-based after the step */
  readonly stepInEpoch: number;
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
  readonly loss: number;
  readonly correct: number;
  readonly batchSize: number;
}

export interface Hooks {
  onStep?(info: StepInfo, s: TrainState): void;
  /** after the last step of each epoch */
  onEpoch?(epoch: number, s: TrainState): void | Promise<void>;
  /** asked after every step; true ends the loop (the state returned is the one after that step) */
  shouldStop?(): boolean;
}

/** Which parameters are latent quantized weights (for `latentClip`), layers inside residual blocks included. */
export function latentSelector(model: Model): (layer: string, name: string) => boolean {
  const latent = new Set<string>();
  model.spec.layers.forEach((l, i) => {
    for (const { spec, prefix } of leafLayers(l, model.shapes[i])) {
      if ('kernelQuantizer' in spec && spec.kernelQuantizer.id !== 'fp') for (const k of ['w', 'w1', 'w2']) latent.add(`${model.names[i]}/${prefix}${k}`);
    }
  });
  return (layer, name) => latent.has(`${layer}/${name}`);
}

/** The first non-finite value of `tree`, named (null if none); a backend with the fused kernels clears each tensor in one wasm pass first. */
export function firstNonFinite(B: Backend, tree: Tree): string | null {
  for (const [l, ps] of Object.entries(tree)) {
    for (const [name, v] of Object.entries(ps)) {
      if (knownFinite(B, v)) continue;
      for (let i = 0; i < v.data.length; i++) if (!Number.isFinite(v.data[i])) return `${l}.${name}[${i}] = ${v.data[i]}`;
    }
  }
  return null;
}

/** Train from `start` to the end of `cfg.epochs` (or until `shouldStop`). */
export async function train(B: Backend, model: Model, data: Dataset, cfg: TrainConfig, start: TrainState, hooks: Hooks = {}): Promise<{ state: TrainState; stopped: boolean }> {
  const n = data.images.shape[0];
  const spe = stepsPerEpoch(n, cfg.batchSize);
  const total = cfg.epochs * spe;
  const clipSelect = latentSelector(model);
  let s = start;
  let order: Int32Array[] = [];
  let orderEpoch = -1;
  while (s.step < total) {
    const epoch = Math.floor(s.step / spe);
    const k = s.step % spe;
    if (orderEpoch !== epoch) {
      order = epochIndices(n, cfg.batchSize, derive(cfg.seed, STREAM.ORDER, epoch));
      orderEpoch = epoch;
    }
    const batch = gather(data, order[k]);
    let x: Tensor = batch.images;
    if (cfg.augmentPad > 0 || cfg.augmentFlip || cfg.augmentRotate > 0 || cfg.augmentScale > 0) {
      x = augment(x, derive(cfg.seed, STREAM.AUGMENT, s.step), { pad: cfg.augmentPad, flip: cfg.augmentFlip, rotate: cfg.augmentRotate, scale: cfg.augmentScale });
    }
    // one step, inside the backend's resident scope where it has one (src/backend.ts): what
    // survives the step (the next state and the loss) is copied out of it
    const step = s;
    const runStep = (): { next: TrainState; loss: number; correct: number } => {
      const f = forward(B, model, step.params, step.state, x, { training: true, rng: derive(cfg.seed, STREAM.DROPOUT, step.step) });
      const loss = softmaxCrossEntropy(B, f.logits, batch.labels, cfg.labelSmoothing);
      if (!Number.isFinite(loss.loss)) throw new TrainingDiverged(step.step, `loss is ${loss.loss}`);
      const grads = backward(B, model, step.params, f.res, loss.dlogits);
      const bad = firstNonFinite(B, grads);
      if (bad !== null) throw new TrainingDiverged(step.step, `non-finite gradient ${bad}`);
      const o = optimizerStep(B, cfg.optimizer, step.optimizer, step.params, grads, total, clipSelect);
      const badParam = firstNonFinite(B, o.params);
      if (badParam !== null) throw new TrainingDiverged(step.step, `non-finite parameter after the update ${badParam}`);
      return { next: { params: o.params, state: f.state, optimizer: o.state, step: step.step + 1 }, loss: loss.loss, correct: loss.correct };
    };
    let done;
    // a non-finite value met by any check inside the step is this step's divergence
    try {
      done = B.resident ? B.resident(runStep) : runStep();
    } catch (e) {
      if (e instanceof NonFiniteError || e instanceof OverflowError) throw new TrainingDiverged(s.step, e.message);
      throw e;
    }
    s = done.next;
    hooks.onStep?.({ step: s.step, epoch, stepInEpoch: k + 1, stepsPerEpoch: spe, totalSteps: total, loss: done.loss, correct: done.correct, batchSize: batch.labels.length }, s);
    if (k + 1 === spe) await hooks.onEpoch?.(epoch, s);
    if (hooks.shouldStop?.()) return { state: s, stopped: true };
    // let signal handlers, timers and (in a page) rendering run between steps
    if (s.step % 4 === 0) await yieldToEventLoop();
  }
  return { state: s, stopped: false };
}

/** A macrotask turn: setImmediate in Node, a zero-delay timer where it is absent (browsers). */
const yieldToEventLoop = (): Promise<void> =>
  new Promise<void>((r) => (typeof globalThis.setImmediate === 'function' ? globalThis.setImmediate(r) : setTimeout(r, 0)));

/**
 * Accuracy and mean loss of a model on a dataset (inference mode, running statistics). An empty
 * dataset is a ConfigError naming it.
 */
export function evaluate(B: Backend, model: Model, s: Pick<TrainState, 'params' | 'state'>, data: Dataset, batchSize = 500): { accuracy: number; loss: number; predictions: Uint8Array } {
  const n = data.images.shape[0];
  if (n === 0) throw new ConfigError(data.name, 'is empty (0 examples): no accuracy to measure');
  const per = data.images.data.length / n;
  const predictions = new Uint8Array(n);
  let correct = 0;
  let lossSum = 0;
  const rng = derive(0, 0);
  for (let a = 0; a < n; a += batchSize) {
    const b = Math.min(batchSize, n - a);
    const x = { shape: [b, ...data.images.shape.slice(1)], data: data.images.data.subarray(a * per, (a + b) * per) };
    const labels = data.labels.subarray(a, a + b);
    const f = forward(B, model, s.params, s.state, x, { training: false, rng });
    const l = softmaxCrossEntropy(B, f.logits, labels);
    correct += l.correct;
    lossSum += l.loss * b;
    const k = f.logits.shape[1];
    for (let i = 0; i < b; i++) {
      let best = 0;
      for (let j = 1; j < k; j++) if (f.logits.data[i * k + j] > f.logits.data[i * k + best]) best = j;
      predictions[a + i] = best;
    }
  }
  return { accuracy: correct / n, loss: lossSum / n, predictions };
}
