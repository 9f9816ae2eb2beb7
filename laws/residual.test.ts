/**
 * Laws of residual blocks (src/layers/residual.ts) and the `resnet-small` preset: the block's
 * backward equals the central finite differences of its forward (float64, cpu backend) with an
 * identity shortcut, a max-pool shortcut, zero-padded channels and nested blocks; it is linear in
 * dy; a block's value and gradients are its layers' own under their prefixes plus a parameter-free
 * shortcut (max-pool, zero channels); specs round-trip and every bad field or shape names its path;
 * `resnet-small` builds at every bit-width pair with full-precision first and last layers, its
 * nested quantized layers counted by the summary; a few steps of a tiny resnet lower the loss.
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { cpu32, cpu64 } from '../backends/cpu.js';
import { orThrow } from '../src/codec.js';
import type { Dataset } from '../src/data/dataset.js';
import { buildLayer, decodeLayerSpec, leafSpecs, LayerSpec, paramsUnder, SHORTCUTS, type Layer, type PlainLayerSpec } from '../src/layers/index.js';
import type { ForwardCtx } from '../src/layers/layer.js';
import { buildModel, initModel } from '../src/models/model.js';
import { BITS, preset, type Bits } from '../src/models/presets.js';
import type { Params } from '../src/quantizers/common.js';
import { derive, restore, rng, snapshot, type Rng } from '../src/random.js';
import { kernelCodes, summarize } from '../src/models/summary.js';
import { size, tensor, tensorClose, type Tensor } from '../src/tensor.js';
import { initTraining, train, TrainConfig } from '../src/train/train.js';
import { gradElement, gradsClose, isLinear, numericVjp, tensorOf } from './gradcheck.js';
import { example, law } from './law.js';

const B = cpu64;
const decoded = (spec: unknown): LayerSpec => orThrow(decodeLayerSpec(spec));

/** Pairwise distinct inputs at least 0.05 from 0 (relu kinks) and 0.01 from each other (max-pool ties). */
const distinctInput = (shape: readonly number[]): fc.Arbitrary<Tensor> =>
  fc
    .uniqueArray(fc.integer({ min: -200, max: 200 }).filter((k) => Math.abs(k) >= 5), { minLength: size(shape), maxLength: size(shape) })
    .map((v) => tensor(shape, v.map((k) => k / 100)));

const KINK_MARGIN = 1e-4;

/**
 * Whether every relu inside the block sees inputs at least KINK_MARGIN from 0 and every max-pool
 * inside it a unique window maximum, so that a central difference of step 1e-6 crosses no kink.
 * The main path is re-run layer by layer from the spec, so the check does not lean on the block's
 * own bookkeeping.
 */
function kinkFree(spec: LayerSpec, params: Params, state: Params, x: Tensor, ctx: ForwardCtx): boolean {
  if (spec.type !== 'residual') return true;
  let y = x;
  for (let j = 0; j < spec.layers.length; j++) {
    const s = spec.layers[j];
    const p = paramsUnder(params, `${j}.`);
    const st = paramsUnder(state, `${j}.`);
    if (s.type === 'relu' && y.data.some((v) => Math.abs(v) < KINK_MARGIN)) return false;
    if (s.type === 'maxPool' && !uniqueWindowMax(y, s.size, s.strides)) return false;
    if (s.type === 'residual' && !kinkFree(s, p, st, y, ctx)) return false;
    y = buildLayer(s).forward(B, p, st, y, ctx).y;
  }
  return true;
}

function uniqueWindowMax(x: Tensor, win: readonly [number, number], str: readonly [number, number]): boolean {
  const [n, h, w, c] = x.shape;
  for (let b = 0; b < n; b++)
    for (let i = 0; i + win[0] <= h; i += str[0])
      for (let j = 0; j + win[1] <= w; j += str[1])
        for (let k = 0; k < c; k++) {
          const v: number[] = [];
          for (let di = 0; di < win[0]; di++) for (let dj = 0; dj < win[1]; dj++) v.push(x.data[((b * h + i + di) * w + j + dj) * c + k]);
          v.sort((a, b2) => b2 - a);
          if (v.length > 1 && v[0] - v[1] < KINK_MARGIN) return false;
        }
  return true;
}

interface Case {
  readonly spec: LayerSpec;
  readonly layer: Layer;
  readonly params: Params;
  readonly state: Params;
  readonly x: Tensor;
  readonly dy: Tensor;
  readonly dy2: Tensor;
  readonly seed: number;
  readonly training: boolean;
}

