/**
 * The inference engine: runs a `DeployedModel` on a batch of NHWC float inputs and returns logits.
 *
 * Each weighted op is compiled once, when the engine is created, into one of two paths:
 * - **float** (weights 32 bits, or 2/1-bit weights with float activations, `2+32`, `1+32`): the
 *   codes are decoded once into a float kernel w = scale·code and the op runs as a float conv or
 *   GEMM. Storage is 2 bits, compute is float: a multiply-free add/subtract loop over the ±1
 *   codes measured 0.74–0.86× the FMA float GEMM at the ~1/3 zero codes the models have, paying off
 *   only above ~1/2 zeros (bench/ternary-options.ts, bench/INFER.md), so it is not used.
 * - **ternary × ternary** (binary/ternary weights with ternary or sign activations, `2+2`, `1+1`):
 *   one `TernaryKernels.layer`: the activations are quantized once per layer into codes (with the
 *   layer's threshold; the affines and relus, and a `quantize` op, right before are fused into
 *   that step, computing the same float32 values the backend would), unfolded into rows of
 *   K = kh·kw·cin codes (im2col, channels innermost as NHWC and OHWI are), packed, multiplied by
 *   the packed weight rows into exact integers, then scaled per output channel and biased:
 *     y_o = s_o·Σ x·c + b_o                                     (STTN, TWN, sign: scalePos = scaleNeg)
 *     y_o = (sp_o+sn_o)/2·Σ x·c + (sp_o−sn_o)/2·Σ x·|c| + b_o    (TTQ: two products)
 *   evaluated in float64 and rounded once to the backend's dtype.
 * A relu right after a weighted op is applied in that op's epilogue (both paths). In `auto` mode,
 * on `fast` kernels (the WebAssembly ones), the kernels also take what surrounds the ternary
 * layers: a max-pool (and a relu after it) right after a conv on the kernels is fused into it,
 * every other max-pool runs there too, and on a float32 backend so do the float convolutions
 * with at most 4 input channels (`floatConv`, direct: an image network's first layer) and the
 * float dense ops (`floatDense`, weights kept there). Everything else (affine, …) runs on the
 * backend. A step on the kernels whose output the next step reads at once leaves it in the
 * kernels' memory (`TernaryLayer.runInPlace`, where the kernels have it: the WebAssembly ones,
 * so the next step on them reads it without a copy); other steps on the kernels write into an
 * array each keeps from call to call, except the step whose output becomes the result. `mode: 'float'` forces the float
 * path everywhere, all on the backend (ternary activations as float −1/0/+1): the float engine of
 * the benchmark. `profile` times each step.
 *
 * `src/` never imports a backend: the caller passes the `Backend` (the CLI: wasm) and the
 * `TernaryKernels` (default: the reference implementation of src/infer/ternary-kernels.ts; the CLI
 * and the benchmark pass the WebAssembly ones).
 *
 * Law (laws/engine.test.ts, laws/export.test.ts): a ternary × ternary layer equals the float64
 * evaluation of the same layer on the codes (exact integers, then scaled) bit for bit, on both
 * kernels; the engine on an exported model equals the training-time inference forward within
 * float32 tolerance, and gives the same logits bit for bit on the WebAssembly kernels (their
 * default plain build) as on the reference ones; a result is not changed by later runs; an input
 * with a NaN or ±∞ is a NonFiniteError naming its index.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { Backend } from '../backend.js';
import { outSize } from '../backend.js';
import { ConfigError, NonFiniteError, ShapeError } from '../errors.js';
import { alloc, reshape, sameShape, size, type Data, type DType, type Tensor } from '../tensor.js';
import { chainShapes, decodeWeights, opShapes, type Act, type DeployedModel, type DeployedOp, type ResidualOp, type WeightedOp } from '../export/deployed.js';
import { referenceTernaryKernels, type PatchGeometry, type Pool, type PreOp, type TernaryKernels, type TernaryLayer } from './ternary-kernels.js';

export interface EngineOptions {
  /** Runs the float layers and the element-wise ops. */
  readonly backend: Backend;
  /** Ternary × ternary products (default: the reference implementation). */
  readonly kernels?: TernaryKernels;
  /** `auto` (default): 2+2 and 1+1 layers on `kernels`, the rest float. `float`: every layer float. */
  readonly mode?: 'auto' | 'float';
  /** Values per im2col chunk of a ternary layer (bounds its scratch memory; default 2²⁰). */
  readonly chunkValues?: number;
}

