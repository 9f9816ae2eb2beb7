/**
 * Export: a trained run (model spec + parameters + batch-norm statistics) → a `DeployedModel`.
 *
 * - Every quantized kernel becomes its deployable codes through its quantizer's `codes` (Eq. 6–7
 *   for STTN: W̃1 + W̃2 = α(B1 + B2), stored as codes (B1+B2)/2 ∈ {−1, 0, 1} and scale 2α, per tensor
 *   or per output channel as trained); TWN/TTQ keep their codes and scale(s), `sign` its ±1 codes
 *   and α; full-precision kernels (the first and last layers) stay float32. Biases are kept.
 * - Batch norm in inference form is the per-channel affine y = s·x + t with s = γ/√(var + ε),
 *   t = β − mean·s (computed in float64, stored float32). It is folded only where that is exact:
 *   * directly after a conv2d/dense (the layer's output goes nowhere else in a sequential model):
 *     into that layer — float kernels are scaled per output channel, binary/ternary kernels keep
 *     their codes and take s into their per-channel scale(s) (a per-tensor scale becomes per
 *     channel), and the bias becomes b·s + t;
 *   * directly before a full-precision dense layer with float input (optionally through a
 *     flatten, whose NHWC order puts the channel innermost) or a full-precision unpadded conv:
 *     into its kernel W·s and bias b + Σ W·t. (With zero padding this is not exact — the padded
 *     border would see t — so a padded conv keeps the affine.)
 *   Anywhere else — in particular before a layer whose `inputQuantizer` quantizes, where the
 *   threshold compares the normalised value — it stays an `affine` op before the quantizer.
 * - Dropout is the identity at inference and disappears.
 * - A residual block becomes a `residual` op whose body is exported by the same rules and whose
 *   shortcut is a max-pool window (or none), as src/layers/residual.ts plans it. A batch norm
 *   right after a block is not folded into the block: its output is a sum, not one layer's.
 *
 * Law (laws/export.test.ts): for every preset, bit-width pair and weight quantizer, the engine's
 * logits on the exported model equal the training-time inference forward of the checkpoint
 * within float32 tolerance, and the predicted classes are identical.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { Backend } from '../backend.js';
import { ConfigError } from '../errors.js';
import { buildLayer, type LayerSpec, type QSpec } from '../layers/index.js';
import { resolvePads } from '../layers/conv2d.js';
import type { Model } from '../models/model.js';
import type { Tree } from '../train/optim.js';
import type { Params } from '../quantizers/common.js';
import { kernelQuantizer, type KernelCodes } from '../quantizers/index.js';
import type { Tensor } from '../tensor.js';
import type { Act, DeployedModel, DeployedOp, Weights, WeightedOp } from './deployed.js';

/** A layer spec that holds no other layers. */
type PlainSpec = Exclude<LayerSpec, ResidualLike>;

/** What export reads from a run (`Run` of src/checkpoint/run.ts has it). */
export interface ExportSource {
  readonly model: Model;
  readonly state: { readonly params: Tree; readonly state: Tree; readonly step?: number };
}

const f32 = (t: Tensor): Float32Array => Float32Array.from(t.data);

function actOf(q: QSpec): Act {
  switch (q.id) {
    case 'fp':
      return { kind: 'fp' };
    case 'ste_sign':
      return { kind: 'sign' };
    case 'ternary': {
      const c = q.config as { threshold: number; boundary: 'paper' | 'official' };
      return { kind: 'ternary', threshold: c.threshold, boundary: c.boundary };
    }
    default:
      throw new ConfigError('inputQuantizer.id', `cannot deploy activation quantizer '${q.id}'`);
  }
}

function codesOf(t: Tensor, allowed: readonly number[], where: string): Int8Array {
  const out = new Int8Array(t.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = t.data[i];
    if (!allowed.includes(v)) throw new ConfigError(where, `code ${v} at element ${i} is not one of ${allowed.join(', ')}`);
    out[i] = v;
  }
  return out;
}

function weightsOf(c: KernelCodes, where: string): Weights {
  switch (c.kind) {
    case 'float':
      return { kind: 'float', w: f32(c.w) };
    case 'binary':
      return { kind: 'binary', codes: codesOf(c.codes, [-1, 1], `${where}.codes`), scale: f32(c.scale) };
    case 'ternary': {
      const scalePos = f32(c.scalePos);
      return { kind: 'ternary', codes: codesOf(c.codes, [-1, 0, 1], `${where}.codes`), scalePos, scaleNeg: c.scaleNeg === c.scalePos ? scalePos : f32(c.scaleNeg) };
    }
  }
}

