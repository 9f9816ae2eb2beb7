/**
 * Fuzzing the decoders: valid seed inputs built in-process, mutators, and the classifier of one
 * decode attempt. Nothing here asserts; laws/fuzz.test.ts states what must hold and bench/fuzz.ts
 * counts outcomes over many mutants (bench/FUZZ.md).
 *
 * A mutant is a *program* — a seed index, a list of edits, and how to reseal the result — so that
 * fast-check draws, shrinks and prints it, and a failure replays from the program alone. Edits:
 * bit flips, byte changes, interesting words (0, 0x7fffffff, 0xffffffff…) in either endianness,
 * truncation, extension, deletion, insertion, splices of chunks from any seed, gzip wrapping, and
 * JSON-aware edits for the JSON in a checkpoint and in a `.sttn` header (numbers changed, huge
 * dimensions, keys removed or added — `__proto__` among them —, values retyped, strings replaced,
 * deep nesting, raw number spellings, array elements duplicated). Resealing recomputes a format's
 * own check after the edits (the checkpoint's SHA-256, or a rewrite as an unchecked version-1
 * file; the `.sttn` CRC-32 and lengths; every PNG chunk's CRC), so the decoders behind the check
 * are reached too; a resealed mutant is marked `sealed`, and an integrity law does not apply to it.
 *
 * One attempt is classified as one outcome:
 *   clean-error         an SttnError, thrown or returned as a Left, whose message names the file
 *   accepted-unchanged  decoded, equal to some seed's decoding (tensors compared bit for bit)
 *   accepted-changed    decoded, content differs: an integrity failure where the format has a check
 *   malformed           decoded, but the value breaks its own declared shapes (or, for the CLI, the
 *                       output conventions: exit code, help on stderr, no stack trace)
 *   uncaught            any other exception (TypeError, RangeError…), an error naming nothing, or
 *                       a throw from a decoder documented never to throw
 *   timeout             the attempt took longer than the per-case bound
 *   memory              the attempt raised the process's peak RSS by more than the bound
 * The time is measured around each attempt; the memory is the peak resident set (Linux VmHWM,
 * reset before each attempt through /proc/self/clear_refs; elsewhere the RSS after it).
 *
 * Law (laws/fuzz.test.ts): no decoder has an uncaught, timeout, memory or malformed outcome, and
 * no unsealed, verified mutant of a checksummed format is accepted-changed.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants as zlibConstants, crc32, gunzipSync, gzipSync, inflateSync } from 'node:zlib';
import pngjs from 'pngjs';
import { main, COMMANDS } from '../app/cli/main.js';
import { cpu32 } from '../backends/cpu.js';
import { parseCheckpoint, serializeCheckpoint, type Checkpoint } from '../src/checkpoint/checkpoint.js';
import { documentChecksum } from '../src/checkpoint/checksum.js';
import { fromCheckpoint, toCheckpoint, type Run } from '../src/checkpoint/run.js';
import { maybeGunzip } from '../src/data/bytes.js';
import { CIFAR10_CLASSES, CIFAR10_MAX_BYTES, CIFAR10_PLANE, cifar10Records, decodeCifar10Into } from '../src/data/cifar10.js';
import { IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, idxDeclared, parseIdxImages, parseIdxLabels, type IdxImages } from '../src/data/idx.js';
import { SttnError } from '../src/errors.js';
import { parseDeployed, serializeDeployed } from '../src/export/container.js';
import { allOps, deployedBitEqual, opShapes, type DeployedModel } from '../src/export/deployed.js';
import { exportModel } from '../src/export/export.js';
import { parsePgm, parsePng, readImages, type Image } from '../src/infer/images.js';
import { referenceTernaryKernels } from '../src/infer/ternary-kernels.js';
import { buildModel, initModel, type Model } from '../src/models/model.js';
import { preset } from '../src/models/presets.js';
import { rng } from '../src/random.js';
import { paramTreeBitEqual, type ParamTree } from '../src/tensor-codec.js';
import { size } from '../src/tensor.js';
import { initTraining } from '../src/train/train.js';
import { backendByName, captureIo, cliEnv, kernelsByName } from './cli-io.js';
import { cfgOf, tiny } from './toy.js';

// ---------------------------------------------------------------------------------------------
// Outcomes

export const OUTCOMES = ['clean-error', 'accepted-unchanged', 'accepted-changed', 'malformed', 'uncaught', 'timeout', 'memory'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface Verdict {
  readonly outcome: Outcome;
  /** the error (name: message), or what differs, or why it is malformed; empty when unchanged */
  readonly detail: string;
  readonly ms: number;
  /** how far the attempt raised the peak resident set above the RSS before it, in MiB */
  readonly peakMiB: number;
  /** the mutant was resealed (its checksum or CRC recomputed): an integrity check cannot see the edit */
  readonly sealed: boolean;
  /** decoded as a format version that carries no integrity check (a version-1 checkpoint) */
  readonly unverified: boolean;
}

/** Per-case bounds: wall milliseconds, and MiB of peak RSS above the RSS before the case. */
export interface Limits {
  readonly ms: number;
  readonly mib: number;
}

export const DECODER_LIMITS: Limits = { ms: 1000, mib: 256 };
/** A CLI case parses flags and may read small files: a wider time bound. */
export const CLI_LIMITS: Limits = { ms: 5000, mib: 256 };

/** A decoder under fuzzing: how to draw a mutant program, describe it, and run one attempt. */
export interface Target<P = unknown> {
  readonly name: string;
  /** true when the format carries an integrity check (an unsealed accepted-changed is then a failure) */
  readonly integrity: boolean;
  readonly arb: fc.Arbitrary<P>;
  describe(p: P): string;
  /** the input a program stands for: a mutant's bytes, or the CLI's argument vector */
  input(p: P): Uint8Array | readonly string[];
  /** one attempt, classified; never throws */
  run(p: P): Promise<Verdict>;
}

/** What a law requires of every attempt. */
export function acceptable(t: Pick<Target, 'integrity'>, v: Verdict): boolean {
  if (v.outcome === 'uncaught' || v.outcome === 'timeout' || v.outcome === 'memory' || v.outcome === 'malformed') return false;
  return !(t.integrity && v.outcome === 'accepted-changed' && !v.sealed && !v.unverified);
}

/** The most time fast-check spends on one law, shrinking included (a failing case may take seconds). */
const LAW_TIME_LIMIT_MS = 120_000;

/**
 * `numRuns` mutants drawn by fast-check (a fresh seed each run) all `acceptable`; on failure the
 * seed, the shrunk program, the verdict of the last failing attempt and that of a replay are
 * printed to stderr. Shrinking stops at LAW_TIME_LIMIT_MS, with the smallest failing program found
 * so far.
 */
export async function fuzzHolds(t: Target, numRuns: number, ok: (v: Verdict) => boolean = (v) => acceptable(t, v)): Promise<boolean> {
  // the verdict of the last failing attempt: a time-out or a memory outcome need not repeat on replay
  let seen: { p: unknown; v: Verdict } | undefined;
  const r = await fc.check(
    fc.asyncProperty(t.arb, async (p) => {
      const v = await t.run(p);
      if (ok(v)) return true;
      seen = { p, v };
      return false;
    }),
    { numRuns, interruptAfterTimeLimit: LAW_TIME_LIMIT_MS },
  );
  if (!r.failed) return true;
  console.error(fc.defaultReportMessage(r));
  const show = (p: unknown, v: Verdict, when: string) =>
    console.error(`${t.name} (${when}): ${t.describe(p)}\n  → ${v.outcome} (${v.ms.toFixed(1)} ms, +${v.peakMiB.toFixed(0)} MiB): ${v.detail}`);
  if (seen !== undefined) show(seen.p, seen.v, 'last failing attempt');
  if (r.counterexample !== null) show(r.counterexample[0], await t.run(r.counterexample[0]), 'counterexample, replayed');
  return false;
}

// ---------------------------------------------------------------------------------------------
// Time and memory watch

const STATUS = '/proc/self/status';
const CLEAR_REFS = '/proc/self/clear_refs';

/** Whether the kernel lets this process reset its peak RSS (Linux ≥ 4.0). */
const peakResettable: boolean = (() => {
  try {
    writeFileSync(CLEAR_REFS, '5');
    return /VmHWM:/.test(readFileSync(STATUS, 'utf8'));
  } catch {
    return false;
  }
})();

function peakRss(): number {
  if (peakResettable) {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(STATUS, 'utf8'));
    if (m !== null) return Number(m[1]) * 1024;
  }
  return process.memoryUsage.rss();
}

interface Watched<T> {
  readonly value?: T;
  readonly error?: unknown;
  readonly threw: boolean;
  readonly ms: number;
  readonly peakMiB: number;
}