export interface Prediction {
  readonly logits: Tensor;
  /** softmax of each row of logits, `[n, classes]` row-major */
  readonly probabilities: Float64Array;
  /** argmax of each row */
  readonly classes: Uint16Array;
}

export interface Engine {
  readonly model: DeployedModel;
  /** How each op runs, one line per step (e.g. `l04_conv2d: conv2d ternary×ternary (reference)`). */
  readonly plan: readonly string[];
  /** Logits `[n, classes]` of a batch `[n, ...inputShape]`. */
  run(x: Tensor): Tensor;
  predict(x: Tensor): Prediction;
  /** Median milliseconds of each top-level step over `repeats` runs on `x` (where the time goes). */
  profile(x: Tensor, repeats?: number): { readonly step: string; readonly ms: number }[];
}

type Step = (x: Tensor) => Tensor;

function floatAct(B: Backend, x: Tensor, act: Act): Tensor {
  if (act.kind === 'fp') return x;
  if (act.kind === 'sign') return B.unary('sign', x);
  return B.scalar(act.boundary === 'paper' ? 'ternarize' : 'ternarizeOfficial', x, act.threshold);
}

const usesCodes = (op: WeightedOp): boolean => op.weights.kind !== 'float';

/** Per-output-channel factors of the ternary × ternary epilogue: y = a·Σx·c + b·Σx·|c| + bias. */
function epilogueScales(op: WeightedOp): { a: Float64Array; b: Float64Array | null } {
  const o = op.shape[0];
  const w = op.weights;
  if (w.kind === 'float') throw new ConfigError('engine', 'float weights have no codes');
  const at = (s: Float32Array, c: number) => (s.length === 1 ? s[0] : s[c]);
  if (w.kind === 'binary') return { a: Float64Array.from({ length: o }, (_, c) => at(w.scale, c)), b: null };
  const a = new Float64Array(o);
  const b = new Float64Array(o);
  let asym = false;
  for (let c = 0; c < o; c++) {
    const sp = at(w.scalePos, c);
    const sn = at(w.scaleNeg, c);
    a[c] = (sp + sn) / 2;
    b[c] = (sp - sn) / 2;
    if (b[c] !== 0) asym = true;
  }
  return { a, b: asym ? b : null };
}

interface TernaryLayerOp {
  readonly op: WeightedOp;
  /** a relu right after the op, applied in the epilogue */
  readonly relu: boolean;
  readonly act: Exclude<Act, { kind: 'fp' }>;
  /** element-wise ops right before the op, fused into the quantization */
  readonly pre: readonly PreOp[];
  /** a max pooling right after (conv only) */
  readonly pool: Pool | null;
  readonly inShape: readonly number[];
}

/**
 * What a step run on the kernels does with its output: `fresh`, a new array (the engine's
 * result); `reused`, one array reused from call to call, so that a batch allocates nothing there;
 * `inPlace`, left in the kernels' memory for the next step to read without a copy
 * (`TernaryLayer.runInPlace`, where the kernels have it; else as `reused`).
 */
type Output = 'fresh' | 'reused' | 'inPlace';

function outputs(dtype: DType, output: Output): (len: number) => Data | undefined {
  let buf: Data | undefined;
  return (len) => {
    if (output === 'fresh') return undefined;
    if (buf === undefined || buf.length !== len) buf = alloc(dtype, len);
    return buf;
  };
}

