/**
 * Laws of safetensors in and out (src/safetensors/): the format round-trips every dtype it reads,
 * malformed files are named errors, an sttn run survives the PyTorch mapping bit for bit, and a
 * PyTorch-layout fixture (laws/fixtures/gen_safetensors.py) imports to the logits its generator
 * computed.
 */
import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpu32 } from '../backends/cpu.js';
import { loadCheckpoint } from '../src/checkpoint/checkpoint.js';
import { fromCheckpoint } from '../src/checkpoint/run.js';
import { orThrow } from '../src/codec.js';
import { loadIdxSplit } from '../src/data/idx.js';
import { buildModel, forward, initModel, type Model } from '../src/models/model.js';
import { BITS, preset, type Bits, type PresetName } from '../src/models/presets.js';
import { normal, rng, uniform } from '../src/random.js';
import {
  exportSafetensors,
  fromSafetensors,
  halfToNumber,
  loadSafetensors,
  parseSafetensors,
  SafetensorsError,
  saveSafetensors,
  serializeSafetensors,
  toSafetensors,
} from '../src/safetensors/index.js';
import { tensor, tensorClose, tensorEqual, type Tensor } from '../src/tensor.js';
import type { Tree } from '../src/train/optim.js';
import { evaluate } from '../src/train/train.js';
import { storedTensor } from './arbitraries.js';
import { runCli, writeIdxDir } from './cli-io.js';
import { example, law, throwsWith } from './law.js';

// ---- the format ---------------------------------------------------------------------------------

type RawDtype = 'F32' | 'F64' | 'F16' | 'BF16' | 'I8' | 'U8' | 'I64';
const WIDTH: Record<RawDtype, number> = { F32: 4, F64: 8, F16: 2, BF16: 2, I8: 1, U8: 1, I64: 8 };

/** A file written by hand: header object (raw JSON), data bytes. */
function rawFile(header: unknown, data: Uint8Array, headerText?: string): Uint8Array {
  const h = new TextEncoder().encode(headerText ?? JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

/** Encode `values` (each representable in `dtype`) as little-endian bytes, independently of the reader. */
function encodeRaw(dtype: RawDtype, values: readonly number[]): Uint8Array {
  const b = new Uint8Array(values.length * WIDTH[dtype]);
  const v = new DataView(b.buffer);
  const f = new DataView(new ArrayBuffer(4));
  values.forEach((x, i) => {
    switch (dtype) {
      case 'F32': return v.setFloat32(4 * i, x, true);
      case 'F64': return v.setFloat64(8 * i, x, true);
      case 'I8': return v.setInt8(i, x);
      case 'U8': return v.setUint8(i, x);
      case 'I64': return v.setBigInt64(8 * i, BigInt(x), true);
      case 'BF16':
        f.setFloat32(0, x);
        return v.setUint16(2 * i, f.getUint32(0) >>> 16, true);
      case 'F16':
        return v.setUint16(2 * i, toHalf(x), true);
    }
  });
  return b;
}

/** number → binary16 bits, for values that are exactly representable (the arbitraries draw only those). */
function toHalf(x: number): number {
  const s = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a === 0) return s;
  if (a < 2 ** -14) return s | Math.round(a / 2 ** -24);
  const e = Math.floor(Math.log2(a));
  const m = Math.round((a / 2 ** e - 1) * 1024);
  return s | ((e + 15) << 10) | m;
}

/** Values each dtype holds exactly. */
const valueOf: Record<RawDtype, fc.Arbitrary<number>> = {
  F32: fc.float({ noNaN: true, noDefaultInfinity: true }).map(Math.fround),
  F64: fc.double({ noNaN: true, noDefaultInfinity: true }),
  // binary16: sign × 11-bit significand × 2^(−24 … 15), subnormals included
  F16: fc.tuple(fc.integer({ min: -2047, max: 2047 }), fc.integer({ min: -24, max: 5 })).map(([m, e]) => m * 2 ** e),
  // bfloat16: an 8-bit significand over float32's exponent range
  BF16: fc.tuple(fc.integer({ min: -255, max: 255 }), fc.integer({ min: -133, max: 120 })).map(([m, e]) => Math.fround(m * 2 ** e)),
  I8: fc.integer({ min: -128, max: 127 }),
  U8: fc.integer({ min: 0, max: 255 }),
  I64: fc.integer({ min: -(2 ** 31), max: 2 ** 31 }).map((x) => x * 4096),
};

const DTYPES = Object.keys(WIDTH) as RawDtype[];
const shapeArb = fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 3 });
const countOf = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

