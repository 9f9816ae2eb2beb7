/**
 * sttn's quantizers as TensorFlow.js ops (`sttn/tfjs`): the formulas of src/quantizers/*.ts written
 * once over tfjs-core ops, so they run on any tfjs backend (cpu, wasm, webgl, webgpu), with their
 * gradients given through `tf.customGrad` (no `dataSync`/`arraySync`: nothing leaves the device).
 *
 * Ops (each takes the config of the matching sttn quantizer, decoded by its io-ts codec, so a bad
 * option throws a ConfigError naming the field; plus `axis`, see below):
 * - `sttn(w1, w2)` → the merged kernel α·(sign W1 + sign W2) (Eq. 6–7, 10, 12); a layer feeds the
 *   same input to both kernels, so dL/dW̃1 = dL/dW̃2 = dy, and the gradient is sttn's `exact`
 *   (Eq. 12 chain rule + STE), `paper` (Eq. 13 as printed) or `official` (the released code;
 *   latents clamped to [−1, 1] before the forward, the clamp not differentiated).
 *   `sttnPair(w1, w2)` gives W̃1, W̃2 apart (stacked), with dL/dW̃1 and dL/dW̃2 apart in its VJP.
 * - `sign(w)` (α·sign W, `exact` | `xnor`), `twn(w)` (Δ = δ·(S/n), `ste` | `exact`),
 *   `ttq(w, wp, wn)` (gradients for all three, dWn with its minus sign),
 * - `ternaryActivation(x)` (Eq. 14, boundary `paper` | `official`), `steSign(x)`.
 * sign(0) = +1 everywhere: built from `greaterEqual`, because `tf.sign` maps 0 (and |x| < 1e-7)
 * to 0.
 *
 * Layout: sttn puts the output channel on axis 0; tfjs dense kernels are `[in, out]` and conv
 * kernels HWIO, output channel last. For `granularity: 'channel'` the option `axis` names the
 * output-channel axis (default −1, tfjs's layout; pass 0 for sttn's); a scale is reduced over
 * every other axis, so no transpose is needed. Per-channel scales (`sttnAlpha`, TTQ's Wp, Wn) have
 * shape `[channels]`.
 *
 * Not checked here, unlike sttn's own quantizers: finiteness of inputs and overflow of the scales
 * (that would need the values on the host). Everything is float32, as tfjs is.
 *
 * Law (laws/tfjs.test.ts): on tfjs-backend-cpu and tfjs-backend-wasm, for random shapes and
 * configs, every op's forward and its `tf.grads` equal sttn's own quantizers on cpu32 (via
 * backends/neutral.ts) within float32 tolerance, per-channel α on a transposed layout equals α on
 * sttn's; sign(0) = +1.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Either } from 'fp-ts/lib/Either.js';
import { orThrow } from '../src/codec.js';
import { ConfigError } from '../src/errors.js';
import * as activation from '../src/quantizers/activation.js';
import type { Clip, Granularity } from '../src/quantizers/common.js';
import * as signQ from '../src/quantizers/sign.js';
import * as sttnQ from '../src/quantizers/sttn.js';
import * as ttqQ from '../src/quantizers/ttq.js';
import * as twnQ from '../src/quantizers/twn.js';

type T = tf.Tensor;

/** Where the output channel lies (only read under `granularity: 'channel'`). */
export interface Layout {
  /** The output-channel axis; negative counts from the end. Default −1 (tfjs: dense `[in, out]`, conv HWIO). */
  readonly axis?: number;
}
export type SttnOptions = Partial<sttnQ.SttnConfig> & Layout;
export type SignOptions = Partial<signQ.SignConfig> & Layout;
export type TwnOptions = Partial<twnQ.TwnConfig> & Layout;
export type TtqOptions = Partial<ttqQ.TtqConfig> & Layout;
export type TernaryOptions = Partial<activation.TernaryConfig>;
export type SteSignOptions = Partial<activation.SteSignConfig>;

/** Split the layout off the options and decode the rest with the quantizer's codec. */
function split<C>(opts: (Layout & object) | undefined, decode: (raw: unknown) => Either<Error, C>): { cfg: C; axis: number } {
  const { axis = -1, ...rest } = opts ?? {};
  if (!Number.isInteger(axis)) throw new ConfigError('axis', `must be an integer, got ${String(axis)}`);
  return { cfg: orThrow(decode(rest)), axis };
}

