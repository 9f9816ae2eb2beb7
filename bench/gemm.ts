/**
 * GEMM benchmark: sttn's wasm backend (plain-SIMD and relaxed-SIMD builds) against
 * @tensorflow/tfjs-backend-wasm (XNNPACK, SIMD, one thread), in one process, round-robin, medians.
 *
 * Run: `npx tsx bench/gemm.ts` (after `npm run build:wasm`). Results: bench/RESULTS.md.
 *
 * Two tables, one set of rounds (every contender of a shape runs in turn in the same rounds):
 * - *copying*: sttn's `matmul` from JS Float32Arrays to a JS Float32Array, so both operand copies
 *   into wasm memory and the copy out are included. tfjs's operands already live in its wasm heap
 *   (its natural use); its result is read back with `dataSync()`.
 * - *resident* (issue #16 item 4): the operands already in wasm memory on both sides. For the
 *   plain build, inside the backend's `resident` scope (operands made there once, every `matmul`
 *   result left there as a view), at 1 thread and, as extra columns, 2 threads. The relaxed build
 *   has no resident mode (no shared-memory build), so its resident figure calls the module's own
 *   `gemm` export on operands placed once in its memory, output overwritten in place. tfjs is
 *   timed without `dataSync()` (its result stays in its heap). Every resident result is checked
 *   bit for bit against the same build's copying `matmul` before timing.
 * tfjs's matMul with transpose flags takes a slow path, so transposed products are also timed as
 * an explicit `tf.transpose` followed by a plain matMul; ratios are against the faster of the two.
 */
import { readFileSync } from 'node:fs';
import { createWasmBackend, type WasmBackend } from '../backends/wasm.js';
import type { Backend } from '../src/backend.js';
import type { Tensor } from '../src/tensor.js';
import { CLOCK, type Contender, fmt, machine, randomF32, roundRobin, table, tfjsWasm } from './common.js';

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
const ONLY = process.env.STTN_BENCH_GEMM_ONLY; // a substring of the labels to run, for a quick look
const ROUNDS = 9;
const WARMUP = 3;

const tf = await tfjsWasm();
// Every `plain` backend runs the threaded plain build on a shared memory (resident mode's build);
// `plainCopy` is a separate instance, never inside a scope, so it copies like any backend. On
// Node 20 `relaxed` sets --experimental-wasm-relaxed-simd before compiling (see backends/wasm.ts).
const plainCopy = await createWasmBackend({ kernel: 'plain' });
const plain = await createWasmBackend({ kernel: 'plain' });
const plain2 = await createWasmBackend({ threads: 2 });
const relaxed = await createWasmBackend({ kernel: 'relaxed' });
for (const [name, be] of [['plain', plain], ['plain2', plain2]] as const) {
  if (!be.resident) throw new Error(`the ${name} wasm backend has no resident mode here: the resident columns cannot be measured`);
}

/** The relaxed build's own exports: `gemm` on byte offsets into its (unshared) memory. */
interface GemmExports {
  readonly memory: WebAssembly.Memory;
  heapBase(): number;
  relaxed(): number;
  gemmWorkBytes(): number;
  gemm(tA: number, tB: number, m: number, n: number, k: number, a: number, lda: number, b: number, ldb: number, c: number, ldc: number, acc: number, work: number): void;
}
const relaxedModule = (await WebAssembly.instantiate(readFileSync(new URL('../build/wasm/sttn-relaxed-simd.wasm', import.meta.url)), {
  env: { abort: () => { throw new Error('wasm abort'); } },
})).instance.exports as unknown as GemmExports;
if (relaxedModule.relaxed() !== 1) throw new Error('build/wasm/sttn-relaxed-simd.wasm is not the relaxed build');

const sameBits = (x: ArrayLike<number>, y: ArrayLike<number>): boolean => {
  if (!(x instanceof Float32Array && y instanceof Float32Array) || x.length !== y.length) return false;
  const u = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const v = new Uint32Array(y.buffer, y.byteOffset, y.length);
  for (let i = 0; i < u.length; i++) if (u[i] !== v[i]) return false;
  return true;
};