/** Batch norm's inference affine, in float64. */
function bnAffine(params: Params, state: Params, epsilon: number): { s: Float64Array; t: Float64Array } {
  const c = params.gamma.data.length;
  const s = new Float64Array(c);
  const t = new Float64Array(c);
  for (let i = 0; i < c; i++) {
    s[i] = params.gamma.data[i] / Math.sqrt(state.variance.data[i] + epsilon);
    t[i] = params.beta.data[i] - state.mean.data[i] * s[i];
  }
  return { s, t };
}

const perChannel = (x: Float32Array, o: number, f: (v: number, c: number) => number): Float32Array =>
  Float32Array.from({ length: o }, (_, c) => f(x.length === 1 ? x[0] : x[c], c));

/** Fold y ↦ s·y + t (per output channel) into a weighted op. */
function foldAfter<W extends WeightedOp>(op: W, s: Float64Array, t: Float64Array, bn: string): W {
  const o = op.shape[0];
  const w = op.weights;
  let weights: Weights;
  if (w.kind === 'float') {
    const per = w.w.length / o;
    weights = { kind: 'float', w: w.w.map((v, k) => v * s[Math.floor(k / per)]) };
  } else if (w.kind === 'binary') {
    weights = { kind: 'binary', codes: w.codes, scale: perChannel(w.scale, o, (v, c) => v * s[c]) };
  } else {
    const scalePos = perChannel(w.scalePos, o, (v, c) => v * s[c]);
    weights = { kind: 'ternary', codes: w.codes, scalePos, scaleNeg: w.scaleNeg === w.scalePos ? scalePos : perChannel(w.scaleNeg, o, (v, c) => v * s[c]) };
  }
  const bias = Float32Array.from({ length: o }, (_, c) => (op.bias === null ? 0 : op.bias[c]) * s[c] + t[c]);
  return { ...op, weights, bias, folded: [...op.folded, bn] };
}

/**
 * Fold an affine x ↦ s·x + t over the input channels (input feature f has channel f mod C) into a
 * full-precision op with float input: W ↦ W·s, b ↦ b + Σ W·t.
 */
function foldBefore<W extends WeightedOp>(op: W, s: Float32Array, t: Float32Array, bn: string): W {
  if (op.weights.kind !== 'float') throw new ConfigError('export', 'foldBefore needs float weights');
  const o = op.shape[0];
  const w = op.weights.w;
  const per = w.length / o;
  const C = s.length;
  const w2 = new Float32Array(w.length);
  const bias = new Float32Array(o);
  for (let c = 0; c < o; c++) {
    let acc = op.bias === null ? 0 : op.bias[c];
    for (let k = 0; k < per; k++) {
      const ch = k % C;
      w2[c * per + k] = w[c * per + k] * s[ch];
      acc += w[c * per + k] * t[ch];
    }
    bias[c] = acc;
  }
  return { ...op, weights: { kind: 'float', w: w2 }, bias, folded: [...op.folded, bn] };
}

/** An affine can be folded into `op` (after an optional flatten) exactly. */
function foldableBefore(op: DeployedOp, channels: number, throughFlatten: boolean): op is WeightedOp {
  if (op.op !== 'dense' && op.op !== 'conv2d') return false;
  if (op.weights.kind !== 'float' || op.input.kind !== 'fp') return false;
  if (op.op === 'dense') return throughFlatten ? op.shape[1] % channels === 0 : op.shape[1] === channels;
  return !throughFlatten && op.pads[0] === 0 && op.pads[1] === 0 && op.shape[3] === channels;
}

/** One layer to export: its spec, name, input shape and its own parameter and state records. */
interface Item {
  readonly spec: LayerSpec;
  readonly name: string;
  readonly inShape: readonly number[];
  readonly params: Params;
  readonly state: Params;
}

/** A residual block's spec as src/layers/residual.ts reads it (typed here structurally). */
interface ResidualLike {
  readonly type: 'residual';
  readonly layers: readonly LayerSpec[];
}
const isResidual = (s: { type: string }): s is ResidualLike => s.type === 'residual';

/** The records of a block's layer under `prefix` (`'2.'`), as the block stores them. */
const under = (p: Params, prefix: string): Params =>
  Object.fromEntries(Object.entries(p).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));

/**
 * The shortcut's max-pool window of a block from input [h, w, c] to output [h', w', c'] (none when
 * the size is kept): window = stride = ⌊h/h'⌋ × ⌊w/w'⌋, as src/layers/residual.ts plans it.
 */
const shortcutPool = (inShape: readonly number[], out: readonly number[]): [number, number] | null =>
  inShape.length === 3 && (inShape[0] !== out[0] || inShape[1] !== out[1])
    ? [Math.max(1, Math.floor(inShape[0] / out[0])), Math.max(1, Math.floor(inShape[1] / out[1]))]
    : null;

