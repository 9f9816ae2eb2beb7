/**
 * One parameter tensor's Adam step as a composition of a backend's primitives: the definition of
 * the bits `Backend.adamStep` (src/backend.ts) returns in one pass, and what src/train/optim.ts
 * runs on a backend without it. A module of its own, free of the optimizer's codecs, so that the
 * wasm backend can fall back to it without bundling them.
 *
 * Law (laws/adam-fused.test.ts): the wasm backend's adamStep equals this bit for bit;
 * (laws/optim.test.ts) one Adam step equals the formula computed by hand.
 */
import type { AdamStepScalars, Backend } from '../backend.js';
import type { Tensor } from '../tensor.js';

/**
 * One tensor's Adam step as a composition of `B`'s primitives, `[p', m', v']`: what
 * `Backend.adamStep` computes in one pass (src/backend.ts). `h.a` = −lr·c1.
 */
export function adamComposed(B: Pick<Backend, 'axpy' | 'scalar' | 'unary' | 'binary'>, p: Tensor, m: Tensor, v: Tensor, grad: Tensor, h: AdamStepScalars): [Tensor, Tensor, Tensor] {
  const g = h.weightDecay > 0 ? B.axpy(grad, h.weightDecay, p) : grad;
  const m1 = B.axpy(B.scalar('mul', m, h.beta1), 1 - h.beta1, g);
  const v1 = B.axpy(B.scalar('mul', v, h.beta2), 1 - h.beta2, B.unary('square', g));
  const denom = B.scalar('add', B.unary('sqrt', B.scalar('mul', v1, h.c2)), h.epsilon);
  const p1 = B.axpy(p, h.a, B.binary('div', m1, denom));
  return [h.clip === null ? p1 : B.scalar('clamp', p1, h.clip), m1, v1];
}
