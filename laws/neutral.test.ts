/**
 * Laws of the framework-neutral entry points (backends/neutral.ts): sttn, sign, twn, ttq, ternary
 * and steSign.
 *
 * - each `forward`/`gradient` equals the quantizer module's forward/backward on `cpu64` for
 *   Float64Array input and on `cpu32` for Float32Array input, and the output dtype follows the
 *   input (float64 as soon as any input is float64);
 * - plain number arrays are accepted and count as float64;
 * - bad input throws a typed error naming what is wrong: ConfigError (the config field),
 *   ShapeError (data length vs shape, two kernels of different shapes, an upstream gradient of the
 *   wrong shape) and NonFiniteError (the tensor's name);
 * - ttq's gradient returns `wp` and `wn`, with dWp = Σ_{W>Δ} g and dWn = −Σ_{W<−Δ} g per group;
 * - overflow: any finite input, float64 up to ±1.8e308 or float32 up to ±3.4e38, gives only
 *   finite results or an OverflowError naming the quantizer; inputs near the dtype's max whose
 *   sums overflow (Σ|W| of a scale, Σ g of a gradient) give that OverflowError, naming the
 *   quantity and the dtype; the activations, which cannot overflow, stay finite there.
 */
import fc from 'fast-check';
import { cpu32, cpu64 } from '../backends/cpu.js';
import * as neutral from '../backends/neutral.js';
import type { Backend } from '../src/backend.js';
import { orThrow } from '../src/codec.js';
import { ConfigError, NonFiniteError, ShapeError } from '../src/errors.js';
import * as activation from '../src/quantizers/activation.js';
import { OverflowError } from '../src/errors.js';
import * as signQ from '../src/quantizers/sign.js';
import * as sttnQ from '../src/quantizers/sttn.js';
import * as ttqQ from '../src/quantizers/ttq.js';
import * as twnQ from '../src/quantizers/twn.js';
import { dtypeOf, tensor, tensorEqual, type Tensor } from '../src/tensor.js';
import { example, law, throwsWith } from './law.js';
import { clip, granularity, kernelShape } from './gradcheck.js';

type Tensors = Record<string, Tensor>;
type Like = neutral.TensorLike;
type Likes = Record<string, Like>;

/** One entry point, how to call it, and what it must equal. */
interface Entry {
  readonly name: string;
  /** The names of the parameter tensors and of the upstream gradients. */
  readonly params: readonly string[];
  readonly upstream: readonly string[];
  /** Scale tensors (TTQ's wp, wn): positive and of the granularity's scale shape. */
  readonly scales?: readonly string[];
  readonly configs: fc.Arbitrary<Record<string, unknown>>;
  /** The quantizer id an OverflowError names, or null where nothing can overflow (activations). */
  readonly id: string | null;
  readonly fwdNeutral: (p: Likes, cfg: unknown) => Tensors;
  readonly gradNeutral: (p: Likes, up: Likes, cfg: unknown) => Tensors;
  readonly viaModule: (B: Backend, p: Tensors, up: Tensors, cfg: unknown) => { fwd: Tensors; grad: Tensors };
}

const opt = { requiredKeys: [] as never[], noNullPrototype: true };

