/**
 * Laws of the TensorFlow.js ops (backends/tfjs.ts), run on tfjs-backend-cpu and
 * tfjs-backend-wasm: every op's forward and its `tf.grads` VJP equal sttn's own quantizers on
 * cpu32 (backends/neutral.ts) within float32 tolerance, for random shapes, configs and layouts (the
 * output channel moved to a random axis and named by `axis`); sign(0) = +1; the ops never read
 * values back to the host; bad options are ConfigErrors.
 *
 * Inputs are float32-representable and drawn away from the thresholds and windows (a float32 sum
 * in another order may move a threshold by an ulp; a weight on it is not a disagreement).
 */
import fc from 'fast-check';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as ops from '../backends/tfjs.js';
import * as neutral from '../backends/neutral.js';
import { ConfigError } from '../src/errors.js';
import type { Tensor } from '../src/tensor.js';
import { example, law, throwsWith } from './law.js';

const require = createRequire(import.meta.url);
setWasmPaths(join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/');
setThreadsCount(1);
tf.env().set('PROD', true); // no "running in Node" banner per backend

const RUNS = 80;

/** A float32 value in ±[lo, hi], at least `margin` from each |avoid|. */
const elem = (lo: number, hi: number, avoid: readonly number[] = [], margin = 0.02): fc.Arbitrary<number> =>
  fc
    .tuple(fc.double({ min: lo, max: hi, noNaN: true }), fc.boolean())
    .map(([m, neg]) => Math.fround(neg ? -m : m))
    .filter((x) => avoid.every((a) => Math.abs(Math.abs(x) - a) > margin));
const gElem = fc.double({ min: -3, max: 3, noNaN: true }).map(Math.fround);

/** A shape in sttn's layout (output channel on axis 0), rank 2..4, ≤ 24 elements, and a permutation to a tfjs layout. */
const layoutCase = fc
  .tuple(fc.integer({ min: 1, max: 3 }), fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }))
  .map(([c, rest]) => [c, ...rest])
  .filter((s) => s.reduce((a, b) => a * b, 1) <= 24)
  .chain((shape) =>
    fc.shuffledSubarray(shape.map((_, i) => i), { minLength: shape.length, maxLength: shape.length }).map((perm) => ({ shape, perm })),
  );
const arr = (shape: readonly number[], e: fc.Arbitrary<number>): fc.Arbitrary<Float32Array> => {
  const n = shape.reduce((a, b) => a * b, 1);
  return fc.array(e, { minLength: n, maxLength: n }).map((xs) => Float32Array.from(xs));
};
const granularity = fc.constantFrom('tensor' as const, 'channel' as const);
const clip = fc.constantFrom(1, 0.5, 2, null);

/** Run `f` in a tfjs scope (every tensor it makes is disposed). */
function scoped<R>(f: () => R): R {
  tf.engine().startScope();
  try {
    return f();
  } finally {
    tf.engine().endScope();
  }
}

const inverse = (perm: readonly number[]): number[] => perm.map((_, i) => perm.indexOf(i));
/** sttn layout → tfjs tensor in the permuted layout. */
const toTf = (shape: readonly number[], data: Float32Array, perm: readonly number[]): tf.Tensor => tf.transpose(tf.tensor(data, [...shape]), [...perm]);
/** tfjs tensor in the permuted layout → values in sttn's layout. */
const fromTf = (t: tf.Tensor, perm: readonly number[]): Float32Array => tf.transpose(t, inverse(perm)).dataSync() as Float32Array;

/** |a − b| ≤ tol·max(1, max|b|), elementwise; logs the first miss. */
function close(label: string, a: ArrayLike<number>, b: ArrayLike<number>, tol = 2e-5): boolean {
  if (a.length !== b.length) return false;
  let scale = 1;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < b.length; i++) {
    if (!(Math.abs(a[i] - b[i]) <= tol * scale)) {
      console.log(`# ${label}[${i}]: tfjs ${a[i]}, sttn ${b[i]}`);
      return false;
    }
  }
  return true;
}

