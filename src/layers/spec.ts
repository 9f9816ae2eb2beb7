/**
 * Layer specs: plain data with io-ts codecs, and `buildLayer` from a decoded spec.
 *
 * A spec is `{ type, …options }`; every option has a documented default and unknown keys are
 * errors. Quantizers appear as `{ id, config }` specs (or a bare id) and are validated while the
 * layer is decoded, so a bad quantizer config names its full path
 * (e.g. `layers.3.kernelQuantizer.config.clip`).
 *
 * Law (laws/layers-spec.test.ts): decode(encode(spec)) = spec for every valid spec; every invalid
 * spec is a Left naming the path.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { decodeWith, NonNegativeInt, oneOf, PositiveInt, PositiveNumber, refinedNumber, withDefaults } from '../codec.js';
import { ConfigError } from '../errors.js';
import { activationQuantizer, kernelQuantizer } from '../quantizers/index.js';
import { conv2d } from './conv2d.js';
import { dense } from './dense.js';
import { batchNorm } from './batch-norm.js';
import { prelu, quantize, relu } from './activation.js';
import { globalAvgPool, maxPool } from './pooling.js';
import { dropout, flatten } from './reshape.js';
import type { Layer } from './layer.js';

/** A quantizer spec normalised to `{ id, config }` with the config's defaults filled in. */
export interface QSpec {
  readonly id: string;
  readonly config: Readonly<Record<string, unknown>>;
}

const quantizerField = (name: string, bind: (u: unknown) => E.Either<ConfigError, { id: string; config: Readonly<Record<string, unknown>> }>) =>
  new t.Type<QSpec, QSpec, unknown>(
    name,
    (u): u is QSpec => typeof u === 'object' && u !== null && 'id' in u && 'config' in u,
    (u, c) => {
      const r = bind(u);
      return E.isRight(r) ? t.success({ id: r.right.id, config: r.right.config }) : t.failure(u, c, `${r.left.field}: ${r.left.message.slice(r.left.field.length + 2)}`);
    },
    (q) => q,
  );

export const KernelQuantizerSpec = quantizerField('kernel quantizer spec', kernelQuantizer);
export const ActivationQuantizerSpec = quantizerField('activation quantizer spec', activationQuantizer);

/** A positive integer pair, written `k` or `[kh, kw]`. */
const Pair = new t.Type<[number, number], [number, number], unknown>(
  'positive integer or [h, w]',
  (u): u is [number, number] => Array.isArray(u) && u.length === 2 && u.every((v) => PositiveInt.is(v)),
  (u, c) => {
    if (PositiveInt.is(u)) return t.success([u, u]);
    if (Array.isArray(u) && u.length === 2 && u.every((v) => PositiveInt.is(v))) return t.success([u[0], u[1]]);
    return t.failure(u, c, `got ${JSON.stringify(u)}`);
  },
  (p) => p,
);

const PaddingSpec = new t.Type<'same' | 'valid' | [number, number], 'same' | 'valid' | [number, number], unknown>(
  "'same', 'valid' or [padH, padW]",
  (u): u is 'same' | 'valid' | [number, number] => u === 'same' || u === 'valid' || (Array.isArray(u) && u.length === 2 && u.every((v) => NonNegativeInt.is(v))),
  (u, c) => {
    if (u === 'same' || u === 'valid') return t.success(u);
    if (NonNegativeInt.is(u)) return t.success([u, u]);
    if (Array.isArray(u) && u.length === 2 && u.every((v) => NonNegativeInt.is(v))) return t.success([u[0], u[1]]);
    return t.failure(u, c, `got ${JSON.stringify(u)}`);
  },
  (p) => p,
);

const Rate = refinedNumber('number in [0, 1)', (n) => n >= 0 && n < 1);
const Momentum = refinedNumber('number in [0, 1)', (n) => n >= 0 && n < 1);
const fpQ: QSpec = { id: 'fp', config: {} };

