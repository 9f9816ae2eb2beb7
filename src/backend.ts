/**
 * The Backend interface: the primitives every piece of sttn's math is written against.
 *
 * A backend is a record of functions passed explicitly as a value (never a global). Quantizers,
 * layers, losses and optimizers are written once over these primitives; `backends/` supplies
 * implementations (cpu reference, wasm SIMD, gpu.js). A backend that lacks a primitive does not
 * type-check against this interface.
 *
 * Conventions shared by every implementation:
 * - inputs are plain `Tensor`s of either dtype; outputs are new tensors of `backend.dtype`;
 * - `sign(0) = +1` everywhere;
 * - images are NHWC; convolution kernels are OHWI (`[cout, kh, kw, cin]`), so axis 0 of a
 *   kernel is its output channel, the axis of `channel` granularity;
 * - `axis` broadcasting: a rank-1 `b` of length `a.shape[axis]` is repeated along every other
 *   axis of `a`; a `b` of size 1 is a scalar.
 *
 * Law (laws/backend-agreement.test.ts): every backend gives the cpu float64 backend's result
 * within a tolerance derived from `precision`.
 */
import type { DType, Tensor } from './tensor.js';

/** Element-wise maps with no parameter. `step(x) = x > 0 ? 1 : 0`; `sign(0) = +1`. */
export type UnaryOp =
  | 'neg'
  | 'abs'
  | 'sign'
  | 'square'
  | 'sqrt'
  | 'rsqrt'
  | 'exp'
  | 'log'
  | 'relu'
  | 'step'
  | 'reciprocal';

/**
 * Element-wise maps with one scalar parameter `s`:
 * - `add` x+s, `mul` x·s, `max` max(x,s), `min` min(x,s), `clamp` min(max(x,−s),s);
 * - `gt` 1[x > s], `lt` 1[x < s], `window` 1[|x| ≤ s] (the STE window, inclusive);
 * - `ternarize` sign(x)·1[|x| > s] (Eq. 14, paper boundary);
 * - `ternarizeOfficial` +1 if x ≥ s, −1 if x < −s, else 0 (the official CUDA kernel's boundary).
 */
export type ScalarOp =
  | 'add'
  | 'mul'
  | 'max'
  | 'min'
  | 'clamp'
  | 'gt'
  | 'lt'
  | 'window'
  | 'ternarize'
  | 'ternarizeOfficial';

/** Element-wise binary maps: `gt` is 1[a > b]. */
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'max' | 'min' | 'gt';

/** Reductions over one axis (or all, `axis = null`, giving shape `[]`). */
export type ReduceOp = 'sum' | 'sumAbs' | 'sumSquares' | 'max' | 'maxAbs';

export interface MatmulOptions {
  /** Use aᵀ: `a` is stored `[K, M]`. */
  readonly transA?: boolean;
  /** Use bᵀ: `b` is stored `[N, K]`. */
  readonly transB?: boolean;
}

export interface Conv2dOptions {
  /** `[strideH, strideW]`. */
  readonly strides: readonly [number, number];
  /** Zero padding on each side, `[padH, padW]` (top = bottom = padH, left = right = padW). */
  readonly pads: readonly [number, number];
}

export interface PoolOptions {
  /** Window `[h, w]`. */
  readonly size: readonly [number, number];
  /** `[strideH, strideW]`. No padding: the output is `floor((H − h)/s) + 1`. */
  readonly strides: readonly [number, number];
}

export interface Backend {
  /** A short name: `cpu64`, `cpu32`, `wasm`, `gpujs-<mode>`. */
  readonly name: string;
  /** The dtype of every tensor this backend returns. */
  readonly dtype: DType;
  /**
   * Unit roundoff of the arithmetic (2⁻⁵³ for float64, 2⁻²⁴ for float32). Laws derive their
   * tolerances from it rather than from a constant per backend.
   */
  readonly precision: number;

  /** Copy into this backend's dtype (the identity when it already is). */
  from(t: Tensor): Tensor;

  unary(op: UnaryOp, x: Tensor): Tensor;
  scalar(op: ScalarOp, x: Tensor, s: number): Tensor;
  /** `a op b`, with `b` of `a`'s shape, of size 1, or rank 1 broadcast along `axis` of `a`. */
  binary(op: BinaryOp, a: Tensor, b: Tensor, axis?: number): Tensor;
  /** `a + s·b` (an axpy: the optimizers' and gradient accumulation's workhorse). */
  axpy(a: Tensor, s: number, b: Tensor): Tensor;
  /** `cond ≠ 0 ? a : b`, all three of one shape. */
  select(cond: Tensor, a: Tensor, b: Tensor): Tensor;
  reduce(op: ReduceOp, x: Tensor, axis: number | null): Tensor;

