/**
 * Bit-identity for the laws whose claim is "the same bits" (a fused pass against the composition
 * it replaces: laws/conv-bias.test.ts, laws/pool-argmax.test.ts, laws/fused-layers.test.ts,
 * laws/fused-batchnorm.test.ts, laws/quantizers-fast.test.ts, and on plain arrays the engine's
 * builds and thread counts: laws/ternary-kernels.test.ts, laws/engine-threads.test.ts), and the
 * resident scope they run in.
 */
import type { Backend } from '../src/backend.js';
import type { Tensor } from '../src/tensor.js';

/** The same length and, element by element, the same value by Object.is (±0 told apart, NaN equal to NaN). */
export const sameElements = (x: ArrayLike<number>, y: ArrayLike<number>): boolean =>
  x.length === y.length && Array.prototype.every.call(x, (v: number, i: number) => Object.is(v, y[i]));

/** The same shape and, element by element, the same value by Object.is (±0 told apart, NaN equal to NaN). */
export const sameBits = (a: Tensor, b: Tensor): boolean =>
  a.shape.length === b.shape.length &&
  a.shape.every((d, i) => d === b.shape[i]) &&
  sameElements(a.data, b.data);

/** Runs `f` inside `B.resident` where the backend has one (operands and results stay in its memory). */
export const inScope = <T>(B: Backend, f: () => T): T => (B.resident ? B.resident(f) : f());
