/**
 * The deployed-model container (`.sttn` file) as bytes: versioned, checksummed, and sized by one layout.
 *
 *   offset  bytes  content
 *   0       8      magic 89 53 54 54 4E 0D 0A 1A  ("\x89STTN\r\n\x1a": a non-ASCII first byte and
 *                  the CR LF / ^Z pair catch text-mode transfers, as PNG's signature does)
 *   8       4      version, u32 little-endian (this build writes and reads 1)
 *   12      4      H, the header's byte length, u32 LE
 *   16      4      P, the payload's byte length, u32 LE
 *   20      H      header: UTF-8 JSON, padded with spaces so that the payload starts at a
 *                  multiple of 8 from the start of the file
 *   20+H    P      payload: the tensors, each at its header offset (relative to the payload),
 *                  each offset a multiple of 4, gaps zero
 *   20+H+P  4      CRC-32 (IEEE, as zlib's `crc32`; ./crc32.ts) of bytes [0, 20+H+P), u32 LE
 *
 * The header (decoded with io-ts) holds the topology and the tensor table:
 *   { format: "sttn-deployed", name, inputShape, classes, encoding: "2bit" | "base3",
 *     ops: [ { op, name, …, with tensors named, e.g. weights: { kind: "ternary",
 *              codes: "l04_conv2d.codes", scalePos: "l04_conv2d.scale", scaleNeg: "l04_conv2d.scale" } } ],
 *     tensors: [ { name, encoding: float32 | ternary2 | ternary3 | binary1, shape, offset, length } ],
 *     source: { … } }
 * Ternary codes use the model-wide encoding (`2bit` → ternary2, `base3` → ternary3; see
 * src/export/pack.ts), binary codes 1 bit, everything else float32.
 *
 * `layout` computes every byte of the header and every offset without touching the payload, and
 * both `serializeDeployed` and `exportedSize` take their numbers from it: the predicted size is the
 * written size by construction.
 *
 * Loading never throws on bad content: a missing, foreign, newer, truncated or corrupt file, a bad
 * header field or tensor is a `Left<DeployFileError>` naming the file, the field and what is wrong.
 * Checks run in the order that gives the most useful message: magic (foreign), version (newer),
 * lengths (truncated), checksum (corrupt), header fields, tensor table, tensor contents, shapes.
 * Limits, each checked before the work it bounds: the file at most 1 GiB (DEPLOY_MAX_BYTES), the
 * header at most 16 MiB (HEADER_MAX_BYTES, from the prefix), residual blocks nested at most 32
 * deep (MAX_NESTING) and JSON at most 80 levels deep (on the parsed JSON before the recursive
 * codec runs), every tensor's bytes inside the payload and no two tensors sharing a byte (before
 * any is decoded).
 *
 * This module works on bytes and has no `node:` import (browsers parse `.sttn` files with it);
 * container.ts adds the Node file functions `saveDeployed` / `loadDeployed`.
 *
 * Law (laws/export.test.ts): load(save(m)) is bit-equal to m for both encodings;
 * exportedSize(m, e) = the written file's size; every truncation and every single-byte change of
 * a file is a Left naming the file, a change past the prefix a checksum Left; a foreign file, a
 * newer version and a bad header field are Lefts naming the field; a header past its length
 * limit, residual blocks nested past the limit (20,000 deep included), and tensors whose bytes
 * overlap or leave the payload are Lefts naming the field, never a thrown RangeError.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { formatErrors, JsonObject, NonNegativeInt, oneOf, PositiveInt, PositiveNumber, quote, strict } from '../codec.js';
import { ConfigError, SttnError } from '../errors.js';
import { crc32 } from './crc32.js';
import { nestingDepth, opShapes, type Act, type DeployedModel, type DeployedOp, type Weights } from './deployed.js';
import { packCodes, packedBytes, packFloat32, unpackCodes, unpackFloat32, type TensorEncoding } from './pack.js';

export const DEPLOY_MAGIC = Uint8Array.of(0x89, 0x53, 0x54, 0x54, 0x4e, 0x0d, 0x0a, 0x1a);
export const DEPLOY_VERSION = 1;
export const DEPLOY_FORMAT = 'sttn-deployed';
/** magic, version, H, P */
export const PREFIX_BYTES = 20;
export const CHECKSUM_BYTES = 4;

