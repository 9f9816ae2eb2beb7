/**
 * Model presets and the paper's bit-width pairs.
 *
 * Bit-width pairs (weights + activations), as the paper's tables write them:
 *   `32+32` float; `1+32` sign weights; `2+32` ternary weights (twn | ttq | sttn);
 *   `1+1` sign weights and sign activations; `2+2` ternary weights and ternary activations (Eq. 14).
 * The first and the last layer stay full precision (as in the paper). Quantized blocks follow the
 * paper's order: BatchNorm → quantize activations → quantized conv → activation.
 *
 * Presets: `mlp`, `cnn-small` (conv3×3 1→32, pool, conv3×3 32→64, pool, dense 10), `vgg7` (TWN's
 * VGG-7 with a width multiplier), `resnet-small` (a CIFAR-style ResNet for 28×28 or 32×32 inputs:
 * full-precision conv3×3 16 + BN + ReLU; 3 stages of 2 residual blocks at 16, 32, 64 channels,
 * stages 2 and 3 halving the size; global average pooling; full-precision dense). Each block is
 * (BatchNorm → quantize activations → quantized conv3×3 → ReLU) twice, the first conv of a
 * downsampling block with stride 2; its shortcut is parameter-free (identity, or the paper's
 * max-pool in place of the 1×1 downsampling conv, with zero-padded channels). Each returns a plain
 * `ModelSpec`.
 *
 * Law (laws/model.test.ts; resnet-small also laws/residual.test.ts): every preset at every
 * bit-width pair builds and its spec round-trips, its first and last layers are `fp`, and its
 * quantized layers carry the quantizers the pair names.
 */
import { ConfigError } from '../errors.js';
import type { ModelSpec } from './model.js';

export type Bits = '32+32' | '1+32' | '2+32' | '1+1' | '2+2';
export const BITS: readonly Bits[] = ['32+32', '1+32', '2+32', '1+1', '2+2'];
export type TernaryWeights = 'twn' | 'ttq' | 'sttn';
export type PresetName = 'mlp' | 'cnn-small' | 'cnn-ternary' | 'vgg7' | 'resnet-small';
export const PRESETS: readonly PresetName[] = ['mlp', 'cnn-small', 'cnn-ternary', 'vgg7', 'resnet-small'];

export interface QuantizerChoice {
  readonly kernel: { id: string; config: Record<string, unknown> };
  readonly input: { id: string; config: Record<string, unknown> };
}

/** The quantizers a bit-width pair names; `ternary` picks the 2-bit weight quantizer. */
export function quantizersFor(
  bits: Bits,
  ternary: TernaryWeights = 'sttn',
  configs: { kernel?: Record<string, unknown>; activation?: Record<string, unknown> } = {},
): QuantizerChoice {
  const k = (id: string) => ({ id, config: id === 'fp' ? {} : configs.kernel ?? {} });
  const a = (id: string) => ({ id, config: id === 'fp' ? {} : configs.activation ?? {} });
  switch (bits) {
    case '32+32': return { kernel: k('fp'), input: a('fp') };
    case '1+32': return { kernel: k('sign'), input: a('fp') };
    case '2+32': return { kernel: k(ternary), input: a('fp') };
    case '1+1': return { kernel: k('sign'), input: a('ste_sign') };
    case '2+2': return { kernel: k(ternary), input: a('ternary') };
  }
}

export interface PresetOptions {
  /** the bit-width pair (default '2+2') */
  readonly bits?: Bits;
  readonly ternary?: TernaryWeights;
  readonly kernelConfig?: Record<string, unknown>;
  readonly activationConfig?: Record<string, unknown>;
  /**
   * width multiplier of vgg7 (default 1/8: 16-16-32-32-64-64, FC 128), mlp (256 hidden units × width),
   * cnn-ternary (default 1: 32-64-64-128 channels × width) and resnet-small (default 1: 16-32-64
   * channels × width)
   */
  readonly width?: number;
  readonly inputShape?: readonly number[];
  readonly classes?: number;
}

export const TERNARY_WEIGHTS: readonly TernaryWeights[] = ['twn', 'ttq', 'sttn'];

