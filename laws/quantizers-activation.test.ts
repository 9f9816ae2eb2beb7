/**
 * Laws of the activation quantizers (src/quantizers/activation.ts): Eq. 14 and its two
 * boundaries, ste_sign, the straight-through gradient against hardtanh, linearity, golden values.
 */
import fc from 'fast-check';
import { cpu32, cpu64 } from '../backends/cpu.js';
import { orThrow } from '../src/codec.js';
import { ConfigError, NonFiniteError } from '../src/errors.js';
import * as act from '../src/quantizers/activation.js';
import { tensor, tensorEqual } from '../src/tensor.js';
import { example, law, throwsWith } from './law.js';
import { clip, element, gradElement, isLinear, tensorOf, termsHoldClaims } from './gradcheck.js';

const B = cpu64;
const ternCfg = (raw: unknown): act.TernaryConfig => orThrow(act.decodeTernaryConfig(raw));

const actCase = fc
  .record({ n: fc.integer({ min: 1, max: 12 }), clip, threshold: fc.constantFrom(0.5, 0.25, 1) })
  .chain(({ n, clip, threshold }) =>
    fc.record({
      clip: fc.constant(clip),
      threshold: fc.constant(threshold),
      x: tensorOf([n], element(0, 3, [threshold, ...(clip === null ? [] : [clip])])),
      g: tensorOf([n], gradElement),
      h: tensorOf([n], gradElement),
      a: fc.double({ min: -2, max: 2, noNaN: true }),
      b: fc.double({ min: -2, max: 2, noNaN: true }),
    }),
  );

law('ternary/ste_sign: the gradient equals the finite differences of hardtanh_clip (its surrogate)', [actCase], ({ clip, x, g }) =>
  termsHoldClaims(B, { x }, (p) => [act.ternaryForward(B, p.x, ternCfg({ clip }))] as const, act.activationTerms(B, x, g, clip), [g] as const, 'activation'));

law('ternary: the forward is piecewise constant, so its own finite differences are 0 away from ±θ', [actCase], ({ threshold, x }) => {
  const cfg = ternCfg({ threshold });
  const y0 = act.ternaryForward(B, x, cfg);
  return tensorEqual(act.ternaryForward(B, B.scalar('add', x, 1e-6), cfg), y0) && tensorEqual(act.ternaryForward(B, B.scalar('add', x, -1e-6), cfg), y0);
});

law('activation: the VJP is linear in the upstream gradient', [actCase], ({ clip, x, g, h, a, b }) =>
  isLinear(B, ([u]) => ({ x: act.activationBackward(B, x, u, clip) }), [g], [h], a, b));

law('ternary (paper boundary): odd symmetry away from ±θ, values in {−1, 0, 1}', [actCase], ({ threshold, x }) => {
  const cfg = ternCfg({ threshold });
  const y = act.ternaryForward(B, x, cfg);
  return tensorEqual(act.ternaryForward(B, B.unary('neg', x), cfg), B.unary('neg', y)) && y.data.every((v) => v === -1 || v === 0 || v === 1);
});

law('ternary: the two boundaries agree everywhere except x = ±θ', [actCase], ({ threshold, x }) =>
  tensorEqual(act.ternaryForward(B, x, ternCfg({ threshold })), act.ternaryForward(B, x, ternCfg({ threshold, boundary: 'official' }))));

law('ternary: float32 equals float64 on float32-representable inputs', [actCase], ({ threshold, x }) => {
  const x32 = tensor(x.shape, Float32Array.from(x.data));
  const cfg = ternCfg({ threshold: Math.fround(threshold) });
  return tensorEqual(act.ternaryForward(cpu32, x32, cfg), act.ternaryForward(cpu64, cpu64.from(x32), cfg));
});

example('golden: Eq. 14 at the boundary — paper maps ±0.5 to 0; official maps +0.5 to +1 and −0.5 to 0', () => {
  const x = tensor([6], [0.5, -0.5, 0.6, -0.7, 0, 0.4]);
  return (
    tensorEqual(act.ternaryForward(B, x, ternCfg({})), tensor([6], [0, 0, 1, -1, 0, 0])) &&
    tensorEqual(act.ternaryForward(B, x, ternCfg({ boundary: 'official' })), tensor([6], [1, 0, 1, -1, 0, 0]))
  );
});
example('golden: ste_sign maps 0 to +1; the STE window is inclusive at |x| = clip', () => {
  const cfg = orThrow(act.decodeSteSignConfig({}));
  const x = tensor([4], [0, -2, 1, -1.0001]);
  return tensorEqual(act.steSignForward(B, x, cfg), tensor([4], [1, -1, 1, -1])) && tensorEqual(act.activationBackward(B, x, tensor([4], [1, 1, 1, 1]), 1), tensor([4], [1, 0, 1, 0]));
});
example('bad input: unknown boundary, negative threshold, NaN activation', () =>
  throwsWith(() => ternCfg({ boundary: 'cuda' }), ConfigError, 'boundary', 'paper, official') &&
  throwsWith(() => ternCfg({ threshold: -0.5 }), ConfigError, 'threshold') &&
  throwsWith(() => act.ternaryForward(B, tensor([2], [0, NaN]), ternCfg({})), NonFiniteError, 'x'));