/** The most bytes `loadDeployed` reads unless told otherwise: 1 GiB (cnn-small's file is tens of kB). */
export const DEPLOY_MAX_BYTES = 2 ** 30;
/** The most bytes the JSON header (H) may have unless told otherwise: 16 MiB (resnet-small's is a few kB). */
export const HEADER_MAX_BYTES = 2 ** 24;
/** The deepest residual blocks may nest inside residual blocks unless told otherwise: 32 (the presets nest 1). */
export const MAX_NESTING = 32;

/** Limits of `parseDeployed`; each is checked before the work it bounds. */
export interface ParseOptions {
  /** The most bytes of the JSON header, from the prefix, before it is decoded (default HEADER_MAX_BYTES). */
  readonly maxHeaderBytes?: number;
  /** The deepest residual nesting, from the parsed JSON, before it is decoded (default MAX_NESTING). */
  readonly maxNesting?: number;
}

/** Limits of `loadDeployed`: those of parsing, and the size of the file (default DEPLOY_MAX_BYTES). */

export type Encoding = '2bit' | 'base3';
export const ENCODINGS: readonly Encoding[] = ['2bit', 'base3'];
const ternaryEncoding = (e: Encoding): TensorEncoding => (e === '2bit' ? 'ternary2' : 'ternary3');

export type DeployErrorKind = 'missing' | 'unreadable' | 'magic' | 'version' | 'truncated' | 'checksum' | 'header' | 'tensor' | 'write';

/** A deployed-model file could not be read or written; names the file and the field. */
export class DeployFileError extends SttnError {
  override readonly name = 'DeployFileError';
  constructor(
    readonly file: string,
    readonly kind: DeployErrorKind,
    /** `magic`, `version`, `length`, `checksum`, `header.ops.3.shape`, `tensors.l04_conv2d.codes`, or `file` */
    readonly field: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(field === 'file' ? `${file}: ${detail}` : `${file}: ${field}: ${detail}`, options);
  }
}

// ---------------------------------------------------------------------------------------------
// Header codec

/** Dispatch on a string key to one codec per value, so an error names the right variant's field. */
function tagged<A>(name: string, key: string, variants: Readonly<Record<string, t.Mixed>>): t.Type<A, unknown, unknown> {
  const tags = oneOf(`${key} (${Object.keys(variants).join(' | ')})`, Object.keys(variants));
  return new t.Type<A, unknown, unknown>(
    name,
    (u): u is A => typeof u === 'object' && u !== null && Object.values(variants).some((v) => v.is(u)),
    (u, c) => {
      if (typeof u !== 'object' || u === null || Array.isArray(u)) return t.failure(u, c, `got ${quote(u)}`);
      const tag = (u as Record<string, unknown>)[key];
      const r = tags.validate(tag, t.appendContext(c, key, tags, tag));
      if (E.isLeft(r)) return r;
      return variants[r.right].validate(u, c) as t.Validation<A>;
    },
    (a) => a,
  );
}

const Shape = t.array(PositiveInt, 'shape');
const Pair = t.tuple([PositiveInt, PositiveInt], '[h, w]');
const Pads = t.tuple([NonNegativeInt, NonNegativeInt], '[padH, padW]');
const Ref = t.string;
const Bias = t.union([Ref, t.null], 'tensor name or null');