law(
  'every read dtype decodes to its values exactly (F16, BF16 included), whatever the order of the entries',
  [
    fc.array(
      fc.record({ dtype: fc.constantFrom(...DTYPES), shape: shapeArb }).chain(({ dtype, shape }) =>
        fc.record({ dtype: fc.constant(dtype), shape: fc.constant(shape), values: fc.array(valueOf[dtype], { minLength: countOf(shape), maxLength: countOf(shape) }) }),
      ),
      { maxLength: 5 },
    ),
    fc.boolean(),
  ],
  (entries, reverse) => {
    const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
    const blobs: Uint8Array[] = [];
    let pos = 0;
    entries.forEach((e, i) => {
      const b = encodeRaw(e.dtype, e.values);
      header[`t${i}`] = { dtype: e.dtype, shape: e.shape, data_offsets: [pos, pos + b.length] };
      blobs.push(b);
      pos += b.length;
    });
    const data = new Uint8Array(pos);
    let at = 0;
    for (const b of blobs) (data.set(b, at), (at += b.length));
    const ordered = reverse ? Object.fromEntries(Object.entries(header).reverse()) : header;
    const f = parseSafetensors(rawFile(ordered, data), 'mem.safetensors');
    return (
      f.metadata.format === 'pt' &&
      Object.keys(f.tensors).length === entries.length &&
      entries.every((e, i) => {
        const t = f.tensors[`t${i}`];
        const wide = e.dtype === 'F64' || e.dtype === 'I64';
        return (wide ? t.data instanceof Float64Array : t.data instanceof Float32Array) && tensorEqual(t, tensor(e.shape, e.values, wide ? 'float64' : 'float32')) && e.values.every((x, j) => Object.is(x, t.data[j]));
      })
    );
  },
);

example('golden: binary16 edges decode exactly', () =>
  [
    [0x3c00, 1],
    [0xc000, -2],
    [0x7bff, 65504],
    [0x0001, 2 ** -24],
    [0x0400, 2 ** -14],
    [0x7c00, Infinity],
    [0x8000, -0],
  ].every(([h, x]) => Object.is(halfToNumber(h), x)) && Number.isNaN(halfToNumber(0x7e00)));

law(
  'parse(serialize(tensors, metadata)) gives back every tensor bit for bit (float32 as F32, float64 as F64) and the metadata',
  [fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }).filter((s) => s !== '__metadata__'), storedTensor, { maxKeys: 5 }), fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 })],
  (tensors, metadata) => {
    const f = parseSafetensors(serializeSafetensors(tensors, metadata), 'mem');
    const names = Object.keys(tensors);
    return (
      Object.keys(f.tensors).length === names.length &&
      names.every((n) => f.tensors[n].data.constructor === tensors[n].data.constructor && tensorEqual(f.tensors[n], tensors[n]) && tensors[n].data.every((x, j) => Object.is(x, f.tensors[n].data[j]))) &&
      JSON.stringify(Object.entries(f.metadata).sort()) === JSON.stringify(Object.entries(metadata).sort())
    );
  },
);

example('serialize pads the header to a multiple of 8 bytes', () => {
  const b = serializeSafetensors({ a: tensor([1], [1], 'float32') });
  return Number(new DataView(b.buffer).getBigUint64(0, true)) % 8 === 0;
});

// ---- malformed files ----------------------------------------------------------------------------

const f32Bytes = (n: number) => new Uint8Array(4 * n);
const bad = (bytes: Uint8Array, ...patterns: string[]) => throwsWith(() => parseSafetensors(bytes, 'bad.safetensors'), SafetensorsError, 'bad.safetensors', ...patterns);
const one = (entry: unknown, data = f32Bytes(2)) => rawFile({ a: entry }, data);

