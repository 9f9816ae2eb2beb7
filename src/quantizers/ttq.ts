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
import { assertFinite, full, sameShape, type Tensor } from '../tensor.js';
import { checkGrads, checkScale, checkUpstream, checkWeights, Granularity, groupReduce, scaleBy, scaleShape, sumGrads, type Term } from './common.js';

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

export function forward(B: Backend, p: TtqParams, cfg: TtqConfig): TtqForward {
  checkWeights('w', p.w, cfg.granularity);
  const s = scaleShape(p.w.shape, cfg.granularity);
  for (const k of ['wp', 'wn'] as const) {
    if (!sameShape(p[k].shape, s)) throw new ShapeError(`ttq ${k} (granularity '${cfg.granularity}')`, s, p[k].shape);
    assertFinite(k, p[k]);
  }
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
