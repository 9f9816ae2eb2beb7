/**
 * Framework-neutral entry points: every quantizer as a pair of functions over plain
 * `{ shape, data }` tensors, for people who use another framework (or none).
 *
 * `forward` returns the quantized tensor(s), the codes and the scale/threshold; `gradient` takes
 * the upstream gradient(s) and returns one gradient per input (incl. TTQ's Wp and Wn). Inputs may
 * be Float64Array (computed in float64 on `js64`) or Float32Array (float32 on `js32`); a plain
 * number array counts as float64. Configs are decoded with io-ts; a bad one throws a ConfigError
 * naming the field; a NaN or ±Infinity in an input throws a NonFiniteError naming the tensor. A
 * result is never ±Infinity or NaN: where finite inputs overflow the dtype (a scale's Σ|W|, a
 * gradient's sum), an `OverflowError` (exported here) names the quantizer and the quantity. The
 * math is the same code the layers use (src/quantizers/*), bound here to the js backend (the cpu
 * reference's loops without code generation, so it runs under a strict Content-Security-Policy).
 *
 * Float32Array inputs take the fused wasm kernels (src/quantizers/fast.ts: one reduction and one
 * map pass, no temporaries; the same float32 results bit for bit) wherever the variant has one: in
 * Node they compile synchronously on first use; in a browser after `await ready()` (until then,
 * and wherever WebAssembly SIMD is missing, the same results come from the js backend). Float64
 * inputs always run the float64 reference.
 *
 * Destination passing: each weight quantizer's `forward` and `gradient` take an optional last
 * argument `out`, arrays by output name (`{ merged, codes }`, `{ w1, w2 }`, …) that the call
 * writes into and returns over instead of allocating (with float32 inputs the kernels copy their
 * results straight into them); a wrong type or length, an unknown name or two outputs sharing
 * memory is a ConfigError naming `out.<name>`.
 *
 * Law (laws/neutral.test.ts): each entry point equals the quantizer module's forward/backward on
 * the matching cpu backend, and float32 inputs give float32 outputs; any finite input gives a
 * finite result or an OverflowError, and inputs near the dtype's max give the OverflowError.
 * laws/quantizers-fast.test.ts: `out` gives the same bits over the given arrays; a bad one is the
 * named ConfigError.
 */
import type { Backend } from '../src/backend.js';
import { orThrow } from '../src/codec.js';
import * as activation from '../src/quantizers/activation.js';
import * as signQ from '../src/quantizers/sign.js';
import * as sttnQ from '../src/quantizers/sttn.js';
import * as ttqQ from '../src/quantizers/ttq.js';
import * as twnQ from '../src/quantizers/twn.js';
import { tensor, type Tensor } from '../src/tensor.js';
import type { QuantizerKernels } from '../src/quantizers/fast.js';
import type { WasmSource } from '../src/assets.js';
import { ConfigError } from '../src/errors.js';
import { loadQuantizerKernels, quantizerKernels, writingInto, type OutputArrays } from './wasm/quantize.js';
import { js32, js64 } from './js.js';

export { OverflowError } from '../src/errors.js';

/**
 * Options of each quantizer: any subset of its config, typed from its io-ts codec (a misspelt key
 * or a wrong literal does not compile; from untyped code it is a ConfigError naming the field).
 */
export type SttnOptions = Partial<sttnQ.SttnConfig>;
export type SignOptions = Partial<signQ.SignConfig>;
export type TwnOptions = Partial<twnQ.TwnConfig>;
export type TtqOptions = Partial<ttqQ.TtqConfig>;
export type TernaryOptions = Partial<activation.TernaryConfig>;
export type SteSignOptions = Partial<activation.SteSignConfig>;

/** A tensor as a caller may hand it in. */
export interface TensorLike {
  readonly shape: readonly number[];
  readonly data: Float32Array | Float64Array | readonly number[];
}

const asTensor = (t: TensorLike): Tensor => tensor(t.shape, t.data as Float32Array | Float64Array | number[]);

/** float64 if any input is float64 (or a plain array), else float32. */
function backendFor(...ts: TensorLike[]): Backend {
  return ts.every((t) => t.data instanceof Float32Array) ? js32 : js64;
}

/**
 * Loads the fused float32 kernels (default: the packaged build beside this module; or bytes, a
 * module, a URL) so that Float32Array inputs take them; resolves to false where this engine cannot
 * run them. Needed in browsers only: Node loads them on first use.
 */
export async function ready(source?: WasmSource): Promise<boolean> {
  try {
    await loadQuantizerKernels(source);
    return true;
  } catch {
    return false;
  }
}

