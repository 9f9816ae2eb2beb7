/**
 * Pooling over NHWC: `maxPool` (window and strides, no padding; the gradient goes to each window's
 * first maximum; on a backend with `maxPoolArgmax` the forward keeps the maxima's indices, not x)
 * and `globalAvgPool` ([n, h, w, c] → [n, c], the mean over h·w).
 *
 * `maxPool` followed by `relu` runs as one pair on a backend with `maxPoolRelu`/`maxPoolReluGrad`
 * (src/models/fuse.ts): y = relu(maxPool(x)), dx = maxPoolGrad(x, dy·step(y)).
 *
 * Law (laws/layers.test.ts): backward = finite differences of forward (inputs drawn without ties);
 * laws/pool-argmax.test.ts: the layer with the indices gives the layer without them its bits.
 * Law (laws/fused-layers.test.ts): the pair equals the two layers one by one, bit for bit.
 */
import type { Backend, PoolOptions } from '../backend.js';
import { outSize } from '../backend.js';
import { ShapeError } from '../errors.js';
import { alloc, reshape, type Tensor } from '../tensor.js';
import { NO_DX, NONE, type Layer } from './layer.js';

/** What a maxPool forward keeps where the backend records its maxima: their indices and x's shape. */
interface ArgmaxRes {
  readonly arg: Tensor;
  readonly xShape: readonly number[];
}

const isArgmaxRes = (r: unknown): r is ArgmaxRes => typeof r === 'object' && r !== null && 'arg' in r && 'xShape' in r;

export function maxPool(opts: PoolOptions): Layer {
  return {
    type: 'maxPool',
    poolOptions: opts,
    outShape: (s) => {
      if (s.length !== 3) throw new ShapeError('maxPool input (per example, HWC)', '[height, width, channels]', s);
      const oh = outSize(s[0], opts.size[0], opts.strides[0], 0);
      const ow = outSize(s[1], opts.size[1], opts.strides[1], 0);
      if (oh < 1 || ow < 1) throw new ShapeError(`maxPool output (window [${opts.size.join(', ')}] too large)`, 'positive', [oh, ow, s[2]]);
      return [oh, ow, s[2]];
    },
    init(inShape) {
      return { params: NONE, state: NONE, outShape: this.outShape(inShape) };
    },
    forward(B, _p, state, x) {
      // where the backend records each window's maximum, backward reads that (a quarter of x for
      // a 2×2 window) instead of x: the same bits (src/backend.ts maxPoolArgmax)
      if (B.maxPoolArgmax && B.maxPoolGradArgmax) {
        const [y, arg] = B.maxPoolArgmax(x, opts);
        const res: ArgmaxRes = { arg, xShape: [...x.shape] };
        return { y, res, state };
      }
      return { y: B.maxPool(x, opts), res: x, state };
    },
    backward(B, _p, res, dy, needDx) {
      if (!needDx) return { dparams: NONE, dx: NO_DX };
      if (isArgmaxRes(res) && B.maxPoolGradArgmax) return { dparams: NONE, dx: B.maxPoolGradArgmax(res.arg, dy, res.xShape, opts) };
      return { dparams: NONE, dx: B.maxPoolGrad(res as Tensor, dy, opts) };
    },
    thenRelu: {
      available: (B) => B.maxPoolRelu !== undefined && B.maxPoolReluGrad !== undefined,
      forward(B, _p, state, x) {
        const y = B.maxPoolRelu!(x, opts);
        return { y, res: { x, y }, state };
      },
      backward(B, _p, res, dy, needDx) {
        const { x, y } = res as { x: Tensor; y: Tensor };
        return { dparams: NONE, dx: needDx ? B.maxPoolReluGrad!(x, y, dy, opts) : NO_DX };
      },
    },
  };
}

export function globalAvgPool(): Layer {
  return {
    type: 'globalAvgPool',
    outShape: (s) => {
      if (s.length !== 3) throw new ShapeError('globalAvgPool input (per example, HWC)', '[height, width, channels]', s);
      return [s[2]];
    },
    init(inShape) {
      return { params: NONE, state: NONE, outShape: this.outShape(inShape) };
    },
    forward(B, _p, state, x) {
      const [n, h, w, c] = x.shape;
      const y = B.scalar('mul', B.reduce('sum', reshape(x, [n, h * w, c]), 1), 1 / (h * w));
      return { y, res: x.shape, state };
    },
    backward(B, _p, res, dy, needDx) {
      if (!needDx) return { dparams: NONE, dx: NO_DX };
      // Spreading each (n, c) gradient over h·w positions is a broadcast no Backend primitive
      // expresses; it is O(size) data movement, done here on the plain data.
      const [n, h, w, c] = res as number[];
      const hw = h * w;
      const dx = alloc(B.dtype, n * hw * c);
      for (let b = 0; b < n; b++)
        for (let p = 0; p < hw; p++) for (let k = 0; k < c; k++) dx[(b * hw + p) * c + k] = dy.data[b * c + k] / hw;
      return { dparams: NONE, dx: { shape: [n, h, w, c], data: dx } };
    },
  };
}