const entries: readonly Entry[] = [
  {
    name: 'sttn',
    params: ['w1', 'w2'],
    upstream: ['g1', 'g2'],
    configs: fc.record({ granularity, clip, gradient: fc.constantFrom('exact', 'paper', 'official') }, opt),
    id: 'sttn',
    fwdNeutral: (p, cfg) => neutral.sttn.forward({ w1: p.w1, w2: p.w2 }, cfg as never),
    gradNeutral: (p, up, cfg) => neutral.sttn.gradient({ w1: p.w1, w2: p.w2 }, { g1: up.g1, g2: up.g2 }, cfg as never),
    viaModule: (B, p, up, raw) => {
      const cfg = orThrow(sttnQ.decodeConfig(raw));
      const f = sttnQ.forward(B, { w1: p.w1, w2: p.w2 }, cfg);
      const d = sttnQ.backward(B, f, { g1: up.g1, g2: up.g2 }, cfg);
      return { fwd: { w1q: f.w1q, w2q: f.w2q, merged: f.merged, codes: f.codes, alpha: f.alpha }, grad: { w1: d.w1, w2: d.w2 } };
    },
  },
  {
    name: 'sign',
    params: ['w'],
    upstream: ['g'],
    configs: fc.record({ granularity, clip, gradient: fc.constantFrom('exact', 'xnor') }, opt),
    id: 'sign',
    fwdNeutral: (p, cfg) => neutral.sign.forward({ w: p.w }, cfg as never),
    gradNeutral: (p, up, cfg) => neutral.sign.gradient({ w: p.w }, { g: up.g }, cfg as never),
    viaModule: (B, p, up, raw) => {
      const cfg = orThrow(signQ.decodeConfig(raw));
      const f = signQ.forward(B, { w: p.w }, cfg);
      return { fwd: { y: f.y, codes: f.codes, alpha: f.alpha }, grad: { w: signQ.backward(B, f, up.g, cfg).w } };
    },
  },
  {
    name: 'twn',
    params: ['w'],
    upstream: ['g'],
    configs: fc.record({ granularity, clip, delta: fc.constantFrom(0.7, 0.5, 1), gradient: fc.constantFrom('ste', 'exact') }, opt),
    id: 'twn',
    fwdNeutral: (p, cfg) => neutral.twn.forward({ w: p.w }, cfg as never),
    gradNeutral: (p, up, cfg) => neutral.twn.gradient({ w: p.w }, { g: up.g }, cfg as never),
    viaModule: (B, p, up, raw) => {
      const cfg = orThrow(twnQ.decodeConfig(raw));
      const f = twnQ.forward(B, { w: p.w }, cfg);
      return { fwd: { y: f.y, codes: f.codes, alpha: f.alpha, delta: f.delta }, grad: { w: twnQ.backward(B, f, up.g, cfg).w } };
    },
  },
  {
    name: 'ttq',
    params: ['w', 'wp', 'wn'],
    upstream: ['g'],
    scales: ['wp', 'wn'],
    configs: fc.record({ granularity, threshold: fc.constantFrom(0.05, 0.3, 0.6) }, opt),
    id: 'ttq',
    fwdNeutral: (p, cfg) => neutral.ttq.forward(p as { w: Like }, cfg as never),
    gradNeutral: (p, up, cfg) => neutral.ttq.gradient(p as { w: Like }, { g: up.g }, cfg as never),
    viaModule: (B, p, up, raw) => {
      const cfg = orThrow(ttqQ.decodeConfig(raw));
      const f = ttqQ.forward(B, { w: p.w, wp: p.wp, wn: p.wn }, cfg);
      const d = ttqQ.backward(B, f, up.g, cfg);
      return { fwd: { y: f.y, codes: f.codes, delta: f.delta }, grad: { w: d.w, wp: d.wp, wn: d.wn } };
    },
  },
  {
    name: 'ternary',
    params: ['x'],
    upstream: ['g'],
    configs: fc.record({ clip, threshold: fc.constantFrom(0.5, 0.25, 1), boundary: fc.constantFrom('paper', 'official') }, opt),
    id: null,
    fwdNeutral: (p, cfg) => neutral.ternary.forward({ x: p.x }, cfg as never),
    gradNeutral: (p, up, cfg) => neutral.ternary.gradient({ x: p.x }, { g: up.g }, cfg as never),
    viaModule: (B, p, up, raw) => {
      const cfg = orThrow(activation.decodeTernaryConfig(raw));
      return { fwd: { y: activation.ternaryForward(B, p.x, cfg) }, grad: { x: activation.activationBackward(B, p.x, up.g, cfg.clip) } };
    },
  },
  {
    name: 'steSign',
    params: ['x'],
    upstream: ['g'],
    configs: fc.record({ clip }, opt),
    id: null,
    fwdNeutral: (p, cfg) => neutral.steSign.forward({ x: p.x }, cfg as never),
    gradNeutral: (p, up, cfg) => neutral.steSign.gradient({ x: p.x }, { g: up.g }, cfg as never),
    viaModule: (B, p, up, raw) => {
      const cfg = orThrow(activation.decodeSteSignConfig(raw));
      return { fwd: { y: activation.steSignForward(B, p.x, cfg) }, grad: { x: activation.activationBackward(B, p.x, up.g, cfg.clip) } };
    },
  },
];