const t32 = (shape: readonly number[], data: Float32Array) => ({ shape, data });
const d = (t: Tensor): ArrayLike<number> => t.data;

for (const backend of ['cpu', 'wasm'] as const) {
  example(`tfjs-backend-${backend} initialises`, async () => (await tf.setBackend(backend)) && (await tf.ready(), tf.getBackend() === backend));

  // ---- STTN ---------------------------------------------------------------------------------
  const sttnCase = layoutCase.chain(({ shape, perm }) =>
    fc.record({ gradient: fc.constantFrom('exact' as const, 'paper' as const, 'official' as const), granularity, clip }).chain((c) => {
      const e = elem(0.02, 2.5, [...(c.clip === null ? [] : [c.clip]), 1]);
      return fc.record({ shape: fc.constant(shape), perm: fc.constant(perm), cfg: fc.constant(c), w1: arr(shape, e), w2: arr(shape, e), g: arr(shape, gElem) });
    }),
  );
  law(`${backend}: sttn's forward, α and VJP equal sttn's own in any layout`, [sttnCase], ({ shape, perm, cfg, w1, w2, g }) =>
    scoped(() => {
      const axis = perm.indexOf(0);
      const a = toTf(shape, w1, perm);
      const b = toTf(shape, w2, perm);
      const y = ops.sttn(a, b, { ...cfg, axis });
      const [d1, d2] = tf.grads((x1: tf.Tensor, x2: tf.Tensor) => ops.sttn(x1, x2, { ...cfg, axis }))([a, b], toTf(shape, g, perm));
      const ref = neutral.sttn.forward({ w1: t32(shape, w1), w2: t32(shape, w2) }, cfg);
      const rg = neutral.sttn.gradient({ w1: t32(shape, w1), w2: t32(shape, w2) }, { g1: t32(shape, g), g2: t32(shape, g) }, cfg);
      return (
        close('merged', fromTf(y, perm), d(ref.merged)) &&
        close('alpha', ops.sttnAlpha(a, b, { ...cfg, axis }).dataSync(), d(ref.alpha)) &&
        close('codes', fromTf(ops.sttnCodes(a, b, { ...cfg, axis }), perm), d(ref.codes), 0) &&
        close('dW1', fromTf(d1, perm), d(rg.w1)) &&
        close('dW2', fromTf(d2, perm), d(rg.w2))
      );
    }),
  { numRuns: RUNS });

  law(`${backend}: sttnPair's W̃1, W̃2 and VJP with g1 ≠ g2 equal sttn's own in any layout`, [sttnCase.chain((c) => arr(c.shape, gElem).map((g2) => ({ ...c, g2 })))], ({ shape, perm, cfg, w1, w2, g, g2 }) =>
    scoped(() => {
      const axis = perm.indexOf(0);
      const a = toTf(shape, w1, perm);
      const b = toTf(shape, w2, perm);
      const [q1, q2] = tf.unstack(ops.sttnPair(a, b, { ...cfg, axis }));
      const dy = tf.stack([toTf(shape, g, perm), toTf(shape, g2, perm)]);
      const [d1, d2] = tf.grads((x1: tf.Tensor, x2: tf.Tensor) => ops.sttnPair(x1, x2, { ...cfg, axis }))([a, b], dy);
      const P = { w1: t32(shape, w1), w2: t32(shape, w2) };
      const ref = neutral.sttn.forward(P, cfg);
      const rg = neutral.sttn.gradient(P, { g1: t32(shape, g), g2: t32(shape, g2) }, cfg);
      return (
        close('w1q', fromTf(q1, perm), d(ref.w1q)) &&
        close('w2q', fromTf(q2, perm), d(ref.w2q)) &&
        close('dW1', fromTf(d1, perm), d(rg.w1)) &&
        close('dW2', fromTf(d2, perm), d(rg.w2))
      );
    }),
  { numRuns: RUNS });

  // ---- sign ---------------------------------------------------------------------------------
  const signCase = layoutCase.chain(({ shape, perm }) =>
    fc.record({ gradient: fc.constantFrom('exact' as const, 'xnor' as const), granularity, clip }).chain((c) =>
      fc.record({ shape: fc.constant(shape), perm: fc.constant(perm), cfg: fc.constant(c), w: arr(shape, elem(0.02, 2.5, c.clip === null ? [] : [c.clip])), g: arr(shape, gElem) }),
    ),
  );
  law(`${backend}: sign's forward and VJP equal sttn's own in any layout`, [signCase], ({ shape, perm, cfg, w, g }) =>
    scoped(() => {
      const axis = perm.indexOf(0);
      const x = toTf(shape, w, perm);
      const y = ops.sign(x, { ...cfg, axis });
      const [dw] = tf.grads((v: tf.Tensor) => ops.sign(v, { ...cfg, axis }))([x], toTf(shape, g, perm));
      return close('y', fromTf(y, perm), d(neutral.sign.forward({ w: t32(shape, w) }, cfg).y)) && close('dW', fromTf(dw, perm), d(neutral.sign.gradient({ w: t32(shape, w) }, { g: t32(shape, g) }, cfg).w));
    }),
  { numRuns: RUNS });

  // ---- TWN ----------------------------------------------------------------------------------
  const twnCase = layoutCase.chain(({ shape, perm }) =>
    fc.record({ gradient: fc.constantFrom('ste' as const, 'exact' as const), granularity, clip, delta: fc.constantFrom(0.7, 0.5, 1) }).chain((c) =>
      fc.record({ shape: fc.constant(shape), perm: fc.constant(perm), cfg: fc.constant(c), w: arr(shape, elem(0.02, 2.5, c.clip === null ? [] : [c.clip])), g: arr(shape, gElem) }),
    ),
  );
  law(`${backend}: twn's forward, Δ and VJP equal sttn's own in any layout`, [twnCase], ({ shape, perm, cfg, w, g }) =>
    scoped(() => {
      const axis = perm.indexOf(0);
      const x = toTf(shape, w, perm);
      const ref = neutral.twn.forward({ w: t32(shape, w) }, cfg);
      // a weight within float32 rounding of Δ may fall either side: not a disagreement
      const delta = ref.delta.data;
      const groupOf = (i: number) => (cfg.granularity === 'tensor' ? 0 : Math.floor(i / (w.length / shape[0])));
      if (Array.from(w).some((v, i) => Math.abs(Math.abs(v) - delta[groupOf(i)]) <= 1e-5 * delta[groupOf(i)])) return true;
      const [dw] = tf.grads((v: tf.Tensor) => ops.twn(v, { ...cfg, axis }))([x], toTf(shape, g, perm));
      return (
        close('y', fromTf(ops.twn(x, { ...cfg, axis }), perm), d(ref.y)) &&
        close('delta', ops.twnDelta(x, { ...cfg, axis }).dataSync(), delta) &&
        close('dW', fromTf(dw, perm), d(neutral.twn.gradient({ w: t32(shape, w) }, { g: t32(shape, g) }, cfg).w))
      );
    }),
  { numRuns: RUNS });

  // ---- TTQ ----------------------------------------------------------------------------------
  const ttqCase = layoutCase.chain(({ shape, perm }) =>
    fc.record({ granularity, threshold: fc.constantFrom(0.05, 0.3, 0.6) }).chain((c) => {
      const s = c.granularity === 'tensor' ? [] : [shape[0]];
      const pos = fc.double({ min: 0.1, max: 3, noNaN: true }).map(Math.fround);
      return fc.record({ shape: fc.constant(shape), perm: fc.constant(perm), cfg: fc.constant(c), w: arr(shape, elem(0.02, 2.5)), wp: arr(s, pos), wn: arr(s, pos), g: arr(shape, gElem) });
    }),
  );
  law(`${backend}: ttq's forward and VJP (W, Wp, Wn) equal sttn's own in any layout`, [ttqCase], ({ shape, perm, cfg, w, wp, wn, g }) =>
    scoped(() => {
      const axis = perm.indexOf(0);
      const s = cfg.granularity === 'tensor' ? [] : [shape[0]];
      const maxAbs = Math.max(...Array.from(w, Math.abs));
      if (Array.from(w).some((v) => Math.abs(Math.abs(v) - cfg.threshold * maxAbs) <= 1e-5 * maxAbs)) return true;
      const x = toTf(shape, w, perm);
      const [p, n] = [tf.tensor(wp, s), tf.tensor(wn, s)];
      const [dw, dp, dn] = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => ops.ttq(a, b, c, { ...cfg, axis }))([x, p, n], toTf(shape, g, perm));
      const P = { w: t32(shape, w), wp: t32(s, wp), wn: t32(s, wn) };
      const ref = neutral.ttq.gradient(P, { g: t32(shape, g) }, cfg);
      return (
        close('y', fromTf(ops.ttq(x, p, n, { ...cfg, axis }), perm), d(neutral.ttq.forward(P, cfg).y)) &&
        close('dW', fromTf(dw, perm), d(ref.w)) &&
        close('dWp', dp.dataSync(), d(ref.wp)) &&
        close('dWn', dn.dataSync(), d(ref.wn))
      );
    }),
  { numRuns: RUNS });

  // ---- activations --------------------------------------------------------------------------
  const actCase = fc
    .record({ threshold: fc.constantFrom(0.5, 0.25, 1.5), clip, boundary: fc.constantFrom('paper' as const, 'official' as const) })
    .chain((cfg) => fc.integer({ min: 1, max: 30 }).chain((n) => fc.record({ cfg: fc.constant(cfg), x: arr([n], elem(0, 3, [cfg.threshold, ...(cfg.clip === null ? [] : [cfg.clip])], 0.01)), g: arr([n], gElem) })));
  law(`${backend}: ternaryActivation and steSign equal sttn's own (forward and VJP)`, [actCase], ({ cfg, x, g }) =>
    scoped(() => {
      const n = [x.length];
      const X = tf.tensor(x);
      const G = tf.tensor(g);
      const [dt] = tf.grads((v: tf.Tensor) => ops.ternaryActivation(v, cfg))([X], G);
      const [ds] = tf.grads((v: tf.Tensor) => ops.steSign(v, { clip: cfg.clip }))([X], G);
      return (
        close('ternary', ops.ternaryActivation(X, cfg).dataSync(), d(neutral.ternary.forward({ x: t32(n, x) }, cfg).y), 0) &&
        close('dternary', dt.dataSync(), d(neutral.ternary.gradient({ x: t32(n, x) }, { g: t32(n, g) }, cfg).x), 0) &&
        close('steSign', ops.steSign(X).dataSync(), d(neutral.steSign.forward({ x: t32(n, x) }).y), 0) &&
        close('dsteSign', ds.dataSync(), d(neutral.steSign.gradient({ x: t32(n, x) }, { g: t32(n, g) }, { clip: cfg.clip }).x), 0)
      );
    }),
  { numRuns: RUNS });

  example(`${backend}: Eq. 14 at x = ±θ: 'paper' gives 0, 0; 'official' gives +1, 0 (as sttn)`, () =>
    scoped(() => {
      const x = tf.tensor([0.5, -0.5, 0.75, -0.75, 0]);
      const paper = Array.from(ops.ternaryActivation(x, { boundary: 'paper' }).dataSync());
      const official = Array.from(ops.ternaryActivation(x, { boundary: 'official' }).dataSync());
      return paper.join() === '0,0,1,-1,0' && official.join() === '1,0,1,-1,0';
    }),
  );

  // ---- sign(0) = +1 -------------------------------------------------------------------------
  example(`${backend}: sign(0) = +1 in every op (0, −0 and values tf.sign sends to 0)`, () =>
    scoped(() => {
      const z = [0, -0, 1e-9, -1e-9, 1e-30];
      const x = tf.tensor(z);
      const zero = tf.zeros([5]);
      const ss = Array.from(ops.steSign(x).dataSync());
      const sg = Array.from(ops.sign(tf.tensor([0, -0, 1e-9, 2, -2])).dataSync()).map(Math.sign);
      const codes = Array.from(ops.sttnCodes(x, zero).dataSync());
      const ref = Array.from(neutral.steSign.forward({ x: t32([5], Float32Array.from(z)) }).y.data);
      return ss.join() === '1,1,1,-1,1' && ref.join() === ss.join() && sg.join() === '1,1,1,1,-1' && codes.join() === '2,2,2,0,2';
    }),
  );

  // ---- nothing leaves the device --------------------------------------------------------------
  example(`${backend}: no op reads values back to the host, forward or backward`, () =>
    scoped(() => {
      const w = tf.randomNormal([3, 4]);
      const v = tf.randomNormal([3, 4]);
      const s = tf.ones([4]);
      const proto = tf.Tensor.prototype as unknown as Record<string, unknown>;
      const backendProto = Object.getPrototypeOf(tf.backend()) as Record<string, unknown>;
      const saved = { ...Object.fromEntries(['dataSync', 'arraySync', 'data', 'array', 'bufferSync', 'buffer'].map((k) => [k, proto[k]])) };
      const savedRead = { readSync: backendProto.readSync, read: backendProto.read };
      let reads = 0;
      for (const k of Object.keys(saved)) proto[k] = function (this: unknown, ...a: unknown[]) { reads++; return (saved[k] as (...x: unknown[]) => unknown).apply(this, a); };
      for (const k of ['readSync', 'read'] as const) backendProto[k] = function (this: unknown, ...a: unknown[]) { reads++; return (savedRead[k] as (...x: unknown[]) => unknown).apply(this, a); };
      try {
        const all = [
          tf.grads((a: tf.Tensor, b: tf.Tensor) => ops.sttn(a, b, { granularity: 'channel' }))([w, v]),
          tf.grads((a: tf.Tensor, b: tf.Tensor) => ops.sttnPair(a, b, { gradient: 'paper' }))([w, v]),
          tf.grads((a: tf.Tensor) => ops.sign(a, { gradient: 'xnor' }))([w]),
          tf.grads((a: tf.Tensor) => ops.twn(a, { gradient: 'exact', granularity: 'channel' }))([w]),
          tf.grads((a: tf.Tensor, p: tf.Tensor, n: tf.Tensor) => ops.ttq(a, p, n, { granularity: 'channel' }))([w, s, s]),
          tf.grads((a: tf.Tensor) => ops.ternaryActivation(a))([w]),
          tf.grads((a: tf.Tensor) => ops.steSign(a))([w]),
        ];
        return all.length === 7 && reads === 0;
      } finally {
        Object.assign(proto, saved);
        Object.assign(backendProto, savedRead);
      }
    }),
  );
}

// ---- options ----------------------------------------------------------------------------------
example('bad options are ConfigErrors naming the field', () =>
  scoped(() => {
    const w = tf.ones([2, 3]);
    const bad = (f: () => unknown, field: string) => throwsWith(f, ConfigError, field);
    return (
      bad(() => ops.sttn(w, w, { gradient: 'nope' as 'exact' }), 'gradient') &&
      bad(() => ops.sttn(w, tf.ones([3, 2])), 'w2') &&
      bad(() => ops.sign(tf.ones([3]), { granularity: 'channel' }), 'granularity') &&
      bad(() => ops.twn(w, { granularity: 'channel', axis: 2 }), 'axis') &&
      bad(() => ops.ttq(w, tf.ones([2]), tf.ones([]), {}), 'wp') &&
      bad(() => ops.ternaryActivation(w, { threshold: -1 }), 'threshold') &&
      bad(() => ops.steSign(w, { clip: 0 }), 'clip')
    );
  }),
);
