/**
 * What the experiment measures on a trained model, per quantized layer: the paper's Table-1
 * distance, weight sparsity (Figure 4), and the histogram of latent weights coloured by the
 * ternary value each maps to (Figures 1–2), plus how far the coding is from a hard threshold.
 *
 * Table 1 (Section 4.2, Eq. 2): d = Σ_layers ‖W − Ŵ‖², W the trained latent float weights and Ŵ
 * the effective quantized kernel the layer multiplies with (α·T; TTQ's Wp/−Wn·T). For STTN the
 * layer computes conv(x, W̃1) + conv(x, W̃2) = conv(x, W̃1 + W̃2) (Eq. 7), so its float weight is
 * W = W1 + W2 and its approximation Ŵ = α(B1 + B2) (the merged kernel); under the `official`
 * gradient the latent weights are the clipped ones the forward uses. The histograms of STTN show
 * the same W1 + W2, coloured by the merged code (B1 + B2)/2 ∈ {−1, 0, +1}. Eq. 8's pair form
 * ‖W1 − αB1‖² + ‖W2 − αB2‖² is kept beside it (`pairDistance`), since the paper does not say which
 * of the two its Table 1 reports.
 *
 * Softness: a hard threshold makes the code a monotone function of the weight (−1 below −Δ, 0 in
 * between, +1 above Δ). `thresholdViolations` is the least fraction of weights whose code must
 * change for some pair of thresholds to reproduce the coding: 0 for any hard threshold applied
 * to the plotted value (TWN, TTQ per tensor), > 0 when the intervals overlap (STTN on W1 + W2).
 *
 * Law (laws/experiment.test.ts): on hand examples the distance equals the hand value, including
 * the STTN rule W = W1 + W2, Ŵ = α(B1 + B2).
 */
import * as E from 'fp-ts/lib/Either.js';
import type { Backend } from '../../src/backend.js';
import type { Model } from '../../src/models/model.js';
import type { Tree } from '../../src/train/optim.js';
import { kernelQuantizer } from '../../src/quantizers/index.js';
import type { SttnForward } from '../../src/quantizers/sttn.js';
import type { Tensor } from '../../src/tensor.js';

export interface CodedHistogram {
  /** bins + 1 ascending edges */
  readonly edges: number[];
  /** counts per bin of the weights whose code is −1, 0, +1 */
  readonly neg: number[];
  readonly zero: number[];
  readonly pos: number[];
}

export interface LayerMeasure {
  readonly name: string;
  /** kernel quantizer id */
  readonly quantizer: string;
  readonly size: number;
  /** ‖W − Ŵ‖² of this layer */
  readonly distance: number;
  /** ‖W‖² of this layer (to normalise the distance) */
  readonly floatSumSq: number;
  /** STTN only: Eq. 8's pair form ‖W1 − αB1‖² + ‖W2 − αB2‖² (null for other quantizers) */
  readonly pairDistance: number | null;
  /** fraction of zero codes */
  readonly sparsity: number;
  readonly codeCounts: { readonly neg: number; readonly zero: number; readonly pos: number };
  /** least fraction of codes to change so that a hard threshold pair reproduces them */
  readonly thresholdViolations: number;
  readonly histogram: CodedHistogram;
}

/** Σ (a − b)², accumulated in float64. */
export function squaredDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`squaredDistance: lengths ${a.length} and ${b.length} differ`);
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    s += d * d;
  }
  return s;
}

/**
 * A histogram of `values` over `bins` equal bins spanning [min, max] (widened to a unit around
 * them when all values are equal), split by code (< 0, = 0, > 0).
 */