const ActC = tagged<Act>('activation', 'kind', {
  fp: strict('fp activation', { kind: t.literal('fp') }),
  ternary: strict('ternary activation', { kind: t.literal('ternary'), threshold: PositiveNumber, boundary: oneOf<'paper' | 'official'>('boundary', ['paper', 'official']) }),
  sign: strict('sign activation', { kind: t.literal('sign') }),
});

type WeightsJson =
  | { kind: 'float'; w: string }
  | { kind: 'binary'; codes: string; scale: string }
  | { kind: 'ternary'; codes: string; scalePos: string; scaleNeg: string };

const WeightsC = tagged<WeightsJson>('weights', 'kind', {
  float: strict('float weights', { kind: t.literal('float'), w: Ref }),
  binary: strict('binary weights', { kind: t.literal('binary'), codes: Ref, scale: Ref }),
  ternary: strict('ternary weights', { kind: t.literal('ternary'), codes: Ref, scalePos: Ref, scaleNeg: Ref }),
});

/** An op of the header: a DeployedOp with every array replaced by the name of its tensor. */
type OpJson =
  | { op: 'conv2d'; name: string; shape: [number, number, number, number]; strides: [number, number]; pads: [number, number]; input: Act; weights: WeightsJson; bias: string | null; folded: string[] }
  | { op: 'dense'; name: string; shape: [number, number]; input: Act; weights: WeightsJson; bias: string | null; folded: string[] }
  | { op: 'affine'; name: string; scale: string; shift: string }
  | { op: 'quantize'; name: string; act: Act }
  | { op: 'relu' | 'globalAvgPool' | 'flatten'; name: string }
  | { op: 'prelu'; name: string; alpha: string }
  | { op: 'maxPool'; name: string; size: [number, number]; strides: [number, number] }
  | { op: 'residual'; name: string; body: OpJson[]; pool: [number, number] | null };

const OpC: t.Type<OpJson, unknown, unknown> = t.recursion('op', (Self) =>
  tagged<OpJson>('op', 'op', {
    conv2d: strict('conv2d op', {
      op: t.literal('conv2d'),
      name: t.string,
      shape: t.tuple([PositiveInt, PositiveInt, PositiveInt, PositiveInt], '[cout, kh, kw, cin]'),
      strides: Pair,
      pads: Pads,
      input: ActC,
      weights: WeightsC,
      bias: Bias,
      folded: t.array(t.string),
    }),
    dense: strict('dense op', { op: t.literal('dense'), name: t.string, shape: t.tuple([PositiveInt, PositiveInt], '[out, in]'), input: ActC, weights: WeightsC, bias: Bias, folded: t.array(t.string) }),
    affine: strict('affine op', { op: t.literal('affine'), name: t.string, scale: Ref, shift: Ref }),
    quantize: strict('quantize op', { op: t.literal('quantize'), name: t.string, act: ActC }),
    relu: strict('relu op', { op: t.literal('relu'), name: t.string }),
    prelu: strict('prelu op', { op: t.literal('prelu'), name: t.string, alpha: Ref }),
    maxPool: strict('maxPool op', { op: t.literal('maxPool'), name: t.string, size: Pair, strides: Pair }),
    globalAvgPool: strict('globalAvgPool op', { op: t.literal('globalAvgPool'), name: t.string }),
    flatten: strict('flatten op', { op: t.literal('flatten'), name: t.string }),
    residual: strict('residual op', { op: t.literal('residual'), name: t.string, body: t.array(Self), pool: t.union([Pair, t.null], '[h, w] or null') }),
  }),
);

const TensorEntryC = strict('tensor entry', {
  name: t.string,
  encoding: oneOf<TensorEncoding>('tensor encoding', ['float32', 'ternary2', 'ternary3', 'binary1']),
  shape: t.array(NonNegativeInt, 'shape'),
  offset: NonNegativeInt,
  length: NonNegativeInt,
});
export type TensorEntry = t.TypeOf<typeof TensorEntryC>;

