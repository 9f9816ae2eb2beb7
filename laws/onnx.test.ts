/**
 * Laws of the ONNX export (src/export/onnx.ts):
 * - onnxruntime-web (wasm, one thread) on the exported cnn-small and vgg7 (narrow) at 2+2, 2+32
 *   and 32+32 gives the engine's probabilities within τ = max(1e-5, 2⁷·u·max|logit|) and its classes
 *   (where its two highest probabilities are more than 2τ apart), on test digits, the
 *   engine on the reference and on the WebAssembly ternary kernels; parameters are He-initialised
 *   with batch-norm statistics calibrated on a batch of training digits (so that activations cross
 *   the thresholds) and TTQ's two scales drawn apart, the quantizer, granularity and boundary drawn;
 * - the quantized layers' initializers (INT8 codes and their scales) are ≥ 3.5× smaller than the
 *   same kernels in float32;
 * - the bytes decode with protobufjs back to the graph that was encoded, with opset 13, the
 *   documented input and outputs, only standard ops, and the deployed codes in the INT8
 *   initializers (OIHW for a conv);
 * - a ternary activation respects its boundary at the threshold itself, and sign(0) = +1.
 *
 * Thresholds: an activation within rounding distance of a threshold may be quantized differently
 * by a differently ordered float32 sum. The engine's float mode (every quantizer on the backend) is
 * spied on as in laws/export.test.ts, and an example with a quantizer input x within
 * δ = 10⁻⁵·max(1, |x|) of a threshold is left out of the comparison; the law runs 96 digits and
 * compares a network only when at least 16 of them are away from every threshold (a deep net drawn
 * at random can bring two thirds of its examples near some threshold: vgg7 2+2 TTQ, 12 of 32 away;
 * and one whose background value, the same in every digit, falls within δ brings all of them: vgg7
 * 2+2 STTN seed 211491, a channel at −0.50000435 beside the threshold 0.5). Such a draw is rejected
 * with `fc.pre` and another drawn; more than 5 rejections per run fail the law. δ is taken per value, not from the tensor's largest value
 * as laws/export.test.ts does: a batch norm calibrated on a few digits gives near-dead channels
 * huge scales, and a δ from the largest value would leave most examples out.
 *
 * Tolerance: two float32 evaluations of the logits summed in different orders agreed within
 * 2⁸·u·max(1, max|l|) per row in every network measured (u = 2⁻²⁴, as laws/export.test.ts; a
 * measured bound, not a proven one: the worst case grows with Σ|terms|), and softmax moves a probability
 * by at most ½·max|Δl| (|∂p_j| = p_j·|Δl_j − Σ p_k·Δl_k| ≤ 2·p_j(1 − p_j)·max|Δl|), so a digit's
 * probabilities are compared within τ = max(10⁻⁵, 2⁷·u·max|l|): 10⁻⁵ where the logits are small, more
 * where they are large (vgg7 2+32 TTQ channel seed 0: logits up to 11.2 differing by 2.3·10⁻⁵, a
 * probability by 6.2·10⁻⁶; twice those logits would pass 10⁻⁵). Classes are compared where the
 * engine's two highest probabilities are more than 2τ apart: closer than that, probabilities within
 * τ may order them either way (0.5% of the digits drawn have them within 10⁻³).
 */
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { cpu32 } from '../backends/cpu.js';
import { createWasmTernaryKernels } from '../backends/ternary.js';
import type { Backend } from '../src/backend.js';
import { orThrow } from '../src/codec.js';
import { loadEmbeddedMnist } from '../src/data/mnist-embedded.js';
import { allOps, isWeighted, type DeployedModel } from '../src/export/deployed.js';
import { exportModel } from '../src/export/export.js';
import { decodeOnnx, exportOnnx, ONNX_DTYPE, ONNX_INPUT, ONNX_LOGITS, ONNX_OPSET, ONNX_PROBABILITIES, onnxGraph, type OnnxValueInfo } from '../src/export/onnx.js';
import { createEngine } from '../src/infer/engine.js';
import { referenceTernaryKernels } from '../src/infer/ternary-kernels.js';
import { buildModel, forward, initModel } from '../src/models/model.js';
import { preset, type Bits, type TernaryWeights } from '../src/models/presets.js';
import { rng, uniform } from '../src/random.js';
import type { Tensor } from '../src/tensor.js';
import { holdsAsync } from './async-law.js';
import { spyQuantizerInputs } from './backends.js';
import { example } from './law.js';

const ort = await import('onnxruntime-web');
ort.env.wasm.numThreads = 1;
const wasmKernels = await createWasmTernaryKernels();
const mnist = loadEmbeddedMnist();

