/**
 * `sttn/tfjs/layers`: Keras-style TensorFlow.js layers over the ops of backends/tfjs.ts (`sttn/tfjs`), in Larq's manner: a layer
 * holds latent full-precision weights and quantizes its kernel (and optionally its input) on every
 * call, so `model.fit` trains the latents through the ops' custom gradients.
 *
 * - `sttnDense`, `sttnConv2d`: two latent kernels `kernel1`, `kernel2` (initialised independently)
 *   and a `bias`; one matMul / conv2d with the merged kernel α·(sign W1 + sign W2) of the `sttn`
 *   op (Eq. 6–7, 10, 12; gradient per `gradient`: Eq. 12 + STE, Eq. 13, or the released code).
 * - `quantDense`, `quantConv2d`: `kernelQuantizer` `sign | twn | ttq | fp` (TTQ's Wp, Wn are
 *   trainable weights `wp`, `wn`) and `inputQuantizer` `ternary | ste_sign | fp`, each with options.
 * - `ternaryActivation`: Eq. 14 as a layer (`threshold`, `boundary`, `clip`).
 * Kernels keep tfjs's layout (dense `[in, out]`, conv HWIO), so the ops get `axis: −1`. Only
 * `channelsLast` convolutions. Every class is registered with `tf.serialization.registerClass`
 * under a stable `className` and `getConfig()` returns its arguments, so `model.save` /
 * `tf.loadLayersModel` round-trip. Initializers are named by string (JSON-serializable).
 *
 * Law (laws/tfjs-layers.test.ts): a sttnConv2d → ternaryActivation → flatten → sttnDense model's
 * forward equals a hand computation with the ops on the layer's own weights; a fit step has finite,
 * non-zero gradients and lowers the loss; save/load round-trips weights and outputs bit for bit;
 * the quant layers agree with their ops for every quantizer.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ConfigError } from '../../src/errors.js';
import {
  sign,
  steSign,
  sttn,
  ternaryActivation as ternaryOp,
  ttq,
  ttqInitScales,
  twn,
  type SignOptions,
  type SteSignOptions,
  type SttnOptions,
  type TernaryOptions,
  type TtqOptions,
  type TwnOptions,
} from '../tfjs.js';

type T = tf.Tensor;
type Shape = (number | null)[];
type LayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;
type Kwargs = Parameters<tfl.layers.Layer['call']>[1];
type LayerVariable = tfl.LayerVariable;
export type ActivationId = NonNullable<Parameters<typeof tfl.layers.activation>[0]['activation']>;

/** Initializers by name (a string survives `getConfig`; an object would not). */
export type InitializerName =
  | 'glorotUniform'
  | 'glorotNormal'
  | 'heUniform'
  | 'heNormal'
  | 'leCunUniform'
  | 'leCunNormal'
  | 'zeros'
  | 'ones';

/** The parts of tfjs's dense / conv2d arguments these layers honour. */
interface KernelArgs extends LayerArgs {
  readonly activation?: ActivationId;
  readonly useBias?: boolean;
  readonly kernelInitializer?: InitializerName;
  readonly biasInitializer?: InitializerName;
}
export interface DenseArgs extends KernelArgs {
  readonly units: number;
  readonly inputDim?: number;
}
export interface Conv2dArgs extends KernelArgs {
  readonly filters: number;
  readonly kernelSize: number | [number, number];
  readonly strides?: number | [number, number];
  readonly padding?: 'valid' | 'same';
  readonly dilationRate?: number | [number, number];
  readonly dataFormat?: 'channelsLast';
}
/** sttn's STTN options (the layout is the layer's own). */
export type SttnLayerOptions = Omit<SttnOptions, 'axis'>;

export type KernelQuantizer = 'sign' | 'twn' | 'ttq' | 'fp';
export type InputQuantizer = 'ternary' | 'ste_sign' | 'fp';
export interface QuantArgs {
  readonly kernelQuantizer?: KernelQuantizer;
  readonly kernelQuantizerOptions?: Omit<SignOptions, 'axis'> | Omit<TwnOptions, 'axis'> | Omit<TtqOptions, 'axis'>;
  readonly inputQuantizer?: InputQuantizer;
  readonly inputQuantizerOptions?: TernaryOptions | SteSignOptions;
}

