/**
 * sttn/models: a model as a spec (plain data, io-ts codec) built into layers, its forward and
 * backward passes, the presets (`mlp`, `cnn-small`, `vgg7`, `resnet-small`) at every bit width,
 * and the per-layer summary (bits, bytes, MACs, sparsity, α).
 *
 * Laws: laws/training.test.ts (model gradient vs finite differences), laws/summary.test.ts.
 */
export * from './model.js';
export * from './presets.js';
export * from './summary.js';
