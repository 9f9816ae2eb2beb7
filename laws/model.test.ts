/**
 * Laws of models (src/models/model.ts) and of the presets (src/models/presets.ts): the model's
 * backward equals the finite differences of its forward; a spec round-trips through its codec and
 * JSON; a spec whose shapes do not chain or whose output is not `[classes]` is a Left naming the
 * layer; input of the wrong shape is a ShapeError naming both shapes; every preset builds at
 * every bit-width pair with full-precision first and last layers and the pair's quantizers inside;
 * `cnn-ternary` keeps at least 90% of its parameters in ternary weights.
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { cpu64 } from '../backends/cpu.js';
import { ConfigError, ShapeError } from '../src/errors.js';
import { leafSpecs } from '../src/layers/index.js';
import { backward, buildModel, forward, initModel, ModelSpec } from '../src/models/model.js';
import { BITS, preset, PRESETS } from '../src/models/presets.js';
import { rng } from '../src/random.js';
import { summarize } from '../src/models/summary.js';
import { tensor } from '../src/tensor.js';
import { gradElement, gradsClose, numericVjp, tensorOf } from './gradcheck.js';
import { example, law, throwsWith } from './law.js';
import { tiny } from './toy.js';

const B = cpu64;

// ---- presets ------------------------------------------------------------------------------------

// issue #15: a digits network whose weights are mostly ternary, first and last layers still float
example('preset cnn-ternary: at 2+2 and 2+32 at least 90% of all parameters (weights, biases, batch norm) are ternary weights', () =>
  (['2+2', '2+32'] as const).every((bits) => {
    const m = buildModel(preset('cnn-ternary', { bits }));
    if (E.isLeft(m)) return false;
    const s = summarize(B, m.right, initModel(m.right, rng(1), 'float64').params);
    const ternary = s.layers.reduce((a, l) => a + l.paramsByBits['2'], 0);
    return ternary / s.totalParams >= 0.9 && s.layers[0].paramsByBits['32'] > 0 && s.layers.at(-1)!.paramsByBits['32'] > 0;
  }),
);

for (const name of PRESETS) {
  example(`preset ${name}: builds at every bit-width pair, first and last layers full precision`, () =>
    BITS.every((bits) => {
      const spec = preset(name, { bits, width: name === 'vgg7' ? 1 / 16 : 1 / 4 });
      const m = buildModel(spec);
      if (E.isLeft(m)) return false;
      // layers nested in residual blocks count too
      const quant = leafSpecs(m.right.spec.layers).filter((l) => 'kernelQuantizer' in l);
      const first = quant[0] as { kernelQuantizer: { id: string }; inputQuantizer: { id: string } };
      const last = quant[quant.length - 1] as { kernelQuantizer: { id: string } };
      const inner = quant.slice(1, -1) as { kernelQuantizer: { id: string } }[];
      const wantK = bits === '32+32' ? 'fp' : bits.startsWith('1') ? 'sign' : 'sttn';
      return first.kernelQuantizer.id === 'fp' && first.inputQuantizer.id === 'fp' && last.kernelQuantizer.id === 'fp' && inner.length > 0 && inner.every((l) => l.kernelQuantizer.id === wantK);
    }));
}

example('preset: the default is 2+2 STTN; an unknown preset, bit-width pair or ternary quantizer is a ConfigError naming it', () => {
  const loose = preset as (name: unknown, o?: unknown) => unknown;
  return (
    JSON.stringify(preset('mlp')) === JSON.stringify(preset('mlp', { bits: '2+2', ternary: 'sttn' })) &&
    throwsWith(() => loose('nope', { bits: '2+2' }), ConfigError, 'preset', 'cnn-small') &&
    throwsWith(() => loose('mlp', { bits: '3+3' }), ConfigError, 'bits', '2+2') &&
    throwsWith(() => loose('mlp', { bits: '2+2', ternary: 'bwn' }), ConfigError, 'ternary', 'sttn')
  );
});

// ---- models -------------------------------------------------------------------------------------

law('model spec: decode(encode(spec)) = spec, also through JSON, for every preset at every bit-width pair', [
  fc.constantFrom(...PRESETS),
  fc.constantFrom(...BITS),
  fc.constantFrom(1 / 16, 1 / 4, 1 / 2),
], (name, bits, width) => {
  const m = buildModel(preset(name, { bits, width }));
  if (E.isLeft(m)) return false;
  const back = buildModel(JSON.parse(JSON.stringify(ModelSpec.encode(m.right.spec))));
  return E.isRight(back) && isDeepStrictEqual(back.right.spec, m.right.spec) && isDeepStrictEqual(back.right.shapes, m.right.shapes);
}, { numRuns: 30 });

law('model: backward equals finite differences of the loss (float layers; the STTN layer through its exact + STE claim is covered by its own laws)', [
  fc.record({ seed: fc.nat(), x: tensorOf([2, 4, 4, 1], fc.double({ min: 0.1, max: 1, noNaN: true })), dy: tensorOf([2, 3], gradElement) }),
], ({ seed, x, dy }) => {
  const m = buildModel({ name: 'f', inputShape: [4, 4, 1], classes: 3, layers: [{ type: 'conv2d', filters: 2 }, { type: 'batchNorm' }, { type: 'flatten' }, { type: 'dense', units: 3 }] });
  if (E.isLeft(m)) return false;
  const { params, state } = initModel(m.right, rng(seed), 'float64');
  const ctx = { training: true, rng: rng(1) };
  const f = forward(B, m.right, params, state, x, ctx);
  const g = backward(B, m.right, params, f.res, dy);
  for (const layer of Object.keys(params)) {
    const num = numericVjp((p) => [forward(B, m.right, { ...params, [layer]: p }, state, x, ctx).logits] as const, params[layer], [dy]);
    if (!gradsClose(g[layer], num, 1e-5, 1e-7, layer)) return false;
  }
  return true;
}, { numRuns: 10 });

example('model: input of the wrong shape is a ShapeError naming both shapes', () => {
  const m = tiny();
  const { params, state } = initModel(m, rng(1), 'float64');
  return throwsWith(() => forward(B, m, params, state, tensor([1, 5, 5, 1], new Float64Array(25)), { training: false, rng: rng(1) }), ShapeError, '[batch, 4, 4, 1]', '[1, 5, 5, 1]');
});

example('model spec: a layer whose shapes do not chain, or a wrong output size, is a Left naming the layer', () => {
  const bad1 = buildModel({ inputShape: [4, 4, 1], classes: 3, layers: [{ type: 'dense', units: 3 }] });
  const bad2 = buildModel({ inputShape: [4], classes: 3, layers: [{ type: 'dense', units: 4 }] });
  const bad3 = buildModel({ inputShape: [4], classes: 3, layers: [{ type: 'dense', units: 3, kernelQuantizer: { id: 'sttn', config: { clip: -2 } } }] });
  return (
    E.isLeft(bad1) && bad1.left.field.includes('model.layers.0') &&
    E.isLeft(bad2) && bad2.left.message.includes('[4]') && bad2.left.message.includes('[3]') &&
    E.isLeft(bad3) && bad3.left.message.includes('clip')
  );
});
