/**
 * Where a model's neighbouring layers run fused: the plan of a forward and backward pass over
 * `Model.layers` as single layers and pairs. A pair is a layer with a `thenRelu` (maxPool,
 * batchNorm; src/layers/layer.ts `FusedPair`) followed by a `relu`, on a backend that has the fused
 * passes the pair needs (src/backend.ts `maxPoolRelu`, `batchNormAffineRelu`, …); every other layer,
 * and every layer on a backend without those passes, runs alone as before. A pair returns the bits
 * of its two layers run one by one, so the plan changes the time a step takes and nothing else: the
 * parameter, state and gradient trees keep one entry per layer (the relu's is empty, as ever).
 *
 * Not fused, and why: relu → batchNorm (the batch norm's moments could read relu(x) as they sum,
 * in the same order and so with the same bits, but its residual and its affine and gradient passes
 * read relu(x) again, so relu's output must be written anyway: the pair would save one read of an
 * activation the moments pass already streams, against a third fused kernel); pairs inside a
 * residual block (src/layers/residual.ts runs its own layers).
 *
 * Law (laws/fused-layers.test.ts): a model's forward, backward and training steps with the pairs
 * fused equal those without, bit for bit (wasm, 1 and 2 threads, resident and copying).
 */
import type { Backend } from '../backend.js';
import type { FusedPair, Layer } from '../layers/layer.js';

/** One unit of the plan: layer `i` alone, or layers `i` and `i + 1` as `pair`. */
export type Step = { readonly i: number; readonly pair?: undefined } | { readonly i: number; readonly pair: FusedPair };

/** The layers of `layers` in order, neighbours fused where `B` has the passes. */
export function plan(B: Backend, layers: readonly Layer[]): Step[] {
  const steps: Step[] = [];
  for (let i = 0; i < layers.length; i++) {
    const pair = layers[i].thenRelu;
    if (pair !== undefined && i + 1 < layers.length && layers[i + 1].type === 'relu' && pair.available(B)) {
      steps.push({ i, pair });
      i++;
    } else steps.push({ i });
  }
  return steps;
}

/**
 * The residual kept for a pair's second layer: it marks the pair for the backward pass (a symbol,
 * which a resident scope's copy-out passes through as it is).
 */
export const PAIRED: unique symbol = Symbol('sttn: fused with the layer before');
