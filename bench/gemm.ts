/**
 * GEMM benchmark: sttn's wasm backend (plain-SIMD and relaxed-SIMD builds) against
 * @tensorflow/tfjs-backend-wasm (XNNPACK, SIMD, one thread), in one process, round-robin, medians.
 *
 * Run: `npx tsx bench/gemm.ts` (after `npm run build:wasm`). Results: bench/RESULTS.md.
 *
 * What is timed: sttn's `matmul` from JS Float32Arrays to a JS Float32Array, so both operand
 * copies into wasm memory and the copy out are included. tfjs's operands already live in its wasm
 * heap (its natural use); its result is read back with `dataSync()`. tfjs's matMul with transpose
 * flags takes a slow path, so transposed products are also timed as an explicit `tf.transpose`
 * followed by a plain matMul, and the ratio is taken against the faster of the two.
 */
import { createWasmBackend } from '../backends/wasm.js';
import type { Backend } from '../src/backend.js';
import { type Contender, fmt, machine, randomF32, roundRobin, table, tfjsWasm } from './common.js';

interface Shape {
  readonly label: string;
  readonly m: number;
  readonly k: number;
  readonly n: number;
  readonly transA?: boolean;
  readonly transB?: boolean;
}

// MNIST CNN training step, batch 64, NHWC, 3×3 same padding. cols = im2col(x) is [P, 9·cin] with
// P = 64·H·W; W is OHWI, i.e. [cout, 9·cin]. Forward y = cols·Wᵀ; backward dW = colsᵀ·dY (stored
// cols, so transA) and dcols = dY·W.
const P1 = 64 * 28 * 28;
const P2 = 64 * 14 * 14;
const SHAPES: readonly Shape[] = [
  { label: 'square 256', m: 256, k: 256, n: 256 },
  { label: 'square 512', m: 512, k: 512, n: 512 },
  { label: 'square 1024', m: 1024, k: 1024, n: 1024 },
  { label: '8192×288×64', m: 8192, k: 288, n: 64 },
  { label: 'conv1 fwd cols·Wᵀ', m: P1, k: 9, n: 32, transB: true },
  { label: 'conv1 dW = colsᵀ·dY', m: 9, k: P1, n: 32, transA: true },
  { label: 'conv1 dcols = dY·W', m: P1, k: 32, n: 9 },
  { label: 'conv2 fwd cols·Wᵀ', m: P2, k: 288, n: 64, transB: true },
  { label: 'conv2 dW = colsᵀ·dY', m: 288, k: P2, n: 64, transA: true },
  { label: 'conv2 dcols = dY·W', m: P2, k: 64, n: 288 },
];

const tf = await tfjsWasm();
const plain = await createWasmBackend({ kernel: 'plain' });
// On Node 20 this sets --experimental-wasm-relaxed-simd before compiling (see backends/wasm.ts).
const relaxed = await createWasmBackend({ kernel: 'relaxed' });

const rows: string[][] = [];
for (const s of SHAPES) {
  const aShape = s.transA ? [s.k, s.m] : [s.m, s.k];
  const bShape = s.transB ? [s.n, s.k] : [s.k, s.n];
  const a = { shape: aShape, data: randomF32(s.m * s.k, 1) };
  const b = { shape: bShape, data: randomF32(s.k * s.n, 2) };
  const ta = tf.tensor(a.data, aShape as [number, number]);
  const tb = tf.tensor(b.data, bShape as [number, number]);
  const opts = { transA: !!s.transA, transB: !!s.transB };
  const transposed = opts.transA || opts.transB;
  const sttn = (be: Backend): (() => void) => () => void be.matmul(a, b, opts);
  const contenders: Contender[] = [
    { name: 'plain', run: sttn(plain) },
    { name: 'relaxed', run: sttn(relaxed) },
    {
      name: 'tfjs',
      run: () => {
        const c = tf.matMul(ta, tb, opts.transA, opts.transB);
        c.dataSync();
        c.dispose();
      },
    },
  ];
  if (transposed) {
    contenders.push({
      name: 'tfjsT',
      run: () => {
        const c = tf.tidy(() => tf.matMul(opts.transA ? tf.transpose(ta) : ta, opts.transB ? tf.transpose(tb) : tb));
        c.dataSync();
        c.dispose();
      },
    });
  }
  const ms = roundRobin(contenders);
  ta.dispose();
  tb.dispose();
  const gflops = (name: string): number => (2 * s.m * s.n * s.k) / (ms.get(name)! * 1e6);
  const tfBest = Math.max(gflops('tfjs'), transposed ? gflops('tfjsT') : 0);
  const row = [
    s.label,
    `${s.m}×${s.k}×${s.n}${opts.transA ? ' Aᵀ' : ''}${opts.transB ? ' Bᵀ' : ''}`,
    fmt(gflops('plain')),
    fmt(gflops('relaxed')),
    fmt(gflops('tfjs')),
    transposed ? fmt(gflops('tfjsT')) : '–',
    `${fmt(gflops('plain') / tfBest, 2)}×`,
    `${fmt(gflops('relaxed') / tfBest, 2)}×`,
    transposed ? `${fmt(gflops('plain') / gflops('tfjs'), 1)}×` : '–',
  ];
  rows.push(row);
  console.error(row.join('  '));
}

console.log(`\n${machine()}\n`);
console.log(
  table(
    [
      'case',
      'M×K×N',
      'sttn plain GFLOP/s',
      'sttn relaxed GFLOP/s',
      'tfjs matMul GFLOP/s',
      'tfjs transpose+matMul GFLOP/s',
      'plain / best tfjs',
      'relaxed / best tfjs',
      'plain / tfjs matMul(flags)',
    ],
    rows,
  ),
);
