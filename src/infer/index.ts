/**
 * sttn/infer: the inference engine over a deployed model (`createEngine`), the `TernaryKernels`
 * contract with its reference implementation (the WebAssembly kernels are in
 * `sttn/backends/ternary`), and image decoding (PGM, PNG, IDX) into model inputs.
 *
 * Laws: laws/engine.test.ts, laws/ternary-kernels.test.ts.
 */
export * from './engine.js';
export * from './ternary-kernels.js';
export * from './images.js';
