/**
 * The quantizer registry: stable snake_case ids (written into checkpoints) bound to their config
 * codecs, and the uniform shape layers take them in (`kernelQuantizer`, `inputQuantizer`).
 *
 * Kernel quantizers: `fp`, `sign`, `twn`, `ttq`, `sttn`. Activation quantizers: `fp`, `ste_sign`,
 * `ternary`. A spec `{ id, config }` is plain data; `kernelQuantizer(spec)` decodes it into an
 * `Either` and binds the config.
 *
 * On a backend with fused quantizer kernels (src/quantizers/fast.ts) the bound forward/backward
 * take that path where the variant has one; results are the generic path's bit for bit.
 *
 * Law (laws/quantizers-registry.test.ts): every id round-trips through its spec codec; the bound
 * forward/backward equal the module's own; an STTN kernel quantizer hands the same upstream
 * gradient to both kernels (Eq. 7).
 */
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import type { Backend } from '../backend.js';
import { decodeWith, oneOf } from '../codec.js';
import { ConfigError } from '../errors.js';
import type { Rng } from '../random.js';
import type { Tensor } from '../tensor.js';
import * as activation from './activation.js';
import type { Params } from './common.js';
import { kernelsOf } from './fast.js';
import * as sign from './sign.js';
import * as sttn from './sttn.js';
import * as ttq from './ttq.js';
import * as twn from './twn.js';

export * as activation from './activation.js';
export * as common from './common.js';
export * as fast from './fast.js';
export * as sign from './sign.js';
export * as sttn from './sttn.js';
export * as ttq from './ttq.js';
export * as twn from './twn.js';
export { OverflowError } from '../errors.js';

export type KernelQuantizerId = 'fp' | 'sign' | 'twn' | 'ttq' | 'sttn';
export type ActivationQuantizerId = 'fp' | 'ste_sign' | 'ternary';
export const KERNEL_QUANTIZER_IDS: readonly KernelQuantizerId[] = ['fp', 'sign', 'twn', 'ttq', 'sttn'];
export const ACTIVATION_QUANTIZER_IDS: readonly ActivationQuantizerId[] = ['fp', 'ste_sign', 'ternary'];

/** `{ id, config? }` with no other key (a misspelt `confg` must not silently mean "defaults"). */
export const QuantizerSpec = new t.Type<{ id: string; config?: unknown }, { id: string; config?: unknown }, unknown>(
  'quantizer spec { id, config? }',
  (u): u is { id: string; config?: unknown } => typeof u === 'object' && u !== null && typeof (u as { id?: unknown }).id === 'string',
  (u, c) => {
    if (typeof u !== 'object' || u === null || Array.isArray(u)) return t.failure(u, c, 'got a non-object');
    const extra = Object.keys(u).filter((k) => k !== 'id' && k !== 'config');
    if (extra.length > 0) return t.failure(u, c, `got unknown key(s) ${extra.join(', ')} (allowed: id, config)`);
    const id = (u as { id?: unknown }).id;
    if (typeof id !== 'string') return t.failure(id, t.appendContext(c, 'id', t.string, id), `got ${JSON.stringify(id) ?? String(id)}`);
    return t.success(u as { id: string; config?: unknown });
  },
  (s) => s,
);
export type QuantizerSpec = t.TypeOf<typeof QuantizerSpec>;

/** `fp` takes no config: undefined or an empty plain object. */
const noConfig = (raw: unknown, what: string): E.Either<ConfigError, null> =>
  raw === undefined || (typeof raw === 'object' && raw !== null && !Array.isArray(raw) && Object.keys(raw).length === 0)
    ? E.right(null)
    : E.left(new ConfigError(what, `takes no config, got ${JSON.stringify(raw)}`));

/** What a kernel quantizer's export yields: the deployable codes and their scale(s). */
export type KernelCodes =
  | { readonly kind: 'float'; readonly w: Tensor }
  | { readonly kind: 'binary'; readonly codes: Tensor; readonly scale: Tensor }
  /** codes ∈ {−1, 0, +1}; value = scalePos·code where code > 0, scaleNeg·code where code < 0 */
  | { readonly kind: 'ternary'; readonly codes: Tensor; readonly scalePos: Tensor; readonly scaleNeg: Tensor };

