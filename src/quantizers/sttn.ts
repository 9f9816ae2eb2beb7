/**
 * The STTN pair: two binary kernels sharing one scale α (Xu et al., Soft Threshold Ternary
 * Networks), merged into one ternary kernel for inference.
 *
 * Forward (Eq. 10, 12), per group (whole tensor, or per output channel; n = group size):
 *   α = (Σ|W1| + Σ|W2|) / (2n),   W̃_k = α·sign(W_k)   (sign(0) = +1)
 * Merge (Eq. 6–7): W̃1 + W̃2 = α·(B1 + B2), codes B1 + B2 ∈ {−2, 0, 2}; a layer that feeds the same
 * input to both kernels and adds their outputs equals one layer with the merged kernel.
 *
 * Gradient, given g_k = dL/dW̃_k (variants):
 * - `exact` (default): the chain rule of Eq. 12,
 *     dW1_i = sign(W1_i)/(2n)·Σ_{k,j} g_kj·sign(W_kj)   [term `alpha`, exact]
 *           + α·1[|W1_i| ≤ clip]·g_1i                    [term `sign`, straight-through, surrogate α·hardtanh(W1)]
 * - `paper`: Eq. 13 as printed, whose second term is α·1[|W1_i| ≤ clip]·Σ_{k,j} g_kj. The print
 *   drops a Kronecker delta, so this is not a derivative; it exists to reproduce and compare.
 * - `official`: the released code's rule. Latent weights are clipped to [−1, 1] before every
 *   forward (a projection, as the code's in-place clamp; not differentiated), and per kernel
 *     dW_k,i = g_k,i + sign(W_k,i)·(1/n)·Σ_j sign(W_k,j)·g_k,j
 *   (own kernel only, 1/n, no α on the first term). The window `clip` is not used: the latent
 *   weights already lie in [−1, 1]. Its default granularity is `channel`, as in that code.
 *   `signOfZero` (default 1): the released code takes B_k = torch.sign(W_k), whose sign(0) = 0, so
 *   a latent exactly 0 gives code 0 in its kernel (and adds nothing to Σ_j sign(W_kj)·g_kj);
 *   `signOfZero: 0` reproduces that (for weights imported from it), 1 keeps sttn's sign(0) = +1.
 *   Only `official` takes it: `signOfZero: 0` with another variant is a ConfigError.
 *
 * Overflow: Σ|W1| + Σ|W2| per group is checked finite (O(groups); α and the merged ±2α = ±sum/n
 * are then finite), and `backward`'s output in one pass; either throws an OverflowError
 * (common.ts) naming `sttn` and the quantity, e.g. "α overflows float32: Σ|W1|+Σ|W2| = Infinity".
 *
 * Fused path (src/quantizers/fast.ts): on a backend with QuantizerKernels, `exact` and `official`
 * run as one reduction and one map pass each way (`forwardFused`, `backwardFused`), with the same
 * float32 operations as above; `paper` takes the generic path.
 *
 * Law (laws/quantizers-sttn.test.ts): every term of every variant holds its claim against finite
 * differences (the α term of Eq. 12 exact); Eq. 10's α and B are optimal; the merge of Eq. 6–7 is
 * exact; Eq. 13 as printed differs from the chain rule exactly by the dropped delta; golden cases;
 * `signOfZero: 0` gives a latent 0 the code 0 and the forward of the reference formula.
 * laws/neutral.test.ts: overflow gives the typed error.
 */
import * as t from 'io-ts';
import * as E from 'fp-ts/lib/Either.js';
import type { Either } from 'fp-ts/lib/Either.js';
import type { Backend } from '../backend.js';
import { decodeWith, oneOf, withDefaults } from '../codec.js';
import { ConfigError, ShapeError } from '../errors.js';
import { cast, sameShape, size, type Tensor } from '../tensor.js';
import { clipDown, type Outputs, type QuantizerKernels } from './fast.js';
import {
  checkGrads,
  checkScale,
  checkUpstream,
  checkWeights,
  Clip,
  Granularity,
  groupReduce,
  groupSize,
  hardTanh,
  scaleBy,
  scaleShape,
  steWindow,
  sumGrads,
  type Term,
  anyNonFinite,
  weightShapeOk,
} from './common.js';