example('a file shorter than the 8-byte length: named', () => bad(new Uint8Array(5), 'header length', '5 bytes'));
example('a header length past the limit or past the file: named', () => {
  const huge = new Uint8Array(16);
  new DataView(huge.buffer).setBigUint64(0, 2n ** 63n, true);
  const past = new Uint8Array(16);
  new DataView(past.buffer).setBigUint64(0, 100n, true);
  return bad(huge, 'header length', 'exceeds') && bad(past, 'header length', '100 bytes', 'only 8');
});
example('a header that is not JSON, or not an object: named', () => bad(rawFile(null, new Uint8Array(0), '{"a": '), 'header', 'JSON') && bad(rawFile([1, 2], new Uint8Array(0)), 'header', 'not a JSON object'));
example('an unknown or unsupported dtype: named with the tensor', () =>
  bad(one({ dtype: 'F33', shape: [2], data_offsets: [0, 8] }), "tensor 'a'.dtype", 'F33') && bad(one({ dtype: 'I32', shape: [2], data_offsets: [0, 8] }), "tensor 'a'.dtype", 'I32 is not read'));
example('a bad shape or bad offsets: named', () =>
  bad(one({ dtype: 'F32', shape: [-2], data_offsets: [0, 8] }), "tensor 'a'.shape") &&
  bad(one({ dtype: 'F32', shape: [2], data_offsets: [0] }), "tensor 'a'.data_offsets") &&
  bad(one({ dtype: 'F32', shape: [2], data_offsets: [4, 12] }), "tensor 'a'.data_offsets", 'inside the data section of 8') &&
  bad(one({ dtype: 'F32', shape: [2], data_offsets: [8, 0] }), "tensor 'a'.data_offsets"));
example('dtype × shape ≠ the byte length: named with both', () => bad(one({ dtype: 'F32', shape: [3], data_offsets: [0, 8] }), "tensor 'a'.data_offsets", '8 bytes', 'needs 12'));
example('overlapping tensors, a gap, or trailing bytes: named', () =>
  bad(rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, f32Bytes(2)), 'overlaps') &&
  bad(rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, f32Bytes(2)), 'unused') &&
  bad(rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, f32Bytes(2)), 'data section', 'cover only'));
example('an unknown entry field, or metadata that is not strings: named', () =>
  bad(one({ dtype: 'F32', shape: [2], data_offsets: [0, 8], extra: 1 }), "tensor 'a'", 'extra') && bad(rawFile({ __metadata__: { n: 1 } }, new Uint8Array(0)), '__metadata__.n'));
example('an I64 beyond ±2^53: named', () => {
  const d = new Uint8Array(8);
  new DataView(d.buffer).setBigInt64(0, 2n ** 60n, true);
  return bad(rawFile({ n: { dtype: 'I64', shape: [], data_offsets: [0, 8] } }, d), "tensor 'n'", '2^53');
});
example('a missing file: a SafetensorsError naming it', () => throwsWith(() => loadSafetensors('/nonexistent/x.safetensors'), SafetensorsError, '/nonexistent/x.safetensors', 'does not exist'));

// ---- sttn ⇄ PyTorch names ----------------------------------------------------------------------

const TERNARY = ['twn', 'ttq', 'sttn'] as const;
const modelOf = (name: PresetName, bits: Bits, ternary: (typeof TERNARY)[number]): Model =>
  orThrow(buildModel(preset(name, { bits, ternary, inputShape: [8, 8, 1], classes: 3, width: name === 'vgg7' ? 1 / 16 : 1 / 4 })));

/** Random parameters and random batch-norm statistics (variances > 0). */
function randomRun(m: Model, seed: number): { params: Tree; state: Tree } {
  const r = rng(seed);
  const { params, state } = initModel(m, r, 'float32');
  const fill = (t: Tensor, f: () => number): Tensor => ({ shape: t.shape, data: Float32Array.from(t.data, f) });
  const st = Object.fromEntries(
    Object.entries(state).map(([l, rec]) => [l, Object.fromEntries(Object.entries(rec).map(([k, t]) => [k, fill(t, k.endsWith('variance') ? () => 0.1 + uniform(r) : () => normal(r))]))]),
  );
  return { params, state: st };
}

