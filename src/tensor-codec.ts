/**
 * Tensors as JSON-safe plain data, for checkpoints:
 *   `{ dtype: 'float32' | 'float64', shape: number[], data: base64 of the little-endian bytes }`.
 * The bytes are copied, never printed as decimals, so the round trip is bit-exact: -0, subnormals
 * and (when allowed) NaN payloads survive. Parameter trees are records of tensors: layer name →
 * parameter name → tensor.
 *
 * Law (laws/tensor-codec.test.ts; trees through laws/checkpoint.test.ts): `decode(encode(t))` is
 * bit-identical to `t` (same dtype, shape and bytes) for every tensor, record and tree; a bad shape, a malformed base64 string, a byte
 * length other than size·bytesPerElement (both numbers named) or a non-finite value (unless
 * allowed) is a `Left` whose path names the tensor.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { decodeWith } from './codec.js';
import { ConfigError, NonFiniteError } from './errors.js';
import { size, type Data, type DType, type Tensor } from './tensor.js';

/** The JSON form of one tensor. */
export interface TensorJson {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: string;
}

/** Parameter name → tensor (one layer's parameters, or a flat record). */
export type TensorRecord = Readonly<Record<string, Tensor>>;
/** Layer name → parameter name → tensor. */
export type ParamTree = Readonly<Record<string, TensorRecord>>;

export type TensorRecordJson = Readonly<Record<string, TensorJson>>;
export type ParamTreeJson = Readonly<Record<string, TensorRecordJson>>;

export interface TensorCodecOptions {
  /** Accept NaN and ±Infinity (default false: a non-finite value is a `Left`, or a throw on encode). */
  readonly allowNonFinite?: boolean;
}

export const bytesPerElement = (dtype: DType): number => (dtype === 'float64' ? 8 : 4);

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reverse each `width`-byte group in place (only on big-endian hosts). */
function swapBytes(b: Uint8Array, width: number): void {
  for (let i = 0; i < b.length; i += width) {
    for (let j = 0, k = width - 1; j < k; j++, k--) {
      const x = b[i + j];
      b[i + j] = b[i + k];
      b[i + k] = x;
    }
  }
}

/** Base64 (standard alphabet, canonical padding) of the tensor's little-endian bytes. */
export function dataToBase64(data: Data): string {
  let bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (!LITTLE_ENDIAN) {
    bytes = Buffer.from(bytes);
    swapBytes(bytes, data.BYTES_PER_ELEMENT);
  }
  return bytes.toString('base64');
}

// Padding must be canonical ("==" or "=" only on the final quartet): Node's decoder would
// otherwise skip stray characters silently, and a corrupted file would load with shifted bytes.
const BASE64 = /^[A-Za-z0-9+/]*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Number of bytes `s` decodes to, or undefined when `s` is not canonical standard base64. */
export function base64ByteLength(s: string): number | undefined {
  if (s.length % 4 !== 0 || !BASE64.test(s)) return undefined;
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  return (s.length / 4) * 3 - pad;
}

/** Encode one tensor; throws NonFiniteError naming `field` unless non-finite values are allowed. */
export function encodeTensor(x: Tensor, field = 'tensor', opts: TensorCodecOptions = {}): TensorJson {
  if (opts.allowNonFinite !== true) {
    const d = x.data;
    for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) throw new NonFiniteError(field, i, d[i]);
  }
  return { dtype: x.data instanceof Float64Array ? 'float64' : 'float32', shape: [...x.shape], data: dataToBase64(x.data) };
}

const show = (u: unknown): string => {
  if (typeof u === 'string') return u.length > 40 ? `a string of length ${u.length}` : JSON.stringify(u);
  if (Array.isArray(u)) return 'an array';
  if (u === null) return 'null';
  if (typeof u === 'object') return 'an object';
  return String(u);
};

const fieldType = (name: string): t.Decoder<unknown, unknown> => new t.Type<unknown>(name, (u): u is unknown => true, t.success, (a) => a);