/** `n` rows of a dataset's images starting at `from`. */
function slice(images: Tensor, from: number, n: number): Tensor {
  const per = images.shape.slice(1).reduce((a, b) => a * b, 1);
  return { shape: [n, ...images.shape.slice(1)], data: images.data.slice(from * per, (from + n) * per) };
}

interface Case {
  readonly name: 'cnn-small' | 'vgg7';
  readonly bits: Bits;
  readonly ternary: TernaryWeights;
  readonly granularity: 'tensor' | 'channel';
  readonly boundary: 'paper' | 'official';
  readonly seed: number;
}

/** A narrow preset, He-initialised, batch norm calibrated on 32 training digits (momentum 0: running stats = that batch's). */
function deployed(c: Case): DeployedModel {
  const spec = preset(c.name, {
    bits: c.bits,
    ternary: c.ternary,
    width: c.name === 'vgg7' ? 1 / 16 : 1 / 8,
    kernelConfig: { granularity: c.granularity },
    activationConfig: c.bits === '2+2' ? { boundary: c.boundary } : {},
  });
  const model = orThrow(buildModel({ ...spec, layers: spec.layers.map((l) => (l.type === 'batchNorm' ? { ...l, momentum: 0 } : l)) }));
  const r = rng(c.seed);
  const init = initModel(model, r, 'float32');
  // TTQ starts with equal positive and negative scales: draw them apart, so that the asymmetric path is exported
  const params = Object.fromEntries(
    Object.entries(init.params).map(([l, rec]) => [
      l,
      Object.fromEntries(Object.entries(rec).map(([k, v]) => [k, /(^|\.)w[pn]$/.test(k) ? { shape: v.shape, data: v.data.map(() => 0.5 + uniform(r)) } : v])),
    ]),
  );
  const s0 = init.state;
  const from = c.seed % (mnist.train.labels.length - 32);
  const state = forward(cpu32, model, params, s0, slice(mnist.train.images, from, 32), { training: true, rng: rng(c.seed + 1) }).state;
  return exportModel(cpu32, { model, state: { params, state } });
}

/** `B` with its activation quantizers watched: `near[i]` is set when example i brings a quantizer input x within δ = 10⁻⁵·max(1, |x|) of its threshold. */
const spy = (B: Backend, batch: number, near: boolean[]): Backend => spyQuantizerInputs(B, batch, near, (a, th) => Math.abs(a - th) <= 1e-5 * Math.max(1, a));

async function runOnnx(bytes: Uint8Array, x: Tensor): Promise<{ logits: Float32Array; probabilities: Float32Array }> {
  const s = await ort.InferenceSession.create(bytes);
  try {
    const out = await s.run({ [ONNX_INPUT]: new ort.Tensor('float32', Float32Array.from(x.data), x.shape) });
    return { logits: out[ONNX_LOGITS].data as Float32Array, probabilities: out[ONNX_PROBABILITIES].data as Float32Array };
  } finally {
    await s.release();
  }
}

const argmaxRow = (p: ArrayLike<number>, i: number, k: number): number => {
  let best = 0;
  for (let j = 1; j < k; j++) if (p[i * k + j] > p[i * k + best]) best = j;
  return best;
};

/** τ = max(10⁻⁵, 2⁷·u·max_j |l_ij|): the probability tolerance of row i (header). */
const tolerance = (logits: ArrayLike<number>, i: number, k: number): number => {
  let m = 0;
  for (let j = 0; j < k; j++) m = Math.max(m, Math.abs(logits[i * k + j]));
  return Math.max(1e-5, 2 ** 7 * 2 ** -24 * m);
};

/** The highest probability of row i minus the second highest. */
const gapOfTopTwo = (p: ArrayLike<number>, i: number, k: number): number => {
  let [a, b] = [-Infinity, -Infinity];
  for (let j = 0; j < k; j++) {
    const v = p[i * k + j];
    if (v > a) [a, b] = [v, a];
    else if (v > b) b = v;
  }
  return a - b;
};

/** Largest |Δp|/τ over the compared examples per network, recorded for the report printed at the end. */
const worst = new Map<string, number>();

const arbCase = (name: Case['name'], bits: Bits): fc.Arbitrary<Case> =>
  fc.record({
    name: fc.constant(name),
    bits: fc.constant(bits),
    ternary: fc.constantFrom<TernaryWeights>('sttn', 'twn', 'ttq'),
    granularity: fc.constantFrom<'tensor' | 'channel'>('tensor', 'channel'),
    boundary: fc.constantFrom<'paper' | 'official'>('paper', 'official'),
    seed: fc.nat({ max: 1e6 }),
  });

