/**
 * Convolution benchmark: sttn's wasm backend (plain-SIMD and relaxed-SIMD builds) against
 * @tensorflow/tfjs-backend-wasm (SIMD, one thread), NHWC batch 32, 28×28, 32→64 channels, 3×3,
 * stride 1, same padding: forward, input gradient, weight gradient and the three together.
 *
 * Run: `npx tsx bench/conv.ts` (after `npm run build:wasm`). Results: bench/RESULTS.md.
 *
 * sttn is timed from JS Float32Arrays to JS Float32Arrays (copies in and out included); tfjs's
 * operands live in its heap and results are read back with `dataSync()`. tfjs's kernel weights
 * are HWIO (`[kh, kw, cin, cout]`), transposed from sttn's OHWI once, outside the timing.
 *
 * tfjs-backend-wasm has no Conv2DBackpropFilter kernel, so its weight gradient is written from
 * its own ops as im2col + GEMM: pad x, take the 9 shifted [n, oh, ow, cin] slices, concatenate
 * them along channels into cols = [n·oh·ow, 9·cin] (the (ky, kx, ci) order of HWIO), then
 * dW = transpose(cols)·dY as an explicit transpose and a plain matMul (its matMul with
 * transposeA is ~13× slower), reshaped to HWIO. The input gradient uses its Conv2DBackpropInput
 * kernel (`tf.conv2dTranspose`). Before timing, each tfjs result is checked against sttn's.
 */
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { createWasmBackend } from '../backends/wasm.js';
import type { Backend, Conv2dOptions } from '../src/backend.js';
import type { Tensor } from '../src/tensor.js';
import { type Contender, fmt, machine, randomF32, roundRobin, table, tfjsWasm } from './common.js';

const [N, H, W, CIN, COUT, K] = [32, 28, 28, 32, 64, 3];
const opts: Conv2dOptions = { strides: [1, 1], pads: [1, 1] };
const flops = 2 * N * H * W * COUT * K * K * CIN; // per product; fwd, dx and dW each cost this

const tf = await tfjsWasm();
const plain = await createWasmBackend({ kernel: 'plain' });
const relaxed = await createWasmBackend({ kernel: 'relaxed' });

const [xd, wd, dyd] = [randomF32(N * H * W * CIN, 1), randomF32(COUT * K * K * CIN, 2), randomF32(N * H * W * COUT, 3)];
const x: Tensor = { shape: [N, H, W, CIN], data: xd };
const w: Tensor = { shape: [COUT, K, K, CIN], data: wd };
const dy: Tensor = { shape: [N, H, W, COUT], data: dyd };

const tx = tf.tensor4d(xd, [N, H, W, CIN]);
const tw = tf.tidy(() => tf.transpose(tf.tensor4d(wd, [COUT, K, K, CIN]), [1, 2, 3, 0])); // OHWI → HWIO
const tdy = tf.tensor4d(dyd, [N, H, W, COUT]);

const tfForward = (): Float32Array => {
  const y = tf.conv2d(tx, tw, 1, 'same');
  const d = y.dataSync() as Float32Array;
  y.dispose();
  return d;
};
const tfGradInput = (): Float32Array => {
  const dx = tf.conv2dTranspose(tdy, tw, [N, H, W, CIN], 1, 'same');
  const d = dx.dataSync() as Float32Array;
  dx.dispose();
  return d;
};
/** dW (HWIO) = colsᵀ·dY with cols built from shifted slices of the padded input. */
const tfGradFilter = (): Float32Array => {
  const dw = tf.tidy(() => {
    const xp = tf.pad(tx, [[0, 0], [1, 1], [1, 1], [0, 0]]);
    const slices: Tensor4D[] = [];
    for (let ky = 0; ky < K; ky++) for (let kx = 0; kx < K; kx++) slices.push(tf.slice(xp, [0, ky, kx, 0], [N, H, W, CIN]));
    const cols = tf.reshape(tf.concat(slices, 3), [N * H * W, K * K * CIN]);
    return tf.reshape(tf.matMul(tf.transpose(cols), tf.reshape(tdy, [N * H * W, COUT])), [K, K, CIN, COUT]);
  });
  const d = dw.dataSync() as Float32Array;
  dw.dispose();
  return d;
};