/** How the scales of one weight tensor are grouped. */
interface Groups {
  readonly g: Granularity;
  /** the non-negative output-channel axis */
  readonly axis: number;
  /** the axes reduced into one scale (all but `axis` for `channel`) */
  readonly reduce: number[];
  /** elements per group */
  readonly n: number;
  /** the shape a `[channels]` scale takes to broadcast against the weights */
  readonly bshape: number[];
}

function groupsOf(field: string, shape: readonly number[], g: Granularity, axis: number): Groups {
  const size = shape.reduce((a, b) => a * b, 1);
  if (size === 0) throw new ConfigError(field, 'must be non-empty');
  if (g === 'tensor') return { g, axis: 0, reduce: shape.map((_, i) => i), n: size, bshape: [] };
  if (shape.length < 2) throw new ConfigError('granularity', `'channel' needs ${field} of rank ≥ 2, got shape [${shape.join(', ')}]`);
  const a = axis < 0 ? axis + shape.length : axis;
  if (a < 0 || a >= shape.length) throw new ConfigError('axis', `${axis} is out of range for ${field} of rank ${shape.length}`);
  return {
    g,
    axis: a,
    reduce: shape.map((_, i) => i).filter((i) => i !== a),
    n: size / shape[a],
    bshape: shape.map((d, i) => (i === a ? d : 1)),
  };
}

/** Σ per group, kept broadcastable against the weights (a scalar for `tensor`). */
const gsum = (x: T, G: Groups): T => (G.g === 'tensor' ? tf.sum(x) : tf.sum(x, G.reduce, true));
/** A broadcastable per-group tensor as the scale's public shape (`[]` or `[channels]`). */
const asScale = (s: T, G: Groups): T => (G.g === 'tensor' ? tf.reshape(s, []) : tf.reshape(s, [s.shape[G.axis]]));
/** A `[]` or `[channels]` scale, broadcastable against the weights. */
const bcast = (s: T, G: Groups): T => (G.g === 'tensor' ? s : tf.reshape(s, G.bshape));

const f32 = (b: T): T => tf.cast(b, 'float32');
/** sign with sign(0) = +1 (tf.sign gives 0 there). */
export const signOf = (x: T): T => tf.sub(tf.mul(f32(tf.greaterEqual(x, 0)), 2), 1);
/** The STE window 1[|x| ≤ clip]; all ones for `clip = null`. */
const windowOf = (x: T, clip: Clip): T => (clip === null ? tf.onesLike(x) : f32(tf.lessEqual(tf.abs(x), clip)));

// ---------------------------------------------------------------------------------------------
// STTN

function sttnAlphaB(w1: T, w2: T, G: Groups): T {
  return tf.div(tf.add(gsum(tf.abs(w1), G), gsum(tf.abs(w2), G)), 2 * G.n);
}

function sttnLatents(w1: T, w2: T, cfg: sttnQ.SttnConfig): [T, T] {
  if (cfg.gradient !== 'official') return [w1, w2];
  const c = sttnQ.OFFICIAL_LATENT_CLIP;
  return [tf.clipByValue(w1, -c, c), tf.clipByValue(w2, -c, c)];
}

function sttnSetup(w1: T, w2: T, opts: SttnOptions | undefined): { cfg: sttnQ.SttnConfig; G: Groups } {
  const { cfg, axis } = split(opts, sttnQ.decodeConfig);
  if (w1.shape.length !== w2.shape.length || w1.shape.some((d, i) => d !== w2.shape[i])) {
    throw new ConfigError('w2', `must have the shape of w1 [${w1.shape.join(', ')}], got [${w2.shape.join(', ')}]`);
  }
  return { cfg, G: groupsOf('w1', w1.shape, cfg.granularity, axis) };
}

/**
 * The STTN merged kernel α·(sign W1 + sign W2) with sttn's gradient (variant `options.gradient`),
 * the upstream gradient going to both kernels.
 */