const treesEqual = (a: Tree, b: Tree): boolean =>
  Object.keys(a).length === Object.keys(b).length &&
  Object.keys(a).every((l) => Object.keys(a[l]).length === Object.keys(b[l] ?? {}).length && Object.keys(a[l]).every((k) => b[l][k] !== undefined && a[l][k].data.every((x, i) => Object.is(x, b[l][k].data[i])) && tensorEqual(a[l][k], b[l][k])));

const runArb = fc.record({ name: fc.constantFrom<PresetName>('mlp', 'cnn-small', 'vgg7', 'resnet-small'), bits: fc.constantFrom(...BITS), ternary: fc.constantFrom(...TERNARY), seed: fc.nat() });

law(
  'sttn → safetensors file → sttn is bit-exact for every preset (params and batch-norm state)',
  [runArb],
  ({ name, bits, ternary, seed }) => {
    const m = modelOf(name, bits, ternary);
    const s = randomRun(m, seed);
    const back = fromSafetensors(m, parseSafetensors(exportSafetensors({ model: m, state: s }), 'mem').tensors);
    return treesEqual(s.params, back.params) && treesEqual(s.state, back.state);
  },
  { numRuns: 25 },
);

law(
  'an imported run evaluates to the identical accuracy and loss',
  [runArb.filter((r) => r.name !== 'vgg7'), fc.nat()],
  ({ name, bits, ternary, seed }, dataSeed) => {
    const m = modelOf(name, bits, ternary);
    const s = randomRun(m, seed);
    const back = fromSafetensors(m, parseSafetensors(exportSafetensors({ model: m, state: s }), 'mem').tensors);
    const r = rng(dataSeed);
    const n = 6;
    const data = { name: 'toy', images: tensor([n, 8, 8, 1], Float32Array.from({ length: n * 64 }, () => uniform(r))), labels: Uint8Array.from({ length: n }, () => Math.floor(uniform(r) * 3)), classes: 3 };
    const a = evaluate(cpu32, m, s, data);
    const b = evaluate(cpu32, m, back, data);
    return a.accuracy === b.accuracy && Object.is(a.loss, b.loss);
  },
  { numRuns: 8 },
);

example('names: cnn-small STTN 2+2 in PyTorch names and layouts (conv OIHW, STTN pair weight1/weight2, batch norm running_*)', () => {
  const m = modelOf('cnn-small', '2+2', 'sttn');
  const t = toSafetensors({ model: m, state: randomRun(m, 1) });
  const shape = (n: string) => t[n]?.shape.join(',');
  return (
    shape('features.0.weight') === '32,1,3,3' &&
    shape('features.0.bias') === '32' &&
    shape('features.2.running_var') === '32' &&
    shape('features.5.weight1') === '64,32,3,3' &&
    shape('features.5.weight2') === '64,32,3,3' &&
    shape('features.10.weight') === '3,256' &&
    !('features.5.weight' in t)
  );
});

example('missing, extra and misshapen tensors are all listed in one error', () => {
  const m = modelOf('cnn-small', '2+2', 'ttq');
  const t = { ...toSafetensors({ model: m, state: randomRun(m, 2) }) };
  delete t['features.0.bias'];
  delete t['features.5.wp'];
  t['features.99.weight'] = tensor([1], [0], 'float32');
  t['features.2.num_batches_tracked'] = tensor([], [7], 'float64');
  t['features.10.weight'] = tensor([2, 2], [0, 0, 0, 0], 'float32');
  return throwsWith(() => fromSafetensors(m, t, {}, { file: 'w.safetensors' }), SafetensorsError, 'w.safetensors', 'features.0.bias', 'features.5.wp', 'features.99.weight', 'features.10.weight', '[2, 2]') &&
    !throwsWith(() => fromSafetensors(m, t), SafetensorsError, 'num_batches_tracked');
});

