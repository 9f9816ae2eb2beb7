/**
 * The layers: the contract, each layer (residual blocks included), and specs as plain data.
 *
 * Law (laws/layers.test.ts, laws/residual.test.ts): every backward equals the finite differences
 * of its forward and is linear in dy; the STTN layer equals two binary layers that add (Eq. 7).
 */
export * from './layer.js';
export { dense, type DenseOptions } from './dense.js';
export { conv2d, resolvePads, type Conv2dLayerOptions, type Padding } from './conv2d.js';
export { batchNorm, type BatchNormOptions } from './batch-norm.js';
export { maxPool, globalAvgPool } from './pooling.js';
export { relu, prelu, quantize } from './activation.js';
export { flatten, dropout } from './reshape.js';
export { residual, paramsUnder, SHORTCUTS, type ResidualOptions, type Shortcut } from './residual.js';
export {
  LayerSpec,
  decodeLayerSpec,
  buildLayer,
  leafLayers,
  leafSpecs,
  LAYER_TYPES,
  type LayerType,
  type LeafLayer,
  type PlainLayerSpec,
  type ResidualSpec,
  KernelQuantizerSpec,
  ActivationQuantizerSpec,
  type QSpec,
} from './spec.js';