export function sttn(w1: T, w2: T, options?: SttnOptions): T {
  const { cfg, G } = sttnSetup(w1, w2, options);
  const op = tf.customGrad((a: T | tf.GradSaveFunc, b: T | tf.GradSaveFunc, save: T | tf.GradSaveFunc) => {
    const [x1, x2] = [a as T, b as T];
    (save as tf.GradSaveFunc)([x1, x2]);
    const value = tf.tidy(() => {
      const [l1, l2] = sttnLatents(x1, x2, cfg);
      return tf.mul(tf.add(signOf(l1), signOf(l2)), sttnAlphaB(l1, l2, G));
    });
    return { value, gradFunc: (dy: T, saved: T[]) => tf.tidy(() => sttnGrad(saved[0], saved[1], dy, dy, cfg, G)) };
  });
  return op(w1, w2);
}

function sttnGrad(w1: T, w2: T, g1: T, g2: T, cfg: sttnQ.SttnConfig, G: Groups): T[] {
  const [l1, l2] = sttnLatents(w1, w2, cfg);
  const b1 = signOf(l1);
  const b2 = signOf(l2);
  const gb1 = gsum(tf.mul(g1, b1), G);
  const gb2 = gsum(tf.mul(g2, b2), G);
  if (cfg.gradient === 'official') {
    return [tf.add(g1, tf.mul(b1, tf.div(gb1, G.n))), tf.add(g2, tf.mul(b2, tf.div(gb2, G.n)))];
  }
  const alpha = sttnAlphaB(l1, l2, G);
  const s = tf.div(tf.add(gb1, gb2), 2 * G.n);
  const win1 = windowOf(l1, cfg.clip);
  const win2 = windowOf(l2, cfg.clip);
  if (cfg.gradient === 'paper') {
    // Eq. 13 as printed: α·window·Σ_{k,j} g_kj
    const at = tf.mul(alpha, tf.add(gsum(g1, G), gsum(g2, G)));
    return [tf.add(tf.mul(b1, s), tf.mul(win1, at)), tf.add(tf.mul(b2, s), tf.mul(win2, at))];
  }
  return [tf.add(tf.mul(b1, s), tf.mul(tf.mul(win1, g1), alpha)), tf.add(tf.mul(b2, s), tf.mul(tf.mul(win2, g2), alpha))];
}

/**
 * The two quantized kernels W̃1 = α·sign W1 and W̃2 = α·sign W2 (Eq. 12) stacked on a new axis 0,
 * shape `[2, ...w1.shape]`, for a model that uses them apart; its VJP takes dL/dW̃1 and dL/dW̃2 apart
 * (sttn's `backward` with `{ g1, g2 }`).
 */
export function sttnPair(w1: T, w2: T, options?: SttnOptions): T {
  const { cfg, G } = sttnSetup(w1, w2, options);
  const op = tf.customGrad((a: T | tf.GradSaveFunc, b: T | tf.GradSaveFunc, save: T | tf.GradSaveFunc) => {
    const [x1, x2] = [a as T, b as T];
    (save as tf.GradSaveFunc)([x1, x2]);
    const value = tf.tidy(() => {
      const [l1, l2] = sttnLatents(x1, x2, cfg);
      const alpha = sttnAlphaB(l1, l2, G);
      return tf.stack([tf.mul(signOf(l1), alpha), tf.mul(signOf(l2), alpha)]);
    });
    const gradFunc = (dy: T, saved: T[]) =>
      tf.tidy(() => {
        // a masked sum, not unstack or gather: tfjs-backend-wasm's Slice and the backends' Gather
        // read values back to the host
        const pick = (k: number) => tf.sum(tf.mul(dy, tf.reshape(tf.tensor1d(k === 0 ? [1, 0] : [0, 1]), [2, ...saved[0].shape.map(() => 1)])), 0);
        const [g1, g2] = [pick(0), pick(1)];
        return sttnGrad(saved[0], saved[1], g1, g2, cfg, G);
      });
    return { value, gradFunc };
  });
  return op(w1, w2);
}

/** α of Eq. 10, shape `[]` or `[channels]` (after the `official` clamp when that variant is chosen). */
export function sttnAlpha(w1: T, w2: T, options?: SttnOptions): T {
  const { cfg, G } = sttnSetup(w1, w2, options);
  return tf.tidy(() => {
    const [l1, l2] = sttnLatents(w1, w2, cfg);
    return asScale(sttnAlphaB(l1, l2, G), G);
  });
}

/** The deployable codes B1 + B2 ∈ {−2, 0, 2} (no gradient). */
export function sttnCodes(w1: T, w2: T, options?: SttnOptions): T {
  const { cfg } = sttnSetup(w1, w2, options);
  return tf.tidy(() => {
    const [l1, l2] = sttnLatents(w1, w2, cfg);
    return tf.add(signOf(l1), signOf(l2));
  });
}

