/**
 * A training run as a checkpoint: `TrainState` + model spec + train config ⇄ the versioned
 * document of src/checkpoint/checkpoint.ts. The model spec and the train config are stored with
 * their own codecs and decoded back into `Either`s, so a checkpoint from a foreign or corrupted
 * run names the field that is wrong.
 *
 * Law (laws/run-checkpoint.test.ts): through a checkpoint file, fromCheckpoint(toCheckpoint(run))
 * gives back the same model spec, config and state bit for bit; resuming from it continues the
 * run bit for bit; a foreign model spec or train config is a Left naming the field.
 */
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import { checkpoint, type Checkpoint } from './checkpoint.js';
import { decodeWith } from '../codec.js';
import type { ConfigError } from '../errors.js';
import { buildModel, ModelSpec, type Model } from '../models/model.js';
import { rng, snapshot } from '../random.js';
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

export function fromCheckpoint(c: Checkpoint): E.Either<ConfigError, Run> {
  return pipe(
    buildModel(c.model),
    E.chain((model) =>
      E.map((config: TrainConfig): Run => ({
        model,
        config,
        state: { params: c.params, state: c.state, optimizer: { step: c.optimizer.step, slots: c.optimizer.slots }, step: c.progress.step },
        meta: { data: typeof c.meta.data === 'string' ? c.meta.data : 'unknown', history: Array.isArray(c.meta.history) ? (c.meta.history as RunMeta['history']) : [], ...c.meta },
      }))(decodeWith(TrainConfig, c.meta.train, 'checkpoint.meta.train')),
    ),
  );
}