/** `layer.run`, or `layer.runInPlace` when the output is to stay in place and the kernels can. */
function runner(layer: TernaryLayer, dtype: DType, output: Output): (x: Data, n: number, len: number) => Data {
  const inPlace = output === 'inPlace' ? layer.runInPlace?.bind(layer) : undefined;
  if (inPlace !== undefined) return (x, n) => inPlace(x, n);
  const out = outputs(dtype, output);
  return (x, n, len) => layer.run(x, n, out(len));
}

/** The shape after an optional max pooling of [n, h, w, c]. */
const pooledShape = (n: number, h: number, w: number, c: number, p: Pool | null): number[] =>
  p === null ? [n, h, w, c] : [n, outSize(h, p.size[0], p.strides[0], 0), outSize(w, p.size[1], p.strides[1], 0), c];

/** The ternary × ternary step of a conv2d or dense op: one `TernaryKernels.layer`, compiled here once. */
function ternaryStep(B: Backend, K: TernaryKernels, L: TernaryLayerOp, chunkValues: number, output: Output): Step {
  const { op, act, pre } = L;
  const o = op.shape[0];
  const k = op.op === 'conv2d' ? op.shape[1] * op.shape[2] * op.shape[3] : op.shape[1];
  const { a, b } = epilogueScales(op);
  const conv: PatchGeometry | null =
    op.op === 'conv2d'
      ? { h: L.inShape[0], w: L.inShape[1], cin: op.shape[3], kh: op.shape[1], kw: op.shape[2], sh: op.strides[0], sw: op.strides[1], ph: op.pads[0], pw: op.pads[1] }
      : null;
  const layer = K.layer({
    codes: (op.weights as { codes: Int8Array }).codes,
    o,
    k,
    conv,
    pre,
    act,
    a,
    b,
    bias: op.bias === null ? new Float64Array(o) : Float64Array.from(op.bias),
    relu: L.relu,
    dtype: B.dtype,
    chunkValues,
    pool: conv === null ? null : L.pool,
  });
  const run = runner(layer, B.dtype, output);
  if (conv === null) return (x) => ({ shape: [x.shape[0], o], data: run(x.data, x.shape[0], x.shape[0] * o) });
  const oh = outSize(conv.h, conv.kh, conv.sh, conv.ph);
  const ow = outSize(conv.w, conv.kw, conv.sw, conv.pw);
  return (x) => {
    const shape = pooledShape(x.shape[0], oh, ow, o, L.pool);
    return { shape, data: run(x.data, x.shape[0], size(shape)) };
  };
}

/** A float convolution with few input channels computed directly (`TernaryKernels.floatConv`), bias, relu and pooling included. */
function directStep(B: Backend, K: TernaryKernels, op: WeightedOp & { op: 'conv2d' }, inShape: readonly number[], relu: boolean, pool: Pool | null, output: Output): Step {
  const [o, kh, kw, cin] = op.shape;
  const g: PatchGeometry = { h: inShape[0], w: inShape[1], cin, kh, kw, sh: op.strides[0], sw: op.strides[1], ph: op.pads[0], pw: op.pads[1] };
  const conv = K.floatConv({ weights: decodeWeights(op), o, conv: g, bias: op.bias ?? new Float32Array(o), relu, pool });
  const oh = outSize(g.h, kh, g.sh, g.ph);
  const ow = outSize(g.w, kw, g.sw, g.pw);
  const run = runner(conv, B.dtype, output);
  return (x) => {
    const shape = pooledShape(x.shape[0], oh, ow, o, pool);
    return { shape, data: run(x.data, x.shape[0], size(shape)) };
  };
}

/** A float dense op on the kernels' dense layer (`TernaryKernels.floatDense`: weights kept there), bias and relu included. */
function denseStep(B: Backend, K: TernaryKernels, op: WeightedOp & { op: 'dense' }, relu: boolean, output: Output): Step {
  const [o, k] = op.shape;
  const dense = K.floatDense({ weights: decodeWeights(op), o, k, bias: op.bias ?? new Float32Array(o), relu });
  const run = runner(dense, B.dtype, output);
  return (x) => ({ shape: [x.shape[0], o], data: run(x.data, x.shape[0], x.shape[0] * o) });
}