/** A kernel quantizer with its config bound: what a quantized layer takes. */
export interface KernelQuantizer {
  readonly id: KernelQuantizerId;
  /** The decoded config (with defaults), encodable as plain data. */
  readonly config: Readonly<Record<string, unknown>>;
  /** The latent parameters for a kernel of `shape`; `draw` gives one float initial kernel. */
  init(shape: readonly number[], rng: Rng, draw: (shape: readonly number[], rng: Rng) => Tensor): Params;
  /** The effective kernel the layer computes with, and what backward needs. */
  forward(B: Backend, p: Params): { readonly w: Tensor; readonly res: unknown };
  /** Gradients of the latent parameters given dL/d(effective kernel). */
  backward(B: Backend, p: Params, res: unknown, g: Tensor): Params;
  /** The deployable form (Eq. 6–7 for `sttn`: codes B1+B2 halved to {−1,0,1}, scale 2α). */
  codes(B: Backend, p: Params): KernelCodes;
}

/** An activation quantizer with its config bound. */
export interface ActivationQuantizer {
  readonly id: ActivationQuantizerId;
  readonly config: Readonly<Record<string, unknown>>;
  forward(B: Backend, x: Tensor): Tensor;
  backward(B: Backend, x: Tensor, g: Tensor): Tensor;
}

const fpKernel: KernelQuantizer = {
  id: 'fp',
  config: {},
  init: (shape, rng, draw) => ({ w: draw(shape, rng) }),
  forward: (B, p) => ({ w: B.from(p.w), res: null }),
  backward: (B, _p, _res, g) => ({ w: B.from(g) }),
  codes: (B, p) => ({ kind: 'float', w: B.from(p.w) }),
};

/** Residuals of a fused forward (src/quantizers/fast.ts) are tagged so backward takes the same path. */
const isFused = <R>(res: unknown): res is { fused: R } => typeof res === 'object' && res !== null && 'fused' in res;

function bindKernel(id: KernelQuantizerId, raw: unknown): E.Either<ConfigError, KernelQuantizer> {
  switch (id) {
    case 'fp':
      return E.map(() => fpKernel)(noConfig(raw, 'fp'));
    case 'sign':
      return E.map((cfg: sign.SignConfig): KernelQuantizer => ({
        id,
        config: cfg,
        init: (shape, rng, draw) => ({ w: draw(shape, rng) }),
        forward: (B, p) => {
          const k = kernelsOf(B);
          if (k) {
            const f = sign.forwardFused(k, { w: p.w }, cfg);
            return { w: f.y!, res: { fused: f.res } };
          }
          const f = sign.forward(B, { w: p.w }, cfg);
          return { w: f.y, res: f };
        },
        backward: (B, _p, res, g) => {
          const k = kernelsOf(B);
          if (k && isFused<sign.SignFused>(res)) return sign.backwardFused(k, res.fused, g, cfg);
          return sign.backward(B, res as sign.SignForward, g, cfg);
        },
        codes: (B, p) => {
          const f = sign.forward(B, { w: p.w }, cfg);
          return { kind: 'binary', codes: f.codes, scale: f.alpha };
        },
      }))(sign.decodeConfig(raw));
    case 'twn':
      return E.map((cfg: twn.TwnConfig): KernelQuantizer => ({
        id,
        config: cfg,
        init: (shape, rng, draw) => ({ w: draw(shape, rng) }),
        forward: (B, p) => {
          const k = kernelsOf(B);
          if (k && twn.fusable(cfg)) return { w: twn.forwardFused(k, { w: p.w }, cfg).y, res: { fused: p.w.shape } };
          const f = twn.forward(B, { w: p.w }, cfg);
          return { w: f.y, res: f };
        },
        backward: (B, _p, res, g) => {
          if (isFused<readonly number[]>(res)) return twn.backwardFused(B, res.fused, g);
          return twn.backward(B, res as twn.TwnForward, g, cfg);
        },
        codes: (B, p) => {
          const f = twn.forward(B, { w: p.w }, cfg);
          return { kind: 'ternary', codes: f.codes, scalePos: f.alpha, scaleNeg: f.alpha };
        },
      }))(twn.decodeConfig(raw));
    case 'ttq':
      return E.map((cfg: ttq.TtqConfig): KernelQuantizer => ({
        id,
        config: cfg,
        init: (shape, rng, draw) => {
          const w = draw(shape, rng);
          return { w, ...ttq.initScales(shape, cfg, w.data instanceof Float64Array ? 'float64' : 'float32') };
        },
        forward: (B, p) => {
          const k = kernelsOf(B);
          if (k) {
            const f = ttq.forwardFused(k, p as ttq.TtqParams, cfg);
            return { w: f.y, res: { fused: f.res } };
          }
          const f = ttq.forward(B, p as ttq.TtqParams, cfg);
          return { w: f.y, res: f };
        },
        backward: (B, _p, res, g) => {
          const k = kernelsOf(B);
          if (k && isFused<ttq.TtqFused>(res)) return ttq.backwardFused(k, res.fused, g);
          return ttq.backward(B, res as ttq.TtqForward, g, cfg);
        },
        codes: (B, p) => {
          const f = ttq.forward(B, p as ttq.TtqParams, cfg);
          return { kind: 'ternary', codes: f.codes, scalePos: f.wp, scaleNeg: f.wn };
        },
      }))(ttq.decodeConfig(raw));
    case 'sttn':
      return E.map((cfg: sttn.SttnConfig): KernelQuantizer => ({
        id,
        config: cfg,
        // Two independent draws: with W1 = W2 both kernels would receive identical gradients and
        // never produce a zero code.
        init: (shape, rng, draw) => ({ w1: draw(shape, rng), w2: draw(shape, rng) }),
        forward: (B, p) => {
          const k = kernelsOf(B);
          if (k && sttn.fusable(cfg)) {
            const f = sttn.forwardFused(k, p as sttn.SttnParams, cfg);
            return { w: f.merged!, res: { fused: f.res } };
          }
          const f = sttn.forward(B, p as sttn.SttnParams, cfg);
          return { w: f.merged, res: f };
        },
        // Both kernels see the same input and their outputs add (Eq. 7), so dL/dW̃1 = dL/dW̃2 = g.
        backward: (B, _p, res, g) => {
          const k = kernelsOf(B);
          if (k && isFused<sttn.SttnFused>(res)) return sttn.backwardFused(k, res.fused, { g1: g, g2: g }, cfg);
          return sttn.backward(B, res as sttn.SttnForward, { g1: g, g2: g }, cfg);
        },
        codes: (B, p) => {
          const f = sttn.forward(B, p as sttn.SttnParams, cfg);
          const half = B.scalar('mul', f.codes, 0.5);
          const two = B.scalar('mul', f.alpha, 2);
          return { kind: 'ternary', codes: half, scalePos: two, scaleNeg: two };
        },
      }))(sttn.decodeConfig(raw));
  }
}

