/**
 * Bit-identity for the laws whose claim is "the same bits" (a fused pass against the composition
 * it replaces: laws/conv-bias.test.ts, laws/pool-argmax.test.ts, laws/fused-layers.test.ts,
 * laws/fused-batchnorm.test.ts, laws/quantizers-fast.test.ts), and the resident scope they run in.
 */
import type { Backend } from '../src/backend.js';
import type { Tensor } from '../src/tensor.js';

/** The same shape and, element by element, the same value by Object.is (±0 told apart, NaN equal to NaN). */
export const sameBits = (a: Tensor, b: Tensor): boolean =>
  a.shape.length === b.shape.length &&
  a.shape.every((d, i) => d === b.shape[i]) &&
  a.data.length === b.data.length &&
  a.data.every((v, i) => Object.is(v, b.data[i]));

/** Runs `f` inside `B.resident` where the backend has one (operands and results stay in its memory). */
export const inScope = <T>(B: Backend, f: () => T): T => (B.resident ? B.resident(f) : f());