const KERNEL_QUANTIZERS: readonly KernelQuantizer[] = ['sign', 'twn', 'ttq', 'fp'];
const INPUT_QUANTIZERS: readonly InputQuantizer[] = ['ternary', 'ste_sign', 'fp'];

function initializer(field: string, name: InitializerName): ReturnType<typeof tfl.initializers.zeros> {
  const make = (tfl.initializers as unknown as Record<string, ((a: object) => ReturnType<typeof tfl.initializers.zeros>) | undefined>)[name];
  if (typeof make !== 'function') throw new ConfigError(field, `unknown initializer '${String(name)}'`);
  return make({});
}

/** Options without undefined fields (the ops' codecs are strict about present keys). */
function defined<O extends object>(o: O): O {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as O;
}

const pair = (field: string, v: number | [number, number] | undefined, dflt: number): [number, number] => {
  const p: [number, number] = v === undefined ? [dflt, dflt] : typeof v === 'number' ? [v, v] : v;
  if (!p.every((x) => Number.isInteger(x) && x > 0)) throw new ConfigError(field, `must be positive integers, got ${JSON.stringify(v)}`);
  return p;
};

/** The geometry of a dense or conv2d layer: its kernel shape, its product, its output shape. */
interface Geometry {
  kernelShape(inputShape: Shape): number[];
  apply(x: T, k: T): T;
  outputShape(inputShape: Shape): Shape;
}

function denseGeometry(args: DenseArgs): Geometry {
  if (!(Number.isInteger(args.units) && args.units > 0)) throw new ConfigError('units', `must be a positive integer, got ${String(args.units)}`);
  return {
    kernelShape: (s) => {
      const inDim = s[s.length - 1];
      if (inDim === null || inDim === undefined) throw new ConfigError('inputShape', 'the last dimension must be known');
      return [inDim, args.units];
    },
    apply: (x, k) => {
      if (x.rank === 2) return tf.matMul(x as tf.Tensor2D, k as tf.Tensor2D);
      const y = tf.matMul(tf.reshape(x, [-1, x.shape[x.rank - 1]]), k as tf.Tensor2D);
      return tf.reshape(y, [...x.shape.slice(0, -1), args.units]);
    },
    outputShape: (s) => [...s.slice(0, -1), args.units],
  };
}

function conv2dGeometry(args: Conv2dArgs): Geometry {
  if (!(Number.isInteger(args.filters) && args.filters > 0)) throw new ConfigError('filters', `must be a positive integer, got ${String(args.filters)}`);
  if (args.dataFormat !== undefined && args.dataFormat !== 'channelsLast') throw new ConfigError('dataFormat', `only 'channelsLast', got '${String(args.dataFormat)}'`);
  const padding = args.padding ?? 'valid';
  if (padding !== 'valid' && padding !== 'same') throw new ConfigError('padding', `must be 'valid' or 'same', got '${String(padding)}'`);
  const k = pair('kernelSize', args.kernelSize, 1);
  const st = pair('strides', args.strides, 1);
  const dl = pair('dilationRate', args.dilationRate, 1);
  const len = (n: number | null, i: 0 | 1): number | null => {
    if (n === null) return null;
    return padding === 'same' ? Math.ceil(n / st[i]) : Math.ceil((n - (k[i] - 1) * dl[i]) / st[i]);
  };
  return {
    kernelShape: (s) => {
      const c = s[3];
      if (s.length !== 4 || c === null || c === undefined) throw new ConfigError('inputShape', `conv2d needs [batch, h, w, c] with c known, got [${s.join(', ')}]`);
      return [k[0], k[1], c, args.filters];
    },
    apply: (x, kernel) => tf.conv2d(x as tf.Tensor4D, kernel as tf.Tensor4D, st, padding, 'NHWC', dl),
    outputShape: (s) => [s[0], len(s[1], 0), len(s[2], 1), args.filters],
  };
}

/** A dense or conv2d layer with a bias and an activation whose kernel is built by `kernel()`. */
abstract class KernelLayer<A extends KernelArgs> extends tfl.layers.Layer {
  protected readonly args: A;
  protected readonly geometry: Geometry;
  protected bias: LayerVariable | null = null;
  private readonly act: tfl.layers.Layer;

