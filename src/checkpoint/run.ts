/**
 * A training run as a checkpoint: `TrainState` + model spec + train config ⇄ the versioned
 * document of src/checkpoint/checkpoint.ts. The model spec and the train config are stored with
 * their own codecs and decoded back into `Either`s, so a checkpoint from a foreign or corrupted
 * run names the field that is wrong.
 *
 * A checkpoint must also fit its model spec, since the checksum only proves that a writer made
 * it (and a version-1 file has none). `fromCheckpoint` checks, before anything runs on it: every
 * parameter and state tensor the model needs (the shapes `initModel` gives) is present with that
 * shape and finite values; each optimizer slot the train config's optimizer keeps (Adam: m, v;
 * SGD: u) is present and shaped like the parameters; nothing else is there; batch-norm running
 * variances and Adam's second moment are ≥ 0 (a negative one makes the rsqrt/sqrt NaN). TTQ's
 * scales are only required finite: training does not keep them positive, so a negative one is a
 * result, not damage. An error is a CheckpointError of kind `model` naming the file it was read
 * from (a ConfigError for a checkpoint built in memory), with the tensor's path
 * (`checkpoint.params.l01_dense.w`) and both shapes.
 *
 * Law (laws/run-checkpoint.test.ts): through a checkpoint file, fromCheckpoint(toCheckpoint(run))
 * gives back the same model spec, config and state bit for bit; resuming from it continues the
 * run bit for bit; a foreign model spec or train config is a Left naming the field; a fresh run
 * of every preset passes, and one tensor removed, added, reshaped, made non-finite or out of its
 * domain is a Left naming its path (and the file).
 */
import * as E from 'fp-ts/lib/Either.js';
import { checkpoint, CheckpointError, type Checkpoint } from './checkpoint.js';
import { decodeWith } from '../codec.js';
import { ConfigError } from '../errors.js';
import { leafLayers } from '../layers/index.js';
import { buildModel, initModel, ModelSpec, type Model } from '../models/model.js';
import { rng, snapshot } from '../random.js';
import type { ParamTree } from '../tensor-codec.js';
import { size } from '../tensor.js';
import type { Tree } from '../train/optim.js';
import { TrainConfig, type TrainState } from '../train/train.js';

export interface RunMeta {
  /** where the data came from (`embedded`, `idx:DIR`, `cifar10:DIR`) */
  readonly data: string;
  readonly history: readonly { epoch: number; loss: number; trainAccuracy: number; testAccuracy: number | null; seconds: number }[];
  readonly [k: string]: unknown;
}

export function toCheckpoint(model: Model, cfg: TrainConfig, s: TrainState, stepsPerEpoch: number, meta: RunMeta): Checkpoint {
  return checkpoint({
    model: ModelSpec.encode(model.spec),
    params: s.params,
    state: s.state,
    optimizer: { kind: cfg.optimizer.kind, step: s.optimizer.step, config: null, slots: s.optimizer.slots },
    rng: snapshot(rng(cfg.seed)),
    progress: { epoch: Math.floor(s.step / stepsPerEpoch), step: s.step, samplesSeen: Math.min(s.step * cfg.batchSize, Number.MAX_SAFE_INTEGER) },
    meta: { ...meta, train: TrainConfig.encode(cfg) },
  });
}

export interface Run {
  readonly model: Model;
  readonly config: TrainConfig;
  readonly state: TrainState;
  readonly meta: RunMeta;
}

// ---------------------------------------------------------------------------------------------
// Does the checkpoint fit its model?

/** The slots each optimizer keeps (src/train/optim.ts, initOptimizer); a law checks both kinds against it. */
const SLOTS: Readonly<Record<TrainConfig['optimizer']['kind'], readonly string[]>> = { adam: ['m', 'v'], sgd: ['u'] };

/** A misfit: the path of the tensor (or field) and what is wrong with it. */
interface Misfit {
  readonly field: string;
  readonly detail: string;
}

const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;
const has = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);
const listOf = (rec: Tree[string]): string => {
  const ks = Object.keys(rec);
  return ks.length === 0 ? 'no tensors' : ks.map((k) => `${k} ${fmt(rec[k].shape)}`).join(', ');
};

