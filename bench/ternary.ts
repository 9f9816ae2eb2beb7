/**
 * Ternary × ternary GEMM benchmark: the WebAssembly popcount kernels (backends/ternary.ts)
 * against float32 GEMMs of the same shapes — sttn's wasm backend `matmul` (transB) and
 * @tensorflow/tfjs-backend-wasm (XNNPACK, SIMD, one thread) — in one process, round-robin,
 * medians (bench/common.ts).
 *
 * Run: `npx tsx bench/ternary.ts` (after `npm run build:wasm`). Results: bench/TERNARY.md.
 *
 * C[M×N] = A[M×K]·Wᵀ with W stored [N, K] (a dense or OHWI kernel). GMAC/s = M·N·K / time.
 * What is timed, per call:
 * - `ternary gemm`: `gemm` from packed JS Uint32Arrays to a JS Int32Array (both operand copies into
 *   wasm memory, the panel layout and the copy out included); W packed once, as a model's weights.
 * - `pack A + gemm`: the same plus packing A from an Int8Array of codes (what the inference engine
 *   does per layer).
 * - `float wasm`: sttn's wasm backend `matmul(A, W, { transB: true })` from JS Float32Arrays.
 * - `tfjs-wasm`: `tf.matMul(A, Wᵀ)` on tensors already in tfjs's heap, with Wᵀ transposed once
 *   beforehand (tfjs's transpose flags take a slow path), result read back with `dataSync()`.
 * Each timed run repeats its call enough times to last ~40 ms, so short calls are measured too.
 */
import { execFileSync } from 'node:child_process';
import { createWasmTernaryKernels } from '../backends/ternary.js';
import { createWasmBackend } from '../backends/wasm.js';
import { wordsPerRow } from '../src/infer/ternary-kernels.js';
import { CLOCK, fmt, machine, randomF32, repeated, roundRobin, table, tfjsWasm } from './common.js';

interface Shape {
  readonly label: string;
  readonly m: number;
  readonly k: number;
  readonly n: number;
}

const shapes: readonly Shape[] = [
  { label: '[64×4608]·[4608×512]', m: 64, k: 4608, n: 512 },
  { label: '[64×288]·[288×64]', m: 64, k: 288, n: 64 },
  { label: '[12544×288]·[288×64] (cnn-small conv, batch 64, im2col)', m: 12544, k: 288, n: 64 },
  { label: '[1×4608]·[4608×512] (batch 1)', m: 1, k: 4608, n: 512 },
];

const ROUNDS = 9;

/** Ternary codes with about 1/3 each of −1, 0, +1 (the kernels' speed does not depend on them). */
function codes(n: number, seed: number): Int8Array {
  const out = new Int8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = Math.floor((s / 2 ** 32) * 3) - 1;
  }
  return out;
}

const sh = (cmd: string): string => {
  try {
    return execFileSync(cmd, { encoding: 'utf8' }).trim();
  } catch {
    return `(${cmd} unavailable)`;
  }
};

const tern = await createWasmTernaryKernels();
const wasmF = await createWasmBackend();
const tf = await tfjsWasm();

console.log(`uptime before: ${sh('uptime')}`);
console.log(`${machine()}; float wasm build: ${wasmF.kernel}`);
console.log(`command: npx tsx bench/ternary.ts${CLOCK === 'wall' ? ' (STTN_BENCH_CLOCK=wall)' : ''}; ${ROUNDS} rounds, medians\n`);

const names = ['ternary gemm', 'pack A + gemm', 'float wasm', 'tfjs-wasm'] as const;
const rows: string[][] = [];
for (const s of shapes) {
  const { m, k, n } = s;
  const macs = m * n * k;
  const aCodes = codes(m * k, 1);
  const wCodes = codes(n * k, 2);
  const pa = tern.pack(aCodes, m, k);
  const pw = tern.pack(wCodes, n, k);
  const aBuf = new Uint32Array(m * wordsPerRow(k));
  const out = new Int32Array(m * n);
  const aF = { shape: [m, k], data: randomF32(m * k, 3) };
  const wF = { shape: [n, k], data: randomF32(n * k, 4) };
  const aT = tf.tensor2d(aF.data, [m, k]);
  const wT = tf.tensor2d(wF.data, [n, k]);
  const wTt = tf.transpose(wT);
  const timed = [
    repeated(names[0], () => tern.gemm(pa, pw, m, n, k, out)),
    repeated(names[1], () => tern.gemm(tern.pack(aCodes, m, k, aBuf), pw, m, n, k, out)),
    repeated(names[2], () => wasmF.matmul(aF, wF, { transB: true })),
    repeated(names[3], () => {
      const c = tf.matMul(aT, wTt);
      c.dataSync();
      c.dispose();
    }),
  ];
  const ms = roundRobin(
    timed.map((t) => t.contender),
    ROUNDS,
    1,
  );
  const gmacs = timed.map((t) => (macs * t.reps) / (ms.get(t.contender.name)! * 1e6));
  const usPerCall = timed.map((t) => (ms.get(t.contender.name)! * 1000) / t.reps);
  rows.push([
    s.label,
    ...gmacs.map((g, i) => `${fmt(g)} (${fmt(usPerCall[i], usPerCall[i] < 100 ? 1 : 0)} µs)`),
    `${fmt(gmacs[0] / gmacs[2])}×`,
    `${fmt(gmacs[0] / gmacs[3])}×`,
  ]);
  aT.dispose();
  wT.dispose();
  wTt.dispose();
  console.error(`done ${s.label}`);
}

console.log(table(['shape', ...names.map((x) => `${x} GMAC/s (per call)`), 'ternary / float wasm', 'ternary / tfjs-wasm'], rows));
console.log(`\nuptime after: ${sh('uptime')}`);