/**
 * Writes every page a resident scope of `bytes` will use, once: a grown wasm memory's pages are
 * mapped on first write, which would otherwise land on the first timed calls only (a training
 * step reuses the same pages every step).
 */
function pretouch(be: WasmBackend, bytes: number): void {
  const x: Tensor = { shape: [Math.ceil(bytes / 8)], data: new Float32Array(Math.ceil(bytes / 8)) };
  be.resident!(() => void be.scalar('mul', x, 1));
}
const shapes = SHAPES.filter((s) => ONLY === undefined || s.label.includes(ONLY));
const scopeBytes = Math.max(...shapes.map((s) => 4 * (s.m * s.k + s.k * s.n + (ROUNDS + WARMUP + 2) * s.m * s.n))) + (64 << 20);
pretouch(plain, scopeBytes);
pretouch(plain2, scopeBytes);

const copyRows: string[][] = [];
const resRows: string[][] = [];
for (const s of shapes) {
  const aShape = s.transA ? [s.k, s.m] : [s.m, s.k];
  const bShape = s.transB ? [s.n, s.k] : [s.k, s.n];
  const a = { shape: aShape, data: randomF32(s.m * s.k, 1) };
  const b = { shape: bShape, data: randomF32(s.k * s.n, 2) };
  const ta = tf.tensor(a.data, aShape as [number, number]);
  const tb = tf.tensor(b.data, bShape as [number, number]);
  const opts = { transA: !!s.transA, transB: !!s.transB };
  const transposed = opts.transA || opts.transB;
  const lda = aShape[1];
  const ldb = bShape[1];
  const refPlain = plainCopy.matmul(a, b, opts).data;
  const refRelaxed = relaxed.matmul(a, b, opts).data;

  // The relaxed module's memory: a, b, c, work, laid out once.
  const rm = relaxedModule;
  const pa = Math.ceil(rm.heapBase() / 64) * 64;
  const pb = pa + Math.ceil((s.m * s.k * 4) / 64) * 64;
  const pc = pb + Math.ceil((s.k * s.n * 4) / 64) * 64;
  const pw = pc + Math.ceil((s.m * s.n * 4) / 64) * 64;
  const need = pw + rm.gemmWorkBytes();
  if (need > rm.memory.buffer.byteLength) rm.memory.grow(Math.ceil((need - rm.memory.buffer.byteLength) / 65536));
  new Float32Array(rm.memory.buffer, pa, s.m * s.k).set(a.data);
  new Float32Array(rm.memory.buffer, pb, s.k * s.n).set(b.data);
  const relaxedKernel = (): void => rm.gemm(opts.transA ? 1 : 0, opts.transB ? 1 : 0, s.m, s.n, s.k, pa, lda, pb, ldb, pc, s.n, 0, pw);
  relaxedKernel();
  if (!sameBits(new Float32Array(rm.memory.buffer, pc, s.m * s.n), refRelaxed)) throw new Error(`${s.label}: relaxed gemm export differs from relaxed matmul`);

  const tfRun = (readBack: boolean, explicitT: boolean) => (): void => {
    const c = explicitT
      ? tf.tidy(() => tf.matMul(opts.transA ? tf.transpose(ta) : ta, opts.transB ? tf.transpose(tb) : tb))
      : tf.matMul(ta, tb, opts.transA, opts.transB);
    if (readBack) c.dataSync();
    c.dispose();
  };

  const ms = plain.resident!(() =>
    plain2.resident!(() => {
      // resident operands: results of this scope (x·1 is x exactly), read in place by matmul
      const ra = plain.scalar('mul', a, 1);
      const rb = plain.scalar('mul', b, 1);
      const ra2 = plain2.scalar('mul', a, 1);
      const rb2 = plain2.scalar('mul', b, 1);
      if (!sameBits(plain.matmul(ra, rb, opts).data, refPlain)) throw new Error(`${s.label}: resident matmul differs from copying matmul`);
      if (!sameBits(plain2.matmul(ra2, rb2, opts).data, refPlain)) throw new Error(`${s.label}: 2-thread resident matmul differs from 1-thread copying matmul`);
      const sttn = (be: Backend, x: Tensor, y: Tensor): (() => void) => () => void be.matmul(x, y, opts);
      const contenders: Contender[] = [
        { name: 'plain', run: sttn(plainCopy, a, b) },
        { name: 'relaxed', run: sttn(relaxed, a, b) },
        { name: 'plainR', run: sttn(plain, ra, rb) },
        { name: 'relaxedR', run: relaxedKernel },
        { name: 'plainR2', run: sttn(plain2, ra2, rb2) },
        { name: 'tfjs', run: tfRun(true, false) },
        { name: 'tfjsR', run: tfRun(false, false) },
      ];
      if (transposed) contenders.push({ name: 'tfjsT', run: tfRun(true, true) }, { name: 'tfjsTR', run: tfRun(false, true) });
      return roundRobin(contenders, ROUNDS, WARMUP);
    }),
  );
  ta.dispose();
  tb.dispose();
  const gflops = (name: string): number => (2 * s.m * s.n * s.k) / (ms.get(name)! * 1e6);
  const tfBest = Math.max(gflops('tfjs'), transposed ? gflops('tfjsT') : 0);
  const tfBestR = Math.max(gflops('tfjsR'), transposed ? gflops('tfjsTR') : 0);
  const dims = `${s.m}×${s.k}×${s.n}${opts.transA ? ' Aᵀ' : ''}${opts.transB ? ' Bᵀ' : ''}`;
  const ratio = (x: number, digits = 2): string => `${fmt(x, digits)}×`;
  copyRows.push([
    s.label,
    dims,
    fmt(gflops('plain')),
    fmt(gflops('relaxed')),
    fmt(gflops('tfjs')),
    transposed ? fmt(gflops('tfjsT')) : '–',
    ratio(gflops('plain') / tfBest),
    ratio(gflops('relaxed') / tfBest),
    transposed ? ratio(gflops('plain') / gflops('tfjs'), 1) : '–',
  ]);
  resRows.push([
    s.label,
    dims,
    fmt(gflops('plainR')),
    fmt(gflops('relaxedR')),
    fmt(gflops('tfjsR')),
    transposed ? fmt(gflops('tfjsTR')) : '–',
    ratio(gflops('plainR') / tfBestR),
    ratio(gflops('relaxedR') / tfBestR),
    fmt(gflops('plainR2')),
    ratio(gflops('plainR2') / gflops('plainR')),
  ]);
  console.error(`${s.label}  copying: ${copyRows.at(-1)!.slice(2).join('  ')}\n${' '.repeat(s.label.length)}  resident: ${resRows.at(-1)!.slice(2).join('  ')}`);
}
plainCopy.dispose();
plain.dispose();
plain2.dispose();

console.log(`\n${machine()}\n`);
console.log('Copying (sttn from and to JS Float32Arrays; tfjs reads its result back with dataSync), 1 thread:\n');
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
    copyRows,
  ),
);
console.log('\nResident (operands and result in wasm memory on both sides; tfjs without dataSync), 1 thread against 1, plus 2 threads:\n');
console.log(
  table(
    [
      'case',
      'M×K×N',
      'plain resident GFLOP/s',
      'relaxed kernel GFLOP/s',
      'tfjs matMul GFLOP/s',
      'tfjs transpose+matMul GFLOP/s',
      'plain / best tfjs',
      'relaxed / best tfjs',
      `2 threads: plain resident GFLOP/s${CLOCK === 'cpu' ? ' (CPU time of both threads)' : ''}`,
      `2 threads / 1 thread${CLOCK === 'cpu' ? ' (CPU time: not a speed-up)' : ''}`,
    ],
    resRows,
  ),
);
