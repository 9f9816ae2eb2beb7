/**
 * Laws of the STTN pair (src/quantizers/sttn.ts): gradient claims, Eq. 10 optimality, the merge
 * of Eq. 6–7, the misprint of Eq. 13, symmetry, precision, golden values and bad input.
 */
import fc from 'fast-check';
import { cpu32, cpu64 } from '../backends/cpu.js';
import { ConfigError, NonFiniteError, ShapeError } from '../src/errors.js';
import * as sttn from '../src/quantizers/sttn.js';
import { orThrow } from '../src/codec.js';
import { tensor, tensorClose, tensorEqual, type Tensor } from '../src/tensor.js';
import { example, law, throwsWith } from './law.js';
import { clip, element, gradElement, granularity, isLinear, kernelShape, tensorOf, termsHoldClaims } from './gradcheck.js';

const B = cpu64;
const cfgOf = (raw: unknown): sttn.SttnConfig => orThrow(sttn.decodeConfig(raw));

/** A config and a pair drawn away from sign flips and the STE window's edge. */
const pairCase = (variant: sttn.SttnGradient) =>
  fc.record({ shape: kernelShape(), granularity, clip }).chain(({ shape, granularity, clip }) => {
    const cfg = cfgOf({ granularity, clip, gradient: variant });
    // `official` clips latent weights to [−1, 1]; drawing inside keeps the clip the identity.
    const elem = variant === 'official' ? element(0.02, 0.97) : element(0.02, 2.5, clip === null ? [] : [clip]);
    return fc.record({
      cfg: fc.constant(cfg),
      w1: tensorOf(shape, elem),
      w2: tensorOf(shape, elem),
      g1: tensorOf(shape, gradElement),
      g2: tensorOf(shape, gradElement),
      h1: tensorOf(shape, gradElement),
      h2: tensorOf(shape, gradElement),
      a: fc.double({ min: -2, max: 2, noNaN: true }),
      b: fc.double({ min: -2, max: 2, noNaN: true }),
    });
  });

const fwd = (cfg: sttn.SttnConfig) => (p: sttn.SttnParams) => {
  const f = sttn.forward(B, p, cfg);
  return [f.w1q, f.w2q] as const;
};

for (const variant of ['exact', 'paper', 'official'] as const) {
  law(`sttn/${variant}: every gradient term holds its claim against finite differences`, [pairCase(variant)], ({ cfg, w1, w2, g1, g2 }) => {
    const p = { w1, w2 };
    const terms = sttn.terms(B, sttn.forward(B, p, cfg), { g1, g2 }, cfg);
    return termsHoldClaims(B, p, fwd(cfg), terms, [g1, g2] as const, `sttn/${variant}`);
  }, { numRuns: 60 });

  law(`sttn/${variant}: the VJP is linear in the upstream gradient`, [pairCase(variant)], ({ cfg, w1, w2, g1, g2, h1, h2, a, b }) => {
    const f = sttn.forward(B, { w1, w2 }, cfg);
    return isLinear(B, ([x, y]) => sttn.backward(B, f, { g1: x, g2: y }, cfg), [g1, g2], [h1, h2], a, b);
  });
}

law('sttn/exact: the α term is the exact derivative of Eq. 12 (the whole VJP with no STE window is FD of the forward plus α·g)', [pairCase('exact')], ({ cfg, w1, w2, g1, g2 }) => {
  // A sanity check of the decomposition itself: exact VJP − α·window·g is the α term.
  const f = sttn.forward(B, { w1, w2 }, cfg);
  const full = sttn.backward(B, f, { g1, g2 }, cfg);
  const alphaOnly = sttn.terms(B, f, { g1, g2 }, cfg).find((t) => t.name === 'alpha')!.grad;
  const win1 = cfg.clip === null ? Array.from(w1.data).map(() => 1) : Array.from(w1.data).map((v) => (Math.abs(v) <= cfg.clip! ? 1 : 0));
  const alpha = (i: number) => (cfg.granularity === 'tensor' ? f.alpha.data[0] : f.alpha.data[Math.floor(i / (w1.data.length / w1.shape[0]))]);
  return full.w1.data.every((v, i) => Math.abs(v - alphaOnly.w1.data[i] - alpha(i) * win1[i] * g1.data[i]) <= 1e-12);
});

// ---- Eq. 10 ---------------------------------------------------------------------------------

