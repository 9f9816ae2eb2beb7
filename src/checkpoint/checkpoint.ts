/**
 * Checkpoints: one versioned JSON document (optionally gzipped) holding everything needed to
 * resume training bit-for-bit: the model spec, parameters, non-trained state (e.g. batch-norm
 * running statistics), the optimizer's slots, the rng state and the progress counters.
 *
 *   { format: "sttn-checkpoint", version: 2, checksum: "sha256:<hex>", createdAt: ISO-8601,
 *     model: <JSON, decoded by the caller's model codec>,
 *     params: ParamTree, state: ParamTree,
 *     optimizer: { kind, step, config: <JSON, caller's codec>, slots: { slotName: ParamTree } },
 *     rng: { s: [u32, u32, u32, u32] }, progress: { epoch, step, samplesSeen },
 *     meta: { <free-form JSON> } }
 *
 * Tensors are stored bit-exactly (src/tensor-codec.ts). Saving is atomic (src/files.ts: a temp
 * file in the target's directory, fsynced, renamed over the target), so a process killed at any
 * moment leaves either the previous checkpoint or the new one, never a mix. Loading is
 * synchronous (a checkpoint is read once, before training starts) and never throws on bad content.
 *
 * Integrity (version 2): `checksum` is the SHA-256 of the document's canonical JSON without that
 * member (src/checkpoint/checksum.ts says what is hashed and why SHA-256). Saving writes it;
 * loading verifies it before anything else is decoded, so a flipped bit or a hand edit is a
 * CheckpointError of kind `checksum` ("corrupt or edited"), never a model that runs on altered
 * weights. Version 1 files, written before checksums, still load (nothing a user saved is lost):
 * they are decoded unverified, the decoded checkpoint keeps `version: 1` so a caller can tell,
 * and saving it again writes version 2 with a checksum. The price is that a deliberate edit can
 * pass by rewriting a file as version 1; checksums guard against corruption and careless edits,
 * not against an adversary. Whatever the version, src/checkpoint/run.ts checks that the tensors
 * fit the model spec.
 *
 * Law (laws/checkpoint.test.ts): `load(save(c))` is bit-identical to `c`; a truncated file, a
 * foreign JSON, another version or a bad field is a `Left` naming the file and the field
 * (`format`, `version`, the tensor's path…); a flipped bit or a replaced character in any tensor
 * payload is a `checksum` Left naming the file; a version-1 file still loads; after a SIGKILL
 * during a save, or a failing write, the target still loads as the previous checkpoint and no
 * temp file passes for a checkpoint.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { gzipSync } from 'node:zlib';
import { decodeWith, JsonObject, JsonValue, NonNegativeInt, refinedNumber, refinedString, quote, strict } from '../codec.js';
import { ConfigError, SttnError } from '../errors.js';
import { AtomicWriteFailure, gunzipIfGzip, LimitExceeded, readFileClassified, writeFileAtomic, type WriteOptions } from '../files.js';
import type { RngState } from '../random.js';
import { encodeParamTree, paramTreeCodec, recordOf, type ParamTree, type ParamTreeJson, type TensorCodecOptions } from '../tensor-codec.js';
import { CHECKSUM_PATTERN, documentChecksum } from './checksum.js';

export const CHECKPOINT_FORMAT = 'sttn-checkpoint';
/** The version written. Version 1 (the same document without `checksum`) is still read. */
export const CHECKPOINT_VERSION = 2;
/** The versions read: 2 (verified by its checksum) and 1 (written before checksums, unverified). */
export type CheckpointVersion = 1 | typeof CHECKPOINT_VERSION;

export interface OptimizerState {
  /** The optimizer's stable id (e.g. "adam"), to pick the caller's config codec. */
  readonly kind: string;
  /** Number of updates applied so far (drives bias correction, schedules). */
  readonly step: number;
  /** The optimizer's config, as the caller's codec encoded it. */
  readonly config: unknown;
  /** Slot name (e.g. "m", "v") → a tree shaped like the parameters. */
  readonly slots: Readonly<Record<string, ParamTree>>;
}

export interface Progress {
  /** Completed epochs. */
  readonly epoch: number;
  /** Optimizer steps taken since the start of training. */
  readonly step: number;
  /** Training samples consumed since the start of training. */
  readonly samplesSeen: number;
}

