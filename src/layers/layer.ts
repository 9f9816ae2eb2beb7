/**
 * The layer contract: pure functions over parameter records (JAX custom_vjp / Equinox style).
 *
 *   init(inShape, rng, dtype)           → { params, state, outShape }   (seeded; shapes exclude the batch axis)
 *   forward(B, params, state, x, ctx)   → { y, res, state }             (res: what backward needs)
 *   backward(B, params, res, dy, needDx) → { dparams, dx }              (dparams has params' type)
 *
 * `state` holds what is carried but not trained (batch norm's running statistics); it is returned
 * updated by a training forward and left unchanged by an inference forward. Randomness (dropout)
 * comes only from `ctx.rng`.
 *
 * Law (laws/layers.test.ts): every layer's backward equals the central finite differences of its
 * forward (float64, cpu backend) for every parameter and the input; every backward is linear in dy.
 */
import type { Backend, PoolOptions } from '../backend.js';
import type { Params } from '../quantizers/common.js';
import { normal, type Rng } from '../random.js';
import { alloc, size, type DType, type Tensor } from '../tensor.js';

export interface ForwardCtx {
  readonly training: boolean;
  readonly rng: Rng;
}

export interface Forward {
  readonly y: Tensor;
  readonly res: unknown;
  readonly state: Params;
}

export interface Backward {
  readonly dparams: Params;
  /** dL/dx; a zero-size placeholder when `needDx` was false. */
  readonly dx: Tensor;
}

export interface Layer {
  /** The layer's kind, as in its spec (`dense`, `conv2d`, …). */
  readonly type: string;
  outShape(inShape: readonly number[]): number[];
  init(inShape: readonly number[], rng: Rng, dtype: DType): { params: Params; state: Params; outShape: number[] };
  forward(B: Backend, params: Params, state: Params, x: Tensor, ctx: ForwardCtx): Forward;
  backward(B: Backend, params: Params, res: unknown, dy: Tensor, needDx: boolean): Backward;
  /**
   * Optional: this layer and a `relu` right after it as one pair, for the backends that have the
   * fused passes it needs (src/models/fuse.ts plans where it runs).
   */
  readonly thenRelu?: FusedPair;
  /**
   * Optional: a `relu` right before this layer and this layer as one pair (its `forward` takes the
   * relu's input, its `backward` returns dL/d(the relu's input)).
   */
  readonly afterRelu?: FusedPair;
  /** Optional: this layer and a maxPool of `pool` right after it as one pair (conv2d). */
  readonly thenMaxPool?: (pool: PoolOptions) => FusedPair;
  /** A maxPool layer's window and strides (for a pair with the layer before it). */
  readonly poolOptions?: PoolOptions;
}

/**
 * Two neighbouring layers run as one, with the bits of running them one by one. `forward` takes the
 * owning layer's params and state (the one that holds the pair; the other, a relu, has neither) and
 * the first layer's input, and returns the second's output, one residual for both and the owner's
 * new state; `backward` takes dL/d(that output) and returns the owner's dparams and dL/d(the first
 * layer's input).
 */
export interface FusedPair {
  /** Whether `B` has every fused pass the pair calls. */
  available(B: Backend): boolean;
  forward(B: Backend, params: Params, state: Params, x: Tensor, ctx: ForwardCtx): Forward;
  backward(B: Backend, params: Params, res: unknown, dy: Tensor, needDx: boolean): Backward;
}

/** He (Kaiming) normal initialisation: N(0, 2/fanIn), the usual choice before ReLU-like units. */
export function heNormal(shape: readonly number[], fanIn: number, rng: Rng, dtype: DType): Tensor {
  const data = alloc(dtype, size(shape));
  const std = Math.sqrt(2 / fanIn);
  for (let i = 0; i < data.length; i++) data[i] = normal(rng) * std;
  return { shape: [...shape], data };
}

export const constant = (shape: readonly number[], v: number, dtype: DType): Tensor => {
  const data = alloc(dtype, size(shape));
  data.fill(v);
  return { shape: [...shape], data };
};

/** The placeholder `dx` of a backward that was asked not to compute it. */
export const NO_DX: Tensor = { shape: [0], data: new Float32Array(0) };

/** An empty parameter record (layers without parameters or state). */
export const NONE: Params = Object.freeze({});