const viaNeutral = (e: Entry, p: Likes, up: Likes, cfg: unknown): { fwd: Tensors; grad: Tensors } => ({ fwd: e.fwdNeutral(p, cfg), grad: e.gradNeutral(p, up, cfg) });

/** Inputs of an entry as float64 tensors: parameters (incl. scales) and upstream gradients. */
interface Case {
  readonly cfg: Record<string, unknown>;
  readonly p: Tensors;
  readonly up: Tensors;
}

// Values are drawn float32-representable so that the float32 and float64 calls see the same numbers;
// nothing is kept away from thresholds, because both sides of each law run the same code.
const value = fc.double({ min: -3, max: 3, noNaN: true }).map(Math.fround);
const scaleValue = fc.double({ min: 0.1, max: 3, noNaN: true }).map(Math.fround);
const f64Of = (shape: readonly number[], elem: fc.Arbitrary<number>): fc.Arbitrary<Tensor> => {
  const n = shape.reduce((a, b) => a * b, 1);
  return fc.array(elem, { minLength: n, maxLength: n }).map((xs) => tensor(shape, Float64Array.from(xs)));
};

const caseOf = (e: Entry): fc.Arbitrary<Case> =>
  fc.record({ cfg: e.configs, shape: kernelShape() }).chain(({ cfg, shape }) => {
    const scaleShape = cfg.granularity === 'channel' ? [shape[0]] : [];
    const tensors = (names: readonly string[]) =>
      fc.record(Object.fromEntries(names.map((k) => [k, e.scales?.includes(k) ? f64Of(scaleShape, scaleValue) : f64Of(shape, value)])) as Record<string, fc.Arbitrary<Tensor>>);
    return fc.record({ cfg: fc.constant(cfg), p: tensors(e.params), up: tensors(e.upstream) });
  });

const to32 = (ts: Tensors): Tensors => Object.fromEntries(Object.entries(ts).map(([k, t]) => [k, tensor(t.shape, Float32Array.from(t.data))]));
const toPlain = (ts: Tensors): Likes => Object.fromEntries(Object.entries(ts).map(([k, t]) => [k, { shape: [...t.shape], data: Array.from(t.data) }]));

/** Same keys, each tensor equal (−0 = +0) and of `dtype`. */
const sameRecords = (a: Tensors, b: Tensors, dtype: 'float32' | 'float64'): boolean =>
  Object.keys(a).length === Object.keys(b).length && Object.keys(b).every((k) => k in a && tensorEqual(a[k], b[k]) && dtypeOf(a[k]) === dtype);

const agrees = (x: { fwd: Tensors; grad: Tensors }, y: { fwd: Tensors; grad: Tensors }, dtype: 'float32' | 'float64'): boolean =>
  sameRecords(x.fwd, y.fwd, dtype) && sameRecords(x.grad, y.grad, dtype);

for (const e of entries) {
  law(`neutral.${e.name}: Float64Array input equals the module on cpu64, with float64 output`, [caseOf(e)], ({ cfg, p, up }) =>
    agrees(viaNeutral(e, p, up, cfg), e.viaModule(cpu64, p, up, cfg), 'float64'), { numRuns: 40 });

  law(`neutral.${e.name}: Float32Array input equals the module on cpu32, with float32 output`, [caseOf(e)], ({ cfg, p, up }) => {
    const [p32, up32] = [to32(p), to32(up)];
    return agrees(viaNeutral(e, p32, up32, cfg), e.viaModule(cpu32, p32, up32, cfg), 'float32');
  }, { numRuns: 40 });

  law(`neutral.${e.name}: plain number arrays are accepted and count as float64`, [caseOf(e)], ({ cfg, p, up }) =>
    agrees(viaNeutral(e, toPlain(p), toPlain(up), cfg), e.viaModule(cpu64, p, up, cfg), 'float64'), { numRuns: 25 });

  law(`neutral.${e.name}: mixed dtypes compute in float64 as soon as any input is float64`, [
    caseOf(e),
    fc.array(fc.boolean(), { minLength: e.params.length + e.upstream.length, maxLength: e.params.length + e.upstream.length }),
  ], ({ cfg, p, up }, wide) => {
    const names = [...e.params, ...e.upstream];
    const mix = (ts: Tensors): Tensors =>
      Object.fromEntries(Object.entries(ts).map(([k, t]) => [k, wide[names.indexOf(k)] ? t : tensor(t.shape, Float32Array.from(t.data))]));
    const [pm, upm] = [mix(p), mix(up)];
    const r = viaNeutral(e, pm, upm, cfg);
    // the forward's inputs are the parameters; the gradient's are the parameters and the upstream
    const fwdDtype = e.params.some((k) => wide[names.indexOf(k)]) ? 'float64' : 'float32';
    const gradDtype = wide.some(Boolean) ? 'float64' : 'float32';
    const at = (d: 'float32' | 'float64') => (d === 'float64' ? cpu64 : cpu32);
    return sameRecords(r.fwd, e.viaModule(at(fwdDtype), pm, upm, cfg).fwd, fwdDtype) && sameRecords(r.grad, e.viaModule(at(gradDtype), pm, upm, cfg).grad, gradDtype);
  }, { numRuns: 25 });
}

