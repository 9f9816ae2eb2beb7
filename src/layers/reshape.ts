/**
 * Layers that move no arithmetic: `flatten` ([n, …] → [n, Π…]) and `dropout` (inverted dropout:
 * in training each element is kept with probability 1 − rate and scaled by 1/(1 − rate), the mask
 * drawn from `ctx.rng`; in inference the identity).
 *
 * Law (laws/layers.test.ts): flatten's backward is the inverse reshape; dropout's backward is
 * the same mask applied to dy, and with a fixed rng state the forward is reproducible.
 */
import type { Backend } from '../backend.js';
import { uniform } from '../random.js';
import { alloc, reshape, size, type Tensor } from '../tensor.js';
import { NO_DX, NONE, type Layer } from './layer.js';

export function flatten(): Layer {
  return {
    type: 'flatten',
    outShape: (s) => [size(s)],
    init: (s) => ({ params: NONE, state: NONE, outShape: [size(s)] }),
    forward: (_B, _p, state, x) => ({ y: reshape(x, [x.shape[0], size(x.shape) / x.shape[0]]), res: x.shape, state }),
    backward: (_B, _p, res, dy, needDx) => ({ dparams: NONE, dx: needDx ? reshape(dy, res as number[]) : NO_DX }),
  };
}

export function dropout(rate: number): Layer {
  return {
    type: 'dropout',
    outShape: (s) => [...s],
    init: (s) => ({ params: NONE, state: NONE, outShape: [...s] }),
    forward(B, _p, state, x, ctx) {
      if (!ctx.training || rate === 0) return { y: x, res: null, state };
      const mask = alloc(B.dtype, size(x.shape));
      const keep = 1 / (1 - rate);
      for (let i = 0; i < mask.length; i++) mask[i] = uniform(ctx.rng) >= rate ? keep : 0;
      const m: Tensor = { shape: x.shape, data: mask };
      return { y: B.binary('mul', x, m), res: m, state };
    },
    backward: (B, _p, res, dy, needDx) => ({ dparams: NONE, dx: !needDx ? NO_DX : res === null ? dy : B.binary('mul', dy, res as Tensor) }),
  };
}
