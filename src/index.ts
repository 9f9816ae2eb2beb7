/**
 * sttn: Soft Threshold Ternary Networks. The math and the contracts (no backend is imported here;
 * pass one from `sttn/backends/*`).
 *
 * Law (laws/tensor.test.ts, laws/codec.test.ts, laws/random.test.ts, laws/backend-agreement.test.ts,
 * laws/quantizers-registry.test.ts): those of the modules re-exported here.
 */
export * from './errors.js';
export * from './tensor.js';
export * from './backend.js';
export * from './shapes.js';
export * as random from './random.js';
export * from './codec.js';
export * as quantizers from './quantizers/index.js';
export type { KernelQuantizer, ActivationQuantizer, KernelQuantizerId, ActivationQuantizerId, KernelCodes } from './quantizers/index.js';
export { kernelQuantizer, activationQuantizer } from './quantizers/index.js';