/** Which tensors of a tree have a lower bound of 0, and why (for the message). */
type Domain = (layer: string, name: string) => string | undefined;

/**
 * The first way `actual` differs from `expected` (the model's tree): a missing or unexpected
 * layer or tensor, another shape, a non-finite value, a value below a domain's 0.
 */
function misfit(actual: ParamTree, expected: Tree, at: string, domain: Domain): Misfit | undefined {
  for (const layer of Object.keys(expected)) {
    const want = expected[layer];
    if (!has(actual, layer)) return { field: `${at}.${layer}`, detail: `missing: the model spec's layer ${layer} has ${listOf(want)}` };
    const got = actual[layer];
    for (const name of Object.keys(want)) {
      const field = `${at}.${layer}.${name}`;
      const w = want[name].shape;
      if (!has(got, name)) return { field, detail: `missing: the model spec needs a tensor of shape ${fmt(w)}` };
      const x = got[name];
      if (x.shape.length !== w.length || x.shape.some((d, i) => d !== w[i])) return { field, detail: `expected shape ${fmt(w)} (from the model spec), found ${fmt(x.shape)}` };
      if (x.data.length !== size(x.shape)) return { field, detail: `holds ${x.data.length} values, but its shape ${fmt(x.shape)} has ${size(x.shape)}` };
      const why = domain(layer, name);
      for (let i = 0; i < x.data.length; i++) {
        const v = x.data[i];
        if (!Number.isFinite(v)) return { field, detail: `non-finite value ${v} at flat index ${i}` };
        if (why !== undefined && v < 0) return { field, detail: `negative value ${v} at flat index ${i}: ${why} is ≥ 0` };
      }
    }
    for (const name of Object.keys(got)) {
      if (!has(want, name)) return { field: `${at}.${layer}.${name}`, detail: `unexpected tensor of shape ${fmt(got[name].shape)}: the model spec's layer ${layer} has ${listOf(want)}` };
    }
  }
  const names = Object.keys(expected);
  for (const layer of Object.keys(actual)) {
    if (!has(expected, layer)) return { field: `${at}.${layer}`, detail: `unexpected layer: the model spec has ${names.length} layers, ${names[0] ?? ''} … ${names[names.length - 1] ?? ''}` };
  }
  return undefined;
}

/** Below these many kernel weights (per layer, and in all) a spec is allocated and compared as it is. */
const SMALL_LAYER = 2 ** 22;
const SMALL_MODEL = 2 ** 26;

/**
 * Whether the spec declares far more than the checkpoint holds, counted from the dense and
 * convolution layers' fields and input shapes without allocating anything: a kernel of k weights
 * where the file holds fewer than k/2 values for that layer (an STTN pair holds 2k), when k is
 * past SMALL_LAYER, or the same for the whole model past SMALL_MODEL. Smaller specs go on to
 * `initModel` and the exact comparison, which names the tensor and both shapes.
 */
function declaredPastHeld(c: Checkpoint, model: Model): Misfit | undefined {
  const heldUnder = (layer: string, prefix: string): number =>
    Object.entries(c.params[layer] ?? {})
      .filter(([k]) => k.startsWith(prefix) && !k.slice(prefix.length).includes('.'))
      .reduce((n, [, t]) => n + t.data.length, 0);
  let declared = 0;
  let held = 0;
  for (let i = 0; i < model.spec.layers.length; i++) {
    for (const leaf of leafLayers(model.spec.layers[i], model.shapes[i])) {
      const s = leaf.spec;
      const cin = leaf.inShape[leaf.inShape.length - 1];
      const k = s.type === 'dense' ? s.units * cin : s.type === 'conv2d' ? s.filters * s.kernelSize[0] * s.kernelSize[1] * cin : 0;
      if (k === 0) continue;
      const h = heldUnder(model.names[i], leaf.prefix);
      declared += k;
      held += h;
      const name = `${model.names[i]}${leaf.prefix ? `/${leaf.prefix}` : ''}`;
      if (!(k <= SMALL_LAYER || k <= 2 * h)) return { field: `checkpoint.model (layer ${name})`, detail: `declares a kernel of ${k} weights, but the checkpoint holds ${h} values for that layer` };
      if (!(declared <= SMALL_MODEL || declared <= 2 * held)) return { field: 'checkpoint.model', detail: `declares ${declared} kernel weights by layer ${name}, but the checkpoint holds ${held} values for those layers` };
    }
  }
  return undefined;
}