export const id = 'sttn';

export type SttnGradient = 'exact' | 'paper' | 'official';

export const SttnConfig = withDefaults(
  'sttn',
  {
    granularity: Granularity,
    clip: Clip,
    gradient: oneOf<SttnGradient>('gradient', ['exact', 'paper', 'official']),
    signOfZero: t.union([t.literal(0), t.literal(1)], 'signOfZero (0 or 1)'),
  },
  (raw) => ({
    granularity: raw.gradient === 'official' ? ('channel' as const) : ('tensor' as const),
    clip: 1,
    gradient: 'exact' as const,
    signOfZero: 1 as const,
  }),
);
export type SttnConfig = t.TypeOf<typeof SttnConfig>;

export const decodeConfig = (raw: unknown): Either<ConfigError, SttnConfig> =>
  E.chain((cfg: SttnConfig): Either<ConfigError, SttnConfig> =>
    cfg.signOfZero === 0 && cfg.gradient !== 'official'
      ? E.left(new ConfigError('sttn.signOfZero', `0 (torch.sign) applies only to gradient 'official'; got gradient '${cfg.gradient}'`))
      : E.right(cfg),
  )(decodeWith(SttnConfig, raw, 'sttn'));

export interface SttnParams {
  readonly [k: string]: Tensor;
  readonly w1: Tensor;
  readonly w2: Tensor;
}

export interface SttnForward {
  /** W̃1 = α·B1 and W̃2 = α·B2 (Eq. 12). */
  readonly w1q: Tensor;
  readonly w2q: Tensor;
  /** The merged inference kernel α·(B1 + B2) ∈ {−2α, 0, 2α} (Eq. 6–7). */
  readonly merged: Tensor;
  /** B1 + B2 ∈ {−2, 0, 2}. */
  readonly codes: Tensor;
  /** α, shape `[]` or `[channels]` (Eq. 10). */
  readonly alpha: Tensor;
  readonly b1: Tensor;
  readonly b2: Tensor;
  /** The latent weights the forward used (clipped to [−1, 1] under `official`). */
  readonly w1: Tensor;
  readonly w2: Tensor;
}

export const OFFICIAL_LATENT_CLIP = 1;

function checkPair(p: SttnParams, cfg: SttnConfig): void {
  if (!sameShape(p.w1.shape, p.w2.shape)) throw new ShapeError('sttn: w2 must have the shape of w1', p.w1.shape, p.w2.shape);
  checkWeights('w1', p.w1, cfg.granularity);
  checkWeights('w2', p.w2, cfg.granularity);
}

/** Eq. 10: α = (Σ|W1| + Σ|W2|)/(2n) per group; an OverflowError if the sum is not finite in the backend's dtype. */
export function alphaOf(B: Backend, w1: Tensor, w2: Tensor, cfg: Pick<SttnConfig, 'granularity'>): Tensor {
  const n = groupSize(w1.shape, cfg.granularity);
  const s = B.binary('add', groupReduce(B, 'sumAbs', w1, cfg.granularity), groupReduce(B, 'sumAbs', w2, cfg.granularity));
  checkScale(id, 'α', s, 'Σ|W1|+Σ|W2|');
  // then α and the merged kernel's ±2α = ±s/n are finite too
  return B.scalar('mul', s, 1 / (2 * n));
}

/** B_k = sign(W_k): sign(0) = +1, or 0 (torch.sign) under `official` with `signOfZero: 0`. */
function codesOf(B: Backend, w: Tensor, cfg: SttnConfig): Tensor {
  // sign(W)·1[|W| > 0] is torch.sign exactly
  return cfg.signOfZero === 0 && cfg.gradient === 'official' ? B.scalar('ternarize', w, 0) : B.unary('sign', w);
}