/** The float step of a conv2d or dense op: decoded kernel on the backend, then bias (and relu) in one pass. */
function floatStep(B: Backend, op: WeightedOp, relu: boolean): Step {
  const act = op.input;
  const w = B.from({ shape: [...op.shape], data: decodeWeights(op) });
  const o = op.shape[0];
  const bias = op.bias === null ? new Float64Array(o) : Float64Array.from(op.bias);
  // y is the backend's fresh output: finished in place (v + b rounded to its dtype, then max(·, 0))
  const epilogue = (y: Tensor): Tensor => {
    const d = y.data;
    if (relu) {
      for (let i = 0, c = 0; i < d.length; i++) {
        d[i] += bias[c];
        if (!(d[i] > 0)) d[i] = 0;
        if (++c === o) c = 0;
      }
    } else {
      for (let i = 0, c = 0; i < d.length; i++) {
        d[i] += bias[c];
        if (++c === o) c = 0;
      }
    }
    return y;
  };
  if (op.op === 'dense') return (x) => epilogue(B.matmul(floatAct(B, x, act), w, { transB: true }));
  const opts = { strides: op.strides, pads: op.pads };
  return (x) => epilogue(B.conv2d(floatAct(B, x, act), w, opts));
}

function affineStep(B: Backend, a: { readonly scale: Float32Array; readonly shift: Float32Array }): Step {
  const scale = B.from({ shape: [a.scale.length], data: a.scale });
  const shift = B.from({ shape: [a.shift.length], data: a.shift });
  return (x) => {
    const ax = x.shape.length - 1;
    return B.binary('add', B.binary('mul', x, scale, ax), shift, ax);
  };
}

function simpleStep(B: Backend, op: Exclude<DeployedOp, WeightedOp | ResidualOp | { op: 'affine' }>): Step {
  switch (op.op) {
    case 'quantize':
      return (x) => floatAct(B, x, op.act);
    case 'relu':
      return (x) => B.unary('relu', x);
    case 'prelu': {
      const alpha = op.alpha;
      return (x) => {
        const c = alpha.length;
        const y = alloc(B.dtype, x.data.length);
        for (let i = 0; i < y.length; i++) {
          const v = x.data[i];
          y[i] = v > 0 ? v : v * alpha[i % c];
        }
        return { shape: [...x.shape], data: y };
      };
    }
    case 'maxPool':
      return (x) => B.maxPool(x, { size: op.size, strides: op.strides });
    case 'globalAvgPool':
      return (x) => {
        const [n, h, w, c] = x.shape;
        return B.scalar('mul', B.reduce('sum', reshape(x, [n, h * w, c]), 1), 1 / (h * w));
      };
    case 'flatten':
      return (x) => reshape(x, [x.shape[0], size(x.shape) / x.shape[0]]);
  }
}

/** The shortcut of a residual op: optional max-pool, then zero channels up to `cout`. */
function shortcut(B: Backend, x: Tensor, pool: readonly [number, number] | null, cout: number): Tensor {
  let sc = pool === null ? x : B.maxPool(x, { size: pool, strides: pool });
  const cin = sc.shape[sc.shape.length - 1];
  if (cout > cin) {
    const m = size(sc.shape) / cin;
    const out = alloc(B.dtype, m * cout);
    for (let i = 0; i < m; i++) for (let k = 0; k < cin; k++) out[i * cout + k] = sc.data[i * cin + k];
    sc = { shape: [...sc.shape.slice(0, -1), cout], data: out };
  }
  return sc;
}

/** Float convolutions with at most this many input channels run directly (`TernaryKernels.floatConv`) in `auto` mode. */
const DIRECT_MAX_CIN = 4;

interface Compiler {
  readonly B: Backend;
  readonly K: TernaryKernels;
  readonly mode: 'auto' | 'float';
  readonly chunk: number;
}

