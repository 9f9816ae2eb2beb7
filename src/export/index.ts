/**
 * sttn/export: from a trained model to its deployed form — merged ternary kernels, folded batch
 * norm (`exportModel`), packed 2-bit / base-3 codes (`pack*`), the `.sttn` container
 * (`serializeDeployed` / `parseDeployed` on bytes, `saveDeployed` / `loadDeployed` on files) and
 * the size report; the ONNX model (`exportOnnx`).
 *
 * Law (laws/export.test.ts, laws/pack.test.ts): the engine on an exported model equals the
 * training forward; the container round-trips bit for bit and its predicted size is the written
 * size; every bad file is a Left naming the field; packed codes round-trip for every length;
 * onnxruntime runs the exported ONNX model with the engine's probabilities (laws/onnx.test.ts).
 */
export * from './export.js';
export * from './deployed.js';
export * from './container.js';
export * from './pack.js';
export * from './size.js';
export * from './onnx.js';