/** Run `f` once, timing it and measuring the peak RSS it caused. */
async function watch<T>(f: () => T | Promise<T>): Promise<Watched<T>> {
  if (peakResettable) writeFileSync(CLEAR_REFS, '5');
  const rss0 = process.memoryUsage.rss();
  const t0 = performance.now();
  let value: T | undefined;
  let error: unknown;
  let threw = false;
  try {
    value = await f();
  } catch (e) {
    error = e;
    threw = true;
  }
  const ms = performance.now() - t0;
  const peakMiB = Math.max(0, peakRss() - rss0) / 2 ** 20;
  return threw ? { error, threw, ms, peakMiB } : { value, threw, ms, peakMiB };
}

const clip = (s: string, n = 400): string => (s.length > n ? `${s.slice(0, n)}… (${s.length} chars)` : s);

const describeError = (e: unknown): string => {
  if (e instanceof Error) {
    const at = e.stack?.split('\n').find((l) => /^\s+at /.test(l))?.trim();
    return clip(`${e.name}: ${e.message}`) + (e instanceof SttnError || at === undefined ? '' : ` [${at}]`);
  }
  return `a thrown ${typeof e}: ${clip(String(e))}`;
};

/** The outcome of an error: clean when it is an SttnError naming `file`. */
const errorOutcome = (e: unknown, file: string): Outcome => (e instanceof SttnError && e.message.includes(file) ? 'clean-error' : 'uncaught');

function bounded(w: { ms: number; peakMiB: number }, limits: Limits, outcome: Outcome): Outcome {
  if (outcome === 'uncaught') return outcome;
  if (w.ms > limits.ms) return 'timeout';
  if (w.peakMiB > limits.mib) return 'memory';
  return outcome;
}

// ---------------------------------------------------------------------------------------------
// Byte edits

/** Words that break parsers: zero, sign bits, all ones, powers of two, lengths just past a buffer. */
export const INTERESTING = [0, 1, 2, 3, 4, 7, 8, 16, 20, 32, 64, 127, 128, 255, 256, 1024, 3073, 4096, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff] as const;

export type ByteEdit =
  | { readonly op: 'flip'; readonly at: number; readonly bit: number }
  | { readonly op: 'set'; readonly at: number; readonly byte: number }
  | { readonly op: 'word'; readonly at: number; readonly width: 1 | 2 | 4; readonly value: number; readonly le: boolean }
  | { readonly op: 'truncate'; readonly at: number }
  | { readonly op: 'extend'; readonly bytes: readonly number[]; readonly repeat: number }
  | { readonly op: 'delete'; readonly at: number; readonly len: number }
  | { readonly op: 'insert'; readonly at: number; readonly bytes: readonly number[] }
  | { readonly op: 'splice'; readonly donor: number; readonly from: number; readonly len: number; readonly to: number; readonly overwrite: boolean }
  | { readonly op: 'gzip' }
  | { readonly op: 'json'; readonly edit: JsonEdit };

// positions and picks unbiased: fast-check's bias toward small numbers would edit only the first bytes
const at = fc.noBias(fc.nat({ max: 1 << 20 }));
const byteList = (min: number, max: number) => fc.array(fc.nat(255), { minLength: min, maxLength: max });

const byteEditArb = (json: boolean): fc.Arbitrary<ByteEdit> =>
  fc.oneof(
    ...(json ? [{ weight: 12, arbitrary: fc.record({ op: fc.constant('json' as const), edit: jsonEditArb }) }] : []),
    { weight: 3, arbitrary: fc.record({ op: fc.constant('flip' as const), at, bit: fc.nat(7) }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('set' as const), at, byte: fc.nat(255) }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('word' as const), at, width: fc.constantFrom(1 as const, 2 as const, 4 as const), value: fc.constantFrom(...INTERESTING), le: fc.boolean() }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('truncate' as const), at }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('extend' as const), bytes: byteList(1, 16), repeat: fc.constantFrom(1, 1, 7, 4096) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), at, len: fc.integer({ min: 1, max: 64 }) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('insert' as const), at, bytes: byteList(1, 16) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('splice' as const), donor: fc.nat(), from: at, len: fc.integer({ min: 1, max: 4096 }), to: at, overwrite: fc.boolean() }) },
    { weight: 1, arbitrary: fc.constant({ op: 'gzip' as const }) },
  );

/**
 * One to four edits. For a format holding JSON, most programs edit only the JSON (a byte edit
 * almost always breaks the JSON, and the decoders behind the parser would never be reached), some
 * only bytes, some both.
 */
const editsArb = (json: boolean): fc.Arbitrary<ByteEdit[]> => {
  const edits = (a: fc.Arbitrary<ByteEdit>) => fc.array(a, { minLength: 1, maxLength: 4 });
  if (!json) return edits(byteEditArb(false));
  const jsonOnly = fc.record({ op: fc.constant('json' as const), edit: jsonEditArb });
  return fc.oneof({ weight: 5, arbitrary: edits(jsonOnly) }, { weight: 3, arbitrary: edits(byteEditArb(false)) }, { weight: 2, arbitrary: edits(byteEditArb(true)) });
};

const concat = (...parts: readonly Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) out.set(p, o), (o += p.length);
  return out;
};

const gunzipOr = (b: Uint8Array): Uint8Array | undefined => {
  try {
    return new Uint8Array(gunzipSync(b, { maxOutputLength: 64 * 2 ** 20 }));
  } catch {
    return undefined;
  }
};
const isGz = (b: Uint8Array): boolean => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

