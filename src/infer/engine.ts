/**
 * The inference engine: runs a `DeployedModel` on a batch of NHWC float inputs and returns logits.
 *
 * Each weighted op is compiled once, when the engine is created, into one of two paths:
 * - **float** (weights 32 bits, or 2/1-bit weights with float activations, `2+32`, `1+32`): the
 *   codes are decoded once into a float kernel w = scale·code and the op runs on the `Backend`'s
 *   float conv/GEMM. Storage is 2 bits, compute is float: on FMA hardware a multiply-free
 *   add/subtract loop is slower than a float GEMM, so it is not used.
 * - **ternary × ternary** (binary/ternary weights with ternary or sign activations, `2+2`, `1+1`):
 *   the activations are quantized once per layer into codes (with the layer's threshold; an
 *   `affine` or a `quantize` op right before is fused into that step, computing the same float32
 *   values), unfolded into rows of K = kh·kw·cin codes (im2col, channels innermost as NHWC and
 *   OHWI are) packed as `TernaryKernels.pack` packs them, multiplied by the packed weight rows with
 *   `TernaryKernels.gemm` into exact integers, then scaled per output channel and biased:
 *     y_o = s_o·Σ x·c + b_o                                     (STTN, TWN, sign: scalePos = scaleNeg)
 *     y_o = (sp_o+sn_o)/2·Σ x·c + (sp_o−sn_o)/2·Σ x·|c| + b_o    (TTQ: two products)
 *   evaluated in float64 and rounded once to the backend's dtype. When cin is a multiple of 16 the
 *   im2col moves packed words (see `ternaryStep`), otherwise codes that are then packed.
 * A relu right after a weighted op is applied in that op's epilogue (both paths); everything else
 * (affine, pooling, …) runs on the backend. `mode: 'float'` forces the float path everywhere
 * (ternary activations as float −1/0/+1): the float engine of the benchmark. `profile` times each
 * step.
 *
 * `src/` never imports a backend: the caller passes the `Backend` (the CLI: wasm) and the
 * `TernaryKernels` (default: the reference implementation of src/infer/ternary-kernels.ts; the CLI
 * and the benchmark pass the WebAssembly ones).
 *
 * Laws (laws/engine.test.ts, laws/export.test.ts): a ternary × ternary layer equals the float64
 * evaluation of the same layer on the codes (exact integers, then scaled) bit for bit; the engine
 * on an exported model equals the training-time inference forward within float32 tolerance.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { Backend } from '../backend.js';
import { outSize } from '../backend.js';
import { ConfigError, NonFiniteError, ShapeError } from '../errors.js';
import { alloc, reshape, sameShape, size, type Data, type Tensor } from '../tensor.js';
import { chainShapes, decodeWeights, opShapes, type Act, type DeployedModel, type DeployedOp, type ResidualOp, type WeightedOp } from '../export/deployed.js';
import { referenceTernaryKernels, wordsPerRow, type TernaryKernels } from './ternary-kernels.js';

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

/** x·scale + shift over the last axis, rounded as the backend's two element-wise ops would be. */
interface Affine {
  readonly scale: Float32Array;
  readonly shift: Float32Array;
}

/**
 * Codes of the activation `act` of x (optionally after an affine over the last axis), one Int8
 * per element. One loop per case, so that each stays monomorphic and free of branches on the mode.
 */