/** The steps of `ops` given the per-example shape before each op; `plan` gets one line per step. */
function compile(c: Compiler, ops: readonly DeployedOp[], shapes: readonly (readonly number[])[], plan: string[], indent = '', labels: string[] = [], top = true): Step[] {
  const { B, K, mode, chunk } = c;
  const steps: Step[] = [];
  const label = (l: string) => labels.push(l);
  // a step that ends at op `last` may reuse its output array unless that array becomes the engine's result (a flatten only reshapes)
  const reuse = (last: number): boolean => !top || !ops.slice(last + 1).every((f) => f.op === 'flatten');
  // and may leave it in the kernels' memory when the next step reads it at once: at the top level,
  // and not before a residual op (which reads its input again after its body has run on the kernels)
  const output = (last: number): Output => {
    if (!reuse(last)) return 'fresh';
    const next = ops.slice(last + 1).find((f) => f.op !== 'flatten');
    return top && next !== undefined && next.op !== 'residual' ? 'inPlace' : 'reused';
  };
  // a max-pool (and a relu) right after op `last`: fused into the step ending there (names of the fused ops, or none)
  const poolAfter = (last: number): { pool: Pool; names: string[] } | null => {
    const p = ops[last + 1];
    if (mode !== 'auto' || !K.fast || p === undefined || p.op !== 'maxPool') return null;
    const relu = ops[last + 2]?.op === 'relu';
    return { pool: { size: p.size, strides: p.strides, relu }, names: relu ? [p.name, ops[last + 2].name] : [p.name] };
  };
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    const next = ops[i + 1];
    // element-wise ops (affines, relus) and/or a quantize feeding a weighted op on codes: fused into its input step
    if (mode === 'auto' && (op.op === 'affine' || op.op === 'relu' || op.op === 'quantize')) {
      const pre: PreOp[] = [];
      let j = i;
      for (let e = ops[j]; e !== undefined && (e.op === 'affine' || e.op === 'relu'); e = ops[++j]) pre.push(e.op === 'affine' ? { kind: 'affine', scale: e.scale, shift: e.shift } : { kind: 'relu' });
      let w: WeightedOp | null = null;
      let act: Act = { kind: 'fp' };
      const at = ops[j];
      const after = ops[j + 1];
      if (at !== undefined && at.op === 'quantize') {
        if (after !== undefined && (after.op === 'conv2d' || after.op === 'dense') && after.input.kind === 'fp') {
          w = after;
          act = at.act;
          j++;
        }
      } else if (at !== undefined && (at.op === 'conv2d' || at.op === 'dense') && j > i) {
        w = at;
        act = at.input;
      }
      if (w !== null && act.kind !== 'fp' && usesCodes(w)) {
        const relu = ops[j + 1]?.op === 'relu';
        let last = j + (relu ? 1 : 0);
        const pooled = w.op === 'conv2d' ? poolAfter(last) : null;
        if (pooled !== null) last += pooled.names.length;
        const fused = ops.slice(i, last + 1);
        const names = fused.map((f) => f.name).join(' + ');
        steps.push(ternaryStep(B, K, { op: w, act, pre, relu, pool: pooled?.pool ?? null, inShape: shapes[i] }, chunk, output(last)));
        label(`${names} (${w.op} ${w.weights.kind}×${act.kind})`);
        const poolNote = pooled === null ? '' : ` + maxPool${pooled.pool.relu ? ' + relu' : ''}`;
        plan.push(`${indent}${names}: ${fused.slice(0, j - i).map((f) => f.op).join(', ')} fused into ${w.op} ${w.weights.kind}×${act.kind}${relu ? ' + relu' : ''}${poolNote} on ${K.name} ternary kernels`);
        i = last;
        continue;
      }
    }
    switch (op.op) {
      case 'conv2d':
      case 'dense': {
        const relu = next?.op === 'relu';
        const folded = op.folded.length > 0 ? ` (${op.folded.join(', ')} folded in)` : '';
        const tail = relu ? ' + relu' : '';
        const ternary = op.input.kind !== 'fp' && usesCodes(op) && mode === 'auto';
        const onKernels = !ternary && op.input.kind === 'fp' && mode === 'auto' && K.fast && B.dtype === 'float32';
        const direct = onKernels && op.op === 'conv2d' && op.shape[3] <= DIRECT_MAX_CIN;
        let last = i + (relu ? 1 : 0);
        const pooled = (ternary || direct) && op.op === 'conv2d' ? poolAfter(last) : null;
        if (pooled !== null) last += pooled.names.length;
        const names = ops.slice(i, last + 1).map((f) => f.name).join(' + ') + folded;
        const poolNote = pooled === null ? '' : ` + maxPool${pooled.pool.relu ? ' + relu' : ''}`;
        if (ternary) {
          steps.push(ternaryStep(B, K, { op, act: op.input as Exclude<Act, { kind: 'fp' }>, pre: [], relu, pool: pooled?.pool ?? null, inShape: shapes[i] }, chunk, output(last)));
          label(`${names} (${op.op} ${op.weights.kind}×${op.input.kind})`);
          plan.push(`${indent}${names}: ${op.op} ${op.weights.kind}×${op.input.kind}${tail}${poolNote} on ${K.name} ternary kernels`);
        } else if (direct && op.op === 'conv2d') {
          steps.push(directStep(B, K, op, shapes[i], relu, pooled?.pool ?? null, output(last)));
          label(`${names} (conv2d float, direct)`);
          plan.push(`${indent}${names}: conv2d ${op.weights.kind}${op.weights.kind === 'float' ? '' : ' decoded to float'}×fp${tail}${poolNote}, direct (cin ${op.shape[3]}) on ${K.name} ternary kernels`);
        } else if (onKernels && op.op === 'dense') {
          steps.push(denseStep(B, K, op, relu, output(last)));
          label(`${names} (dense float)`);
          plan.push(`${indent}${names}: dense ${op.weights.kind}${op.weights.kind === 'float' ? '' : ' decoded to float'}×fp${tail} on ${K.name} ternary kernels`);
        } else {
          steps.push(floatStep(B, op, relu));
          label(`${names} (${op.op} float)`);
          plan.push(`${indent}${names}: ${op.op} ${op.weights.kind}${op.weights.kind === 'float' ? '' : ' decoded to float'}×${op.input.kind}${tail} on ${B.name}`);
        }
        i = last;
        break;
      }
      case 'affine':
        steps.push(affineStep(B, op));
        label(`${op.name} (affine)`);
        plan.push(`${indent}${op.name}: affine on ${B.name}`);
        break;
      case 'residual': {
        const inner = chainShapes(op.body, shapes[i]);
        if (E.isLeft(inner)) throw new ConfigError('engine', inner.left);
        plan.push(`${indent}${op.name}: residual, shortcut ${op.pool === null ? 'identity' : `max-pool ${op.pool.join('×')}`}, body:`);
        const body = compile(c, op.body, inner.right, plan, indent + '  ', [], false);
        const out = shapes[i + 1];
        const cout = out[out.length - 1];
        label(`${op.name} (residual)`);
        steps.push((x) => {
          let y = x;
          for (const s of body) y = s(y);
          return B.binary('add', y, shortcut(B, x, op.pool, cout));
        });
        break;
      }
      case 'maxPool':
        if (mode === 'auto' && K.fast) {
          // on the ternary kernels' native pool (a relu right after is applied in the same pass)
          const relu = next?.op === 'relu';
          const pool: Pool = { size: op.size, strides: op.strides, relu };
          const out = outputs(B.dtype, reuse(i + (relu ? 1 : 0)) ? 'reused' : 'fresh');
          steps.push((x) => {
            const [n, h, w, ch] = x.shape;
            const shape = pooledShape(n, h, w, ch, pool);
            return { shape, data: K.maxPool(x.data, [n, h, w, ch], pool.size, pool.strides, relu, out(size(shape))) };
          });
          label(`${relu ? `${op.name} + ${next.name}` : op.name} (maxPool)`);
          plan.push(`${indent}${op.name}${relu ? ` + ${next.name}` : ''}: maxPool${relu ? ' + relu' : ''} on ${K.name} ternary kernels`);
          if (relu) i++;
          break;
        }
        steps.push(simpleStep(B, op));
        label(`${op.name} (${op.op})`);
        plan.push(`${indent}${op.name}: ${op.op} on ${B.name}`);
        break;
      default:
        steps.push(simpleStep(B, op));
        label(`${op.name} (${op.op})`);
        plan.push(`${indent}${op.name}: ${op.op} on ${B.name}`);
    }
  }
  return steps;
}

