/**
 * Laws of the quantizer registry (src/quantizers/index.ts): `kernelQuantizer` for fp, sign, twn,
 * ttq, sttn and `activationQuantizer` for fp, ste_sign, ternary.
 *
 * - a bare id string and `{ id, config }` both bind, and `specOf` round-trips (binding the spec
 *   again, also after JSON, gives the same config);
 * - an unknown id is a Left naming `kernelQuantizer.id` / `inputQuantizer.id` and the allowed ids;
 *   a bad config is a Left naming the field; a misspelt spec key is a Left too;
 * - the bound `forward`/`backward` equal the module functions; for sttn the bound forward is the
 *   merged kernel α(B1 + B2) and the bound backward with upstream g is `sttn.backward` with
 *   g1 = g2 = g (Eq. 7 in gradient form: dL/dW̃1 = dL/dW̃2 = dL/d(merged));
 * - `codes()` is the deployable form: dequantizing it gives the forward exactly (sttn: codes in
 *   {−1, 0, 1} with scale 2α; ttq: scalePos on positive codes, scaleNeg on negative ones);
 * - `init` gives the parameters each quantizer needs; sttn draws two different kernels;
 * - latents in the overflow range make the bound forward or backward (what a layer calls) throw
 *   an OverflowError naming the quantizer, never return ±Infinity or NaN.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { isDeepStrictEqual } from 'node:util';
import { cpu64 } from '../backends/cpu.js';
import { orThrow } from '../src/codec.js';
import { ConfigError } from '../src/errors.js';
import {
  activation,
  ACTIVATION_QUANTIZER_IDS,
  activationQuantizer,
  KERNEL_QUANTIZER_IDS,
  kernelQuantizer,
  sign,
  specOf,
  sttn,
  ttq,
  twn,
  type KernelCodes,
  type KernelQuantizer,
} from '../src/quantizers/index.js';
import { OverflowError } from '../src/errors.js';
import { sumGrads, type Params } from '../src/quantizers/common.js';
import { normal, rng, type Rng } from '../src/random.js';
import { tensor, tensorEqual, type Tensor } from '../src/tensor.js';
import { example, law } from './law.js';
import { clip, element, gradElement, granularity, kernelShape, tensorOf, termsHoldClaims } from './gradcheck.js';

const B = cpu64;

// ---- arbitrary valid specs ---------------------------------------------------------------------

const kernelConfig: Record<string, fc.Arbitrary<Record<string, unknown>>> = {
  fp: fc.constant({}),
  sign: fc.record({ granularity, clip, gradient: fc.constantFrom('exact', 'xnor') }, { requiredKeys: [], noNullPrototype: true }),
  twn: fc.record({ granularity, clip, delta: fc.constantFrom(0.7, 0.5, 1), gradient: fc.constantFrom('ste', 'exact') }, { requiredKeys: [], noNullPrototype: true }),
  ttq: fc.record({ granularity, threshold: fc.constantFrom(0.05, 0.3, 0.6) }, { requiredKeys: [], noNullPrototype: true }),
  sttn: fc.record({ granularity, clip, gradient: fc.constantFrom('exact', 'paper', 'official') }, { requiredKeys: [], noNullPrototype: true }),
};
const activationConfig: Record<string, fc.Arbitrary<Record<string, unknown>>> = {
  fp: fc.constant({}),
  ste_sign: fc.record({ clip }, { requiredKeys: [], noNullPrototype: true }),
  ternary: fc.record({ clip, threshold: fc.constantFrom(0.5, 0.25, 1), boundary: fc.constantFrom('paper', 'official') }, { requiredKeys: [], noNullPrototype: true }),
};

const kernelSpec = fc.constantFrom(...KERNEL_QUANTIZER_IDS).chain((id) => kernelConfig[id].map((config) => ({ id, config })));
const activationSpec = fc.constantFrom(...ACTIVATION_QUANTIZER_IDS).chain((id) => activationConfig[id].map((config) => ({ id, config })));

/** What each module's own decoder makes of a config (fp takes none). */
const moduleConfig = (id: string, raw: unknown): unknown => {
  switch (id) {
    case 'sign': return orThrow(sign.decodeConfig(raw));
    case 'twn': return orThrow(twn.decodeConfig(raw));
    case 'ttq': return orThrow(ttq.decodeConfig(raw));
    case 'sttn': return orThrow(sttn.decodeConfig(raw));
    case 'ste_sign': return orThrow(activation.decodeSteSignConfig(raw));
    case 'ternary': return orThrow(activation.decodeTernaryConfig(raw));
    default: return {};
  }
};