// ---- overflow -------------------------------------------------------------------------------------

const MAX = { float64: Number.MAX_VALUE, float32: 3.4028234663852886e38 } as const;
type DType = keyof typeof MAX;
const arrayOf = (dtype: DType, xs: number[]) => (dtype === 'float64' ? Float64Array.from(xs) : Float32Array.from(xs));
const tensorsOf = (dtype: DType, shape: readonly number[], names: readonly string[], elem: (k: string) => fc.Arbitrary<number>): fc.Arbitrary<Tensors> => {
  const n = shape.reduce((a, b) => a * b, 1);
  return fc.record(Object.fromEntries(names.map((k) => [k, fc.array(elem(k), { minLength: n, maxLength: n }).map((xs) => tensor(shape, arrayOf(dtype, xs)))])));
};

/**
 * Any finite value of the dtype: fast-check's doubles and floats cluster at 0 and at ±max, which
 * is where overflow lives; half the draws are moderate so that most cases do not overflow.
 */
const wideValue = (dtype: DType): fc.Arbitrary<number> =>
  fc.oneof(
    dtype === 'float64' ? fc.double({ noNaN: true, noDefaultInfinity: true }) : fc.float({ noNaN: true, noDefaultInfinity: true }),
    fc.double({ min: -3, max: 3, noNaN: true }).map(dtype === 'float64' ? (x) => x : Math.fround),
  );
const wideScale = (dtype: DType): fc.Arbitrary<number> =>
  fc.double({ min: 0.1, max: MAX[dtype], noNaN: true }).map(dtype === 'float64' ? (x) => x : Math.fround);

/** A magnitude in [0.7, 1]·max of the dtype: two of them already overflow a sum. */
const huge = (dtype: DType): fc.Arbitrary<number> => fc.double({ min: 0.7, max: 1, noNaN: true }).map((x) => (dtype === 'float64' ? x * MAX.float64 : Math.fround(x * MAX.float32)));
const signed = (m: fc.Arbitrary<number>): fc.Arbitrary<number> => fc.tuple(m, fc.boolean()).map(([x, neg]) => (neg ? -x : x));

const wideCaseOf = (e: Entry, dtype: DType): fc.Arbitrary<Case> =>
  fc.record({ cfg: e.configs, shape: kernelShape() }).chain(({ cfg, shape }) => {
    const scaleShape = cfg.granularity === 'channel' ? [shape[0]] : [];
    const pick = (names: readonly string[], sh: readonly number[]) => tensorsOf(dtype, sh, names, (k) => (e.scales?.includes(k) ? wideScale(dtype) : wideValue(dtype)));
    const plain = (names: readonly string[]) => names.filter((k) => !e.scales?.includes(k));
    return fc.record({
      cfg: fc.constant(cfg),
      p: fc.tuple(pick(plain(e.params), shape), pick(e.scales ?? [], scaleShape)).map(([a, b]) => ({ ...a, ...b })),
      up: pick(e.upstream, shape),
    });
  });

/** `call` returns only finite tensors, or throws an OverflowError that names `id` (never anything else). */
function finiteOrOverflow(id: string | null, call: () => Tensors): boolean {
  let r: Tensors;
  try {
    r = call();
  } catch (err) {
    return id !== null && err instanceof OverflowError && err.quantizer === id;
  }
  return Object.values(r).every((t) => t.data.every((v) => Number.isFinite(v)));
}