/**
 * The index of the first ±∞ or NaN of `d`, or −1. First Σ v·0 in four chains (v·0 is NaN exactly
 * when v is not finite, else ±0, and a sum of zeros is zero): half the time of testing each value's
 * exponent bits (0.10 against 0.17–0.20 ms for vgg7's batch of 64, serial work ahead of the
 * threads); only a batch that has one is searched, by its exponent bits (all set).
 */
function nonFiniteF32(d: Float32Array): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const n = d.length;
  let i = 0;
  for (const n4 = n & ~3; i < n4; i += 4) {
    s0 += d[i] * 0;
    s1 += d[i + 1] * 0;
    s2 += d[i + 2] * 0;
    s3 += d[i + 3] * 0;
  }
  for (; i < n; i++) s0 += d[i] * 0;
  if (s0 + s1 + s2 + s3 === 0) return -1;
  const bits = new Int32Array(d.buffer, d.byteOffset, n);
  for (let j = 0; j < n; j++) if ((bits[j] & 0x7f800000) === 0x7f800000) return j;
  return -1;
}

/** Compile `model` for `opts.backend`. Throws a ConfigError when the model's shapes do not chain. */
export function createEngine(model: DeployedModel, opts: EngineOptions): Engine {
  const B = opts.backend;
  const shapes = opShapes(model);
  if (E.isLeft(shapes)) throw new ConfigError('engine', shapes.left);
  const plan: string[] = [];
  const labels: string[] = [];
  const steps = compile({ B, K: opts.kernels ?? referenceTernaryKernels, mode: opts.mode ?? 'auto', chunk: opts.chunkValues ?? 1 << 20 }, model.ops, shapes.right, plan, '', labels);
  const check = (x: Tensor): Tensor => {
    if (x.shape.length < 1 || !sameShape(x.shape.slice(1), model.inputShape)) {
      throw new ShapeError(`engine input (${model.name})`, `[batch, ${model.inputShape.join(', ')}]`, x.shape);
    }
    // the array read once: `x` comes in many shapes of object, and a property read per value was 10% of a batch-64 run
    const d = x.data;
    const at = d instanceof Float32Array ? nonFiniteF32(d) : d.findIndex((v) => !Number.isFinite(v));
    if (at >= 0) throw new NonFiniteError('engine input', at, d[at]);
    return B.from(x);
  };
  const run = (x: Tensor): Tensor => {
    let y = check(x);
    for (const s of steps) y = s(y);
    return y;
  };
  return {
    model,
    plan,
    run,
    profile(x, repeats = 5) {
      const times = steps.map(() => [] as number[]);
      for (let r = 0; r < repeats; r++) {
        let y = check(x);
        steps.forEach((s, i) => {
          const t0 = performance.now();
          y = s(y);
          times[i].push(performance.now() - t0);
        });
      }
      return times.map((ts, i) => ({ step: labels[i], ms: [...ts].sort((a, b) => a - b)[ts.length >> 1] }));
    },
    predict(x) {
      const logits = run(x);
      const [n, k] = logits.shape;
      const probabilities = new Float64Array(n * k);
      const classes = new Uint16Array(n);
      for (let i = 0; i < n; i++) {
        let best = 0;
        let max = -Infinity;
        for (let j = 0; j < k; j++) {
          const v = logits.data[i * k + j];
          if (v > max) {
            max = v;
            best = j;
          }
        }
        let sum = 0;
        for (let j = 0; j < k; j++) sum += probabilities[i * k + j] = Math.exp(logits.data[i * k + j] - max);
        for (let j = 0; j < k; j++) probabilities[i * k + j] /= sum;
        classes[i] = best;
      }
      return { logits, probabilities, classes };
    },
  };
}