const specCodecs = {
  dense: withDefaults(
    'dense',
    { type: t.literal('dense'), units: PositiveInt, useBias: t.boolean, kernelQuantizer: KernelQuantizerSpec, inputQuantizer: ActivationQuantizerSpec },
    { type: 'dense', units: 1, useBias: true, kernelQuantizer: fpQ, inputQuantizer: fpQ },
  ),
  conv2d: withDefaults(
    'conv2d',
    {
      type: t.literal('conv2d'),
      filters: PositiveInt,
      kernelSize: Pair,
      strides: Pair,
      padding: PaddingSpec,
      useBias: t.boolean,
      kernelQuantizer: KernelQuantizerSpec,
      inputQuantizer: ActivationQuantizerSpec,
    },
    { type: 'conv2d', filters: 1, kernelSize: [3, 3], strides: [1, 1], padding: 'same', useBias: true, kernelQuantizer: fpQ, inputQuantizer: fpQ },
  ),
  batchNorm: withDefaults('batchNorm', { type: t.literal('batchNorm'), momentum: Momentum, epsilon: PositiveNumber }, { type: 'batchNorm', momentum: 0.9, epsilon: 1e-5 }),
  // strides default to the window size (non-overlapping pooling)
  maxPool: withDefaults('maxPool', { type: t.literal('maxPool'), size: Pair, strides: Pair }, (raw) => {
    const size = E.getOrElse((): [number, number] => [2, 2])(Pair.decode(raw.size ?? [2, 2]));
    return { type: 'maxPool' as const, size: [2, 2] as [number, number], strides: size };
  }),
  globalAvgPool: withDefaults('globalAvgPool', { type: t.literal('globalAvgPool') }, { type: 'globalAvgPool' }),
  relu: withDefaults('relu', { type: t.literal('relu') }, { type: 'relu' }),
  prelu: withDefaults('prelu', { type: t.literal('prelu') }, { type: 'prelu' }),
  flatten: withDefaults('flatten', { type: t.literal('flatten') }, { type: 'flatten' }),
  dropout: withDefaults('dropout', { type: t.literal('dropout'), rate: Rate }, { type: 'dropout', rate: 0.5 }),
  quantize: withDefaults('quantize', { type: t.literal('quantize'), quantizer: ActivationQuantizerSpec }, { type: 'quantize', quantizer: { id: 'ternary', config: {} } }),
} as const;

export type LayerType = keyof typeof specCodecs;
export const LAYER_TYPES = Object.keys(specCodecs) as LayerType[];
export type LayerSpec = { [K in LayerType]: t.TypeOf<(typeof specCodecs)[K]> }[LayerType];

const LayerTypeCodec = oneOf<LayerType>('layer type', LAYER_TYPES);

/** The codec of one layer spec: dispatches on `type`, then decodes with that type's codec. */
export const LayerSpec = new t.Type<LayerSpec, LayerSpec, unknown>(
  'layer spec',
  (u): u is LayerSpec => typeof u === 'object' && u !== null && 'type' in u && LayerTypeCodec.is((u as { type: unknown }).type),
  (u, c) => {
    if (typeof u !== 'object' || u === null) return t.failure(u, c, 'got a non-object');
    const ty = LayerTypeCodec.validate((u as { type?: unknown }).type, t.appendContext(c, 'type', LayerTypeCodec, (u as { type?: unknown }).type));
    if (E.isLeft(ty)) return ty;
    return (specCodecs[ty.right] as t.Type<LayerSpec, LayerSpec, unknown>).validate(u, c);
  },
  (s) => (specCodecs[s.type] as t.Type<LayerSpec, LayerSpec, unknown>).encode(s),
);

export const decodeLayerSpec = (raw: unknown, where = 'layer'): E.Either<ConfigError, LayerSpec> => decodeWith(LayerSpec, raw, where);

const bindK = (q: QSpec) => {
  const r = kernelQuantizer(q);
  if (E.isLeft(r)) throw r.left;
  return r.right;
};
const bindA = (q: QSpec) => {
  const r = activationQuantizer(q);
  if (E.isLeft(r)) throw r.left;
  return r.right;
};

/** The layer a decoded spec describes. */
export function buildLayer(s: LayerSpec): Layer {
  switch (s.type) {
    case 'dense':
      return dense({ units: s.units, useBias: s.useBias, kernelQuantizer: bindK(s.kernelQuantizer), inputQuantizer: bindA(s.inputQuantizer) });
    case 'conv2d':
      return conv2d({
        filters: s.filters,
        kernelSize: s.kernelSize,
        strides: s.strides,
        padding: s.padding,
        useBias: s.useBias,
        kernelQuantizer: bindK(s.kernelQuantizer),
        inputQuantizer: bindA(s.inputQuantizer),
      });
    case 'batchNorm':
      return batchNorm({ momentum: s.momentum, epsilon: s.epsilon });
    case 'maxPool':
      return maxPool({ size: s.size, strides: s.strides });
    case 'globalAvgPool':
      return globalAvgPool();
    case 'relu':
      return relu();
    case 'prelu':
      return prelu();
    case 'flatten':
      return flatten();
    case 'dropout':
      return dropout(s.rate);
    case 'quantize':
      return quantize(bindA(s.quantizer));
  }
}