const J = (w1: Tensor, w2: Tensor, b1: Tensor, b2: Tensor, alpha: number, lo: number, hi: number): number => {
  let s = 0;
  for (let i = lo; i < hi; i++) s += (w1.data[i] - alpha * b1.data[i]) ** 2 + (w2.data[i] - alpha * b2.data[i]) ** 2;
  return s;
};

law('Eq. 10: with B = sign(W), α* minimises J(α) in every group', [pairCase('exact'), fc.double({ min: 1e-3, max: 1, noNaN: true })], ({ cfg, w1, w2 }, eps) => {
  const f = sttn.forward(B, { w1, w2 }, cfg);
  const groups = cfg.granularity === 'tensor' ? 1 : w1.shape[0];
  const n = w1.data.length / groups;
  for (let c = 0; c < groups; c++) {
    const a = f.alpha.data[c];
    const j0 = J(w1, w2, f.b1, f.b2, a, c * n, (c + 1) * n);
    for (const d of [eps, -eps]) if (J(w1, w2, f.b1, f.b2, a + d * a, c * n, (c + 1) * n) < j0 - 1e-12) return false;
  }
  return true;
});

law('Eq. 10: with α fixed, B* = sign(W) maximises B1ᵀW1 + B2ᵀW2 (no single flip improves it)', [pairCase('exact'), fc.nat(), fc.boolean()], ({ cfg, w1, w2 }, at, second) => {
  const f = sttn.forward(B, { w1, w2 }, cfg);
  const dot = (b: Tensor, w: Tensor) => Array.from(b.data).reduce((s, v, i) => s + v * w.data[i], 0);
  const best = dot(f.b1, w1) + dot(f.b2, w2);
  const i = at % w1.data.length;
  const flipped = (second ? f.b2 : f.b1).data.slice();
  flipped[i] = -flipped[i];
  const fb = { shape: w1.shape, data: flipped };
  const other = second ? dot(f.b1, w1) + dot(fb, w2) : dot(fb, w1) + dot(f.b2, w2);
  return other < best;
});

// ---- Eq. 6–7: the merge -----------------------------------------------------------------------

law('Eq. 6: codes B1 + B2 ∈ {−2, 0, 2} and merged = α·codes = W̃1 + W̃2 exactly', [pairCase('exact')], ({ cfg, w1, w2 }) => {
  const f = sttn.forward(B, { w1, w2 }, cfg);
  const sum = B.binary('add', f.w1q, f.w2q);
  return f.codes.data.every((c) => c === -2 || c === 0 || c === 2) && tensorEqual(sum, f.merged);
});

law('Eq. 7: x·(αB1)ᵀ + x·(αB2)ᵀ = x·(α(B1+B2))ᵀ for a dense product', [pairCase('exact').chain((c) => fc.record({ c: fc.constant(c), x: tensorOf([3, c.w1.data.length / c.w1.shape[0]], element(0, 2)) }))], ({ c, x }) => {
  const f = sttn.forward(B, { w1: c.w1, w2: c.w2 }, c.cfg);
  const k = c.w1.data.length / c.w1.shape[0];
  const mat = (t: Tensor) => tensor([c.w1.shape[0], k], t.data);
  const two = B.binary('add', B.matmul(x, mat(f.w1q), { transB: true }), B.matmul(x, mat(f.w2q), { transB: true }));
  const one = B.matmul(x, mat(f.merged), { transB: true });
  return tensorClose(two, one, 1e-12, 1e-12);
});

// ---- the misprint of Eq. 13 ------------------------------------------------------------------

law('Eq. 13 as printed differs from the chain rule exactly where α·1[|W1_i| ≤ clip]·(Σ_{k,j} g_kj − g_1i) ≠ 0', [pairCase('exact')], ({ cfg, w1, w2, g1, g2 }) => {
  const ex = sttn.backward(B, sttn.forward(B, { w1, w2 }, cfg), { g1, g2 }, cfg);
  const pcfg = { ...cfg, gradient: 'paper' as const };
  const pa = sttn.backward(B, sttn.forward(B, { w1, w2 }, pcfg), { g1, g2 }, pcfg);
  const groups = cfg.granularity === 'tensor' ? 1 : w1.shape[0];
  const n = w1.data.length / groups;
  const f = sttn.forward(B, { w1, w2 }, cfg);
  for (let i = 0; i < w1.data.length; i++) {
    const c = Math.floor(i / n);
    let S = 0;
    for (let j = c * n; j < (c + 1) * n; j++) S += g1.data[j] + g2.data[j];
    const inWin = cfg.clip === null || Math.abs(w1.data[i]) <= cfg.clip;
    const predicted = inWin ? f.alpha.data[c] * (S - g1.data[i]) : 0;
    const diff = pa.w1.data[i] - ex.w1.data[i];
    if (Math.abs(diff - predicted) > 1e-9 * (1 + Math.abs(S))) return false;
    // and so they differ whenever that quantity is non-zero
    if (Math.abs(predicted) > 1e-9 && diff === 0) return false;
  }
  return true;
});