export interface Checkpoint {
  readonly format: typeof CHECKPOINT_FORMAT;
  /** What the file held: 1 means it was written before checksums and loaded unverified. Saving always writes CHECKPOINT_VERSION. */
  readonly version: CheckpointVersion;
  /** ISO-8601 time of creation. */
  readonly createdAt: string;
  /** The model spec, as the caller's codec encoded it (JSON). */
  readonly model: unknown;
  readonly params: ParamTree;
  /** Non-trained tensors (batch-norm running mean/variance…). */
  readonly state: ParamTree;
  readonly optimizer: OptimizerState;
  readonly rng: RngState;
  readonly progress: Progress;
  /** Free-form JSON: dataset name, git revision, best accuracy… */
  readonly meta: Readonly<Record<string, unknown>>;
  /** The file it was read from (set by parseCheckpoint / loadCheckpoint, never written), so later checks can name it. */
  readonly file?: string;
}

/** The fields a caller supplies; `format` and `version` are fixed, `createdAt` defaults to now. */
export type CheckpointFields = Omit<Checkpoint, 'format' | 'version' | 'createdAt' | 'file'> & { readonly createdAt?: string };

export function checkpoint(fields: CheckpointFields): Checkpoint {
  return {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    createdAt: fields.createdAt ?? new Date().toISOString(),
    model: fields.model,
    params: fields.params,
    state: fields.state,
    optimizer: fields.optimizer,
    rng: fields.rng,
    progress: fields.progress,
    meta: fields.meta,
  };
}

/** A checkpoint file could not be read, parsed, decoded or written; names the file and the field. */
export class CheckpointError extends SttnError {
  override readonly name = 'CheckpointError';
  constructor(
    readonly file: string,
    /**
     * `missing`, `unreadable`, `gzip`, `json`, `format`, `version`, `checksum` (missing, malformed
     * or not matching: corrupt or edited), `field`, `model` (a tensor that does not fit the model
     * spec: missing, unexpected, of another shape, non-finite or out of its domain) or `write`.
     */
    readonly kind: 'missing' | 'unreadable' | 'gzip' | 'json' | 'format' | 'version' | 'checksum' | 'field' | 'model' | 'write',
    /** The path of the bad field (e.g. `checkpoint.params.conv1.kernel.data`), or `file` for the file as a whole. */
    readonly field: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(field === 'file' ? `${file}: ${detail}` : `${file}: ${field}: ${detail}`, options);
  }
}

// ---------------------------------------------------------------------------------------------
// The codec

const U32 = refinedNumber('u32', (n) => Number.isInteger(n) && n >= 0 && n <= 0xffffffff);

const RngStateC = new t.Type<RngState, { s: number[] }, unknown>(
  'rng state {s: [u32, u32, u32, u32], not all 0}',
  (u): u is RngState => t.type({ s: t.tuple([U32, U32, U32, U32]) }).is(u) && u.s.some((x) => x !== 0),
  (u, c) => {
    const r = t.exact(t.type({ s: t.tuple([U32, U32, U32, U32]) })).validate(u, c);
    if (E.isLeft(r)) return r;
    if (r.right.s.every((x) => x === 0)) return t.failure(u, c, 'got the all-zero state, which xoshiro128** never leaves');
    return t.success({ s: [r.right.s[0], r.right.s[1], r.right.s[2], r.right.s[3]] as const });
  },
  (r) => ({ s: [...r.s] }),
);

const IsoDate = refinedString('ISO-8601 date', (u) => !Number.isNaN(Date.parse(u)));

const NonEmptyString = refinedString('non-empty string', (u) => u.length > 0);

const bodyCodec = (opts: TensorCodecOptions) => {
  const tree = paramTreeCodec(opts);
  return strict('checkpoint', {
    format: t.literal(CHECKPOINT_FORMAT),
    version: t.union([t.literal(1), t.literal(CHECKPOINT_VERSION)]),
    createdAt: IsoDate,
    model: JsonValue,
    params: tree,
    state: tree,
    optimizer: strict('optimizer state', { kind: NonEmptyString, step: NonNegativeInt, config: JsonValue, slots: recordOf('optimizer slots', tree) }),
    rng: RngStateC,
    progress: strict('progress', { epoch: NonNegativeInt, step: NonNegativeInt, samplesSeen: NonNegativeInt }),
    meta: JsonObject,
  });
};

/** The JSON form of a checkpoint (what is written, before stringify). */
export interface CheckpointJson {
  readonly format: typeof CHECKPOINT_FORMAT;
  readonly version: typeof CHECKPOINT_VERSION;
  /** `sha256:<hex>` of the canonical JSON of the other members (src/checkpoint/checksum.ts). */
  readonly checksum: string;
  readonly createdAt: string;
  readonly model: unknown;
  readonly params: ParamTreeJson;
  readonly state: ParamTreeJson;
  readonly optimizer: { readonly kind: string; readonly step: number; readonly config: unknown; readonly slots: Readonly<Record<string, ParamTreeJson>> };
  readonly rng: { readonly s: readonly number[] };
  readonly progress: Progress;
  readonly meta: Readonly<Record<string, unknown>>;
}