/** Apply one edit; `seeds` are the donors of splices (the index past them is the mutant itself). */
function applyByteEdit(b: Uint8Array, e: ByteEdit, seeds: readonly Uint8Array[], json: JsonPart | undefined): Uint8Array {
  const n = b.length;
  switch (e.op) {
    case 'flip': {
      if (n === 0) return b;
      const out = b.slice();
      out[e.at % n] ^= 1 << e.bit;
      return out;
    }
    case 'set': {
      if (n === 0) return b;
      const out = b.slice();
      out[e.at % n] = e.byte;
      return out;
    }
    case 'word': {
      if (n < e.width) return b;
      const out = b.slice();
      const i = e.at % (n - e.width + 1);
      const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
      if (e.width === 1) v.setUint8(i, e.value & 0xff);
      else if (e.width === 2) v.setUint16(i, e.value & 0xffff, e.le);
      else v.setUint32(i, e.value >>> 0, e.le);
      return out;
    }
    case 'truncate':
      return b.slice(0, e.at % (n + 1));
    case 'extend': {
      const chunk = Uint8Array.from(e.bytes);
      return concat(b, ...Array.from({ length: e.repeat }, () => chunk));
    }
    case 'delete': {
      const i = e.at % (n + 1);
      return concat(b.subarray(0, i), b.subarray(Math.min(n, i + e.len)));
    }
    case 'insert': {
      const i = e.at % (n + 1);
      return concat(b.subarray(0, i), Uint8Array.from(e.bytes), b.subarray(i));
    }
    case 'splice': {
      const donor = e.donor % (seeds.length + 1) === seeds.length ? b : seeds[e.donor % (seeds.length + 1)];
      if (donor.length === 0) return b;
      const from = e.from % donor.length;
      const chunk = donor.slice(from, from + e.len);
      const to = e.to % (n + 1);
      return e.overwrite ? concat(b.subarray(0, to), chunk, b.subarray(Math.min(n, to + chunk.length))) : concat(b.subarray(0, to), chunk, b.subarray(to));
    }
    case 'gzip':
      return new Uint8Array(gzipSync(b));
    case 'json': {
      if (json === undefined) return b;
      const slot = json.slot(b);
      if (slot === undefined) return b;
      const text = applyJsonEdit(slot.text, e.edit, json.focus);
      return text === undefined ? b : slot.write(text);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// JSON edits

/** Where a format keeps JSON: its text and how to write a new text back into the bytes. */
export type JsonSlot = (b: Uint8Array) => { readonly text: string; readonly write: (text: string) => Uint8Array } | undefined;

/** A format's JSON: where it is, and the paths of its structure (where a focused edit goes). */
export interface JsonPart {
  readonly slot: JsonSlot;
  readonly focus: readonly string[];
}

/**
 * A JSON edit and where it picks its node: `all` nodes, those under the format's `focus` paths
 * (its structure, not its bulk), or the `top`-level members (format, version, checksum…).
 */
export type JsonEdit = JsonEditKind & { readonly scope: 'all' | 'focus' | 'top' };
type JsonEditKind =
  | { readonly kind: 'number'; readonly pick: number; readonly value: number }
  | { readonly kind: 'dim'; readonly pick: number; readonly value: number }
  | { readonly kind: 'remove'; readonly pick: number }
  | { readonly kind: 'add'; readonly pick: number; readonly key: string; readonly value: string }
  | { readonly kind: 'retype'; readonly pick: number; readonly value: string }
  | { readonly kind: 'string'; readonly pick: number; readonly value: string }
  | { readonly kind: 'nest'; readonly pick: number; readonly depth: number; readonly objects: boolean }
  | { readonly kind: 'raw-number'; readonly pick: number; readonly text: string }
  | { readonly kind: 'duplicate'; readonly pick: number };

/** Numbers a field may be changed to: the edges of every integer and float domain. */
const NUMBERS = [0, -0, 1, -1, 2, 3, 0.5, 1.5, -2.5, 255, 256, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 1e21, 1e308, -1e308, 5e-324, Number.EPSILON];
/**
 * Dimensions: invalid ones, ones past every typed array's length, and 2^20 — the largest a case
 * may meet without risking the process: a decoder that allocates what a header declares then
 * spends seconds and hundreds of MiB on it, and the bounds see it (2^24 would take minutes and GiBs).
 */
const HUGE = [0, -1, 0.5, 1e5, 2 ** 20, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 32 + 1, 2 ** 53, 1e21, 1e308];
/** Keys to add: prototype names, the empty key, near-misses of real fields. */
const KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '', 'x', 'checksum', 'version', 'shape', 'data', 'dtype', 'format', 'type', 'op', 'layers', 'kind'];
/** Values to add or to retype to, as JSON text (parsed at each use: `__proto__` stays an own key). */
const VALUES = [
  'null', 'true', 'false', '0', '-1', '1e308', '""', '"x"', '[]', '{}', '[1,2,3]', '[[]]', '{"a":{"b":{}}}',
  '{"__proto__":{"polluted":true}}', '{"dtype":"float32","shape":[1],"data":"AAAAAA=="}', '{"dtype":"float64","shape":[2],"data":"AAAAAAAAAAA="}',
  '{"type":"dense","units":3}', '{"op":"relu","name":"r"}', '{"op":"residual","name":"x","body":[],"pool":null}', '"sttn-checkpoint"', '"sttn-deployed"',
];
/** Strings a string may become: empty, prototype names, near-base64, long, odd Unicode. */
const STRINGS = ['', ' ', '__proto__', 'constructor', 'AAAA', 'AAAAAA==', 'AA==AA==', '====', 'A', '////', 'AAAA\n', 'float16', 'float64', 'int8', 'ternary9', 'NaN', '\u0000', '\ud800', 'é', '𝕏', 'A'.repeat(1 << 16), '0'.repeat(4096), 'sttn-checkpoint', 'l00_conv2d', 'adam', 'sgd'];
/** Valid JSON number spellings JSON.stringify never writes (1e999 parses to Infinity, 1e-400 to 0). */
const RAW_NUMBERS = ['1e999', '-1e999', '-0', '-0.0', '1.0', '1E0', '0.000001e6', '100000000000000000000000000000', '1e-400', '4294967296.0000001'];

const pick = fc.noBias(fc.nat({ max: 1 << 16 }));
const jsonEditKindArb: fc.Arbitrary<JsonEditKind> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('number' as const), pick, value: fc.constantFrom(...NUMBERS) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('dim' as const), pick, value: fc.constantFrom(...HUGE) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('remove' as const), pick }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('add' as const), pick, key: fc.constantFrom(...KEYS), value: fc.constantFrom(...VALUES) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('retype' as const), pick, value: fc.constantFrom(...VALUES) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('string' as const), pick, value: fc.constantFrom(...STRINGS) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('nest' as const), pick, depth: fc.constantFrom(2, 33, 257, 600, 5000, 100_000, 100_000), objects: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('raw-number' as const), pick, text: fc.constantFrom(...RAW_NUMBERS) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('duplicate' as const), pick }) },
);
const scopeArb = fc.oneof({ weight: 2, arbitrary: fc.constant('all' as const) }, { weight: 2, arbitrary: fc.constant('focus' as const) }, { weight: 1, arbitrary: fc.constant('top' as const) });
export const jsonEditArb: fc.Arbitrary<JsonEdit> = fc.tuple(jsonEditKindArb, scopeArb).map(([e, scope]) => ({ ...e, scope }));

/** Keys whose numbers are sizes, counts, offsets or positions: where a huge value hurts most. */
const DIM_KEYS = new Set(['shape', 'inputShape', 'classes', 'filters', 'units', 'kernelSize', 'size', 'strides', 'pads', 'pool', 'padding', 'offset', 'length', 'step', 'epoch', 'samplesSeen', 's', 'batchSize', 'epochs', 'evalBatchSize', 'rate', 'axis']);

