/**
 * twn (Ternary Weight Networks, Li et al. 2016): a hard threshold Δ and one scale per group.
 *
 * Forward, per group of n elements:
 *   Δ = δ·mean|W|   (δ default 0.7),   I = { i : |W_i| > Δ }   (strict),
 *   α = mean of |W_i| over I   (0 when I is empty),   T = sign(W)·1[I],   W̃ = α·T.
 * Gradient, given g = dL/dW̃ (variants):
 * - `ste` (default, as the TWN paper): dW = g — straight-through, surrogate the identity.
 * - `exact`: through α, with I piecewise constant (its derivative is zero almost everywhere):
 *     dW_i = 1[i ∈ I]·sign(W_i)/|I|·Σ_j g_j·T_j        [term `alpha`, exact]
 *          + α·1[|W_i| ≤ clip]·g_i                      [term `sign`, straight-through, surrogate α·hardtanh(W)]
 *   The second term stands in for the zero derivative of T, exactly as sign's `exact` variant.
 *
 * Exact ties: Δ is computed as δ·(S/n), S = Σ|W| of the group. Where S is exact and the mean
 * m = S/n is representable, the one correctly rounded division gives m, and the one correctly
 * rounded product gives δ·m exactly whenever that is representable; a weight equal to it is a tie
 * and gets code 0 (I is strict). (float32 backends compute both in float64 and round once to
 * float32, which is harmless for a quotient of float32 values and for a representable product.)
 * The old order S·(δ/n) rounded δ/n first (S = 5, n = 7: 0.49999999999999994, not 0.5) and sent
 * such weights to ±1.
 * Overflow: S and Δ per group are checked finite (O(groups)), and `backward`'s output in one pass;
 * either throws an OverflowError (common.ts) naming `twn` and the quantity.
 *
 * Law (laws/quantizers-ternary.test.ts): Δ, I, α and T as above, element by element; exactly
 * representable ties get code 0 for every granularity on cpu64, cpu32 and wasm; every gradient
 * term of both variants holds its claim; the VJP is linear in g; odd symmetry, scale
 * equivariance and golden values. laws/neutral.test.ts: overflow gives the typed error.
 */
import * as t from 'io-ts';
import type { Either } from 'fp-ts/lib/Either.js';
import type { Backend } from '../backend.js';
import { decodeWith, oneOf, PositiveNumber, withDefaults } from '../codec.js';
import type { ConfigError } from '../errors.js';
import { full, type Tensor } from '../tensor.js';
import { checkGrads, checkScale, checkUpstream, checkWeights, Clip, Granularity, groupReduce, groupSize, hardTanh, scaleBy, steWindow, sumGrads, type Term } from './common.js';

export const id = 'twn';

export type TwnGradient = 'ste' | 'exact';

export const TwnConfig = withDefaults(
  'twn',
  { granularity: Granularity, delta: PositiveNumber, clip: Clip, gradient: oneOf<TwnGradient>('gradient', ['ste', 'exact']) },
  { granularity: 'tensor', delta: 0.7, clip: 1, gradient: 'ste' },
);
export type TwnConfig = t.TypeOf<typeof TwnConfig>;
export const decodeConfig = (raw: unknown): Either<ConfigError, TwnConfig> => decodeWith(TwnConfig, raw, 'twn');

export interface TwnParams {
  readonly [k: string]: Tensor;
  readonly w: Tensor;
}

export interface TwnForward {
  readonly y: Tensor;
  /** T ∈ {−1, 0, +1} */
  readonly codes: Tensor;
  readonly alpha: Tensor;
  /** Δ per group */
  readonly delta: Tensor;
  /** 1[i ∈ I] */
  readonly mask: Tensor;
  /** |I| per group */
  readonly count: Tensor;
  readonly w: Tensor;
}

export function forward(B: Backend, p: TwnParams, cfg: TwnConfig): TwnForward {
  const G = cfg.granularity;
  checkWeights('w', p.w, G);
  const n = groupSize(p.w.shape, G);
  const absw = B.unary('abs', p.w);
  const sum = groupReduce(B, 'sum', absw, G);
  checkScale(id, 'Δ', sum, 'Σ|W|');
  // δ·(S/n), in this order: exact ties stay exact (module header)
  const delta = B.scalar('mul', B.binary('div', sum, full([], n, B.dtype)), cfg.delta);
  checkScale(id, 'Δ', delta, `δ·mean|W| with δ = ${cfg.delta}`, 'lower delta or scale the latents');
  // α ≤ max|W| and Σ_I|W| ≤ S: both finite now
  const mask = G === 'tensor' ? B.binary('gt', absw, delta) : B.binary('gt', absw, delta, 0);
  const count = groupReduce(B, 'sum', mask, G);
  // α = Σ_I |W| / max(|I|, 1): an empty I has Σ_I |W| = 0, so α = 0 there.
  const alpha = B.binary('div', groupReduce(B, 'sum', B.binary('mul', absw, mask), G), B.scalar('max', count, 1));
  const codes = B.binary('mul', B.unary('sign', p.w), mask);
  return { y: scaleBy(B, codes, alpha, G), codes, alpha, delta, mask, count, w: B.from(p.w) };
}

type Out = readonly [Tensor];

export function terms(B: Backend, f: TwnForward, g: Tensor, cfg: TwnConfig): Term<TwnParams, Out>[] {
  checkUpstream('g', g, f.y.shape);
  if (cfg.gradient === 'ste') {
    return [
      {
        name: 'identity',
        claim: { kind: 'straight-through', surrogate: 'W (identity)' },
        grad: { w: B.from(g) },
        surrogate: (p) => [B.from(p.w)],
      },
    ];
  }
  const G = cfg.granularity;
  const s = B.binary('div', groupReduce(B, 'sum', B.binary('mul', g, f.codes), G), B.scalar('max', f.count, 1));
  return [
    { name: 'alpha', claim: { kind: 'exact' }, grad: { w: scaleBy(B, B.binary('mul', B.unary('sign', f.w), f.mask), s, G) } },
    {
      name: 'sign',
      claim: { kind: 'straight-through', surrogate: 'α·hardtanh_clip(W) with α held' },
      grad: { w: scaleBy(B, B.binary('mul', steWindow(B, f.w, cfg.clip), g), f.alpha, G) },
      surrogate: (p) => [scaleBy(B, hardTanh(B, p.w, cfg.clip), f.alpha, G)],
    },
  ];
}

/** The VJP: the sum of `terms`, checked finite (an OverflowError names the gradient otherwise). */
export const backward = (B: Backend, f: TwnForward, g: Tensor, cfg: TwnConfig): TwnParams => checkGrads(id, sumGrads(B, terms(B, f, g, cfg)));