// ---- binding and spec round trips --------------------------------------------------------------

law('kernelQuantizer: {id, config} binds the config the module decodes; a bare id binds the defaults', [kernelSpec], ({ id, config }) => {
  const q = kernelQuantizer({ id, config });
  const bare = kernelQuantizer(id);
  return E.isRight(q) && q.right.id === id && isDeepStrictEqual(q.right.config, moduleConfig(id, config)) && E.isRight(bare) && isDeepStrictEqual(bare.right.config, moduleConfig(id, {}));
}, { numRuns: 60 });

law('activationQuantizer: {id, config} binds the config the module decodes; a bare id binds the defaults', [activationSpec], ({ id, config }) => {
  const q = activationQuantizer({ id, config });
  const bare = activationQuantizer(id);
  return E.isRight(q) && q.right.id === id && isDeepStrictEqual(q.right.config, moduleConfig(id, config)) && E.isRight(bare) && isDeepStrictEqual(bare.right.config, moduleConfig(id, {}));
}, { numRuns: 40 });

law('specOf round-trips: binding the spec again (also after JSON) gives the same id and config', [kernelSpec, activationSpec], (ks, as) => {
  const k = orThrow(kernelQuantizer(ks));
  const a = orThrow(activationQuantizer(as));
  const k2 = kernelQuantizer(JSON.parse(JSON.stringify(specOf(k))));
  const a2 = activationQuantizer(JSON.parse(JSON.stringify(specOf(a))));
  const k3 = kernelQuantizer(specOf(k));
  return (
    E.isRight(k2) && E.isRight(a2) && E.isRight(k3) &&
    isDeepStrictEqual(specOf(k2.right), specOf(k)) && isDeepStrictEqual(specOf(k3.right), specOf(k)) && isDeepStrictEqual(specOf(a2.right), specOf(a))
  );
}, { numRuns: 60 });

// ---- Lefts -------------------------------------------------------------------------------------

law('an unknown id is a Left naming kernelQuantizer.id / inputQuantizer.id and the allowed ids', [
  fc.string({ maxLength: 10 }).filter((s) => !(KERNEL_QUANTIZER_IDS as readonly string[]).includes(s) && !(ACTIVATION_QUANTIZER_IDS as readonly string[]).includes(s)),
  fc.boolean(),
], (id, bare) => {
  const k = kernelQuantizer(bare ? id : { id, config: {} });
  const a = activationQuantizer(bare ? id : { id });
  return (
    E.isLeft(k) && k.left.field === 'kernelQuantizer.id' && k.left.message.includes('fp, sign, twn, ttq, sttn') &&
    E.isLeft(a) && a.left.field === 'inputQuantizer.id' && a.left.message.includes('fp, ste_sign, ternary')
  );
});

example('an activation id is not a kernel id and vice versa', () => {
  const k = kernelQuantizer('ternary');
  const a = activationQuantizer('sttn');
  return E.isLeft(k) && k.left.field === 'kernelQuantizer.id' && E.isLeft(a) && a.left.field === 'inputQuantizer.id';
});