/** Test digits run per case, and how many of them each engine must compare (away from every threshold). */
const N = 96;
const AWAY = 16;

for (const name of ['cnn-small', 'vgg7'] as const) {
  for (const bits of ['2+2', '2+32', '32+32'] as const) {
    example(`onnx: onnxruntime-web on the exported ${name} ${bits} gives the engine's probabilities within max(1e-5, 2^7·u·max|logit|) and its classes where they are 2τ apart, on test digits`, () =>
      holdsAsync(
        arbCase(name, bits),
        async (c) => {
          const d = deployed(c);
          const from = c.seed % (mnist.test.labels.length - N);
          const x = slice(mnist.test.images, from, N);
          const near = new Array<boolean>(N).fill(false);
          createEngine(d, { backend: spy(cpu32, N, near), mode: 'float' }).run(x);
          fc.pre(near.filter((v) => !v).length >= AWAY); // too few digits away from the thresholds to compare
          const k = d.classes;
          const onnx = await runOnnx(exportOnnx(d), x);
          let compared = 0;
          for (const kernels of [referenceTernaryKernels, wasmKernels]) {
            const p = createEngine(d, { backend: cpu32, kernels }).predict(x);
            for (let i = 0; i < N; i++) {
              if (near[i]) continue;
              compared++;
              const tau = tolerance(p.logits.data, i, k);
              if (gapOfTopTwo(p.probabilities, i, k) > 2 * tau && (argmaxRow(onnx.probabilities, i, k) !== p.classes[i] || argmaxRow(onnx.logits, i, k) !== p.classes[i])) {
                console.error(`onnx: example ${i}: class ${argmaxRow(onnx.probabilities, i, k)} ≠ engine's ${p.classes[i]}`, c);
                return false;
              }
              for (let j = 0; j < k; j++) {
                const dp = Math.abs(onnx.probabilities[i * k + j] - p.probabilities[i * k + j]);
                worst.set(`${name} ${bits}`, Math.max(worst.get(`${name} ${bits}`) ?? 0, dp / tau));
                if (!(dp <= tau)) {
                  console.error(`onnx: example ${i}: |Δp| = ${dp} > τ = ${tau}`, c);
                  return false;
                }
              }
            }
          }
          return compared >= 2 * AWAY; // two engines: at least AWAY examples each (fc.pre above)
        },
        3,
        5,
      ),
    );
  }
}

example('onnx: (report) the largest |Δp|/τ seen above', () => {
  console.log(`# onnx: max |Δp|/τ onnxruntime-web vs engine: ${[...worst].map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ')}`);
  return [...worst.values()].every((v) => v <= 1);
});

// ---------------------------------------------------------------------------------------------
// sizes and structure

const STANDARD_OPS = new Set(['Transpose', 'Conv', 'Gemm', 'Cast', 'Mul', 'Add', 'Sub', 'Neg', 'Relu', 'PRelu', 'Greater', 'GreaterOrEqual', 'Less', 'Where', 'MaxPool', 'ReduceMean', 'Flatten', 'Pad', 'Identity', 'Softmax']);

const anyCase = fc.record({
  name: fc.constantFrom<Case['name']>('cnn-small', 'vgg7'),
  bits: fc.constantFrom<Bits>('2+2', '2+32', '1+1', '1+32'),
  ternary: fc.constantFrom<TernaryWeights>('sttn', 'twn', 'ttq'),
  granularity: fc.constantFrom<'tensor' | 'channel'>('tensor', 'channel'),
  boundary: fc.constantFrom<'paper' | 'official'>('paper', 'official'),
  seed: fc.nat({ max: 1e6 }),
});

example('onnx: the quantized layers\' initializers (INT8 codes and scales) are ≥ 3.5× smaller than float32', () =>
  holdsAsync(
    anyCase,
    async (c) => {
      const d = deployed(c);
      const inits = new Map(onnxGraph(d).graph.initializer.map((t) => [t.name, t]));
      let float = 0;
      let stored = 0;
      for (const op of allOps(d.ops)) {
        if (!isWeighted(op) || op.weights.kind === 'float') continue;
        float += 4 * op.weights.codes.length;
        for (const [key, t] of inits) if (key.startsWith(`${op.name}.`) && !key.endsWith('.bias')) stored += t.rawData.length;
      }
      return stored > 0 && float / stored >= 3.5;
    },
    5,
  ),
);

/** A value's name, element type and dims (a symbolic dim as its name). */
const plainValue = (v: OnnxValueInfo): [string, number, (number | string)[]] => [
  v.name,
  v.type.tensorType.elemType,
  v.type.tensorType.shape.dim.map((x) => ('dimParam' in x && x.dimParam !== '' ? x.dimParam : (x as { dimValue: number }).dimValue)),
];