export function forward(B: Backend, p: SttnParams, cfg: SttnConfig): SttnForward {
  checkPair(p, cfg);
  const official = cfg.gradient === 'official';
  const w1 = official ? B.scalar('clamp', p.w1, OFFICIAL_LATENT_CLIP) : B.from(p.w1);
  const w2 = official ? B.scalar('clamp', p.w2, OFFICIAL_LATENT_CLIP) : B.from(p.w2);
  const alpha = alphaOf(B, w1, w2, cfg);
  const b1 = codesOf(B, w1, cfg);
  const b2 = codesOf(B, w2, cfg);
  const codes = B.binary('add', b1, b2);
  return {
    w1q: scaleBy(B, b1, alpha, cfg.granularity),
    w2q: scaleBy(B, b2, alpha, cfg.granularity),
    merged: scaleBy(B, codes, alpha, cfg.granularity),
    codes,
    alpha,
    b1,
    b2,
    w1,
    w2,
  };
}

export interface SttnUpstream {
  /** dL/dW̃1 */
  readonly g1: Tensor;
  /** dL/dW̃2 */
  readonly g2: Tensor;
}

type Out = readonly [Tensor, Tensor];

/** The VJP's terms, each with its claim (see the module header). */
export function terms(B: Backend, f: SttnForward, up: SttnUpstream, cfg: SttnConfig): Term<SttnParams, Out>[] {
  checkUpstream('g1', up.g1, f.w1q.shape);
  checkUpstream('g2', up.g2, f.w2q.shape);
  const G = cfg.granularity;
  const n = groupSize(f.w1.shape, G);
  const { g1, g2, } = up;
  const { b1, b2, alpha } = f;
  // Σ_j g_kj·sign(W_kj) per group, for each kernel.
  const gb1 = groupReduce(B, 'sum', B.binary('mul', g1, b1), G);
  const gb2 = groupReduce(B, 'sum', B.binary('mul', g2, b2), G);

  if (cfg.gradient === 'official') {
    return [
      {
        name: 'identity',
        claim: { kind: 'straight-through', surrogate: 'W_k (identity, no window)' },
        grad: { w1: B.from(g1), w2: B.from(g2) },
        surrogate: (p) => [B.from(p.w1), B.from(p.w2)],
      },
      {
        name: 'scale',
        claim: { kind: 'straight-through', surrogate: 'mean_group|W_k|·B_k with B_k held (each kernel its own scale)' },
        grad: {
          w1: scaleBy(B, b1, B.scalar('mul', gb1, 1 / n), G),
          w2: scaleBy(B, b2, B.scalar('mul', gb2, 1 / n), G),
        },
        surrogate: (p) => [
          scaleBy(B, b1, B.scalar('mul', groupReduce(B, 'sumAbs', p.w1, G), 1 / n), G),
          scaleBy(B, b2, B.scalar('mul', groupReduce(B, 'sumAbs', p.w2, G), 1 / n), G),
        ],
      },
    ];
  }

  const s = B.scalar('mul', B.binary('add', gb1, gb2), 1 / (2 * n));
  const alphaTerm: Term<SttnParams, Out> = {
    name: 'alpha',
    claim: { kind: 'exact' },
    grad: { w1: scaleBy(B, b1, s, G), w2: scaleBy(B, b2, s, G) },
  };
  const win1 = steWindow(B, f.w1, cfg.clip);
  const win2 = steWindow(B, f.w2, cfg.clip);

  if (cfg.gradient === 'paper') {
    const total = B.binary('add', groupReduce(B, 'sum', g1, G), groupReduce(B, 'sum', g2, G));
    const at = B.binary('mul', alpha, total);
    return [
      alphaTerm,
      {
        name: 'sign-as-printed',
        claim: { kind: 'as-printed', note: 'Eq. 13 as printed: α·1[|W1_i| ≤ clip]·Σ_{k,j} g_kj (a Kronecker delta is missing)' },
        grad: { w1: scaleBy(B, win1, at, G), w2: scaleBy(B, win2, at, G) },
      },
    ];
  }

  return [
    alphaTerm,
    {
      name: 'sign',
      claim: { kind: 'straight-through', surrogate: 'α·hardtanh_clip(W_k) with α held' },
      grad: {
        w1: scaleBy(B, B.binary('mul', win1, g1), alpha, G),
        w2: scaleBy(B, B.binary('mul', win2, g2), alpha, G),
      },
      surrogate: (p) => [scaleBy(B, hardTanh(B, p.w1, cfg.clip), alpha, G), scaleBy(B, hardTanh(B, p.w2, cfg.clip), alpha, G)],
    },
  ];
}

