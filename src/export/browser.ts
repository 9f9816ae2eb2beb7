/**
 * sttn/export in browsers (the package's `browser` export condition): everything of index.ts but
 * the file functions (`saveDeployed` / `loadDeployed`, Node): exporting a model, packing, the
 * `.sttn` container on bytes (`serializeDeployed` / `parseDeployed`), the size report and
 * `exportOnnx` (protobufjs generates its encoders with `new Function`: not under a strict CSP).
 *
 * Law (laws/browser-bundle.test.ts): parsing a `.sttn` bundles for the browser with no Node
 * built-in and no code generation; laws/api.test.ts: its names are a subset of index.ts's.
 */
export * from './export.js';
export * from './deployed.js';
export * from './container-format.js';
export * from './pack.js';
export * from './size.js';
export * from './onnx.js';