/** The deployed codes in OIHW (conv) or as stored (dense). */
function codesOf(op: ReturnType<typeof allOps>[number]): Int8Array | null {
  if (!isWeighted(op) || op.weights.kind === 'float') return null;
  const c = op.weights.codes;
  if (op.op === 'dense') return c;
  const [o, kh, kw, ci] = op.shape;
  const out = new Int8Array(c.length);
  for (let a = 0; a < o; a++) for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) for (let k = 0; k < ci; k++) out[((a * ci + k) * kh + i) * kw + j] = c[((a * kh + i) * kw + j) * ci + k];
  return out;
}

example('onnx: the bytes decode with protobufjs back to the encoded graph: opset 13, input/outputs as documented, standard ops, the deployed codes as INT8', () =>
  holdsAsync(
    anyCase,
    async (c) => {
      const d = deployed(c);
      const g = onnxGraph(d);
      const m = decodeOnnx(exportOnnx(d));
      const plainNode = (n: (typeof g.graph.node)[number]) => ({ name: n.name, opType: n.opType, input: [...n.input], output: [...n.output], attribute: (n.attribute ?? []).map((a) => [a.name, a.type, a.i ?? 0, [...(a.ints ?? [])]]) });
      const plainInit = (t: (typeof g.graph.initializer)[number]) => ({ name: t.name, dims: [...t.dims], dataType: t.dataType, raw: [...t.rawData] });
      const sameGraph =
        isDeepStrictEqual(m.graph.node.map(plainNode), g.graph.node.map(plainNode)) &&
        isDeepStrictEqual(m.graph.initializer.map(plainInit), g.graph.initializer.map(plainInit)) &&
        isDeepStrictEqual(m.graph.input.map(plainValue), g.graph.input.map(plainValue)) &&
        isDeepStrictEqual(m.graph.output.map(plainValue), g.graph.output.map(plainValue));
      const io =
        m.opsetImport.length === 1 &&
        m.opsetImport[0].domain === '' &&
        m.opsetImport[0].version === ONNX_OPSET &&
        m.graph.input.map((v) => v.name).join() === ONNX_INPUT &&
        m.graph.output.map((v) => v.name).join() === `${ONNX_LOGITS},${ONNX_PROBABILITIES}` &&
        isDeepStrictEqual(plainValue(m.graph.input[0]), [ONNX_INPUT, ONNX_DTYPE.FLOAT, ['N', ...d.inputShape]]);
      const standard = m.graph.node.every((n) => STANDARD_OPS.has(n.opType));
      const inits = new Map(m.graph.initializer.map((t) => [t.name, t]));
      const codes = allOps(d.ops).every((op) => {
        const want = codesOf(op);
        if (want === null) return true;
        const t = inits.get(`${op.name}.codes`);
        return t !== undefined && t.dataType === ONNX_DTYPE.INT8 && isDeepStrictEqual([...new Int8Array(t.rawData.buffer, t.rawData.byteOffset, t.rawData.length)], [...want]);
      });
      return sameGraph && io && standard && codes;
    },
    5,
  ),
);

example('onnx: ternary activations respect their boundary at ±θ exactly, and sign(0) = +1', async () => {
  const th = 0.1; // not a float32: x > θ and x ≥ θ on float32 x must follow the double θ
  const cases = (['paper', 'official'] as const).map((boundary) => ({ boundary, act: { kind: 'ternary', threshold: th, boundary } as const }));
  const xs = Float32Array.from([Math.fround(th), -Math.fround(th), th + 1e-7, -th - 1e-7, 0, 1, -1, 0.05, -0.05]);
  const ref = (boundary: 'paper' | 'official', v: number) =>
    boundary === 'paper' ? (v > th ? 1 : v < -th ? -1 : 0) : v >= th ? 1 : v < -th ? -1 : 0;
  const model = (act: DeployedModel['ops'][number] & { op: 'quantize' }): DeployedModel => ({
    name: 'q',
    inputShape: [xs.length],
    classes: xs.length,
    ops: [act],
    source: {},
  });
  let ok = true;
  for (const { boundary, act } of cases) {
    const y = await runOnnx(exportOnnx(model({ name: 'q', op: 'quantize', act })), { shape: [1, xs.length], data: xs });
    ok &&= [...xs].every((v, i) => y.logits[i] === ref(boundary, v));
  }
  const s = await runOnnx(exportOnnx(model({ name: 's', op: 'quantize', act: { kind: 'sign' } })), { shape: [1, xs.length], data: xs });
  ok &&= [...xs].every((v, i) => s.logits[i] === (v >= 0 ? 1 : -1));
  return ok;
});