/** `call` throws an OverflowError naming `id`, a quantity starting with `quantity`, and `dtype`. */
function overflows(id: string | null, quantity: string, dtype: DType, call: () => unknown): boolean {
  try {
    call();
  } catch (err) {
    return err instanceof OverflowError && err.quantizer === id && err.quantity.startsWith(quantity) && err.dtype === dtype && err.message.includes(`${id}: ${err.quantity} overflows ${dtype}`);
  }
  return false;
}

/**
 * Inputs in the overflow range, where a sum that the quantizer forms (Σ|W| for the scale, Σ g for a
 * gradient) exceeds the dtype's max, and what must happen: the forward's and the gradient's
 * quantity that must overflow, or null where the result must be finite.
 */
interface OverflowPlan {
  readonly w: (dtype: DType) => fc.Arbitrary<number>;
  /** the upstream gradient at weight w */
  readonly g: (dtype: DType) => fc.Arbitrary<(w: number) => number>;
  readonly fwd: (cfg: Record<string, unknown>) => string | null;
  readonly grad: (cfg: Record<string, unknown>) => string | null;
}
const alongSign = (dtype: DType) => huge(dtype).map((m) => (w: number) => (w < 0 ? -m : m));
const plans: Record<string, OverflowPlan> = {
  // Σ|W1| + Σ|W2| overflows; under `official` the latents are clipped first, and Σ sign(W)·g overflows in the gradient
  sttn: { w: (d) => signed(huge(d)), g: alongSign, fwd: (c) => (c.gradient === 'official' ? null : 'α'), grad: () => 'α|dL/dw' },
  sign: { w: (d) => signed(huge(d)), g: alongSign, fwd: () => 'α', grad: () => 'α' },
  twn: { w: (d) => signed(huge(d)), g: alongSign, fwd: () => 'Δ', grad: () => 'Δ' },
  // Δ = t·max|W| < every W, so Σ_{W>Δ} g (dWp) overflows; the forward is Wp, −Wn or 0
  ttq: { w: huge, g: (d) => huge(d).map((m) => () => m), fwd: () => null, grad: () => 'dL/dw' },
  // y ∈ {−1, 0, 1} and g·1[|x| ≤ clip]: nothing can overflow
  ternary: { w: (d) => signed(huge(d)), g: (d) => signed(huge(d)).map((m) => () => m), fwd: () => null, grad: () => null },
  steSign: { w: (d) => signed(huge(d)), g: (d) => signed(huge(d)).map((m) => () => m), fwd: () => null, grad: () => null },
};

/** A shape whose groups (the whole tensor, or one channel) have at least two elements. */
const groupsOfTwo = (cfg: Record<string, unknown>) => kernelShape().filter((sh) => sh.reduce((a, b) => a * b, 1) / (cfg.granularity === 'channel' ? sh[0] : 1) >= 2);

const overflowCaseOf = (e: Entry, dtype: DType): fc.Arbitrary<Case> => {
  const plan = plans[e.name];
  return e.configs.chain((cfg) =>
    groupsOfTwo(cfg).chain((shape) => {
      const scaleShape = cfg.granularity === 'channel' ? [shape[0]] : [];
      const plain = e.params.filter((k) => !e.scales?.includes(k));
      return fc
        .record({
          p: tensorsOf(dtype, shape, plain, () => plan.w(dtype)),
          s: tensorsOf(dtype, scaleShape, e.scales ?? [], () => scaleValue),
          gs: fc.array(fc.array(plan.g(dtype), { minLength: shape.reduce((a, b) => a * b, 1), maxLength: shape.reduce((a, b) => a * b, 1) }), { minLength: e.upstream.length, maxLength: e.upstream.length }),
        })
        .map(({ p, s, gs }) => ({
          cfg,
          p: { ...p, ...s },
          // the k-th upstream gradient follows the k-th parameter (sttn: g1 ↔ w1, g2 ↔ w2)
          up: Object.fromEntries(e.upstream.map((k, j) => [k, tensor(shape, arrayOf(dtype, gs[j].map((f, i) => f(p[plain[Math.min(j, plain.length - 1)]].data[i]))))])),
        }));
    }),
  );
};

