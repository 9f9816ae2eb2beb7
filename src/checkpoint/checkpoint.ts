/**
 * Checkpoints: one versioned JSON document (optionally gzipped) holding everything needed to
 * resume training bit-for-bit: the model spec, parameters, non-trained state (e.g. batch-norm
 * running statistics), the optimizer's slots, the rng state and the progress counters.
 *
 *   { format: "sttn-checkpoint", version: 1, createdAt: ISO-8601,
 *     model: <JSON, decoded by the caller's model codec>,
 *     params: ParamTree, state: ParamTree,
 *     optimizer: { kind, step, config: <JSON, caller's codec>, slots: { slotName: ParamTree } },
 *     rng: { s: [u32, u32, u32, u32] }, progress: { epoch, step, samplesSeen },
 *     meta: { <free-form JSON> } }
 *
 * Tensors are stored bit-exactly (src/tensor-codec.ts). Saving is atomic: the bytes go to a temp
 * file in the target's directory (`.<name>.<pid>.<random>.tmp`), which is fsynced and then renamed
 * over the target, and the directory is fsynced where the platform allows; so a process killed
 * at any moment leaves either the previous checkpoint or the new one, never a mix. Loading is
 * synchronous (a checkpoint is read once, before training starts) and never throws on bad content.
 *
 * Law (laws/checkpoint.test.ts): `load(save(c))` is bit-identical to `c`; a truncated file, a
 * foreign JSON, another version or a bad field is a `Left` naming the file and the field
 * (`format`, `version`, the tensor's path…); after a SIGKILL during a save, or a failing write,
 * the target still loads as the previous checkpoint and no temp file passes for a checkpoint.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { decodeWith, NonNegativeInt } from '../codec.js';
import { ConfigError, SttnError } from '../errors.js';
import type { RngState } from '../random.js';
import { encodeParamTree, paramTreeCodec, recordOf, type ParamTree, type ParamTreeJson, type TensorCodecOptions } from '../tensor-codec.js';

export const CHECKPOINT_FORMAT = 'sttn-checkpoint';
export const CHECKPOINT_VERSION = 1;

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
  readonly version: typeof CHECKPOINT_VERSION;
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
}

/** The fields a caller supplies; `format` and `version` are fixed, `createdAt` defaults to now. */
export type CheckpointFields = Omit<Checkpoint, 'format' | 'version' | 'createdAt'> & { readonly createdAt?: string };

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
    /** `missing`, `unreadable`, `gzip`, `json`, `format`, `version`, `field` or `write`. */
    readonly kind: 'missing' | 'unreadable' | 'gzip' | 'json' | 'format' | 'version' | 'field' | 'write',
    /** The path of the bad field (e.g. `checkpoint.params.conv1.kernel.data`), or `file` for the file as a whole. */
    readonly field: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(field === 'file' ? `${file}: ${detail}` : `${file}: ${field}: ${detail}`, options);
  }
}

// ---------------------------------------------------------------------------------------------
// JSON values (model spec, optimizer config, meta)

/** The first place where `v` is not a JSON value (NaN, undefined, a function, a typed array…). */
function nonJson(v: unknown, path: string, depth = 0): { path: string; why: string } | undefined {
  if (depth > 256) return { path, why: 'nested too deeply (a cycle?)' };
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return undefined;
  if (typeof v === 'number') return Number.isFinite(v) ? undefined : { path, why: `got ${v}, which JSON cannot hold` };
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const bad = nonJson(v[i], `${path}.${i}`, depth + 1);
      if (bad) return bad;
    }
    return undefined;
  }
  if (typeof v === 'object') {
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) return { path, why: `got a ${proto?.constructor?.name ?? 'non-plain'} object, not plain JSON` };
    for (const [k, x] of Object.entries(v)) {
      const bad = nonJson(x, `${path}.${k}`, depth + 1);
      if (bad) return bad;
    }
    return undefined;
  }
  return { path, why: `got ${typeof v}, which JSON cannot hold` };
}

const JsonValue = new t.Type<unknown>(
  'JSON value',
  (u): u is unknown => nonJson(u, '') === undefined,
  (u, c) => {
    const bad = nonJson(u, '');
    return bad === undefined ? t.success(u) : t.failure(u, c, bad.path === '' ? bad.why : `at ${bad.path.slice(1)}: ${bad.why}`);
  },
  (a) => a,
);