const seed = fc.integer({ min: 0, max: 2 ** 31 - 1 });

function caseOf(raw: unknown, inShape: number[], training = true): fc.Arbitrary<Case> {
  const spec = decoded(raw);
  const layer = buildLayer(spec);
  return seed.chain((s) => {
    const init = layer.init(inShape.slice(1), rng(s), 'float64');
    const outShape = [inShape[0], ...init.outShape];
    return fc.record({
      spec: fc.constant(spec),
      layer: fc.constant(layer),
      params: fc.constant(init.params),
      state: fc.constant(init.state),
      x: distinctInput(inShape),
      dy: tensorOf(outShape, gradElement),
      dy2: tensorOf(outShape, gradElement),
      seed: fc.constant(s),
      training: fc.constant(training),
    });
  });
}

const ctxOf = (c: Case) => {
  const r0 = snapshot(rng(c.seed + 1));
  return (): ForwardCtx => ({ training: c.training, rng: restore(r0) as Rng });
};

function backwardMatchesFd(c: Case): boolean {
  const ctx = ctxOf(c);
  fc.pre(kinkFree(c.spec, c.params, c.state, c.x, ctx()));
  const f = (p: Params) => {
    const { x, ...params } = p;
    return [c.layer.forward(B, params, c.state, x, ctx()).y] as const;
  };
  const fw = c.layer.forward(B, c.params, c.state, c.x, ctx());
  const bw = c.layer.backward(B, c.params, fw.res, c.dy, true);
  if (!isDeepStrictEqual(Object.keys(bw.dparams).sort(), Object.keys(c.params).sort())) return false;
  return gradsClose({ ...bw.dparams, x: bw.dx }, numericVjp(f, { ...c.params, x: c.x }, [c.dy]), 1e-6, 1e-7, 'residual');
}

function backwardIsLinear(c: Case): boolean {
  const fw = c.layer.forward(B, c.params, c.state, c.x, ctxOf(c)());
  return isLinear(B, ([g]) => {
    const bw = c.layer.backward(B, c.params, fw.res, g, true);
    return { ...bw.dparams, x: bw.dx };
  }, [c.dy], [c.dy2], 0.7, -1.3);
}

const bnConvRelu = (filters: number, strides = 1) => [{ type: 'batchNorm' }, { type: 'conv2d', filters, strides }, { type: 'relu' }];

const cases: [string, fc.Arbitrary<Case>][] = [
  ['identity shortcut, (BN → conv → ReLU) twice', caseOf({ type: 'residual', layers: [...bnConvRelu(2), ...bnConvRelu(2)] }, [2, 4, 4, 2])],
  ['max-pool shortcut for a stride-2 conv, channels padded 2 → 3', caseOf({ type: 'residual', layers: [...bnConvRelu(3, 2), ...bnConvRelu(3)] }, [2, 4, 4, 2])],
  ["max-pool inside the main path, shortcut 'maxPool' 3×3 on 6×6", caseOf({ type: 'residual', layers: [{ type: 'maxPool', size: 3 }, { type: 'conv2d', filters: 1 }], shortcut: 'maxPool' }, [1, 6, 6, 1])],
  ['features (rank 1) with dropout, padded 3 → 5', caseOf({ type: 'residual', layers: [{ type: 'dense', units: 4 }, { type: 'dropout', rate: 0.3 }, { type: 'relu' }, { type: 'dense', units: 5 }] }, [3, 3])],
  ['batch norm in inference inside a block', caseOf({ type: 'residual', layers: [{ type: 'batchNorm' }, { type: 'prelu' }, { type: 'dense', units: 4 }] }, [2, 3], false)],
  ['a block nested in a block, then a downsampling conv', caseOf({ type: 'residual', layers: [{ type: 'residual', layers: [{ type: 'conv2d', filters: 2 }, { type: 'relu' }] }, { type: 'batchNorm' }, { type: 'conv2d', filters: 3, strides: 2 }] }, [2, 4, 4, 2])],
];

for (const [name, arb] of cases) {
  law(`residual (${name}): backward = finite differences of forward`, [arb], backwardMatchesFd, { numRuns: 10 });
  law(`residual (${name}): backward is linear in dy`, [arb], backwardIsLinear, { numRuns: 10 });
}

// ---- a block is its layers plus a parameter-free shortcut -----------------------------------------