example('Eq. 13 as printed is not the chain rule: on a golden case the two disagree', () => {
  const p = { w1: tensor([3], [0.3, -0.6, 0.1]), w2: tensor([3], [0.5, 0.2, -0.4]) };
  const up = { g1: tensor([3], [1, 0, 0]), g2: tensor([3], [0, 0, 1]) };
  const ex = sttn.backward(B, sttn.forward(B, p, cfgOf({})), up, cfgOf({}));
  const pa = sttn.backward(B, sttn.forward(B, p, cfgOf({ gradient: 'paper' })), up, cfgOf({ gradient: 'paper' }));
  return !tensorClose(ex.w1, pa.w1, 0, 1e-3);
});

// ---- symmetry, equivariance, precision ---------------------------------------------------------

law('sttn: odd symmetry q(−W1, −W2) = −q(W1, W2) (no entry is 0)', [pairCase('exact')], ({ cfg, w1, w2 }) => {
  const f = sttn.forward(B, { w1, w2 }, cfg);
  const g = sttn.forward(B, { w1: B.unary('neg', w1), w2: B.unary('neg', w2) }, cfg);
  return tensorEqual(g.merged, B.unary('neg', f.merged)) && tensorEqual(g.alpha, f.alpha);
});

law('sttn: scale equivariance α(cW) = c·α(W) for c > 0, codes unchanged', [pairCase('exact'), fc.double({ min: 0.01, max: 100, noNaN: true })], ({ cfg, w1, w2 }, c) => {
  const f = sttn.forward(B, { w1, w2 }, cfg);
  const g = sttn.forward(B, { w1: B.scalar('mul', w1, c), w2: B.scalar('mul', w2, c) }, cfg);
  return tensorClose(g.alpha, B.scalar('mul', f.alpha, c), 1e-12) && tensorEqual(g.codes, f.codes);
});

law('sttn: float32 results are within float32 tolerance of float64', [pairCase('exact')], ({ cfg, w1, w2, g1, g2 }) => {
  const r = (t: Tensor) => tensor(t.shape, Float32Array.from(t.data));
  const [a1, a2, c1, c2] = [r(w1), r(w2), r(g1), r(g2)];
  const f32 = sttn.forward(cpu32, { w1: a1, w2: a2 }, cfg);
  const f64 = sttn.forward(cpu64, { w1: tensor(a1.shape, Float64Array.from(a1.data)), w2: tensor(a2.shape, Float64Array.from(a2.data)) }, cfg);
  const d32 = sttn.backward(cpu32, f32, { g1: c1, g2: c2 }, cfg);
  const d64 = sttn.backward(cpu64, f64, { g1: cpu64.from(c1), g2: cpu64.from(c2) }, cfg);
  // n-term sums in float32: relative error ≤ n·2⁻²⁴ (n ≤ 24 here), plus the sums' cancellation in
  // the α term, bounded by the magnitude of Σ|g| · 2⁻²⁴ · n.
  const n = w1.data.length;
  const gsum = [...g1.data, ...g2.data].reduce((s, v) => s + Math.abs(v), 0);
  const tol = 4 * n * 2 ** -24;
  return (
    f32.merged.data instanceof Float32Array &&
    tensorClose(f32.merged, f64.merged, tol, 1e-7) &&
    tensorClose(d32.w1, d64.w1, tol, tol * (1 + gsum)) &&
    tensorClose(d32.w2, d64.w2, tol, tol * (1 + gsum))
  );
});

// ---- golden cases (computed by hand) ----------------------------------------------------------

const golden = { w1: tensor([3], [0.3, -0.6, 0.1]), w2: tensor([3], [0.5, 0.2, -0.4]) };
const goldenUp = { g1: tensor([3], [1, 0, 0]), g2: tensor([3], [0, 0, 1]) };

example('golden: α = (1.0 + 1.1)/6 = 0.35, codes [2, 0, 0], merged [0.7, 0, 0]', () => {
  const f = sttn.forward(B, golden, cfgOf({}));
  return tensorClose(f.alpha, tensor([], [0.35]), 1e-15) && tensorEqual(f.codes, tensor([3], [2, 0, 0])) && tensorClose(f.merged, tensor([3], [0.7, 0, 0]), 1e-15);
});