/**
 * Arrays a call writes its named outputs into instead of new ones (destination passing): that
 * output's `data` is then the given array, so a caller that quantizes every step allocates
 * nothing. Each must be a Float32Array for float32 inputs (a Float64Array otherwise) of the
 * output's element count, sharing no memory with the other given arrays nor with an input (after
 * the kernel has written an output, a bad input is named by reading it again); else a ConfigError
 * naming `out.<name>`. After an error
 * their contents are unspecified.
 */
export type Out<K extends string> = { readonly [k in K]?: Float32Array | Float64Array };

const describe = (v: unknown): string =>
  ArrayBuffer.isView(v) ? `a ${v.constructor.name} of ${(v as unknown as ArrayLike<number>).length}` : Array.isArray(v) ? `an array of ${v.length}` : v === null ? 'null' : `a ${typeof v}`;

/** Whether two views share a byte of the same buffer. */
const overlaps = (u: ArrayBufferView, v: ArrayBufferView): boolean =>
  u.buffer === v.buffer && u.byteOffset < v.byteOffset + v.byteLength && v.byteOffset < u.byteOffset + u.byteLength;

/** `out` checked against the outputs `keys` of `where` and its `inputs` (the first one's length is the outputs'). */
function checkOut<K extends string>(where: string, out: Out<K> | undefined, keys: readonly K[], inputs: readonly TensorLike[]): Out<K> {
  if (out === undefined) return {};
  const float32 = allF32(...inputs);
  const n = inputs[0].data.length;
  if (typeof out !== 'object' || out === null || Array.isArray(out)) throw new ConfigError(`${where} out`, `must be an object of arrays by output name (${keys.join(', ')}), got ${describe(out)}`);
  const want = float32 ? Float32Array : Float64Array;
  const taken: [string, Float32Array | Float64Array][] = [];
  for (const [k, v] of Object.entries(out) as [string, unknown][]) {
    if (!(keys as readonly string[]).includes(k)) throw new ConfigError(`${where} out.${k}`, `is not an output of ${where}; its outputs are ${keys.join(', ')}`);
    if (v === undefined) continue;
    if (!(v instanceof want) || v.length !== n) {
      throw new ConfigError(`${where} out.${k}`, `must be a ${want.name} of ${n} elements (the inputs are ${float32 ? 'float32' : 'float64'}, ${n} elements), got ${describe(v)}`);
    }
    const clash = taken.find(([, u]) => overlaps(u, v));
    if (clash) throw new ConfigError(`${where} out.${k}`, `shares memory with out.${clash[0]}: each output needs its own array`);
    // an input an output overwrites could not be read again to name a bad value after the kernel ran
    if (inputs.some((t) => ArrayBuffer.isView(t.data) && overlaps(t.data as unknown as ArrayBufferView, v))) {
      throw new ConfigError(`${where} out.${k}`, 'shares memory with an input: give an array of its own');
    }
    taken.push([k, v]);
  }
  return out;
}

/** `t` written into `into` (when given) and returned over it. */
const into = (given: Float32Array | Float64Array | undefined, t: Tensor): Tensor => {
  if (given === undefined || given === t.data) return t;
  given.set(t.data);
  return { shape: t.shape, data: given };
};

const allF32 = (...ts: TensorLike[]): boolean => ts.every((t) => t.data instanceof Float32Array);

/** The fused kernels when every input is float32 and they are loaded. */
const fastFor = (...ts: TensorLike[]): QuantizerKernels | undefined =>
  ts.every((t) => t.data instanceof Float32Array) ? quantizerKernels() : undefined;

const STTN_FORWARD = ['w1q', 'w2q', 'merged', 'codes'] as const;
const ONE_KERNEL = ['y', 'codes'] as const;

