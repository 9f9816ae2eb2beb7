/**
 * Activation quantizers: the ternary activation of Eq. 14 and the binary `ste_sign`.
 *
 * ternary (Eq. 14, as RTN without extra parameters): X^t_i = sign(X_i) if |X_i| > θ, else 0
 *   (θ default 0.5). `boundary: 'paper'` is Eq. 14 literally (x = ±θ ↦ 0); `boundary: 'official'`
 *   is the released CUDA kernel: x = +θ ↦ +1 and x = −θ ↦ 0 (x ≥ θ ↦ +1, x < −θ ↦ −1).
 * ste_sign: sign(x) ∈ {−1, +1}, sign(0) = +1 (the activation of `1+1` networks).
 * Gradient of both: dX_i = g_i·1[|X_i| ≤ clip] (clip default 1; null = no window) —
 *   straight-through, surrogate hardtanh_clip(X).
 * Overflow cannot happen here: outputs are in {−1, 0, 1} and g·{0, 1}, finite for finite input in
 *   the backend's dtype (laws/neutral.test.ts checks it up to the dtype's max): nothing to check.
 *
 * Fused path (src/quantizers/fast.ts): on a backend with QuantizerKernels the gradient is one pass,
 * and the forward's finiteness check of x is one wasm pass (the JS check runs only to name a bad value).
 *
 * Law (laws/quantizers-activation.test.ts): the gradient equals the finite differences of
 * hardtanh_clip (its surrogate); the two boundaries of Eq. 14 agree except at x = ±θ, where the
 * golden values pin each; the VJP is linear in the upstream gradient; float32 equals float64.
 */
import * as t from 'io-ts';
import type { Either } from 'fp-ts/lib/Either.js';
import type { Backend } from '../backend.js';
import { decodeWith, oneOf, PositiveNumber, withDefaults } from '../codec.js';
import type { ConfigError } from '../errors.js';
import { assertFinite, sameShape, type Tensor } from '../tensor.js';
import { checkUpstream, Clip, hardTanh, steWindow, type Term } from './common.js';
import { clipDown, kernelsOf, knownFinite } from './fast.js';

export type Boundary = 'paper' | 'official';

export const TernaryConfig = withDefaults(
  'ternary',
  { threshold: PositiveNumber, clip: Clip, boundary: oneOf<Boundary>('boundary', ['paper', 'official']) },
  { threshold: 0.5, clip: 1, boundary: 'paper' },
);
export type TernaryConfig = t.TypeOf<typeof TernaryConfig>;
export const decodeTernaryConfig = (raw: unknown): Either<ConfigError, TernaryConfig> => decodeWith(TernaryConfig, raw, 'ternary');

export const SteSignConfig = withDefaults('ste_sign', { clip: Clip }, { clip: 1 });
export type SteSignConfig = t.TypeOf<typeof SteSignConfig>;
export const decodeSteSignConfig = (raw: unknown): Either<ConfigError, SteSignConfig> => decodeWith(SteSignConfig, raw, 'ste_sign');

/** `assertFinite('x', x)`, with the backend's one-pass check first where it has the fused kernels. */
function checkInput(B: Backend, x: Tensor): void {
  if (!knownFinite(B, x)) assertFinite('x', x);
}

export function ternaryForward(B: Backend, x: Tensor, cfg: TernaryConfig): Tensor {
  checkInput(B, x);
  return B.scalar(cfg.boundary === 'paper' ? 'ternarize' : 'ternarizeOfficial', x, cfg.threshold);
}

export function steSignForward(B: Backend, x: Tensor, _cfg: SteSignConfig): Tensor {
  checkInput(B, x);
  return B.unary('sign', x);
}

type XParams = { readonly [k: string]: Tensor; readonly x: Tensor };

/** The one straight-through term shared by both activations. */
export function activationTerms(B: Backend, x: Tensor, g: Tensor, clip: Clip): Term<XParams, readonly [Tensor]>[] {
  assertFinite('x', x);
  checkUpstream('g', g, x.shape);
  return [
    {
      name: 'ste',
      claim: { kind: 'straight-through', surrogate: 'hardtanh_clip(X)' },
      grad: { x: B.binary('mul', g, steWindow(B, x, clip)) },
      surrogate: (p) => [hardTanh(B, p.x, clip)],
    },
  ];
}

/** The VJP: g·1[|x| ≤ clip], in one fused pass on a backend with QuantizerKernels (same result bit for bit). */
export function activationBackward(B: Backend, x: Tensor, g: Tensor, clip: Clip): Tensor {
  const k = kernelsOf(B);
  if (k === undefined) return activationTerms(B, x, g, clip)[0].grad.x;
  const checks = (): void => {
    assertFinite('x', x);
    checkUpstream('g', g, x.shape);
  };
  if (!sameShape(g.shape, x.shape)) checks();
  const d = k.steGrad(x, g, clipDown(clip));
  if (!d.finite) checks(); // names the non-finite x or g
  return d.x;
}
