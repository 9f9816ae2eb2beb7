/**
 * batchNorm over the last axis (channels of NHWC, features of [batch, features]).
 *
 * Training: μ, σ² (biased) over every axis but the last; x̂ = (x − μ)/√(σ² + ε); y = γ·x̂ + β;
 *   running mean/var ← m·running + (1 − m)·batch (the running variance uses the unbiased σ²).
 * Inference: the same with the running statistics.
 * Backward (training): with M elements per channel,
 *   dγ = Σ dy·x̂,  dβ = Σ dy,  dx = γ/√(σ²+ε)·(dy − dβ/M − x̂·dγ/M),
 * computed without materialising x̂ (it is an affine function of x per channel).
 * Backward (inference): dx = γ/√(var+ε)·dy.
 *
 * A backend's fused passes (`batchNormMoments`, `batchNormAffine`, `batchNormGradMoments`,
 * `batchNormGradAffine`; src/backend.ts) replace the compositions they equal bit for bit: the sums
 * in one pass over x (dy and x), the affine maps in one pass each.
 *
 * batchNorm followed by relu runs as one pair on a backend with `batchNormAffineRelu`,
 * `batchNormGradMomentsRelu` and `batchNormGradAffineRelu` (src/models/fuse.ts): relu applied in
 * the affine pass, and backward the relu's mask step(y) applied as the gradient passes read dy.
 *
 * A relu followed by batchNorm runs as one pair on a backend with `batchNormMomentsOfRelu`,
 * `batchNormAffineOfRelu`, `batchNormGradMomentsOfRelu` and `batchNormGradAffineOfRelu`: every pass
 * reads relu(z) as it reads the relu's input z (relu's output is never written), and the dx pass
 * applies the relu's gradient step(z) as it writes.
 *
 * Law (laws/layers.test.ts): backward = finite differences of forward in both modes.
 * Law (laws/fused-layers.test.ts): the pair equals the two layers one by one, bit for bit.
 * Law (laws/fused-batchnorm.test.ts): with the fused passes, the same bits as without.
 */
import type { Backend } from '../backend.js';
import { ShapeError } from '../errors.js';
import { reshape, size, type Tensor } from '../tensor.js';
import { constant, NO_DX, type Backward, type Forward, type ForwardCtx, type Layer } from './layer.js';
import type { Params } from '../quantizers/common.js';

export interface BatchNormOptions {
  readonly momentum: number;
  readonly epsilon: number;
}

interface BnRes {
  readonly x2: Tensor;
  readonly mean: Tensor;
  readonly invStd: Tensor;
  readonly shape: readonly number[];
  readonly training: boolean;
  /** of a relu → batchNorm pair: x2 is the relu's input z, read through relu */
  readonly reluIn: boolean;
}

const last = (s: readonly number[]) => s[s.length - 1];

export function batchNorm(o: BatchNormOptions): Layer {
  return {
    type: 'batchNorm',
    outShape: (inShape) => [...inShape],
    init(inShape, _rng, dtype) {
      const c = last(inShape);
      return {
        params: { gamma: constant([c], 1, dtype), beta: constant([c], 0, dtype) },
        state: { mean: constant([c], 0, dtype), variance: constant([c], 1, dtype) },
        outShape: [...inShape],
      };
    },
    forward: (B, params, state, x, ctx) => bnForward(o, B, params, state, x, ctx, false),
    backward: (B, params, r, dy, needDx) => bnBackward(B, params, r as BnRes, dy, needDx, undefined),
    afterRelu: {
      available: (B) =>
        B.batchNormMomentsOfRelu !== undefined && B.batchNormAffineOfRelu !== undefined && B.batchNormGradMomentsOfRelu !== undefined && B.batchNormGradAffineOfRelu !== undefined,
      forward: (B, params, state, z, ctx) => bnForward(o, B, params, state, z, ctx, false, true),
      backward: (B, params, r, dy, needDx) => bnBackward(B, params, r as BnRes, dy, needDx, undefined),
    },
    thenRelu: {
      available: (B) => B.batchNormAffineRelu !== undefined && B.batchNormGradMomentsRelu !== undefined && B.batchNormGradAffineRelu !== undefined,
      forward(B, params, state, x, ctx) {
        const f = bnForward(o, B, params, state, x, ctx, true);
        return { ...f, res: { bn: f.res, y: f.y } };
      },
      backward(B, params, r, dy, needDx) {
        const { bn, y } = r as { bn: BnRes; y: Tensor };
        return bnBackward(B, params, bn, dy, needDx, y);
      },
    },
  };
}

/**
 * The forward pass; `relu`: of the batchNorm → relu pair (the relu applied in the affine pass);
 * `reluIn`: of the relu → batchNorm pair (x is the relu's input, read through relu by every pass).
 */
