/**
 * Where a model's neighbouring layers run fused: the plan of a forward and backward pass over
 * `Model.layers` as single layers and pairs, on a backend that has the fused passes a pair needs
 * (src/backend.ts `maxPoolRelu`, `batchNormAffineRelu`, `batchNormMomentsOfRelu`, …):
 * - a layer with a `thenRelu` (maxPool, batchNorm; src/layers/layer.ts `FusedPair`) and the relu
 *   after it: relu applied as the layer writes, its mask as the layer's backward reads dy;
 * - a relu and the layer after it with an `afterRelu` (batchNorm): the batch norm reads relu(z) as
 *   it reads z, so relu's output is never written, and its dx pass applies the relu's gradient;
 * - a layer with a `thenMaxPool` (conv2d) and the maxPool after it: the output pooled as it is
 *   made (`conv2dPoolArgmax`), never written whole, the pool's backward from its maxima's indices.
 * Left to right, a convolution takes the pool after it first, and a relu joins the layer before
 * it first (cnn-small: conv1 → maxPool, batchNorm → relu, the next batchNorm alone, conv2 →
 * maxPool, then relu → batchNorm). Every other layer, and every layer on a backend without the passes, runs alone
 * as before. A pair returns the bits of its two layers run one by one (every sum the same chain in
 * the same order), so the plan changes the time a step takes and nothing else: the parameter, state
 * and gradient trees keep one entry per layer (the relu's is empty, as ever).
 *
 * Not fused: three in a row (batchNorm → relu → batchNorm could sum the second's moments in the
 * first's affine pass, but that pass is split by rows and the sums must not be); pairs inside a
 * residual block (src/layers/residual.ts runs its own layers).
 *
 * Law (laws/fused-layers.test.ts): a model's forward, backward and training steps with the pairs
 * fused equal those without, bit for bit (wasm, 1 and 2 threads, resident and copying).
 */
import type { Backend } from '../backend.js';
import type { FusedPair, Layer } from '../layers/layer.js';

/** One unit of the plan: layer `i` alone, or layers `i` and `i + 1` as `pair`, held by layer `i + owner`. */
export type Step =
  | { readonly i: number; readonly pair?: undefined }
  | { readonly i: number; readonly pair: FusedPair; readonly owner: 0 | 1; readonly pooled?: boolean };

/** The layers of `layers` in order, neighbours fused where `B` has the passes. */
export function plan(B: Backend, layers: readonly Layer[]): Step[] {
  const steps: Step[] = [];
  for (let i = 0; i < layers.length; i++) {
    const pool = layers[i + 1]?.poolOptions;
    const pooled = pool !== undefined ? layers[i].thenMaxPool?.(pool) : undefined;
    if (pooled !== undefined && pooled.available(B)) {
      steps.push({ i, pair: pooled, owner: 0, pooled: true });
      i++;
      continue;
    }
    const then = layers[i].thenRelu;
    const after = layers[i].type === 'relu' ? layers[i + 1]?.afterRelu : undefined;
    if (then !== undefined && layers[i + 1]?.type === 'relu' && then.available(B)) {
      steps.push({ i, pair: then, owner: 0 });
      i++;
    } else if (after !== undefined && after.available(B)) {
      steps.push({ i, pair: after, owner: 1 });
      i++;
    } else steps.push({ i });
  }
  return steps;
}

/**
 * The residuals kept for a pair's relu, which mark the pair for the backward pass: fused into the
 * layer before it, or into the layer after it (symbols, which a resident scope's copy-out passes
 * through as they are).
 */
export const INTO_PREVIOUS: unique symbol = Symbol('sttn: fused into the layer before');
export const INTO_NEXT: unique symbol = Symbol('sttn: fused into the layer after');
/** The residual kept for a maxPool fused into the convolution before it. */
export const POOLED_INTO_PREVIOUS: unique symbol = Symbol('sttn: pooled in the layer before');
