/**
 * sttn/infer: the inference engine over a deployed model (`createEngine`), the `TernaryKernels`
 * contract with its reference implementation (the WebAssembly kernels are in
 * `sttn/backends/ternary`), and image decoding (PGM, PNG, IDX) into model inputs.
 *
 * Law (laws/engine.test.ts, laws/ternary-kernels.test.ts, laws/export.test.ts): see engine.ts,
 * ternary-kernels.ts and images.ts.
 */
export * from './engine.js';
export * from './ternary-kernels.js';
export * from './images.js';
