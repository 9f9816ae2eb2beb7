/**
 * ttq (Trained Ternary Quantization, Zhu et al. 2017): a threshold from the largest weight and two
 * learned positive scales.
 *
 * Forward: Δ = t·max|W| over the whole tensor (t default 0.05, per layer),
 *   W̃_i = Wp if W_i > Δ,  −Wn if W_i < −Δ,  0 otherwise.
 * Wp and Wn are learned, initialised to 1, of shape `[]` (granularity `tensor`) or `[channels]`
 * (`channel`: one pair per output channel; Δ stays per layer).
 * Gradient, given g = dL/dW̃:
 *   dWp = Σ_{W>Δ} g,   dWn = −Σ_{W<−Δ} g          [term `scales`, exact]
 *   dW_i = Wp·g_i (W_i > Δ),  g_i (|W_i| ≤ Δ),  Wn·g_i (W_i < −Δ)
 *                                                 [term `w`, straight-through, surrogate below]
 * The minus sign of dWn is the true derivative of −Wn; the TTQ paper prints it without the minus
 * and ports copied the error. The surrogate of the `w` term is the piecewise-linear map
 * Wp·W (W > Δ), W (|W| ≤ Δ), Wn·W (W < −Δ) with the regions and scales held.
 *
 * Exact ties: Δ = t·max|W| is one correctly rounded product of an exact max, so it equals
 * t·max|W| whenever that is representable, and a weight equal to it gets code 0 (no reordering
 * needed, unlike TWN's mean).
 * Overflow: Δ, Wp and Wn in the backend's dtype are checked finite (O(groups)); the forward is
 * then finite (each output is Wp, −Wn or 0), and `backward`'s output is checked in one pass;
 * either throws an OverflowError (common.ts) naming `ttq` and the quantity.
 *
 * Fused path (src/quantizers/fast.ts): on a backend with QuantizerKernels the forward is one max
 * pass and one map pass, the backward one pass of sums and one map, with the same float32
 * operations as above.
 *
 * Law (laws/quantizers-ternary.test.ts): exactly representable ties get code 0; dWp and dWn are
 * exact (dWn with its minus sign) and the `w` term equals its surrogate's finite differences; the
 * VJP is linear in g; symmetry q(−W; Wp, Wn) = −q(W; Wn, Wp); golden values.
 * laws/neutral.test.ts: overflow gives the typed error.
 */
import * as t from 'io-ts';
import type { Either } from 'fp-ts/lib/Either.js';
import type { Backend } from '../backend.js';
import { decodeWith, UnitInterval, withDefaults } from '../codec.js';
import type { ConfigError } from '../errors.js';
import { ShapeError } from '../errors.js';
import { assertFinite, cast, full, sameShape, size, type Tensor } from '../tensor.js';
import type { QuantizerKernels } from './fast.js';
import { checkGrads, checkScale, checkUpstream, checkWeights, Granularity, groupReduce, scaleBy, scaleShape, sumGrads, type Term, weightShapeOk } from './common.js';

export const id = 'ttq';

export const TtqConfig = withDefaults('ttq', { threshold: UnitInterval, granularity: Granularity }, { threshold: 0.05, granularity: 'tensor' });
export type TtqConfig = t.TypeOf<typeof TtqConfig>;
export const decodeConfig = (raw: unknown): Either<ConfigError, TtqConfig> => decodeWith(TtqConfig, raw, 'ttq');

export interface TtqParams {
  readonly [k: string]: Tensor;
  readonly w: Tensor;
  /** the positive scale, > 0 */
  readonly wp: Tensor;
  /** the negative scale's magnitude, > 0 */
  readonly wn: Tensor;
}

/** Wp = Wn = 1 of the scale shape the granularity asks for. */
export function initScales(wShape: readonly number[], cfg: TtqConfig, dtype: 'float32' | 'float64' = 'float64'): { wp: Tensor; wn: Tensor } {
  const s = scaleShape(wShape, cfg.granularity);
  return { wp: full(s, 1, dtype), wn: full(s, 1, dtype) };
}

export interface TtqForward {
  readonly y: Tensor;
  /** ∈ {−1, 0, +1} */
  readonly codes: Tensor;
  /** Δ, shape `[]` */
  readonly delta: Tensor;
  readonly pos: Tensor;
  readonly neg: Tensor;
  readonly wp: Tensor;
  readonly wn: Tensor;
}

function checkParams(p: TtqParams, cfg: TtqConfig): void {
  checkWeights('w', p.w, cfg.granularity);
  const s = scaleShape(p.w.shape, cfg.granularity);
  for (const k of ['wp', 'wn'] as const) {
    if (!sameShape(p[k].shape, s)) throw new ShapeError(`ttq ${k} (granularity '${cfg.granularity}')`, s, p[k].shape);
    assertFinite(k, p[k]);
  }
}

export function forward(B: Backend, p: TtqParams, cfg: TtqConfig): TtqForward {
  checkParams(p, cfg);
  const delta = B.scalar('mul', B.reduce('maxAbs', p.w, null), cfg.threshold);
  // finite inputs of a wider dtype than the backend's can overflow on the way in
  checkScale(id, 'Δ', delta, 't·max|W|');
  const wp = B.from(p.wp);
  const wn = B.from(p.wn);
  checkScale(id, 'Wp', wp, `Wp in ${B.dtype}`, 'scale Wp');
  checkScale(id, 'Wn', wn, `Wn in ${B.dtype}`, 'scale Wn');
  const pos = B.binary('gt', p.w, delta);
  const neg = B.binary('gt', B.unary('neg', p.w), delta);
  const G = cfg.granularity;
  const y = B.binary('sub', scaleBy(B, pos, wp, G), scaleBy(B, neg, wn, G));
  return { y, codes: B.binary('sub', pos, neg), delta, pos, neg, wp, wn };
}

