/**
 * What every quantizer shares: granularity of the scale, the STE window, gradient claims, and
 * input validation.
 *
 * - Granularity `tensor`: one scale over all n elements. `channel`: one scale per index of axis
 *   0, reduced over the other axes (n = c·h·w for an OHWI kernel; this is what the official STTN
 *   code does). A scale is a tensor of shape `[]` or `[shape[0]]`.
 * - STE window: `1[|x| ≤ clip]`, inclusive; `clip = null` means no window (the window is 1).
 * - `sign(0) = +1` everywhere, so a binary code is never 0.
 * - Overflow: finite inputs can still give an infinite scale or gradient (Σ|W| of latents near
 *   1e308, or near 3e38 summed into a float32 scale). Each quantizer checks its scales and sums
 *   (O(groups) per call: `checkScale`) and its VJP's output (one pass: `checkGrads`), and throws an
 *   `OverflowError` naming the quantizer and the quantity instead of returning ±Infinity or NaN.
 * - Thresholds are computed so that exact ties stay exact: TWN's Δ = δ·(S/n) and TTQ's
 *   Δ = t·max|W| equal the exact value whenever it is representable (see twn.ts, ttq.ts).
 *
 * Law (laws/quantizers-sttn.test.ts, laws/quantizers-ternary.test.ts, laws/quantizers-binary.test.ts,
 * laws/quantizers-activation.test.ts, through laws/gradcheck.ts): every gradient term states a claim — `exact` terms sum to the
 * central finite differences of the forward; each `straight-through` term equals the finite
 * differences of its surrogate; every VJP is linear in the upstream gradient. Overflow
 * (laws/neutral.test.ts, laws/quantizers-registry.test.ts): any finite input gives a finite
 * result or an OverflowError, and inputs near the dtype's max give the OverflowError.
 */
import * as t from 'io-ts';
import type { Backend } from '../backend.js';
import { oneOf, PositiveNumber } from '../codec.js';
import { ConfigError, OverflowError, ShapeError } from '../errors.js';
import { assertFinite, dtypeOf, reshape, size, type DType, type Tensor } from '../tensor.js';

export type Granularity = 'tensor' | 'channel';
export const Granularity = oneOf<Granularity>('granularity', ['tensor', 'channel']);

/** The STE window half-width, or `null` for none. */
export const Clip = t.union([PositiveNumber, t.null], 'clip (positive number or null)');
export type Clip = t.TypeOf<typeof Clip>;

/** Parameters are records of tensors; gradients have the same type. */
export type Params = Readonly<Record<string, Tensor>>;

/**
 * What a gradient term claims:
 * - `exact`: the true derivative of the forward (checked against its finite differences);
 * - `straight-through`: the true derivative of a named surrogate, which replaces a derivative
 *   that is zero almost everywhere (checked against the surrogate's finite differences);
 * - `as-printed`: a formula reproduced for comparison that is not the derivative of anything
 *   meaningful (the paper's misprinted Eq. 13); only linearity and its difference from the
 *   exact rule are checked.
 */
export type Claim =
  | { readonly kind: 'exact' }
  | { readonly kind: 'straight-through'; readonly surrogate: string }
  | { readonly kind: 'as-printed'; readonly note: string };

/** One term of a VJP with its claim. `surrogate`, for straight-through terms, is executable. */
export interface Term<P extends Params, Out extends readonly Tensor[]> {
  readonly name: string;
  readonly claim: Claim;
  readonly grad: P;
  /**
   * The surrogate whose VJP (with everything it closes over held fixed) equals `grad` given the
   * same upstream gradients. Present exactly for straight-through terms.
   */
  readonly surrogate?: (p: P) => Out;
}

/** The number of elements reduced into each scale. */
export function groupSize(shape: readonly number[], g: Granularity): number {
  return g === 'channel' ? size(shape) / shape[0] : size(shape);
}

/** Shape of a scale: `[]` (tensor) or `[shape[0]]` (channel). */
export const scaleShape = (shape: readonly number[], g: Granularity): number[] => (g === 'channel' ? [shape[0]] : []);