const JsonObject = new t.Type<Readonly<Record<string, unknown>>>(
  'JSON object',
  (u): u is Readonly<Record<string, unknown>> => typeof u === 'object' && u !== null && !Array.isArray(u) && JsonValue.is(u),
  (u, c) => (typeof u === 'object' && u !== null && !Array.isArray(u) ? (JsonValue.validate(u, c) as t.Validation<Readonly<Record<string, unknown>>>) : t.failure(u, c, `got ${JSON.stringify(u) ?? String(u)}`)),
  (a) => a,
);

// ---------------------------------------------------------------------------------------------
// The codec

const U32 = new t.Type<number>(
  'u32',
  (u): u is number => typeof u === 'number' && Number.isInteger(u) && u >= 0 && u <= 0xffffffff,
  (u, c) => (typeof u === 'number' && Number.isInteger(u) && u >= 0 && u <= 0xffffffff ? t.success(u) : t.failure(u, c, `got ${JSON.stringify(u) ?? String(u)}`)),
  (n) => n,
);

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

const IsoDate = new t.Type<string>(
  'ISO-8601 date',
  (u): u is string => typeof u === 'string' && !Number.isNaN(Date.parse(u)),
  (u, c) => (typeof u === 'string' && !Number.isNaN(Date.parse(u)) ? t.success(u) : t.failure(u, c, `got ${JSON.stringify(u) ?? String(u)}`)),
  (s) => s,
);

const NonEmptyString = new t.Type<string>(
  'non-empty string',
  (u): u is string => typeof u === 'string' && u.length > 0,
  (u, c) => (typeof u === 'string' && u.length > 0 ? t.success(u) : t.failure(u, c, `got ${JSON.stringify(u) ?? String(u)}`)),
  (s) => s,
);

/** An exact record: unknown keys are rejected (a misspelt field in a writer is a bug). */
function strict<P extends t.Props>(name: string, props: P): t.Type<t.TypeOf<t.TypeC<P>>, t.OutputOf<t.TypeC<P>>, unknown> {
  const full = t.type(props);
  return new t.Type<t.TypeOf<t.TypeC<P>>, t.OutputOf<t.TypeC<P>>, unknown>(
    name,
    full.is,
    (u, c) => {
      if (typeof u === 'object' && u !== null && !Array.isArray(u)) {
        const extra = Object.keys(u).filter((k) => !Object.hasOwn(props, k));
        if (extra.length > 0) return t.failure(u, c, `got unknown key(s) ${extra.join(', ')} (allowed: ${Object.keys(props).join(', ')})`);
      }
      return full.validate(u, c);
    },
    full.encode,
  );
}