const isPlainObject = (u: unknown): u is Record<string, unknown> => typeof u === 'object' && u !== null && !Array.isArray(u);

const isTensor = (u: unknown): u is Tensor =>
  isPlainObject(u) &&
  (u.data instanceof Float32Array || u.data instanceof Float64Array) &&
  Array.isArray(u.shape) &&
  u.shape.every((d) => Number.isInteger(d) && d >= 0) &&
  size(u.shape) === u.data.length;

/**
 * The io-ts codec of one tensor. Validation checks, in order: the object has exactly the keys
 * dtype, shape, data; dtype is float32 or float64; shape holds non-negative integers; data is
 * canonical base64 of exactly size(shape)·bytesPerElement bytes; every value is finite (unless
 * `allowNonFinite`). Each failure's path ends at the offending key.
 */
export function tensorCodec(opts: TensorCodecOptions = {}): t.Type<Tensor, TensorJson, unknown> {
  const allowNonFinite = opts.allowNonFinite === true;
  return new t.Type<Tensor, TensorJson, unknown>(
    'tensor',
    isTensor,
    (u, c) => {
      if (!isPlainObject(u)) return t.failure(u, c, `got ${show(u)}, not {dtype, shape, data}`);
      const extra = Object.keys(u).filter((k) => k !== 'dtype' && k !== 'shape' && k !== 'data');
      if (extra.length > 0) return t.failure(u, c, `got unknown key(s) ${extra.join(', ')} (allowed: dtype, shape, data)`);
      const { dtype, shape, data } = u;
      if (dtype !== 'float32' && dtype !== 'float64') {
        return t.failure(dtype, t.appendContext(c, 'dtype', fieldType('"float32" | "float64"'), dtype), `got ${show(dtype)}`);
      }
      if (!Array.isArray(shape)) return t.failure(shape, t.appendContext(c, 'shape', fieldType('array of dimensions'), shape), `got ${show(shape)}`);
      for (let i = 0; i < shape.length; i++) {
        const d: unknown = shape[i];
        if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
          const sc = t.appendContext(t.appendContext(c, 'shape', fieldType('array of dimensions'), shape), String(i), fieldType('non-negative integer'), d);
          return t.failure(d, sc, `got ${show(d)}`);
        }
      }
      const n = size(shape as number[]);
      const bpe = bytesPerElement(dtype);
      const want = n * bpe;
      const what = `${want} bytes (${n} ${dtype} of shape [${shape.join(', ')}])`;
      if (!Number.isSafeInteger(want)) {
        return t.failure(shape, t.appendContext(c, 'shape', fieldType('shape of a safe size'), shape), `got ${n} elements`);
      }
      const dc = t.appendContext(c, 'data', fieldType(`base64 of ${what}`), data);
      if (typeof data !== 'string') return t.failure(data, dc, `got ${show(data)}`);
      const got = base64ByteLength(data);
      if (got === undefined) return t.failure(data, dc, `got a string that is not canonical base64 (length ${data.length})`);
      if (got !== want) return t.failure(data, dc, `got ${got} bytes`);
      // a fresh, aligned buffer: Buffer.from(string) may return a slice of a shared pool at an
      // offset that a Float64Array cannot view
      const bytes = Buffer.alloc(want);
      bytes.write(data, 0, 'base64');
      if (!LITTLE_ENDIAN) swapBytes(bytes, bpe);
      const arr: Data = dtype === 'float64' ? new Float64Array(bytes.buffer, bytes.byteOffset, n) : new Float32Array(bytes.buffer, bytes.byteOffset, n);
      if (!allowNonFinite) {
        for (let i = 0; i < n; i++) {
          if (!Number.isFinite(arr[i])) return t.failure(data, t.appendContext(c, 'data', fieldType('finite values'), data), `got ${arr[i]} at flat index ${i}`);
        }
      }
      return t.success({ shape: [...(shape as number[])], data: arr });
    },
    (x) => encodeTensor(x, 'tensor', { allowNonFinite: true }),
  );
}

