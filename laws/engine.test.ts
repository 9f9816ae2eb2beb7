/**
 * Laws of the inference engine (src/infer/engine.ts) and of its image readers (src/infer/images.ts):
 * - a ternary × ternary layer (2+2, 1+1, TTQ's two scales, per-tensor or per-channel, any geometry
 *   and any im2col chunking) equals the float64 evaluation of the same layer — the codes'
 *   products are exact integers, the decoded kernel's sums are exact in float64 — rounded once to
 *   float32, bit for bit, on the reference and on the WebAssembly ternary kernels; the float path
 *   gives the same within float32 tolerance;
 * - bad inputs are typed errors naming what is wrong;
 * - a PGM, a PNG and an IDX file of the same pixels give the same input, and an image of another
 *   size is an error naming the file and both sizes.
 */
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import pngjs from 'pngjs';
import { cpu32, cpu64 } from '../backends/cpu.js';
import { createWasmTernaryKernels } from '../backends/ternary.js';
import { outSize } from '../src/backend.js';
import { DataFileError } from '../src/data/dataset.js';
import { NonFiniteError, ShapeError } from '../src/errors.js';
import { decodeWeights, type Act, type DeployedModel, type WeightedOp, type Weights } from '../src/export/deployed.js';
import { createEngine } from '../src/infer/engine.js';
import { referenceTernaryKernels } from '../src/infer/ternary-kernels.js';
import { batchOf, readImages } from '../src/infer/images.js';
import type { Tensor } from '../src/tensor.js';
import { example, law, throwsWith } from './law.js';