// Same numbers from both libraries (tfjs's dW is HWIO, sttn's OHWI).
{
  const rel = (a: ArrayLike<number>, b: ArrayLike<number>, at: (i: number) => number = (i) => i): number => {
    let num = 0;
    let den = 0;
    for (let i = 0; i < b.length; i++) {
      num = Math.max(num, Math.abs(a[at(i)] - b[i]));
      den = Math.max(den, Math.abs(b[i]));
    }
    return num / den;
  };
  const hwioOf = (i: number): number => {
    // i indexes sttn's OHWI; return the HWIO index of the same weight
    const ci = i % CIN;
    const kx = Math.floor(i / CIN) % K;
    const ky = Math.floor(i / (CIN * K)) % K;
    const co = Math.floor(i / (CIN * K * K));
    return ((ky * K + kx) * CIN + ci) * COUT + co;
  };
  const errs = [
    rel(tfForward(), plain.conv2d(x, w, opts).data),
    rel(tfGradInput(), plain.conv2dGradInput(dy, w, x.shape, opts).data),
    rel(tfGradFilter(), plain.conv2dGradFilter(x, dy, w.shape, opts).data, hwioOf),
  ];
  if (errs.some((e) => !(e < 1e-4))) throw new Error(`tfjs and sttn disagree: max relative differences ${errs.join(', ')}`);
}

const sttnParts = (be: Backend) => ({
  fwd: () => void be.conv2d(x, w, opts),
  dx: () => void be.conv2dGradInput(dy, w, x.shape, opts),
  dw: () => void be.conv2dGradFilter(x, dy, w.shape, opts),
});
const parts = {
  plain: sttnParts(plain),
  relaxed: sttnParts(relaxed),
  tfjs: { fwd: () => void tfForward(), dx: () => void tfGradInput(), dw: () => void tfGradFilter() },
};
type Who = keyof typeof parts;
const WHO: Who[] = ['plain', 'relaxed', 'tfjs'];

const cases: { label: string; products: number; run: (who: Who) => () => void }[] = [
  { label: 'forward', products: 1, run: (who) => parts[who].fwd },
  { label: 'input gradient', products: 1, run: (who) => parts[who].dx },
  { label: 'weight gradient', products: 1, run: (who) => parts[who].dw },
  {
    label: 'forward + backward',
    products: 3,
    run: (who) => () => {
      parts[who].fwd();
      parts[who].dx();
      parts[who].dw();
    },
  },
];

const rows: string[][] = [];
for (const c of cases) {
  const contenders: Contender[] = WHO.map((who) => ({ name: who, run: c.run(who) }));
  const ms = roundRobin(contenders);
  const g = (who: Who): number => (c.products * flops) / (ms.get(who)! * 1e6);
  const row = [
    c.label,
    `${fmt(ms.get('plain')!)} ms / ${fmt(g('plain'))}`,
    `${fmt(ms.get('relaxed')!)} ms / ${fmt(g('relaxed'))}`,
    `${fmt(ms.get('tfjs')!)} ms / ${fmt(g('tfjs'))}`,
    `${fmt(g('plain') / g('tfjs'), 2)}×`,
    `${fmt(g('relaxed') / g('tfjs'), 2)}×`,
  ];
  rows.push(row);
  console.error(row.join('  '));
}

console.log(`\n${machine()}\n`);
console.log(`NHWC x [${N}, ${H}, ${W}, ${CIN}], kernel 3×3 ${CIN}→${COUT}, stride 1, same padding; ${fmt(flops / 1e6, 0)} MFLOP per product\n`);
console.log(table(['', 'sttn plain (median ms / GFLOP/s)', 'sttn relaxed', 'tfjs-wasm', 'plain / tfjs', 'relaxed / tfjs'], rows));