  /** 2-D matrix product `op(a)·op(b)`, `[M, N]`. */
  matmul(a: Tensor, b: Tensor, opts?: MatmulOptions): Tensor;

  /** NHWC `x` ⋆ OHWI `w` → NHWC. */
  conv2d(x: Tensor, w: Tensor, opts: Conv2dOptions): Tensor;
  /**
   * Optional: `conv2d` with the bias `b` (`[cout]`) added to every output pixel as each part of
   * the output is made, not in a pass of its own: the bits of
   * `binary('add', conv2d(x, w, opts), b, 3)` (laws/conv-bias.test.ts).
   */
  conv2dBias?(x: Tensor, w: Tensor, b: Tensor, opts: Conv2dOptions): Tensor;
  /** dL/dx of `conv2d`, given dL/dy; `xShape` is the input's NHWC shape. */
  conv2dGradInput(dy: Tensor, w: Tensor, xShape: readonly number[], opts: Conv2dOptions): Tensor;
  /** dL/dw of `conv2d`, given dL/dy; `wShape` is the kernel's OHWI shape. */
  conv2dGradFilter(x: Tensor, dy: Tensor, wShape: readonly number[], opts: Conv2dOptions): Tensor;
  /**
   * Optional: `conv2dGradFilter` and the bias gradient (dy summed over its n·oh·ow pixels, per
   * output channel) in one pass over dy: the bits of
   * `[conv2dGradFilter(x, dy, wShape, opts), reduce('sum', dy as [n·oh·ow, cout], 0)]`
   * (laws/conv-bias.test.ts).
   */
  conv2dGradFilterBias?(x: Tensor, dy: Tensor, wShape: readonly number[], opts: Conv2dOptions): [Tensor, Tensor];
  /**
   * Optional: every gradient of `conv2d` (with `bias`, of `conv2dBias`) given dy in one call, so a
   * backend may run the two independent products together: `[dW, db or undefined, dx]`, the bits
   * of `conv2dGradFilterBias` (`conv2dGradFilter` without a bias) and `conv2dGradInput`
   * (laws/conv-bias.test.ts).
   */
  conv2dBackward?(x: Tensor, w: Tensor, dy: Tensor, opts: Conv2dOptions, bias: boolean): [Tensor, Tensor | undefined, Tensor];

  /** NHWC max pooling (no padding); ties go to the first maximum in row-major window order. */
  maxPool(x: Tensor, opts: PoolOptions): Tensor;
  /** dL/dx of `maxPool`: each window's dL/dy goes to its (first) maximum. */
  maxPoolGrad(x: Tensor, dy: Tensor, opts: PoolOptions): Tensor;
  /**
   * Optional: `[maxPool(x, opts), arg]`, arg of y's shape holding for each output element the
   * row-major index ky·kw + kx (a float32) of its window's first maximum: the element
   * `maxPoolGrad` sends that output's gradient to (laws/pool-argmax.test.ts).
   */
  maxPoolArgmax?(x: Tensor, opts: PoolOptions): [Tensor, Tensor];
  /**
   * Optional: the bits of `maxPoolGrad(x, dy, opts)` from `arg = maxPoolArgmax(x, opts)[1]` and x's
   * shape, without x. An entry of arg that is not a window index (an integer in [0, kh·kw)) sends
   * its dy nowhere.
   */
  maxPoolGradArgmax?(arg: Tensor, dy: Tensor, xShape: readonly number[], opts: PoolOptions): Tensor;
  /**
   * Optional: the bits of `maxPoolArgmax(c, poolOpts)` with c = `conv2dBias(x, w, b, convOpts)`
   * (`conv2d(x, w, convOpts)` when b is undefined), made image by image so that c is never
   * written whole (laws/pool-argmax.test.ts).
   */
  conv2dPoolArgmax?(x: Tensor, w: Tensor, b: Tensor | undefined, convOpts: Conv2dOptions, poolOpts: PoolOptions): [Tensor, Tensor];

