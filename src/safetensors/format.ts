/**
 * The safetensors format (Hugging Face), pure: bytes ⇄ named tensors.
 *
 * Layout: an 8-byte little-endian u64 N, N bytes of a JSON header
 * `{ name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__"?: { key: string } }`,
 * then the data: each tensor's raw little-endian values at [begin, end) of the data section.
 *
 * Read: F32, F16, BF16, I8, U8 give a Float32Array (every such value is a float32, exactly);
 * F64 gives a Float64Array, and so does I64 (PyTorch's batch-norm `num_batches_tracked`), whose
 * values must lie within ±2^53 (else an error naming the tensor). Write: a Float32Array as F32, a Float64Array as F64 (so a float64
 * run round-trips bit for bit); the header is padded with spaces to a multiple of 8 bytes, and
 * tensors are laid out in name order.
 *
 * Validation, each failure a SafetensorsError naming the file and the field: the file holds the
 * 8-byte length; N ≤ MAX_HEADER and within the file; the header is a JSON object; each entry has
 * exactly dtype (a known one), shape (non-negative integers) and data_offsets (two integers,
 * 0 ≤ begin ≤ end ≤ data length); end − begin = size(shape) × the dtype's width; the ranges, in
 * order, do not overlap and cover the data section with no gap; `__metadata__` maps strings to
 * strings.
 *
 * Law (laws/safetensors.test.ts): parse(serialize(t)) = t bit for bit; every read dtype decodes
 * (F16/BF16 exactly for representable values); each malformed header is a named error.
 */
import { SttnError } from '../errors.js';
import type { Tensor } from '../tensor.js';

/** A malformed or unsupported safetensors file: names the file and the field. */
export class SafetensorsError extends SttnError {
  override readonly name = 'SafetensorsError';
  constructor(
    readonly file: string,
    readonly field: string,
    readonly detail: string,
  ) {
    super(`${file}: ${field}: ${detail}`);
  }
}

/** The header-size bound of the reference implementation (100 MB). */
export const MAX_HEADER = 100_000_000;

export type SafetensorsDtype = 'F32' | 'F64' | 'F16' | 'BF16' | 'I8' | 'U8' | 'I64';
const WIDTH: Readonly<Record<SafetensorsDtype, number>> = { F32: 4, F64: 8, F16: 2, BF16: 2, I8: 1, U8: 1, I64: 8 };
/** Dtypes of the format that sttn does not read (named in the error). */
const UNSUPPORTED = ['BOOL', 'I16', 'U16', 'I32', 'U32', 'U64', 'F8_E4M3', 'F8_E5M2', 'C64'];

export interface SafetensorsFile {
  readonly tensors: Readonly<Record<string, Tensor>>;
  readonly metadata: Readonly<Record<string, string>>;
}

/** An own, enumerable key even for names like `__proto__` (tensor names are arbitrary strings). */
const put = <V>(o: Record<string, V>, k: string, v: V): void => {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
};

const isObject = (u: unknown): u is Record<string, unknown> => typeof u === 'object' && u !== null && !Array.isArray(u);
const isNat = (u: unknown): u is number => typeof u === 'number' && Number.isSafeInteger(u) && u >= 0;

