/**
 * Layer specs: plain data with io-ts codecs, and `buildLayer` from a decoded spec.
 *
 * A spec is `{ type, …options }`; every option has a documented default and unknown keys are
 * errors. Quantizers appear as `{ id, config }` specs (or a bare id) and are validated while the
 * layer is decoded, so a bad quantizer config names its full path
 * (e.g. `layers.3.kernelQuantizer.config.clip`).
 *
 * A `residual` spec nests a list of layer specs, so the codec is recursive (`t.recursion`), and a
 * bad field inside a block names its full path (`model.layers.4.layers.2.filters`).
 *
 * Law (laws/residual.test.ts: drawn specs of every layer type, nested in blocks; laws/model.test.ts:
 * every preset's layers): decode(encode(spec)) = spec, also through JSON; every invalid spec is a
 * Left naming the path.
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
import { atLayer, residual, SHORTCUTS, type Shortcut } from './residual.js';
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

type PlainType = keyof typeof specCodecs;
/** A spec of a layer that holds no other layers. */
export type PlainLayerSpec = { [K in PlainType]: t.TypeOf<(typeof specCodecs)[K]> }[PlainType];

/**
 * A residual block (src/layers/residual.ts): `layers` is the main path (at least one layer);
 * `shortcut` defaults to `auto` (identity, or max-pool when the main path downsamples; extra
 * channels are zero-padded either way).
 */
export interface ResidualSpec {
  type: 'residual';
  layers: LayerSpec[];
  shortcut: Shortcut;
}

export type LayerSpec = PlainLayerSpec | ResidualSpec;
export type LayerType = LayerSpec['type'];
export const LAYER_TYPES: LayerType[] = [...(Object.keys(specCodecs) as PlainType[]), 'residual'];

const LayerTypeCodec = oneOf<LayerType>('layer type', LAYER_TYPES);
const ShortcutSpec = oneOf<Shortcut>('shortcut', SHORTCUTS);

/** A non-empty array of `item`s; an empty one names the field. */
const nonEmptyArray = <A, O>(name: string, item: t.Type<A, O, unknown>) => {
  const arr = t.array(item);
  return new t.Type<A[], O[], unknown>(
    name,
    (u): u is A[] => arr.is(u) && u.length > 0,
    (u, c) => (Array.isArray(u) && u.length === 0 ? t.failure(u, c, 'got [] (a block needs at least one layer)') : arr.validate(u, c)),
    (a) => arr.encode(a),
  );
};

/**
 * The codec of one layer spec: dispatches on `type`, then decodes with that type's codec. Recursive:
 * a `residual` spec's `layers` are decoded with this same codec.
 */
export const LayerSpec: t.Type<LayerSpec, LayerSpec, unknown> = t.recursion<LayerSpec, LayerSpec, unknown>('layer spec', (Self) => {
  const residualCodec = withDefaults(
    'residual',
    { type: t.literal('residual'), layers: nonEmptyArray('non-empty array of layer specs', Self), shortcut: ShortcutSpec },
    { type: 'residual', layers: [], shortcut: 'auto' },
  );
  const codecOf = (ty: LayerType) => (ty === 'residual' ? residualCodec : specCodecs[ty]) as t.Type<LayerSpec, LayerSpec, unknown>;
  return new t.Type<LayerSpec, LayerSpec, unknown>(
    'layer spec',
    (u): u is LayerSpec => typeof u === 'object' && u !== null && 'type' in u && LayerTypeCodec.is((u as { type: unknown }).type),
    (u, c) => {
      if (typeof u !== 'object' || u === null) return t.failure(u, c, 'got a non-object');
      const ty = LayerTypeCodec.validate((u as { type?: unknown }).type, t.appendContext(c, 'type', LayerTypeCodec, (u as { type?: unknown }).type));
      if (E.isLeft(ty)) return ty;
      return codecOf(ty.right).validate(u, c);
    },
    (s) => codecOf(s.type).encode(s),
  );
});

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

/** The layer a decoded spec describes. An error inside a residual block names its place (`layers.2 (conv2d): …`). */
export function buildLayer(s: LayerSpec): Layer {
  switch (s.type) {
    case 'residual':
      return residual({
        layers: s.layers.map((l, j) => {
          try {
            return buildLayer(l);
          } catch (e) {
            throw atLayer(j, l.type, e);
          }
        }),
        shortcut: s.shortcut,
      });
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

/** A layer spec that is not a residual block, found inside a (possibly nested) spec. */
export interface LeafLayer {
  /** indices into the nested `layers` lists (`[]` for a spec that is itself a leaf) */
  readonly path: readonly number[];
  /** the prefix of its parameter and state keys in the enclosing top-level layer's records (`''`, `'2.'`, `'1.0.'`) */
  readonly prefix: string;
  readonly spec: PlainLayerSpec;
  /** per-example input and output shapes */
  readonly inShape: readonly number[];
  readonly outShape: readonly number[];
}

/**
 * The leaves of `s` in order (depth first) with their shapes, for whatever walks a model by layer
 * (the summary, latent-weight selection). `inShape` is the per-example input of `s`.
 */
export function leafLayers(s: LayerSpec, inShape: readonly number[]): LeafLayer[] {
  if (s.type !== 'residual') return [{ path: [], prefix: '', spec: s, inShape: [...inShape], outShape: buildLayer(s).outShape(inShape) }];
  const out: LeafLayer[] = [];
  let shape: readonly number[] = inShape;
  s.layers.forEach((l, j) => {
    const sub = leafLayers(l, shape);
    for (const x of sub) out.push({ ...x, path: [j, ...x.path], prefix: `${j}.${x.prefix}` });
    // a block's output has its main path's shape, so the last leaf's output is the next input
    if (sub.length > 0) shape = sub[sub.length - 1].outShape;
  });
  return out;
}

/** The leaf specs of a list of layer specs, depth first (no shapes needed). */
export const leafSpecs = (specs: readonly LayerSpec[]): PlainLayerSpec[] =>
  specs.flatMap((s) => (s.type === 'residual' ? leafSpecs(s.layers) : [s]));