const HeaderC = strict('header', {
  format: t.literal(DEPLOY_FORMAT),
  name: t.string,
  inputShape: Shape,
  classes: PositiveInt,
  encoding: oneOf<Encoding>('encoding', ['2bit', 'base3']),
  ops: t.array(OpC),
  tensors: t.array(TensorEntryC),
  source: JsonObject,
});
export type Header = t.TypeOf<typeof HeaderC>;

// ---------------------------------------------------------------------------------------------
// Layout

type Payload = { readonly kind: 'float'; readonly data: Float32Array } | { readonly kind: 'codes'; readonly data: Int8Array };

export interface Layout {
  readonly header: Header;
  /** the header's UTF-8 bytes, padded */
  readonly headerBytes: Uint8Array;
  readonly payloadBytes: number;
  readonly totalBytes: number;
  /** each tensor's entry and data, in payload order */
  readonly tensors: readonly { readonly entry: TensorEntry; readonly payload: Payload }[];
}

const align = (n: number, a: number): number => Math.ceil(n / a) * a;

/**
 * Every byte count and offset of the file `m` would be written as, with `encoding` for ternary
 * codes. Throws a ConfigError when residual blocks nest deeper than MAX_NESTING: a file that
 * `loadDeployed` would refuse is never written.
 */