  constructor(args: A, geometry: (a: A) => Geometry) {
    const { inputDim, ...rest } = args as A & { inputDim?: number };
    super(inputDim !== undefined && rest.inputShape === undefined && rest.batchInputShape === undefined ? { ...rest, inputShape: [inputDim] } : rest);
    // the loader hands `customObjects` to the constructor too; it is not an argument to save
    const { customObjects: _, ...own } = args as A & { customObjects?: unknown };
    this.args = own as A;
    this.geometry = geometry(args);
    this.act = tfl.layers.activation({ activation: args.activation ?? 'linear' });
  }

  protected init(field: 'kernelInitializer' | 'biasInitializer', dflt: InitializerName): ReturnType<typeof tfl.initializers.zeros> {
    return initializer(field, this.args[field] ?? dflt);
  }

  /** Add the latent kernel weights for a kernel of this shape. */
  protected abstract buildKernel(kernelShape: number[]): void;
  /** The kernel the product uses, from the latent weights (inside the layer's tidy). */
  protected abstract kernel(): T;
  /** The input the product uses. */
  protected quantizeInput(x: T): T {
    return x;
  }

  override build(inputShape: Shape | Shape[]): void {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const ks = this.geometry.kernelShape(s);
    this.buildKernel(ks);
    if (this.args.useBias ?? true) this.bias = this.addWeight('bias', [ks[ks.length - 1]], 'float32', this.init('biasInitializer', 'zeros'));
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return this.geometry.outputShape((Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape);
  }

  override call(inputs: T | T[], _kwargs: Kwargs): T {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      let y = this.geometry.apply(this.quantizeInput(x), this.kernel());
      if (this.bias !== null) y = tf.add(y, this.bias.read());
      return this.act.apply(y) as T;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...(defined(this.args) as unknown as tf.serialization.ConfigDict), ...super.getConfig() };
  }
}

// ---------------------------------------------------------------------------------------------
// STTN

export type SttnDenseArgs = DenseArgs & SttnLayerOptions;
export type SttnConv2dArgs = Conv2dArgs & SttnLayerOptions;

function sttnOptions(a: SttnLayerOptions): SttnOptions {
  return defined({ gradient: a.gradient, granularity: a.granularity, clip: a.clip, axis: -1 });
}

abstract class SttnKernel<A extends KernelArgs & SttnLayerOptions> extends KernelLayer<A> {
  kernel1: LayerVariable | null = null;
  kernel2: LayerVariable | null = null;

  protected buildKernel(ks: number[]): void {
    this.kernel1 = this.addWeight('kernel1', ks, 'float32', this.init('kernelInitializer', 'glorotUniform'));
    this.kernel2 = this.addWeight('kernel2', ks, 'float32', this.init('kernelInitializer', 'glorotUniform'));
  }

  protected kernel(): T {
    return sttn(this.kernel1!.read(), this.kernel2!.read(), sttnOptions(this.args));
  }
}

/** Dense with the STTN merged kernel α·(sign W1 + sign W2) (weights `kernel1`, `kernel2`, `bias`). */
export class SttnDense extends SttnKernel<SttnDenseArgs> {
  static className = 'SttnDense';
  constructor(args: SttnDenseArgs) {
    super(args, denseGeometry);
  }
}

/** Conv2D (HWIO, channelsLast) with the STTN merged kernel (weights `kernel1`, `kernel2`, `bias`). */
export class SttnConv2D extends SttnKernel<SttnConv2dArgs> {
  static className = 'SttnConv2D';
  constructor(args: SttnConv2dArgs) {
    super(args, conv2dGeometry);
  }
}

// ---------------------------------------------------------------------------------------------
// Generic quantized layers

export type QuantDenseArgs = DenseArgs & QuantArgs;
export type QuantConv2dArgs = Conv2dArgs & QuantArgs;

function checkQuant(a: QuantArgs): void {
  if (a.kernelQuantizer !== undefined && !KERNEL_QUANTIZERS.includes(a.kernelQuantizer)) {
    throw new ConfigError('kernelQuantizer', `must be one of ${KERNEL_QUANTIZERS.join(', ')}, got '${String(a.kernelQuantizer)}'`);
  }
  if (a.inputQuantizer !== undefined && !INPUT_QUANTIZERS.includes(a.inputQuantizer)) {
    throw new ConfigError('inputQuantizer', `must be one of ${INPUT_QUANTIZERS.join(', ')}, got '${String(a.inputQuantizer)}'`);
  }
}

abstract class QuantKernel<A extends KernelArgs & QuantArgs> extends KernelLayer<A> {
  kernelLatent: LayerVariable | null = null;
  wp: LayerVariable | null = null;
  wn: LayerVariable | null = null;

