/**
 * The fused quantizer path (src/quantizers/fast.ts, backends/wasm/quantize.ts,
 * backends/wasm/assembly/quantize.ts) computes exactly what the generic path computes on cpu32:
 * every kernel quantizer's bound forward and backward, every variant and both granularities,
 * compared element by element with `Object.is` (±0 distinguished). The neutral-style forward
 * with all outputs (W̃1, W̃2, codes, α, Δ) is compared field by field, and inputs that overflow
 * throw the same OverflowError message on both paths.
 *
 * A spy on the wasm backend's kernels makes sure each fusable case really took the fast path (a
 * law that silently compared the generic path with itself would prove nothing).
 */
import fc from 'fast-check';
import type { Backend } from '../src/backend.js';
import { createCpuBackend } from '../backends/cpu.js';
import { createWasmBackend } from '../backends/wasm.js';
import { activationQuantizer, kernelQuantizer, type KernelQuantizer } from '../src/quantizers/index.js';
import { clipDown, kernelsOf, type QuantizerKernels } from '../src/quantizers/fast.js';
import * as sttnQ from '../src/quantizers/sttn.js';
import * as signQ from '../src/quantizers/sign.js';
import * as twnQ from '../src/quantizers/twn.js';
import * as ttqQ from '../src/quantizers/ttq.js';
import { orThrow } from '../src/codec.js';
import { ConfigError, NonFiniteError, OverflowError } from '../src/errors.js';
import type { Tensor } from '../src/tensor.js';
import * as neutral from '../backends/neutral.js';
import { quantizerKernels } from '../backends/wasm/quantize.js';
import { example, law, throwsWith } from './law.js';
import { sameBits } from './bits.js';