/** IEEE 754 binary16 → number (exact). */
export function halfToNumber(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 0x1f) return m === 0 ? s * Infinity : NaN;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Parse a safetensors file's bytes; `file` names it in errors. */
export function parseSafetensors(bytes: Uint8Array, file: string): SafetensorsFile {
  const fail = (field: string, detail: string): never => {
    throw new SafetensorsError(file, field, detail);
  };
  if (bytes.length < 8) fail('header length', `the file holds ${bytes.length} bytes, fewer than the 8 of the header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER)) fail('header length', `${n64} bytes exceeds the limit of ${MAX_HEADER}`);
  const n = Number(n64);
  if (n > bytes.length - 8) fail('header length', `${n} bytes, but only ${bytes.length - 8} follow the length`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    return fail('header', `not UTF-8 JSON (${(e as Error).message})`);
  }
  if (!isObject(header)) return fail('header', 'is not a JSON object');
  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;
  let metadata: Record<string, string> = {};
  const entries: { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isObject(raw)) fail('__metadata__', 'is not an object of strings');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) if (typeof v !== 'string') fail(`__metadata__.${k}`, `is ${JSON.stringify(v)}, not a string`);
      metadata = {};
      for (const [k, v] of Object.entries(raw as Record<string, string>)) put(metadata, k, v);
      continue;
    }
    const at = `tensor '${name}'`;
    if (!isObject(raw)) fail(at, 'is not an object with dtype, shape, data_offsets');
    const r = raw as Record<string, unknown>;
    const extra = Object.keys(r).filter((k) => !['dtype', 'shape', 'data_offsets'].includes(k));
    if (extra.length > 0) fail(at, `unknown field(s) ${extra.join(', ')}`);
    const dtype = r.dtype;
    if (typeof dtype !== 'string' || !(dtype in WIDTH)) {
      fail(`${at}.dtype`, UNSUPPORTED.includes(dtype as string) ? `${dtype} is not read by sttn (F32, F64, F16, BF16, I8, U8)` : `got ${JSON.stringify(dtype)}; expected one of F32, F64, F16, BF16, I8, U8, I64`);
    }
    const shape = r.shape;
    if (!Array.isArray(shape) || !shape.every(isNat)) return fail(`${at}.shape`, `got ${JSON.stringify(shape)}; expected an array of non-negative integers`);
    const off = r.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every(isNat)) return fail(`${at}.data_offsets`, `got ${JSON.stringify(off)}; expected [begin, end], non-negative integers`);
    const [begin, end] = off as number[];
    if (begin > end || end > dataLen) fail(`${at}.data_offsets`, `[${begin}, ${end}] is not a range inside the data section of ${dataLen} bytes`);
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    const want = count * WIDTH[dtype as SafetensorsDtype];
    if (end - begin !== want) fail(`${at}.data_offsets`, `[${begin}, ${end}] holds ${end - begin} bytes, but ${dtype} × [${shape.join(', ')}] needs ${want}`);
    entries.push({ name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin, end });
  }
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (const e of sorted) {
    if (e.begin < pos) fail(`tensor '${e.name}'.data_offsets`, `[${e.begin}, ${e.end}] overlaps the tensor before it, which ends at ${pos}`);
    if (e.begin > pos) fail(`tensor '${e.name}'.data_offsets`, `[${e.begin}, ${e.end}] leaves bytes [${pos}, ${e.begin}) of the data section unused`);
    pos = e.end;
  }
  if (pos !== dataLen) fail('data section', `${dataLen} bytes, but the tensors cover only [0, ${pos})`);
  const tensors: Record<string, Tensor> = {};
  for (const e of entries) {
    const data = decode(view, dataStart + e.begin, e.end - e.begin, e.dtype);
    const big = e.dtype === 'I64' ? data.findIndex((x) => !Number.isSafeInteger(x)) : -1;
    if (big >= 0) fail(`tensor '${e.name}'`, `I64 value at flat index ${big} is beyond ±2^53, which a number does not hold exactly`);
    put(tensors, e.name, { shape: e.shape, data });
  }
  return { tensors, metadata };
}

function decode(v: DataView, at: number, bytes: number, dtype: SafetensorsDtype): Float32Array | Float64Array {
  const n = bytes / WIDTH[dtype];
  if (dtype === 'F64' || dtype === 'I64') {
    const out = new Float64Array(n);
    if (dtype === 'F64') for (let i = 0; i < n; i++) out[i] = v.getFloat64(at + 8 * i, true);
    else for (let i = 0; i < n; i++) out[i] = Number(v.getBigInt64(at + 8 * i, true));
    return out;
  }
  const out = new Float32Array(n);
  switch (dtype) {
    case 'F32':
      for (let i = 0; i < n; i++) out[i] = v.getFloat32(at + 4 * i, true);
      break;
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = halfToNumber(v.getUint16(at + 2 * i, true));
      break;
    case 'BF16': {
      // the upper half of a float32
      const scratch = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < n; i++) {
        scratch.setUint32(0, v.getUint16(at + 2 * i, true) << 16);
        out[i] = scratch.getFloat32(0);
      }
      break;
    }
    case 'I8':
      for (let i = 0; i < n; i++) out[i] = v.getInt8(at + i);
      break;
    case 'U8':
      for (let i = 0; i < n; i++) out[i] = v.getUint8(at + i);
      break;
    default:
      break;
  }
  return out;
}

/**
 * A safetensors file of `tensors` (Float32Array → F32, Float64Array → F64) and `metadata`. A
 * tensor whose data length is not its shape's size is a SafetensorsError naming it.
 */
export function serializeSafetensors(tensors: Readonly<Record<string, Tensor>>, metadata: Readonly<Record<string, string>> = {}): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) {
    const m: Record<string, string> = {};
    for (const [k, v] of Object.entries(metadata)) put(m, k, v);
    put(header, '__metadata__', m);
  }
  let pos = 0;
  for (const name of names) {
    if (name === '__metadata__') throw new SafetensorsError('(serialize)', 'tensor name', "'__metadata__' is reserved");
    const t = tensors[name];
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (!t.shape.every(isNat) || count !== t.data.length) throw new SafetensorsError('(serialize)', `tensor '${name}'`, `shape [${t.shape.join(', ')}] does not hold its ${t.data.length} values`);
    const f64 = t.data instanceof Float64Array;
    const bytes = count * (f64 ? 8 : 4);
    put(header, name, { dtype: f64 ? 'F64' : 'F32', shape: [...t.shape], data_offsets: [pos, pos + bytes] });
    pos += bytes;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + pos);
  const v = new DataView(out.buffer);
  v.setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const name of names) {
    const d = tensors[name].data;
    if (d instanceof Float64Array) for (let i = 0; i < d.length; i++, at += 8) v.setFloat64(at, d[i], true);
    else for (let i = 0; i < d.length; i++, at += 4) v.setFloat32(at, d[i], true);
  }
  return out;
}