/** The shortcut written out: max-pool window = stride = s (s = 1: none), then zero channels up to cout. */
function shortcutByHand(x: Tensor, s: number, cout: number): Tensor {
  const [n, h, w, cin] = x.shape;
  const oh = Math.floor(h / s);
  const ow = Math.floor(w / s);
  const out = new Float64Array(n * oh * ow * cout);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++)
        for (let k = 0; k < cin; k++) {
          let m = -Infinity;
          for (let di = 0; di < s; di++) for (let dj = 0; dj < s; dj++) m = Math.max(m, x.data[((b * h + i * s + di) * w + j * s + dj) * cin + k]);
          out[((b * oh + i) * ow + j) * cout + k] = m;
        }
  return tensor([n, oh, ow, cout], out);
}

/** Its VJP written out: channel k < cin of dy goes to the (unique) maximum of its window. */
function shortcutVjpByHand(x: Tensor, s: number, dy: Tensor): Tensor {
  const [n, h, w, cin] = x.shape;
  const [, oh, ow, cout] = dy.shape;
  const dx = new Float64Array(size(x.shape));
  for (let b = 0; b < n; b++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++)
        for (let k = 0; k < cin; k++) {
          let best = -1;
          for (let di = 0; di < s; di++)
            for (let dj = 0; dj < s; dj++) {
              const at = ((b * h + i * s + di) * w + j * s + dj) * cin + k;
              if (best < 0 || x.data[at] > x.data[best]) best = at;
            }
          dx[best] += dy.data[((b * oh + i) * ow + j) * cout + k];
        }
  return tensor(x.shape, dx);
}

law("a block's value is its layers' value plus the shortcut (max-pool, zero channels); its gradients are its layers' gradients under their prefixes (quantized conv inside)", [
  fc.record({
    seed,
    down: fc.boolean(),
    k: fc.constantFrom('sttn', 'twn', 'sign'),
    a: fc.constantFrom('fp', 'ternary', 'ste_sign'),
    x: distinctInput([2, 4, 4, 2]),
  }).chain((r) => tensorOf([2, r.down ? 2 : 4, r.down ? 2 : 4, 3], gradElement).map((dy) => ({ ...r, dy }))),
], ({ seed: s, down, k, a, x, dy }) => {
  const inner = [{ type: 'batchNorm' }, { type: 'conv2d', filters: 3, strides: down ? 2 : 1, kernelQuantizer: k, inputQuantizer: a }, { type: 'relu' }];
  const block = buildLayer(decoded({ type: 'residual', layers: inner }));
  const { params, state } = block.init([4, 4, 2], rng(s), 'float64');
  const ctx = { training: true, rng: rng(s) };
  const fw = block.forward(B, params, state, x, ctx);
  const bw = block.backward(B, params, fw.res, dy, true);
  // the same layers, run one by one on their own records
  const layers = inner.map((l) => buildLayer(decoded(l)));
  let y = x;
  const fws = layers.map((l, j) => {
    const f = l.forward(B, paramsUnder(params, `${j}.`), paramsUnder(state, `${j}.`), y, ctx);
    y = f.y;
    return f;
  });
  const want = B.binary('add', y, shortcutByHand(x, down ? 2 : 1, 3));
  if (!tensorClose(fw.y, want, 0, 0)) return false;
  let g = dy;
  for (let j = layers.length - 1; j >= 0; j--) {
    const b = layers[j].backward(B, paramsUnder(params, `${j}.`), fws[j].res, g, true);
    for (const key of Object.keys(b.dparams)) if (!tensorClose(bw.dparams[`${j}.${key}`], b.dparams[key], 0, 0)) return false;
    g = b.dx;
  }
  // the shortcut's VJP: dy's first two channels, routed to each window's maximum
  const sc = shortcutVjpByHand(x, down ? 2 : 1, dy);
  return tensorClose(bw.dx, B.binary('add', g, sc), 0, 0) && Object.keys(bw.dparams).length === Object.keys(params).length;
}, { numRuns: 25 });

