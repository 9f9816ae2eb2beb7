/**
 * The deployed model: what inference needs and nothing else, as plain data.
 *
 * A `DeployedModel` is a list of ops over NHWC activations. Every quantized kernel is in its
 * deployable form (Eq. 6–7 for STTN: the pair merged into one ternary kernel α(B1+B2), stored as
 * codes (B1+B2)/2 ∈ {−1, 0, 1} with the scale 2α); full-precision layers keep float32 weights;
 * batch norm is folded away where that is exact (src/export/export.ts says where) and otherwise
 * kept as a per-channel `affine`. There is no latent weight, no optimizer slot, no dropout.
 *
 * Weights of a `conv2d` (OHWI `[cout, kh, kw, cin]`) or a `dense` (`[out, in]`) op are one of
 *   float   w (float32, the op's shape)
 *   binary  codes ∈ {−1, +1} and `scale`:                 w = scale_o·code
 *   ternary codes ∈ {−1, 0, +1}, `scalePos`, `scaleNeg`:  w = scalePos_o (code = 1), −scaleNeg_o (code = −1), 0
 * with each scale of length 1 (one per tensor) or `cout` (one per output channel o). `scalePos`
 * and `scaleNeg` may be the same array (STTN, TWN), which the container then stores once.
 * An op's `input` is the activation quantizer applied to its input first (`fp`: none).
 *
 * Law (laws/export.test.ts): `opShapes` accepts every exported model and its last shape is
 * `[classes]`; the container round trip is `deployedBitEqual` to the model written, residual
 * blocks nested up to the container's limit (`nestingDepth`) included.
 */
import * as E from 'fp-ts/lib/Either.js';
import { outSize } from '../backend.js';

export type Act =
  | { readonly kind: 'fp' }
  /** Eq. 14: sign(x)·1[|x| > θ] (`paper`), or +1 for x ≥ θ, −1 for x < −θ (`official`) */
  | { readonly kind: 'ternary'; readonly threshold: number; readonly boundary: 'paper' | 'official' }
  /** sign(x) ∈ {−1, +1}, sign(0) = +1 */
  | { readonly kind: 'sign' };

export type Weights =
  | { readonly kind: 'float'; readonly w: Float32Array }
  | { readonly kind: 'binary'; readonly codes: Int8Array; readonly scale: Float32Array }
  | { readonly kind: 'ternary'; readonly codes: Int8Array; readonly scalePos: Float32Array; readonly scaleNeg: Float32Array };

interface Named {
  /** the training layer this op comes from (`l04_conv2d`) */
  readonly name: string;
}

export interface ConvOp extends Named {
  readonly op: 'conv2d';
  /** OHWI `[cout, kh, kw, cin]` */
  readonly shape: readonly [number, number, number, number];
  readonly strides: readonly [number, number];
  readonly pads: readonly [number, number];
  readonly input: Act;
  readonly weights: Weights;
  readonly bias: Float32Array | null;
  /** batch-norm layers folded into this op (their names), for the record */
  readonly folded: readonly string[];
}

export interface DenseOp extends Named {
  readonly op: 'dense';
  /** `[out, in]` */
  readonly shape: readonly [number, number];
  readonly input: Act;
  readonly weights: Weights;
  readonly bias: Float32Array | null;
  readonly folded: readonly string[];
}

export type WeightedOp = ConvOp | DenseOp;

export type DeployedOp =
  | ConvOp
  | DenseOp
  /** y = x·scale_c + shift_c over the last axis (a batch norm that could not be folded) */
  | (Named & { readonly op: 'affine'; readonly scale: Float32Array; readonly shift: Float32Array })
  | (Named & { readonly op: 'quantize'; readonly act: Act })
  | (Named & { readonly op: 'relu' })
  | (Named & { readonly op: 'prelu'; readonly alpha: Float32Array })
  | (Named & { readonly op: 'maxPool'; readonly size: readonly [number, number]; readonly strides: readonly [number, number] })
  | (Named & { readonly op: 'globalAvgPool' })
  | (Named & { readonly op: 'flatten' })
  | ResidualOp;

/**
 * y = body(x) + shortcut(x): the shortcut max-pools x with window = stride = `pool` when the body
 * downsamples (else passes it through) and pads its channels with zeros up to the body's
 * (src/layers/residual.ts).
 */
export interface ResidualOp extends Named {
  readonly op: 'residual';
  readonly body: readonly DeployedOp[];
  readonly pool: readonly [number, number] | null;
}

export type OpKind = DeployedOp['op'];

export interface DeployedModel {
  readonly name: string;
  /** per-example input shape, `[h, w, c]` or `[features]` */
  readonly inputShape: readonly number[];
  readonly classes: number;
  readonly ops: readonly DeployedOp[];
  /** provenance, free-form JSON (training steps, the source spec's name) */
  readonly source: Readonly<Record<string, unknown>>;
}