example('a spec that is not a string or a record is a Left naming kernelQuantizer / inputQuantizer', () =>
  [5, null, true, [], { config: {} }, { id: 3 }].every((s) => {
    const k = kernelQuantizer(s);
    const a = activationQuantizer(s);
    return E.isLeft(k) && k.left.field.startsWith('kernelQuantizer') && E.isLeft(a) && a.left.field.startsWith('inputQuantizer');
  }));

const badConfigs: readonly [string, Record<string, unknown>, string][] = [
  ['sign', { gradient: 'ste' }, 'sign.gradient'],
  ['sign', { granularity: 'layer' }, 'sign.granularity'],
  ['twn', { delta: -1 }, 'twn.delta'],
  ['ttq', { threshold: 1 }, 'ttq.threshold'],
  ['sttn', { gradient: 'chain' }, 'sttn.gradient'],
  ['sttn', { granularty: 'tensor' }, 'sttn'],
  ['fp', { clip: 1 }, 'fp'],
];
example('a bad kernel config is a Left naming the field', () =>
  badConfigs.every(([id, config, field]) => {
    const q = kernelQuantizer({ id, config });
    return E.isLeft(q) && q.left instanceof ConfigError && q.left.field === field;
  }) &&
  // a union-typed field (clip: number or null) names its path, possibly followed by io-ts' member index
  (['sign', 'twn', 'sttn'] as const).every((id) => {
    const q = kernelQuantizer({ id, config: { clip: -1 } });
    return E.isLeft(q) && q.left.field.startsWith(`${id}.clip`);
  }));

example('a bad activation config is a Left naming the field', () => {
  const cases: readonly [string, unknown, string][] = [
    ['ternary', { boundary: 'cuda' }, 'ternary.boundary'],
    ['ternary', { threshold: 0 }, 'ternary.threshold'],
    ['ste_sign', { threshold: 0.5 }, 'ste_sign'],
    ['fp', { clip: 1 }, 'fp'],
  ];
  return cases.every(([id, config, field]) => {
    const q = activationQuantizer({ id, config });
    return E.isLeft(q) && q.left.field === field;
  });
});

example('a misspelt spec key (confg for config) is a Left, not a silently default config', () => {
  const k = kernelQuantizer({ id: 'sttn', confg: { gradient: 'paper' } });
  const a = activationQuantizer({ id: 'ternary', confg: { threshold: 0.25 } });
  return E.isLeft(k) && k.left.message.includes('confg') && E.isLeft(a) && a.left.message.includes('confg');
});

example('fp takes no config, for kernels and activations alike (an array is not an empty config)', () =>
  E.isLeft(kernelQuantizer({ id: 'fp', config: [] })) && E.isLeft(activationQuantizer({ id: 'fp', config: [] })));

// ---- bound forward / backward equal the modules' --------------------------------------------------

/** A kernel spec with parameters and an upstream gradient (float64, away from sign flips and windows). */
const kernelCaseOf = (specs: fc.Arbitrary<{ id: string; config: Record<string, unknown> }>) =>
  specs.chain(({ id, config }) =>
    kernelShape().chain((shape) => {
      const q = orThrow(kernelQuantizer({ id, config }));
      const cfg = q.config as { clip?: number | null };
      const elem = element(0.02, 2.5, typeof cfg.clip === 'number' ? [cfg.clip] : []);
      const s = q.config.granularity === 'channel' ? [shape[0]] : [];
      return fc.record({
        q: fc.constant(q),
        w: tensorOf(shape, elem),
        w2: tensorOf(shape, elem),
        wp: tensorOf(s, fc.double({ min: 0.1, max: 3, noNaN: true })),
        wn: tensorOf(s, fc.double({ min: 0.1, max: 3, noNaN: true })),
        g: tensorOf(shape, gradElement),
      });
    }),
  );
const kernelCase = kernelCaseOf(kernelSpec);
const specOfId = (id: string) => kernelConfig[id].map((config) => ({ id, config }));