export const sttn = {
  /** Eq. 10, 12 and 6–7: `{ w1q, w2q, merged, codes, alpha }`; `out` may give arrays for the first four. */
  forward(p: { w1: TensorLike; w2: TensorLike }, config?: SttnOptions, out?: Out<(typeof STTN_FORWARD)[number]>) {
    const cfg = orThrow(sttnQ.decodeConfig(config));
    const o = checkOut('sttn.forward', out, STTN_FORWARD, [p.w1, p.w2]);
    const k = fastFor(p.w1, p.w2);
    if (k && sttnQ.fusable(cfg)) {
      const f = writingInto(o as OutputArrays, () => sttnQ.forwardFused(k, { w1: asTensor(p.w1), w2: asTensor(p.w2) }, cfg, 'all'));
      return { w1q: f.w1q!, w2q: f.w2q!, merged: f.merged!, codes: f.codes!, alpha: f.alpha };
    }
    const B = backendFor(p.w1, p.w2);
    const f = sttnQ.forward(B, { w1: asTensor(p.w1), w2: asTensor(p.w2) }, cfg);
    return { w1q: into(o.w1q, f.w1q), w2q: into(o.w2q, f.w2q), merged: into(o.merged, f.merged), codes: into(o.codes, f.codes), alpha: f.alpha };
  },
  /** dL/dW1, dL/dW2 given dL/dW̃1 = g1 and dL/dW̃2 = g2 (in a layer g1 = g2); `out` may give their arrays. */
  gradient(p: { w1: TensorLike; w2: TensorLike }, up: { g1: TensorLike; g2: TensorLike }, config?: SttnOptions, out?: Out<'w1' | 'w2'>): { w1: Tensor; w2: Tensor } {
    const cfg = orThrow(sttnQ.decodeConfig(config));
    const o = checkOut('sttn.gradient', out, ['w1', 'w2'], [p.w1, p.w2, up.g1, up.g2]);
    const k = fastFor(p.w1, p.w2, up.g1, up.g2);
    if (k && sttnQ.fusable(cfg)) {
      const f = sttnQ.forwardFused(k, { w1: asTensor(p.w1), w2: asTensor(p.w2) }, cfg, 'scale');
      return writingInto(o as OutputArrays, () => sttnQ.backwardFused(k, f.res, { g1: asTensor(up.g1), g2: asTensor(up.g2) }, cfg));
    }
    const B = backendFor(p.w1, p.w2, up.g1, up.g2);
    const f = sttnQ.forward(B, { w1: asTensor(p.w1), w2: asTensor(p.w2) }, cfg);
    const d = sttnQ.backward(B, f, { g1: asTensor(up.g1), g2: asTensor(up.g2) }, cfg);
    return { w1: into(o.w1, d.w1), w2: into(o.w2, d.w2) };
  },
};

export const sign = {
  /** `{ y: α·sign(W), codes, alpha }`; `out` may give arrays for y and codes. */
  forward(p: { w: TensorLike }, config?: SignOptions, out?: Out<'y' | 'codes'>) {
    const cfg = orThrow(signQ.decodeConfig(config));
    const o = checkOut('sign.forward', out, ONE_KERNEL, [p.w]);
    const k = fastFor(p.w);
    if (k) {
      const f = writingInto(o as OutputArrays, () => signQ.forwardFused(k, { w: asTensor(p.w) }, cfg, 'all'));
      return { y: f.y!, codes: f.codes!, alpha: f.alpha };
    }
    const f = signQ.forward(backendFor(p.w), { w: asTensor(p.w) }, cfg);
    return { y: into(o.y, f.y), codes: into(o.codes, f.codes), alpha: f.alpha };
  },
  gradient(p: { w: TensorLike }, up: { g: TensorLike }, config?: SignOptions, out?: Out<'w'>): { w: Tensor } {
    const cfg = orThrow(signQ.decodeConfig(config));
    const o = checkOut('sign.gradient', out, ['w'], [p.w, up.g]);
    const k = fastFor(p.w, up.g);
    if (k) {
      const f = signQ.forwardFused(k, { w: asTensor(p.w) }, cfg, 'scale');
      return { w: writingInto(o as OutputArrays, () => signQ.backwardFused(k, f.res, asTensor(up.g), cfg)).w };
    }
    const B = backendFor(p.w, up.g);
    const d = signQ.backward(B, signQ.forward(B, { w: asTensor(p.w) }, cfg), asTensor(up.g), cfg);
    return { w: into(o.w, d.w) };
  },
};

export const twn = {
  /** `{ y: α·T, codes: T, alpha, delta }`; `out` may give arrays for y and codes. */
  forward(p: { w: TensorLike }, config?: TwnOptions, out?: Out<'y' | 'codes'>) {
    const cfg = orThrow(twnQ.decodeConfig(config));
    const o = checkOut('twn.forward', out, ONE_KERNEL, [p.w]);
    const k = fastFor(p.w);
    if (k && twnQ.fusable(cfg)) {
      const f = writingInto(o as OutputArrays, () => twnQ.forwardFused(k, { w: asTensor(p.w) }, cfg, true));
      return { y: f.y, codes: f.codes!, alpha: f.alpha, delta: f.delta };
    }
    const f = twnQ.forward(backendFor(p.w), { w: asTensor(p.w) }, cfg);
    return { y: into(o.y, f.y), codes: into(o.codes, f.codes), alpha: f.alpha, delta: f.delta };
  },
  gradient(p: { w: TensorLike }, up: { g: TensorLike }, config?: TwnOptions, out?: Out<'w'>): { w: Tensor } {
    const cfg = orThrow(twnQ.decodeConfig(config));
    const o = checkOut('twn.gradient', out, ['w'], [p.w, up.g]);
    const B = backendFor(p.w, up.g);
    const k = fastFor(p.w, up.g);
    if (k && twnQ.fusable(cfg)) {
      // as a layer runs it: the fused forward (its checks and errors), then the `ste` identity's
      twnQ.forwardFused(k, { w: asTensor(p.w) }, cfg);
      return { w: into(o.w, twnQ.backwardFused(B, p.w.shape, asTensor(up.g)).w) };
    }
    const d = twnQ.backward(B, twnQ.forward(B, { w: asTensor(p.w) }, cfg), asTensor(up.g), cfg);
    return { w: into(o.w, d.w) };
  },
};