type Container = Record<string, unknown> | unknown[];
interface Node {
  readonly parent: Container | null;
  readonly key: string | number | null;
  readonly value: unknown;
  /** the nearest object key above (an array's elements inherit their array's key) */
  readonly owner: string | null;
  /** the first two keys from the root (all a focus path needs; a whole path would grow with the square of the depth) */
  readonly head: readonly (string | number)[];
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every node of `doc` in document order, without recursion (a doc may be nested deeply). */
function nodes(doc: unknown, max = 200_000): Node[] {
  const out: Node[] = [];
  const stack: Node[] = [{ parent: null, key: null, value: doc, owner: null, head: [] }];
  while (stack.length > 0 && out.length < max) {
    const n = stack.pop()!;
    out.push(n);
    const v = n.value;
    const at = (k: string | number) => (n.head.length < 2 ? [...n.head, k] : n.head);
    if (Array.isArray(v)) for (let i = v.length - 1; i >= 0; i--) stack.push({ parent: v, key: i, value: v[i], owner: n.owner, head: at(i) });
    else if (isObj(v)) {
      const ks = Object.keys(v);
      for (let i = ks.length - 1; i >= 0; i--) stack.push({ parent: v, key: ks[i], value: v[ks[i]], owner: ks[i], head: at(ks[i]) });
    }
  }
  return out;
}

/** Set a key as an own data property (`__proto__` included, which plain assignment would not make). */
function put(parent: Container, key: string | number, value: unknown): void {
  if (Array.isArray(parent)) parent[key as number] = value;
  else Object.defineProperty(parent, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * `text` with one edit applied, or undefined when the text is not JSON (an earlier byte edit broke
 * it) or the edit finds nothing to change. The edit's scope says which nodes it picks among. Raw text (deep nesting, odd number spellings) goes in
 * through a placeholder, so that nothing here recurses over it.
 */
export function applyJsonEdit(text: string, e: JsonEdit, focus: readonly string[] = []): string | undefined {
  try {
    let doc: unknown = JSON.parse(text);
    // a focus path has one or two keys; a node is under it when its first keys are the path's
    const under = (n: Node) => focus.some((f) => f.split('.').every((k, i) => String(n.head[i]) === k));
    const every = nodes(doc);
    const all = e.scope === 'top' ? every.filter((n) => n.head.length === 1) : e.scope === 'focus' && focus.length > 0 ? every.filter(under) : every;
    const choose = (f: (n: Node) => boolean): Node | undefined => {
      const ns = all.filter(f);
      return ns.length === 0 ? undefined : ns[e.pick % ns.length];
    };
    const replace = (n: Node, v: unknown): void => {
      if (n.parent === null) doc = v;
      else put(n.parent, n.key!, v);
    };
    let raw: string | undefined;
    const PLACEHOLDER = '\u0001fuzz-raw\u0001';
    switch (e.kind) {
      case 'number':
      case 'raw-number': {
        const n = choose((x) => typeof x.value === 'number');
        if (n === undefined) return undefined;
        if (e.kind === 'number') replace(n, e.value);
        else (raw = e.text), replace(n, PLACEHOLDER);
        break;
      }
      case 'dim': {
        const n = choose((x) => typeof x.value === 'number' && x.owner !== null && DIM_KEYS.has(x.owner)) ?? choose((x) => typeof x.value === 'number');
        if (n === undefined) return undefined;
        replace(n, e.value);
        break;
      }
      case 'remove': {
        const n = choose((x) => x.parent !== null);
        if (n === undefined) return undefined;
        if (Array.isArray(n.parent)) n.parent.splice(n.key as number, 1);
        else delete (n.parent as Record<string, unknown>)[n.key as string];
        break;
      }
      case 'add': {
        const n = choose((x) => isObj(x.value));
        if (n === undefined) return undefined;
        put(n.value as Container, e.key, JSON.parse(e.value));
        break;
      }
      case 'retype': {
        const n = choose((x) => x.parent !== null);
        if (n === undefined) return undefined;
        replace(n, JSON.parse(e.value));
        break;
      }
      case 'string': {
        const n = choose((x) => typeof x.value === 'string');
        if (n === undefined) return undefined;
        replace(n, e.value);
        break;
      }
      case 'nest': {
        const n = choose((x) => x.parent !== null);
        if (n === undefined) return undefined;
        raw = e.objects ? `${'{"a":'.repeat(e.depth)}0${'}'.repeat(e.depth)}` : `${'['.repeat(e.depth)}${']'.repeat(e.depth)}`;
        replace(n, PLACEHOLDER);
        break;
      }
      case 'duplicate': {
        const n = choose((x) => Array.isArray(x.value) && x.value.length > 0);
        if (n === undefined) return undefined;
        const arr = n.value as unknown[];
        arr.push(JSON.parse(JSON.stringify(arr[e.pick % arr.length])));
        break;
      }
    }
    const out = JSON.stringify(doc);
    return raw === undefined ? out : out.replace(JSON.stringify(PLACEHOLDER), raw);
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Byte formats

export interface Seed {
  readonly name: string;
  readonly bytes: Uint8Array;
}

export type Reseal = 'none' | 'checksum' | 'v1';

/** A mutant of a byte format: a seed, edits applied in order, then an optional reseal. */
export interface BytesProgram {
  readonly seed: number;
  readonly edits: readonly ByteEdit[];
  readonly reseal: Reseal;
}

/** A byte format under fuzzing: its seeds, where its JSON is, how to reseal it, its decoder and what its results must satisfy. */
export interface ByteFormat<T> {
  readonly name: string;
  readonly integrity: boolean;
  /** the decoder returns an Either and is documented never to throw */
  readonly neverThrows: boolean;
  readonly seeds: readonly Seed[];
  readonly json?: JsonPart;
  /** the reseals this format knows (beside 'none'), and how to apply one; undefined when it cannot */
  readonly reseals?: readonly Exclude<Reseal, 'none'>[];
  readonly reseal?: (b: Uint8Array, how: Exclude<Reseal, 'none'>) => Uint8Array | undefined;
  /** the file name errors must name (a temp file's path for decoders that read files) */
  readonly file: string;
  /** decode; throws, or returns an Either (Left: refused) or the value */
  readonly decode: (b: Uint8Array, file: string) => unknown;
  readonly same: (a: T, b: T) => boolean;
  /** undefined when `v` respects the shapes it, or its input, declares, else what is wrong */
  readonly wellFormed: (v: T, input: Uint8Array) => string | undefined;
  /** the decoded value says it was not verified (a version-1 checkpoint) */
  readonly unverified?: (v: T) => boolean;
  readonly limits?: Limits;
}

const isEither = (r: unknown): r is E.Either<unknown, unknown> => isObj(r) && (r._tag === 'Left' || r._tag === 'Right');

/** The bytes of a program's mutant, and whether a reseal was applied. */
export function mutate(seeds: readonly Seed[], p: BytesProgram, json?: JsonPart, reseal?: ByteFormat<unknown>['reseal']): { bytes: Uint8Array; sealed: boolean } {
  const donors = seeds.map((s) => s.bytes);
  let b = seeds[p.seed % seeds.length].bytes;
  for (const e of p.edits) b = applyByteEdit(b, e, donors, json);
  if (p.reseal === 'none' || reseal === undefined) return { bytes: b, sealed: false };
  const r = reseal(b, p.reseal);
  return r === undefined ? { bytes: b, sealed: false } : { bytes: r, sealed: true };
}

/** The target of a byte format; every seed must decode, well formed (else the harness throws). */
export async function bytesTarget<T>(f: ByteFormat<T>): Promise<Target<BytesProgram>> {
  const limits = f.limits ?? DECODER_LIMITS;
  const decodeOnce = async (b: Uint8Array): Promise<{ ok: true; value: T } | { ok: false; error: unknown; returned: boolean }> => {
    try {
      const r = await f.decode(b, f.file);
      if (isEither(r)) return E.isLeft(r) ? { ok: false, error: r.left, returned: true } : { ok: true, value: r.right as T };
      return { ok: true, value: r as T };
    } catch (e) {
      return { ok: false, error: e, returned: false };
    }
  };
  const originals: T[] = [];
  for (const s of f.seeds) {
    const r = await decodeOnce(s.bytes);
    if (!r.ok) throw new Error(`fuzz harness: seed ${f.name}/${s.name} does not decode: ${describeError(r.error)}`);
    const bad = f.wellFormed(r.value, s.bytes);
    if (bad !== undefined) throw new Error(`fuzz harness: seed ${f.name}/${s.name} decodes malformed: ${bad}`);
    originals.push(r.value);
  }
  const reseals: Reseal[] = ['none', ...(f.reseals ?? [])];
  const arb = fc.record({
    seed: fc.nat({ max: f.seeds.length - 1 }),
    edits: editsArb(f.json !== undefined),
    reseal: reseals.length === 1 ? fc.constant<Reseal>('none') : fc.oneof({ weight: 2, arbitrary: fc.constant<Reseal>('none') }, { weight: 1, arbitrary: fc.constantFrom(...reseals.slice(1)) }),
  });
  return {
    name: f.name,
    integrity: f.integrity,
    arb,
    input: (p) => mutate(f.seeds, p, f.json, f.reseal as ByteFormat<unknown>['reseal']).bytes,
    describe: (p) => `seed ${f.seeds[p.seed % f.seeds.length].name}, edits ${JSON.stringify(p.edits, (_k, v: unknown) => (typeof v === 'string' ? clip(v, 60) : v))}, reseal ${p.reseal}`,
    async run(p) {
      let bytes: Uint8Array;
      let sealed: boolean;
      try {
        ({ bytes, sealed } = mutate(f.seeds, p, f.json, f.reseal as ByteFormat<unknown>['reseal']));
      } catch (e) {
        return { outcome: 'uncaught', detail: `fuzz harness failed to build the mutant: ${describeError(e)}`, ms: 0, peakMiB: 0, sealed: false, unverified: false };
      }
      const w = await watch(() => decodeOnce(bytes));
      const r = w.value!;
      const base = { ms: w.ms, peakMiB: w.peakMiB, sealed };
      if (!r.ok) {
        const outcome = f.neverThrows && !r.returned ? 'uncaught' : errorOutcome(r.error, f.file);
        const detail = (f.neverThrows && !r.returned ? 'threw (documented never to throw): ' : '') + describeError(r.error);
        return { ...base, outcome: bounded(w, limits, outcome), detail, unverified: false };
      }
      const unverified = f.unverified?.(r.value) ?? false;
      let bad: string | undefined;
      try {
        bad = f.wellFormed(r.value, bytes);
      } catch (e) {
        bad = `its shape check threw: ${describeError(e)}`;
      }
      if (bad !== undefined) return { ...base, outcome: bounded(w, limits, 'malformed'), detail: bad, unverified };
      const same = originals.some((o) => f.same(o, r.value));
      return { ...base, outcome: bounded(w, limits, same ? 'accepted-unchanged' : 'accepted-changed'), detail: same ? '' : 'decoded to a value no seed decodes to', unverified };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Equalities and shape checks

const f32Equal = (a: ArrayLike<number>, b: ArrayLike<number>): boolean => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
};

/** JSON with every object's keys sorted: equal strings for equal JSON values. */
const canonical = (v: unknown): string | undefined => {
  try {
    return JSON.stringify(v, (_k, x: unknown) => (isObj(x) ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, x[k]])) : x));
  } catch {
    return undefined;
  }
};
const sameJson = (a: unknown, b: unknown): boolean => {
  const ca = canonical(a);
  return ca !== undefined && ca === canonical(b);
};

/** Every tensor holds size(shape) finite values. */
function treeMisfit(tree: ParamTree, at: string): string | undefined {
  for (const [layer, rec] of Object.entries(tree)) {
    for (const [name, t] of Object.entries(rec)) {
      if (t.data.length !== size(t.shape)) return `${at}.${layer}.${name}: ${t.data.length} values for shape [${t.shape.join(', ')}]`;
      const bad = t.data.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) return `${at}.${layer}.${name}: non-finite value at ${bad}`;
    }
  }
  return undefined;
}

function imageMisfit(img: Image): string | undefined {
  if (!(img.height >= 1 && img.width >= 1 && [1, 2, 3, 4].includes(img.channels))) return `image ${img.width}×${img.height}×${img.channels}`;
  if (img.data.length !== img.height * img.width * img.channels) return `${img.data.length} values for ${img.width}×${img.height}×${img.channels}`;
  const bad = img.data.findIndex((v) => !(v >= 0 && v <= 1));
  return bad >= 0 ? `value ${img.data[bad]} at ${bad} outside [0, 1]` : undefined;
}

const sameImage = (a: Image, b: Image): boolean => a.height === b.height && a.width === b.width && a.channels === b.channels && f32Equal(a.data, b.data);

function deployedMisfit(m: DeployedModel): string | undefined {
  const shapes = opShapes(m);
  if (E.isLeft(shapes)) return `opShapes: ${shapes.left}`;
  const last = shapes.right[shapes.right.length - 1];
  if (last.length !== 1 || last[0] !== m.classes) return `last shape [${last.join(', ')}], classes ${m.classes}`;
  for (const op of allOps(m.ops)) {
    if (op.op !== 'conv2d' && op.op !== 'dense') continue;
    const n = op.shape.reduce((a, b) => a * b, 1);
    const o = op.shape[0];
    const perOut = (x: ArrayLike<number>) => x.length === 1 || x.length === o;
    const w = op.weights;
    const ok =
      w.kind === 'float'
        ? w.w.length === n
        : w.kind === 'binary'
          ? w.codes.length === n && perOut(w.scale) && w.codes.every((c) => c === 1 || c === -1)
          : w.codes.length === n && perOut(w.scalePos) && perOut(w.scaleNeg) && w.codes.every((c) => c === 1 || c === 0 || c === -1);
    if (!ok) return `${op.name}: weights do not fit shape [${op.shape.join(', ')}]`;
    if (op.bias !== null && op.bias.length !== o) return `${op.name}: bias of ${op.bias.length} for ${o} outputs`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Seeds

/** The tiny model of laws/toy.ts with fresh parameters, as a training run. */
function tinyRun(optimizer: 'adam' | 'sgd'): { model: Model; cfg: ReturnType<typeof cfgOf>; state: ReturnType<typeof initTraining> } {
  const model = tiny();
  const cfg = cfgOf({ epochs: 1, batchSize: 4, optimizer: { kind: optimizer, lr: 0.01 } });
  return { model, cfg, state: initTraining(cpu32, model, cfg) };
}

/** Checkpoint bytes of the tiny model; `data` is the run's data spec (`sttn eval` reads it). */
export function checkpointBytes(optimizer: 'adam' | 'sgd', data: string, gzip = false): Uint8Array {
  const { model, cfg, state } = tinyRun(optimizer);
  const c = toCheckpoint(model, cfg, state, 5, { data, history: [{ epoch: 1, loss: 1.5, trainAccuracy: 0.5, testAccuracy: null, seconds: 0.25 }] });
  return serializeCheckpoint({ ...c, createdAt: '2024-01-02T03:04:05.000Z' }, { gzip });
}

const utf8 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
const bytesOf = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));

/** The whole document of a (possibly gzipped) checkpoint; the gzip wrapping is kept on write. */
const checkpointJson: JsonSlot = (b) => {
  const gz = isGz(b);
  const content = gz ? gunzipOr(b) : b;
  if (content === undefined) return undefined;
  return { text: utf8(content), write: (t) => (gz ? new Uint8Array(gzipSync(bytesOf(t))) : bytesOf(t)) };
};

/**
 * The checkpoint resealed: its checksum recomputed (a version-1 document only loses it), or
 * rewritten as a version-1 file without one. The text is edited in place, not re-serialized, so
 * that raw spellings and deep nesting survive; a document whose checksum cannot be computed (it
 * holds 1e999) stays unsealed.
 */
export function resealCheckpoint(b: Uint8Array, how: 'checksum' | 'v1'): Uint8Array | undefined {
  const slot = checkpointJson(b);
  if (slot === undefined) return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(slot.text);
  } catch {
    return undefined;
  }
  if (!isObj(doc)) return undefined;
  const member = /"checksum"\s*:\s*"[^"]*"\s*,?/;
  const dropped = slot.text.replace(member, '');
  if (how === 'v1' || doc.version === 1) {
    const v1 = dropped.replace(/"version"\s*:\s*[^,}\]]*/, '"version":1');
    return v1 === dropped && doc.version !== 1 ? undefined : slot.write(v1);
  }
  const sum = documentChecksum(doc);
  if (sum === undefined) return undefined;
  const open = dropped.indexOf('{');
  if (open < 0) return undefined;
  const body = dropped.slice(open + 1).trimStart();
  return slot.write(`${dropped.slice(0, open)}{"checksum":${JSON.stringify(sum)}${body.startsWith('}') ? '' : ','}${body}`);
}