function quantizeCodes(x: Data, act: Exclude<Act, { kind: 'fp' }>, pre: Affine | null, f32: boolean, out: Int8Array): Int8Array {
  const n = x.length;
  if (pre === null) {
    if (act.kind === 'sign') for (let i = 0; i < n; i++) out[i] = x[i] >= 0 ? 1 : -1;
    else {
      const th = act.threshold;
      if (act.boundary === 'paper') for (let i = 0; i < n; i++) out[i] = x[i] > th ? 1 : x[i] < -th ? -1 : 0;
      else for (let i = 0; i < n; i++) out[i] = x[i] >= th ? 1 : x[i] < -th ? -1 : 0;
    }
    return out;
  }
  // y = x·scale + shift with the backend's roundings (float32: mul, round, add, round), then the
  // same comparisons as above, on y. Flat loops with a channel counter: one pass, no modulo.
  const C = pre.scale.length;
  const { scale, shift } = pre;
  const th = act.kind === 'ternary' ? act.threshold : 0;
  const mode = act.kind === 'sign' ? 0 : act.boundary === 'paper' ? 1 : 2;
  // (written out per case: a rounding passed as a function value is not inlined)
  if (f32) {
    if (mode === 0) {
      for (let i = 0, c = 0; i < n; i++) {
        out[i] = Math.fround(Math.fround(x[i] * scale[c]) + shift[c]) >= 0 ? 1 : -1;
        if (++c === C) c = 0;
      }
    } else if (mode === 1) {
      for (let i = 0, c = 0; i < n; i++) {
        const v = Math.fround(Math.fround(x[i] * scale[c]) + shift[c]);
        out[i] = v > th ? 1 : v < -th ? -1 : 0;
        if (++c === C) c = 0;
      }
    } else {
      for (let i = 0, c = 0; i < n; i++) {
        const v = Math.fround(Math.fround(x[i] * scale[c]) + shift[c]);
        out[i] = v >= th ? 1 : v < -th ? -1 : 0;
        if (++c === C) c = 0;
      }
    }
    return out;
  }
  for (let i = 0, c = 0; i < n; i++) {
    const v = x[i] * scale[c] + shift[c];
    out[i] = mode === 0 ? (v >= 0 ? 1 : -1) : mode === 1 ? (v > th ? 1 : v < -th ? -1 : 0) : v >= th ? 1 : v < -th ? -1 : 0;
    if (++c === C) c = 0;
  }
  return out;
}

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

interface TernaryLayer {
  readonly op: WeightedOp;
  /** a relu right after the op, applied in the epilogue */
  readonly relu: boolean;
  readonly act: Exclude<Act, { kind: 'fp' }>;
  readonly pre: Affine | null;
  readonly inShape: readonly number[];
}

/**
 * The ternary × ternary step of a conv2d or dense op.
 *
 * im2col runs on codes. When cin is a multiple of 16, it runs on packed words instead: each input
 * pixel's cin codes are packed once (`TernaryKernels.pack`, rows of K = cin), and a patch row is
 * assembled from 16- or 32-lane pieces of the packed pixels, bit for bit the row that packing the
 * patch's codes would give (the layout of src/infer/ternary-kernels.ts puts lane j of a row at bit
 * j mod 32 of word 4⌊j/64⌋ + ⌊j/32⌋ mod 2, its sign bit two words later), at 1/8 to 1/16 of the
 * memory traffic. Otherwise the patch rows are built as codes and packed.
 */