export const isWeighted = (op: DeployedOp): op is WeightedOp => op.op === 'conv2d' || op.op === 'dense';

/**
 * How deep residual blocks nest in `ops` (0: no residual block; 1: blocks whose bodies hold none),
 * found with an explicit stack so that no nesting overflows the call stack. The container holds
 * at most MAX_NESTING levels (src/export/container.ts) and checks it before anything recursive runs.
 */
export function nestingDepth(ops: readonly DeployedOp[]): number {
  let deepest = 0;
  const stack: [readonly DeployedOp[], number][] = [[ops, 0]];
  while (stack.length > 0) {
    const [list, depth] = stack.pop()!;
    for (const op of list) {
      if (op.op !== 'residual') continue;
      deepest = Math.max(deepest, depth + 1);
      stack.push([op.body, depth + 1]);
    }
  }
  return deepest;
}

/** Every op, residual bodies opened (depth first, a block before its body). */
export const allOps = (ops: readonly DeployedOp[]): DeployedOp[] => ops.flatMap((op) => (op.op === 'residual' ? [op, ...allOps(op.body)] : [op]));

/** `ops` with `f` applied to every op that is not a residual block, inside blocks too. */
export const mapOps = (ops: readonly DeployedOp[], f: (op: Exclude<DeployedOp, ResidualOp>) => DeployedOp): DeployedOp[] =>
  ops.map((op) => (op.op === 'residual' ? { ...op, body: mapOps(op.body, f) } : f(op)));

/** Output channels of a weighted op. */
export const outChannels = (op: WeightedOp): number => op.shape[0];

/** The per-example shape before each op of `ops` and after the last, or a message naming the op (`ops.4.body.1 (conv2d …)`) that does not fit. */
export function chainShapes(ops: readonly DeployedOp[], inShape: readonly number[], path = 'ops'): E.Either<string, number[][]> {
  const shapes: number[][] = [[...inShape]];
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    const s = shapes[i];
    const where = `${path}.${i} (${op.op} ${op.name})`;
    const bad = (why: string) => E.left(`${where}: ${why}, input [${s.join(', ')}]`);
    const last = s[s.length - 1];
    let out: number[];
    switch (op.op) {
      case 'conv2d': {
        if (s.length !== 3) return bad('needs an input [h, w, c]');
        const [o, kh, kw, c] = op.shape;
        if (c !== s[2]) return bad(`kernel [${op.shape.join(', ')}] has ${c} input channels`);
        const oh = outSize(s[0], kh, op.strides[0], op.pads[0]);
        const ow = outSize(s[1], kw, op.strides[1], op.pads[1]);
        if (!(oh >= 1 && ow >= 1)) return bad(`kernel [${op.shape.join(', ')}] is too large`);
        out = [oh, ow, o];
        break;
      }
      case 'dense':
        if (s.length !== 1 || s[0] !== op.shape[1]) return bad(`kernel [${op.shape.join(', ')}] needs [${op.shape[1]}]`);
        out = [op.shape[0]];
        break;
      case 'affine':
        if (op.scale.length !== last || op.shift.length !== last) return bad(`scale/shift of length ${op.scale.length}/${op.shift.length} need ${last} (the last axis)`);
        out = s;
        break;
      case 'prelu':
        if (op.alpha.length !== last) return bad(`alpha of length ${op.alpha.length} needs ${last}`);
        out = s;
        break;
      case 'quantize':
      case 'relu':
        out = s;
        break;
      case 'maxPool': {
        if (s.length !== 3) return bad('needs an input [h, w, c]');
        const oh = outSize(s[0], op.size[0], op.strides[0], 0);
        const ow = outSize(s[1], op.size[1], op.strides[1], 0);
        if (!(oh >= 1 && ow >= 1)) return bad(`window [${op.size.join(', ')}] is too large`);
        out = [oh, ow, s[2]];
        break;
      }
      case 'globalAvgPool':
        if (s.length !== 3) return bad('needs an input [h, w, c]');
        out = [s[2]];
        break;
      case 'flatten':
        out = [s.reduce((a, b) => a * b, 1)];
        break;
      case 'residual': {
        if (op.body.length === 0) return bad('has an empty body');
        const inner = chainShapes(op.body, s, `${path}.${i}.body`);
        if (E.isLeft(inner)) return inner;
        const y = inner.right[inner.right.length - 1];
        let sc = s;
        if (op.pool !== null) {
          if (s.length !== 3) return bad('a pooled shortcut needs an input [h, w, c]');
          sc = [outSize(s[0], op.pool[0], op.pool[0], 0), outSize(s[1], op.pool[1], op.pool[1], 0), s[2]];
        }
        if (y.length !== sc.length || y.some((d, j) => j < y.length - 1 && d !== sc[j]) || y[y.length - 1] < sc[sc.length - 1]) {
          return bad(`the body's output [${y.join(', ')}] does not match the shortcut's [${sc.join(', ')}] (channels may only grow)`);
        }
        out = y;
        break;
      }
    }
    shapes.push(out);
  }
  return E.right(shapes);
}

