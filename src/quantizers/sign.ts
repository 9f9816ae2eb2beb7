/**
 * sign (BWN / XNOR-Net): binary weights with one scale per group.
 *
 * Forward: α = mean|W| over the group (n elements), W̃ = α·sign(W)   (sign(0) = +1).
 * Gradient, given g = dL/dW̃ (variants):
 * - `exact` (default): the chain rule through α,
 *     dW_i = sign(W_i)/n·Σ_j g_j·sign(W_j)     [term `alpha`, exact]
 *          + α·1[|W_i| ≤ clip]·g_i              [term `sign`, straight-through, surrogate α·hardtanh(W)]
 * - `xnor`: XNOR-Net's rule (the STTN paper's Eq. 11), dW_i = g_i·(1/n + α·1[|W_i| ≤ clip]),
 *   one straight-through term with surrogate W/n + α·hardtanh(W), α held.
 *
 * Overflow: Σ|W| per group is checked finite before α is formed (O(groups)), and `backward`'s
 * output in one pass; either throws an OverflowError (common.ts) naming `sign` and the quantity.
 *
 * Fused path (src/quantizers/fast.ts): on a backend with QuantizerKernels both variants run as
 * one reduction and one map pass each way, with the same float32 operations as above.
 *
 * Law (laws/quantizers-binary.test.ts): every gradient term of both variants (`xnor`: Eq. 11)
 * holds its claim against finite differences; the VJP is linear in g; odd symmetry, scale
 * equivariance and golden values. laws/neutral.test.ts: overflow gives the typed error.
 */
import * as t from 'io-ts';
import type { Either } from 'fp-ts/lib/Either.js';
import type { Backend } from '../backend.js';
import { decodeWith, oneOf, withDefaults } from '../codec.js';
import type { ConfigError } from '../errors.js';
import { cast, sameShape, size, type Tensor } from '../tensor.js';
import { clipDown, type Outputs, type QuantizerKernels } from './fast.js';
import { checkGrads, checkScale, checkUpstream, checkWeights, Clip, Granularity, groupReduce, groupSize, hardTanh, scaleBy, scaleShape, steWindow, sumGrads, type Term, anyNonFinite, weightShapeOk } from './common.js';

export const id = 'sign';

export type SignGradient = 'exact' | 'xnor';

export const SignConfig = withDefaults(
  'sign',
  { granularity: Granularity, clip: Clip, gradient: oneOf<SignGradient>('gradient', ['exact', 'xnor']) },
  { granularity: 'tensor', clip: 1, gradient: 'exact' },
);
export type SignConfig = t.TypeOf<typeof SignConfig>;
export const decodeConfig = (raw: unknown): Either<ConfigError, SignConfig> => decodeWith(SignConfig, raw, 'sign');

export interface SignParams {
  readonly [k: string]: Tensor;
  readonly w: Tensor;
}

export interface SignForward {
  /** α·sign(W) */
  readonly y: Tensor;
  /** sign(W) ∈ {−1, +1} */
  readonly codes: Tensor;
  /** mean|W| per group, shape `[]` or `[channels]` */
  readonly alpha: Tensor;
  readonly w: Tensor;
}

export function forward(B: Backend, p: SignParams, cfg: SignConfig): SignForward {
  checkWeights('w', p.w, cfg.granularity);
  const n = groupSize(p.w.shape, cfg.granularity);
  const sum = groupReduce(B, 'sumAbs', p.w, cfg.granularity);
  checkScale(id, 'α', sum, 'Σ|W|');
  const alpha = B.scalar('mul', sum, 1 / n);
  const codes = B.unary('sign', p.w);
  return { y: scaleBy(B, codes, alpha, cfg.granularity), codes, alpha, w: B.from(p.w) };
}

type Out = readonly [Tensor];