example('a block carries its layers\' state under their prefixes: a training forward updates it, an inference forward returns it untouched', () => {
  const block = buildLayer(decoded({ type: 'residual', layers: [{ type: 'dense', units: 2 }, { type: 'batchNorm', momentum: 0.5 }] }));
  const init = block.init([2], rng(3), 'float64');
  const x = tensor([2, 2], [1, 2, 3, 6]);
  const tr = block.forward(B, init.params, init.state, x, { training: true, rng: rng(1) });
  const inf = block.forward(B, init.params, init.state, x, { training: false, rng: rng(1) });
  return (
    isDeepStrictEqual(Object.keys(init.state).sort(), ['1.mean', '1.variance']) &&
    isDeepStrictEqual(Object.keys(init.params).sort(), ['0.b', '0.w', '1.beta', '1.gamma']) &&
    !tensorClose(tr.state['1.mean'], init.state['1.mean'], 0, 0) &&
    inf.state === init.state
  );
});

// ---- specs ------------------------------------------------------------------------------------------

const leafRaw: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.constant({ type: 'relu' }),
  fc.double({ min: 0, max: 0.99, noNaN: true }).map((momentum) => ({ type: 'batchNorm', momentum })),
  fc.record({ filters: fc.integer({ min: 1, max: 8 }), strides: fc.integer({ min: 1, max: 2 }), kernelQuantizer: fc.constantFrom('fp', 'sttn', 'twn', 'ttq', 'sign'), inputQuantizer: fc.constantFrom('fp', 'ternary', 'ste_sign') }).map((o) => ({ type: 'conv2d', ...o })),
  fc.integer({ min: 1, max: 3 }).map((s) => ({ type: 'maxPool', size: s })),
  fc.integer({ min: 1, max: 9 }).map((units) => ({ type: 'dense', units })),
  fc.constant({ type: 'quantize' }),
);

const specRaw = fc.letrec<{ spec: Record<string, unknown>; block: Record<string, unknown> }>((tie) => ({
  spec: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leafRaw, tie('block')),
  block: fc
    .record({ layers: fc.array(tie('spec'), { minLength: 1, maxLength: 3 }), shortcut: fc.option(fc.constantFrom(...SHORTCUTS), { nil: undefined }) })
    .map(({ layers, shortcut }) => (shortcut === undefined ? { type: 'residual', layers } : { type: 'residual', layers, shortcut })),
})).block;

law('residual spec: decode(encode(spec)) = spec, nested blocks included; defaults filled (shortcut auto)', [specRaw], (raw) => {
  const d = decodeLayerSpec(raw);
  if (E.isLeft(d)) return false;
  const again = decodeLayerSpec(JSON.parse(JSON.stringify(LayerSpec.encode(d.right))));
  return E.isRight(again) && isDeepStrictEqual(again.right, d.right) && LayerSpec.is(d.right) && d.right.type === 'residual' && (raw.shortcut !== undefined || d.right.shortcut === 'auto');
}, { numRuns: 200 });

law('residual spec: a bad field at any depth is a Left naming its full path', [
  fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 4 }),
], (where) => {
  // nest: at each level, `k` relus and then the next level; the innermost holds the bad conv
  let raw: unknown = { type: 'conv2d', filters: 0 };
  for (let d = where.length - 1; d >= 0; d--) raw = { type: 'residual', layers: [...Array.from({ length: where[d] }, () => ({ type: 'relu' })), raw] };
  const r = decodeLayerSpec({ type: 'residual', layers: [raw] }, 'model.layers.4');
  const path = `model.layers.4.layers.0${where.map((k) => `.layers.${k}`).join('')}.filters`;
  return E.isLeft(r) && r.left.field === path && r.left.message.includes('positive integer');
});

const modelWith = (block: unknown, inputShape: number[] = [8, 8, 2]) =>
  buildModel({ inputShape, classes: 2, layers: [{ type: 'relu' }, block, { type: 'flatten' }, { type: 'dense', units: 2 }] });

example('residual spec errors name the path: empty main path, unknown shortcut, unknown inner type, a bad option of an inner layer', () => {
  const empty = modelWith({ type: 'residual', layers: [] });
  const shortcut = modelWith({ type: 'residual', layers: [{ type: 'relu' }], shortcut: 'conv1x1' });
  const inner = modelWith({ type: 'residual', layers: [{ type: 'relu' }, { type: 'conv' }] });
  const unknownKey = modelWith({ type: 'residual', layers: [{ type: 'relu' }], stride: 2 });
  const padding = modelWith({ type: 'residual', layers: [{ type: 'relu' }, { type: 'relu' }, { type: 'conv2d', kernelSize: 2 }] });
  return (
    E.isLeft(empty) && empty.left.field === 'model.layers.1.layers' &&
    E.isLeft(shortcut) && shortcut.left.field === 'model.layers.1.shortcut' && shortcut.left.message.includes('auto, identity, maxPool') &&
    E.isLeft(inner) && inner.left.field === 'model.layers.1.layers.1.type' &&
    E.isLeft(unknownKey) && unknownKey.left.message.includes('unknown key(s) stride') &&
    E.isLeft(padding) && padding.left.message.includes('model.layers.1 (residual): layers.2 (conv2d): padding')
  );
});

