/**
 * dense: y = q_in(x)·q_k(W)ᵀ + b, W stored `[units, inFeatures]` (axis 0 = output channel).
 *
 * `kernelQuantizer` and `inputQuantizer` are parameters (as in Larq): `fp` gives a plain dense
 * layer; `sttn` gives the STTN pair, computed as ONE product with the merged kernel α(B1+B2), its
 * upstream gradient handed to both kernels (Eq. 7). Gradients:
 *   dŴ = dyᵀ·q_in(x),  d(q_in x) = dy·Ŵ,  db = Σ_batch dy,
 * then each quantizer's VJP maps them to its latent parameters.
 *
 * Law (laws/layers.test.ts): backward = finite differences of forward (fp quantizers), and for
 * `sttn` the one-product layer equals two binary layers whose outputs add.
 */
import type { Backend } from '../backend.js';
import { ShapeError } from '../errors.js';
import type { ActivationQuantizer, KernelQuantizer } from '../quantizers/index.js';
import type { Params } from '../quantizers/common.js';
import type { Tensor } from '../tensor.js';
import { constant, heNormal, NO_DX, type Layer } from './layer.js';

export interface DenseOptions {
  readonly units: number;
  readonly useBias: boolean;
  readonly kernelQuantizer: KernelQuantizer;
  readonly inputQuantizer: ActivationQuantizer;
}

interface DenseRes {
  readonly x: Tensor;
  readonly xq: Tensor;
  readonly w: Tensor;
  readonly kres: unknown;
}

export function dense(o: DenseOptions): Layer {
  const kernelParams = (p: Params): Params => {
    const { b: _b, ...rest } = p;
    return rest;
  };
  return {
    type: 'dense',
    outShape: (inShape) => {
      if (inShape.length !== 1) throw new ShapeError('dense input (per example; flatten first)', '[features]', inShape);
      return [o.units];
    },
    init(inShape, rng, dtype) {
      const outShape = this.outShape(inShape);
      const k = o.kernelQuantizer.init([o.units, inShape[0]], rng, (s, r) => heNormal(s, inShape[0], r, dtype));
      return { params: o.useBias ? { ...k, b: constant([o.units], 0, dtype) } : k, state: {}, outShape };
    },
    forward(B, params, state, x) {
      if (x.shape.length !== 2) throw new ShapeError('dense input', '[batch, features]', x.shape);
      const xq = o.inputQuantizer.forward(B, x);
      const { w, res: kres } = o.kernelQuantizer.forward(B, kernelParams(params));
      if (w.shape[1] !== x.shape[1]) throw new ShapeError(`dense input features (kernel is [${w.shape.join(', ')}])`, [x.shape[0], w.shape[1]], x.shape);
      let y = B.matmul(xq, w, { transB: true });
      if (o.useBias) y = B.binary('add', y, params.b, 1);
      const res: DenseRes = { x, xq, w, kres };
      return { y, res, state };
    },
    backward(B, params, r, dy, needDx) {
      const { x, xq, w, kres } = r as DenseRes;
      const dw = B.matmul(dy, xq, { transA: true });
      const dk = o.kernelQuantizer.backward(B, kernelParams(params), kres, dw);
      const dparams: Params = o.useBias ? { ...dk, b: B.reduce('sum', dy, 0) } : dk;
      const dx = needDx ? o.inputQuantizer.backward(B, x, B.matmul(dy, w)) : NO_DX;
      return { dparams, dx };
    },
  };
}