example('golden: exact gradient, Σ g·sign = 1 − 1 = 0, so dW1 = [α, 0, 0], dW2 = [0, 0, α]', () => {
  const cfg = cfgOf({});
  const d = sttn.backward(B, sttn.forward(B, golden, cfg), goldenUp, cfg);
  return tensorClose(d.w1, tensor([3], [0.35, 0, 0]), 1e-15, 1e-15) && tensorClose(d.w2, tensor([3], [0, 0, 0.35]), 1e-15, 1e-15);
});

example('golden: printed Eq. 13, second term α·Σg = 0.35·2 on every entry', () => {
  const cfg = cfgOf({ gradient: 'paper' });
  const d = sttn.backward(B, sttn.forward(B, golden, cfg), goldenUp, cfg);
  return tensorClose(d.w1, tensor([3], [0.7, 0.7, 0.7]), 1e-15, 1e-15) && tensorClose(d.w2, tensor([3], [0.7, 0.7, 0.7]), 1e-15, 1e-15);
});

example('golden: official rule, dW1 = g1 + sign(W1)·(1/3)·(1) and dW2 = g2 + sign(W2)·(1/3)·(−1)', () => {
  const cfg = cfgOf({ gradient: 'official', granularity: 'tensor' });
  const d = sttn.backward(B, sttn.forward(B, golden, cfg), goldenUp, cfg);
  return tensorClose(d.w1, tensor([3], [4 / 3, -1 / 3, 1 / 3]), 1e-15, 1e-15) && tensorClose(d.w2, tensor([3], [-1 / 3, -1 / 3, 4 / 3]), 1e-15, 1e-15);
});

example('golden: per-channel α = [2.4/4, 3/4], codes [[2, 0], [0, 2]]', () => {
  const p = { w1: tensor([2, 2], [1, -1, 0.5, 0.5]), w2: tensor([2, 2], [0.2, 0.2, -0.5, 1.5]) };
  const f = sttn.forward(B, p, cfgOf({ granularity: 'channel' }));
  return tensorClose(f.alpha, tensor([2], [0.6, 0.75]), 1e-15) && tensorEqual(f.codes, tensor([2, 2], [2, 0, 0, 2])) && tensorClose(f.merged, tensor([2, 2], [1.2, 0, 0, 1.5]), 1e-15);
});

example('golden: official clips latent weights to [−1, 1] before the forward', () => {
  const p = { w1: tensor([2, 1], [3, -0.5]), w2: tensor([2, 1], [-2, 0.5]) };
  const f = sttn.forward(B, p, cfgOf({ gradient: 'official' }));
  // channel 0: (1 + 1)/2 = 1; channel 1: (0.5 + 0.5)/2 = 0.5
  return tensorClose(f.alpha, tensor([2], [1, 0.5]), 1e-15);
});

example('the official variant defaults to channel granularity, the others to tensor', () =>
  cfgOf({ gradient: 'official' }).granularity === 'channel' && cfgOf({}).granularity === 'tensor' && cfgOf({ gradient: 'official', granularity: 'tensor' }).granularity === 'tensor');

// ---- bad input --------------------------------------------------------------------------------

const cfg0 = cfgOf({});
example('mismatched w1/w2 shapes: a ShapeError naming both shapes', () =>
  throwsWith(() => sttn.forward(B, { w1: tensor([2, 3], new Float64Array(6).fill(1)), w2: tensor([3, 2], new Float64Array(6).fill(1)) }, cfg0), ShapeError, '[2, 3]', '[3, 2]'));
example('a NaN in w2: a NonFiniteError naming w2 and the index', () =>
  throwsWith(() => sttn.forward(B, { w1: tensor([2], [1, 1]), w2: tensor([2], [1, NaN]) }, cfg0), NonFiniteError, 'w2', 'index 1'));
example('an Infinity in the upstream gradient: a NonFiniteError naming g1', () =>
  throwsWith(() => sttn.backward(B, sttn.forward(B, { w1: tensor([2], [1, 1]), w2: tensor([2], [1, 1]) }, cfg0), { g1: tensor([2], [Infinity, 0]), g2: tensor([2], [0, 0]) }, cfg0), NonFiniteError, 'g1'));