example('residual shapes are checked when the model is built; errors name the block, the inner layer and both shapes', () => {
  const fewer = modelWith({ type: 'residual', layers: [{ type: 'conv2d', filters: 1 }] });
  const identity = modelWith({ type: 'residual', layers: [{ type: 'maxPool' }, { type: 'conv2d', filters: 3 }], shortcut: 'identity' });
  const noDown = modelWith({ type: 'residual', layers: [{ type: 'conv2d', filters: 3 }], shortcut: 'maxPool' });
  const odd = modelWith({ type: 'residual', layers: [{ type: 'conv2d', filters: 4, strides: 3 }] });
  const nested = modelWith({ type: 'residual', layers: [{ type: 'relu' }, { type: 'residual', layers: [{ type: 'relu' }, { type: 'dense', units: 2 }] }] });
  const msg = (r: E.Either<Error, unknown>) => (E.isLeft(r) ? r.left.message : '');
  return (
    msg(fewer).startsWith('model.layers.1 (residual): ') && msg(fewer).includes('[8, 8, 2 or more]') && msg(fewer).includes('found [8, 8, 1]') &&
    msg(identity).includes("'identity'") && msg(identity).includes('[8, 8, 2]') && msg(identity).includes('found [4, 4, 3]') &&
    msg(noDown).includes("'maxPool'") && msg(noDown).includes('found [8, 8, 3]') &&
    msg(odd).includes('max-pool 2×2') && msg(odd).includes('[4, 4, 2 or more]') && msg(odd).includes('found [3, 3, 4]') &&
    msg(nested).includes('model.layers.1 (residual): layers.1.layers.1 (dense)') && msg(nested).includes('found [8, 8, 2]')
  );
});

// ---- resnet-small ---------------------------------------------------------------------------------

const quantizedLeaves = (layers: readonly LayerSpec[]) =>
  leafSpecs(layers).filter((l): l is Extract<PlainLayerSpec, { kernelQuantizer: unknown }> => 'kernelQuantizer' in l);

example('resnet-small: builds at every bit-width pair and ternary quantizer; first and last layers fp; every block conv carries the pair', () =>
  BITS.every((bits: Bits) =>
    (['sttn', 'twn', 'ttq'] as const).every((ternary) => {
      const m = buildModel(preset('resnet-small', { bits, ternary, width: 1 / 4 }));
      if (E.isLeft(m)) return false;
      const layers = m.right.spec.layers;
      const first = layers[0];
      const last = layers[layers.length - 1];
      const inner = quantizedLeaves(layers.filter((l) => l.type === 'residual'));
      const wantK = bits === '32+32' ? 'fp' : bits.startsWith('1') ? 'sign' : ternary;
      const wantA = bits === '1+1' ? 'ste_sign' : bits === '2+2' ? 'ternary' : 'fp';
      return (
        first.type === 'conv2d' && first.kernelQuantizer.id === 'fp' && first.inputQuantizer.id === 'fp' &&
        last.type === 'dense' && last.kernelQuantizer.id === 'fp' && last.inputQuantizer.id === 'fp' &&
        quantizedLeaves(layers).length === inner.length + 2 && inner.length === 12 &&
        inner.every((l) => l.kernelQuantizer.id === wantK && l.inputQuantizer.id === wantA)
      );
    })));

example('resnet-small: 16-32-64 channels × width, halved at stages 2 and 3, for 28×28 and 32×32 inputs', () => {
  const shapes = (inputShape: number[], width?: number) => {
    const m = buildModel(preset('resnet-small', { bits: '2+2', inputShape, width }));
    return E.isLeft(m) ? [] : m.right.shapes.map((s) => s.join('x'));
  };
  const blocks = (s: string[]) => s.slice(4, 10);
  return (
    isDeepStrictEqual(blocks(shapes([28, 28, 1])), ['28x28x16', '28x28x16', '14x14x32', '14x14x32', '7x7x64', '7x7x64']) &&
    isDeepStrictEqual(blocks(shapes([32, 32, 3])), ['32x32x16', '32x32x16', '16x16x32', '16x16x32', '8x8x64', '8x8x64']) &&
    isDeepStrictEqual(blocks(shapes([32, 32, 3], 2)), ['32x32x32', '32x32x32', '16x16x64', '16x16x64', '8x8x128', '8x8x128']) &&
    isDeepStrictEqual(shapes([32, 32, 3]).slice(-2), ['64', '10'])
  );
});