const cpu32 = createCpuBackend('float32');
// both plain builds: the shared one (resident mode, the default) and the unshared one (pages without cross-origin isolation)
const builds = [
  ['plain, shared', await createWasmBackend({ kernel: 'plain' })],
  ['plain, unshared', await createWasmBackend({ kernel: 'plain', resident: false })],
] as const;
for (const [build, wasm] of builds) {

  /** Counts calls into the wasm backend's fused kernels. */
  let fastCalls = 0;
  const spied: QuantizerKernels = Object.fromEntries(
    Object.entries(wasm.quantizerKernels).map(([k, f]) => [k, (...a: unknown[]) => (fastCalls++, (f as (...a: unknown[]) => unknown)(...a))]),
  ) as unknown as QuantizerKernels;
  const fast: Backend = { ...wasm, quantizerKernels: spied } as Backend;

  const identical = (a: Tensor, b: Tensor): boolean =>
    a.shape.length === b.shape.length &&
    a.shape.every((d, i) => d === b.shape[i]) &&
    a.data.length === b.data.length &&
    a.data.every((v, i) => Object.is(v, b.data[i]));

  const sameRecord = (a: Record<string, Tensor>, b: Record<string, Tensor>): boolean =>
    Object.keys(a).length === Object.keys(b).length && Object.keys(a).every((k) => k in b && identical(a[k], b[k]));

  /** Float32 values with the edges a quantizer decides on: ±0, the window's ±1, and ties of small integers. */
  const valueArb = fc.oneof(
    { weight: 6, arbitrary: fc.float({ min: -3, max: 3, noNaN: true, noDefaultInfinity: true }) },
    { weight: 1, arbitrary: fc.float({ min: -1e4, max: 1e4, noNaN: true, noDefaultInfinity: true }) },
    { weight: 1, arbitrary: fc.constantFrom(0, -0, 1, -1, 0.5, -0.5, 2, -2) },
  ).map(Math.fround);

  /** A float32 tensor of rank 2–4 (dims 1–9, so SIMD tails and several channels occur) and an upstream gradient. */
  const caseArb = fc
    .array(fc.integer({ min: 1, max: 9 }), { minLength: 2, maxLength: 4 })
    .chain((shape) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const t = fc.array(valueArb, { minLength: n, maxLength: n }).map((v) => ({ shape, data: Float32Array.from(v) }));
      return fc.record({ w1: t, w2: t, g: t, wp: fc.float({ min: Math.fround(0.1), max: 3, noNaN: true }), wn: fc.float({ min: Math.fround(0.1), max: 3, noNaN: true }) });
    });

  const specs: { id: string; config: Record<string, unknown> }[] = [];
  for (const granularity of ['tensor', 'channel']) {
    for (const clip of [1, 0.75, null]) {
      specs.push({ id: 'sttn', config: { granularity, clip } });
      specs.push({ id: 'sign', config: { granularity, clip } });
      specs.push({ id: 'sign', config: { granularity, clip, gradient: 'xnor' } });
    }
    specs.push({ id: 'sttn', config: { granularity, gradient: 'official' } });
    specs.push({ id: 'sttn', config: { granularity, gradient: 'official', signOfZero: 0 } });
    specs.push({ id: 'twn', config: { granularity } });
    specs.push({ id: 'twn', config: { granularity, delta: 0.5 } });
    specs.push({ id: 'ttq', config: { granularity } });
    specs.push({ id: 'ttq', config: { granularity, threshold: 0.5 } });
  }

  const paramsFor = (q: KernelQuantizer, c: { w1: Tensor; w2: Tensor; wp: number; wn: number }): Record<string, Tensor> => {
    if (q.id === 'sttn') return { w1: c.w1, w2: c.w2 };
    if (q.id !== 'ttq') return { w: c.w1 };
    const groups = q.config.granularity === 'channel' ? c.w1.shape[0] : 1;
    const s = q.config.granularity === 'channel' ? [groups] : [];
    return { w: c.w1, wp: { shape: s, data: new Float32Array(groups).fill(c.wp) }, wn: { shape: s, data: new Float32Array(groups).fill(c.wn) } };
  };

  for (const spec of specs) {
    const q = orThrow(kernelQuantizer(spec));
    law(`fast path: ${spec.id} ${JSON.stringify(spec.config)} forward and backward equal cpu32's generic path bit for bit [${build}]`, [caseArb], (c) => {
      const p = paramsFor(q, c);
      const before = fastCalls;
      const fw = q.forward(fast, p);
      const ref = q.forward(cpu32, p);
      const gw = q.backward(fast, p, fw.res, c.g);
      const gref = q.backward(cpu32, p, ref.res, c.g);
      // twn's `ste` backward is the identity on either path: only the forward has a kernel
      return fastCalls >= before + (spec.id === 'twn' ? 1 : 2) && identical(fw.w, ref.w) && sameRecord(gw, gref);
    }, { numRuns: 60 });
  }

  /**
   * Forward then backward of `q` on the fast backend, inside a resident scope when `scope` (with the
   * operands first made views on wasm memory when `viewsIn`): the results, copied out, and whether
   * each kernel-sized output was a view there (outside a scope: always true).
   */
  const run = (q: KernelQuantizer, p: Record<string, Tensor>, g: Tensor, scope: boolean, viewsIn: boolean): { w: Tensor; grads: Record<string, Tensor>; views: boolean } => {
    const body = () => {
      const keep = (t: Tensor): Tensor => (viewsIn ? fast.scalar('mul', t, 1) : t);
      const pp = Object.fromEntries(Object.entries(p).map(([k, t]) => [k, keep(t)]));
      const fw = q.forward(fast, pp);
      const grads = q.backward(fast, pp, fw.res, keep(g));
      // twn's backward is the identity (no kernel); TTQ's Wp, Wn gradients are per-group scalars
      const kernelSized = [fw.w, ...(q.id === 'twn' ? [] : ['w', 'w1', 'w2'].filter((k) => k in grads).map((k) => grads[k]))];
      const views = !scope || kernelSized.every((t) => t.data.buffer instanceof SharedArrayBuffer);
      return { w: fw.w, grads, views };
    };
    return scope ? wasm.resident!(body) : body();
  };

  /** Element counts that cross every block and tail of the kernels (4-lane blocks, qMaxAbs's 16-lane block). */
  const sizes = [...Array.from({ length: 36 }, (_, i) => i + 1), 47, 48, 49, 63, 64, 65, 127, 128, 129];
  const scopes: [boolean, boolean][] = wasm.resident ? [[false, false], [true, false], [true, true]] : [[false, false]];

  law(`fast path at every block boundary (1..36, 47..49, 63..65, 127..129 elements per group; 1 or 3 groups), outside and inside a resident scope, with operands copied or read in place: equal to cpu32 bit for bit, and a scope's outputs are views [${build}]`, [
    fc.array(valueArb, { minLength: 3 * 129 * 2, maxLength: 3 * 129 * 2 }),
    fc.constantFrom(...specs.map((_, i) => i)),
    fc.float({ min: Math.fround(0.1), max: 3, noNaN: true }),
  ], (vals, si, scale) => {
    const q = orThrow(kernelQuantizer(specs[si]));
    return sizes.every((n) => [1, 3].every((rows) => {
      const m = rows * n;
      const t = (off: number): Tensor => ({ shape: [rows, n], data: Float32Array.from(vals.slice(off, off + m)) });
      const c = { w1: t(0), w2: t(m), g: t(vals.length - m), wp: scale, wn: Math.fround(scale * 0.5) };
      const p = paramsFor(q, c);
      const ref = q.forward(cpu32, p);
      const gref = q.backward(cpu32, p, ref.res, c.g);
      // STTN with two different upstreams (the neutral API's g1 ≠ g2; a layer passes g1 = g2)
      const cfg = q.id === 'sttn' ? orThrow(sttnQ.decodeConfig(specs[si].config)) : undefined;
      const ref2 = cfg && sttnQ.backward(cpu32, sttnQ.forward(cpu32, { w1: c.w1, w2: c.w2 }, cfg), { g1: c.g, g2: c.w1 }, cfg);
      return scopes.every(([scope, viewsIn]) => {
        const before = fastCalls;
        const r = run(q, p, c.g, scope, viewsIn);
        const ok = fastCalls >= before + (q.id === 'twn' ? 1 : 2) && r.views && identical(r.w, ref.w) && sameRecord(r.grads, gref);
        if (!ok || !cfg || !ref2) return ok;
        const body = () => {
          const keep = (t: Tensor): Tensor => (viewsIn ? fast.scalar('mul', t, 1) : t);
          const k = kernelsOf(fast)!;
          const f = sttnQ.forwardFused(k, { w1: keep(c.w1), w2: keep(c.w2) }, cfg, 'scale');
          return sttnQ.backwardFused(k, f.res, { g1: keep(c.g), g2: keep(c.w1) }, cfg);
        };
        const d = scope ? wasm.resident!(body) : body();
        return identical(d.w1, ref2.w1) && identical(d.w2, ref2.w2);
      });
    }));
  }, { numRuns: 12 });

  law(`fast path: forwards with all outputs (the neutral API) equal the generic fields bit for bit [${build}]`, [caseArb, fc.constantFrom('tensor', 'channel'), fc.boolean()], (c, granularity, official) => {
    const k = kernelsOf(fast)!;
    const G = granularity as 'tensor' | 'channel';
    const sc = orThrow(sttnQ.decodeConfig({ granularity: G, ...(official ? { gradient: 'official', signOfZero: 0 } : {}) }));
    const s1 = sttnQ.forwardFused(k, { w1: c.w1, w2: c.w2 }, sc, 'all');
    const s2 = sttnQ.forward(cpu32, { w1: c.w1, w2: c.w2 }, sc);
    const bc = orThrow(signQ.decodeConfig({ granularity: G }));
    const b1 = signQ.forwardFused(k, { w: c.w1 }, bc, 'all');
    const b2 = signQ.forward(cpu32, { w: c.w1 }, bc);
    const tc = orThrow(twnQ.decodeConfig({ granularity: G }));
    const t1 = twnQ.forwardFused(k, { w: c.w1 }, tc, true);
    const t2 = twnQ.forward(cpu32, { w: c.w1 }, tc);
    const qc = orThrow(ttqQ.decodeConfig({ granularity: G }));
    const qp = { w: c.w1, ...ttqQ.initScales(c.w1.shape, qc, 'float32') };
    const q1 = ttqQ.forwardFused(k, qp, qc, true);
    const q2 = ttqQ.forward(cpu32, qp, qc);
    return (
      sameRecord({ w1q: s1.w1q!, w2q: s1.w2q!, merged: s1.merged!, codes: s1.codes!, alpha: s1.alpha }, { w1q: s2.w1q, w2q: s2.w2q, merged: s2.merged, codes: s2.codes, alpha: s2.alpha }) &&
      sameRecord({ y: b1.y!, codes: b1.codes!, alpha: b1.alpha }, { y: b2.y, codes: b2.codes, alpha: b2.alpha }) &&
      sameRecord({ y: t1.y, codes: t1.codes!, alpha: t1.alpha, delta: t1.delta, count: t1.count }, { y: t2.y, codes: t2.codes, alpha: t2.alpha, delta: t2.delta, count: t2.count }) &&
      sameRecord({ y: q1.y, codes: q1.codes!, delta: q1.delta }, { y: q2.y, codes: q2.codes, delta: q2.delta })
    );
  }, { numRuns: 60 });

  law(`fast path: the activations' straight-through gradient equals the generic one bit for bit [${build}]`, [caseArb, fc.constantFrom(1, 0.5, 0.3, null)], (c, clip) => {
    const a = orThrow(activationQuantizer({ id: 'ternary', config: { clip } }));
    const before = fastCalls;
    return identical(a.backward(fast, c.w1, c.g), a.backward(cpu32, c.w1, c.g)) && fastCalls === before + 1;
  });

  law(`clipDown(c) is the largest float32 ≤ c, so |x| ≤ clipDown(c) decides as |x| ≤ c for float32 x [${build}]`, [fc.double({ min: 1e-30, max: 1e39, noNaN: true })], (c) => {
    const d = clipDown(c);
    const up = new Float32Array([d]);
    new Uint32Array(up.buffer)[0] += 1;
    return Math.fround(d) === d && d <= c && up[0] > c;
  });

  /** The message of the error `f` throws, or '' if it returns. */
  const errorOf = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      return e instanceof OverflowError ? `overflow: ${e.message}` : e instanceof NonFiniteError ? `nonfinite: ${e.message}` : `other: ${(e as Error).message}`;
    }
    return '';
  };

  example(`fast path: overflowing scales and gradients throw the same OverflowError as the generic path [${build}]`, () => {
    const big = { shape: [2, 3], data: new Float32Array(6).fill(3e38) };
    const g = { shape: [2, 3], data: new Float32Array(6).fill(3e38) };
    const small = { shape: [2, 3], data: new Float32Array([0.5, -0.5, 0.25, 1, -1, 0.75]) };
    const cases: [string, Record<string, Tensor>, Tensor][] = [
      ['sttn', { w1: big, w2: big }, g],
      ['sttn', { w1: small, w2: small }, g],
      ['sign', { w: big }, g],
      ['sign', { w: small }, g],
      ['twn', { w: big }, g],
      ['ttq', { w: small, wp: { shape: [], data: new Float32Array([3e38]) }, wn: { shape: [], data: new Float32Array([3e38]) } }, g],
    ];
    return cases.every(([id, p, up]) => {
      const q = orThrow(kernelQuantizer(id));
      const run = (B: Backend) => () => q.backward(B, p, q.forward(B, p).res, up);
      const a = errorOf(run(fast));
      return a.startsWith('overflow: ') && a === errorOf(run(cpu32));
    });
  });

  law(`fast path: a NaN or ±∞ in a latent, a scale or the upstream gradient throws the same NonFiniteError as the generic path [${build}]`, [
    caseArb,
    fc.constantFrom(NaN, Infinity, -Infinity),
    fc.constantFrom('w1', 'w2', 'g', 'wp'),
    fc.nat(),
    fc.constantFrom(...specs.map((_, i) => i)),
  ], (c, bad, where, at, si) => {
    const q = orThrow(kernelQuantizer(specs[si]));
    const poison = (t: Tensor): Tensor => {
      const d = Float32Array.from(t.data);
      d[at % d.length] = bad;
      return { shape: t.shape, data: d };
    };
    const p = paramsFor(q, c);
    const key = where === 'w1' ? (q.id === 'sttn' ? 'w1' : 'w') : where === 'w2' ? (q.id === 'sttn' ? 'w2' : 'w') : where === 'wp' && q.id === 'ttq' ? 'wp' : null;
    const pp = key === null ? p : { ...p, [key]: poison(p[key]) };
    const g = where === 'g' ? poison(c.g) : c.g;
    const run = (B: Backend) => () => q.backward(B, pp, q.forward(B, pp).res, g);
    const a = errorOf(run(fast));
    const poisoned = key !== null || where === 'g';
    return a === errorOf(run(cpu32)) && (!poisoned || a.startsWith('nonfinite: '));
  }, { numRuns: 200 });

  law(`fast path: the activation gradient with a NaN or ±∞ in x or g throws the same NonFiniteError [${build}]`, [caseArb, fc.constantFrom(NaN, Infinity, -Infinity), fc.boolean(), fc.nat()], (c, bad, inX, at) => {
    const a = orThrow(activationQuantizer('ternary'));
    const d = Float32Array.from(inX ? c.w1.data : c.g.data);
    d[at % d.length] = bad;
    const x = inX ? { shape: c.w1.shape, data: d } : c.w1;
    const g = inX ? c.g : { shape: c.g.shape, data: d };
    const e = errorOf(() => a.backward(fast, x, g));
    return e.startsWith('nonfinite: ') && e === errorOf(() => a.backward(cpu32, x, g));
  });

  law(`fast path: the activations' forward checks x in one pass — every finite x passes, a NaN or ±∞ anywhere throws the generic NonFiniteError [${build}]`, [
    caseArb, fc.option(fc.tuple(fc.constantFrom(NaN, Infinity, -Infinity), fc.nat()), { nil: undefined }), fc.constantFrom('ternary', 'ste_sign'),
  ], (c, bad, id) => {
    const a = orThrow(activationQuantizer(id));
    const d = Float32Array.from(c.w1.data);
    if (bad) d[bad[1] % d.length] = bad[0];
    const x = { shape: c.w1.shape, data: d };
    const before = fastCalls;
    const e = errorOf(() => a.forward(fast, x));
    const checked = fastCalls === before + 1;
    if (!bad) return e === '' && checked && identical(a.forward(fast, x), a.forward(cpu32, x)) && wasm.quantizerKernels.allFinite(x);
    return checked && e.startsWith('nonfinite: ') && e === errorOf(() => a.forward(cpu32, x)) && !wasm.quantizerKernels.allFinite(x);
  });
}

