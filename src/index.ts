/**
 * sttn: Soft Threshold Ternary Networks. The math and the contracts (no backend is imported here;
 * pass one from `sttn/backends/*`).
 */
export * from './errors.js';
export * from './tensor.js';
export * from './backend.js';
export * from './shapes.js';
export * as random from './random.js';