/** dL/dW1, dL/dW2 given dL/dW̃1, dL/dW̃2: the sum of `terms`, checked finite (else an OverflowError). */
export function backward(B: Backend, f: SttnForward, up: SttnUpstream, cfg: SttnConfig): SttnParams {
  return checkGrads(id, sumGrads(B, terms(B, f, up, cfg)));
}

/** Variants with a fused path. */
export const fusable = (cfg: SttnConfig): boolean => cfg.gradient === 'exact' || cfg.gradient === 'official';

/** What `backwardFused` needs: the latents and α. */
export interface SttnFused {
  readonly w1: Tensor;
  readonly w2: Tensor;
  readonly alpha: Float32Array;
}

/**
 * `forward` through fused kernels (a `fusable` config): the merged kernel and α, and with `all`
 * also W̃1, W̃2 and the codes; equal to `forward`'s fields bit for bit.
 */
export function forwardFused(k: QuantizerKernels, p: SttnParams, cfg: SttnConfig, outputs: Outputs = 'kernel'): {
  merged?: Tensor; alpha: Tensor; w1q?: Tensor; w2q?: Tensor; codes?: Tensor; res: SttnFused;
} {
  if (!(sameShape(p.w1.shape, p.w2.shape) && weightShapeOk(p.w1, cfg.granularity) && weightShapeOk(p.w2, cfg.granularity))) checkPair(p, cfg);
  const n = groupSize(p.w1.shape, cfg.granularity);
  const sShape = scaleShape(p.w1.shape, cfg.granularity);
  const f = k.sttnForward(p.w1, p.w2, size(p.w1.shape) / n, (s) => {
    // a non-finite latent makes its group's sum non-finite: name it as checkPair would
    if (anyNonFinite(s)) checkPair(p, cfg);
    checkScale(id, 'α', { shape: sShape, data: s }, 'Σ|W1|+Σ|W2|');
    return s.map((v) => v * (1 / (2 * n)));
  }, outputs, cfg.gradient === 'official' ? { signOfZero: cfg.signOfZero } : undefined);
  return { ...f, alpha: { shape: sShape, data: f.alpha }, res: { w1: cast(p.w1, 'float32'), w2: cast(p.w2, 'float32'), alpha: f.alpha } };
}

/** `backward` through fused kernels, from `forwardFused`'s residuals; equal to `backward` bit for bit. */
export function backwardFused(k: QuantizerKernels, r: SttnFused, up: SttnUpstream, cfg: SttnConfig): SttnParams {
  const upstreamChecks = (): void => {
    checkUpstream('g1', up.g1, r.w1.shape);
    checkUpstream('g2', up.g2, r.w2.shape);
  };
  if (!(sameShape(up.g1.shape, r.w1.shape) && sameShape(up.g2.shape, r.w2.shape))) upstreamChecks();
  const n = groupSize(r.w1.shape, cfg.granularity);
  const groups = size(r.w1.shape) / n;
  const d = cfg.gradient === 'official'
    // each kernel its own scale Σ_j B_kj·g_kj / n (module header)
    ? k.sttnOfficialBackward(r.w1, r.w2, up.g1, up.g2, groups, cfg.signOfZero, (gb) => gb.map((v) => v * (1 / n)))
    : k.sttnBackward(r.w1, r.w2, up.g1, up.g2, groups, r.alpha, clipDown(cfg.clip), (gb) => {
        const s = new Float32Array(groups);
        for (let i = 0; i < groups; i++) s[i] = Math.fround(gb[2 * i] + gb[2 * i + 1]) * (1 / (2 * n));
        return s;
      });
  const grads = { w1: d.w1, w2: d.w2 };
  if (!d.finite) upstreamChecks(); // a non-finite g, named; else an overflow, named below
  return d.finite ? grads : checkGrads(id, grads);
}