/** The parameter record each kernel quantizer takes. */
const paramsOf = (q: KernelQuantizer, c: { w: Tensor; w2: Tensor; wp: Tensor; wn: Tensor }): Params =>
  q.id === 'sttn' ? { w1: c.w, w2: c.w2 } : q.id === 'ttq' ? { w: c.w, wp: c.wp, wn: c.wn } : { w: c.w };

const recordsEqual = (a: Params, b: Params): boolean =>
  isDeepStrictEqual(Object.keys(a).sort(), Object.keys(b).sort()) && Object.keys(b).every((k) => tensorEqual(a[k], b[k]));

law('kernel quantizers: the bound forward and backward equal the module functions', [kernelCase], (c) => {
  const { q, g } = c;
  const p = paramsOf(q, c);
  const { w, res } = q.forward(B, p);
  const d = q.backward(B, p, res, g);
  switch (q.id) {
    case 'fp':
      return tensorEqual(w, p.w) && recordsEqual(d, { w: g });
    case 'sign': {
      const cfg = q.config as sign.SignConfig;
      const f = sign.forward(B, { w: p.w }, cfg);
      return tensorEqual(w, f.y) && recordsEqual(d, sign.backward(B, f, g, cfg));
    }
    case 'twn': {
      const cfg = q.config as twn.TwnConfig;
      const f = twn.forward(B, { w: p.w }, cfg);
      return tensorEqual(w, f.y) && recordsEqual(d, twn.backward(B, f, g, cfg));
    }
    case 'ttq': {
      const cfg = q.config as ttq.TtqConfig;
      const f = ttq.forward(B, p as ttq.TtqParams, cfg);
      return tensorEqual(w, f.y) && recordsEqual(d, ttq.backward(B, f, g, cfg));
    }
    case 'sttn': {
      const cfg = q.config as sttn.SttnConfig;
      const f = sttn.forward(B, p as sttn.SttnParams, cfg);
      // Eq. 7: both kernels see the same input and their outputs add, so each receives g.
      return tensorEqual(w, f.merged) && tensorEqual(w, B.binary('add', f.w1q, f.w2q)) && recordsEqual(d, sttn.backward(B, f, { g1: g, g2: g }, cfg));
    }
  }
}, { numRuns: 80 });

/**
 * What a layer gets: the bound forward/backward of every kernel quantizer, fed latents of
 * magnitude 0.9·max (float64) in groups of two or more (so Σ|W| overflows) and an upstream
 * gradient that follows sign(W) (so Σ sign(W)·g overflows where the latents are clipped first,
 * under sttn `official`; TTQ's W and g are positive, so Σ_{W>Δ} g overflows).
 */
law('kernel quantizers: latents near the float64 max throw an OverflowError naming the quantizer from the bound forward or backward; fp stays finite', [
  kernelCase.filter(({ q, w }) => w.data.length / (q.config.granularity === 'channel' ? w.shape[0] : 1) >= 2),
], (c) => {
  const { q } = c;
  const huge = (t: Tensor) => tensor(t.shape, Float64Array.from(t.data, (x) => (x < 0 && q.id !== 'ttq' ? -0.9 : 0.9) * Number.MAX_VALUE));
  const [w, w2] = [huge(c.w), huge(c.w2)];
  const p = paramsOf(q, { ...c, w, w2 });
  try {
    const { w: y, res } = q.forward(B, p);
    const d = q.backward(B, p, res, w);
    return q.id === 'fp' && y.data.every(Number.isFinite) && Object.values(d).every((t) => t.data.every(Number.isFinite));
  } catch (e) {
    return q.id !== 'fp' && e instanceof OverflowError && e.quantizer === q.id;
  }
}, { numRuns: 60 });