export const ttq = {
  /** `{ y, codes, delta }`; `wp`, `wn` default to 1 of the granularity's scale shape; `out` may give arrays for y and codes. */
  forward(p: { w: TensorLike; wp?: TensorLike; wn?: TensorLike }, config?: TtqOptions, out?: Out<'y' | 'codes'>) {
    const cfg = orThrow(ttqQ.decodeConfig(config));
    const o = checkOut('ttq.forward', out, ONE_KERNEL, [...ttqInputs(p)]);
    const B = backendFor(...ttqInputs(p));
    const k = fastFor(...ttqInputs(p));
    if (k) {
      const f = writingInto(o as OutputArrays, () => ttqQ.forwardFused(k, ttqParams(p, cfg, B), cfg, true));
      return { y: f.y, codes: f.codes!, delta: f.delta };
    }
    const f = ttqQ.forward(B, ttqParams(p, cfg, B), cfg);
    return { y: into(o.y, f.y), codes: into(o.codes, f.codes), delta: f.delta };
  },
  /** `{ w, wp, wn }`, with dWn = −Σ_{W<−Δ} g (the true derivative); `out` may give w's array. */
  gradient(p: { w: TensorLike; wp?: TensorLike; wn?: TensorLike }, up: { g: TensorLike }, config?: TtqOptions, out?: Out<'w'>): { w: Tensor; wp: Tensor; wn: Tensor } {
    const cfg = orThrow(ttqQ.decodeConfig(config));
    const o = checkOut('ttq.gradient', out, ['w'], [...ttqInputs(p), up.g]);
    const B = backendFor(...ttqInputs(p), up.g);
    const k = fastFor(...ttqInputs(p), up.g);
    if (k) {
      const res = ttqQ.forwardFused(k, ttqParams(p, cfg, B), cfg).res;
      const d = writingInto(o as OutputArrays, () => ttqQ.backwardFused(k, res, asTensor(up.g)));
      return { w: d.w, wp: d.wp, wn: d.wn };
    }
    const d = ttqQ.backward(B, ttqQ.forward(B, ttqParams(p, cfg, B), cfg), asTensor(up.g), cfg);
    return { w: into(o.w, d.w), wp: d.wp, wn: d.wn };
  },
};

const ttqInputs = (p: { w: TensorLike; wp?: TensorLike; wn?: TensorLike }): TensorLike[] =>
  [p.w, p.wp, p.wn].filter((x): x is TensorLike => x !== undefined);

function ttqParams(p: { w: TensorLike; wp?: TensorLike; wn?: TensorLike }, cfg: ttqQ.TtqConfig, B: Backend): ttqQ.TtqParams {
  const w = asTensor(p.w);
  const init = ttqQ.initScales(w.shape, cfg, B.dtype);
  return { w, wp: p.wp ? asTensor(p.wp) : init.wp, wn: p.wn ? asTensor(p.wn) : init.wn };
}

export const ternary = {
  /** Eq. 14: `{ y }` with y ∈ {−1, 0, +1}. */
  forward(p: { x: TensorLike }, config?: TernaryOptions): { y: Tensor } {
    const cfg = orThrow(activation.decodeTernaryConfig(config));
    return { y: activation.ternaryForward(backendFor(p.x), asTensor(p.x), cfg) };
  },
  gradient(p: { x: TensorLike }, up: { g: TensorLike }, config?: TernaryOptions): { x: Tensor } {
    const cfg = orThrow(activation.decodeTernaryConfig(config));
    return { x: activation.activationBackward(backendFor(p.x, up.g), asTensor(p.x), asTensor(up.g), cfg.clip) };
  },
};

export const steSign = {
  /** `{ y: sign(x) }` with sign(0) = +1. */
  forward(p: { x: TensorLike }, config?: SteSignOptions): { y: Tensor } {
    const cfg = orThrow(activation.decodeSteSignConfig(config));
    return { y: activation.steSignForward(backendFor(p.x), asTensor(p.x), cfg) };
  },
  gradient(p: { x: TensorLike }, up: { g: TensorLike }, config?: SteSignOptions): { x: Tensor } {
    const cfg = orThrow(activation.decodeSteSignConfig(config));
    return { x: activation.activationBackward(backendFor(p.x, up.g), asTensor(p.x), asTensor(up.g), cfg.clip) };
  },
};