law("resnet-small summary: one row per layer inside the blocks, covering the parameter tree; block convs stored at the pair's bit-width", [
  fc.record({ bits: fc.constantFrom(...BITS), seed: fc.nat() }),
], ({ bits, seed: s }) => {
  const m = buildModel(preset('resnet-small', { bits, width: 1 / 8, inputShape: [8, 8, 1] }));
  if (E.isLeft(m)) return false;
  const { params } = initModel(m.right, rng(s), 'float64');
  const sum = summarize(B, m.right, params);
  const codes = kernelCodes(B, m.right, params);
  // a row `l04_residual.1` owns the `1.`-prefixed entries of `l04_residual`
  const rowParams = (name: string): Params => {
    const [layer, ...path] = name.split('.');
    return path.length === 0 ? params[layer] : paramsUnder(params[layer], path.map((k) => `${k}.`).join(''));
  };
  const count = (p: Params) => Object.values(p).reduce((a, t) => a + size(t.shape), 0);
  const covered = sum.layers.reduce((a, l) => a + count(rowParams(l.name)), 0) === Object.keys(params).reduce((a, l) => a + count(params[l]), 0);
  const blockConvs = sum.layers.filter((l) => /^l\d\d_residual\.\d$/.test(l.name) && l.type === 'conv2d');
  const bitsOf = bits === '32+32' ? '32' : bits.startsWith('1') ? '1' : '2';
  return (
    covered &&
    blockConvs.length === 12 &&
    blockConvs.every((l) => {
      const c = codes[l.name];
      const p = rowParams(l.name);
      const bias = size(p.b.shape);
      if (c === undefined) return false;
      if (c.kind === 'float') return bitsOf === '32' && l.paramsByBits['32'] === size(c.w.shape) + bias && l.bits === 32 * l.paramsByBits['32'];
      const scales = c.kind === 'binary' ? size(c.scale.shape) : size(c.scalePos.shape) + (c.scaleNeg === c.scalePos ? 0 : size(c.scaleNeg.shape));
      return l.paramsByBits[bitsOf] === size(c.codes.shape) && l.paramsByBits['32'] === scales + bias && l.bits === Number(bitsOf) * size(c.codes.shape) + 32 * (scales + bias);
    })
  );
}, { numRuns: 10 });

// ---- training -------------------------------------------------------------------------------------

/** Three classes: which quadrant of an 8×8 image holds a bright 3×3 blob, over faint noise. */
function blobs(n: number, seed: number): Dataset {
  const r = derive(seed, 7);
  const images = new Float32Array(n * 64);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    labels[i] = c;
    const [y0, x0] = [[0, 0], [0, 4], [4, 0]][c];
    const dy = i & 1;
    const dx = (i >> 1) & 1;
    for (let j = 0; j < 64; j++) images[i * 64 + j] = 0.2 * ((r.s[j % 4] >>> (j % 13)) % 5) / 5;
    for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) images[i * 64 + (y0 + dy + a) * 8 + x0 + dx + b] = 1;
  }
  return { name: 'blobs', images: { shape: [n, 8, 8, 1], data: images }, labels, classes: 3 };
}

example('a few training steps of a tiny resnet-small (2+2, STTN) on the cpu backend lower the loss', async () => {
  const m = orThrow(buildModel(preset('resnet-small', { bits: '2+2', width: 1 / 4, inputShape: [8, 8, 1], classes: 3 })));
  const cfg = orThrow(E.mapLeft(() => new Error('bad train config'))(TrainConfig.decode({ epochs: 4, batchSize: 8, augmentPad: 0, optimizer: { lr: 0.01, schedule: 'constant' } })));
  const losses: number[] = [];
  await train(cpu32, m, blobs(24, 3), cfg, initTraining(cpu32, m, cfg), { onStep: (i) => losses.push(i.loss) });
  const first = losses.slice(0, 3).reduce((a, b) => a + b) / 3;
  const last = losses.slice(-3).reduce((a, b) => a + b) / 3;
  return losses.length === 12 && last < 0.7 * first;
});