interface DecodedRun {
  readonly c: Checkpoint;
  readonly run: Run;
}

const sameCheckpoint = (a: Checkpoint, b: Checkpoint): boolean =>
  a.format === b.format &&
  a.version === b.version &&
  a.createdAt === b.createdAt &&
  sameJson(a.model, b.model) &&
  paramTreeBitEqual(a.params, b.params) &&
  paramTreeBitEqual(a.state, b.state) &&
  a.optimizer.kind === b.optimizer.kind &&
  a.optimizer.step === b.optimizer.step &&
  sameJson(a.optimizer.config, b.optimizer.config) &&
  Object.keys(a.optimizer.slots).length === Object.keys(b.optimizer.slots).length &&
  Object.keys(a.optimizer.slots).every((k) => Object.hasOwn(b.optimizer.slots, k) && paramTreeBitEqual(a.optimizer.slots[k], b.optimizer.slots[k])) &&
  a.rng.s.every((x, i) => x === b.rng.s[i]) &&
  a.progress.epoch === b.progress.epoch &&
  a.progress.step === b.progress.step &&
  a.progress.samplesSeen === b.progress.samplesSeen &&
  sameJson(a.meta, b.meta);

/** The checkpoint decoder: the bytes (`parseCheckpoint`), then the run checked against its model (`fromCheckpoint`). */
export function checkpointTarget(): Promise<Target<BytesProgram>> {
  const plain = checkpointBytes('adam', 'idx:/nonexistent/sttn-fuzz');
  return bytesTarget<DecodedRun>({
    name: 'checkpoint',
    integrity: true,
    neverThrows: true,
    seeds: [
      { name: 'adam', bytes: plain },
      { name: 'adam.gz', bytes: checkpointBytes('adam', 'idx:/nonexistent/sttn-fuzz', true) },
      { name: 'sgd', bytes: checkpointBytes('sgd', 'idx:/nonexistent/sttn-fuzz') },
      { name: 'adam-v1', bytes: resealCheckpoint(plain, 'v1')! },
    ],
    json: { slot: checkpointJson, focus: ['format', 'version', 'createdAt', 'model', 'optimizer.kind', 'optimizer.step', 'optimizer.config', 'rng', 'progress', 'meta.train'] },
    reseals: ['checksum', 'v1'],
    reseal: resealCheckpoint,
    file: 'fuzz-mutant-checkpoint.json',
    decode: (b, file) => {
      const c = parseCheckpoint(b, file);
      if (E.isLeft(c)) return c;
      const run = fromCheckpoint(c.right);
      return E.isLeft(run) ? run : E.right({ c: c.right, run: run.right });
    },
    same: (a, b) => sameCheckpoint(a.c, b.c),
    wellFormed: ({ run }) => {
      const expected = initModel(run.model, rng(1), 'float32');
      for (const [at, tree, want] of [
        ['params', run.state.params, expected.params],
        ['state', run.state.state, expected.state],
      ] as const) {
        const bad = treeMisfit(tree, at);
        if (bad !== undefined) return bad;
        for (const layer of Object.keys(want)) {
          for (const name of Object.keys(want[layer])) {
            const t = tree[layer]?.[name];
            if (t === undefined || t.shape.join() !== want[layer][name].shape.join()) return `${at}.${layer}.${name}: does not fit the model spec`;
          }
        }
      }
      for (const [k, slot] of Object.entries(run.state.optimizer.slots)) {
        const bad = treeMisfit(slot, `slots.${k}`);
        if (bad !== undefined) return bad;
      }
      return undefined;
    },
    unverified: ({ c }) => c.version === 1,
  });
}

/** The deployed models of the seeds: tiny (conv, folded batch norm, STTN conv, dense), resnet-small (residual ops), mlp 1+1 (binary weights, sign activations). */
function deployedSeeds(): Seed[] {
  const t = tinyRun('adam');
  const tinyM = exportModel(cpu32, { model: t.model, state: t.state });
  const build = (spec: unknown): DeployedModel => {
    const m = buildModel(spec);
    if (E.isLeft(m)) throw m.left;
    return exportModel(cpu32, { model: m.right, state: initModel(m.right, rng(7), 'float32') });
  };
  const resnet = build(preset('resnet-small', { width: 1 / 4, inputShape: [8, 8, 1], classes: 3 }));
  const mlp = build(preset('mlp', { bits: '1+1', width: 1 / 16, inputShape: [4, 4, 1], classes: 3 }));
  return [
    { name: 'tiny-2bit', bytes: serializeDeployed(tinyM, '2bit') },
    { name: 'tiny-base3', bytes: serializeDeployed(tinyM, 'base3') },
    { name: 'resnet-small-2bit', bytes: serializeDeployed(resnet, '2bit') },
    { name: 'mlp-1+1-base3', bytes: serializeDeployed(mlp, 'base3') },
  ];
}