  /**
   * Optional: runs `f` with the results of this backend's calls kept in its own memory (the wasm
   * backend: views on wasm memory, read in place when passed back in, no copies out and back) and
   * returns `f`'s result with every tensor in it (plain objects and arrays are walked) copied out
   * into ordinary arrays. Results are bit-identical to calling `f()` directly. A tensor made inside
   * `f` and kept by any other way than its result is invalid once `resident` returns (or throws).
   * `f` must be synchronous. Nested calls run inside the outer one. The training step uses it
   * when present.
   */
  resident?<T>(f: () => T): T;

  // Optional fused batch-norm passes (src/layers/batch-norm.ts takes them when present, the
  // composition otherwise). `x` and `dy` are `[m, c]` (channels last), the vectors `[c]`. Each
  // returns exactly the bits of the composition of this backend's primitives written beside it,
  // in one pass over its operands instead of one per primitive (laws/fused-batchnorm.test.ts).
  /** `[reduce('sum', x, 0), reduce('sumSquares', x, 0)]`. */
  batchNormMoments?(x: Tensor): [Tensor, Tensor];
  /** `binary('add', binary('mul', x, a, 1), b, 1)`. */
  batchNormAffine?(x: Tensor, a: Tensor, b: Tensor): Tensor;
  /** `[reduce('sum', dy, 0), reduce('sum', binary('mul', dy, x), 0)]`. */
  batchNormGradMoments?(dy: Tensor, x: Tensor): [Tensor, Tensor];
  /** `binary('add', binary('add', binary('mul', dy, g, 1), binary('mul', x, k, 1)), d, 1)`. */
  batchNormGradAffine?(dy: Tensor, x: Tensor, g: Tensor, k: Tensor, d: Tensor): Tensor;

  // Optional fused layer pairs (src/models/fuse.ts runs a maxPool → relu, batchNorm → relu or relu → batchNorm pair
  // through them when present, the two layers one by one otherwise). Each returns exactly the bits
  // of the composition written beside it, in one pass; `y` is the pair's output, relu(z), whose
  // step is step(z) (both send NaN, ±0 and negatives to 0), so the relu's input is never kept
  // (laws/fused-layers.test.ts).
  /** `unary('relu', maxPool(x, opts))`. */
  maxPoolRelu?(x: Tensor, opts: PoolOptions): Tensor;
  /** `maxPoolGrad(x, binary('mul', dy, unary('step', y)), opts)`. */
  maxPoolReluGrad?(x: Tensor, y: Tensor, dy: Tensor, opts: PoolOptions): Tensor;
  /** `unary('relu', batchNormAffine(x, a, b))`. */
  batchNormAffineRelu?(x: Tensor, a: Tensor, b: Tensor): Tensor;
  /** `batchNormGradMoments(binary('mul', dy, unary('step', y)), x)`. */
  batchNormGradMomentsRelu?(dy: Tensor, x: Tensor, y: Tensor): [Tensor, Tensor];
  /** `batchNormGradAffine(binary('mul', dy, unary('step', y)), x, g, k, d)`. */
  batchNormGradAffineRelu?(dy: Tensor, x: Tensor, y: Tensor, g: Tensor, k: Tensor, d: Tensor): Tensor;
  // A relu → batchNorm pair: the batch norm reads relu(z) as it reads its input z (relu's output
  // is never written), and its dx carries the relu's gradient.
  /** `batchNormMoments(unary('relu', z))`. */
  batchNormMomentsOfRelu?(z: Tensor): [Tensor, Tensor];
  /** `batchNormAffine(unary('relu', z), a, b)`. */
  batchNormAffineOfRelu?(z: Tensor, a: Tensor, b: Tensor): Tensor;
  /** `batchNormGradMoments(dy, unary('relu', z))`. */
  batchNormGradMomentsOfRelu?(dy: Tensor, z: Tensor): [Tensor, Tensor];
  /** `binary('mul', batchNormGradAffine(dy, unary('relu', z), g, k, d), unary('step', z))`. */
  batchNormGradAffineOfRelu?(dy: Tensor, z: Tensor, g: Tensor, k: Tensor, d: Tensor): Tensor;
}

/** The unit roundoff of a dtype. */
export const roundoff = (dtype: DType): number => (dtype === 'float64' ? 2 ** -53 : 2 ** -24);

/** Output spatial size of a convolution or pooling window. */
export const outSize = (n: number, k: number, stride: number, pad: number): number =>
  Math.floor((n + 2 * pad - k) / stride) + 1;