// ---------------------------------------------------------------------------------------------
// sign (BWN / XNOR-Net)

/** α·sign(W), α = mean|W| per group; gradient `exact` (through α, STE on sign) or `xnor` (Eq. 11). */
export function sign(w: T, options?: SignOptions): T {
  const { cfg, axis } = split(options, signQ.decodeConfig);
  const G = groupsOf('w', w.shape, cfg.granularity, axis);
  const op = tf.customGrad((a: T | tf.GradSaveFunc, save: T | tf.GradSaveFunc) => {
    const x = a as T;
    (save as tf.GradSaveFunc)([x]);
    const value = tf.tidy(() => tf.mul(signOf(x), tf.div(gsum(tf.abs(x), G), G.n)));
    const gradFunc = (g: T, saved: T[]): T =>
      tf.tidy(() => {
        const v = saved[0];
        const alpha = tf.div(gsum(tf.abs(v), G), G.n);
        const win = windowOf(v, cfg.clip);
        if (cfg.gradient === 'xnor') return tf.mul(g, tf.add(tf.mul(win, alpha), 1 / G.n));
        const codes = signOf(v);
        return tf.add(tf.mul(codes, tf.div(gsum(tf.mul(g, codes), G), G.n)), tf.mul(tf.mul(win, g), alpha));
      });
    return { value, gradFunc };
  });
  return op(w);
}

// ---------------------------------------------------------------------------------------------
// TWN

interface TwnParts {
  readonly absw: T;
  readonly mask: T;
  readonly count: T;
  readonly alpha: T;
}

function twnParts(w: T, cfg: twnQ.TwnConfig, G: Groups): TwnParts {
  const absw = tf.abs(w);
  // δ·(S/n), in this order, as twn.ts (exact ties stay exact where float32 allows)
  const delta = tf.mul(tf.div(gsum(absw, G), G.n), cfg.delta);
  const mask = f32(tf.greater(absw, delta));
  const count = gsum(mask, G);
  const alpha = tf.div(gsum(tf.mul(absw, mask), G), tf.maximum(count, 1));
  return { absw, mask, count, alpha };
}

/** TWN: Δ = δ·mean|W|, T = sign(W)·1[|W| > Δ], α = mean over I; gradient `ste` (identity) or `exact`. */
export function twn(w: T, options?: TwnOptions): T {
  const { cfg, axis } = split(options, twnQ.decodeConfig);
  const G = groupsOf('w', w.shape, cfg.granularity, axis);
  const op = tf.customGrad((a: T | tf.GradSaveFunc, save: T | tf.GradSaveFunc) => {
    const x = a as T;
    (save as tf.GradSaveFunc)([x]);
    const value = tf.tidy(() => {
      const p = twnParts(x, cfg, G);
      return tf.mul(tf.mul(signOf(x), p.mask), p.alpha);
    });
    const gradFunc = (g: T, saved: T[]): T =>
      tf.tidy(() => {
        if (cfg.gradient === 'ste') return tf.clone(g);
        const v = saved[0];
        const p = twnParts(v, cfg, G);
        const codes = tf.mul(signOf(v), p.mask);
        const s = tf.div(gsum(tf.mul(g, codes), G), tf.maximum(p.count, 1));
        return tf.add(tf.mul(codes, s), tf.mul(tf.mul(windowOf(v, cfg.clip), g), p.alpha));
      });
    return { value, gradFunc };
  });
  return op(w);
}

/** TWN's threshold Δ per group (`[]` or `[channels]`). */
export function twnDelta(w: T, options?: TwnOptions): T {
  const { cfg, axis } = split(options, twnQ.decodeConfig);
  const G = groupsOf('w', w.shape, cfg.granularity, axis);
  return tf.tidy(() => asScale(tf.mul(tf.div(gsum(tf.abs(w), G), G.n), cfg.delta), G));
}

// ---------------------------------------------------------------------------------------------
// TTQ