/**
 * A record `string → A` built with own data properties (so a key such as "__proto__" is kept as
 * a key, not taken as a prototype). Every value is validated; the path names the key.
 */
export function recordOf<A, O>(name: string, codec: t.Type<A, O, unknown>): t.Type<Readonly<Record<string, A>>, Readonly<Record<string, O>>, unknown> {
  const put = <V>(o: Record<string, V>, k: string, v: V): void => {
    Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  };
  return new t.Type<Readonly<Record<string, A>>, Readonly<Record<string, O>>, unknown>(
    name,
    (u): u is Readonly<Record<string, A>> => isPlainObject(u) && Object.values(u).every((v) => codec.is(v)),
    (u, c) => {
      if (!isPlainObject(u)) return t.failure(u, c, `got ${show(u)}`);
      const out: Record<string, A> = {};
      for (const k of Object.keys(u)) {
        const r = codec.validate(u[k], t.appendContext(c, k, codec, u[k]));
        if (E.isLeft(r)) return r;
        put(out, k, r.right);
      }
      return t.success(out);
    },
    (a) => {
      const out: Record<string, O> = {};
      for (const k of Object.keys(a)) put(out, k, codec.encode(a[k]));
      return out;
    },
  );
}

export const tensorRecordCodec = (opts: TensorCodecOptions = {}) => recordOf('tensor record', tensorCodec(opts));
export const paramTreeCodec = (opts: TensorCodecOptions = {}) => recordOf('parameter tree', tensorRecordCodec(opts));

/** Finite-only codecs (the default everywhere a checkpoint is read). */
export const TensorC = tensorCodec();
export const TensorRecordC = tensorRecordCodec();
export const ParamTreeC = paramTreeCodec();

/** Encode a parameter tree; throws NonFiniteError naming `what.layer.param` at a non-finite value. */
export function encodeParamTree(tree: ParamTree, what = 'params', opts: TensorCodecOptions = {}): ParamTreeJson {
  const out: Record<string, Record<string, TensorJson>> = {};
  for (const layer of Object.keys(tree)) {
    const rec: Record<string, TensorJson> = {};
    for (const p of Object.keys(tree[layer])) {
      Object.defineProperty(rec, p, { value: encodeTensor(tree[layer][p], `${what}.${layer}.${p}`, opts), enumerable: true, writable: true, configurable: true });
    }
    Object.defineProperty(out, layer, { value: rec, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

export const decodeTensor = (u: unknown, what = 'tensor', opts: TensorCodecOptions = {}): E.Either<ConfigError, Tensor> =>
  decodeWith(tensorCodec(opts), u, what);

export const decodeParamTree = (u: unknown, what = 'params', opts: TensorCodecOptions = {}): E.Either<ConfigError, ParamTree> =>
  decodeWith(paramTreeCodec(opts), u, what);

/** Same dtype, same shape, same bytes (so -0 ≠ +0 and NaN payloads count): the round-trip equality. */
export function tensorBitEqual(a: Tensor, b: Tensor): boolean {
  if (a.data.BYTES_PER_ELEMENT !== b.data.BYTES_PER_ELEMENT) return false;
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) return false;
  const x = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const y = new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength);
  return x.length === y.length && Buffer.compare(x, y) === 0;
}

/** Same keys (in any order) and bit-equal tensors at every leaf. */
export function paramTreeBitEqual(a: ParamTree, b: ParamTree): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((layer) => {
    if (!Object.prototype.hasOwnProperty.call(b, layer)) return false;
    const pa = Object.keys(a[layer]);
    const lb = b[layer];
    if (pa.length !== Object.keys(lb).length) return false;
    return pa.every((p) => Object.prototype.hasOwnProperty.call(lb, p) && tensorBitEqual(a[layer][p], lb[p]));
  });
}