for (const e of entries) {
  for (const dtype of ['float64', 'float32'] as const) {
    law(`neutral.${e.name}: any finite ${dtype} input gives a finite result or an OverflowError naming ${e.id ?? 'it'}, never ±Infinity or NaN`, [wideCaseOf(e, dtype)], ({ cfg, p, up }) =>
      finiteOrOverflow(e.id, () => e.fwdNeutral(p, cfg)) && finiteOrOverflow(e.id, () => e.gradNeutral(p, up, cfg)), { numRuns: 60 });

    const plan = plans[e.name];
    law(`neutral.${e.name}: ${dtype} inputs near its max ${e.id === null ? 'give finite results (nothing can overflow)' : 'throw an OverflowError naming the quantizer, the quantity and the dtype'}`, [overflowCaseOf(e, dtype)], ({ cfg, p, up }) => {
      const expect = (q: string | null, call: () => Tensors) => (q === null ? finiteOrOverflow(null, call) : q.split('|').some((alt) => overflows(e.id, alt, dtype, call)));
      return expect(plan.fwd(cfg), () => e.fwdNeutral(p, cfg)) && expect(plan.grad(cfg), () => e.gradNeutral(p, up, cfg));
    }, { numRuns: 30 });
  }
}

// ---- TTQ's scale gradients -----------------------------------------------------------------------

law('neutral.ttq: dWp = Σ_{W>Δ} g and dWn = −Σ_{W<−Δ} g per group; Wp = Wn = 1 when omitted', [caseOf(entries[3]), fc.boolean()], ({ cfg, p, up }, omit) => {
  const params = omit ? { w: p.w } : { w: p.w, wp: p.wp, wn: p.wn };
  const d = neutral.ttq.gradient(params, { g: up.g }, cfg as never);
  const threshold = (cfg.threshold as number | undefined) ?? 0.05;
  const delta = Math.max(...Array.from(p.w.data, Math.abs)) * threshold;
  const groups = cfg.granularity === 'channel' ? p.w.shape[0] : 1;
  const n = p.w.data.length / groups;
  for (let c = 0; c < groups; c++) {
    let sp = 0;
    let sn = 0;
    for (let j = c * n; j < (c + 1) * n; j++) {
      if (p.w.data[j] > delta) sp += up.g.data[j];
      if (p.w.data[j] < -delta) sn += up.g.data[j];
    }
    if (Math.abs(d.wp.data[c] - sp) > 1e-12 || Math.abs(d.wn.data[c] + sn) > 1e-12) return false;
  }
  const f = neutral.ttq.forward(params, cfg as never);
  // with the default scales the forward is the codes themselves
  return d.wp.data.length === groups && d.wn.data.length === groups && (!omit || tensorEqual(f.y, f.codes));
}, { numRuns: 60 });

example('neutral.ttq golden: W = [1, −1, 0.01, 0.5], Wp = 2, Wn = 3, g = [1, 2, 3, 4] → dWp = 5, dWn = −2', () => {
  const p = { w: { shape: [4], data: [1, -1, 0.01, 0.5] }, wp: { shape: [], data: [2] }, wn: { shape: [], data: [3] } };
  const d = neutral.ttq.gradient(p, { g: { shape: [4], data: [1, 2, 3, 4] } });
  return tensorEqual(d.wp, tensor([], [5])) && tensorEqual(d.wn, tensor([], [-2])) && tensorEqual(d.w, tensor([4], [2, 6, 3, 8]));
});

// ---- bad input ---------------------------------------------------------------------------------

const v = (data: number[], shape: number[] = [data.length]): Like => ({ shape, data });
const ok2 = v([0.5, -1]);

/** `f` throws a ConfigError whose field is `field` (or starts with it, for a union-typed field). */
function configErrorNaming(f: () => unknown, field: string): boolean {
  try {
    f();
  } catch (err) {
    return err instanceof ConfigError && err.field.startsWith(field) && err.message.includes(field);
  }
  return false;
}

/** A config as untyped JavaScript may pass it: the types are bypassed, the runtime codec is not. */
const untyped = (cfg: unknown): never => cfg as never;

