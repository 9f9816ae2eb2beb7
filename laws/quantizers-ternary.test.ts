/**
 * Laws of the hard-threshold ternary quantizers: TWN (src/quantizers/twn.ts) and TTQ
 * (src/quantizers/ttq.ts). Gradient claims (TTQ's dWp and dWn exact, with dWn's minus sign),
 * linearity, symmetry, equivariance, precision, golden values and bad input.
 */
import fc from 'fast-check';
import { cpu32, cpu64 } from '../backends/cpu.js';
import { orThrow } from '../src/codec.js';
import { ConfigError, NonFiniteError, ShapeError } from '../src/errors.js';
import * as ttq from '../src/quantizers/ttq.js';
import * as twn from '../src/quantizers/twn.js';
import { tensor, tensorClose, tensorEqual, type Tensor } from '../src/tensor.js';
import { example, law, throwsWith } from './law.js';
import { clip, element, gradElement, granularity, isLinear, kernelShape, tensorOf, termsHoldClaims } from './gradcheck.js';

const B = cpu64;
const twnCfg = (raw: unknown): twn.TwnConfig => orThrow(twn.decodeConfig(raw));
const ttqCfg = (raw: unknown): ttq.TtqConfig => orThrow(ttq.decodeConfig(raw));

/** Every |W_i| at least `margin` away from its group's threshold (Δ depends on W itself). */
const awayFrom = (w: Tensor, deltas: Float64Array | Float32Array, channel: boolean, margin: number): boolean => {
  const n = channel ? w.data.length / w.shape[0] : w.data.length;
  return w.data.every((v, i) => Math.abs(Math.abs(v) - deltas[channel ? Math.floor(i / n) : 0]) > margin);
};

const twnCase = (gradient: twn.TwnGradient) =>
  fc
    .record({ shape: kernelShape(), granularity, clip, delta: fc.constantFrom(0.7, 0.5, 1.0) })
    .chain(({ shape, granularity, clip, delta }) =>
      fc.record({
        cfg: fc.constant(twnCfg({ granularity, clip, gradient, delta })),
        w: tensorOf(shape, element(0.02, 2.5, clip === null ? [] : [clip])),
        g: tensorOf(shape, gradElement),
        h: tensorOf(shape, gradElement),
        a: fc.double({ min: -2, max: 2, noNaN: true }),
        b: fc.double({ min: -2, max: 2, noNaN: true }),
      }),
    )
    // a whole-tensor filter is needed here because Δ is a function of every element; a clash
    // within 1e-3 of Δ is rare, so few draws are rejected
    .filter(({ cfg, w }) => awayFrom(w, twn.forward(B, { w }, cfg).delta.data, cfg.granularity === 'channel', 1e-3));

for (const variant of ['ste', 'exact'] as const) {
  law(`twn/${variant}: every gradient term holds its claim against finite differences`, [twnCase(variant)], ({ cfg, w, g }) => {
    const terms = twn.terms(B, twn.forward(B, { w }, cfg), g, cfg);
    return termsHoldClaims(B, { w }, (p) => [twn.forward(B, p, cfg).y] as const, terms, [g] as const, `twn/${variant}`);
  }, { numRuns: 60 });
  law(`twn/${variant}: the VJP is linear in the upstream gradient`, [twnCase(variant)], ({ cfg, w, g, h, a, b }) => {
    const f = twn.forward(B, { w }, cfg);
    return isLinear(B, ([x]) => twn.backward(B, f, x, cfg), [g], [h], a, b);
  });
}

law('twn: Δ = δ·mean|W|, I strict, α = mean over I, T = sign·1[I] (checked element by element)', [twnCase('ste')], ({ cfg, w }) => {
  const f = twn.forward(B, { w }, cfg);
  const groups = cfg.granularity === 'channel' ? w.shape[0] : 1;
  const n = w.data.length / groups;
  for (let c = 0; c < groups; c++) {
    const xs = Array.from(w.data.slice(c * n, (c + 1) * n));
    const delta = (cfg.delta * xs.reduce((s, v) => s + Math.abs(v), 0)) / n;
    const inI = xs.filter((v) => Math.abs(v) > delta);
    const alpha = inI.length === 0 ? 0 : inI.reduce((s, v) => s + Math.abs(v), 0) / inI.length;
    if (Math.abs(f.alpha.data[c] - alpha) > 1e-12 || Math.abs(f.delta.data[c] - delta) > 1e-12) return false;
    for (let j = 0; j < n; j++) {
      const v = xs[j];
      const code = Math.abs(v) > delta ? Math.sign(v) : 0;
      if (f.codes.data[c * n + j] !== code) return false;
    }
  }
  return true;
});