/** An sttn kernel quantizer and a pair drawn away from sign flips and the STE window's edge. */
const sttnCase = fc.record({ shape: kernelShape(), granularity, clip, gradient: fc.constantFrom<sttn.SttnGradient>('exact', 'paper', 'official') }).chain(({ shape, ...config }) => {
  // `official` clips latent weights to [−1, 1]; drawing inside keeps that clip the identity.
  const elem = config.gradient === 'official' ? element(0.02, 0.97) : element(0.02, 2.5, config.clip === null ? [] : [config.clip]);
  return fc.record({ q: fc.constant(orThrow(kernelQuantizer({ id: 'sttn', config }))), w1: tensorOf(shape, elem), w2: tensorOf(shape, elem), g: tensorOf(shape, gradElement) });
});

law('Eq. 7 in gradient form: the bound sttn backward with g is the VJP of the merged kernel α(B1 + B2), each term holding its claim', [sttnCase], ({ q, w1, w2, g }) => {
  const cfg = q.config as sttn.SttnConfig;
  const p = { w1, w2 };
  const d = q.backward(B, p, q.forward(B, p).res, g);
  const f = sttn.forward(B, p, cfg);
  const terms = sttn.terms(B, f, { g1: g, g2: g }, cfg);
  // ⟨g, merged⟩ = ⟨g, W̃1⟩ + ⟨g, W̃2⟩: the cotangent of the merged kernel reaches both kernels unchanged.
  const merged = (r: sttn.SttnParams) => {
    const m = sttn.forward(B, r, cfg).merged;
    return [m, B.scalar('mul', m, 0)] as const;
  };
  return recordsEqual(d, sumGrads(B, terms)) && termsHoldClaims(B, p, merged, terms, [g, g] as const, `registry sttn/${cfg.gradient}`);
}, { numRuns: 40 });

law('activation quantizers: the bound forward and backward equal the module functions', [
  activationSpec.chain(({ id, config }) =>
    fc.integer({ min: 1, max: 12 }).chain((n) =>
      fc.record({ q: fc.constant(orThrow(activationQuantizer({ id, config }))), x: tensorOf([n], fc.double({ min: -3, max: 3, noNaN: true })), g: tensorOf([n], gradElement) }),
    ),
  ),
], ({ q, x, g }) => {
  const y = q.forward(B, x);
  const d = q.backward(B, x, g);
  switch (q.id) {
    case 'fp':
      return tensorEqual(y, x) && tensorEqual(d, g);
    case 'ste_sign': {
      const cfg = q.config as activation.SteSignConfig;
      return tensorEqual(y, activation.steSignForward(B, x, cfg)) && tensorEqual(d, activation.activationBackward(B, x, g, cfg.clip));
    }
    case 'ternary': {
      const cfg = q.config as activation.TernaryConfig;
      return tensorEqual(y, activation.ternaryForward(B, x, cfg)) && tensorEqual(d, activation.activationBackward(B, x, g, cfg.clip));
    }
  }
});

// ---- codes(): the deployable form --------------------------------------------------------------

/** The kernel the deployable codes stand for, computed element by element. */
function dequantize(k: KernelCodes, shape: readonly number[]): Float64Array {
  if (k.kind === 'float') return Float64Array.from(k.w.data);
  const n = k.codes.data.length;
  const at = (s: Tensor, i: number) => (s.data.length === 1 ? s.data[0] : s.data[Math.floor(i / (n / shape[0]))]);
  return Float64Array.from(k.codes.data, (c, i) => {
    if (k.kind === 'binary') return at(k.scale, i) * c;
    return c > 0 ? at(k.scalePos, i) * c : c < 0 ? at(k.scaleNeg, i) * c : 0;
  });
}