example('a bad config throws a ConfigError naming the field', () =>
  configErrorNaming(() => neutral.sttn.forward({ w1: ok2, w2: ok2 }, untyped({ gradient: 'chain' })), 'sttn.gradient') &&
  configErrorNaming(() => neutral.sttn.gradient({ w1: ok2, w2: ok2 }, { g1: ok2, g2: ok2 }, { clip: -1 }), 'sttn.clip') &&
  configErrorNaming(() => neutral.sign.forward({ w: ok2 }, untyped({ granularity: 'layer' })), 'sign.granularity') &&
  configErrorNaming(() => neutral.twn.gradient({ w: ok2 }, { g: ok2 }, { delta: 0 }), 'twn.delta') &&
  configErrorNaming(() => neutral.ttq.forward({ w: ok2 }, { threshold: 1 }), 'ttq.threshold') &&
  configErrorNaming(() => neutral.ternary.forward({ x: ok2 }, untyped({ boundary: 'cuda' })), 'ternary.boundary') &&
  configErrorNaming(() => neutral.steSign.gradient({ x: ok2 }, { g: ok2 }, untyped({ threshold: 0.5 })), 'ste_sign') &&
  configErrorNaming(() => neutral.sttn.forward({ w1: ok2, w2: ok2 }, untyped('exact')), 'sttn'));

/**
 * Compile-time law, checked by `npm run typecheck` (part of `npm test`): options are typed from
 * the codecs, so a wrong literal, a misspelt key or a non-object does not compile. Each line
 * below must be a type error; if one stopped being one, `@ts-expect-error` itself fails the build.
 * At run time each is also the ConfigError of untyped code.
 */
example('typed options: wrong literals and unknown keys do not compile (and throw at run time)', () => {
  const calls = [
    // @ts-expect-error a gradient rule that does not exist
    () => neutral.sttn.forward({ w1: ok2, w2: ok2 }, { gradient: 'bogus' }),
    // @ts-expect-error a granularity that does not exist
    () => neutral.sign.gradient({ w: ok2 }, { g: ok2 }, { granularity: 'layer' }),
    // @ts-expect-error a misspelt key
    () => neutral.twn.forward({ w: ok2 }, { detla: 0.7 }),
    // @ts-expect-error a boundary that does not exist
    () => neutral.ternary.gradient({ x: ok2 }, { g: ok2 }, { boundary: 'cuda' }),
    // @ts-expect-error not an options object
    () => neutral.ttq.forward({ w: ok2 }, 'tensor'),
  ];
  return calls.every((f) => configErrorNaming(f, ''));
});

example("'channel' granularity on a rank-1 kernel throws a ConfigError naming granularity", () =>
  configErrorNaming(() => neutral.sttn.forward({ w1: ok2, w2: ok2 }, { granularity: 'channel' }), 'granularity') &&
  configErrorNaming(() => neutral.sign.forward({ w: ok2 }, { granularity: 'channel' }), 'granularity'));

example('data whose length does not match the shape throws a ShapeError naming both', () =>
  throwsWith(() => neutral.sttn.forward({ w1: v([1, 2, 3], [2, 2]), w2: v([1, 2, 3, 4], [2, 2]) }), ShapeError, '[2, 2]', '[3]') &&
  throwsWith(() => neutral.sign.gradient({ w: ok2 }, { g: { shape: [2], data: new Float32Array(3) } }), ShapeError, '[2]', '[3]') &&
  throwsWith(() => neutral.ternary.forward({ x: { shape: [3], data: new Float64Array(2) } }), ShapeError, '[3]', '[2]'));

example('two sttn kernels of different shapes throw a ShapeError naming both shapes', () =>
  throwsWith(() => neutral.sttn.forward({ w1: v([1, 2, 3, 4, 5, 6], [2, 3]), w2: v([1, 2, 3, 4, 5, 6], [3, 2]) }), ShapeError, 'w2', '[2, 3]', '[3, 2]'));