const PREFIX = 20;
const u32 = (b: Uint8Array, i: number): number => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(i, true);

/** The `.sttn` header's JSON (bytes [20, 20+H)); a new header is padded to 8 and H rewritten, the rest kept (CRC included). */
const deployedJson: JsonSlot = (b) => {
  if (b.length < PREFIX) return undefined;
  const H = u32(b, 12);
  if (PREFIX + H > b.length) return undefined;
  return {
    text: utf8(b.subarray(PREFIX, PREFIX + H)),
    write: (t) => {
      const json = bytesOf(t);
      const h = Math.ceil((PREFIX + json.length) / 8) * 8 - PREFIX;
      const header = new Uint8Array(h).fill(0x20);
      header.set(json);
      const prefix = b.slice(0, PREFIX);
      new DataView(prefix.buffer).setUint32(12, h, true);
      return concat(prefix, header, b.subarray(PREFIX + H));
    },
  };
};

/** The `.sttn` file made self-consistent: P from the file's length, the CRC-32 recomputed. */
export function resealDeployed(b: Uint8Array): Uint8Array | undefined {
  if (b.length < PREFIX + 4) return undefined;
  const out = b.slice();
  const view = new DataView(out.buffer);
  const H = view.getUint32(12, true);
  const P = out.length - PREFIX - 4 - H;
  if (P >= 0) view.setUint32(16, P, true);
  view.setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)), true);
  return out;
}

export function deployedTarget(): Promise<Target<BytesProgram>> {
  return bytesTarget<DeployedModel>({
    name: '.sttn',
    integrity: true,
    neverThrows: true,
    seeds: deployedSeeds(),
    json: { slot: deployedJson, focus: ['format', 'name', 'inputShape', 'classes', 'encoding', 'ops'] },
    reseals: ['checksum'],
    reseal: resealDeployed,
    file: 'fuzz-mutant.sttn',
    decode: (b, file) => parseDeployed(b, file),
    same: deployedBitEqual,
    wellFormed: deployedMisfit,
  });
}

/** An IDX file: `magic`, dims (u32 big-endian), then the bytes. */
export function idxBytes(magic: number, dims: readonly number[], body: ArrayLike<number>): Uint8Array {
  const h = new Uint8Array(4 + 4 * dims.length);
  const v = new DataView(h.buffer);
  v.setUint32(0, magic, false);
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
  return concat(h, Uint8Array.from(body));
}

const pattern = (n: number, salt: number): number[] => Array.from({ length: n }, (_, i) => (i * 37 + salt * 91) % 256);

const idxImageSeeds = (): Seed[] => {
  const a = idxBytes(IDX_IMAGES_MAGIC, [3, 4, 4], pattern(48, 1));
  const b = idxBytes(IDX_IMAGES_MAGIC, [1, 2, 5], pattern(10, 2));
  return [
    { name: '3×4×4', bytes: a },
    { name: '3×4×4.gz', bytes: new Uint8Array(gzipSync(a)) },
    { name: '1×2×5', bytes: b },
  ];
};

const declaredDims = (content: Uint8Array, rank: number): number[] => {
  const v = new DataView(content.buffer, content.byteOffset, content.byteLength);
  return Array.from({ length: rank }, (_, i) => v.getUint32(4 + 4 * i, false));
};

/** IDX images as src/data/idx.ts reads them: the declared size checked before inflating, then parsed. */
export function idxImagesTarget(): Promise<Target<BytesProgram>> {
  const file = 'fuzz-mutant-images-idx3-ubyte';
  return bytesTarget<{ declared: number[]; images: IdxImages }>({
    name: 'IDX images',
    integrity: false,
    neverThrows: false,
    seeds: idxImageSeeds(),
    file,
    decode: (b, f) => {
      const content = maybeGunzip(b, f, { declared: idxDeclared(f, IDX_IMAGES_MAGIC, 'images') });
      const images = parseIdxImages(content, f);
      return { declared: declaredDims(content, 3), images };
    },
    same: (a, b) => a.images.n === b.images.n && a.images.rows === b.images.rows && a.images.cols === b.images.cols && f32Equal(a.images.pixels, b.images.pixels),
    wellFormed: ({ declared, images: x }) =>
      x.n !== declared[0] || x.rows !== declared[1] || x.cols !== declared[2]
        ? `n·rows·cols ${x.n}·${x.rows}·${x.cols}, the header declares ${declared.join('·')}`
        : x.rows < 1 || x.cols < 1 || x.pixels.length !== x.n * x.rows * x.cols
          ? `${x.pixels.length} pixels for ${x.n}·${x.rows}·${x.cols}`
          : undefined,
  });
}

export function idxLabelsTarget(): Promise<Target<BytesProgram>> {
  const a = idxBytes(IDX_LABELS_MAGIC, [6], [0, 1, 2, 9, 3, 0]);
  return bytesTarget<{ declared: number; labels: Uint8Array }>({
    name: 'IDX labels',
    integrity: false,
    neverThrows: false,
    seeds: [
      { name: '6 labels', bytes: a },
      { name: '6 labels.gz', bytes: new Uint8Array(gzipSync(a)) },
      { name: '0 labels', bytes: idxBytes(IDX_LABELS_MAGIC, [0], []) },
    ],
    file: 'fuzz-mutant-labels-idx1-ubyte',
    decode: (b, f) => {
      const content = maybeGunzip(b, f, { declared: idxDeclared(f, IDX_LABELS_MAGIC, 'labels') });
      return { declared: declaredDims(content, 1)[0], labels: parseIdxLabels(content, f) };
    },
    same: (a, b) => f32Equal(a.labels, b.labels),
    wellFormed: ({ declared, labels }) => (labels.length === declared ? undefined : `${labels.length} labels, the header declares ${declared}`),
  });
}

const CIFAR_RECORD = 1 + 3 * CIFAR10_PLANE;

/** CIFAR-10 batch bytes: `labels.length` records, pixels a pattern. */
export function cifarBytes(labels: readonly number[]): Uint8Array {
  const out = new Uint8Array(labels.length * CIFAR_RECORD);
  labels.forEach((l, k) => {
    out[k * CIFAR_RECORD] = l;
    for (let p = 1; p < CIFAR_RECORD; p++) out[k * CIFAR_RECORD + p] = (p * 13 + k * 7) % 256;
  });
  return out;
}

/** CIFAR-10 as src/data/cifar10.ts loads a batch file: gunzipped within the limit, counted, decoded into NHWC. */
export function cifarTarget(): Promise<Target<BytesProgram>> {
  const two = cifarBytes([3, 9]);
  return bytesTarget<{ n: number; images: Float32Array; labels: Uint8Array }>({
    name: 'CIFAR-10',
    integrity: false,
    neverThrows: false,
    seeds: [
      { name: '2 records', bytes: two },
      { name: '2 records.gz', bytes: new Uint8Array(gzipSync(two)) },
      { name: '1 record', bytes: cifarBytes([0]) },
    ],
    file: 'fuzz-mutant-data_batch_1.bin',
    decode: (b, f) => {
      const content = maybeGunzip(b, f, { maxBytes: CIFAR10_MAX_BYTES });
      const n = cifar10Records(content, f);
      const images = new Float32Array(n * CIFAR10_PLANE * 3);
      const labels = new Uint8Array(n);
      decodeCifar10Into(content, f, images, labels, 0);
      return { n, images, labels };
    },
    same: (a, b) => a.n === b.n && f32Equal(a.labels, b.labels) && f32Equal(a.images, b.images),
    wellFormed: ({ n, images, labels }) => {
      if (images.length !== n * 3 * CIFAR10_PLANE || labels.length !== n) return `${images.length} pixels and ${labels.length} labels for ${n} records`;
      const l = labels.findIndex((x) => x >= CIFAR10_CLASSES);
      if (l >= 0) return `label ${labels[l]} ≥ ${CIFAR10_CLASSES} at ${l}`;
      const p = images.findIndex((x) => !(x >= 0 && x <= 1));
      return p >= 0 ? `pixel ${images[p]} at ${p} outside [0, 1]` : undefined;
    },
  });
}