example('the two builds above differ: the shared one runs resident scopes, the unshared one copies', () =>
  typeof builds[0][1].resident === 'function' && builds[1][1].resident === undefined);

// ---- the neutral API's `out`: destination passing -------------------------------------------------

/** Each neutral entry point with outputs, called on (w1, w2, g) with an optional `out`. */
const entries: [string, readonly string[], (c: { w1: Tensor; w2: Tensor; g: Tensor }, out?: Record<string, Float32Array | Float64Array>) => Record<string, Tensor>][] = [
  ['sttn.forward', ['w1q', 'w2q', 'merged', 'codes'], (c, out) => neutral.sttn.forward({ w1: c.w1, w2: c.w2 }, {}, out)],
  ['sttn.gradient', ['w1', 'w2'], (c, out) => neutral.sttn.gradient({ w1: c.w1, w2: c.w2 }, { g1: c.g, g2: c.w2 }, {}, out)],
  ['sign.forward', ['y', 'codes'], (c, out) => neutral.sign.forward({ w: c.w1 }, {}, out)],
  ['sign.gradient', ['w'], (c, out) => neutral.sign.gradient({ w: c.w1 }, { g: c.g }, {}, out)],
  ['twn.forward', ['y', 'codes'], (c, out) => neutral.twn.forward({ w: c.w1 }, {}, out)],
  ['twn.gradient', ['w'], (c, out) => neutral.twn.gradient({ w: c.w1 }, { g: c.g }, {}, out)],
  ['ttq.forward', ['y', 'codes'], (c, out) => neutral.ttq.forward({ w: c.w1 }, {}, out)],
  ['ttq.gradient', ['w'], (c, out) => neutral.ttq.gradient({ w: c.w1 }, { g: c.g }, {}, out)],
];