example('an upstream gradient of the wrong shape: a ShapeError naming g2 and both shapes', () =>
  throwsWith(() => sttn.backward(B, sttn.forward(B, { w1: tensor([2], [1, 1]), w2: tensor([2], [1, 1]) }, cfg0), { g1: tensor([2], [0, 0]), g2: tensor([3], [0, 0, 0]) }, cfg0), ShapeError, 'g2', '[2]', '[3]'));
example('empty tensors: a ShapeError naming w1', () => throwsWith(() => sttn.forward(B, { w1: tensor([0], []), w2: tensor([0], []) }, cfg0), ShapeError, 'w1', 'non-empty'));
example("'channel' on a rank-1 tensor: a ConfigError naming granularity", () =>
  throwsWith(() => sttn.forward(B, { w1: tensor([2], [1, 1]), w2: tensor([2], [1, 1]) }, cfgOf({ granularity: 'channel' })), ConfigError, 'granularity', 'rank'));
example('an unknown variant: a Left naming gradient and the allowed values', () =>
  throwsWith(() => cfgOf({ gradient: 'chain' }), ConfigError, 'gradient', 'chain', 'exact, paper, official'));
example('a malformed clip: a Left naming clip', () => throwsWith(() => cfgOf({ clip: -1 }), ConfigError, 'clip') && throwsWith(() => cfgOf({ clip: 'one' }), ConfigError, 'clip'));
example('a misspelt key: a Left naming the key', () => throwsWith(() => cfgOf({ granularty: 'tensor' }), ConfigError, 'granularty'));

// ---- signOfZero: the released code's torch.sign -----------------------------------------------

/** The released code's forward, written out: clamp to [−1, 1], B = torch.sign (sign(0) = 0), α per group. */
function officialReference(w1: Tensor, w2: Tensor, g: 'tensor' | 'channel'): { b1: number[]; b2: number[]; merged: number[] } {
  const tsign = (x: number) => (x > 0 ? 1 : x < 0 ? -1 : 0);
  const c1 = Array.from(w1.data, (x) => Math.min(Math.max(x, -1), 1));
  const c2 = Array.from(w2.data, (x) => Math.min(Math.max(x, -1), 1));
  const n = g === 'channel' ? c1.length / w1.shape[0] : c1.length;
  const merged = c1.map((_, i) => {
    const lo = g === 'channel' ? Math.floor(i / n) * n : 0;
    let s = 0;
    for (let j = lo; j < lo + n; j++) s += Math.abs(c1[j]) + Math.abs(c2[j]);
    return (s / (2 * n)) * (tsign(c1[i]) + tsign(c2[i]));
  });
  return { b1: c1.map(tsign), b2: c2.map(tsign), merged };
}

law(
  'signOfZero 0 (official): a latent exactly 0 gives code 0, and the forward equals the reference formula',
  [
    fc.record({ shape: kernelShape(), granularity }).chain(({ shape, granularity }) => {
      const elem = fc.oneof(fc.constant(0), fc.constant(-0), element(0.02, 1.5));
      return fc.record({ granularity: fc.constant(granularity), w1: tensorOf(shape, elem), w2: tensorOf(shape, elem) });
    }),
  ],
  ({ granularity, w1, w2 }) => {
    const f = sttn.forward(B, { w1, w2 }, cfgOf({ gradient: 'official', granularity, signOfZero: 0 }));
    const ref = officialReference(w1, w2, granularity);
    const zerosGiveZero = Array.from(w1.data).every((x, i) => x !== 0 || f.b1.data[i] === 0) && Array.from(w2.data).every((x, i) => x !== 0 || f.b2.data[i] === 0);
    return (
      zerosGiveZero &&
      tensorEqual(f.b1, tensor(w1.shape, ref.b1)) &&
      tensorEqual(f.b2, tensor(w2.shape, ref.b2)) &&
      tensorClose(f.merged, tensor(w1.shape, ref.merged), 1e-12, 1e-15)
    );
  },
);

example('signOfZero defaults to 1: under official a latent 0 still gives code +1', () => {
  const f = sttn.forward(B, { w1: tensor([1, 2], [0, 0.5]), w2: tensor([1, 2], [0, -0.5]) }, cfgOf({ gradient: 'official' }));
  return cfgOf({}).signOfZero === 1 && f.b1.data[0] === 1 && f.b2.data[0] === 1;
});

example('signOfZero 0 with a variant other than official: a Left naming signOfZero and the gradient', () =>
  throwsWith(() => cfgOf({ signOfZero: 0 }), ConfigError, 'signOfZero', 'exact') && throwsWith(() => cfgOf({ gradient: 'official', signOfZero: 2 }), ConfigError, 'signOfZero'));
