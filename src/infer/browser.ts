/**
 * sttn/infer in browsers (the package's `browser` export condition): the engine (`createEngine`)
 * and the `TernaryKernels` contract with its reference implementation; image files (PGM, PNG,
 * IDX readers, images.ts) are Node's only — a page hands the engine a Float32Array.
 *
 * Law (laws/browser-bundle.test.ts): the engine bundles for the browser with no Node built-in and
 * no code generation; laws/api.test.ts: its names are a subset of index.ts's.
 */
export * from './engine.js';
export * from './ternary-kernels.js';