law('twn: odd symmetry and scale equivariance (codes unchanged, α scales)', [twnCase('ste'), fc.double({ min: 0.01, max: 100, noNaN: true })], ({ cfg, w }, c) => {
  const f = twn.forward(B, { w }, cfg);
  const neg = twn.forward(B, { w: B.unary('neg', w) }, cfg);
  const scaled = twn.forward(B, { w: B.scalar('mul', w, c) }, cfg);
  return tensorEqual(neg.y, B.unary('neg', f.y)) && tensorEqual(scaled.codes, f.codes) && tensorClose(scaled.alpha, B.scalar('mul', f.alpha, c), 1e-12);
});

law('twn: float32 results are within float32 tolerance of float64', [twnCase('exact')], ({ cfg, w, g }) => {
  const w32 = tensor(w.shape, Float32Array.from(w.data));
  const f32 = twn.forward(cpu32, { w: w32 }, cfg);
  const f64 = twn.forward(cpu64, { w: cpu64.from(w32) }, cfg);
  const tol = 4 * w.data.length * 2 ** -24;
  const gsum = Array.from(g.data).reduce((s, v) => s + Math.abs(v), 0);
  const g32 = tensor(g.shape, Float32Array.from(g.data));
  return tensorEqual(f32.codes, f64.codes) && tensorClose(f32.y, f64.y, tol) && tensorClose(twn.backward(cpu32, f32, g32, cfg).w, twn.backward(cpu64, f64, cpu64.from(g32), cfg).w, tol, tol * (1 + gsum));
});

example('golden: W = [1, −1, 0.01, 0.5]: Δ = 0.7·0.6275, I = {0, 1, 3}, α = 2.5/3, T = [1, −1, 0, 1]', () => {
  const f = twn.forward(B, { w: tensor([4], [1, -1, 0.01, 0.5]) }, twnCfg({}));
  return tensorClose(f.delta, tensor([], [0.7 * 0.6275]), 1e-15) && tensorClose(f.alpha, tensor([], [2.5 / 3]), 1e-15) && tensorEqual(f.codes, tensor([4], [1, -1, 0, 1]));
});
example('golden: an empty index set gives α = 0 and a zero α term, not NaN', () => {
  // δ = 1 and all |W| equal: no |W_i| > mean|W|
  const cfg = twnCfg({ delta: 1, gradient: 'exact' });
  const f = twn.forward(B, { w: tensor([3], [0.5, -0.5, 0.5]) }, cfg);
  const d = twn.backward(B, f, tensor([3], [1, 1, 1]), cfg);
  return f.alpha.data[0] === 0 && d.w.data.every((v) => v === 0);
});
example('golden: exact TWN gradient on W = [1, −1, 0.01, 0.5], g = [1, 2, 3, 4]', () => {
  const cfg = twnCfg({ gradient: 'exact' });
  const f = twn.forward(B, { w: tensor([4], [1, -1, 0.01, 0.5]) }, cfg);
  // α term: 1[I]·sign/|I|·Σ g·T = [1, −1, 0, 1]/3·(1 − 2 + 4); sign term: α·1[|W| ≤ 1]·g
  const a = 2.5 / 3;
  const want = [1 + a * 1, -1 + a * 2, a * 3, 1 + a * 4];
  return tensorClose(twn.backward(B, f, tensor([4], [1, 2, 3, 4]), cfg).w, tensor([4], want), 1e-14);
});

// ---- TTQ --------------------------------------------------------------------------------------

const ttqCase = fc
  .record({ shape: kernelShape(), granularity, threshold: fc.constantFrom(0.05, 0.3, 0.6) })
  .chain(({ shape, granularity, threshold }) => {
    const cfg = ttqCfg({ granularity, threshold });
    const s = granularity === 'channel' ? [shape[0]] : [];
    return fc.record({
      cfg: fc.constant(cfg),
      w: tensorOf(shape, element(0.0, 2.5)),
      wp: tensorOf(s, fc.double({ min: 0.1, max: 3, noNaN: true })),
      wn: tensorOf(s, fc.double({ min: 0.1, max: 3, noNaN: true })),
      g: tensorOf(shape, gradElement),
      h: tensorOf(shape, gradElement),
      a: fc.double({ min: -2, max: 2, noNaN: true }),
      b: fc.double({ min: -2, max: 2, noNaN: true }),
    });
  })
  .filter(({ cfg, w }) => {
    const delta = cfg.threshold * Math.max(...Array.from(w.data, Math.abs));
    return w.data.every((v) => Math.abs(Math.abs(v) - delta) > 1e-3);
  });