export function codedHistogram(values: ArrayLike<number>, codes: ArrayLike<number>, bins = 40): CodedHistogram {
  if (values.length !== codes.length) throw new RangeError(`codedHistogram: ${values.length} values but ${codes.length} codes`);
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    lo = Math.min(lo, values[i]);
    hi = Math.max(hi, values[i]);
  }
  // equal values, or a span so small that the bin width would underflow: one unit around them
  if (!((hi - lo) / bins > 1e-300)) {
    const c = Number.isFinite(lo) ? lo : 0;
    lo = c - 0.5;
    hi = c + 0.5;
  }
  const width = (hi - lo) / bins;
  const edges = Array.from({ length: bins + 1 }, (_, k) => (k === bins ? hi : lo + k * width));
  const neg = new Array<number>(bins).fill(0);
  const zero = new Array<number>(bins).fill(0);
  const pos = new Array<number>(bins).fill(0);
  for (let i = 0; i < values.length; i++) {
    let k = Math.min(bins - 1, Math.max(0, Math.floor((values[i] - lo) / width)));
    // agree with the edges exactly where rounding puts a value on the other side of one
    while (k > 0 && values[i] < edges[k]) k--;
    while (k < bins - 1 && values[i] >= edges[k + 1]) k++;
    (codes[i] < 0 ? neg : codes[i] > 0 ? pos : zero)[k]++;
  }
  return { edges, neg, zero, pos };
}

/**
 * The least fraction of weights whose code (−1/0/+1) must change so that codes become a
 * non-decreasing function of the value, i.e. so that one pair of thresholds reproduces them.
 * n − (longest non-decreasing subsequence of the codes, weights sorted by value; ties by code).
 */
export function thresholdViolations(values: ArrayLike<number>, codes: ArrayLike<number>): number {
  const n = values.length;
  if (n === 0) return 0;
  const c = (i: number) => Math.sign(codes[i]);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[a] - values[b] || c(a) - c(b));
  // best[k]: longest non-decreasing subsequence so far ending in code k − 1
  const best = [0, 0, 0];
  for (const i of order) {
    const k = c(i) + 1;
    best[k] = Math.max(...best.slice(0, k + 1)) + 1;
  }
  return (n - Math.max(...best)) / n;
}

const toArray = (t: Tensor): Float64Array => Float64Array.from(t.data);

/**
 * The measures of every quantized (non-`fp`) top-level layer of `model`, in layer order.
 * `bins` is the number of histogram bins.
 */
export function measureLayers(B: Backend, model: Model, params: Tree, bins = 40): LayerMeasure[] {
  const out: LayerMeasure[] = [];
  model.spec.layers.forEach((spec, i) => {
    if (!('kernelQuantizer' in spec) || spec.kernelQuantizer.id === 'fp') return;
    const q = kernelQuantizer(spec.kernelQuantizer);
    if (E.isLeft(q)) throw q.left;
    const name = model.names[i];
    const { b: _bias, ...kp } = params[name];
    const f = q.right.forward(B, kp);
    const effective = toArray(f.w);
    let latent: Float64Array;
    let pairDistance: number | null = null;
    if (q.right.id === 'sttn') {
      const r = f.res as SttnForward;
      const w1 = toArray(r.w1);
      const w2 = toArray(r.w2);
      latent = w1.map((v, k) => v + w2[k]);
      pairDistance = squaredDistance(w1, toArray(r.w1q)) + squaredDistance(w2, toArray(r.w2q));
    } else latent = toArray(kp.w);
    const c = q.right.codes(B, kp);
    const codes = c.kind === 'float' ? latent.map(() => 1) : toArray(c.codes);
    let neg = 0;
    let zero = 0;
    let pos = 0;
    for (const v of codes) {
      if (v < 0) neg++;
      else if (v > 0) pos++;
      else zero++;
    }
    let floatSumSq = 0;
    for (const v of latent) floatSumSq += v * v;
    out.push({
      name,
      quantizer: q.right.id,
      size: latent.length,
      distance: squaredDistance(latent, effective),
      floatSumSq,
      pairDistance,
      sparsity: zero / codes.length,
      codeCounts: { neg, zero, pos },
      thresholdViolations: thresholdViolations(latent, codes),
      histogram: codedHistogram(latent, codes, bins),
    });
  });
  return out;
}

/** Table 1 of a model: Σ over quantized layers of ‖W − Ŵ‖², and the same over Σ‖W‖². */
export function table1(layers: readonly Pick<LayerMeasure, 'distance' | 'floatSumSq'>[]): { distance: number; relative: number } {
  const distance = layers.reduce((a, l) => a + l.distance, 0);
  const norm = layers.reduce((a, l) => a + l.floatSumSq, 0);
  return { distance, relative: norm > 0 ? distance / norm : 0 };
}
