/**
 * Backend agreement above the primitives: every quantizer (forward and VJP) and every layer
 * (forward and backward) gives the float64 cpu backend's result on every registered backend
 * (laws/backends.ts), within a tolerance derived from the backend's precision.
 *
 * Inputs are float32-representable and drawn away from thresholds (sign flips, TWN's Δ, the STE
 * window's edge, ReLU kinks, max-pool ties), where a float32 rounding would otherwise legitimately
 * pick the other branch. Tolerance: a result that sums K float32 products carries a relative error
 * up to ~K·u (u = precision); the layers here sum K ≤ 300 terms and chain a few such steps, so
 * `rtol = 64·√K·u`-style bounds are replaced by one generous constant 2e-4 relative plus an
 * absolute floor scaled by the magnitude of the reference — still orders of magnitude below any
 * wrong formula, which the gradient laws catch independently.
 */
import fc from 'fast-check';
import { cpu64 } from '../backends/cpu.js';
import type { Backend } from '../src/backend.js';
import { orThrow } from '../src/codec.js';
import { buildLayer, decodeLayerSpec } from '../src/layers/index.js';
import * as sign from '../src/quantizers/sign.js';
import * as sttn from '../src/quantizers/sttn.js';
import * as ttq from '../src/quantizers/ttq.js';
import * as twn from '../src/quantizers/twn.js';
import * as act from '../src/quantizers/activation.js';
import { rng } from '../src/random.js';
import { tensor, type Tensor } from '../src/tensor.js';
import { loadAll } from './backends.js';
import { law } from './law.js';

const backends = await loadAll();

const f32 = (lo: number, hi: number, avoid: number[] = []) =>
  fc
    .double({ min: lo, max: hi, noNaN: true })
    .chain((m) => fc.boolean().map((s) => Math.fround(s ? -m : m)))
    .filter((x) => avoid.every((a) => Math.abs(Math.abs(x) - a) > 0.02));
/**
 * Distinct elements (no max-pool ties) in ±[0.05, 2], away from 0.5 and 1: distinct integers k
 * (element-level filter) with a random sign each, scaled by 1/1000. A whole-tensor uniqueness
 * filter on doubles would reject almost every draw (fast-check's doubles cluster at the bounds).
 */
const distinct32 = (shape: number[]) => {
  const n = shape.reduce((a, b) => a * b, 1);
  const k = fc.integer({ min: 50, max: 2000 }).filter((v) => Math.abs(v - 500) > 20 && Math.abs(v - 1000) > 20);
  return fc
    .tuple(fc.uniqueArray(k, { minLength: n, maxLength: n }), fc.array(fc.boolean(), { minLength: n, maxLength: n }))
    .map(([ks, signs]) => tensor(shape, Float32Array.from(ks, (v, i) => Math.fround((signs[i] ? -v : v) / 1000))));
};
const t32 = (shape: number[], e: fc.Arbitrary<number>) =>
  fc.array(e, { minLength: shape.reduce((a, b) => a * b, 1), maxLength: shape.reduce((a, b) => a * b, 1) }).map((v) => tensor(shape, Float32Array.from(v)));

/**
 * |got − want| ≤ rtol·(|want| + scale) + 64·u·terms, elementwise, with scale the largest |want|
 * and u the backend's precision. `terms` is Σ|terms| of the sums a result is made of (e.g. Σ|g|·α
 * for a gradient summing g·α·b): a sum that cancels to nearly zero carries float32 rounding of the
 * order of u·Σ|terms| (the classical bound), whatever the size of its result.
 */
function close(B: Backend, got: Tensor, want: Tensor, what: string, terms = 0): boolean {
  if (got.data.length !== want.data.length || got.shape.join() !== want.shape.join()) {
    console.log(`# ${B.name} ${what}: shape [${got.shape}] vs [${want.shape}]`);
    return false;
  }
  let scale = 1e-6;
  for (const v of want.data) scale = Math.max(scale, Math.abs(v));
  const atol = 64 * B.precision * terms;
  const rtol = Math.max(2e-4, 4096 * B.precision);
  for (let i = 0; i < want.data.length; i++) {
    if (!(Math.abs(got.data[i] - want.data[i]) <= rtol * (Math.abs(want.data[i]) + scale) + atol)) {
      console.log(`# ${B.name} ${what}[${i}]: ${got.data[i]} vs ${want.data[i]}`);
      return false;
    }
  }
  return true;
}

const allClose = (B: Backend, got: Record<string, Tensor>, want: Record<string, Tensor>, what: string, terms = 0) =>
  Object.keys(want).every((k) => close(B, got[k], want[k], `${what}.${k}`, terms));

const sumAbs = (...ts: Tensor[]): number => ts.reduce((a, t) => a + Array.from(t.data).reduce((b, v) => b + Math.abs(v), 0), 0);
const maxAbs = (t: Tensor): number => Array.from(t.data).reduce((a, v) => Math.max(a, Math.abs(v)), 0);

const shape = fc.constantFrom<number[]>([4, 6], [2, 3, 3, 2], [3, 10]);