law('ttq: dWp, dWn exact and the dW term against its surrogate (finite differences)', [ttqCase], ({ cfg, w, wp, wn, g }) => {
  const p = { w, wp, wn };
  const terms = ttq.terms(B, ttq.forward(B, p, cfg), g, cfg);
  return termsHoldClaims(B, p, (q) => [ttq.forward(B, q, cfg).y] as const, terms, [g] as const, 'ttq');
}, { numRuns: 80 });

law('ttq: dWn = −Σ_{W<−Δ} g (the true derivative, with the minus sign)', [ttqCase], ({ cfg, w, wp, wn, g }) => {
  const f = ttq.forward(B, { w, wp, wn }, cfg);
  const d = ttq.backward(B, f, g, cfg);
  const groups = cfg.granularity === 'channel' ? w.shape[0] : 1;
  const n = w.data.length / groups;
  for (let c = 0; c < groups; c++) {
    let s = 0;
    for (let j = c * n; j < (c + 1) * n; j++) if (w.data[j] < -f.delta.data[0]) s += g.data[j];
    if (Math.abs(d.wn.data[c] + s) > 1e-12) return false;
  }
  return true;
});

law('ttq: the VJP is linear in the upstream gradient', [ttqCase], ({ cfg, w, wp, wn, g, h, a, b }) => {
  const f = ttq.forward(B, { w, wp, wn }, cfg);
  return isLinear(B, ([x]) => ttq.backward(B, f, x, cfg), [g], [h], a, b);
});

law('ttq: q(−W; Wp, Wn) = −q(W; Wn, Wp), and codes are invariant under W ↦ cW', [ttqCase, fc.double({ min: 0.01, max: 100, noNaN: true })], ({ cfg, w, wp, wn }, c) => {
  const f = ttq.forward(B, { w, wp, wn }, cfg);
  const g = ttq.forward(B, { w: B.unary('neg', w), wp: wn, wn: wp }, cfg);
  const s = ttq.forward(B, { w: B.scalar('mul', w, c), wp, wn }, cfg);
  return tensorEqual(g.y, B.unary('neg', f.y)) && tensorEqual(s.codes, f.codes);
});

law('ttq: float32 results equal float64 (no rounding enters the forward)', [ttqCase], ({ cfg, w, wp, wn }) => {
  const r = (t: Tensor) => tensor(t.shape, Float32Array.from(t.data));
  const f32 = ttq.forward(cpu32, { w: r(w), wp: r(wp), wn: r(wn) }, cfg);
  const f64 = ttq.forward(cpu64, { w: cpu64.from(r(w)), wp: cpu64.from(r(wp)), wn: cpu64.from(r(wn)) }, cfg);
  return tensorEqual(f32.y, f64.y) && tensorEqual(f32.codes, f64.codes);
});

example('golden: TTQ on W = [1, −1, 0.01, 0.5], Wp = 2, Wn = 3, g = [1, 2, 3, 4]', () => {
  const cfg = ttqCfg({});
  const f = ttq.forward(B, { w: tensor([4], [1, -1, 0.01, 0.5]), wp: tensor([], [2]), wn: tensor([], [3]) }, cfg);
  const d = ttq.backward(B, f, tensor([4], [1, 2, 3, 4]), cfg);
  return (
    tensorEqual(f.y, tensor([4], [2, -3, 0, 2])) &&
    tensorEqual(d.w, tensor([4], [2, 6, 3, 8])) &&
    tensorEqual(d.wp, tensor([], [5])) &&
    tensorEqual(d.wn, tensor([], [-2]))
  );
});

example('bad input: TWN/TTQ configs, scale shapes, NaN', () =>
  throwsWith(() => twnCfg({ delta: -1 }), ConfigError, 'delta') &&
  throwsWith(() => twnCfg({ gradient: 'paper' }), ConfigError, 'gradient', 'ste, exact') &&
  throwsWith(() => ttqCfg({ threshold: 1.5 }), ConfigError, 'threshold') &&
  throwsWith(() => ttq.forward(B, { w: tensor([2, 2], [1, 2, 3, 4]), wp: tensor([3], [1, 1, 1]), wn: tensor([], [1]) }, ttqCfg({})), ShapeError, 'wp', '[3]') &&
  throwsWith(() => ttq.forward(B, { w: tensor([2, 2], [1, 2, 3, 4]), wp: tensor([], [1]), wn: tensor([], [NaN]) }, ttqCfg({})), NonFiniteError, 'wn') &&
  throwsWith(() => twn.forward(B, { w: tensor([2], [1, Infinity]) }, twnCfg({})), NonFiniteError, 'w'));