/** The per-example shape before each top-level op and after the last, which must be `[classes]`. */
export function opShapes(m: Pick<DeployedModel, 'inputShape' | 'ops' | 'classes'>): E.Either<string, number[][]> {
  const r = chainShapes(m.ops, m.inputShape);
  if (E.isLeft(r)) return r;
  const end = r.right[r.right.length - 1];
  if (end.length !== 1 || end[0] !== m.classes) return E.left(`ops: the output is [${end.join(', ')}], expected [${m.classes}] (one logit per class)`);
  return r;
}

/** Decode weights into one float32 kernel of the op's shape (w = scale·code per output channel). */
export function decodeWeights(op: WeightedOp): Float32Array {
  const w = op.weights;
  if (w.kind === 'float') return w.w;
  const o = op.shape[0];
  const per = w.codes.length / o;
  const out = new Float32Array(w.codes.length);
  const pos = w.kind === 'binary' ? w.scale : w.scalePos;
  const neg = w.kind === 'binary' ? w.scale : w.scaleNeg;
  for (let c = 0; c < o; c++) {
    const sp = pos.length === 1 ? pos[0] : pos[c];
    const sn = neg.length === 1 ? neg[0] : neg[c];
    for (let k = c * per; k < (c + 1) * per; k++) {
      const v = w.codes[k];
      out[k] = v > 0 ? sp : v < 0 ? -sn : 0;
    }
  }
  return out;
}

const arrEq = (a: ArrayLike<number> | null, b: ArrayLike<number> | null): boolean => {
  if (a === null || b === null) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i]) && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return false;
  return true;
};

const weightsEq = (a: Weights, b: Weights): boolean => {
  if (a.kind === 'float' && b.kind === 'float') return arrEq(a.w, b.w);
  if (a.kind === 'binary' && b.kind === 'binary') return arrEq(a.codes, b.codes) && arrEq(a.scale, b.scale);
  if (a.kind === 'ternary' && b.kind === 'ternary') return arrEq(a.codes, b.codes) && arrEq(a.scalePos, b.scalePos) && arrEq(a.scaleNeg, b.scaleNeg);
  return false;
};

/** Equality of two deployed models, every float compared bit for bit (−0 ≠ +0). */
export function deployedBitEqual(a: DeployedModel, b: DeployedModel): boolean {
  if (a.name !== b.name || a.classes !== b.classes || !arrEq(a.inputShape, b.inputShape)) return false;
  return JSON.stringify(a.source) === JSON.stringify(b.source) && opsBitEqual(a.ops, b.ops);
}

function opsBitEqual(as: readonly DeployedOp[], bs: readonly DeployedOp[]): boolean {
  if (as.length !== bs.length) return false;
  return as.every((x, i) => {
    const y = bs[i];
    if (x.op !== y.op || x.name !== y.name) return false;
    switch (x.op) {
      case 'conv2d':
      case 'dense': {
        const z = y as WeightedOp;
        const conv = x.op === 'conv2d' ? (z as ConvOp) : null;
        return (
          arrEq(x.shape, z.shape) &&
          JSON.stringify(x.input) === JSON.stringify(z.input) &&
          weightsEq(x.weights, z.weights) &&
          arrEq(x.bias, z.bias) &&
          x.folded.length === z.folded.length &&
          x.folded.every((f, j) => f === z.folded[j]) &&
          (x.op !== 'conv2d' || (conv !== null && arrEq(x.strides, conv.strides) && arrEq(x.pads, conv.pads)))
        );
      }
      case 'affine': {
        const z = y as typeof x;
        return arrEq(x.scale, z.scale) && arrEq(x.shift, z.shift);
      }
      case 'prelu':
        return arrEq(x.alpha, (y as typeof x).alpha);
      case 'quantize':
        return JSON.stringify(x.act) === JSON.stringify((y as typeof x).act);
      case 'maxPool': {
        const z = y as typeof x;
        return arrEq(x.size, z.size) && arrEq(x.strides, z.strides);
      }
      case 'residual': {
        const z = y as typeof x;
        return arrEq(x.pool, z.pool) && opsBitEqual(x.body, z.body);
      }
      default:
        return true;
    }
  });
}