const dir = mkdtempSync(join(tmpdir(), 'sttn-engine-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const wasmKernels = await createWasmTernaryKernels();

const f32 = fc.float({ min: Math.fround(0.25), max: 4, noNaN: true });

const arbAct: fc.Arbitrary<Exclude<Act, { kind: 'fp' }>> = fc.oneof(
  fc.record({ kind: fc.constant('ternary' as const), threshold: fc.constantFrom(0.25, 0.5, Math.fround(0.7)), boundary: fc.constantFrom<'paper' | 'official'>('paper', 'official') }),
  fc.constant({ kind: 'sign' as const }),
);

/** Weights of `o` output channels × `per` codes: ternary (one or two scales) or binary, per tensor or per channel. */
const arbWeights = (o: number, per: number): fc.Arbitrary<Weights> =>
  fc.oneof(
    fc.record({
      codes: fc.array(fc.constantFrom(-1, 0, 1), { minLength: o * per, maxLength: o * per }),
      sp: fc.array(f32, { minLength: 1, maxLength: 1 }).chain((one) => fc.oneof(fc.constant(one), fc.array(f32, { minLength: o, maxLength: o }))),
      asym: fc.boolean(),
      sn: fc.array(f32, { minLength: o, maxLength: o }),
    }).map(({ codes, sp, asym, sn }): Weights => {
      const scalePos = Float32Array.from(sp);
      return { kind: 'ternary', codes: Int8Array.from(codes), scalePos, scaleNeg: asym ? Float32Array.from(sn) : scalePos };
    }),
    fc.record({ codes: fc.array(fc.constantFrom(-1, 1), { minLength: o * per, maxLength: o * per }), s: fc.array(f32, { minLength: 1, maxLength: o }) }).map(
      ({ codes, s }): Weights => ({ kind: 'binary', codes: Int8Array.from(codes), scale: Float32Array.from(s.length === 1 || s.length === o ? s : s.slice(0, 1)) }),
    ),
  );

/** Inputs that hit the thresholds exactly now and then. */
const arbInput = (n: number, act: Act) =>
  fc.array(fc.oneof(fc.float({ min: -2, max: 2, noNaN: true }), fc.constantFrom(0, act.kind === 'ternary' ? act.threshold : 0, act.kind === 'ternary' ? -act.threshold : -0)), { minLength: n, maxLength: n });

interface Case {
  readonly op: WeightedOp;
  readonly inputShape: number[];
  readonly n: number;
  readonly x: number[];
  readonly chunk: number;
}

const arbConv: fc.Arbitrary<Case> = fc
  .record({
    n: fc.integer({ min: 1, max: 3 }),
    h: fc.integer({ min: 1, max: 6 }),
    w: fc.integer({ min: 1, max: 6 }),
    // 16, 32, 48, 64 and 96 take the packed-word im2col (16- or 32-lane pieces), the others the code rows
    c: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.constantFrom(32, 48, 64, 96)),
    o: fc.integer({ min: 1, max: 5 }),
    kh: fc.integer({ min: 1, max: 3 }),
    kw: fc.integer({ min: 1, max: 3 }),
    sh: fc.integer({ min: 1, max: 2 }),
    sw: fc.integer({ min: 1, max: 2 }),
    ph: fc.integer({ min: 0, max: 1 }),
    pw: fc.integer({ min: 0, max: 1 }),
    act: arbAct,
    bias: fc.boolean(),
    chunk: fc.integer({ min: 1, max: 400 }),
  })
  .filter((g) => outSize(g.h, g.kh, g.sh, g.ph) >= 1 && outSize(g.w, g.kw, g.sw, g.pw) >= 1)
  .chain((g) =>
    fc.record({
      weights: arbWeights(g.o, g.kh * g.kw * g.c),
      bias: fc.array(fc.float({ min: -1, max: 1, noNaN: true }), { minLength: g.o, maxLength: g.o }),
      x: arbInput(g.n * g.h * g.w * g.c, g.act),
    }).map(({ weights, bias, x }): Case => ({
      op: {
        op: 'conv2d',
        name: 'conv',
        shape: [g.o, g.kh, g.kw, g.c],
        strides: [g.sh, g.sw],
        pads: [g.ph, g.pw],
        input: g.act,
        weights,
        bias: g.bias ? Float32Array.from(bias) : null,
        folded: [],
      },
      inputShape: [g.h, g.w, g.c],
      n: g.n,
      x,
      chunk: g.chunk,
    })),
  );

const arbDense: fc.Arbitrary<Case> = fc
  .record({ n: fc.integer({ min: 1, max: 5 }), k: fc.integer({ min: 1, max: 150 }), o: fc.integer({ min: 1, max: 6 }), act: arbAct, bias: fc.boolean(), chunk: fc.integer({ min: 1, max: 400 }) })
  .chain((g) =>
    fc.record({ weights: arbWeights(g.o, g.k), bias: fc.array(fc.float({ min: -1, max: 1, noNaN: true }), { minLength: g.o, maxLength: g.o }), x: arbInput(g.n * g.k, g.act) }).map(
      ({ weights, bias, x }): Case => ({
        op: { op: 'dense', name: 'dense', shape: [g.o, g.k], input: g.act, weights, bias: g.bias ? Float32Array.from(bias) : null, folded: [] },
        inputShape: [g.k],
        n: g.n,
        x,
        chunk: g.chunk,
      }),
    ),
  );

/** The layer as a model: the op, then a flatten, one "class" per output value. */
function modelOf(c: Case): DeployedModel {
  const outShape = c.op.op === 'conv2d' ? [outSize(c.inputShape[0], c.op.shape[1], c.op.strides[0], c.op.pads[0]), outSize(c.inputShape[1], c.op.shape[2], c.op.strides[1], c.op.pads[1]), c.op.shape[0]] : [c.op.shape[0]];
  return { name: 'layer', inputShape: c.inputShape, classes: outShape.reduce((a, b) => a * b, 1), ops: [c.op, { op: 'flatten', name: 'flatten' }], source: {} };
}

/** The float64 evaluation: quantize x, convolve (or multiply) with the decoded kernel, add the bias. */
function float64Layer(c: Case, x: Tensor): Float64Array {
  const act = c.op.input;
  const xq = act.kind === 'sign' ? cpu64.unary('sign', x) : act.kind === 'ternary' ? cpu64.scalar(act.boundary === 'paper' ? 'ternarize' : 'ternarizeOfficial', x, act.threshold) : cpu64.from(x);
  const w: Tensor = { shape: [...c.op.shape], data: Float64Array.from(decodeWeights(c.op)) };
  let y = c.op.op === 'conv2d' ? cpu64.conv2d(xq, w, { strides: c.op.strides, pads: c.op.pads }) : cpu64.matmul(xq, w, { transB: true });
  if (c.op.bias !== null) y = cpu64.binary('add', y, { shape: [c.op.bias.length], data: Float64Array.from(c.op.bias) }, y.shape.length - 1);
  return y.data as Float64Array;
}

const layerLaw = (what: string, arb: fc.Arbitrary<Case>) =>
  law(
    `engine: a ternary × ternary ${what} equals the float64 evaluation on the codes, rounded once to float32, bit for bit; the float path agrees within float32 tolerance`,
    [arb],
    (c) => {
      const x: Tensor = { shape: [c.n, ...c.inputShape], data: Float32Array.from(c.x) };
      const m = modelOf(c);
      const want = float64Layer(c, x);
      const exactly = (e: ReturnType<typeof createEngine>): boolean => e.run(x).data.every((v, i) => Object.is(v, Math.fround(want[i])) || (v === 0 && want[i] === 0));
      const auto = createEngine(m, { backend: cpu32, chunkValues: c.chunk });
      const onWasm = createEngine(m, { backend: cpu32, chunkValues: c.chunk, kernels: wasmKernels });
      const exact = exactly(auto) && exactly(onWasm);
      const flt = createEngine(m, { backend: cpu32, mode: 'float' }).run(x);
      let scale = 1;
      for (const v of want) scale = Math.max(scale, Math.abs(v));
      const close = flt.data.every((v, i) => Math.abs(v - want[i]) <= 2 ** 10 * cpu32.precision * scale);
      return auto.plan[0].includes('reference ternary kernels') && onWasm.plan[0].includes('wasm ternary kernels') && exact && close;
    },
    { numRuns: 150 },
  );

layerLaw('conv2d (any geometry, padding, strides, im2col chunking)', arbConv);
layerLaw('dense', arbDense);

const tiny: DeployedModel = {
  name: 'tiny',
  inputShape: [2, 2, 1],
  classes: 4,
  ops: [{ op: 'flatten', name: 'flatten' }],
  source: {},
};

example('engine: an input of the wrong shape is a ShapeError naming the expected shape; a NaN or ±∞ is a NonFiniteError naming its index (float32 and float64 inputs)', () => {
  const e = createEngine(tiny, { backend: cpu32 });
  const e64 = createEngine(tiny, { backend: cpu64 });
  return (
    throwsWith(() => e.run({ shape: [1, 3, 2, 1], data: new Float32Array(6) }), ShapeError, '[batch, 2, 2, 1]', '[1, 3, 2, 1]') &&
    throwsWith(() => e.run({ shape: [1, 2, 2, 1], data: Float32Array.of(0, NaN, 0, 0) }), NonFiniteError, 'engine input', 'index 1') &&
    throwsWith(() => e.run({ shape: [2, 2, 2, 1], data: Float32Array.of(0, -0, 3e38, -1e-45, 1, 2, 3, -Infinity) }), NonFiniteError, 'engine input', '-Infinity at flat index 7') &&
    throwsWith(() => e64.run({ shape: [1, 2, 2, 1], data: Float64Array.of(0, 1, Infinity, NaN) }), NonFiniteError, 'engine input', 'Infinity at flat index 2') &&
    e.run({ shape: [1, 2, 2, 1], data: Float32Array.of(-0, 3.4e38, -1e-45, 0) }).data.every(Number.isFinite)
  );
});

law(
  'engine: a float32 batch of any length with one ±∞ or NaN anywhere (or two) is a NonFiniteError naming the first; with none (±0, ±3.4e38, subnormals) it runs',
  [
    fc.record({
      n: fc.integer({ min: 1, max: 53 }),
      vals: fc.array(fc.constantFrom(0, -0, 1, -2.5, 3.4e38, -3.4e38, 1e-45, -1e-45, 1.2e-38), { minLength: 160, maxLength: 160 }),
      bad: fc.option(fc.record({ at: fc.nat(), v: fc.constantFrom(Infinity, -Infinity, NaN), later: fc.option(fc.nat()) })),
    }),
  ],
  ({ n, vals, bad }) => {
    // three values per input: batches of every length mod 4
    const e = createEngine({ ...tiny, inputShape: [3, 1, 1], classes: 3 }, { backend: cpu32 });
    const data = Float32Array.from({ length: 3 * n }, (_, i) => vals[i]);
    if (bad === null) return e.run({ shape: [n, 3, 1, 1], data }).shape[0] === n;
    const at = bad.at % data.length;
    data[at] = bad.v;
    if (bad.later !== null && at + 1 < data.length) data[at + 1 + (bad.later % (data.length - at - 1))] = NaN;
    return throwsWith(() => e.run({ shape: [n, 3, 1, 1], data }), NonFiniteError, 'engine input', `${String(bad.v)} at flat index ${at}`);
  },
  { numRuns: 300 },
);

example('engine: predict gives softmax probabilities that sum to 1 and the argmax class', () => {
  const r = createEngine(tiny, { backend: cpu32 }).predict({ shape: [2, 2, 2, 1], data: Float32Array.of(0, 3, 1, 2, 5, 1, 1, 1) });
  const sums = [0, 1].map((i) => r.probabilities.subarray(4 * i, 4 * i + 4).reduce((a, b) => a + b, 0));
  return r.classes[0] === 1 && r.classes[1] === 0 && sums.every((s) => Math.abs(s - 1) < 1e-12);
});

// ---------------------------------------------------------------------------------------------
// images

const px = Uint8Array.from({ length: 12 }, (_, i) => (i * 23) % 256);

function writeImages(): { pgm: string; png: string; idx: string } {
  const pgm = join(dir, 'x.pgm');
  writeFileSync(pgm, Buffer.concat([Buffer.from('P5 4\n# width 4, height 3\n3 255\n'), Buffer.from(px)]));
  const png = join(dir, 'x.png');
  const img = new pngjs.PNG({ width: 4, height: 3 });
  for (let i = 0; i < 12; i++) img.data.set([px[i], px[i], px[i], 255], 4 * i);
  writeFileSync(png, pngjs.PNG.sync.write(img, { colorType: 0 }));
  const idx = join(dir, 'x-idx3-ubyte');
  const head = Buffer.alloc(16);
  head.writeUInt32BE(0x803, 0);
  head.writeUInt32BE(1, 4);
  head.writeUInt32BE(3, 8);
  head.writeUInt32BE(4, 12);
  writeFileSync(idx, Buffer.concat([head, Buffer.from(px)]));
  return { pgm, png, idx };
}

example('images: a PGM, a PNG and an IDX file of the same pixels give the same input (v/255)', async () => {
  const files = writeImages();
  const batches = await Promise.all(Object.values(files).map(async (f) => batchOf(await readImages(f), [3, 4, 1])));
  return batches.every((b) => b.shape.join() === '1,3,4,1' && b.data.every((v, i) => v === Math.fround(px[i] / 255)));
});

example('images: an image of another size is a DataFileError naming the file and both sizes; a bad file names its field', async () => {
  const { pgm } = writeImages();
  const imgs = await readImages(pgm);
  const bad = join(dir, 'bad.pgm');
  writeFileSync(bad, Buffer.from('P5 4 3 255\n\x01\x02'));
  let truncated = false;
  try {
    await readImages(bad);
  } catch (e) {
    truncated = e instanceof DataFileError && e.message.includes('bad.pgm') && e.message.includes('truncated');
  }
  return truncated && throwsWith(() => batchOf(imgs, [28, 28, 1]), DataFileError, 'x.pgm', '4×3', '28×28', 'does not resize');
});

example('engine: a result is not changed by later runs (the arrays reused between steps stay inside the engine), on the reference and the WebAssembly kernels', () => {
  const r = (len: number, s: number) => Float32Array.from({ length: len }, (_, i) => Math.fround(Math.sin(i * 12.9898 + s) * 1.7));
  const model: DeployedModel = {
    name: 'reuse',
    inputShape: [6, 6, 1],
    classes: 5,
    ops: [
      { op: 'conv2d', name: 'c0', shape: [4, 3, 3, 1], strides: [1, 1], pads: [1, 1], input: { kind: 'fp' }, weights: { kind: 'float', w: r(36, 1) }, bias: r(4, 2), folded: [] },
      { op: 'maxPool', name: 'p0', size: [2, 2], strides: [2, 2] },
      { op: 'affine', name: 'bn', scale: r(4, 3), shift: r(4, 4) },
      { op: 'relu', name: 'r0' },
      { op: 'conv2d', name: 'c1', shape: [5, 3, 3, 4], strides: [1, 1], pads: [1, 1], input: { kind: 'ternary', threshold: 0.5, boundary: 'paper' }, weights: { kind: 'ternary', codes: Int8Array.from(r(180, 5), (v) => Math.sign(Math.round(v))), scalePos: Float32Array.of(0.5), scaleNeg: Float32Array.of(0.5) }, bias: null, folded: [] },
      { op: 'relu', name: 'r1' },
      { op: 'maxPool', name: 'p1', size: [3, 3], strides: [3, 3] },
      { op: 'flatten', name: 'f' },
    ],
    source: {},
  };
  const x1: Tensor = { shape: [2, 6, 6, 1], data: r(72, 6) };
  const x2: Tensor = { shape: [2, 6, 6, 1], data: r(72, 7) };
  return [undefined, { ...referenceTernaryKernels, fast: true }, wasmKernels].every((kernels) => {
    const e = createEngine(model, { backend: cpu32, kernels });
    const a = e.run(x1);
    const copy = Float32Array.from(a.data);
    const b = e.run(x2);
    const again = e.run(x1);
    const fused = !(kernels?.fast ?? false) || e.plan.filter((l) => l.includes('+ maxPool')).length === 2;
    return fused && a.data !== b.data && a.data.every((v, i) => Object.is(v, copy[i])) && again.data.every((v, i) => Object.is(v, copy[i])) && b.data.some((v, i) => v !== copy[i]);
  });
});

example('engine: a step on the kernels whose output feeds a residual op (read again after the body ran on the kernels, whose first run grows their memory) gives the reference kernels\' logits bit for bit, on fresh WebAssembly kernels', async () => {
  const r = (len: number, s: number) => Float32Array.from({ length: len }, (_, i) => Math.fround(Math.sin(i * 12.9898 + s) * 1.7));
  const codes = (len: number, s: number) => Int8Array.from(r(len, s), (v) => Math.sign(Math.round(v)));
  const model: DeployedModel = {
    name: 'residual-after-kernels',
    inputShape: [32, 32, 1],
    classes: 3,
    ops: [
      { op: 'conv2d', name: 'c0', shape: [16, 3, 3, 1], strides: [1, 1], pads: [1, 1], input: { kind: 'fp' }, weights: { kind: 'float', w: r(144, 1) }, bias: r(16, 2), folded: [] },
      { op: 'relu', name: 'r0' },
      {
        op: 'residual',
        name: 'res',
        pool: null,
        body: [
          { op: 'affine', name: 'bn', scale: r(16, 3), shift: r(16, 4) },
          { op: 'conv2d', name: 'c1', shape: [16, 3, 3, 16], strides: [1, 1], pads: [1, 1], input: { kind: 'ternary', threshold: 0.5, boundary: 'paper' }, weights: { kind: 'ternary', codes: codes(2304, 5), scalePos: Float32Array.of(0.5), scaleNeg: Float32Array.of(0.5) }, bias: null, folded: [] },
        ],
      },
      { op: 'globalAvgPool', name: 'g' },
      { op: 'dense', name: 'd', shape: [3, 16], input: { kind: 'fp' }, weights: { kind: 'float', w: r(48, 6) }, bias: null, folded: [] },
    ],
    source: {},
  };
  const x: Tensor = { shape: [16, 32, 32, 1], data: r(16 * 1024, 7) };
  const want = createEngine(model, { backend: cpu32, kernels: { ...referenceTernaryKernels, fast: true } }).run(x);
  const e = createEngine(model, { backend: cpu32, kernels: await createWasmTernaryKernels() });
  const got = e.run(x);
  return e.plan.some((l) => l.includes('direct')) && got.data.length === want.data.length && got.data.every((v, i) => Object.is(v, want.data[i]));
});
