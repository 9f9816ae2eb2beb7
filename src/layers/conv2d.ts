/**
 * conv2d: NHWC input, OHWI kernel `[filters, kh, kw, cin]`, y = conv(q_in(x), q_k(W)) + b.
 *
 * Quantizers are parameters as in `dense`; an STTN pair runs ONE convolution with the merged
 * kernel α(B1+B2), and both kernels receive the same upstream gradient (Eq. 7: both see the same
 * input and their outputs add, so dL/dW̃1 = dL/dW̃2). Padding `same` (stride 1 keeps the size;
 * odd kernels), `valid`, or an explicit `[padH, padW]`.
 *
 * Followed by a maxPool, the layer and the pool run as one pair on a backend with
 * `conv2dPoolArgmax` (src/models/fuse.ts): the output pooled as it is made, never written whole.
 *
 * Law (laws/layers.test.ts): backward = finite differences of forward; the merged STTN layer
 * equals two separate binary convolutions whose outputs add, in value and in gradient;
 * laws/fused-layers.test.ts: the conv2d → maxPool pair equals the two layers one by one.
 */
import type { Backend, Conv2dOptions } from '../backend.js';
import { outSize } from '../backend.js';
import { ConfigError, ShapeError } from '../errors.js';
import type { ActivationQuantizer, KernelQuantizer } from '../quantizers/index.js';
import type { Params } from '../quantizers/common.js';
import { reshape, size, type Tensor } from '../tensor.js';
import { constant, heNormal, NO_DX, type Backward, type Layer } from './layer.js';

export type Padding = 'same' | 'valid' | readonly [number, number];

export interface Conv2dLayerOptions {
  readonly filters: number;
  readonly kernelSize: readonly [number, number];
  readonly strides: readonly [number, number];
  readonly padding: Padding;
  readonly useBias: boolean;
  readonly kernelQuantizer: KernelQuantizer;
  readonly inputQuantizer: ActivationQuantizer;
}

export function resolvePads(padding: Padding, kernelSize: readonly [number, number]): [number, number] {
  if (padding === 'valid') return [0, 0];
  if (padding === 'same') {
    if (kernelSize[0] % 2 === 0 || kernelSize[1] % 2 === 0) throw new ConfigError('padding', `'same' needs odd kernel sizes, got [${kernelSize.join(', ')}]`);
    return [(kernelSize[0] - 1) / 2, (kernelSize[1] - 1) / 2];
  }
  return [padding[0], padding[1]];
}

interface ConvRes {
  readonly x: Tensor;
  readonly xq: Tensor;
  readonly w: Tensor;
  readonly kres: unknown;
}

/** What a conv2d → maxPool pair keeps: the convolution's residual, the pool's maxima, the convolution's output shape. */
interface PooledRes {
  readonly conv: ConvRes;
  readonly arg: Tensor;
  readonly convShape: readonly number[];
}

export function conv2d(o: Conv2dLayerOptions): Layer {
  const opts: Conv2dOptions = { strides: o.strides, pads: resolvePads(o.padding, o.kernelSize) };
  const kernelParams = (p: Params): Params => {
    const { b: _b, ...rest } = p;
    return rest;
  };
  const outShape = (inShape: readonly number[]): number[] => {
    if (inShape.length !== 3) throw new ShapeError('conv2d input (per example, HWC)', '[height, width, channels]', inShape);
    const oh = outSize(inShape[0], o.kernelSize[0], opts.strides[0], opts.pads[0]);
    const ow = outSize(inShape[1], o.kernelSize[1], opts.strides[1], opts.pads[1]);
    if (oh < 1 || ow < 1) throw new ShapeError(`conv2d output (kernel [${o.kernelSize.join(', ')}] too large)`, 'positive', [oh, ow, o.filters]);
    return [oh, ow, o.filters];
  };
  /** The quantized input and kernel a forward convolves. */
  const quantized = (B: Backend, params: Params, x: Tensor): { xq: Tensor; w: Tensor; kres: unknown } => {
    const xq = o.inputQuantizer.forward(B, x);
    const { w, res: kres } = o.kernelQuantizer.forward(B, kernelParams(params));
    return { xq, w, kres };
  };
  /** dparams and dx given dL/d(the convolution's output). */
  const convBackward = (B: Backend, params: Params, r: ConvRes, dy: Tensor, needDx: boolean): Backward => {
    const { x, xq, w, kres } = r;
    const c = dy.shape[3];
    if (needDx && B.conv2dBackward) {
      // both products in one call where the backend has it (the same bits)
      const [dw, db, dxq] = B.conv2dBackward(xq, w, dy, opts, o.useBias);
      const dk = o.kernelQuantizer.backward(B, kernelParams(params), kres, dw);
      return { dparams: db ? { ...dk, b: db } : dk, dx: o.inputQuantizer.backward(B, x, dxq) };
    }
    // the bias gradient in the weight gradient's pass over dy where the backend has one (the same bits)
    const [dw, db] = !o.useBias
      ? [B.conv2dGradFilter(xq, dy, w.shape, opts), undefined]
      : B.conv2dGradFilterBias
        ? B.conv2dGradFilterBias(xq, dy, w.shape, opts)
        : [B.conv2dGradFilter(xq, dy, w.shape, opts), B.reduce('sum', reshape(dy, [size(dy.shape) / c, c]), 0)];
    const dk = o.kernelQuantizer.backward(B, kernelParams(params), kres, dw);
    const dparams: Params = db ? { ...dk, b: db } : dk;
    const dx = needDx ? o.inputQuantizer.backward(B, x, B.conv2dGradInput(dy, w, x.shape, opts)) : NO_DX;
    return { dparams, dx };
  };
  return {
    type: 'conv2d',
    outShape,
    init(inShape, rng, dtype) {
      const outShape = this.outShape(inShape);
      const wShape = [o.filters, o.kernelSize[0], o.kernelSize[1], inShape[2]];
      const fanIn = size(wShape) / o.filters;
      const k = o.kernelQuantizer.init(wShape, rng, (s, r) => heNormal(s, fanIn, r, dtype));
      return { params: o.useBias ? { ...k, b: constant([o.filters], 0, dtype) } : k, state: {}, outShape };
    },
    forward(B, params, state, x) {
      const { xq, w, kres } = quantized(B, params, x);
      // the bias in the convolution's own pass where the backend has one (the same bits)
      const y = !o.useBias ? B.conv2d(xq, w, opts) : B.conv2dBias ? B.conv2dBias(xq, w, params.b, opts) : B.binary('add', B.conv2d(xq, w, opts), params.b, 3);
      const res: ConvRes = { x, xq, w, kres };
      return { y, res, state };
    },
    backward: (B, params, r, dy, needDx) => convBackward(B, params, r as ConvRes, dy, needDx),
    thenMaxPool: (pool) => ({
      available: (B) => B.conv2dPoolArgmax !== undefined && B.maxPoolGradArgmax !== undefined,
      forward(B, params, state, x) {
        // the output pooled as it is made (never written whole), each window's maximum kept
        const { xq, w, kres } = quantized(B, params, x);
        const [y, arg] = B.conv2dPoolArgmax!(xq, w, o.useBias ? params.b : undefined, opts, pool);
        const convShape = [x.shape[0], ...outShape(x.shape.slice(1))];
        const res: PooledRes = { conv: { x, xq, w, kres }, arg, convShape };
        return { y, res, state };
      },
      backward(B, params, r, dy, needDx) {
        const { conv, arg, convShape } = r as PooledRes;
        return convBackward(B, params, conv, B.maxPoolGradArgmax!(arg, dy, convShape, pool), needDx);
      },
    }),
  };
}
