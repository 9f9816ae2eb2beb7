/**
 * The fused fast path of the weight quantizers: what a backend may offer to run a quantizer's
 * forward or backward as one reduction pass and one map pass over resident float32 data, with no
 * temporaries (the wasm backend does: backends/wasm/quantize.ts).
 *
 * The division of labour keeps the math in one place: the backend runs the passes; the scalars
 * between them (α, Δ, s: O(groups) values) are formed here, in src/quantizers/*, by the same
 * float32 operations the generic path uses, and handed back through a callback that also runs the
 * quantizer's overflow checks. Groups are contiguous runs: one for `tensor` granularity, one per
 * output channel for `channel`.
 *
 * Inputs are checked finite inside the passes, not before them: a non-finite input shows as a
 * non-finite group sum or a flag, and only then do the generic checks run, so the same
 * NonFiniteError or OverflowError names the same input or quantity. Shape errors are found before
 * any pass, in the generic order.
 *
 * A quantizer takes this path only on a float32 backend that has the kernels and only for the
 * variants that have one (`fusable` in each module); everything else runs the generic path.
 *
 * Law (laws/quantizers-fast.test.ts): the fast path equals the generic path on cpu32 bit for bit
 * (forward, backward, both granularities) and throws the same errors.
 */
import type { Backend } from '../backend.js';
import type { Tensor } from '../tensor.js';

/** Which outputs a forward writes: the effective kernel, that and the rest (codes, W̃_k), or only the scale. */
export type Outputs = 'kernel' | 'all' | 'scale';

/** From per-group float32 sums to per-group float32 scalars (and the checks on the way). */
export type Scalars = (sums: Float32Array) => Float32Array;

export interface QuantizerKernels {
  /** α = alpha(f32(Σ|W1|) + f32(Σ|W2|)) per group; merged = (B1 + B2)·α; with 'all' also B1·α, B2·α and B1 + B2; with 'scale' only α. */
  /**
   * With `official`: the sums are of the latents clamped to [−1, 1] (NaN for a group with a
   * non-finite latent), and `signOfZero: 0` gives a latent 0 the code 0.
   */
  sttnForward(w1: Tensor, w2: Tensor, groups: number, alpha: Scalars, out: Outputs, official?: { readonly signOfZero: 0 | 1 }): {
    merged?: Tensor; alpha: Float32Array; w1q?: Tensor; w2q?: Tensor; codes?: Tensor;
  };
  /** s = scale([Σ g1·B1, Σ g2·B2] interleaved per group); dW_k = B_k·s + (1[|W_k| ≤ clipF]·g_k)·α. */
  sttnBackward(w1: Tensor, w2: Tensor, g1: Tensor, g2: Tensor, groups: number, alpha: Float32Array, clipF: number, scale: Scalars): {
    w1: Tensor; w2: Tensor; finite: boolean;
  };
  /** STTN `official`: s = scale([Σ g1·B1, Σ g2·B2] interleaved per group); dW_k = g_k + B_k·s_k. */
  sttnOfficialBackward(w1: Tensor, w2: Tensor, g1: Tensor, g2: Tensor, groups: number, signOfZero: 0 | 1, scale: Scalars): {
    w1: Tensor; w2: Tensor; finite: boolean;
  };
  /** α = alpha(f32(Σ|W|)) per group; y = sign(W)·α; with 'all' also sign(W); with 'scale' only α. */
  signForward(w: Tensor, groups: number, alpha: Scalars, out: Outputs): { y?: Tensor; alpha: Float32Array; codes?: Tensor };
  /** s = scale(Σ g·sign(W) per group, at even indices); dW = sign(W)·s + (1[|W| ≤ clipF]·g)·α. */
  signBackward(w: Tensor, g: Tensor, groups: number, alpha: Float32Array, clipF: number, scale: Scalars): { w: Tensor; finite: boolean };
  /** Eq. 11: dW = g·(1[|W| ≤ clipF]·α + inv). */
  xnorBackward(w: Tensor, g: Tensor, groups: number, alpha: Float32Array, inv: number, clipF: number): { w: Tensor; finite: boolean };
  /**
   * Δ = delta(f32(Σ|W|)) per group; α = alpha([|I|, Σ_I |W|] interleaved per group); T = sign(W)·1[|W| > Δ];
   * y = T·α; with `all` also T.
   */
  twnForward(w: Tensor, groups: number, delta: Scalars, alpha: Scalars, all: boolean): {
    y: Tensor; delta: Float32Array; alpha: Float32Array; count: Float32Array; codes?: Tensor;
  };
  /** Δ = delta(f32(max|W|)); y = 1[W > Δ]·Wp − 1[−W > Δ]·Wn; with `all` also the codes. */
  ttqForward(w: Tensor, delta: (maxAbs: number) => number, wp: Float32Array, wn: Float32Array, groups: number, all: boolean): {
    y: Tensor; delta: number; codes?: Tensor;
  };
  /** dW = g·0 + g·slope; `sums` = [Σ g·1[W > Δ], Σ g·1[−W > Δ]] interleaved per group. */
  ttqBackward(w: Tensor, g: Tensor, delta: number, wp: Float32Array, wn: Float32Array, groups: number): {
    w: Tensor; sums: Float32Array; finite: boolean;
  };
  /** The activations' straight-through gradient g·1[|x| ≤ clipF]; `finite` is false if an x or g is not. */
  steGrad(x: Tensor, g: Tensor, clipF: number): { x: Tensor; finite: boolean };
  /** Whether every value of `x` is finite (one pass; the activations' forward check, which then names the first bad one). */
  allFinite(x: Tensor): boolean;
}

/** A backend that carries the fused kernels. */
export interface WithQuantizerKernels {
  readonly quantizerKernels: QuantizerKernels;
}

/** The backend's fused kernels, if it has them (float32 backends only). */
export const kernelsOf = (B: Backend): QuantizerKernels | undefined =>
  B.dtype === 'float32' ? (B as Backend & Partial<WithQuantizerKernels>).quantizerKernels : undefined;

/** True when the backend's fused kernels find every value of `t` finite in one pass; false means "not known": walk `t` to name a bad value. */
export const knownFinite = (B: Backend, t: Tensor): boolean => kernelsOf(B)?.allFinite(t) === true;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * The largest float32 ≤ `clip` (+∞ for no window): for float32 x, `|x| ≤ clipDown(clip)` decides
 * exactly as the float64 comparison `|x| ≤ clip` the generic window makes.
 */
export function clipDown(clip: number | null): number {
  if (clip === null) return Infinity;
  f32[0] = clip;
  if (f32[0] > clip) u32[0] -= 1; // clip > 0: one ulp toward zero
  return f32[0];
}