  constructor(args: A, geometry: (a: A) => Geometry) {
    // tfjs-layers' loader camel-cases string values of a saved config: 'ste_sign' comes back 'steSign'
    const a = (args.inputQuantizer as string) === 'steSign' ? { ...args, inputQuantizer: 'ste_sign' as const } : args;
    checkQuant(a);
    super(a, geometry);
  }

  private kopts(): SignOptions & TwnOptions & TtqOptions {
    return { ...(this.args.kernelQuantizerOptions ?? {}), axis: -1 } as SignOptions & TwnOptions & TtqOptions;
  }

  protected buildKernel(ks: number[]): void {
    this.kernelLatent = this.addWeight('kernel', ks, 'float32', this.init('kernelInitializer', 'glorotUniform'));
    if (this.args.kernelQuantizer === 'ttq') {
      const { wp, wn } = ttqInitScales(ks, this.kopts());
      const shape = wp.shape;
      tf.dispose([wp, wn]);
      this.wp = this.addWeight('wp', shape, 'float32', tfl.initializers.ones());
      this.wn = this.addWeight('wn', shape, 'float32', tfl.initializers.ones());
    }
  }

  protected kernel(): T {
    const w = this.kernelLatent!.read();
    switch (this.args.kernelQuantizer ?? 'fp') {
      case 'sign':
        return sign(w, this.kopts());
      case 'twn':
        return twn(w, this.kopts());
      case 'ttq':
        return ttq(w, this.wp!.read(), this.wn!.read(), this.kopts());
      case 'fp':
        return w;
    }
  }

  protected override quantizeInput(x: T): T {
    switch (this.args.inputQuantizer ?? 'fp') {
      case 'ternary':
        return ternaryOp(x, this.args.inputQuantizerOptions as TernaryOptions | undefined);
      case 'ste_sign':
        return steSign(x, this.args.inputQuantizerOptions as SteSignOptions | undefined);
      case 'fp':
        return x;
    }
  }
}

/** Dense with a quantized kernel (weight `kernel`, TTQ's `wp`, `wn`) and an optional input quantizer. */
export class QuantDense extends QuantKernel<QuantDenseArgs> {
  static className = 'SttnQuantDense';
  constructor(args: QuantDenseArgs) {
    super(args, denseGeometry);
  }
}

/** Conv2D (HWIO, channelsLast) with a quantized kernel and an optional input quantizer. */
export class QuantConv2D extends QuantKernel<QuantConv2dArgs> {
  static className = 'SttnQuantConv2D';
  constructor(args: QuantConv2dArgs) {
    super(args, conv2dGeometry);
  }
}

// ---------------------------------------------------------------------------------------------
// Activation

export type TernaryActivationArgs = LayerArgs & TernaryOptions;

/** Eq. 14 as a layer: sign(x) where |x| > θ, else 0; gradient dy·1[|x| ≤ clip]. */
export class TernaryActivation extends tfl.layers.Layer {
  static className = 'SttnTernaryActivation';
  private readonly opts: TernaryOptions;

  constructor(args: TernaryActivationArgs = {}) {
    const { threshold, boundary, clip, ...rest } = args;
    super(rest);
    this.opts = defined({ threshold, boundary, clip });
    tf.tidy(() => ternaryOp(tf.zeros([1]), this.opts)); // a bad option fails here, not at the first call
  }

  override call(inputs: T | T[], _kwargs: Kwargs): T {
    return tf.tidy(() => ternaryOp(Array.isArray(inputs) ? inputs[0] : inputs, this.opts));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...(this.opts as tf.serialization.ConfigDict), ...super.getConfig() };
  }
}

for (const cls of [SttnDense, SttnConv2D, QuantDense, QuantConv2D, TernaryActivation]) {
  tf.serialization.registerClass(cls as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>);
}

export const sttnDense = (args: SttnDenseArgs): SttnDense => new SttnDense(args);
export const sttnConv2d = (args: SttnConv2dArgs): SttnConv2D => new SttnConv2D(args);
export const quantDense = (args: QuantDenseArgs): QuantDense => new QuantDense(args);
export const quantConv2d = (args: QuantConv2dArgs): QuantConv2D => new QuantConv2D(args);
export const ternaryActivation = (args?: TernaryActivationArgs): TernaryActivation => new TernaryActivation(args);