const bodyCodec = (opts: TensorCodecOptions) => {
  const tree = paramTreeCodec(opts);
  return strict('checkpoint', {
    format: t.literal(CHECKPOINT_FORMAT),
    version: t.literal(CHECKPOINT_VERSION),
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
 * The JSON form of `c`. Throws (before anything is written) a NonFiniteError naming the tensor
 * at a NaN/±Infinity unless `allowNonFinite`, and a ConfigError naming the field when `c` is not
 * a valid checkpoint (a non-JSON model spec, a bad counter, the all-zero rng…), so that every
 * saved checkpoint loads back.
 */
export function encodeCheckpoint(c: Checkpoint, opts: TensorCodecOptions = {}): CheckpointJson {
  const slots: Record<string, ParamTreeJson> = {};
  for (const k of Object.keys(c.optimizer.slots)) {
    Object.defineProperty(slots, k, { value: encodeParamTree(c.optimizer.slots[k], `checkpoint.optimizer.slots.${k}`, opts), enumerable: true, writable: true, configurable: true });
  }
  const json: CheckpointJson = {
    format: c.format,
    version: c.version,
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
  return json;
}

/**
 * Decode a parsed checkpoint. The header is checked first, so a foreign document is reported by
 * its `format` and a newer one by its `version` before any other field; then every field, with
 * the failing path (e.g. `checkpoint.params.conv1.kernel.data`) as the error's field.
 */
export function decodeCheckpoint(json: unknown, opts: TensorCodecOptions = {}): E.Either<ConfigError, Checkpoint> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    const got = Array.isArray(json) ? 'an array' : JSON.stringify(json) ?? String(json);
    return E.left(new ConfigError('checkpoint.format', `expected an object with format "${CHECKPOINT_FORMAT}", got ${got}: not an sttn checkpoint`));
  }
  const { format, version } = json as { format?: unknown; version?: unknown };
  if (format !== CHECKPOINT_FORMAT) {
    const got = format === undefined ? 'no format field' : JSON.stringify(format) ?? String(format);
    return E.left(new ConfigError('checkpoint.format', `expected "${CHECKPOINT_FORMAT}", got ${got}: not an sttn checkpoint`));
  }
  if (version !== CHECKPOINT_VERSION) {
    const why =
      typeof version === 'number' && Number.isInteger(version) && version > CHECKPOINT_VERSION
        ? `unsupported version ${version}: this build of sttn reads version ${CHECKPOINT_VERSION} (upgrade sttn)`
        : `expected ${CHECKPOINT_VERSION}, got ${version === undefined ? 'no version field' : JSON.stringify(version) ?? String(version)}`;
    return E.left(new ConfigError('checkpoint.version', why));
  }
  return decodeWith(bodyCodec(opts), json, 'checkpoint') as E.Either<ConfigError, Checkpoint>;
}

// ---------------------------------------------------------------------------------------------
// Bytes

const isGzip = (b: Uint8Array): boolean => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

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
  let raw: Uint8Array = bytes;
  if (isGzip(bytes)) {
    try {
      raw = gunzipSync(bytes);
    } catch (e) {
      return E.left(new CheckpointError(file, 'gzip', 'file', `gzip stream cannot be decompressed (truncated?): ${(e as Error).message}`, { cause: e }));
    }
  }
  if (raw.length === 0) return E.left(new CheckpointError(file, 'json', 'file', 'is empty (truncated?)'));
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8'));
  } catch (e) {
    return E.left(new CheckpointError(file, 'json', 'file', `is not valid JSON (truncated or corrupt? ${raw.length} bytes): ${(e as Error).message}`, { cause: e }));
  }
  const r = decodeCheckpoint(json, opts);
  if (E.isRight(r)) return r;
  const err = r.left;
  const kind = err.field === 'checkpoint.format' ? 'format' : err.field === 'checkpoint.version' ? 'version' : 'field';
  return E.left(new CheckpointError(file, kind, err.field, err.message.slice(err.field.length + 2), { cause: err }));
}

/** Why a file could not be read: it is not there, or the system refused (the message says how). */
export interface ReadFailure {
  readonly kind: 'missing' | 'unreadable';
  readonly message: string;
  readonly cause: unknown;
}

/** The bytes of `file`, or why they cannot be read (shared by checkpoints and deployed models). */
export function readFileClassified(file: string): E.Either<ReadFailure, Buffer> {
  try {
    return E.right(fs.readFileSync(file));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return E.left({ kind: 'missing', message: 'does not exist', cause: e });
    return E.left({ kind: 'unreadable', message: `cannot be read (${code ?? (e as Error).message})`, cause: e });
  }
}

/** Read and decode the checkpoint at `file` (synchronous). Never throws: every failure is a `Left`. */
export function loadCheckpoint(file: string, opts: TensorCodecOptions = {}): E.Either<CheckpointError, Checkpoint> {
  const r = readFileClassified(file);
  if (E.isLeft(r)) return E.left(new CheckpointError(file, r.left.kind, 'file', r.left.message, { cause: r.left.cause }));
  return parseCheckpoint(r.right, file, opts);
}

// ---------------------------------------------------------------------------------------------
// Atomic save

/** The file-system calls a save makes; a test may replace any of them to inject a failure. */
export interface SaveIo {
  readonly openSync: (path: string, flags: string) => number;
  readonly writeSync: (fd: number, buffer: Uint8Array, offset: number, length: number) => number;
  readonly fsyncSync: (fd: number) => void;
  readonly closeSync: (fd: number) => void;
  readonly renameSync: (from: string, to: string) => void;
  readonly unlinkSync: (path: string) => void;
}