/**
 * The JSON form of `c`, always of the current version with its checksum (a version-1 checkpoint
 * is upgraded). Throws (before anything is written) a NonFiniteError naming the tensor at a
 * NaN/±Infinity unless `allowNonFinite`, and a ConfigError naming the field when `c` is not a
 * valid checkpoint (a non-JSON model spec, a bad counter, the all-zero rng…), so that every
 * saved checkpoint loads back.
 */
export function encodeCheckpoint(c: Checkpoint, opts: TensorCodecOptions = {}): CheckpointJson {
  const slots: Record<string, ParamTreeJson> = {};
  for (const k of Object.keys(c.optimizer.slots)) {
    Object.defineProperty(slots, k, { value: encodeParamTree(c.optimizer.slots[k], `checkpoint.optimizer.slots.${k}`, opts), enumerable: true, writable: true, configurable: true });
  }
  const json: Omit<CheckpointJson, 'checksum'> = {
    format: c.format,
    version: CHECKPOINT_VERSION,
    createdAt: c.createdAt,
    model: c.model,
    params: encodeParamTree(c.params, 'checkpoint.params', opts),
    state: encodeParamTree(c.state, 'checkpoint.state', opts),
    optimizer: { kind: c.optimizer.kind, step: c.optimizer.step, config: c.optimizer.config, slots },
    rng: { s: [...c.rng.s] },
    progress: { epoch: c.progress.epoch, step: c.progress.step, samplesSeen: c.progress.samplesSeen },
    meta: c.meta,
  };
  // validate everything but the tensors (already checked above, and costly to decode again)
  const shallow = { ...json, params: {}, state: {}, optimizer: { ...json.optimizer, slots: {} } };
  const r = decodeWith(bodyCodec(opts), shallow, 'checkpoint');
  if (E.isLeft(r)) throw r.left;
  // valid JSON throughout (checked above; the tensors are the codec's own output), so it hashes
  const checksum = documentChecksum(json);
  if (checksum === undefined) throw new ConfigError('checkpoint', 'holds a value JSON cannot, so it has no checksum');
  const { format, version, ...rest } = json;
  return { format, version, checksum, ...rest };
}


/**
 * The checksum rule of each version: version 2 must carry a well-formed checksum that matches
 * its content; version 1 predates checksums and must not carry one. A Left names
 * `checkpoint.checksum`.
 */
function verifyChecksum(doc: Readonly<Record<string, unknown>>, version: CheckpointVersion): E.Either<ConfigError, Readonly<Record<string, unknown>>> {
  const has = Object.prototype.hasOwnProperty.call(doc, 'checksum');
  const field = 'checkpoint.checksum';
  if (version === 1) {
    return has ? E.left(new ConfigError(field, 'present in a version-1 checkpoint, which predates checksums: the version was edited')) : E.right(doc);
  }
  if (!has) return E.left(new ConfigError(field, `missing: a version-${version} checkpoint carries the sha256 of its content (the field was deleted, or the file edited)`));
  const recorded = doc.checksum;
  if (typeof recorded !== 'string' || !CHECKSUM_PATTERN.test(recorded)) {
    return E.left(new ConfigError(field, `expected "sha256:" and 64 lowercase hex digits, got ${quote(recorded)}`));
  }
  const actual = documentChecksum(doc);
  if (actual !== recorded) return E.left(new ConfigError(field, 'the content does not match its sha256 checksum: the file is corrupt or was edited after it was saved'));
  const body: Record<string, unknown> = {};
  for (const k of Object.keys(doc)) if (k !== 'checksum') Object.defineProperty(body, k, { value: doc[k], enumerable: true, writable: true, configurable: true });
  return E.right(body);
}

/**
 * Decode a parsed checkpoint. The header is checked first, so a foreign document is reported by
 * its `format` and a newer one by its `version` before any other field; then the checksum (a
 * version-2 document whose content does not match it is reported as corrupt, whatever else is
 * wrong with it); then every field, with the failing path (e.g.
 * `checkpoint.params.conv1.kernel.data`) as the error's field.
 */