/** TTQ's scales initialised to 1: shape `[]` (`tensor`) or `[channels]` (`channel`). */
export function ttqInitScales(wShape: readonly number[], options?: TtqOptions): { wp: T; wn: T } {
  const { cfg, axis } = split(options, ttqQ.decodeConfig);
  const G = groupsOf('w', wShape, cfg.granularity, axis);
  const s = G.g === 'tensor' ? [] : [wShape[G.axis]];
  return { wp: tf.ones(s), wn: tf.ones(s) };
}

/**
 * TTQ: Δ = t·max|W| (per layer), W̃ = Wp (W > Δ), −Wn (W < −Δ), 0 otherwise. Returns gradients for
 * W (straight-through: slope Wp, 1 or Wn by region), Wp (Σ_{W>Δ} g) and Wn (−Σ_{W<−Δ} g).
 */
export function ttq(w: T, wp: T, wn: T, options?: TtqOptions): T {
  const { cfg, axis } = split(options, ttqQ.decodeConfig);
  const G = groupsOf('w', w.shape, cfg.granularity, axis);
  const want = G.g === 'tensor' ? [] : [w.shape[G.axis]];
  for (const [k, s] of [['wp', wp], ['wn', wn]] as const) {
    if (s.shape.length !== want.length || s.shape.some((d, i) => d !== want[i])) {
      throw new ConfigError(k, `must have shape [${want.join(', ')}] for granularity '${cfg.granularity}', got [${s.shape.join(', ')}]`);
    }
  }
  const regions = (x: T): { pos: T; neg: T } => {
    const delta = tf.mul(tf.max(tf.abs(x)), cfg.threshold);
    return { pos: f32(tf.greater(x, delta)), neg: f32(tf.greater(tf.neg(x), delta)) };
  };
  const op = tf.customGrad((a: T | tf.GradSaveFunc, b: T | tf.GradSaveFunc, c: T | tf.GradSaveFunc, save: T | tf.GradSaveFunc) => {
    const [x, p, n] = [a as T, b as T, c as T];
    (save as tf.GradSaveFunc)([x, p, n]);
    const value = tf.tidy(() => {
      const r = regions(x);
      return tf.sub(tf.mul(r.pos, bcast(p, G)), tf.mul(r.neg, bcast(n, G)));
    });
    const gradFunc = (g: T, saved: T[]): T[] =>
      tf.tidy(() => {
        const [v, sp, sn] = saved;
        const r = regions(v);
        const mid = tf.sub(1, tf.add(r.pos, r.neg));
        const slope = tf.add(tf.add(tf.mul(r.pos, bcast(sp, G)), tf.mul(r.neg, bcast(sn, G))), mid);
        return [tf.mul(g, slope), asScale(gsum(tf.mul(g, r.pos), G), G), tf.neg(asScale(gsum(tf.mul(g, r.neg), G), G))];
      });
    return { value, gradFunc };
  });
  return op(w, wp, wn);
}

// ---------------------------------------------------------------------------------------------
// Activations

/** The straight-through activation op: forward `fwd`, gradient dy·1[|x| ≤ clip]. */
function steActivation(x: T, clip: Clip, fwd: (x: T) => T): T {
  const op = tf.customGrad((a: T | tf.GradSaveFunc, save: T | tf.GradSaveFunc) => {
    const v = a as T;
    (save as tf.GradSaveFunc)([v]);
    return { value: tf.tidy(() => fwd(v)), gradFunc: (g: T, saved: T[]) => tf.tidy(() => tf.mul(g, windowOf(saved[0], clip))) };
  });
  return op(x);
}

/**
 * Eq. 14: sign(x) where |x| > θ, else 0 (`boundary: 'paper'`); `'official'`: x ≥ θ ↦ +1,
 * x < −θ ↦ −1 (the released kernel). Gradient dy·1[|x| ≤ clip].
 */
export function ternaryActivation(x: T, options?: TernaryOptions): T {
  const cfg = orThrow(activation.decodeTernaryConfig(options));
  const th = cfg.threshold;
  return steActivation(x, cfg.clip, (v) =>
    tf.sub(f32(cfg.boundary === 'paper' ? tf.greater(v, th) : tf.greaterEqual(v, th)), f32(tf.less(v, -th))),
  );
}

/** sign(x) ∈ {−1, +1} with sign(0) = +1; gradient dy·1[|x| ≤ clip]. */
export function steSign(x: T, options?: SteSignOptions): T {
  const cfg = orThrow(activation.decodeSteSignConfig(options));
  return steActivation(x, cfg.clip, signOf);
}