const nodeIo: SaveIo = {
  openSync: (p, flags) => fs.openSync(p, flags),
  writeSync: (fd, b, off, len) => fs.writeSync(fd, b, off, len),
  fsyncSync: (fd) => fs.fsyncSync(fd),
  closeSync: (fd) => fs.closeSync(fd),
  renameSync: (a, b) => fs.renameSync(a, b),
  unlinkSync: (p) => fs.unlinkSync(p),
};

export interface SaveOptions extends SerializeOptions {
  /** Bytes per write call (default 4 MiB). */
  readonly chunkBytes?: number;
  /** Test seam: replaces some of the file-system calls. */
  readonly io?: Partial<SaveIo>;
}

// `.` prefix hides temps from `ls` and from globs such as `*.json`; the `.tmp` suffix is never a
// checkpoint name this module writes. Group 1 is the target's base name, group 2 the writer's pid.
const TEMP_NAME = /^\.(.+)\.(\d+)\.[0-9a-z]+\.tmp$/;

/** True when `name` (a base name) is a temp file of some checkpoint save, never a checkpoint. */
export const isTempName = (name: string): boolean => TEMP_NAME.test(name);

/** A fresh temp path next to `target`, for this process. */
export function tempPathFor(target: string): string {
  const rand = Math.floor(Math.random() * 2 ** 32).toString(36);
  return join(dirname(target), `.${basename(target)}.${process.pid}.${rand}.tmp`);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Delete temp files left next to `target` by saves whose process has died (killed mid-save).
 * Temps of live processes (a save in progress) are kept. Returns the removed paths.
 */
export function removeStaleTemps(target: string): string[] {
  const dir = dirname(target);
  const base = basename(target);
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = TEMP_NAME.exec(name);
    if (m === null || m[1] !== base) continue;
    const pid = Number(m[2]);
    if (pid === process.pid || pidAlive(pid)) continue;
    try {
      fs.unlinkSync(join(dir, name));
      removed.push(join(dir, name));
    } catch {
      // already gone, or not ours to remove: leave it
    }
  }
  return removed;
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // not possible on every platform (Windows cannot open a directory): the rename is still atomic
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

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

/** Why an atomic write failed: the stage, the temp file, and the underlying error. */
export class AtomicWriteFailure extends Error {
  constructor(
    readonly stage: string,
    readonly tmp: string,
    readonly reason: Error,
  ) {
    super(`atomic write failed at "${stage}" (${tmp}): ${reason.message}`);
  }
}

/**
 * Write `bytes` to `target` so that a reader sees either the old file or the whole new one: a temp
 * file in the same directory, written in chunks, fsynced, then renamed over the target; then the
 * directory is fsynced where possible and temps left by dead writers of the same target removed.
 * Shared by checkpoints and deployed models. Throws an `AtomicWriteFailure` (temp removed).
 */
export function writeFileAtomic(target: string, bytes: Uint8Array, opts: { io?: Partial<SaveIo>; chunkBytes?: number } = {}): void {
  const io: SaveIo = { ...nodeIo, ...opts.io };
  const chunk = Math.max(1, opts.chunkBytes ?? 4 * 1024 * 1024);
  const tmp = tempPathFor(target);
  let stage = 'open temp file';
  let fd: number | undefined;
  try {
    fd = io.openSync(tmp, 'wx');
    stage = 'write temp file';
    let off = 0;
    while (off < bytes.length) off += io.writeSync(fd, bytes, off, Math.min(chunk, bytes.length - off));
    stage = 'fsync temp file';
    io.fsyncSync(fd);
    stage = 'close temp file';
    const f = fd;
    fd = undefined;
    io.closeSync(f);
    stage = 'rename temp file over target';
    io.renameSync(tmp, target);
  } catch (e) {
    if (fd !== undefined) {
      try {
        io.closeSync(fd);
      } catch {
        // the write already failed; report that
      }
    }
    try {
      io.unlinkSync(tmp);
    } catch {
      // never created, or already gone
    }
    throw new AtomicWriteFailure(stage, tmp, e as Error);
  }
  fsyncDir(dirname(target));
  removeStaleTemps(target);
}