export function decodeCheckpoint(json: unknown, opts: TensorCodecOptions = {}): E.Either<ConfigError, Checkpoint> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    const got = Array.isArray(json) ? 'an array' : quote(json);
    return E.left(new ConfigError('checkpoint.format', `expected an object with format "${CHECKPOINT_FORMAT}", got ${got}: not an sttn checkpoint`));
  }
  const { format, version } = json as { format?: unknown; version?: unknown };
  if (format !== CHECKPOINT_FORMAT) {
    const got = format === undefined ? 'no format field' : quote(format);
    return E.left(new ConfigError('checkpoint.format', `expected "${CHECKPOINT_FORMAT}", got ${got}: not an sttn checkpoint`));
  }
  if (version !== 1 && version !== CHECKPOINT_VERSION) {
    const why =
      typeof version === 'number' && Number.isInteger(version) && version > CHECKPOINT_VERSION
        ? `unsupported version ${version}: this build of sttn reads versions 1 and ${CHECKPOINT_VERSION} (upgrade sttn)`
        : `expected ${CHECKPOINT_VERSION} (or 1, written before checksums), got ${version === undefined ? 'no version field' : quote(version)}`;
    return E.left(new ConfigError('checkpoint.version', why));
  }
  const body = verifyChecksum(json as Readonly<Record<string, unknown>>, version);
  if (E.isLeft(body)) return body;
  return decodeWith(bodyCodec(opts), body.right, 'checkpoint') as E.Either<ConfigError, Checkpoint>;
}

// ---------------------------------------------------------------------------------------------
// Bytes

export interface SerializeOptions extends TensorCodecOptions {
  /** Gzip the JSON (default false). Loading detects gzip by its magic bytes, whatever the name. */
  readonly gzip?: boolean;
}

/** The bytes of a checkpoint file: compact UTF-8 JSON without a trailing newline, or its gzip. */
export function serializeCheckpoint(c: Checkpoint, opts: SerializeOptions = {}): Uint8Array {
  const text = Buffer.from(JSON.stringify(encodeCheckpoint(c, opts)), 'utf8');
  return opts.gzip === true ? gzipSync(text, { level: 6 }) : text;
}

/** Parse the bytes of a checkpoint file; every error names `file`. */
export function parseCheckpoint(bytes: Uint8Array, file: string, opts: TensorCodecOptions = {}): E.Either<CheckpointError, Checkpoint> {
  const inflated = gunzipIfGzip(bytes);
  if (E.isLeft(inflated)) {
    const e = inflated.left;
    const why = e instanceof LimitExceeded ? e.message : `gzip stream cannot be decompressed (truncated?): ${e.message}`;
    return E.left(new CheckpointError(file, 'gzip', 'file', why, { cause: e }));
  }
  const raw = inflated.right;
  if (raw.length === 0) return E.left(new CheckpointError(file, 'json', 'file', 'is empty (truncated?)'));
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8'));
  } catch (e) {
    return E.left(new CheckpointError(file, 'json', 'file', `is not valid JSON (truncated or corrupt? ${raw.length} bytes): ${(e as Error).message}`, { cause: e }));
  }
  const r = decodeCheckpoint(json, opts);
  if (E.isRight(r)) return E.right({ ...r.right, file });
  const err = r.left;
  const kind = err.field === 'checkpoint.format' ? 'format' : err.field === 'checkpoint.version' ? 'version' : err.field === 'checkpoint.checksum' ? 'checksum' : 'field';
  return E.left(new CheckpointError(file, kind, err.field, err.message.slice(err.field.length + 2), { cause: err }));
}

/** Read and decode the checkpoint at `file` (synchronous). Never throws: every failure is a `Left`. */
export function loadCheckpoint(file: string, opts: TensorCodecOptions = {}): E.Either<CheckpointError, Checkpoint> {
  const r = readFileClassified(file);
  if (E.isLeft(r)) return E.left(new CheckpointError(file, r.left.kind, 'file', r.left.message, { cause: r.left.cause }));
  return parseCheckpoint(r.right, file, opts);
}

// ---------------------------------------------------------------------------------------------
// Atomic save

/** How to encode (gzip, non-finite values) and how to write (chunk size, the test seam of src/files.ts). */
export type SaveOptions = SerializeOptions & Pick<WriteOptions, 'chunkBytes' | 'io'>;

/**
 * Write `c` to `target` atomically (synchronous): encode first (so an invalid checkpoint throws
 * before any file is touched), write a temp file in the same directory, fsync it, rename it over
 * `target`, fsync the directory. On failure the temp file is removed and a CheckpointError
 * (kind `write`, naming `target` and the step that failed) is thrown; `target` is untouched.
 * After a successful save, temps left by dead writers of the same target are removed.
 */
export function saveCheckpoint(target: string, c: Checkpoint, opts: SaveOptions = {}): void {
  const bytes = serializeCheckpoint(c, opts);
  try {
    writeFileAtomic(target, bytes, opts);
  } catch (e) {
    if (!(e instanceof AtomicWriteFailure)) throw e;
    throw new CheckpointError(target, 'write', 'file', `save failed at "${e.stage}" (${e.tmp}): ${e.reason.message}; the previous file is untouched`, { cause: e.reason });
  }
}
