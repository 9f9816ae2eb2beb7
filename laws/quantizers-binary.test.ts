/**
 * Laws of sign / BWN (src/quantizers/sign.ts): gradient claims of both variants, linearity,
 * symmetry, equivariance, precision, golden values and bad input.
 */
import fc from 'fast-check';
import { cpu32, cpu64 } from '../backends/cpu.js';
import { orThrow } from '../src/codec.js';
import { ConfigError, NonFiniteError, ShapeError } from '../src/errors.js';
import * as sign from '../src/quantizers/sign.js';
import { tensor, tensorClose, tensorEqual, type Tensor } from '../src/tensor.js';
import { example, law, throwsWith } from './law.js';
import { clip, element, gradElement, granularity, isLinear, kernelShape, tensorOf, termsHoldClaims } from './gradcheck.js';

const B = cpu64;
const cfgOf = (raw: unknown): sign.SignConfig => orThrow(sign.decodeConfig(raw));

const signCase = (gradient: sign.SignGradient) =>
  fc.record({ shape: kernelShape(), granularity, clip }).chain(({ shape, granularity, clip }) =>
    fc.record({
      cfg: fc.constant(cfgOf({ granularity, clip, gradient })),
      w: tensorOf(shape, element(0.02, 2.5, clip === null ? [] : [clip])),
      g: tensorOf(shape, gradElement),
      h: tensorOf(shape, gradElement),
      a: fc.double({ min: -2, max: 2, noNaN: true }),
      b: fc.double({ min: -2, max: 2, noNaN: true }),
    }),
  );

for (const variant of ['exact', 'xnor'] as const) {
  law(`sign/${variant}: every gradient term holds its claim against finite differences`, [signCase(variant)], ({ cfg, w, g }) => {
    const terms = sign.terms(B, sign.forward(B, { w }, cfg), g, cfg);
    return termsHoldClaims(B, { w }, (p) => [sign.forward(B, p, cfg).y] as const, terms, [g] as const, `sign/${variant}`);
  }, { numRuns: 60 });
  law(`sign/${variant}: the VJP is linear in the upstream gradient`, [signCase(variant)], ({ cfg, w, g, h, a, b }) => {
    const f = sign.forward(B, { w }, cfg);
    return isLinear(B, ([x]) => sign.backward(B, f, x, cfg), [g], [h], a, b);
  });
}

law('sign: odd symmetry q(−W) = −q(W) (no entry is 0)', [signCase('exact')], ({ cfg, w }) =>
  tensorEqual(sign.forward(B, { w: B.unary('neg', w) }, cfg).y, B.unary('neg', sign.forward(B, { w }, cfg).y)));

law('sign: scale equivariance α(cW) = c·α(W) for c > 0', [signCase('exact'), fc.double({ min: 0.01, max: 100, noNaN: true })], ({ cfg, w }, c) =>
  tensorClose(sign.forward(B, { w: B.scalar('mul', w, c) }, cfg).alpha, B.scalar('mul', sign.forward(B, { w }, cfg).alpha, c), 1e-12));

law('sign: float32 results are within float32 tolerance of float64', [signCase('exact')], ({ cfg, w, g }) => {
  const w32 = tensor(w.shape, Float32Array.from(w.data));
  const g32 = tensor(g.shape, Float32Array.from(g.data));
  const f32 = sign.forward(cpu32, { w: w32 }, cfg);
  const f64 = sign.forward(cpu64, { w: cpu64.from(w32) }, cfg);
  const tol = 4 * w.data.length * 2 ** -24;
  const gsum = Array.from(g.data).reduce((s, v) => s + Math.abs(v), 0);
  return tensorClose(f32.y, f64.y, tol) && tensorClose(sign.backward(cpu32, f32, g32, cfg).w, sign.backward(cpu64, f64, cpu64.from(g32), cfg).w, tol, tol * (1 + gsum));
});

const gw = tensor([4], [0.5, -1.5, 0, 2]);
const gg = tensor([4], [1, 1, 1, 1]);
example('golden: sign(0) = +1, α = mean|W| = 1, y = [1, −1, 1, 1]', () => {
  const f = sign.forward(B, { w: gw }, cfgOf({}));
  return tensorEqual(f.y, tensor([4], [1, -1, 1, 1])) && tensorEqual(f.alpha, tensor([], [1]));
});
example('golden: exact gradient = sign/4·Σg·sign + α·window·g = [1.5, −0.5, 1.5, 0.5]', () => {
  const cfg = cfgOf({});
  return tensorClose(sign.backward(B, sign.forward(B, { w: gw }, cfg), gg, cfg).w, tensor([4], [1.5, -0.5, 1.5, 0.5]), 1e-15);
});
example('golden: XNOR-Net rule g·(1/n + α·window) = [1.25, 0.25, 1.25, 0.25]', () => {
  const cfg = cfgOf({ gradient: 'xnor' });
  return tensorClose(sign.backward(B, sign.forward(B, { w: gw }, cfg), gg, cfg).w, tensor([4], [1.25, 0.25, 1.25, 0.25]), 1e-15);
});
example('golden: per-channel α of [[1, −3], [0.5, 0.5]] is [2, 0.5]', () =>
  tensorEqual(sign.forward(B, { w: tensor([2, 2], [1, -3, 0.5, 0.5]) }, cfgOf({ granularity: 'channel' })).alpha, tensor([2], [2, 0.5])));

example('bad input: NaN, empty, rank-1 channel, unknown variant', () =>
  throwsWith(() => sign.forward(B, { w: tensor([2], [0, NaN]) }, cfgOf({})), NonFiniteError, 'w', 'index 1') &&
  throwsWith(() => sign.forward(B, { w: tensor([0, 3], []) }, cfgOf({})), ShapeError, 'w') &&
  throwsWith(() => sign.forward(B, { w: tensor([3], [1, 2, 3]) }, cfgOf({ granularity: 'channel' })), ConfigError, 'granularity') &&
  throwsWith(() => cfgOf({ gradient: 'ste' }), ConfigError, 'gradient', 'exact, xnor') &&
  throwsWith(() => sign.backward(B, sign.forward(B, { w: gw }, cfgOf({})), tensor([2, 2], [1, 1, 1, 1]), cfgOf({})), ShapeError, '[4]', '[2, 2]'));

export type { Tensor };