function ternaryStep(B: Backend, K: TernaryKernels, L: TernaryLayer, chunkValues: number): Step {
  const { op, act, pre } = L;
  const o = op.shape[0];
  const k = op.op === 'conv2d' ? op.shape[1] * op.shape[2] * op.shape[3] : op.shape[1];
  const codes = (op.weights as { codes: Int8Array }).codes;
  const wPacked = K.pack(codes, o, k);
  const { a: sa, b: sb } = epilogueScales(op);
  const wAbsPacked = sb === null ? null : K.pack(Int8Array.from(codes, Math.abs), o, k);
  const bias = op.bias === null ? new Float64Array(o) : Float64Array.from(op.bias);
  const wpr = wordsPerRow(k);
  const rowsPerChunk = Math.max(1, Math.floor(chunkValues / k));
  const f32 = B.dtype === 'float32';
  // scratch, grown on demand and reused across calls
  let q = new Int8Array(0);
  let rows = new Int8Array(0);
  let pixels = new Uint32Array(0);
  const packed = new Uint32Array(rowsPerChunk * wpr);
  const acc = new Int32Array(rowsPerChunk * o);
  const acc2 = sb === null ? null : new Int32Array(rowsPerChunk * o);
  const codesOf = (x: Tensor): Int8Array => {
    if (q.length < x.data.length) q = new Int8Array(x.data.length);
    return quantizeCodes(x.data, act, pre, f32, q.subarray(0, x.data.length));
  };

  /** y[r0 … r0+count−1, :] from `count` packed rows in `packed`: the products, scaled and biased. */
  const finish = (count: number, r0: number, y: Data) => {
    const c1 = K.gemm(packed, wPacked, count, o, k, acc);
    const end = count * o;
    const base = r0 * o;
    // flat loops with a channel counter: one pass over the outputs
    if (acc2 === null) {
      if (L.relu) {
        for (let i = 0, c = 0; i < end; i++) {
          const v = c1[i] * sa[c] + bias[c];
          y[base + i] = v > 0 ? v : 0;
          if (++c === o) c = 0;
        }
      } else {
        for (let i = 0, c = 0; i < end; i++) {
          y[base + i] = c1[i] * sa[c] + bias[c];
          if (++c === o) c = 0;
        }
      }
    } else {
      const c2 = K.gemm(packed, wAbsPacked!, count, o, k, acc2);
      const b1 = sb!;
      for (let i = 0, c = 0; i < end; i++) {
        const v = c1[i] * sa[c] + c2[i] * b1[c] + bias[c];
        y[base + i] = L.relu && !(v > 0) ? 0 : v;
        if (++c === o) c = 0;
      }
    }
  };

  if (op.op === 'dense') {
    return (x) => {
      const n = x.shape[0];
      const codes = codesOf(x);
      const y = alloc(B.dtype, n * o);
      for (let r0 = 0; r0 < n; r0 += rowsPerChunk) {
        const count = Math.min(rowsPerChunk, n - r0);
        K.pack(codes.subarray(r0 * k, (r0 + count) * k), count, k, packed);
        finish(count, r0, y);
      }
      return { shape: [n, o], data: y };
    };
  }

  const [, kh, kw, cin] = op.shape;
  const [sh, sw] = op.strides;
  const [ph, pw] = op.pads;
  const [H, W] = L.inShape;
  const oh = outSize(H, kh, sh, ph);
  const ow = outSize(W, kw, sw, pw);
  // lanes per piece of the packed-word im2col (0: build code rows and pack them)
  const piece = cin % 32 === 0 ? 32 : cin % 16 === 0 ? 16 : 0;
  const ppw = wordsPerRow(cin);

  return (x) => {
    const n = x.shape[0];
    const codes = codesOf(x);
    const M = n * oh * ow;
    const y = alloc(B.dtype, M * o);
    if (piece > 0) {
      const need = n * H * W * ppw;
      if (pixels.length < need) pixels = new Uint32Array(need);
      K.pack(codes, n * H * W, cin, pixels);
    } else if (rows.length < rowsPerChunk * k) {
      rows = new Int8Array(rowsPerChunk * k);
    }
    // output pixel (b, oy, ox) of the next row, advanced row by row (no divisions in the loop)
    let ox = 0;
    let oy = 0;
    let b = 0;
    for (let r0 = 0; r0 < M; r0 += rowsPerChunk) {
      const count = Math.min(rowsPerChunk, M - r0);
      if (piece > 0) packed.fill(0, 0, count * wpr);
      let dst = 0;
      for (let r = 0; r < count; r++) {
        for (let ky = 0; ky < kh; ky++) {
          const iy = oy * sh - ph + ky;
          const rowOk = iy >= 0 && iy < H;
          for (let kx = 0; kx < kw; kx++) {
            const ix = ox * sw - pw + kx;
            const inside = rowOk && ix >= 0 && ix < W;
            const pix = (b * H + iy) * W + ix; // meaningful only when inside
            if (piece === 32) {
              // piece j of the pixel: word 4⌊j/2⌋ + j mod 2 (nz), +2 (sign); lane L of the row likewise
              if (inside) {
                const src = pix * ppw;
                const lane0 = (ky * kw + kx) * cin;
                for (let j = 0; j < cin; j += 32) {
                  const sw0 = src + 4 * (j >> 6) + ((j >> 5) & 1);
                  const L = lane0 + j;
                  const dw = dst + 4 * (L >> 6) + ((L >> 5) & 1);
                  packed[dw] = pixels[sw0];
                  packed[dw + 2] = pixels[sw0 + 2];
                }
              }
            } else if (piece === 16) {
              if (inside) {
                const src = pix * ppw;
                const lane0 = (ky * kw + kx) * cin;
                for (let j = 0; j < cin; j += 16) {
                  const sw0 = src + 4 * (j >> 6) + ((j >> 5) & 1);
                  const sShift = j & 31;
                  const L = lane0 + j;
                  const dw = dst + 4 * (L >> 6) + ((L >> 5) & 1);
                  const dShift = L & 31;
                  packed[dw] |= ((pixels[sw0] >>> sShift) & 0xffff) << dShift;
                  packed[dw + 2] |= ((pixels[sw0 + 2] >>> sShift) & 0xffff) << dShift;
                }
              }
            } else {
              const d0 = r * k + (ky * kw + kx) * cin;
              if (inside) for (let c = 0, src = pix * cin; c < cin; c++) rows[d0 + c] = codes[src + c];
              else rows.fill(0, d0, d0 + cin);
            }
          }
        }
        dst += wpr;
        if (++ox === ow) {
          ox = 0;
          if (++oy === oh) {
            oy = 0;
            b++;
          }
        }
      }
      if (piece === 0) K.pack(rows.subarray(0, count * k), count, k, packed);
      finish(count, r0, y);
    }
    return { shape: [n, oh, ow, o], data: y };
  };
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

function affineStep(B: Backend, a: Affine): Step {
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

interface Compiler {
  readonly B: Backend;
  readonly K: TernaryKernels;
  readonly mode: 'auto' | 'float';
  readonly chunk: number;
}

/** The steps of `ops` given the per-example shape before each op; `plan` gets one line per step. */
function compile(c: Compiler, ops: readonly DeployedOp[], shapes: readonly (readonly number[])[], plan: string[], indent = '', labels: string[] = []): Step[] {
  const { B, K, mode, chunk } = c;
  const steps: Step[] = [];
  const label = (l: string) => labels.push(l);
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    const next = ops[i + 1];
    // a quantize or affine op feeding a weighted op: fused into that op's input step
    if ((op.op === 'quantize' || op.op === 'affine') && next !== undefined && (next.op === 'conv2d' || next.op === 'dense')) {
      const act: Act = op.op === 'quantize' && next.input.kind === 'fp' ? op.act : next.input;
      const pre: Affine | null = op.op === 'affine' ? { scale: op.scale, shift: op.shift } : null;
      const quantizeFirst = op.op === 'quantize' && next.input.kind !== 'fp';
      if (!quantizeFirst && act.kind !== 'fp' && usesCodes(next) && mode === 'auto') {
        const relu = ops[i + 2]?.op === 'relu';
        const names = [op.name, next.name, ...(relu ? [ops[i + 2].name] : [])].join(' + ');
        steps.push(ternaryStep(B, K, { op: next, act, pre, relu, inShape: shapes[i] }, chunk));
        label(`${names} (${next.op} ${next.weights.kind}×${act.kind})`);
        plan.push(`${indent}${names}: ${op.op} fused into ${next.op} ${next.weights.kind}×${act.kind}${relu ? ' + relu' : ''} on ${K.name} ternary kernels`);
        i += relu ? 2 : 1;
        continue;
      }
    }
    switch (op.op) {
      case 'conv2d':
      case 'dense': {
        const relu = next?.op === 'relu';
        const folded = op.folded.length > 0 ? ` (${op.folded.join(', ')} folded in)` : '';
        const names = (relu ? `${op.name} + ${next.name}` : op.name) + folded;
        const tail = relu ? ' + relu' : '';
        if (op.input.kind !== 'fp' && usesCodes(op) && mode === 'auto') {
          steps.push(ternaryStep(B, K, { op, act: op.input, pre: null, relu, inShape: shapes[i] }, chunk));
          label(`${names} (${op.op} ${op.weights.kind}×${op.input.kind})`);
          plan.push(`${indent}${names}: ${op.op} ${op.weights.kind}×${op.input.kind}${tail} on ${K.name} ternary kernels`);
        } else {
          steps.push(floatStep(B, op, relu));
          label(`${names} (${op.op} float)`);
          plan.push(`${indent}${names}: ${op.op} ${op.weights.kind}${op.weights.kind === 'float' ? '' : ' decoded to float'}×${op.input.kind}${tail} on ${B.name}`);
        }
        if (relu) i++;
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
        const body = compile(c, op.body, inner.right, plan, indent + '  ');
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
      default:
        steps.push(simpleStep(B, op));
        label(`${op.name} (${op.op})`);
        plan.push(`${indent}${op.name}: ${op.op} on ${B.name}`);
    }
  }
  return steps;
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
    for (let i = 0; i < x.data.length; i++) if (!Number.isFinite(x.data[i])) throw new NonFiniteError('engine input', i, x.data[i]);
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
