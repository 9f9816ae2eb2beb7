/**
 * Ternary × ternary kernels in WebAssembly: the `TernaryKernels` contract of
 * src/infer/ternary-kernels.ts (2+2-bit rows, [nz_lo, nz_hi, sign_lo, sign_hi] per 64 lanes) with
 * `gemm` as a bit-serial popcount GEMM and `pack` as SIMD compares, the whole ternary `layer`
 * (quantize-and-pack with the fused pre ops, packed im2col, GEMM (a last group of at most 32
 * lanes on SIMD tail kernels), scale/bias/relu epilogue and an optional max-pool, in one pass
 * through wasm memory, its output left there for the next step with `runInPlace`), `maxPool`, and
 * the float `floatConv` (direct) and `floatDense`; compiled by AssemblyScript from
 * backends/ternary/assembly into build/wasm/sttn-ternary.wasm (`npm run build:wasm`). Two opt-in
 * relaxed-SIMD builds run the ternary layers' products on the table-lookup GEMM of
 * backends/ternary/assembly/lookup.ts (`i8x16.relaxed_swizzle`: the same integer sums, so those
 * layers' outputs are the same bits): `lookup` (sttn-ternary-lookup.wasm, `tables: true`) keeps
 * the float kernels' multiply-adds plain, so its results are the plain build's bit for bit;
 * `fma` (sttn-ternary-fma.wasm, `fma: true`) also runs them as `relaxed_madd`, fused where the
 * CPU has FMA, within float32 rounding of the reference. This file
 * loads it and joins the glue of backends/ternary/, one file per concept: memory.ts (the resident
 * and scratch regions), pack.ts, gemm.ts (with the weight panels), layer.ts, pool.ts, float.ts.
 *
 * For rows x and w, with m = nz_x & nz_w and t = m & (sign_x ^ sign_w):
 *   Σ_j x_j·w_j = popcount(m ^ t) − popcount(t)        (64 lanes per i64.popcnt pair)
 *
 * Each instance owns its memory: what a compiled layer keeps is resident there, each call's
 * scratch lies above it (backends/ternary/memory.ts). With `threads` N > 1 the threaded build runs
 * on a shared memory and every kernel of a batch (a layer's quantize-and-pack and its row chunks,
 * the first float convolution, the float dense layer, max pooling) runs as up to N parts on the
 * thread pool of backends/wasm/threads.ts (`layerChunks`, split by rows, images or chunks of rows,
 * never along a sum), bit for bit as on one thread. A call copies its input in and its result
 * out: into the caller's array when one is given (the engine reuses one per step), else a fresh
 * one. `pack` reads Int8Array and Float32Array values as they are and any other
 * array through a Float64Array copy, so every value is checked exactly. The float thresholds of
 * Eq. 14 need not be float32 values: a layer compares float32 activations with the float32 bounds
 * that give the same answers as the float64 comparison. Float64 layers (a float64 backend) and
 * pools of float64 arrays run on the reference implementation.
 *
 * Law (laws/ternary-kernels.test.ts, laws/engine-threads.test.ts): `gemm` equals the plain integer dot product exactly and
 * `pack` equals the reference packing bit for bit, for every K and row count; a value other than
 * −1, 0, +1 is a RangeError naming its row and column; `layer`, `maxPool`, `floatConv` and
 * `floatDense` equal the reference implementation's bit for bit (a non-finite weight included), and
 * so does a chain of `runInPlace` runs, each reading the previous one's output in place.
 */
import { ConfigError } from '../src/errors.js';
import { compilePackaged, compileWasm, enableRelaxedSimd, type WasmSource } from '../src/assets.js';
import { canBlock, createThreadPool, OP, sharedMemory, type PartExports } from './wasm/threads.js';
import type { TernaryKernels } from '../src/infer/ternary-kernels.js';
import { floatConv, floatDense } from './ternary/float.js';
import { gemm } from './ternary/gemm.js';
import { layer } from './ternary/layer.js';
import { kernelMemory, type KernelMemory, type TernaryExports } from './ternary/memory.js';
import { pack } from './ternary/pack.js';
import { maxPool } from './ternary/pool.js';