const fpActivation: ActivationQuantizer = {
  id: 'fp',
  config: {},
  forward: (B, x) => B.from(x),
  backward: (B, _x, g) => B.from(g),
};

function bindActivation(id: ActivationQuantizerId, raw: unknown): E.Either<ConfigError, ActivationQuantizer> {
  switch (id) {
    case 'fp':
      return E.map(() => fpActivation)(noConfig(raw, 'fp'));
    case 'ste_sign':
      return E.map((cfg: activation.SteSignConfig): ActivationQuantizer => ({
        id,
        config: cfg,
        forward: (B, x) => activation.steSignForward(B, x, cfg),
        backward: (B, x, g) => activation.activationBackward(B, x, g, cfg.clip),
      }))(activation.decodeSteSignConfig(raw));
    case 'ternary':
      return E.map((cfg: activation.TernaryConfig): ActivationQuantizer => ({
        id,
        config: cfg,
        forward: (B, x) => activation.ternaryForward(B, x, cfg),
        backward: (B, x, g) => activation.activationBackward(B, x, g, cfg.clip),
      }))(activation.decodeTernaryConfig(raw));
  }
}

const KernelId = oneOf<KernelQuantizerId>('kernel quantizer id', KERNEL_QUANTIZER_IDS);
const ActivationId = oneOf<ActivationQuantizerId>('activation quantizer id', ACTIVATION_QUANTIZER_IDS);

/** Decode a `{ id, config }` spec (or a bare id string) into a bound kernel quantizer. */
export function kernelQuantizer(spec: unknown): E.Either<ConfigError, KernelQuantizer> {
  const s = typeof spec === 'string' ? { id: spec } : spec;
  return pipe(
    decodeWith(QuantizerSpec, s, 'kernelQuantizer'),
    E.chain((q) => pipe(decodeWith(KernelId, q.id, 'kernelQuantizer.id'), E.chain((id) => bindKernel(id, q.config)))),
  );
}

/** Decode a `{ id, config }` spec (or a bare id string) into a bound activation quantizer. */
export function activationQuantizer(spec: unknown): E.Either<ConfigError, ActivationQuantizer> {
  const s = typeof spec === 'string' ? { id: spec } : spec;
  return pipe(
    decodeWith(QuantizerSpec, s, 'inputQuantizer'),
    E.chain((q) => pipe(decodeWith(ActivationId, q.id, 'inputQuantizer.id'), E.chain((id) => bindActivation(id, q.config)))),
  );
}

/** The plain-data spec of a bound quantizer (what a checkpoint stores). */
export const specOf = (q: KernelQuantizer | ActivationQuantizer): { id: string; config: Readonly<Record<string, unknown>> } => ({
  id: q.id,
  config: q.config,
});