export function terms(B: Backend, f: SignForward, g: Tensor, cfg: SignConfig): Term<SignParams, Out>[] {
  checkUpstream('g', g, f.y.shape);
  const G = cfg.granularity;
  const n = groupSize(f.w.shape, G);
  const win = steWindow(B, f.w, cfg.clip);
  if (cfg.gradient === 'xnor') {
    // g_i·(1/n + α·window_i)
    const factor = B.binary('add', scaleBy(B, win, f.alpha, G), B.scalar('add', B.scalar('mul', win, 0), 1 / n));
    return [
      {
        name: 'xnor',
        claim: { kind: 'straight-through', surrogate: 'W/n + α·hardtanh_clip(W) with α held' },
        grad: { w: B.binary('mul', g, factor) },
        surrogate: (p) => [B.binary('add', B.scalar('mul', p.w, 1 / n), scaleBy(B, hardTanh(B, p.w, cfg.clip), f.alpha, G))],
      },
    ];
  }
  const s = B.scalar('mul', groupReduce(B, 'sum', B.binary('mul', g, f.codes), G), 1 / n);
  return [
    { name: 'alpha', claim: { kind: 'exact' }, grad: { w: scaleBy(B, f.codes, s, G) } },
    {
      name: 'sign',
      claim: { kind: 'straight-through', surrogate: 'α·hardtanh_clip(W) with α held' },
      grad: { w: scaleBy(B, B.binary('mul', win, g), f.alpha, G) },
      surrogate: (p) => [scaleBy(B, hardTanh(B, p.w, cfg.clip), f.alpha, G)],
    },
  ];
}

/** The VJP: the sum of `terms`, checked finite (an OverflowError names the gradient otherwise). */
export const backward = (B: Backend, f: SignForward, g: Tensor, cfg: SignConfig): SignParams => checkGrads(id, sumGrads(B, terms(B, f, g, cfg)));

/** What `backwardFused` needs: the latent and α. */
export interface SignFused {
  readonly w: Tensor;
  readonly alpha: Float32Array;
}

/** `forward` through fused kernels; equal to `forward`'s fields bit for bit (`codes` with `all`). */
export function forwardFused(k: QuantizerKernels, p: SignParams, cfg: SignConfig, outputs: Outputs = 'kernel'): {
  y?: Tensor; alpha: Tensor; codes?: Tensor; res: SignFused;
} {
  if (!weightShapeOk(p.w, cfg.granularity)) checkWeights('w', p.w, cfg.granularity);
  const n = groupSize(p.w.shape, cfg.granularity);
  const sShape = scaleShape(p.w.shape, cfg.granularity);
  const f = k.signForward(p.w, size(p.w.shape) / n, (sum) => {
    if (anyNonFinite(sum)) checkWeights('w', p.w, cfg.granularity);
    checkScale(id, 'α', { shape: sShape, data: sum }, 'Σ|W|');
    return sum.map((v) => v * (1 / n));
  }, outputs);
  return { ...f, alpha: { shape: sShape, data: f.alpha }, res: { w: cast(p.w, 'float32'), alpha: f.alpha } };
}

/** `backward` through fused kernels, from `forwardFused`'s residuals; equal to `backward` bit for bit. */
export function backwardFused(k: QuantizerKernels, r: SignFused, g: Tensor, cfg: SignConfig): SignParams {
  if (!sameShape(g.shape, r.w.shape)) checkUpstream('g', g, r.w.shape);
  const n = groupSize(r.w.shape, cfg.granularity);
  const groups = size(r.w.shape) / n;
  const d = cfg.gradient === 'xnor'
    ? k.xnorBackward(r.w, g, groups, r.alpha, Math.fround(1 / n), clipDown(cfg.clip))
    : k.signBackward(r.w, g, groups, r.alpha, clipDown(cfg.clip), (gs) => {
        const s = new Float32Array(groups);
        for (let i = 0; i < groups; i++) s[i] = gs[2 * i] * (1 / n);
        return s;
      });
  if (!d.finite) checkUpstream('g', g, r.w.shape); // a non-finite g, named; else an overflow
  return d.finite ? { w: d.w } : checkGrads(id, { w: d.w });
}
