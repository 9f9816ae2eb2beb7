/**
 * Laws of the model summary (src/models/summary.ts): parameter counts add up to the parameter trees;
 * bits follow the storage model (32 per float, 2 per ternary, 1 per binary weight, 32 per scale);
 * an STTN layer's sparsity is that of its merged kernel α(B1+B2); MACs follow the geometry; the
 * effective weights are what the layer multiplies with.
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { cpu64 } from '../backends/cpu.js';
import { buildModel } from '../src/models/model.js';
import { initModel } from '../src/models/model.js';
import { BITS, preset } from '../src/models/presets.js';
import { rng } from '../src/random.js';
import { effectiveWeights, kernelCodes, summarize } from '../src/models/summary.js';
import * as sttn from '../src/quantizers/sttn.js';
import { orThrow } from '../src/codec.js';
import { size, tensorEqual } from '../src/tensor.js';
import { law } from './law.js';

const B = cpu64;
const arb = fc.record({ bits: fc.constantFrom(...BITS), weights: fc.constantFrom<'sttn' | 'twn' | 'ttq'>('sttn', 'twn', 'ttq'), seed: fc.nat(), name: fc.constantFrom<'mlp' | 'cnn-small'>('mlp', 'cnn-small') });

law('summary: counts add up to the trees, and bits follow the storage model', [arb], ({ bits, weights, seed, name }) => {
  const m = buildModel(preset(name, { bits, ternary: weights, width: 1 / 8, inputShape: [8, 8, 1] }));
  if (E.isLeft(m)) return false;
  const { params } = initModel(m.right, rng(seed), 'float64');
  const s = summarize(B, m.right, params);
  const codes = kernelCodes(B, m.right, params);
  return s.layers.every((l) => {
    const p = params[l.name];
    const c = codes[l.name];
    const weightsIn = (c === undefined ? 0 : c.kind === 'float' ? size(c.w.shape) : size(c.codes.shape));
    const bias = p.b ? size(p.b.shape) : 0;
    const scales = c === undefined || c.kind === 'float' ? 0 : c.kind === 'binary' ? size(c.scale.shape) : size(c.scalePos.shape) + (c.scaleNeg === c.scalePos ? 0 : size(c.scaleNeg.shape));
    const other = c === undefined ? Object.values(p).reduce((a, t) => a + size(t.shape), 0) : bias;
    const total = l.paramsByBits['32'] + l.paramsByBits['2'] + l.paramsByBits['1'];
    const want = weightsIn + scales + other;
    const wantBits = c === undefined || c.kind === 'float' ? 32 * want : (c.kind === 'binary' ? 1 : 2) * weightsIn + 32 * (scales + other);
    return total === want && l.bits === wantBits && l.bytes === Math.ceil(wantBits / 8);
  }) && s.totalBytes === s.layers.reduce((a, l) => a + l.bytes, 0);
}, { numRuns: 30 });

law("summary: an STTN layer's sparsity is the fraction of zeros of B1 + B2; its effective kernel is α(B1+B2)", [fc.nat()], (seed) => {
  const m = buildModel(preset('cnn-small', { bits: '2+2', inputShape: [8, 8, 1] }));
  if (E.isLeft(m)) return false;
  const { params } = initModel(m.right, rng(seed), 'float64');
  const s = summarize(B, m.right, params);
  const l = s.layers.find((x) => x.quantizer.startsWith('sttn'));
  if (!l) return false;
  const f = sttn.forward(B, { w1: params[l.name].w1, w2: params[l.name].w2 }, orThrow(sttn.decodeConfig({})));
  const zeros = Array.from(f.codes.data).filter((v) => v === 0).length / f.codes.data.length;
  return l.sparsity === zeros && tensorEqual(effectiveWeights(B, m.right, params)[l.name].effective, f.merged) && l.macs === 8 * 8 * 64 * 9 * 32 / 4;
}, { numRuns: 10 });
