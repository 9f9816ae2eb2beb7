/**
 * sttn/models: a model as a spec (plain data, io-ts codec) built into layers, its forward and
 * backward passes, the presets (`mlp`, `cnn-small`, `vgg7`, `resnet-small`) at every bit width,
 * and the per-layer summary (bits, bytes, MACs, sparsity, α).
 *
 * Law (laws/model.test.ts, laws/summary.test.ts, laws/residual.test.ts): the model's gradient
 * equals finite differences of its forward; every preset builds at every bit width; the summary's
 * counts add up to the parameter trees.
 */
export * from './model.js';
export * from './presets.js';
export * from './summary.js';