function bnForward(o: BatchNormOptions, B: Backend, params: Params, state: Params, x: Tensor, ctx: ForwardCtx, relu: boolean, reluIn = false): Forward {
  const c = last(x.shape);
  if (params.gamma.shape[0] !== c) throw new ShapeError('batchNorm input channels (last axis)', [params.gamma.shape[0]], [c]);
  const m = size(x.shape) / c;
  const x2 = reshape(x, [m, c]);
  let mean: Tensor;
  let variance: Tensor;
  let next = state;
  if (ctx.training) {
    // σ² = E[x²] − μ²: two reductions and no centred copy. The backends accumulate
    // reductions in float64, so the cancellation costs nothing at activation scales.
    const [sum, sumSquares] = reluIn
      ? B.batchNormMomentsOfRelu!(x2)
      : B.batchNormMoments ? B.batchNormMoments(x2) : [B.reduce('sum', x2, 0), B.reduce('sumSquares', x2, 0)];
    mean = B.scalar('mul', sum, 1 / m);
    variance = B.scalar('max', B.binary('sub', B.scalar('mul', sumSquares, 1 / m), B.unary('square', mean)), 0);
    const unbiased = m > 1 ? B.scalar('mul', variance, m / (m - 1)) : variance;
    next = {
      mean: B.axpy(B.scalar('mul', state.mean, o.momentum), 1 - o.momentum, mean),
      variance: B.axpy(B.scalar('mul', state.variance, o.momentum), 1 - o.momentum, unbiased),
    };
  } else {
    mean = state.mean;
    variance = state.variance;
  }
  const invStd = B.unary('rsqrt', B.scalar('add', variance, o.epsilon));
  // y = γ·(x − μ)·s + β = x·a + b with a = γ·s, b = β − μ·a: two passes over x
  const a = B.binary('mul', params.gamma, invStd);
  const b = B.binary('sub', params.beta, B.binary('mul', mean, a));
  const y = reluIn
    ? B.batchNormAffineOfRelu!(x2, a, b)
    : relu
      ? B.batchNormAffineRelu!(x2, a, b)
      : B.batchNormAffine ? B.batchNormAffine(x2, a, b) : B.binary('add', B.binary('mul', x2, a, 1), b, 1);
  const res: BnRes = { x2, mean, invStd, shape: x.shape, training: ctx.training, reluIn };
  return { y: reshape(y, x.shape), res, state: next };
}

/**
 * The backward pass; with `y` (the batchNorm → relu pair's output), of dy·step(y), the relu's
 * gradient: the fused passes apply the mask as they read dy, the rest multiplies it out first.
 */
function bnBackward(B: Backend, params: Params, r: BnRes, dy: Tensor, needDx: boolean, y: Tensor | undefined): Backward {
  const { x2, mean, invStd, shape, training, reluIn } = r;
  const c = last(shape);
  const m = size(shape) / c;
  const y2 = y === undefined ? undefined : reshape(y, [m, c]);
  const raw2 = reshape(dy, [m, c]);
  // the relu's dL/dz, materialised only where a pass below has no masked form
  let masked: Tensor | undefined;
  const dyOf = (): Tensor => (y2 === undefined ? raw2 : (masked ??= B.binary('mul', raw2, B.unary('step', y2))));
  // dβ = Σ dy,  dγ = Σ dy·x̂ = s·(Σ dy·x − μ·Σ dy)
  const [dbeta, sumDyX] = reluIn
    ? B.batchNormGradMomentsOfRelu!(raw2, x2)
    : y2 !== undefined
    ? B.batchNormGradMomentsRelu!(raw2, x2, y2)
    : B.batchNormGradMoments ? B.batchNormGradMoments(raw2, x2) : [B.reduce('sum', raw2, 0), B.reduce('sum', B.binary('mul', raw2, x2), 0)];
  const dgamma = B.binary('mul', invStd, B.binary('sub', sumDyX, B.binary('mul', mean, dbeta)));
  if (!needDx) return { dparams: { gamma: dgamma, beta: dbeta }, dx: NO_DX };
  const gs = B.binary('mul', params.gamma, invStd);
  if (!training) {
    const dx = B.binary('mul', dyOf(), gs, 1);
    // the relu's gradient, of a relu → batchNorm pair
    return { dparams: { gamma: dgamma, beta: dbeta }, dx: reshape(reluIn ? B.binary('mul', dx, B.unary('step', x2)) : dx, shape) };
  }
  // dx = γs·(dy − dβ/m − x̂·dγ/m), x̂ = (x − μ)·s, regrouped per channel as A·dy + C·x + D:
  //   A = γs,  C = −γs²·dγ/m,  D = γs²·dγ·μ/m − γs·dβ/m
  const k = B.scalar('mul', B.binary('mul', B.binary('mul', gs, invStd), dgamma), 1 / m);
  const C = B.unary('neg', k);
  const D = B.binary('sub', B.binary('mul', k, mean), B.scalar('mul', B.binary('mul', gs, dbeta), 1 / m));
  const dx = reluIn
    ? B.batchNormGradAffineOfRelu!(raw2, x2, gs, C, D)
    : y2 !== undefined
    ? B.batchNormGradAffineRelu!(raw2, x2, y2, gs, C, D)
    : B.batchNormGradAffine
      ? B.batchNormGradAffine(raw2, x2, gs, C, D)
      : B.binary('add', B.binary('add', B.binary('mul', raw2, gs, 1), B.binary('mul', x2, C, 1)), D, 1);
  return { dparams: { gamma: dgamma, beta: dbeta }, dx: reshape(dx, shape) };
}