function exportSeq(B: Backend, items: readonly Item[]): DeployedOp[] {
  const ops: DeployedOp[] = [];
  // the index in `ops` of the op emitted by the previous layer, when it was a weighted op
  let prevWeighted = -1;
  for (const { spec, name, inShape, params: p, state: st } of items) {
    const where = `export.${name}`;
    let weighted = -1;
    if (isResidual(spec)) {
      const body: Item[] = [];
      let shape = inShape;
      spec.layers.forEach((l, j) => {
        body.push({ spec: l, name: `${name}.${j}`, inShape: shape, params: under(p, `${j}.`), state: under(st, `${j}.`) });
        shape = buildLayer(l).outShape(shape);
      });
      ops.push({ op: 'residual', name, body: exportSeq(B, body), pool: shortcutPool(inShape, shape) });
      prevWeighted = -1;
      continue;
    }
    const s = spec as PlainSpec;
    switch (s.type) {
      case 'conv2d':
      case 'dense': {
        const q = kernelQuantizer(s.kernelQuantizer);
        if (E.isLeft(q)) throw q.left;
        const { b, ...kp } = p;
        const weights = weightsOf(q.right.codes(B, kp), where);
        if (s.useBias && b === undefined) throw new ConfigError(`${where}.b`, 'missing bias');
        const bias = s.useBias ? f32(b) : null;
        const input = actOf(s.inputQuantizer);
        if (s.type === 'conv2d') {
          const shape: [number, number, number, number] = [s.filters, s.kernelSize[0], s.kernelSize[1], inShape[2]];
          ops.push({ op: 'conv2d', name, shape, strides: [s.strides[0], s.strides[1]], pads: resolvePads(s.padding, s.kernelSize), input, weights, bias, folded: [] });
        } else {
          ops.push({ op: 'dense', name, shape: [s.units, inShape[0]], input, weights, bias, folded: [] });
        }
        weighted = ops.length - 1;
        break;
      }
      case 'batchNorm': {
        if (!p.gamma || !p.beta || !st.mean || !st.variance) throw new ConfigError(where, 'batch norm needs params {gamma, beta} and state {mean, variance}');
        const { s: scale, t: shift } = bnAffine(p, st, s.epsilon);
        if (prevWeighted >= 0) ops[prevWeighted] = foldAfter(ops[prevWeighted] as WeightedOp, scale, shift, name);
        else ops.push({ op: 'affine', name, scale: Float32Array.from(scale), shift: Float32Array.from(shift) });
        break;
      }
      case 'quantize':
        ops.push({ op: 'quantize', name, act: actOf(s.quantizer) });
        break;
      case 'relu':
      case 'globalAvgPool':
      case 'flatten':
        ops.push({ op: s.type, name });
        break;
      case 'prelu':
        if (!p.alpha) throw new ConfigError(`${where}.alpha`, 'missing');
        ops.push({ op: 'prelu', name, alpha: f32(p.alpha) });
        break;
      case 'maxPool':
        ops.push({ op: 'maxPool', name, size: [s.size[0], s.size[1]], strides: [s.strides[0], s.strides[1]] });
        break;
      case 'dropout':
        break;
      default:
        throw new ConfigError(where, `cannot export a layer of type '${(s as { type: string }).type}'`);
    }
    prevWeighted = weighted;
  }
  // affine → [flatten] → full-precision layer with float input: fold the affine into that layer
  const out: DeployedOp[] = [];
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    if (op.op === 'affine') {
      const through = ops[i + 1]?.op === 'flatten';
      const next = ops[i + (through ? 2 : 1)];
      if (next !== undefined && foldableBefore(next, op.scale.length, through)) {
        if (through) out.push(ops[i + 1]);
        out.push(foldBefore(next, op.scale, op.shift, op.name));
        i += through ? 2 : 1;
        continue;
      }
    }
    out.push(op);
  }
  return out;
}

/** The deployed form of a run. Throws a ConfigError naming the layer when a parameter is missing or malformed. */
export function exportModel(B: Backend, run: ExportSource): DeployedModel {
  const { model } = run;
  const items: Item[] = model.spec.layers.map((spec, i) => ({
    spec,
    name: model.names[i],
    inShape: model.shapes[i],
    params: run.state.params[model.names[i]] ?? {},
    state: run.state.state[model.names[i]] ?? {},
  }));
  return {
    name: model.spec.name,
    inputShape: [...model.spec.inputShape],
    classes: model.spec.classes,
    ops: exportSeq(B, items),
    source: { model: model.spec.name, ...(run.state.step !== undefined ? { step: run.state.step } : {}) },
  };
}