export function layout(m: DeployedModel, encoding: Encoding): Layout {
  const depth = nestingDepth(m.ops);
  if (depth > MAX_NESTING) throw new ConfigError('ops', `residual blocks nest ${depth} deep, more than ${MAX_NESTING}, the limit of a .sttn file`);
  const tensors: { entry: TensorEntry; payload: Payload }[] = [];
  const seen = new Map<ArrayLike<number>, string>();
  let cursor = 0;
  const add = (name: string, enc: TensorEncoding, shape: readonly number[], payload: Payload): string => {
    const known = seen.get(payload.data);
    if (known !== undefined) return known;
    const n = payload.data.length;
    const offset = align(cursor, 4);
    const length = packedBytes(enc, n);
    tensors.push({ entry: { name, encoding: enc, shape: [...shape], offset, length }, payload });
    seen.set(payload.data, name);
    cursor = offset + length;
    return name;
  };
  const float = (name: string, data: Float32Array, shape: readonly number[] = [data.length]) => add(name, 'float32', shape, { kind: 'float', data });
  const weights = (name: string, shape: readonly number[], w: Weights): WeightsJson => {
    switch (w.kind) {
      case 'float':
        return { kind: 'float', w: float(`${name}.w`, w.w, shape) };
      case 'binary':
        return { kind: 'binary', codes: add(`${name}.codes`, 'binary1', shape, { kind: 'codes', data: w.codes }), scale: float(`${name}.scale`, w.scale) };
      case 'ternary': {
        const codes = add(`${name}.codes`, ternaryEncoding(encoding), shape, { kind: 'codes', data: w.codes });
        const same = w.scalePos === w.scaleNeg;
        const scalePos = float(same ? `${name}.scale` : `${name}.scalePos`, w.scalePos);
        return { kind: 'ternary', codes, scalePos, scaleNeg: same ? scalePos : float(`${name}.scaleNeg`, w.scaleNeg) };
      }
    }
  };
  const toJson = (op: DeployedOp): OpJson => {
    switch (op.op) {
      case 'conv2d':
        return {
          op: 'conv2d', name: op.name, shape: [...op.shape], strides: [...op.strides], pads: [...op.pads], input: op.input,
          weights: weights(op.name, op.shape, op.weights), bias: op.bias === null ? null : float(`${op.name}.bias`, op.bias), folded: [...op.folded],
        };
      case 'dense':
        return {
          op: 'dense', name: op.name, shape: [...op.shape], input: op.input,
          weights: weights(op.name, op.shape, op.weights), bias: op.bias === null ? null : float(`${op.name}.bias`, op.bias), folded: [...op.folded],
        };
      case 'affine':
        return { op: 'affine', name: op.name, scale: float(`${op.name}.scale`, op.scale), shift: float(`${op.name}.shift`, op.shift) };
      case 'prelu':
        return { op: 'prelu', name: op.name, alpha: float(`${op.name}.alpha`, op.alpha) };
      case 'quantize':
        return { op: 'quantize', name: op.name, act: op.act };
      case 'maxPool':
        return { op: 'maxPool', name: op.name, size: [...op.size], strides: [...op.strides] };
      case 'residual':
        return { op: 'residual', name: op.name, body: op.body.map(toJson), pool: op.pool === null ? null : [...op.pool] };
      default:
        return { op: op.op, name: op.name };
    }
  };
  const ops = m.ops.map(toJson);
  const payloadBytes = align(cursor, 4);
  const header: Header = {
    format: DEPLOY_FORMAT,
    name: m.name,
    inputShape: [...m.inputShape],
    classes: m.classes,
    encoding,
    ops,
    tensors: tensors.map((x) => x.entry),
    source: m.source,
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const h = align(PREFIX_BYTES + json.length, 8) - PREFIX_BYTES;
  const headerBytes = new Uint8Array(h).fill(0x20);
  headerBytes.set(json);
  return { header, headerBytes, payloadBytes, totalBytes: PREFIX_BYTES + h + payloadBytes + CHECKSUM_BYTES, tensors };
}

/** The size in bytes of the file `serializeDeployed(m, encoding)` writes. */
export const exportedSize = (m: DeployedModel, encoding: Encoding): number => layout(m, encoding).totalBytes;

/** The bytes of the `.sttn` file of `m`. */
export function serializeDeployed(m: DeployedModel, encoding: Encoding): Uint8Array {
  const L = layout(m, encoding);
  const out = new Uint8Array(L.totalBytes);
  const view = new DataView(out.buffer);
  out.set(DEPLOY_MAGIC, 0);
  view.setUint32(8, DEPLOY_VERSION, true);
  view.setUint32(12, L.headerBytes.length, true);
  view.setUint32(16, L.payloadBytes, true);
  out.set(L.headerBytes, PREFIX_BYTES);
  const base = PREFIX_BYTES + L.headerBytes.length;
  for (const { entry, payload } of L.tensors) {
    const bytes = payload.kind === 'float' ? packFloat32(payload.data) : packCodes(entry.encoding as Exclude<TensorEncoding, 'float32'>, payload.data);
    out.set(bytes, base + entry.offset);
  }
  const end = base + L.payloadBytes;
  view.setUint32(end, crc32(out.subarray(0, end)), true);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Loading

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');

function foreignHint(b: Uint8Array): string {
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return ' (a gzip stream)';
  if (b.length >= 1 && (b[0] === 0x7b || b[0] === 0x5b)) return ' (looks like JSON: a checkpoint? `sttn export` turns one into a deployed model)';
  if (b.length >= 4 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return ' (a PNG image)';
  return '';
}

/**
 * The first place where the parsed, not yet decoded header nests too deeply, or null: a `body`
 * that nests residual blocks more than `maxNesting` deep (`header.ops.0.body.0.body`), else a
 * value more than 2·maxNesting + 16 levels deep anywhere (an array of arrays in a tensor entry,
 * say, which the codec's messages would print recursively). Both walks use an explicit stack,
 * so that no nesting can overflow the call stack.
 */
function tooDeep(json: object, maxNesting: number): { field: string; detail: string } | null {
  const ops: [unknown, string, number][] = [[(json as { ops?: unknown }).ops, 'header.ops', 0]];
  while (ops.length > 0) {
    const [list, path, depth] = ops.pop()!;
    if (!Array.isArray(list)) continue;
    for (let i = 0; i < list.length; i++) {
      const body = (list[i] as { body?: unknown } | null)?.body;
      if (!Array.isArray(body)) continue;
      if (depth + 1 > maxNesting) return { field: `${path}.${i}.body`, detail: `residual blocks nest more than ${maxNesting} deep, the limit for a header` };
      ops.push([body, `${path}.${i}.body`, depth + 1]);
    }
  }
  const maxDepth = 2 * maxNesting + 16;
  const values: [unknown, string, number][] = [[json, 'header', 0]];
  while (values.length > 0) {
    const [v, path, depth] = values.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth > maxDepth) return { field: path, detail: `nests more than ${maxDepth} levels of JSON, the limit for a header` };
    for (const [k, x] of Object.entries(v)) values.push([x, `${path}.${k}`, depth + 1]);
  }
  return null;
}

/**
 * Decode the bytes of a `.sttn` file; every error names `file`. Never throws. Limits (`opts`):
 * the header at most HEADER_MAX_BYTES (16 MiB), checked from the prefix before it is parsed;
 * residual blocks nested at most MAX_NESTING (32) deep and any JSON value at most 2·32 + 16 = 80
 * levels deep, checked before the header is decoded;
 * every tensor inside the payload and no two sharing a byte, checked before any is decoded —
 * so the tensors decode to at most 8× the payload's bytes (1-bit codes to one byte each).
 */
export function parseDeployed(bytes: Uint8Array, file: string, opts: ParseOptions = {}): E.Either<DeployFileError, DeployedModel> {
  const fail = (kind: DeployErrorKind, field: string, detail: string) => E.left(new DeployFileError(file, kind, field, detail));
  const head = bytes.subarray(0, 8);
  if (bytes.length < 8 || !DEPLOY_MAGIC.every((b, i) => head[i] === b)) {
    return fail('magic', 'magic', `not an sttn deployed model: the file starts with [${hex(head)}], expected [${hex(DEPLOY_MAGIC)}]${foreignHint(bytes)}`);
  }
  if (bytes.length < PREFIX_BYTES) return fail('truncated', 'length', `truncated: ${bytes.length} bytes, shorter than the ${PREFIX_BYTES}-byte prefix`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== DEPLOY_VERSION) {
    return fail(
      'version',
      'version',
      version > DEPLOY_VERSION
        ? `version ${version} was written by a newer sttn; this build reads version ${DEPLOY_VERSION} (upgrade sttn)`
        : `version ${version} is not a valid version (expected ${DEPLOY_VERSION})`,
    );
  }
  const H = view.getUint32(12, true);
  const P = view.getUint32(16, true);
  const maxHeader = opts.maxHeaderBytes ?? HEADER_MAX_BYTES;
  if (H > maxHeader) return fail('header', 'header', `length ${H} bytes exceeds ${maxHeader} bytes, the limit for a header`);
  const want = PREFIX_BYTES + H + P + CHECKSUM_BYTES;
  if (bytes.length !== want) {
    return fail(
      'truncated',
      'length',
      `${bytes.length} bytes, but the prefix announces ${want} (${PREFIX_BYTES}-byte prefix + ${H}-byte header + ${P}-byte payload + ${CHECKSUM_BYTES}-byte checksum)` +
        (bytes.length < want ? ': truncated' : ': trailing bytes'),
    );
  }
  const end = PREFIX_BYTES + H + P;
  const stored = view.getUint32(end, true);
  const computed = crc32(bytes.subarray(0, end));
  if (stored !== computed) {
    return fail('checksum', 'checksum', `CRC-32 mismatch: stored 0x${stored.toString(16).padStart(8, '0')}, computed 0x${computed.toString(16).padStart(8, '0')}: the file is corrupt`);
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(PREFIX_BYTES, PREFIX_BYTES + H)));
  } catch (e) {
    return fail('header', 'header', `is not valid UTF-8 JSON: ${(e as Error).message}`);
  }
  if (typeof json === 'object' && json !== null && (json as { format?: unknown }).format !== DEPLOY_FORMAT) {
    return fail('header', 'header.format', `expected "${DEPLOY_FORMAT}", got ${(json as { format?: unknown }).format === undefined ? 'nothing' : quote((json as { format?: unknown }).format)}`);
  }
  const maxNesting = opts.maxNesting ?? MAX_NESTING;
  const deep = typeof json === 'object' && json !== null ? tooDeep(json, maxNesting) : null;
  if (deep !== null) return fail('header', deep.field, deep.detail);
  const decoded = HeaderC.decode(json);
  if (E.isLeft(decoded)) {
    const msg = formatErrors('header', decoded.left);
    const field = msg.slice(0, msg.indexOf(':'));
    return fail('header', field, msg.slice(field.length + 2));
  }
  return resolve(decoded.right, bytes.subarray(PREFIX_BYTES + H, end), file);
}