for (const B of backends) {
  law(`${B.name}: sttn forward and VJP (every variant) agree with cpu64`, [
    shape.chain((s) => fc.record({ w1: t32(s, f32(0.02, 0.95)), w2: t32(s, f32(0.02, 0.95)), g1: t32(s, f32(0, 2)), g2: t32(s, f32(0, 2)) })),
    fc.constantFrom<sttn.SttnGradient>('exact', 'paper', 'official'),
    fc.constantFrom('tensor', 'channel'),
  ], ({ w1, w2, g1, g2 }, gradient, granularity) => {
    const cfg = orThrow(sttn.decodeConfig({ gradient, granularity }));
    const f = sttn.forward(B, { w1, w2 }, cfg);
    const r = sttn.forward(cpu64, { w1, w2 }, cfg);
    // the gradient sums g·sign/(2n) and (paper) α·Σg terms
    const terms = sumAbs(g1, g2) * (1 + maxAbs(r.alpha));
    return close(B, f.merged, r.merged, 'merged') && allClose(B, sttn.backward(B, f, { g1, g2 }, cfg), sttn.backward(cpu64, r, { g1, g2 }, cfg), 'grad', terms);
  }, { numRuns: 8 });

  law(`${B.name}: sign, twn and ttq forward and VJP agree with cpu64`, [
    shape.chain((s) => fc.record({ w: t32(s, f32(0.02, 2, [1])), g: t32(s, f32(0, 2)) })),
  ], ({ w, g }) => {
    const sc = orThrow(sign.decodeConfig({ granularity: 'channel' }));
    const fs = sign.forward(B, { w }, sc);
    const rs = sign.forward(cpu64, { w }, sc);
    const tc = orThrow(twn.decodeConfig({ gradient: 'exact' }));
    const ft = twn.forward(B, { w }, tc);
    const rt = twn.forward(cpu64, { w }, tc);
    // a draw whose |W_i| sits within float32 rounding of Δ may land on either side: compare only
    // when the float64 masks agree (almost always), else the law has nothing to say
    const sameMask = ft.mask.data.every((v, i) => v === rt.mask.data[i]);
    const qc = orThrow(ttq.decodeConfig({}));
    const p = { w, wp: tensor([], Float32Array.from([1.5])), wn: tensor([], Float32Array.from([0.5])) };
    const fq = ttq.forward(B, p, qc);
    const rq = ttq.forward(cpu64, p, qc);
    // every gradient sums terms no larger than |g|·(1 + a scale)
    const terms = sumAbs(g) * (1 + Math.max(maxAbs(rs.alpha), maxAbs(rt.alpha), 1.5));
    return (
      close(B, fs.y, rs.y, 'sign.y') &&
      allClose(B, sign.backward(B, fs, g, sc), sign.backward(cpu64, rs, g, sc), 'sign.grad', terms) &&
      (!sameMask || (close(B, ft.y, rt.y, 'twn.y') && allClose(B, twn.backward(B, ft, g, tc), twn.backward(cpu64, rt, g, tc), 'twn.grad', terms))) &&
      close(B, fq.y, rq.y, 'ttq.y') &&
      allClose(B, ttq.backward(B, fq, g, qc), ttq.backward(cpu64, rq, g, qc), 'ttq.grad', terms)
    );
  }, { numRuns: 8 });

  law(`${B.name}: the ternary activation and its VJP agree with cpu64`, [t32([3, 7], f32(0, 2, [0.5, 1])), t32([3, 7], f32(0, 2))], (x, g) => {
    const c = orThrow(act.decodeTernaryConfig({}));
    return close(B, act.ternaryForward(B, x, c), act.ternaryForward(cpu64, x, c), 'y') && close(B, act.activationBackward(B, x, g, 1), act.activationBackward(cpu64, x, g, 1), 'dx');
  }, { numRuns: 8 });

  const layers: [string, unknown, number[]][] = [
    ['dense sttn/ternary', { type: 'dense', units: 5, kernelQuantizer: 'sttn', inputQuantizer: 'ternary' }, [3, 8]],
    ['conv2d 3×3 twn', { type: 'conv2d', filters: 4, kernelQuantizer: 'twn' }, [2, 5, 5, 3]],
    ['conv2d stride 2 sttn', { type: 'conv2d', filters: 3, strides: 2, padding: 'valid', kernelQuantizer: { id: 'sttn', config: { granularity: 'channel' } } }, [2, 5, 5, 2]],
    ['batchNorm', { type: 'batchNorm' }, [4, 3, 3, 2]],
    ['maxPool', { type: 'maxPool' }, [2, 4, 4, 3]],
    ['globalAvgPool', { type: 'globalAvgPool' }, [2, 3, 3, 4]],
    ['relu', { type: 'relu' }, [3, 9]],
    ['prelu', { type: 'prelu' }, [2, 3, 3, 2]],
  ];
  for (const [name, spec, inShape] of layers) {
    law(`${B.name}: layer ${name} forward and backward agree with cpu64`, [
      fc.nat(),
      distinct32(inShape),
    ], (seed, x) => {
      const layer = buildLayer(orThrow(decodeLayerSpec(spec)));
      const init = layer.init(inShape.slice(1), rng(seed), 'float32');
      const ctx = { training: true, rng: rng(seed) };
      const fy = layer.forward(B, init.params, init.state, x, ctx);
      const ry = layer.forward(cpu64, init.params, init.state, x, ctx);
      const dy = tensor(ry.y.shape, Float32Array.from(ry.y.data, (_, i) => Math.fround(Math.sin(i + seed))));
      const fb = layer.backward(B, init.params, fy.res, dy, true);
      const rb = layer.backward(cpu64, init.params, ry.res, dy, true);
      return close(B, fy.y, ry.y, 'y') && close(B, fb.dx, rb.dx, 'dx') && allClose(B, fb.dparams, rb.dparams, 'dparams');
    }, { numRuns: 5 });
  }
}
