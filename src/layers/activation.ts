/**
 * Element-wise activation layers: `relu`, `prelu` (one learned slope per channel, last axis,
 * initialised to 0.25) and `quantize` (an activation quantizer as a layer: `ternary` Eq. 14,
 * `ste_sign`, or `fp`, for blocks written BatchNorm → ternarize → conv as in the paper).
 *
 * relu: dy·1[x > 0].  prelu: y = x (x > 0), a·x (x ≤ 0); dx = dy·slope, da = Σ dy·x·1[x ≤ 0].
 * quantize: the quantizer's own straight-through VJP.
 * A relu next to a maxPool or batchNorm may run inside that layer's fused pair (src/models/fuse.ts).
 *
 * Law (laws/layers.test.ts): backward = finite differences of forward away from kinks (relu,
 * prelu) and = the surrogate's finite differences (quantize, via the quantizer laws).
 */
import type { Backend } from '../backend.js';
import { ShapeError } from '../errors.js';
import type { ActivationQuantizer } from '../quantizers/index.js';
import { reshape, size, type Tensor } from '../tensor.js';
import { constant, NO_DX, NONE, type Layer } from './layer.js';

export function relu(): Layer {
  return {
    type: 'relu',
    outShape: (s) => [...s],
    init: (s) => ({ params: NONE, state: NONE, outShape: [...s] }),
    forward: (B, _p, state, x) => ({ y: B.unary('relu', x), res: x, state }),
    backward: (B, _p, res, dy, needDx) => ({ dparams: NONE, dx: needDx ? B.binary('mul', dy, B.unary('step', res as Tensor)) : NO_DX }),
  };
}

export function prelu(): Layer {
  const last = (s: readonly number[]) => s[s.length - 1];
  return {
    type: 'prelu',
    outShape: (s) => [...s],
    init: (s, _rng, dtype) => ({ params: { alpha: constant([last(s)], 0.25, dtype) }, state: NONE, outShape: [...s] }),
    forward(B, p, state, x) {
      const ax = x.shape.length - 1;
      if (p.alpha.shape[0] !== last(x.shape)) throw new ShapeError('prelu input channels (last axis)', [p.alpha.shape[0]], [last(x.shape)]);
      const pos = B.unary('step', x);
      const neg = B.scalar('add', B.unary('neg', pos), 1);
      const slope = B.binary('add', pos, B.binary('mul', neg, p.alpha, ax));
      return { y: B.binary('mul', x, slope), res: { x, neg, slope }, state };
    },
    backward(B, _p, res, dy) {
      const { x, neg, slope } = res as { x: Tensor; neg: Tensor; slope: Tensor };
      const c = last(x.shape);
      const dalpha = B.reduce('sum', reshape(B.binary('mul', B.binary('mul', dy, x), neg), [size(x.shape) / c, c]), 0);
      return { dparams: { alpha: dalpha }, dx: B.binary('mul', dy, slope) };
    },
  };
}

export function quantize(q: ActivationQuantizer): Layer {
  return {
    type: 'quantize',
    outShape: (s) => [...s],
    init: (s) => ({ params: NONE, state: NONE, outShape: [...s] }),
    forward: (B, _p, state, x) => ({ y: q.forward(B, x), res: x, state }),
    backward: (B, _p, res, dy, needDx) => ({ dparams: NONE, dx: needDx ? q.backward(B, res as Tensor, dy) : NO_DX }),
  };
}