/** Check the tensor table against the payload and the ops, decode the tensors, rebuild the model. */
function resolve(h: Header, payload: Uint8Array, file: string): E.Either<DeployFileError, DeployedModel> {
  const err = (kind: DeployErrorKind, field: string, detail: string) => new DeployFileError(file, kind, field, detail);
  const entries = new Map<string, TensorEntry>();
  const decoded = new Map<string, Float32Array | Int8Array>();
  try {
    // the byte ranges first, every one inside the payload and no two sharing a byte, so that
    // decoding cannot read one range twice (an alias) or past the end
    const names = new Set<string>();
    h.tensors.forEach((e, i) => {
      const field = `tensors.${e.name}`;
      if (names.has(e.name)) throw err('header', `header.tensors.${i}.name`, `tensor name "${e.name}" appears twice`);
      names.add(e.name);
      const n = e.shape.reduce((a, b) => a * b, 1);
      if (e.length !== packedBytes(e.encoding, n)) throw err('tensor', field, `length ${e.length} bytes, but ${n} values in ${e.encoding} take ${packedBytes(e.encoding, n)}`);
      if (e.offset % 4 !== 0) throw err('tensor', field, `offset ${e.offset} is not a multiple of 4`);
      if (e.offset + e.length > payload.length) throw err('tensor', field, `bytes [${e.offset}, ${e.offset + e.length}) lie outside the ${payload.length}-byte payload`);
    });
    const byOffset = h.tensors.filter((e) => e.length > 0).sort((a, b) => a.offset - b.offset);
    for (let k = 1; k < byOffset.length; k++) {
      const [a, b] = [byOffset[k - 1], byOffset[k]];
      if (b.offset < a.offset + a.length) {
        throw err('tensor', `tensors.${b.name}`, `bytes [${b.offset}, ${b.offset + b.length}) overlap the bytes [${a.offset}, ${a.offset + a.length}) of tensor "${a.name}"`);
      }
    }
    h.tensors.forEach((e) => {
      const field = `tensors.${e.name}`;
      const n = e.shape.reduce((a, b) => a * b, 1);
      const bytes = payload.subarray(e.offset, e.offset + e.length);
      const r = e.encoding === 'float32' ? unpackFloat32(bytes, n) : unpackCodes(e.encoding, bytes, n);
      if (E.isLeft(r)) throw err('tensor', field, r.left);
      if (r.right instanceof Float32Array) {
        const bad = r.right.findIndex((v) => !Number.isFinite(v));
        if (bad >= 0) throw err('tensor', field, `non-finite value ${r.right[bad]} at element ${bad}`);
      }
      entries.set(e.name, e);
      decoded.set(e.name, r.right);
    });
    const used = new Set<string>();
    const get = (ref: string, field: string, kinds: readonly TensorEncoding[], shape: readonly number[] | ((n: number) => boolean), what: string) => {
      const e = entries.get(ref);
      if (e === undefined) throw err('header', field, `names tensor "${ref}", which is not in the tensor table`);
      if (!kinds.includes(e.encoding)) throw err('header', field, `tensor "${ref}" is ${e.encoding}, expected ${kinds.join(' or ')}`);
      const n = e.shape.reduce((a, b) => a * b, 1);
      const ok = typeof shape === 'function' ? e.shape.length === 1 && shape(n) : e.shape.length === shape.length && e.shape.every((d, j) => d === shape[j]);
      if (!ok) throw err('header', field, `tensor "${ref}" has shape [${e.shape.join(', ')}], expected ${what}`);
      used.add(ref);
      return decoded.get(ref)!;
    };
    const F = ['float32'] as const;
    const toOp = (op: OpJson, at: string): DeployedOp => {
      switch (op.op) {
        case 'conv2d':
        case 'dense': {
          const o = op.shape[0];
          const perOut = (n: number) => n === 1 || n === o;
          const ws = op.weights;
          const wf = `${at}.weights`;
          const weights: Weights =
            ws.kind === 'float'
              ? { kind: 'float', w: get(ws.w, `${wf}.w`, F, op.shape, `[${op.shape.join(', ')}]`) as Float32Array }
              : ws.kind === 'binary'
                ? {
                    kind: 'binary',
                    codes: get(ws.codes, `${wf}.codes`, ['binary1'], op.shape, `[${op.shape.join(', ')}]`) as Int8Array,
                    scale: get(ws.scale, `${wf}.scale`, F, perOut, `[1] or [${o}]`) as Float32Array,
                  }
                : {
                    kind: 'ternary',
                    codes: get(ws.codes, `${wf}.codes`, ['ternary2', 'ternary3'], op.shape, `[${op.shape.join(', ')}]`) as Int8Array,
                    scalePos: get(ws.scalePos, `${wf}.scalePos`, F, perOut, `[1] or [${o}]`) as Float32Array,
                    scaleNeg: get(ws.scaleNeg, `${wf}.scaleNeg`, F, perOut, `[1] or [${o}]`) as Float32Array,
                  };
          const bias = op.bias === null ? null : (get(op.bias, `${at}.bias`, F, [o], `[${o}]`) as Float32Array);
          return op.op === 'conv2d'
            ? { op: 'conv2d', name: op.name, shape: op.shape, strides: op.strides, pads: op.pads, input: op.input, weights, bias, folded: op.folded }
            : { op: 'dense', name: op.name, shape: op.shape, input: op.input, weights, bias, folded: op.folded };
        }
        case 'affine':
          return { op: 'affine', name: op.name, scale: get(op.scale, `${at}.scale`, F, () => true, 'a vector') as Float32Array, shift: get(op.shift, `${at}.shift`, F, () => true, 'a vector') as Float32Array };
        case 'prelu':
          return { op: 'prelu', name: op.name, alpha: get(op.alpha, `${at}.alpha`, F, () => true, 'a vector') as Float32Array };
        case 'quantize':
          return { op: 'quantize', name: op.name, act: op.act };
        case 'maxPool':
          return { op: 'maxPool', name: op.name, size: op.size, strides: op.strides };
        case 'residual':
          return { op: 'residual', name: op.name, body: op.body.map((x, j) => toOp(x, `${at}.body.${j}`)), pool: op.pool };
        default:
          return { op: op.op, name: op.name };
      }
    };
    const ops = h.ops.map((op, i) => toOp(op, `header.ops.${i}`));
    const unused = h.tensors.find((e) => !used.has(e.name));
    if (unused !== undefined) throw err('header', `header.tensors.${unused.name}`, 'is not used by any op');
    const model: DeployedModel = { name: h.name, inputShape: h.inputShape, classes: h.classes, ops, source: h.source };
    const shapes = opShapes(model);
    if (E.isLeft(shapes)) {
      const field = shapes.left.slice(0, shapes.left.indexOf(':'));
      return E.left(err('header', `header.${field.split(' ')[0]}`, shapes.left.slice(field.length + 2)));
    }
    return E.right(model);
  } catch (e) {
    if (e instanceof DeployFileError) return E.left(e);
    throw e;
  }
}