/** A binary PGM (P5) with a comment in its header. */
export function pgmBytes(width: number, height: number, maxval: number, comment = true): Uint8Array {
  const head = bytesOf(`P5\n${comment ? '# fuzz seed\n' : ''}${width} ${height}\n${maxval}\n`);
  const bpp = maxval < 256 ? 1 : 2;
  const px = new Uint8Array(width * height * bpp);
  for (let p = 0; p < width * height; p++) {
    const v = (p * 37) % (maxval + 1);
    if (bpp === 1) px[p] = v;
    else (px[2 * p] = v >> 8), (px[2 * p + 1] = v & 0xff);
  }
  return concat(head, px);
}

export function pgmTarget(): Promise<Target<BytesProgram>> {
  return bytesTarget<Image>({
    name: 'PGM',
    integrity: false,
    neverThrows: false,
    seeds: [
      { name: '4×4 maxval 255', bytes: pgmBytes(4, 4, 255) },
      { name: '3×2 maxval 1000', bytes: pgmBytes(3, 2, 1000, false) },
      { name: '1×1 maxval 1', bytes: pgmBytes(1, 1, 1, false) },
    ],
    file: 'fuzz-mutant.pgm',
    decode: (b, f) => parsePgm(b, f),
    same: sameImage,
    wellFormed: imageMisfit,
  });
}

/** A PNG through pngjs: colour type 0 (grey), 2 (RGB), 4 (grey + alpha) or 6 (RGBA), 8 or 16 bits. */
export function pngBytes(width: number, height: number, colorType: 0 | 2 | 4 | 6, bitDepth: 8 | 16 = 8): Uint8Array {
  const img = new pngjs.PNG({ width, height });
  for (let i = 0; i < img.data.length; i++) img.data[i] = (i * 29) % 256;
  return new Uint8Array(pngjs.PNG.sync.write(img, { colorType, bitDepth, inputHasAlpha: true }));
}

/** Samples per pixel of each PNG colour type. */
const PNG_SAMPLES: Readonly<Record<number, number>> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
/** Adam7 passes: x start, y start, x step, y step. */
const PNG_ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] as const;

/**
 * When `b` is a PNG whose image data (its IDAT chunks, inflated) holds fewer bytes than its IHDR
 * declares — a filter byte and the packed samples of every row, of every Adam7 pass when
 * interlaced —, what is missing; else undefined (not a PNG, or nothing to judge). Written here,
 * apart from src/infer/images.ts, as the oracle of "an accepted image holds the rows it declares".
 */
export function pngShortfall(b: Uint8Array): string | undefined {
  if (b.length < 8 || b[0] !== 0x89 || b[1] !== 0x50 || b[2] !== 0x4e || b[3] !== 0x47) return undefined;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const type = (at: number) => String.fromCharCode(b[at], b[at + 1], b[at + 2], b[at + 3]);
  let ihdr: number | undefined;
  const idat: Uint8Array[] = [];
  for (let at = 8; at + 12 <= b.length; ) {
    const end = at + 12 + view.getUint32(at, false);
    if (end > b.length || type(at + 4) === 'IEND') break;
    if (type(at + 4) === 'IHDR' && ihdr === undefined) ihdr = at + 8;
    if (type(at + 4) === 'IDAT') idat.push(b.subarray(at + 8, end - 4));
    at = end;
  }
  if (ihdr === undefined || ihdr + 13 > b.length) return undefined;
  const [width, height] = [view.getUint32(ihdr, false), view.getUint32(ihdr + 4, false)];
  const [depth, colour, interlace] = [b[ihdr + 8], b[ihdr + 9], b[ihdr + 12]];
  const samples = PNG_SAMPLES[colour];
  if (samples === undefined || ![1, 2, 4, 8, 16].includes(depth)) return undefined;
  const rows = (w: number, h: number) => (w > 0 && h > 0 ? h * (Math.ceil((w * samples * depth) / 8) + 1) : 0);
  const want = interlace === 0 ? rows(width, height) : PNG_ADAM7.reduce((n, [x0, y0, dx, dy]) => n + rows(Math.ceil((width - x0) / dx), Math.ceil((height - y0) / dy)), 0);
  if (!(want <= 2 ** 30)) return undefined;
  let got: number;
  try {
    // a cut stream yields what it holds; a stream longer than declared stops just past it
    got = inflateSync(concat(...idat), { finishFlush: zlibConstants.Z_SYNC_FLUSH, maxOutputLength: want + 1 }).length;
  } catch {
    // more than declared (not short), or a stream zlib cannot read: nothing to judge here
    return undefined;
  }
  return got < want ? `its image data inflates to ${got} bytes, but IHDR declares ${width}×${height}, colour type ${colour}, depth ${depth}${interlace === 0 ? '' : ', interlaced'}: ${want} bytes` : undefined;
}

/** Every chunk's CRC recomputed (the chunks walked from byte 8 while their lengths fit). */
export function resealPng(b: Uint8Array): Uint8Array | undefined {
  if (b.length < 8) return undefined;
  const out = b.slice();
  const view = new DataView(out.buffer);
  let i = 8;
  let any = false;
  while (i + 12 <= out.length) {
    const len = view.getUint32(i, false);
    if (i + 12 + len > out.length) break;
    view.setUint32(i + 8 + len, crc32(out.subarray(i + 4, i + 8 + len)), false);
    any = true;
    i += 12 + len;
  }
  return any ? out : undefined;
}

export function pngTarget(): Promise<Target<BytesProgram>> {
  return bytesTarget<Image>({
    name: 'PNG',
    integrity: false,
    neverThrows: false,
    seeds: [
      { name: 'grey 4×4', bytes: pngBytes(4, 4, 0) },
      { name: 'RGB 3×3', bytes: pngBytes(3, 3, 2) },
      { name: 'RGBA 2×2', bytes: pngBytes(2, 2, 6) },
      { name: 'grey+alpha 16-bit 2×3', bytes: pngBytes(2, 3, 4, 16) },
    ],
    reseals: ['checksum'],
    reseal: resealPng,
    file: 'fuzz-mutant.png',
    decode: (b, f) => parsePng(b, f),
    same: sameImage,
    wellFormed: (img, input) => imageMisfit(img) ?? pngShortfall(input),
  });
}

/** `readImages` on a file: PGM, PNG or IDX told by content (IDX possibly gzipped), every image of an IDX file. */
export function imagesTarget(dir: string): Promise<Target<BytesProgram>> {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'fuzz-mutant-image');
  const idx = idxBytes(IDX_IMAGES_MAGIC, [2, 4, 4], pattern(32, 3));
  return bytesTarget<Image[]>({
    name: 'images (readImages)',
    integrity: false,
    neverThrows: false,
    seeds: [
      { name: 'IDX 2×4×4', bytes: idx },
      { name: 'IDX 2×4×4.gz', bytes: new Uint8Array(gzipSync(idx)) },
      { name: 'PGM 4×4', bytes: pgmBytes(4, 4, 255) },
      { name: 'PNG grey 4×4', bytes: pngBytes(4, 4, 0) },
    ],
    reseals: ['checksum'],
    reseal: resealPng,
    file,
    decode: (b, f) => {
      writeFileSync(f, b);
      return readImages(f);
    },
    same: (a, b) => a.length === b.length && a.every((x, i) => sameImage(x, b[i])),
    wellFormed: (imgs, input) => {
      for (const img of imgs) {
        const bad = imageMisfit(img);
        if (bad !== undefined) return `${img.label}: ${bad}`;
      }
      return pngShortfall(input);
    },
  });
}

// ---------------------------------------------------------------------------------------------
// The command line

/** One token of a CLI mutant: a flag of the command with a value, a bad flag, a file, or raw text. */
export type CliToken =
  | { readonly t: 'flag'; readonly flag: number; readonly value: number; readonly eq: boolean }
  | { readonly t: 'bad-flag'; readonly which: number }
  | { readonly t: 'garbled-flag'; readonly flag: number; readonly at: number; readonly ch: string }
  | { readonly t: 'file'; readonly which: number }
  | { readonly t: 'raw'; readonly text: string };

export interface CliProgram {
  readonly command: string;
  readonly tokens: readonly CliToken[];
}