export interface WasmTernaryOptions {
  /**
   * Where the compiled kernels come from: bytes, a `WebAssembly.Module`, a URL (string or `URL`;
   * fetched and compiled while streaming in browsers, read from disk for `file:` URLs in Node) or
   * a fetch `Response`. Default: build/wasm/sttn-ternary.wasm next to this module.
   */
  readonly source?: WasmSource;
  /** The same as `source` (its older name, kept for callers that pass a module or bytes). */
  readonly module?: WebAssembly.Module | BufferSource;
  /**
   * The float kernels' multiply-adds as relaxed-SIMD `relaxed_madd`, fused where the CPU has FMA
   * (default false): the first float convolution and the float dense layers then differ from the
   * reference by float32 rounding (at most 2·γ(n+1)·(Σ|x·w| + |bias|) per output) instead of
   * equalling it bit for bit; the ternary layers are unchanged. Default module:
   * build/wasm/sttn-ternary-fma.wasm; a ConfigError where the engine has no relaxed SIMD.
   */
  readonly fma?: boolean;
  /**
   * The ternary layers' products on the table-lookup GEMM of the relaxed-SIMD builds
   * (backends/ternary/assembly/lookup.ts) instead of the popcount GEMM: the same integer sums, so
   * the same outputs bit for bit. Without `fma`, true loads the `lookup` build
   * (build/wasm/sttn-ternary-lookup.wasm; threaded: sttn-ternary-threads-lookup.wasm), whose
   * float kernels are the plain build's, so every result equals the plain build's bit for bit
   * (default false: the plain build; a ConfigError where the engine has no relaxed SIMD). With
   * `fma` the default is true; false runs the fma build's layers on the popcount GEMM.
   */
  readonly tables?: boolean;
  /**
   * Splits each kernel's work into this many parts (default 1), run in turn: the split a thread
   * pool runs at once, each part with its own scratch; results are the same bit for bit for any
   * number of parts.
   */
  readonly parts?: number;
  /**
   * Threads for the ternary layers (default 1): with N > 1 where a thread may block (Node's
   * worker_threads; an isolated Web Worker; N above the cores oversubscribes them), the threaded build
   * (build/wasm/sttn-ternary-threads.wasm, a shared memory) runs each kernel's work of a batch in
   * up to N parts on the pool of backends/wasm/threads.ts, N − 1 workers and the calling thread
   * (a task of one part, batch 1 mostly, stays on the calling thread); results are the same bit
   * for bit as on one thread; with `fma`, build/wasm/sttn-ternary-threads-fma.wasm, the same bits
   * as the fma build on one thread; with `tables` alone, build/wasm/sttn-ternary-threads-lookup.wasm.
   * `dispose()` ends the workers.
   */
  readonly threads?: number;
}

/** The WebAssembly ternary kernels, with `dispose()` to end the threads of a threaded instance. */
export type WasmTernaryKernels = TernaryKernels & {
  readonly threads: number;
  /** Whether the ternary layers' products run on the table-lookup GEMM (else the popcount GEMM). */
  readonly tables: boolean;
  dispose(): void;
};

// ---- loading (see src/assets.ts) -------------------------------------------------------------

/** The three builds: popcount GEMM and plain float kernels; table lookup; table lookup and fused multiply-adds. */
type Build = 'plain' | 'lookup' | 'fma';

/** The build the options ask for (`tables` without `fma`: the lookup build). */
const wanted = (opts: WasmTernaryOptions): Build => (opts.fma === true ? 'fma' : opts.tables === true ? 'lookup' : 'plain');

/** The packaged module's file name, beside this one (`npm run build` copies build/ into dist/build/). */
const fileOf = (build: Build, threaded: boolean): string => `sttn-ternary${threaded ? '-threads' : ''}${build === 'plain' ? '' : `-${build}`}.wasm`;

/** The build a module is, by what it reports: `fused()` (1: fma), `tables()` (1: the lookup GEMM; absent from older builds, where fma implied it). */
function builtAs(exports: TernaryExports): Build {
  if (typeof exports.fused === 'function' && exports.fused() === 1) return 'fma';
  return typeof exports.tables === 'function' && exports.tables() === 1 ? 'lookup' : 'plain';
}

async function ternaryModule(opts: WasmTernaryOptions, build: Build, threaded: boolean): Promise<WebAssembly.Module> {
  const given = opts.source ?? (opts.module === undefined ? undefined : asSource(opts.module));
  const what = 'createWasmTernaryKernels.source';
  // a given module may be any build: with the flag set, a relaxed-SIMD one compiles and checkBuild names it
  if (build !== 'plain' || given !== undefined) enableRelaxedSimd();
  return given === undefined ? compilePackaged(new URL(`../build/wasm/${fileOf(build, threaded)}`, import.meta.url), what) : compileWasm(given, what);
}

const asSource = (m: WebAssembly.Module | BufferSource): WasmSource =>
  m instanceof WebAssembly.Module || m instanceof ArrayBuffer ? m : new Uint8Array(m.buffer, m.byteOffset, m.byteLength);

/** A ConfigError unless the module is the build the options asked for. */
function checkBuild(exports: TernaryExports, build: Build, threaded: boolean): void {
  const is = builtAs(exports);
  if (is === build) return;
  const asked = build === 'plain' ? 'neither fma nor tables' : build === 'lookup' ? 'tables without fma' : 'fma';
  throw new ConfigError('createWasmTernaryKernels.source', `the module is the ${threaded ? 'threaded ' : ''}${is} build, but the options ask for ${asked} (the ${build} build)`);
}