example('a map renames tensors both ways; an unknown sttn path in it is an error naming it', () => {
  const m = modelOf('mlp', '32+32', 'sttn');
  const s = randomRun(m, 3);
  const first = m.names.find((n) => Object.keys(s.params[n]).includes('w'))!;
  const map = { 'fc1.weight': `${first}.w` };
  const t = toSafetensors({ model: m, state: s }, map);
  const back = fromSafetensors(m, t, map);
  return 'fc1.weight' in t && treesEqual(back.params, s.params) && throwsWith(() => toSafetensors({ model: m, state: s }, { x: 'l99_dense.w' }), SafetensorsError, 'l99_dense.w');
});

example('saveSafetensors writes a file that loads back bit for bit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sttn-st-'));
  try {
    const t = { a: tensor([2], [1.5, -0.25], 'float32'), b: tensor([], [Math.PI], 'float64') };
    saveSafetensors(join(dir, 'x.safetensors'), t, { k: 'v' });
    const f = loadSafetensors(join(dir, 'x.safetensors'));
    return tensorEqual(f.tensors.a, t.a) && f.tensors.b.data[0] === Math.PI && f.metadata.k === 'v';
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- a PyTorch-layout fixture -------------------------------------------------------------------

example('laws/fixtures/tiny-cnn.safetensors (PyTorch layout) imports to the logits its NumPy generator computed', () => {
  const dir = new URL('./fixtures/', import.meta.url);
  const fx = JSON.parse(readFileSync(new URL('tiny-cnn.logits.json', dir), 'utf8')) as { spec: unknown; inputShape: number[]; inputs: number[]; logits: number[][] };
  const m = orThrow(buildModel(fx.spec));
  const { params, state } = fromSafetensors(m, loadSafetensors(new URL('tiny-cnn.safetensors', dir).pathname).tensors);
  const f = forward(cpu32, m, params, state, tensor(fx.inputShape, Float32Array.from(fx.inputs)), { training: false, rng: rng(0) });
  const want = tensor([fx.logits.length, fx.logits[0].length], fx.logits.flat());
  return tensorClose(f.logits, want, 1e-4, 1e-5);
});

// ---- sttn import (app/cli/import.ts) ------------------------------------------------------------

example('sttn import: a run exported to safetensors imports to a checkpoint holding the same tensors, which eval reads; errors name the flag or the tensors', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sttn-import-'));
  try {
    const data = writeIdxDir(join(dir, 'data'), 8, 6);
    const m = modelOf('cnn-small', '2+2', 'sttn');
    const s = randomRun(m, 5);
    const file = join(dir, 'w.safetensors');
    writeFileSync(file, exportSafetensors({ model: m, state: s }));
    const imp = await runCli(['import', file, '--out', join(dir, 'run'), '--data', `idx:${data}`, '--json']);
    const ck = orThrow(fromCheckpoint(orThrow(loadCheckpoint(join(dir, 'run', 'checkpoint.json')))));
    const ev = await runCli(['eval', join(dir, 'run', 'checkpoint.json'), '--backend', 'cpu', '--json']);
    const want = evaluate(cpu32, m, s, loadIdxSplit(data, 'test'));
    const again = await runCli(['import', file, '--out', join(dir, 'run')]);
    const noOut = await runCli(['import', file]);
    const wrong = await runCli(['import', file, '--out', join(dir, 'run2'), '--data', `idx:${data}`, '--bits', '2+32', '--weights', 'ttq']);
    return (
      imp.code === 0 &&
      ck.state.step === 0 &&
      treesEqual(ck.state.params, s.params) &&
      treesEqual(ck.state.state, s.state) &&
      ev.code === 0 &&
      JSON.parse(ev.out).accuracy === want.accuracy &&
      again.code === 2 && again.err.includes('--force') &&
      noOut.code === 2 && noOut.err.includes('--out') &&
      wrong.code === 1 && wrong.err.includes('features.5.wp') && wrong.err.includes('features.5.weight1')
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