type Out = readonly [Tensor];

export function terms(B: Backend, f: TtqForward, g: Tensor, cfg: TtqConfig): Term<TtqParams, Out>[] {
  checkUpstream('g', g, f.y.shape);
  const G = cfg.granularity;
  const zeroW = B.scalar('mul', g, 0);
  const zeroS = B.scalar('mul', f.wp, 0);
  const mid = B.scalar('add', B.unary('neg', B.binary('add', f.pos, f.neg)), 1);
  // the slope of the surrogate in each region: Wp, 1 or Wn
  const slope = B.binary('add', B.binary('add', scaleBy(B, f.pos, f.wp, G), scaleBy(B, f.neg, f.wn, G)), mid);
  return [
    {
      name: 'scales',
      claim: { kind: 'exact' },
      grad: {
        w: zeroW,
        wp: groupReduce(B, 'sum', B.binary('mul', g, f.pos), G),
        wn: B.unary('neg', groupReduce(B, 'sum', B.binary('mul', g, f.neg), G)),
      },
    },
    {
      name: 'w',
      claim: { kind: 'straight-through', surrogate: 'Wp·W (W > Δ), W (|W| ≤ Δ), Wn·W (W < −Δ), regions and scales held' },
      grad: { w: B.binary('mul', g, slope), wp: zeroS, wn: zeroS },
      surrogate: (p) => [B.binary('mul', p.w, slope)],
    },
  ];
}

/** The VJP: the sum of `terms`, checked finite (an OverflowError names the gradient otherwise). */
export const backward = (B: Backend, f: TtqForward, g: Tensor, cfg: TtqConfig): TtqParams => checkGrads(id, sumGrads(B, terms(B, f, g, cfg)));

/** What `backwardFused` needs. */
export interface TtqFused {
  readonly w: Tensor;
  readonly wp: Tensor;
  readonly wn: Tensor;
  readonly delta: number;
}

/** `forward` through fused kernels; equal to `forward`'s y, delta (and codes, with `all`) bit for bit. */
export function forwardFused(k: QuantizerKernels, p: TtqParams, cfg: TtqConfig, all = false): { y: Tensor; delta: Tensor; codes?: Tensor; res: TtqFused } {
  const sShape = scaleShape(p.w.shape, cfg.granularity);
  // the cheap checks first; w's finiteness is seen by the max pass, then all of them in order
  if (!(weightShapeOk(p.w, cfg.granularity) && sameShape(p.wp.shape, sShape) && sameShape(p.wn.shape, sShape))) checkParams(p, cfg);
  const wp = cast(p.wp, 'float32');
  const wn = cast(p.wn, 'float32');
  const groups = wp.data.length;
  const f = k.ttqForward(p.w, (m) => {
    if (!Number.isFinite(m)) checkWeights('w', p.w, cfg.granularity);
    assertFinite('wp', p.wp);
    assertFinite('wn', p.wn);
    const d = Math.fround(m * cfg.threshold);
    checkScale(id, 'Δ', { shape: [], data: new Float32Array([d]) }, 't·max|W|');
    checkScale(id, 'Wp', wp, `Wp in float32`, 'scale Wp');
    checkScale(id, 'Wn', wn, `Wn in float32`, 'scale Wn');
    return d;
  }, wp.data as Float32Array, wn.data as Float32Array, groups, all);
  return { ...f, delta: { shape: [], data: new Float32Array([f.delta]) }, res: { w: cast(p.w, 'float32'), wp, wn, delta: f.delta } };
}

/** `backward` through fused kernels, from `forwardFused`'s residuals; equal to `backward` bit for bit. */
export function backwardFused(k: QuantizerKernels, r: TtqFused, g: Tensor): TtqParams {
  if (!sameShape(g.shape, r.w.shape)) checkUpstream('g', g, r.w.shape);
  const groups = r.wp.data.length;
  const d = k.ttqBackward(r.w, g, r.delta, r.wp.data as Float32Array, r.wn.data as Float32Array, groups);
  // the generic sum of terms: (Wp·0) + Σ g·pos and (Wp·0) + (−Σ g·neg), in float32
  const dwp = new Float32Array(groups);
  const dwn = new Float32Array(groups);
  for (let i = 0; i < groups; i++) {
    const zero = Math.fround(r.wp.data[i] * 0);
    dwp[i] = zero + d.sums[2 * i];
    dwn[i] = zero + -d.sums[2 * i + 1];
  }
  const grads = { w: d.w, wp: { shape: [...r.wp.shape], data: dwp }, wn: { shape: [...r.wn.shape], data: dwn } };
  // the kernel found dW finite, or checkGrads names its first non-finite value
  if (d.finite) checkGrads(id, { wp: grads.wp, wn: grads.wn });
  else {
    checkUpstream('g', g, r.w.shape); // a non-finite g, named
    checkGrads(id, grads);
  }
  return grads;
}