/** Creates the WebAssembly `TernaryKernels` (each instance owns its own memory). */
export async function createWasmTernaryKernels(opts: WasmTernaryOptions = {}): Promise<WasmTernaryKernels> {
  const parts = opts.parts ?? 1;
  if (!Number.isInteger(parts) || parts < 1) throw new ConfigError('createWasmTernaryKernels.parts', `must be an integer ≥ 1, got ${String(parts)}`);
  const threads = opts.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1) throw new ConfigError('createWasmTernaryKernels.threads', `must be an integer ≥ 1, got ${String(threads)}`);
  if (opts.tables !== undefined && typeof opts.tables !== 'boolean') throw new ConfigError('createWasmTernaryKernels.tables', `must be true or false, got ${String(opts.tables)}`);
  if (opts.fma !== undefined && typeof opts.fma !== 'boolean') throw new ConfigError('createWasmTernaryKernels.fma', `must be true or false, got ${String(opts.fma)}`);
  const build = wanted(opts);
  // the lookup GEMM in every relaxed-SIMD build unless asked off (fma with tables: false)
  const tables = build !== 'plain' && opts.tables !== false;
  // where a thread may block; more threads than cores oversubscribe, still bit for bit
  if (threads > 1 && canBlock()) return threadedKernels(opts, build, tables, threads);
  const module = await ternaryModule(opts, build, false);
  if (WebAssembly.Module.imports(module).some((i) => i.kind === 'memory')) {
    throw new ConfigError('createWasmTernaryKernels.source', `the module is a threaded build (it imports a shared memory): it runs with threads > 1${threads > 1 ? ', where a thread may block (not on this thread)' : ''}; on one thread give the single-thread build (${fileOf(build, false)})`);
  }
  const instance = await WebAssembly.instantiate(module, {
    env: {
      abort: (): never => {
        throw new Error('sttn ternary wasm kernel aborted');
      },
    },
  });
  const exports = instance.exports as unknown as TernaryExports;
  if (typeof exports.gemm !== 'function' || typeof exports.quantPack !== 'function') {
    throw new ConfigError('createWasmTernaryKernels.source', "the module is not sttn's ternary kernels (no gemm/quantPack exports)");
  }
  checkBuild(exports, build, false);
  return makeKernels(kernelMemory(exports, parts), build, 1, () => {}, tables);
}

/** The threaded build on a shared memory, with a pool of `threads` running each layer's parts. */
async function threadedKernels(opts: WasmTernaryOptions, build: Build, tables: boolean, threads: number): Promise<WasmTernaryKernels> {
  const what = 'createWasmTernaryKernels.source';
  const module = await ternaryModule(opts, build, true);
  const imports = WebAssembly.Module.imports(module);
  if (!imports.some((i) => i.kind === 'memory')) throw new ConfigError(what, `threads > 1 need the threaded build (build/wasm/${fileOf(build, true)}: an imported shared memory)`);
  const memory = sharedMemory(16);
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  const exports = { ...(instance.exports as unknown as TernaryExports), memory };
  if (typeof exports.layerChunks !== 'function') throw new ConfigError(what, "the module is not sttn's ternary kernels (no layerChunks export)");
  checkBuild(exports, build, true);
  const pool = await createThreadPool(module, memory, exports as unknown as PartExports, threads);
  // a task of one part (batch 1, most often) runs here: waking the workers would cost more than it could save
  const run = (desc: number, parts: number): void => (parts > 1 ? pool.run(OP.layerChunks, [desc], parts) : exports.layerChunks(desc, 0, 1));
  return makeKernels(kernelMemory(exports, pool.threads, run), build, pool.threads, () => pool.dispose(), tables);
}

/** The contract's record over one instance: every kernel shares its memory. */
function makeKernels(mem: KernelMemory, build: Build, threads: number, dispose: () => void, tables: boolean): WasmTernaryKernels {
  return {
    name: (build === 'plain' ? 'wasm' : `wasm-${build}`) + (threads > 1 ? `-threads-${threads}` : ''),
    threads,
    tables,
    dispose,
    fast: true,
    pack: (values, rows, k, out) => pack(mem, values, rows, k, out),
    gemm: (a, w, m, n, k, out) => gemm(mem, a, w, m, n, k, out),
    layer: (spec) => layer(mem, spec, tables),
    maxPool: (x, shape, size, strides, relu, out) => maxPool(mem, x, shape, size, strides, relu, out),
    floatConv: (spec) => floatConv(mem, spec),
    floatDense: (spec) => floatDense(mem, spec),
  };
}
