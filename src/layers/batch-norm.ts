/**
 * batchNorm over the last axis (channels of NHWC, features of [batch, features]).
 *
 * Training: μ, σ² (biased) over every axis but the last; x̂ = (x − μ)/√(σ² + ε); y = γ·x̂ + β;
 *   running mean/var ← m·running + (1 − m)·batch (the running variance uses the unbiased σ²).
 * Inference: the same with the running statistics.
 * Backward (training): with M elements per channel,
 *   dγ = Σ dy·x̂,  dβ = Σ dy,  dx = γ/√(σ²+ε)·(dy − dβ/M − x̂·dγ/M).
 * Backward (inference): dx = γ/√(var+ε)·dy.
 *
 * Law (laws/layers.test.ts): backward = finite differences of forward in both modes.
 */
import type { Backend } from '../backend.js';
import { ShapeError } from '../errors.js';
import { reshape, size, type Tensor } from '../tensor.js';
import { constant, NO_DX, type Layer } from './layer.js';

export interface BatchNormOptions {
  readonly momentum: number;
  readonly epsilon: number;
}

interface BnRes {
  readonly xhat: Tensor;
  readonly invStd: Tensor;
  readonly shape: readonly number[];
  readonly training: boolean;
}

export function batchNorm(o: BatchNormOptions): Layer {
  const last = (s: readonly number[]) => s[s.length - 1];
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
    forward(B, params, state, x, ctx) {
      const c = last(x.shape);
      if (params.gamma.shape[0] !== c) throw new ShapeError('batchNorm input channels (last axis)', [params.gamma.shape[0]], [c]);
      const m = size(x.shape) / c;
      const x2 = reshape(x, [m, c]);
      let mean: Tensor;
      let variance: Tensor;
      let next = state;
      if (ctx.training) {
        mean = B.scalar('mul', B.reduce('sum', x2, 0), 1 / m);
        const centered = B.binary('sub', x2, mean, 1);
        variance = B.scalar('mul', B.reduce('sumSquares', centered, 0), 1 / m);
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
      const xhat = B.binary('mul', B.binary('sub', x2, mean, 1), invStd, 1);
      const y = B.binary('add', B.binary('mul', xhat, params.gamma, 1), params.beta, 1);
      const res: BnRes = { xhat, invStd, shape: x.shape, training: ctx.training };
      return { y: reshape(y, x.shape), res, state: next };
    },
    backward(B, params, r, dy, needDx) {
      const { xhat, invStd, shape, training } = r as BnRes;
      const c = last(shape);
      const m = size(shape) / c;
      const dy2 = reshape(dy, [m, c]);
      const dgamma = B.reduce('sum', B.binary('mul', dy2, xhat), 0);
      const dbeta = B.reduce('sum', dy2, 0);
      if (!needDx) return { dparams: { gamma: dgamma, beta: dbeta }, dx: NO_DX };
      const scale = B.binary('mul', params.gamma, invStd);
      let inner = dy2;
      if (training) {
        inner = B.binary('sub', dy2, B.scalar('mul', dbeta, 1 / m), 1);
        inner = B.binary('sub', inner, B.binary('mul', xhat, B.scalar('mul', dgamma, 1 / m), 1));
      }
      return { dparams: { gamma: dgamma, beta: dbeta }, dx: reshape(B.binary('mul', inner, scale, 1), shape) };
    },
  };
}