/** Reduce `x` per group: one value for `tensor`, one per axis-0 index for `channel`. */
export function groupReduce(B: Backend, op: 'sum' | 'sumAbs' | 'maxAbs', x: Tensor, g: Granularity): Tensor {
  if (g === 'tensor') return B.reduce(op, x, null);
  return B.reduce(op, reshape(x, [x.shape[0], size(x.shape) / x.shape[0]]), 1);
}

/** Multiply `x` by a per-group scale `s` (shape `[]` or `[x.shape[0]]`). */
export function scaleBy(B: Backend, x: Tensor, s: Tensor, g: Granularity): Tensor {
  return g === 'tensor' ? B.binary('mul', x, s) : B.binary('mul', x, s, 0);
}

/** The STE window `1[|x| ≤ clip]` (all ones when `clip` is null). */
export const steWindow = (B: Backend, x: Tensor, clip: Clip): Tensor =>
  clip === null ? B.scalar('add', B.scalar('mul', x, 0), 1) : B.scalar('window', x, clip);

/** The surrogate of sign with window `clip`: hard tanh `clamp(x, −clip, clip)`, or `x` with no window. */
export const hardTanh = (B: Backend, x: Tensor, clip: Clip): Tensor => (clip === null ? B.from(x) : B.scalar('clamp', x, clip));

/**
 * Validate a latent weight tensor: non-empty, finite, and of rank ≥ 2 for `channel` granularity.
 * Throws errors naming `field`.
 */
export function checkWeights(field: string, w: Tensor, g: Granularity): void {
  if (w.data.length === 0) throw new ShapeError(`${field} (must be non-empty)`, 'at least one element', w.shape);
  if (g === 'channel' && w.shape.length < 2) {
    throw new ConfigError('granularity', `'channel' needs ${field} of rank ≥ 2 (axis 0 is the output channel), got shape [${w.shape.join(', ')}]`);
  }
  assertFinite(field, w);
}

/** What `checkWeights` checks short of finiteness (the fused path checks that inside its passes). */
export const weightShapeOk = (w: Tensor, g: Granularity): boolean => w.data.length > 0 && (g !== 'channel' || w.shape.length >= 2);

/** True when any value of `d` is NaN or ±∞ (O(groups) arrays of sums). */
export const anyNonFinite = (d: ArrayLike<number>): boolean => {
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) return true;
  return false;
};

/**
 * Throw an OverflowError at the first non-finite value of the per-group scale or sum `t`
 * (O(groups); `how` says how `quantity` was computed, e.g. `Σ|W|`).
 */
export function checkScale(quantizer: string, quantity: string, t: Tensor, how: string, remedy = 'scale the latents'): void {
  const d = t.data;
  for (let i = 0; i < d.length; i++) {
    if (!Number.isFinite(d[i])) throw new OverflowError(quantizer, quantity, dtypeOf(t), i, d[i], how, remedy);
  }
}

/**
 * Throw an OverflowError at the first non-finite value of a VJP's output (one pass over each
 * gradient; the inputs were checked finite, so a non-finite value is an overflow).
 */
export function checkGrads<P extends Params>(quantizer: string, grads: P): P {
  for (const k of Object.keys(grads)) {
    const d = grads[k].data;
    for (let i = 0; i < d.length; i++) {
      if (!Number.isFinite(d[i])) {
        throw new OverflowError(quantizer, `dL/d${k}`, dtypeOf(grads[k]), i, d[i], 'the sum of its VJP terms', 'scale the latents or the upstream gradient');
      }
    }
  }
  return grads;
}

/** Validate an upstream gradient against the output it belongs to. */
export function checkUpstream(field: string, g: Tensor, like: readonly number[]): void {
  if (g.shape.length !== like.length || g.shape.some((d, i) => d !== like[i])) throw new ShapeError(field, like, g.shape);
  assertFinite(field, g);
}

/** Sum of gradient records of one type (the VJP is the sum of its terms). */
export function sumGrads<P extends Params>(B: Backend, terms: readonly { readonly grad: P }[]): P {
  const [first, ...rest] = terms;
  const out: Record<string, Tensor> = {};
  for (const k of Object.keys(first.grad)) {
    let acc = B.from(first.grad[k]);
    for (const term of rest) acc = B.binary('add', acc, term.grad[k]);
    out[k] = acc;
  }
  return out as P;
}