law('neutral `out`: every output given an array comes back over that very array, with the bits of the call without `out` (float32: the fused kernels; float64: the reference), whatever the array held before', [
  fc.constantFrom(...sizes129()),
  fc.constantFrom(1, 3),
  fc.constantFrom(...entries.map((_, i) => i)),
  fc.boolean(),
  fc.array(fc.float({ min: -3, max: 3, noNaN: true, noDefaultInfinity: true }).map(Math.fround), { minLength: 3 * 129 * 3, maxLength: 3 * 129 * 3 }),
  fc.integer({ min: 1, max: 15 }),
], (n, rows, ei, f64, vals, mask) => {
  const [, keys, call] = entries[ei];
  const m = rows * n;
  const T = f64 ? Float64Array : Float32Array;
  const t = (off: number): Tensor => ({ shape: [rows, n], data: T.from(vals.slice(off, off + m)) });
  const c = { w1: t(0), w2: t(m), g: t(2 * m) };
  const ref = call(c);
  // a subset of the outputs (by `mask`), each array filled with NaN first
  const given = keys.filter((_, i) => (mask >> i) & 1 || keys.length === 1);
  const out = Object.fromEntries(given.map((k) => [k, new T(m).fill(NaN)]));
  const got = call(c, out);
  // float32 inputs must have had the fused kernels to take (else this compares the js path with itself)
  return (f64 || quantizerKernels() !== undefined) && keys.every((k) => sameBits(got[k], ref[k]) && (!(k in out) || got[k].data === out[k]));
}, { numRuns: 150 });

