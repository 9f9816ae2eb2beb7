/**
 * Arbitraries for the bit-exact laws of stored tensors (laws/tensor-codec.test.ts,
 * laws/checkpoint.test.ts): tensors of either dtype and of any small shape (empty ones included)
 * whose values reach the edges of their format (±0, the smallest subnormals, the largest finite
 * values), and parameter trees keyed by odd names (`__proto__`, dots, spaces).
 */
import fc from 'fast-check';
import type { ParamTree } from '../src/tensor-codec.js';
import type { Tensor } from '../src/tensor.js';

const F32_EDGES = [0, -0, 1.401298464324817e-45, -1.401298464324817e-45, 1.1754942106924411e-38, 3.4028234663852886e38, -3.4028234663852886e38];
const F64_EDGES = [0, -0, Number.MIN_VALUE, -Number.MIN_VALUE, 2.2250738585072014e-308, Number.MAX_VALUE, -Number.MAX_VALUE, 1e-300, 1e300];

const f32 = fc.oneof(fc.float({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(...F32_EDGES));
const f64 = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(...F64_EDGES));

const shapeArb = fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 3 });
const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** A float32 or float64 tensor of rank 0 to 3 (dimensions 0 to 4), finite values, edges included. */
export const storedTensor: fc.Arbitrary<Tensor> = fc.tuple(fc.boolean(), shapeArb).chain(([is64, shape]) =>
  fc.array(is64 ? f64 : f32, { minLength: size(shape), maxLength: size(shape) }).map((xs) => ({
    shape,
    data: is64 ? Float64Array.from(xs) : Float32Array.from(xs),
  })),
);

// odd names on purpose: "__proto__" must stay a key, dots and spaces must survive
const nameArb = fc.oneof(fc.string({ minLength: 1, maxLength: 6 }), fc.constantFrom('__proto__', 'constructor', 'conv1', 'bn.running_mean', 'w'));

/** layer name → parameter name → tensor, up to 3 × 3 entries. */
export const storedTree: fc.Arbitrary<ParamTree> = fc.dictionary(nameArb, fc.dictionary(nameArb, storedTensor, { maxKeys: 3 }), { maxKeys: 3 });
