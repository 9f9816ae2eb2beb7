/**
 * sttn/export: from a trained model to its deployed form — merged ternary kernels, folded batch
 * norm (`exportModel`), packed 2-bit / base-3 codes (`pack*`), the `.sttn` container
 * (`serializeDeployed` / `parseDeployed` on bytes, `saveDeployed` / `loadDeployed` on files) and
 * the size report.
 *
 * Laws: laws/export.test.ts, laws/pack.test.ts.
 */
export * from './export.js';
export * from './deployed.js';
export * from './container.js';
export * from './pack.js';
export * from './size.js';