/** Counts from 1 to 129 that cross the 4- and 16-lane blocks. */
function sizes129(): number[] {
  return [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129];
}

example('neutral `out`: a wrong type, a wrong length, an unknown name, two outputs sharing memory, an output sharing memory with an input or a non-object `out` is a ConfigError naming out.<name>', () => {
  const w1 = { shape: [2, 3], data: new Float32Array([0.5, -0.5, 0.25, 1, -1, 0.75]) };
  const w2 = { shape: [2, 3], data: new Float32Array([0.1, 0.2, -0.3, 0.4, -0.5, 0.6]) };
  const w64 = { shape: [2, 3], data: Float64Array.from(w1.data) };
  const shared = new Float32Array(12);
  return (
    throwsWith(() => neutral.sttn.forward({ w1, w2 }, {}, { merged: new Float64Array(6) }), ConfigError, 'sttn.forward out.merged', 'Float32Array of 6', 'Float64Array of 6') &&
    throwsWith(() => neutral.sttn.forward({ w1, w2 }, {}, { codes: new Float32Array(5) }), ConfigError, 'out.codes', 'Float32Array of 5') &&
    throwsWith(() => neutral.sign.forward({ w: w64 }, {}, { y: new Float32Array(6) }), ConfigError, 'sign.forward out.y', 'Float64Array of 6') &&
    throwsWith(() => neutral.twn.gradient({ w: w1 }, { g: w1 }, {}, { y: new Float32Array(6) } as never), ConfigError, 'twn.gradient out.y', 'its outputs are w') &&
    throwsWith(() => neutral.sttn.gradient({ w1, w2 }, { g1: w1, g2: w2 }, {}, { w1: shared.subarray(0, 6), w2: shared.subarray(3, 9) }), ConfigError, 'out.w2', 'shares memory with out.w1') &&
    throwsWith(() => neutral.ttq.forward({ w: w1 }, {}, [new Float32Array(6)] as never), ConfigError, 'ttq.forward out', 'an object') &&
    // an output over an input: the input could not be read again to name a bad value
    throwsWith(() => neutral.ttq.gradient({ w: w1 }, { g: w2 }, {}, { w: w2.data }), ConfigError, 'ttq.gradient out.w', 'shares memory with an input') &&
    throwsWith(() => neutral.sttn.gradient({ w1, w2 }, { g1: w1, g2: w2 }, {}, { w1: new Float32Array(6), w2: w1.data }), ConfigError, 'sttn.gradient out.w2', 'shares memory with an input') &&
    throwsWith(() => neutral.sign.forward({ w: { shape: [6], data: shared.subarray(2, 8) } }, {}, { y: shared.subarray(6, 12) }), ConfigError, 'sign.forward out.y', 'shares memory with an input') &&
    throwsWith(() => neutral.ttq.gradient({ w: w1 }, { g: w1 }, {}, { w: [0, 0, 0, 0, 0, 0] } as never), ConfigError, 'ttq.gradient out.w', 'an array of 6')
  );
});