law('codes(): dequantizing the deployable form gives the forward exactly', [kernelCase], (c) => {
  const { q } = c;
  const p = paramsOf(q, c);
  const k = q.codes(B, p);
  const want = q.forward(B, p).w;
  const kindOk = { fp: 'float', sign: 'binary', twn: 'ternary', ttq: 'ternary', sttn: 'ternary' }[q.id] === k.kind;
  const codesOk = k.kind === 'float' || k.codes.data.every((v) => (k.kind === 'binary' ? v === 1 || v === -1 : v === 1 || v === 0 || v === -1));
  return kindOk && codesOk && tensorEqual(tensor(want.shape, dequantize(k, want.shape)), want);
}, { numRuns: 80 });

law('codes(): sttn deploys codes (B1 + B2)/2 ∈ {−1, 0, 1} with scale 2α on both signs (Eq. 6–7)', [kernelCaseOf(specOfId('sttn'))], (c) => {
  const p = { w1: c.w, w2: c.w2 };
  const k = c.q.codes(B, p);
  const f = sttn.forward(B, p, c.q.config as sttn.SttnConfig);
  return (
    k.kind === 'ternary' &&
    tensorEqual(k.codes, B.scalar('mul', f.codes, 0.5)) &&
    tensorEqual(k.scalePos, B.scalar('mul', f.alpha, 2)) &&
    tensorEqual(k.scaleNeg, k.scalePos) &&
    tensorEqual(tensor(f.merged.shape, dequantize(k, f.merged.shape)), f.merged)
  );
}, { numRuns: 40 });

law('codes(): ttq deploys scalePos = Wp and scaleNeg = Wn; scalePos·[c>0]·c + scaleNeg·[c<0]·c is the forward', [kernelCaseOf(specOfId('ttq'))], (c) => {
  const p = { w: c.w, wp: c.wp, wn: c.wn };
  const k = c.q.codes(B, p);
  const y = c.q.forward(B, p).w;
  return k.kind === 'ternary' && tensorEqual(k.scalePos, c.wp) && tensorEqual(k.scaleNeg, c.wn) && tensorEqual(tensor(y.shape, dequantize(k, y.shape)), y);
}, { numRuns: 40 });

// ---- init --------------------------------------------------------------------------------------

const drawNormal = (shape: readonly number[], r: Rng): Tensor => {
  const n = shape.reduce((a, b) => a * b, 1);
  return tensor(shape, Float64Array.from({ length: n }, () => normal(r)));
};

law('init: the parameters each quantizer takes, of the kernel shape; sttn draws two different kernels', [
  kernelSpec,
  kernelShape(),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
], ({ id, config }, shape, seed) => {
  const q = orThrow(kernelQuantizer({ id, config }));
  const p = q.init(shape, rng(seed), drawNormal);
  const sameShape = (t: Tensor, s: readonly number[]) => isDeepStrictEqual([...t.shape], [...s]);
  switch (q.id) {
    case 'sttn':
      return isDeepStrictEqual(Object.keys(p).sort(), ['w1', 'w2']) && sameShape(p.w1, shape) && sameShape(p.w2, shape) && !tensorEqual(p.w1, p.w2);
    case 'ttq': {
      const s = q.config.granularity === 'channel' ? [shape[0]] : [];
      return (
        isDeepStrictEqual(Object.keys(p).sort(), ['w', 'wn', 'wp']) && sameShape(p.w, shape) && sameShape(p.wp, s) && sameShape(p.wn, s) &&
        p.wp.data.every((v) => v === 1) && p.wn.data.every((v) => v === 1)
      );
    }
    default:
      return isDeepStrictEqual(Object.keys(p), ['w']) && sameShape(p.w, shape);
  }
}, { numRuns: 60 });

law('init is deterministic in the generator: the same seed gives the same parameters', [kernelSpec, kernelShape(), fc.integer({ min: 0, max: 2 ** 31 - 1 })], ({ id, config }, shape, seed) => {
  const q = orThrow(kernelQuantizer({ id, config }));
  return recordsEqual(q.init(shape, rng(seed), drawNormal), q.init(shape, rng(seed), drawNormal));
}, { numRuns: 30 });
