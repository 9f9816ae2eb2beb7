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
 * Fused path (src/quantizers/fast.ts): on a backend with QuantizerKernels the forward runs as two
 * reduction passes (S, then |I| and Σ_I|W|) and one map pass with the same float32 operations;
 * the `ste` backward is the identity either way; `exact` takes the generic path.
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
import { full, sameShape, size, type Tensor } from '../tensor.js';
import { kernelsOf, type QuantizerKernels } from './fast.js';
import { checkGrads, checkScale, checkUpstream, checkWeights, Clip, Granularity, groupReduce, groupSize, hardTanh, scaleBy, scaleShape, steWindow, sumGrads, type Term, anyNonFinite, weightShapeOk } from './common.js';

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

/** Variants with a fused path. */
export const fusable = (cfg: TwnConfig): boolean => cfg.gradient === 'ste';

/** `forward` through fused kernels (a `fusable` config); equal to `forward`'s fields bit for bit (`codes` with `all`). */
export function forwardFused(k: QuantizerKernels, p: TwnParams, cfg: TwnConfig, all = false): {
  y: Tensor; alpha: Tensor; delta: Tensor; count: Tensor; codes?: Tensor;
} {
  const G = cfg.granularity;
  if (!weightShapeOk(p.w, G)) checkWeights('w', p.w, G);
  const n = groupSize(p.w.shape, G);
  const sShape = scaleShape(p.w.shape, G);
  const nf = Math.fround(n);
  const f = k.twnForward(
    p.w,
    size(p.w.shape) / n,
    (sum) => {
      if (anyNonFinite(sum)) checkWeights('w', p.w, G);
      checkScale(id, 'Δ', { shape: sShape, data: sum }, 'Σ|W|');
      // δ·(S/n) in this order, each step rounded to float32 as the generic path's
      const delta = sum.map((v) => Math.fround(v / nf) * cfg.delta);
      checkScale(id, 'Δ', { shape: sShape, data: delta }, `δ·mean|W| with δ = ${cfg.delta}`, 'lower delta or scale the latents');
      return delta;
    },
    (cs) => {
      const a = new Float32Array(cs.length / 2);
      for (let i = 0; i < a.length; i++) a[i] = cs[2 * i + 1] / Math.max(cs[2 * i], 1);
      return a;
    },
    all,
  );
  return { ...f, alpha: { shape: sShape, data: f.alpha }, delta: { shape: sShape, data: f.delta }, count: { shape: sShape, data: f.count } };
}

/**
 * The `ste` backward (the identity) with its checks, for `forwardFused`'s callers. With the
 * kernels it is one pass, g·1[|g| ≤ ∞], which is g bit for bit (−0 included) and flags a
 * non-finite g; the result stays wherever the backend keeps its results (in a resident scope, in
 * wasm memory). Without them, g is checked finite and copied.
 */
export function backwardFused(B: Backend, wShape: readonly number[], g: Tensor): TwnParams {
  const k = kernelsOf(B);
  if (k === undefined || !sameShape(g.shape, wShape)) {
    // g is checked finite here, and the identity keeps it so: checkGrads would find nothing
    checkUpstream('g', g, wShape);
    return { w: B.from(g) };
  }
  const d = k.steGrad(g, g, Infinity);
  if (!d.finite) checkUpstream('g', g, wShape); // names the non-finite g
  return { w: d.x };
}