const CLI_COMMANDS = Object.keys(COMMANDS);
const ODD_COMMANDS = ['help', '--help', '-h', '--version', '-v', '', 'trian', 'EVAL', 'predict\u0000', '--bogus', '-x', '-', '--', 'help'];
const BAD_FLAGS = ['--bogus', '--epoch', '--jsonn', '-z', '--', '-', '---json', '--=1', '--json=', '--json=yes', '-hj', '--no-json', '--help=1', '-h', '--version', '--constructor', '--__proto__', '--toString'];
/** Flag values: bad numbers, empty, odd text, names of things that do not exist (never a valid data source). */
const FLAG_VALUES = [
  '', ' ', 'abc', '-1', '0', '1', '2', '1.5', '1e309', '1e3', 'NaN', 'Infinity', '-Infinity', '0x10', '0b11', '9007199254740993', '99999999999999999999', ' 3', '3 ', '٣',
  '--json', '-h', '\u0000', 'é', 'idx:', 'cifar10:', 'idx:/nonexistent/sttn-fuzz', 'cifar10:/nonexistent/sttn-fuzz', 'bogus', 'gpujs:', 'gpujs:bogus', 'cpu', 'cpu64', 'wasm',
  'reference', 'auto', '2bit', 'base3', 'ternary', 'sttn', 'twn', 'ttq', 'adam', 'sgd', 'mlp', 'vgg7', '1+1', '2+2', '32+32', 'official', 'channel', 'quick', 'full', 'l00',
];

/** The files a CLI mutant may name: missing, a directory, empty, garbage, valid ones, odd names. */
function cliFiles(dir: string): string[] {
  const data = `idx:${join(dir, 'no-data')}`;
  const files = {
    checkpoint: join(dir, 'checkpoint.json'),
    model: join(dir, 'model.sttn'),
    image: join(dir, 'image.pgm'),
    empty: join(dir, 'empty'),
    garbage: join(dir, 'garbage.bin'),
  };
  if (!existsSync(files.checkpoint)) {
    writeFileSync(files.checkpoint, checkpointBytes('adam', data));
    const t = tinyRun('adam');
    writeFileSync(files.model, serializeDeployed(exportModel(cpu32, { model: t.model, state: t.state }), '2bit'));
    writeFileSync(files.image, pgmBytes(4, 4, 255));
    writeFileSync(files.empty, new Uint8Array(0));
    writeFileSync(files.garbage, Uint8Array.from(pattern(300, 5)));
  }
  return [...Object.values(files), join(dir, 'missing.json'), join(dir, 'no', 'such', 'dir', 'x.sttn'), dir, `${dir}/`, 'a\u0000b', 'x'.repeat(5000), '', '-', join(dir, 'out.sttn')];
}

const cliTokenArb: fc.Arbitrary<CliToken> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant('flag' as const), flag: fc.nat(63), value: fc.nat(FLAG_VALUES.length - 1), eq: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('bad-flag' as const), which: fc.nat(BAD_FLAGS.length - 1) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('garbled-flag' as const), flag: fc.nat(63), at: fc.nat(31), ch: fc.constantFrom('', 'x', '-', '=', ' ', 'É') }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('file' as const), which: fc.nat(63) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('raw' as const), text: fc.string({ maxLength: 8 }) }) },
);

/**
 * The command line, in-process: `main(argv, env)` with captured streams, backends that never
 * compile anything (cpu32 for every known name), and a signal aborted from the start. Only argument
 * vectors that fail fast are drawn: `train` and `experiment` always end with `--out` in the temp
 * directory and `--data` naming a directory that does not exist, so no training starts, and
 * `export` with `--out` in the temp directory, so nothing is written outside `dir`; a command that
 * gets past its checks meets the aborted signal (exit 130).
 */
export function cliTarget(dir: string): Target<CliProgram> {
  mkdirSync(dir, { recursive: true });
  const files = cliFiles(dir);
  // the last value of a flag wins: whatever came before, these hold
  const safety: Readonly<Record<string, readonly string[]>> = {
    train: ['--out', join(dir, 'run'), '--data', `idx:${join(dir, 'no-data')}`],
    experiment: ['--out', join(dir, 'experiment'), '--data', `idx:${join(dir, 'no-data')}`],
    export: ['--out', join(dir, 'export.sttn')],
  };
  const allFlags = [...new Set(Object.values(COMMANDS).flatMap((c) => Object.keys(c.flags)))];
  const argvOf = (p: CliProgram): string[] => {
    const cmd = Object.hasOwn(COMMANDS, p.command) ? COMMANDS[p.command] : undefined;
    const flags = cmd === undefined ? allFlags : [...Object.keys(cmd.flags), 'help'];
    const argv = [p.command];
    for (const t of p.tokens) {
      switch (t.t) {
        case 'flag': {
          const f = flags[t.flag % flags.length];
          const v = FLAG_VALUES[t.value];
          if (t.eq) argv.push(`--${f}=${v}`);
          else argv.push(`--${f}`, v);
          break;
        }
        case 'bad-flag':
          argv.push(BAD_FLAGS[t.which]);
          break;
        case 'garbled-flag': {
          const f = `--${flags[t.flag % flags.length]}`;
          const i = 2 + (t.at % (f.length - 1));
          argv.push(f.slice(0, i) + t.ch + f.slice(i + (t.ch === '' ? 1 : 0)));
          break;
        }
        case 'file':
          argv.push(files[t.which % files.length]);
          break;
        case 'raw':
          argv.push(t.text);
          break;
      }
    }
    if (Object.hasOwn(safety, p.command)) argv.push(...safety[p.command]);
    return argv.slice(p.command === '' && p.tokens.length === 0 ? 1 : 0);
  };
  const known = new Set(['cpu', 'cpu32', 'cpu64']);
  const over = {
    loadBackend: async (name: string) => (known.has(name) ? backendByName(name) : name === 'wasm' || name === 'gpujs' || /^gpujs:(cpu|webasm|headlessgl|webgpu|webgl|webgl2)$/.test(name) ? cpu32 : backendByName(name)),
    loadKernels: async (name: string) => (name === 'wasm' ? referenceTernaryKernels : kernelsByName(name)),
  };
  return {
    name: 'CLI arguments',
    integrity: false,
    arb: fc.record({
      command: fc.oneof({ weight: 10, arbitrary: fc.constantFrom(...CLI_COMMANDS) }, { weight: 2, arbitrary: fc.constantFrom(...ODD_COMMANDS) }, { weight: 1, arbitrary: fc.string({ maxLength: 6 }) }),
      tokens: fc.array(cliTokenArb, { maxLength: 6 }),
    }),
    input: argvOf,
    describe: (p) => `sttn ${JSON.stringify(argvOf(p).map((a) => clip(a, 60)))}`,
    async run(p) {
      const argv = argvOf(p);
      const io = captureIo();
      const ac = new AbortController();
      ac.abort();
      const w = await watch(() => main(argv, cliEnv(io, ac.signal, over)));
      const base = { ms: w.ms, peakMiB: w.peakMiB, sealed: false, unverified: false };
      if (w.threw) return { ...base, outcome: 'uncaught', detail: `main threw: ${describeError(w.error)}` };
      const code = w.value!;
      const err = io.stderr.join('');
      const out = io.stdout.join('\n');
      const lines = err.split('\n').filter((l) => l.trim() !== '');
      const last = lines[lines.length - 1] ?? '';
      const stack = lines.find((l) => /^\s+at /.test(l));
      let bad: string | undefined;
      if (stack !== undefined) bad = `a stack trace on stderr: ${clip(stack, 120)}`;
      else if (code === 2 && out !== '') bad = `usage error (2) with output on stdout: ${clip(out, 120)}`;
      else if ((code === 1 || code === 2) && !/^sttn\b/.test(last)) bad = `exit ${code}, but the last line of stderr does not start with "sttn": ${clip(last, 160)}`;
      else if (code === 1 && !/^sttn [\w-]*:/.test(last)) bad = `exit 1 without naming the command: ${clip(last, 160)}`;
      else if (![0, 1, 2, 130].includes(code)) bad = `exit code ${code}`;
      if (bad !== undefined) return { ...base, outcome: bounded(w, CLI_LIMITS, 'malformed'), detail: `exit ${code}: ${bad}` };
      const outcome: Outcome = code === 1 || code === 2 ? 'clean-error' : 'accepted-unchanged';
      return { ...base, outcome: bounded(w, CLI_LIMITS, outcome), detail: code === 1 || code === 2 ? `exit ${code}: ${clip(last, 200)}` : `exit ${code}` };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// All of them

/** The targets by name, in the order laws and the bench run them; `dir` holds the files some of them need. */
export const TARGETS: Readonly<Record<string, (dir: string) => Promise<Target> | Target>> = {
  checkpoint: () => checkpointTarget(),
  sttn: () => deployedTarget(),
  'idx-images': () => idxImagesTarget(),
  'idx-labels': () => idxLabelsTarget(),
  cifar10: () => cifarTarget(),
  pgm: () => pgmTarget(),
  png: () => pngTarget(),
  images: (dir) => imagesTarget(join(dir, 'images')),
  cli: (dir) => cliTarget(join(dir, 'cli')),
};
