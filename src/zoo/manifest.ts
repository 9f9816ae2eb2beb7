/**
 * The zoo's manifest (`zoo/manifest.json`): one entry per trained model shipped in the package,
 * recording how it was made (the exact `sttn` command, seed, sttn version, data split) and what it
 * is (test accuracy as correct/total, file size, SHA-256, ternary share of the weights, float32
 * size). Decoded with io-ts (`strict`: a misspelt or missing field is an error naming its path).
 *
 * The command is two `sttn` invocations joined by `&&`, run from a directory where the run and
 * the `.sttn` file land (`scripts/zoo.ts` runs it in a temporary one): training is deterministic,
 * so the file it exports has the recorded SHA-256 on any x86-64 CPU (see README, Reproducible).
 *
 * Law (laws/zoo.test.ts): the shipped manifest decodes, every file matches its size, SHA-256,
 * ternary share and float32 size, and its accuracy on the embedded test split is the recorded one;
 * a manifest with a bad field is an error naming it.
 */
import type * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { decodeWith, NonNegativeInt, oneOf, PositiveInt, refinedString, strict } from '../codec.js';
import type { ConfigError } from '../errors.js';
import { BITS, PRESETS, TERNARY_WEIGHTS } from '../models/presets.js';

export const ZOO_FORMAT = 'sttn-zoo';
export const ZOO_VERSION = 1;

const Sha256 = refinedString('SHA-256 (64 lowercase hex digits)', (s) => /^[0-9a-f]{64}$/.test(s));
const ModelName = refinedString('zoo name (lowercase letters, digits, dashes)', (s) => /^[a-z0-9][a-z0-9-]*$/.test(s));
const SttnCommand = refinedString('command (`sttn train … && sttn export …`)', (s) => /^sttn train .+ && sttn export .+$/.test(s));

export const ZooAccuracy = strict('ZooAccuracy', { correct: NonNegativeInt, count: PositiveInt });

export const ZooEntry = strict('ZooEntry', {
  /** what `loadZooModel` and `zoo:NAME` take */
  name: ModelName,
  /** the `.sttn` file, relative to zoo/ */
  file: refinedString('file name ending in .sttn', (s) => /^[a-z0-9][a-z0-9.-]*\.sttn$/.test(s)),
  preset: oneOf('preset', PRESETS),
  bits: oneOf('bits', BITS),
  weights: oneOf('weights', TERNARY_WEIGHTS),
  encoding: oneOf('encoding', ['2bit', 'base3'] as const),
  /** the exact commands that made the file, from an empty directory */
  command: SttnCommand,
  seed: NonNegativeInt,
  /** the sttn version that trained it */
  sttnVersion: t.string,
  /** the data the command trained on (`embedded`) and the split the accuracy is measured on */
  data: t.literal('embedded'),
  split: t.literal('test'),
  /** the inference engine's classes on the test split, as the law and `sttn eval zoo:NAME` count them */
  accuracy: ZooAccuracy,
  bytes: PositiveInt,
  sha256: Sha256,
  /** weights in ternary kernels, and all weights of weighted layers (biases and batch norm excluded) */
  ternaryWeights: NonNegativeInt,
  weightCount: PositiveInt,
  /** the same network with every kernel stored as float32 (`sttn summary`'s all-float32 size) */
  float32Bytes: PositiveInt,
});
export type ZooEntry = t.TypeOf<typeof ZooEntry>;

export const ZooManifest = strict('ZooManifest', {
  format: t.literal(ZOO_FORMAT),
  version: t.literal(ZOO_VERSION),
  models: t.array(ZooEntry),
});
export type ZooManifest = t.TypeOf<typeof ZooManifest>;

/** A manifest from parsed JSON; a bad field is a ConfigError naming `what` and the field's path. */
export function decodeZooManifest(json: unknown, what = 'zoo/manifest.json'): E.Either<ConfigError, ZooManifest> {
  return decodeWith(ZooManifest, json, what);
}

/** The ternary share of an entry's weights (0–1). */
export const ternaryShare = (e: Pick<ZooEntry, 'ternaryWeights' | 'weightCount'>): number => e.ternaryWeights / e.weightCount;