const checkChoice = <T extends string>(field: string, v: unknown, allowed: readonly T[]): T => {
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
  throw new ConfigError(field, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(v) ?? String(v)}`);
};

/**
 * The spec of a preset network. Names and options are checked (a ConfigError names the bad one,
 * for callers without types); the quantizers' own configs are checked when the spec is built.
 */
export function preset(name: PresetName, o: PresetOptions = {}): ModelSpec {
  checkChoice('preset', name, PRESETS);
  const bits = checkChoice('bits', o.bits ?? '2+2', BITS);
  const ternary = checkChoice('ternary', o.ternary ?? 'sttn', TERNARY_WEIGHTS);
  const q = quantizersFor(bits, ternary, { kernel: o.kernelConfig, activation: o.activationConfig });
  const inputShape = [...(o.inputShape ?? [28, 28, 1])];
  const classes = o.classes ?? 10;
  const width = o.width ?? (name === 'vgg7' ? 1 / 8 : 1);
  if (!(width > 0)) throw new ConfigError('width', `must be positive, got ${width}`);
  const ch = (c: number) => Math.max(1, Math.round(c * width));
  const qconv = (filters: number, strides = 1) => [
    { type: 'batchNorm' },
    { type: 'conv2d', filters, ...(strides === 1 ? {} : { strides }), kernelQuantizer: q.kernel, inputQuantizer: q.input },
    { type: 'relu' },
  ];
  // a ResNet basic block; when it downsamples, the shortcut ('auto') max-pools to match
  const block = (filters: number, strides = 1) => ({ type: 'residual', layers: [...qconv(filters, strides), ...qconv(filters)] });
  const stage = (filters: number, strides: number) => [block(filters, strides), block(filters)];
  const tag = `${name}/${bits}${bits.startsWith('2+') ? '/' + ternary : ''}`;
  switch (name) {
    case 'mlp':
      return {
        name: tag,
        inputShape,
        classes,
        layers: [
          { type: 'flatten' },
          { type: 'dense', units: ch(256) },
          { type: 'relu' },
          { type: 'batchNorm' },
          { type: 'dense', units: ch(256), kernelQuantizer: q.kernel, inputQuantizer: q.input },
          { type: 'relu' },
          { type: 'batchNorm' },
          { type: 'dense', units: classes },
        ],
      } as unknown as ModelSpec;
    case 'cnn-small':
      return {
        name: tag,
        inputShape,
        classes,
        // Pooling comes straight after each convolution: max-pooling commutes with ReLU, and
        // batch norm after the pool normalises the same features, so every element-wise pass
        // (batch norm, ReLU, their gradients) runs on 4× fewer elements — on a CPU those passes,
        // not the convolutions, dominated the step.
        layers: [
          { type: 'conv2d', filters: 32 },
          { type: 'maxPool' },
          { type: 'batchNorm' },
          { type: 'relu' },
          { type: 'batchNorm' },
          { type: 'conv2d', filters: 64, kernelQuantizer: q.kernel, inputQuantizer: q.input },
          { type: 'maxPool' },
          { type: 'relu' },
          { type: 'batchNorm' },
          { type: 'flatten' },
          { type: 'dense', units: classes },
        ],
      } as unknown as ModelSpec;
    case 'cnn-ternary': {
      // Running statistics averaged over ~100 batches (momentum 0.99, not the default 0.9): each
      // ternary activation's zero band sits on a batch norm, so statistics of the last ~10 batches
      // moved test accuracy by ±2% from epoch to epoch.
      const bn = { type: 'batchNorm', momentum: 0.99 };
      const tconv = (filters: number) => [bn, { type: 'conv2d', filters, kernelQuantizer: q.kernel, inputQuantizer: q.input }];
      return {
        name: tag,
        inputShape,
        classes,
        // Mostly ternary: the full-precision first conv has 9·32 weights and the full-precision
        // classifier sees 256 features of a ternary dense layer, so ~99% of the weights are
        // ternary. (Global average pooling in place of that layer kept the classifier as small
        // but lost where the strokes are: 98.1% against cnn-small's 98.55%.) Without dropout the
        // head overfits 8,000 digits (30 epochs: 99.8% train, 97.75% test). Pools follow the
        // convolutions as in cnn-small (they commute with ReLU).
        layers: [
          { type: 'conv2d', filters: ch(32) },
          { type: 'maxPool' },
          bn,
          { type: 'relu' },
          ...tconv(ch(64)),
          { type: 'maxPool' },
          { type: 'relu' },
          ...tconv(ch(64)),
          { type: 'relu' },
          ...tconv(ch(128)),
          { type: 'maxPool' },
          { type: 'relu' },
          { type: 'flatten' },
          bn,
          { type: 'dense', units: ch(256), kernelQuantizer: q.kernel, inputQuantizer: q.input },
          { type: 'relu' },
          { type: 'dropout', rate: 0.3 },
          bn,
          { type: 'dense', units: classes },
        ],
      } as unknown as ModelSpec;
    }
    case 'vgg7':
      return {
        name: tag,
        inputShape,
        classes,
        layers: [
          { type: 'conv2d', filters: ch(128) },
          { type: 'relu' },
          ...qconv(ch(128)),
          { type: 'maxPool' },
          ...qconv(ch(256)),
          ...qconv(ch(256)),
          { type: 'maxPool' },
          ...qconv(ch(512)),
          ...qconv(ch(512)),
          { type: 'maxPool' },
          { type: 'flatten' },
          { type: 'batchNorm' },
          { type: 'dense', units: ch(1024), kernelQuantizer: q.kernel, inputQuantizer: q.input },
          { type: 'relu' },
          { type: 'batchNorm' },
          { type: 'dense', units: classes },
        ],
      } as unknown as ModelSpec;
    case 'resnet-small':
      return {
        name: tag,
        inputShape,
        classes,
        layers: [
          { type: 'conv2d', filters: ch(16) },
          { type: 'batchNorm' },
          { type: 'relu' },
          ...stage(ch(16), 1),
          ...stage(ch(32), 2),
          ...stage(ch(64), 2),
          { type: 'globalAvgPool' },
          { type: 'dense', units: classes },
        ],
      } as unknown as ModelSpec;
  }
}