/** The first way checkpoint `c` does not fit `model` and the optimizer of `cfg`. */
function checkpointMisfit(c: Checkpoint, model: Model, cfg: TrainConfig): Misfit | undefined {
  // before allocating the model: a spec declaring more weights than the file holds cannot fit it
  // (an edited or corrupt spec must not make us allocate gigabytes to find that out)
  const past = declaredPastHeld(c, model);
  if (past) return past;
  // initModel gives every tensor's shape; its values are discarded
  const expected = initModel(model, rng(1), 'float32');
  const variances = new Set<string>();
  model.spec.layers.forEach((l, i) => {
    for (const leaf of leafLayers(l, model.shapes[i])) if (leaf.spec.type === 'batchNorm') variances.add(`${model.names[i]}/${leaf.prefix}variance`);
  });
  const none: Domain = () => undefined;
  const bad =
    misfit(c.params, expected.params, 'checkpoint.params', none) ??
    misfit(c.state, expected.state, 'checkpoint.state', (layer, name) => (variances.has(`${layer}/${name}`) ? 'a batch-norm running variance' : undefined));
  if (bad) return bad;
  const kind = cfg.optimizer.kind;
  if (c.optimizer.kind !== kind) {
    return { field: 'checkpoint.optimizer.kind', detail: `got ${JSON.stringify(c.optimizer.kind)}, but the train config (checkpoint.meta.train.optimizer.kind) says ${JSON.stringify(kind)}` };
  }
  const want = SLOTS[kind];
  const slots = c.optimizer.slots;
  for (const s of want) {
    const at = `checkpoint.optimizer.slots.${s}`;
    if (!has(slots, s)) return { field: at, detail: `missing: ${kind} keeps the slots ${want.join(', ')}` };
    const m = misfit(slots[s], expected.params, at, () => (kind === 'adam' && s === 'v' ? "Adam's second moment v" : undefined));
    if (m) return m;
  }
  for (const s of Object.keys(slots)) {
    if (!want.includes(s)) return { field: `checkpoint.optimizer.slots.${s}`, detail: `unexpected: ${kind} keeps the slots ${want.join(', ')}` };
  }
  return undefined;
}

/**
 * The run a checkpoint holds: its model spec and train config decoded, and every tensor checked
 * against them (see the header). Errors name the checkpoint's file when it was read from one.
 */
export function fromCheckpoint(c: Checkpoint): E.Either<ConfigError | CheckpointError, Run> {
  const file = c.file;
  const fail = (kind: 'field' | 'model', field: string, detail: string): E.Either<ConfigError | CheckpointError, Run> =>
    E.left(file === undefined ? new ConfigError(field, detail) : new CheckpointError(file, kind, field, detail));
  const fromConfig = (e: ConfigError) => (file === undefined ? E.left(e) : fail('field', e.field, e.message.slice(e.field.length + 2)));
  const model = buildModel(c.model);
  if (E.isLeft(model)) return fromConfig(model.left);
  const config = decodeWith(TrainConfig, c.meta.train, 'checkpoint.meta.train');
  if (E.isLeft(config)) return fromConfig(config.left);
  const bad = checkpointMisfit(c, model.right, config.right);
  if (bad) return fail('model', bad.field, bad.detail);
  return E.right({
    model: model.right,
    config: config.right,
    state: { params: c.params, state: c.state, optimizer: { step: c.optimizer.step, slots: c.optimizer.slots }, step: c.progress.step },
    meta: { data: typeof c.meta.data === 'string' ? c.meta.data : 'unknown', history: Array.isArray(c.meta.history) ? (c.meta.history as RunMeta['history']) : [], ...c.meta },
  });
}