example('an upstream gradient of the wrong shape throws a ShapeError naming it and both shapes', () =>
  throwsWith(() => neutral.sttn.gradient({ w1: ok2, w2: ok2 }, { g1: ok2, g2: v([1, 2, 3]) }), ShapeError, 'g2', '[2]', '[3]') &&
  throwsWith(() => neutral.twn.gradient({ w: ok2 }, { g: v([1, 2], [1, 2]) }), ShapeError, 'g', '[2]', '[1, 2]') &&
  throwsWith(() => neutral.ttq.gradient({ w: ok2 }, { g: v([1]) }), ShapeError, 'g') &&
  throwsWith(() => neutral.steSign.gradient({ x: ok2 }, { g: v([1, 2, 3]) }), ShapeError, 'g'));

example('TTQ scales of the wrong shape throw a ShapeError naming wp / wn', () =>
  throwsWith(() => neutral.ttq.forward({ w: v([1, 2, 3, 4], [2, 2]), wp: v([1, 1, 1]) }), ShapeError, 'wp', '[3]') &&
  throwsWith(() => neutral.ttq.forward({ w: v([1, 2, 3, 4], [2, 2]), wn: v([1]) }, { granularity: 'channel' }), ShapeError, 'wn', '[2]'));

example('a NaN or ±Infinity throws a NonFiniteError naming the tensor and the index', () =>
  throwsWith(() => neutral.sttn.forward({ w1: ok2, w2: v([1, NaN]) }), NonFiniteError, 'w2', 'index 1') &&
  throwsWith(() => neutral.sttn.gradient({ w1: ok2, w2: ok2 }, { g1: v([Infinity, 0]), g2: ok2 }), NonFiniteError, 'g1', 'index 0') &&
  throwsWith(() => neutral.sign.forward({ w: { shape: [2], data: Float32Array.from([0, NaN]) } }), NonFiniteError, 'w', 'index 1') &&
  throwsWith(() => neutral.twn.gradient({ w: ok2 }, { g: v([0, -Infinity]) }), NonFiniteError, 'g', 'index 1') &&
  throwsWith(() => neutral.ttq.forward({ w: ok2, wn: v([NaN], []) }), NonFiniteError, 'wn') &&
  throwsWith(() => neutral.ttq.gradient({ w: ok2 }, { g: v([NaN, 0]) }), NonFiniteError, 'g') &&
  throwsWith(() => neutral.ternary.forward({ x: v([NaN]) }), NonFiniteError, 'x', 'index 0') &&
  throwsWith(() => neutral.ternary.gradient({ x: ok2 }, { g: v([0, NaN]) }), NonFiniteError, 'g', 'index 1') &&
  throwsWith(() => neutral.steSign.forward({ x: v([1, 2, Infinity]) }), NonFiniteError, 'x', 'index 2'));

example('an activation gradient at a non-finite x throws a NonFiniteError naming x (not a silent zero gradient)', () =>
  throwsWith(() => neutral.steSign.gradient({ x: v([NaN, 1]) }, { g: ok2 }), NonFiniteError, 'x', 'index 0') &&
  throwsWith(() => neutral.ternary.gradient({ x: v([1, Infinity]) }, { g: ok2 }), NonFiniteError, 'x', 'index 1'));

example('an empty kernel throws a ShapeError naming it', () =>
  throwsWith(() => neutral.sttn.forward({ w1: v([]), w2: v([]) }), ShapeError, 'w1') && throwsWith(() => neutral.sign.forward({ w: v([], [0, 3]) }), ShapeError, 'w'));

example('golden: sttn with latents near ±1e308 (float64) or ±3e38 (float32) throws "sttn: α overflows …: Σ|W1|+Σ|W2| = Infinity"', () =>
  throwsWith(() => neutral.sttn.forward({ w1: v([1e308, -1e308]), w2: v([1e308, -1e308]) }), OverflowError, 'sttn: α overflows float64: Σ|W1|+Σ|W2| = Infinity', 'scale the latents') &&
  throwsWith(() => neutral.sttn.forward({ w1: { shape: [2], data: Float32Array.from([3e38, -3e38]) }, w2: { shape: [2], data: Float32Array.from([3e38, 3e38]) } }), OverflowError, 'sttn: α overflows float32: Σ|W1|+Σ|W2| = Infinity') &&
  throwsWith(() => neutral.sign.gradient({ w: v([1e308, -1e308]) }, { g: v([1, 1]) }), OverflowError, 'sign: α overflows float64: Σ|W| = Infinity'));
