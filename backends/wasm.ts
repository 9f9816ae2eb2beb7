/**
 * The wasm backend: sttn's fast CPU path, float32, with matmul and the convolutions in
 * WebAssembly SIMD (kernels in backends/wasm/assembly, compiled by AssemblyScript into
 * build/wasm/ by `npm run build:wasm`).
 *
 * Two builds ship: plain SIMD and relaxed SIMD (`f32x4.relaxed_madd`, a fused multiply-add where
 * the hardware has one: 35–50% more GFLOP/s for K ≥ 256 on the benchmark machine, see
 * bench/RESULTS.md). The default is the plain build, whose results are the same on every CPU
 * (WebAssembly lets an engine fuse `relaxed_madd` or not, and V8 fuses it only where the CPU has
 * FMA3). `kernel: 'auto'` takes the relaxed build when `WebAssembly.validate` accepts it. Node 20's V8 has relaxed SIMD complete but behind
 * `--experimental-wasm-relaxed-simd` (on by default from V8 11.4, Node 22), so on Node `auto` and
 * `relaxed` set that flag through `v8.setFlagsFromString` before validating; the flag only lets
 * wasm modules use the relaxed instructions. `kernel: 'plain'` forces the plain build and leaves
 * V8's flags alone. Relaxed results may differ from plain ones by the rounding a fused
 * multiply-add saves; on one machine each build is deterministic.
 *
 * Operands are copied once into wasm memory, results once out; im2col happens inside wasm from
 * the copied NHWC input. Element-wise maps, axpy, select, reductions and max pooling run in wasm
 * too (assembly/elementwise.ts, assembly/pool.ts): copying in and out is a memcpy, a few times
 * cheaper than a JS loop over a typed array, and the SIMD pass is cheaper still; each gives the
 * cpu backend's float32 result bit for bit (only `exp` and `log`, which WebAssembly lacks, stay
 * JS loops), as do the fused batch-norm passes (`batchNormMoments`, …: ./wasm/batchnorm.ts, the
 * bits of the compositions they replace, laws/fused-batchnorm.test.ts) and the fused layer pairs
 * (`maxPoolRelu`, `batchNormAffineRelu`, `batchNormMomentsOfRelu`, …: a maxPool → relu, batchNorm →
 * relu or relu → batchNorm pair in one pass
 * each way, option `fuse`, laws/fused-layers.test.ts). Products, convolutions,
 * max pooling of 2¹⁶ elements or more, and the element-wise
 * maps and reductions of 2¹⁷ elements or more run on `threads` (backends/wasm/threads.ts; maps
 * split into runs of whole elements, pooling by images, reductions by rows, or by columns of a
 * strided one, each output's sum in its one-thread order: so the same bits); the rest on the
 * calling thread. A split task has a few parts per thread (`partsOf`), claimed by whichever
 * thread is free, so a late worker slows it by little. Linear memory grows to the largest call's operands plus its work area and is
 * kept (wasm memory cannot shrink).
 *
 * Resident mode (`resident(f)`, src/backend.ts; on by default where it can run): inside `f` every
 * result stays in wasm memory, returned as a Float32Array view, and an operand that is such a view
 * is read in place, so a training step's activations and gradients go from layer to layer with no
 * copy out and back; the scope's end copies out what `f` returns. The same kernels run in the same
 * order on the same bytes, so results are bit-identical to the copying mode. A view must survive
 * memory growth, which detaches every view of a non-shared memory, so resident mode runs the
 * threaded plain build on a shared memory at any thread count (at 1 thread, no worker: its parts
 * equal the plain build's kernels bit for bit, laws/threads.test.ts). Where there is no shared
 * memory (a page without cross-origin isolation), for the relaxed build and for a `source` with no
 * threads build, the backend has no `resident` and copies as before. The fused quantizer kernels
 * (./wasm/quantize.ts) do the same inside a scope: resident operands read in place, outputs kept.
 *
 * Memory: the copying builds grow to the largest call (the unshared plain build up to 4 GiB); the
 * shared memory is capped at 2 GiB, of which a scope keeps at most `residentBytes` (default 1 GiB,
 * at most 1.5 GiB: the rest is the working room for a call's operands and work area). A resident
 * training step keeps all its activations and gradients: about 72 MB for cnn-small at batch 64 (76 MB at 2+2),
 * and wasm memory never shrinks, so the memory stays at its largest step's size. A call that
 * cannot get its memory is a ConfigError naming the bytes it needs and `residentBytes`
 * (./wasm/memory.ts), never the engine's bare RangeError.
 *
 * Unlike the cpu reference, whose GEMM skips zero entries of A, 0·∞ here is NaN, as IEEE says.
 *
 * Law (laws/backend-agreement.test.ts): every primitive agrees with cpu64 within a tolerance
 * derived from `precision` (2⁻²⁴); shape mismatches throw the same ShapeError as cpu.
 * laws/wasm-elementwise.test.ts: the element-wise, reduction and pooling kernels equal cpu32's
 * loops exactly (contiguous-run reductions: within float64 rounding).
 * laws/resident.test.ts: training in resident mode equals the copying mode bit for bit (params,
 * state, optimizer slots, losses; 1 and 2 threads), nothing it returns is a view on wasm memory,
 * a throw inside a scope leaves the arena reset, views survive memory growth, an async f is
 * refused without an unhandled rejection, and a call past the memory's maximum is a ConfigError.
 */
import type { Backend, BinaryOp, Conv2dOptions, MatmulOptions, PoolOptions, ReduceOp, ScalarOp, UnaryOp } from '../src/backend.js';
import { roundoff } from '../src/backend.js';
import { ConfigError, ShapeError } from '../src/errors.js';
import { assertConvOutput, broadcastLayout, convGeometry, matmulShape, poolGeometry, reduceShape, type ConvGeometry } from '../src/shapes.js';
import { assertSameShape, size, type Tensor } from '../src/tensor.js';
import { enableRelaxedSimd, packagedBytesOrModule, wasmBytesOrModule, type WasmSource } from '../src/assets.js';
import { createJsBackend } from './js.js';
import type { QuantizerKernels } from '../src/quantizers/fast.js';
import { createQuantizerKernels, type QuantizeExports } from './wasm/quantize.js';
import { createBatchNormOps, type BatchNormExports } from './wasm/batchnorm.js';
import { growTo, PAGE } from './wasm/memory.js';
import { canBlock, createThreadPool, MAX_PARTS, OP, SHARED_MAX_PAGES, sharedMemory, type PartExports, type ThreadPool } from './wasm/threads.js';

/** Which GEMM build to run: `auto` takes relaxed SIMD when this engine can run it, else plain. */
export type WasmKernel = 'auto' | 'plain' | 'relaxed';

export interface WasmBackendOptions {
  /**
   * Default `plain`: bit-identical results on every CPU. `auto` and `relaxed` trade that for the
   * fused multiply-add's speed; `relaxed` fails with a ConfigError when the engine cannot run it.
   */
  readonly kernel?: WasmKernel;
  /**
   * Where the compiled kernels come from: bytes, a `WebAssembly.Module`, a URL (string or `URL`;
   * fetched and compiled while streaming in browsers, read from disk for `file:` URLs in Node) or
   * a fetch `Response` — one build (then it is the build, and `kernel` must agree if given), or
   * `{ plain, relaxed }`. Default: the packaged build/wasm/ files next to this module.
   */
  readonly source?: WasmSource | { readonly plain?: WasmSource; readonly relaxed?: WasmSource; readonly threads?: WasmSource };
  /**
   * Threads for the products and convolutions (default 1): N − 1 workers and the calling thread
   * over one shared memory (backends/wasm/threads.ts), results bit-identical for any N. N > 1
   * runs the threaded plain build (`kernel: 'relaxed'` is then a ConfigError, `auto` means plain)
   * and falls back to 1 where the platform cannot block a thread (a browser's main thread, a page
   * without cross-origin isolation). Call `dispose()` to end the workers.
   */
  readonly threads?: number;
  /**
   * Resident mode (default: on where it can be): `resident(f)` keeps every result made inside `f`
   * in wasm memory as a view, and results passed back in are used in place. It needs a shared
   * memory (the threaded plain build, at any thread count), so it is off, and every call copies as
   * before, where `SharedArrayBuffer` is missing (a page without cross-origin isolation), for
   * `kernel: 'auto'` or `'relaxed'`, and for a `source` without a `threads` build. `false` turns it
   * off (and at 1 thread keeps the unshared plain build); `true` makes its absence a ConfigError.
   */
  readonly resident?: boolean;
  /**
   * The most bytes a resident scope keeps in wasm memory (default 1 GiB of the shared memory's
   * 2 GiB; an integer from 0 to RESIDENT_MAX = 1.5 GiB, else a ConfigError): a result that would
   * go past it is copied out, as in copying mode, so a step too large to keep whole still runs,
   * with the same bits. Where memory is scarce (a phone's browser tab), a smaller budget bounds
   * what the memory grows to (it never shrinks) at the cost of the copies past it.
   */
  readonly residentBytes?: number;
  /**
   * Whether the backend has the fused passes: the layer pairs (`maxPoolRelu`, `batchNormAffineRelu`,
   * `batchNormMomentsOfRelu`, …; src/backend.ts), so that a model runs a conv2d → maxPool,
   * maxPool → relu, batchNorm → relu or relu → batchNorm pair with fewer passes
   * (src/models/fuse.ts), and the convolution's and pooling's own (`conv2dBias`,
   * `conv2dGradFilterBias`, `conv2dBackward`, `maxPoolArgmax`, `maxPoolGradArgmax`,
   * `conv2dPoolArgmax`). Default true; false leaves them out (the layers then run one by one, each
   * as a composition): the same bits either way, so it only serves to measure what fusion saves.
   */
  readonly fuse?: boolean;
}

/** The wasm Backend, plus which build it runs. */
export interface WasmBackend extends Backend {
  readonly kernel: 'plain' | 'relaxed';
  /** The fused quantizer kernels (src/quantizers/fast.ts) the quantizers take on this backend. */
  readonly quantizerKernels: QuantizerKernels;
  /** Threads the products and convolutions run on (1: no workers). */
  readonly threads: number;
  /** Ends the worker threads, if any (idempotent); the backend must not be used afterwards. */
  dispose(): void;
}

interface Exports extends QuantizeExports, PartExports, BatchNormExports {
  readonly memory: WebAssembly.Memory;
  heapBase(): number;
  relaxed(): number;
  gemmWorkBytes(): number;
  convWorkBytes(geom: number): number;
  gemm(
    transA: number, transB: number, m: number, n: number, k: number,
    a: number, lda: number, b: number, ldb: number, c: number, ldc: number,
    accumulate: number, work: number,
  ): void;
  conv2d(geom: number, x: number, w: number, y: number, work: number, b: number): void;
  conv2dGradInput(geom: number, dy: number, w: number, dx: number, work: number): void;
  conv2dGradFilter(geom: number, x: number, dy: number, dw: number, work: number, db: number): void;
  gradFilterSharedColsBytes(geom: number): number;
  binary(op: number, same: number, y: number, a: number, b: number, outer: number, len: number, inner: number): void;
  unary(op: number, y: number, x: number, n: number): void;
  scalar(op: number, y: number, x: number, s: number, n: number): void;
  axpy(y: number, a: number, s: number, b: number, n: number): void;
  select(y: number, c: number, a: number, b: number, n: number): void;
  reduce(op: number, y: number, x: number, outer: number, len: number, inner: number, acc: number): void;
  maxPool(geom: number, x: number, y: number): void;
  maxPoolGrad(geom: number, x: number, dy: number, dx: number): void;
  maxPoolArg(geom: number, x: number, y: number, arg: number): void;
  maxPoolGradArg(geom: number, arg: number, dy: number, dx: number): void;
  conv2dPool(geom: number, pgeom: number, x: number, w: number, b: number, y: number, arg: number, work: number): void;
  conv2dPoolWorkBytes(geom: number): number;
  maxPoolRelu(geom: number, x: number, y: number): void;
  maxPoolReluGrad(geom: number, x: number, y: number, dy: number, dx: number): void;
}

// Op codes of the element-wise kernels (backends/wasm/assembly/elementwise.ts). `exp` and `log`
// have no wasm kernel (WebAssembly has no instruction for them): they run as JS loops.
const UNARY_CODES: Partial<Record<UnaryOp, number>> = { neg: 0, abs: 1, sign: 2, square: 3, sqrt: 4, relu: 5, step: 6, reciprocal: 7, rsqrt: 8 };
const SCALAR_CODES: Record<ScalarOp, number> = { add: 0, mul: 1, max: 2, min: 3, clamp: 4, gt: 5, lt: 6, window: 7, ternarize: 8, ternarizeOfficial: 9 };
const BINARY_CODES: Record<BinaryOp, number> = { add: 0, sub: 1, mul: 2, div: 3, max: 4, min: 5, gt: 6 };
const REDUCE_CODES: Record<ReduceOp, number> = { sum: 0, sumAbs: 1, sumSquares: 2, max: 3, maxAbs: 4 };
const code = <K extends string>(table: Partial<Record<K, number>>, op: K): number | undefined =>
  Object.prototype.hasOwnProperty.call(table, op) ? table[op] : undefined;

// ---- loading (bytes, a module, a URL or a fetch Response; see src/assets.ts) -----------------

/** The packaged builds, beside this module (`npm run build` copies build/ into dist/build/). */
const PACKAGED = { plain: 'sttn-simd.wasm', relaxed: 'sttn-relaxed-simd.wasm', threads: 'sttn-simd-threads.wasm' } as const;
const packaged = (which: keyof typeof PACKAGED): URL => new URL(`../build/wasm/${PACKAGED[which]}`, import.meta.url);

async function bytesOrModule(source: WasmSource, what: string): Promise<Uint8Array<ArrayBuffer> | WebAssembly.Module> {
  const isPackaged = source instanceof URL && (Object.keys(PACKAGED) as (keyof typeof PACKAGED)[]).some((k) => source.href === packaged(k).href);
  return isPackaged ? packagedBytesOrModule(source, what) : wasmBytesOrModule(source, what);
}

/**
 * The instance of the build `opts` asks for. With a single `source`, that module is the build
 * (its own `relaxed()` export says which); `kernel`, when also given, must match it.
 */
async function instantiateBackendModule(opts: WasmBackendOptions): Promise<{ wasm: Exports; which: 'plain' | 'relaxed' }> {
  const want = opts.kernel ?? 'plain';
  if (want !== 'auto' && want !== 'plain' && want !== 'relaxed') {
    throw new ConfigError('createWasmBackend.kernel', `must be 'auto', 'plain' or 'relaxed', got ${String(want)}`);
  }
  const given = opts.source;
  const perBuild = isPerBuild(given) ? given : undefined;
  const single = given !== undefined && !perBuild ? (given as WasmSource) : undefined;
  const sourceOf = (which: 'plain' | 'relaxed'): WasmSource => perBuild?.[which] ?? packaged(which);
  let relaxedSimdTried = false;
  const validates = async (m: Uint8Array<ArrayBuffer> | WebAssembly.Module): Promise<boolean> => {
    if (m instanceof WebAssembly.Module) return true;
    if (WebAssembly.validate(m)) return true;
    if (relaxedSimdTried) return false;
    relaxedSimdTried = true;
    enableRelaxedSimd();
    return WebAssembly.validate(m);
  };
  let which: 'plain' | 'relaxed' = 'plain';
  let chosen: Uint8Array<ArrayBuffer> | WebAssembly.Module | undefined;
  if (single !== undefined) {
    chosen = await bytesOrModule(single, 'createWasmBackend.source');
    if (!(await validates(chosen))) {
      throw new ConfigError('createWasmBackend.source', 'the module does not validate (not WebAssembly, or this engine lacks the SIMD it needs)');
    }
  } else if (want !== 'plain') {
    const relaxed = await bytesOrModule(sourceOf('relaxed'), 'createWasmBackend.source.relaxed');
    if (await validates(relaxed)) {
      which = 'relaxed';
      chosen = relaxed;
    } else if (want === 'relaxed') {
      throw new ConfigError('createWasmBackend.kernel', 'this engine does not validate relaxed SIMD');
    }
  }
  if (chosen === undefined) {
    chosen = await bytesOrModule(sourceOf('plain'), 'createWasmBackend.source.plain');
    if (!(await validates(chosen))) throw new ConfigError('wasm backend', 'this engine does not support WebAssembly SIMD');
  }
  const module = chosen instanceof WebAssembly.Module ? chosen : await WebAssembly.compile(chosen);
  const instance = await WebAssembly.instantiate(module, {
    env: {
      abort: (): never => {
        throw new Error('sttn wasm kernel aborted');
      },
    },
  });
  const wasm = instance.exports as unknown as Exports;
  if (typeof wasm.relaxed !== 'function' || typeof wasm.gemm !== 'function') {
    throw new ConfigError('createWasmBackend.source', "the module is not sttn's wasm backend (no gemm/relaxed exports)");
  }
  if (single !== undefined) {
    which = wasm.relaxed() ? 'relaxed' : 'plain';
    if (opts.kernel !== undefined && opts.kernel !== 'auto' && opts.kernel !== which) {
      throw new ConfigError('createWasmBackend.kernel', `'${opts.kernel}' asked for, but the given source is the ${which} build`);
    }
  }
  return { wasm, which };
}

const isPerBuild = (s: unknown): s is { plain?: WasmSource; relaxed?: WasmSource; threads?: WasmSource } =>
  typeof s === 'object' && s !== null && !(s instanceof URL) && !(s instanceof WebAssembly.Module) &&
  !ArrayBuffer.isView(s) && !(s instanceof ArrayBuffer) && !(typeof Response !== 'undefined' && s instanceof Response);

const ALIGN = 64;
const alignUp = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;

export async function createWasmBackend(opts: WasmBackendOptions = {}): Promise<WasmBackend> {
  const threads = opts.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1) throw new ConfigError('createWasmBackend.threads', `must be an integer ≥ 1, got ${String(threads)}`);
  if (opts.resident !== undefined && typeof opts.resident !== 'boolean') throw new ConfigError('createWasmBackend.resident', `must be true or false, got ${String(opts.resident)}`);
  if (opts.fuse !== undefined && typeof opts.fuse !== 'boolean') throw new ConfigError('createWasmBackend.fuse', `must be true or false, got ${String(opts.fuse)}`);
  const rb = opts.residentBytes;
  if (rb !== undefined && !(typeof rb === 'number' && Number.isInteger(rb) && rb >= 0 && rb <= RESIDENT_MAX)) {
    throw new ConfigError('createWasmBackend.residentBytes', `must be an integer from 0 to ${RESIDENT_MAX} (the 2 GiB shared memory less ${WORKING_ROOM} bytes of working room), got ${String(rb)}`);
  }
  if (threads > 1 && canBlock()) return threadedBackend(opts, threads, opts.resident !== false);
  if (opts.resident !== false) {
    const why = residentUnavailable(opts);
    if (why === undefined) return threadedBackend(opts, 1, true);
    if (opts.resident === true) throw new ConfigError('createWasmBackend.resident', `resident mode is unavailable: ${why}`);
  }
  const { wasm, which } = await instantiateBackendModule(opts);
  return makeBackend(wasm, which, undefined, undefined, opts.fuse !== false);
}

/** Why resident mode cannot run with `opts` on this platform, or undefined when it can. */
function residentUnavailable(opts: WasmBackendOptions): string | undefined {
  if (opts.kernel !== undefined && opts.kernel !== 'plain') return `kernel '${String(opts.kernel)}' has no build on shared memory (use 'plain')`;
  if (opts.source !== undefined && !(isPerBuild(opts.source) && opts.source.threads !== undefined)) return 'the given source has no threads build ({ threads: <source> })';
  if (typeof SharedArrayBuffer === 'undefined') return 'no SharedArrayBuffer here (a page must be cross-origin isolated)';
  try {
    sharedMemory(1);
    return undefined;
  } catch (e) {
    return `no shared WebAssembly.Memory here (${(e as Error).message})`;
  }
}

/** The threaded plain build on a shared memory, with its pool of `threads` (1: no workers). */
async function threadedBackend(opts: WasmBackendOptions, threads: number, resident: boolean): Promise<WasmBackend> {
  if (opts.kernel === 'relaxed') throw new ConfigError('createWasmBackend.kernel', "'relaxed' has no threaded build: use threads: 1, or kernel 'plain'");
  const given = opts.source;
  if (given !== undefined && !(isPerBuild(given) && given.threads !== undefined)) {
    throw new ConfigError('createWasmBackend.source', 'threads > 1 need the threaded build: give { threads: <source> } (build/wasm/sttn-simd-threads.wasm)');
  }
  const source = isPerBuild(given) && given.threads !== undefined ? given.threads : packaged('threads');
  const bytes = await bytesOrModule(source, 'createWasmBackend.source.threads');
  const module = bytes instanceof WebAssembly.Module ? bytes : await WebAssembly.compile(bytes);
  const memory = sharedMemory(32);
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  const wasm = { ...(instance.exports as unknown as Exports), memory };
  if (typeof wasm.gemmPart !== 'function') throw new ConfigError('createWasmBackend.source.threads', "the module is not sttn's threaded wasm build (no gemmPart export)");
  return makeBackend(wasm, 'plain', await createThreadPool(module, memory, wasm, threads), resident ? (opts.residentBytes ?? RESIDENT_BYTES) : undefined, opts.fuse !== false);
}

/** Elements from which a max pooling is split over the pool's threads (by images). */
const SPLIT_MIN = 1 << 16;
/**
 * Elements from which an element-wise map or a reduction is split (a reduction by rows or
 * columns, never along its sum). They read each element once for one operation, so they are bound
 * by memory and by the workers' wake-up (~15–70 µs on the 2-core benchmark machine): with one part
 * per thread that made splits below ~2²⁰ elements slower than one thread; with parts claimed by
 * whichever thread is free, splitting from 2¹⁷ took the cnn-small 2-thread step from 30.6–32.8 to
 * 29.1–30.0 ms (p10 of 60 steps, three idle-machine A/B runs; bench/TRAIN.md).
 */
const STREAM_SPLIT_MIN = 1 << 17;
/** Parts per thread of a task split by images (convolutions, pooling), and of a map split into runs. */
const IMAGE_PARTS = 4;
const RUN_PARTS = 4;
/**
 * The most bytes of work areas one convolution lays out when it splits into more parts than
 * threads (each part has its own, ~2.4 MB for cnn-small's layers): beyond it the parts fall back
 * towards one per thread, so memory grows with the thread count, not with the parts.
 */
const CONV_WORK_BUDGET = 32 << 20;
/** Elements of a split map's smallest part. */
const MAP_PART_MIN = 1 << 14;
/** Bytes of a split map's record (assembly/elementwise.ts `mapPart`). */
const MAP_DESC = 48;

/** The default of `residentBytes`. */
const RESIDENT_BYTES = 2 ** 30;
/** Bytes of the shared memory a scope's results may never hold: room for one call's operands and work. */
const WORKING_ROOM = 2 ** 29;
/** The largest `residentBytes`: the shared memory's maximum (2 GiB) less the working room. */
export const RESIDENT_MAX = SHARED_MAX_PAGES * PAGE - WORKING_ROOM;

/** The backend over `wasm`; `residentBytes` undefined: no resident mode (the memory need not be shared). */
function makeBackend(wasm: Exports, kernel: 'plain' | 'relaxed', pool: ThreadPool | undefined, residentBytes: number | undefined, fuse: boolean): WasmBackend {
  const parts = pool?.threads ?? 1;
  /**
   * Parts of a split task over `units` (images, runs of elements): `perThread` per thread, so that
   * a thread that wakes late, or that other processes keep busy, leaves its parts to the others
   * (backends/wasm/threads.ts); one at one thread.
   */
  const partsOf = (units: number, perThread: number): number => (parts === 1 ? 1 : Math.max(1, Math.min(units, parts * perThread, MAX_PARTS)));
  const js = createJsBackend('float32');
  const base = alignUp(wasm.heapBase());
  const gemmWork = wasm.gemmWorkBytes();

  /**
   * A bump arena over linear memory. Every call lays out its output first, then its scratch (the
   * copies of operands not already in wasm memory, the work area) above it, from `floor`. Outside
   * `resident()` the floor stays at the heap base: each call starts afresh, its output is copied
   * out into a new Float32Array, and since growing a non-shared memory detaches every view of its
   * old buffer, views are made only after `reserve` and never kept. Inside `resident()` the floor
   * rises above each output, which is returned as a view on the (shared, so never detached)
   * memory, and an operand that is such a view is read in place (a result that would rise past
   * `residentBytes` is copied out instead, the floor left where it was); the scope's end copies
   * out what its result holds and sets the floor back to the base.
   */
  let floor = base;
  let top = base;
  let inScope = false;
  /** the memory's buffers (one per size it has had) that views of this scope were made on */
  let buffers = new WeakSet<ArrayBufferLike>();
  const begin = (): void => {
    top = floor;
  };
  const take = (bytes: number): number => {
    const p = top;
    top = alignUp(top + bytes);
    return p;
  };
  const reserve = (): void => growTo(wasm.memory, top, { kept: floor - base, residentBytes });
  const f32 = (ptr: number, n: number): Float32Array => new Float32Array(wasm.memory.buffer, ptr, n);
  /** Is `d` a view on this scope's results (so its bytes sit at `d.byteOffset` below the floor)? */
  const isResident = (d: ArrayLike<number>): d is Float32Array =>
    inScope && d instanceof Float32Array && buffers.has(d.buffer) && d.byteOffset >= base && d.byteOffset + d.byteLength <= floor;
  /**
   * Where each of `ts` will be read from: in place for a resident one, else a slot taken now and
   * filled by the returned `fill()` (after `reserve`, which may grow the memory).
   */
  const operands = (ts: readonly Tensor[]): { ptrs: number[]; fill: () => void } => {
    const copies: [number, Tensor][] = [];
    const ptrs = ts.map((t) => {
      if (isResident(t.data)) return t.data.byteOffset;
      const p = take(t.data.length * 4);
      copies.push([p, t]);
      return p;
    });
    return { ptrs, fill: () => copies.forEach(([p, t]) => f32(p, t.data.length).set(t.data)) };
  };
  /** The output `[ptr, ptr + bytes)` taken first of a call, ending at `end`, as a tensor of `shape`. */
  const result = (ptr: number, end: number, shape: readonly number[]): Tensor => {
    const n = size(shape);
    if (inScope && end - base <= (residentBytes ?? 0)) {
      floor = end;
      const data = f32(ptr, n);
      buffers.add(data.buffer);
      return { shape: [...shape], data };
    }
    // `new` + `set` is a plain memcpy; `slice()` of a view on wasm memory runs ~5× slower on Node 20.
    const data = new Float32Array(n);
    data.set(f32(ptr, n));
    return { shape: [...shape], data };
  };
  /**
   * Several outputs laid out one after another in one result (`out`), as tensors of `shapes` in
   * that order: views on the scope's memory stay views; a copied-out result is split into arrays
   * of their own.
   */
  const splitResult = (out: Tensor, shapes: readonly (readonly number[])[]): Tensor[] => {
    const d = out.data as Float32Array;
    const inPlace: boolean = isResident(d);
    let at = 0;
    return shapes.map((shape) => {
      const n = size(shape);
      const data = inPlace ? d.subarray(at, at + n) : d.slice(at, at + n);
      at += n;
      return { shape: [...shape], data };
    });
  };
  /**
   * `v` with every resident Float32Array in it (plain objects and arrays walked) copied out. One
   * copy per object: what `v` holds twice comes back as one copy held twice, and cycles are kept.
   */
  const copyOut = (v: unknown, seen = new Map<object, unknown>()): unknown => {
    if (v === null || typeof v !== 'object') return v;
    if (seen.has(v)) return seen.get(v);
    if (v instanceof Float32Array) {
      if (!isResident(v)) return v;
      const d = new Float32Array(v.length);
      d.set(v);
      seen.set(v, d);
      return d;
    }
    if (Array.isArray(v)) {
      const out: unknown[] = [];
      seen.set(v, out);
      for (const x of v) out.push(copyOut(x, seen));
      return out;
    }
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto !== Object.prototype && proto !== null) return v;
    const out: Record<string, unknown> = proto === null ? Object.create(null) : {};
    seen.set(v, out);
    for (const [k, x] of Object.entries(v)) out[k] = copyOut(x, seen);
    return out;
  };
  /**
   * Refuses an async `f` (its views would be overwritten by the calls after the scope ends); the
   * abandoned promise gets a handler first, so its own rejection is not an unhandled one.
   */
  const refuseThenable = (r: unknown): void => {
    if ((typeof r === 'object' || typeof r === 'function') && r !== null && typeof (r as { then?: unknown }).then === 'function') {
      Promise.resolve(r as PromiseLike<unknown>).catch(() => undefined);
      throw new ConfigError('resident(f)', 'f must be synchronous (it returned a Promise)');
    }
  };
  function resident<T>(f: () => T): T {
    if (inScope) {
      const r = f();
      refuseThenable(r);
      return r;
    }
    inScope = true;
    buffers = new WeakSet();
    try {
      const r = f();
      refuseThenable(r);
      return copyOut(r) as T;
    } finally {
      // thrown or not, the next call (in a scope or not) starts at the base again
      inScope = false;
      floor = base;
      top = base;
    }
  }

  function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
    const { m, k, n } = matmulShape(a, b, opts);
    if (m === 0 || n === 0 || k === 0) return { shape: [m, n], data: new Float32Array(m * n) };
    begin();
    const pc = take(m * n * 4);
    const end = top;
    const { ptrs: [pa, pb], fill } = operands([a, b]);
    const work = take(gemmWork * parts);
    reserve();
    fill();
    const lda = a.shape[1];
    const ldb = b.shape[1];
    const args = [opts.transA ? 1 : 0, opts.transB ? 1 : 0, m, n, k, pa, lda, pb, ldb, pc, n, 0, work];
    if (pool) pool.run(OP.gemm, args);
    else wasm.gemm(args[0], args[1], m, n, k, pa, lda, pb, ldb, pc, n, 0, work);
    return result(pc, end, [m, n]);
  }

  /** Writes the geometry record the kernels read (13 i32, see Geom in assembly/index.ts). */
  function putGeometry(ptr: number, g: ConvGeometry): void {
    new Int32Array(wasm.memory.buffer, ptr, 13).set([g.n, g.h, g.w, g.cin, g.cout, g.kh, g.kw, g.oh, g.ow, g.sh, g.sw, g.ph, g.pw]);
  }

  /** Lays out the output, the geometry, two inputs (and a bias) and the work areas of up to `want` parts (fewer past CONV_WORK_BUDGET, never under one per thread); returns their pointers (`pb` 0 without a bias) and the parts `k`. */
  function convCall(g: ConvGeometry, in0: Tensor, in1: Tensor, outLen: number, want: number, bias?: Tensor): { geom: number; p0: number; p1: number; pb: number; po: number; end: number; work: number; k: number } {
    begin();
    const po = take(outLen * 4);
    const end = top;
    const geom = take(13 * 4);
    reserve();
    putGeometry(geom, g);
    const perPart = pool ? wasm.convPartWorkBytes(geom) : 0;
    const k = pool ? Math.min(want, Math.max(parts, Math.floor(CONV_WORK_BUDGET / perPart))) : want;
    const workBytes = pool ? perPart * k : wasm.convWorkBytes(geom);
    const { ptrs: [p0, p1, pb], fill } = operands(bias ? [in0, in1, bias] : [in0, in1]);
    const work = take(workBytes);
    reserve();
    fill();
    return { geom, p0, p1, pb: pb ?? 0, po, end, work, k };
  }

  const empty = (shape: readonly number[]): boolean => size(shape) === 0;

  function conv2d(x: Tensor, w: Tensor, opts: Conv2dOptions): Tensor {
    return convolve(x, w, undefined, opts);
  }

  function conv2dBias(x: Tensor, w: Tensor, b: Tensor, opts: Conv2dOptions): Tensor {
    const cout = w.shape[0];
    if (b.shape.length !== 1 || b.shape[0] !== cout || b.data.length !== cout) throw new ShapeError('conv2dBias bias', [cout], b.shape);
    return convolve(x, w, b, opts);
  }

  /** conv2d, with `bias` added to each chunk of output rows right after its product (assembly `conv2d`). */
  function convolve(x: Tensor, w: Tensor, bias: Tensor | undefined, opts: Conv2dOptions): Tensor {
    const g = convGeometry(x.shape, w.shape, opts);
    const shape = [g.n, g.oh, g.ow, g.cout];
    if (empty(shape)) return { shape, data: new Float32Array(size(shape)) };
    // an empty kernel (kh·kw·cin = 0) sums nothing: 0, plus the bias where there is one
    if (empty(w.shape)) return bias ? js.binary('add', { shape, data: new Float32Array(size(shape)) }, bias, 3) : { shape, data: new Float32Array(size(shape)) };
    const k = partsOf(g.n, IMAGE_PARTS);
    const p = convCall(g, x, w, size(shape), k, bias);
    if (pool) pool.run(OP.conv2d, [p.geom, p.p0, p.p1, p.po, p.work, p.pb], p.k);
    else wasm.conv2d(p.geom, p.p0, p.p1, p.po, p.work, p.pb);
    return result(p.po, p.end, shape);
  }

  function conv2dGradInput(dy: Tensor, w: Tensor, xShape: readonly number[], opts: Conv2dOptions): Tensor {
    const g = convGeometry(xShape, w.shape, opts);
    assertConvOutput('conv2dGradInput dy', g, dy);
    if (empty(xShape) || empty(dy.shape) || empty(w.shape)) return { shape: [...xShape], data: new Float32Array(size(xShape)) };
    const k = partsOf(g.n, IMAGE_PARTS);
    const p = convCall(g, dy, w, size(xShape), k);
    if (pool) pool.run(OP.conv2dGradInput, [p.geom, p.p0, p.p1, p.po, p.work], p.k);
    else wasm.conv2dGradInput(p.geom, p.p0, p.p1, p.po, p.work);
    return result(p.po, p.end, xShape);
  }

  function conv2dGradFilter(x: Tensor, dy: Tensor, wShape: readonly number[], opts: Conv2dOptions): Tensor {
    return gradFilter(x, dy, wShape, opts, false)[0];
  }

  function conv2dGradFilterBias(x: Tensor, dy: Tensor, wShape: readonly number[], opts: Conv2dOptions): [Tensor, Tensor] {
    const [dw, db] = gradFilter(x, dy, wShape, opts, true);
    return [dw, db!];
  }

  function conv2dBackward(x: Tensor, w: Tensor, dy: Tensor, opts: Conv2dOptions, bias: boolean): [Tensor, Tensor | undefined, Tensor] {
    const g = convGeometry(x.shape, w.shape, opts);
    assertConvOutput('conv2dBackward dy', g, dy);
    const nw = size(w.shape);
    const nx = size(x.shape);
    // one task only where both products split and the weight gradient needs no shared patch
    // matrix (a first layer's, which has no input gradient to compute in a network anyway)
    if (!pool || empty(w.shape) || empty(dy.shape) || empty(x.shape) || g.n < 2) {
      const [dw, db] = gradFilter(x, dy, w.shape, opts, bias);
      return [dw, db, conv2dGradInput(dy, w, x.shape, opts)];
    }
    begin();
    const cb = bias ? g.cout : 0;
    const po = take((nw + cb + nx) * 4);
    const end = top;
    const geom = take(13 * 4);
    const desc = take(11 * 4);
    reserve();
    putGeometry(geom, g);
    if (wasm.gradFilterSharedColsBytes(geom) > 0) {
      const [dw, db] = gradFilter(x, dy, w.shape, opts, bias);
      return [dw, db, conv2dGradInput(dy, w, x.shape, opts)];
    }
    const perPart = wasm.convPartWorkBytes(geom);
    const pw = parts;
    const px = Math.min(partsOf(g.n, IMAGE_PARTS), Math.max(parts, Math.floor(CONV_WORK_BUDGET / perPart)));
    const { ptrs: [px0, pdy, pw0], fill } = operands([x, dy, w]);
    const workW = take(perPart * pw);
    const workX = take(perPart * px);
    reserve();
    fill();
    new Int32Array(wasm.memory.buffer, desc, 11).set([geom, px0, pdy, pw0, po, bias ? po + nw * 4 : 0, po + (nw + cb) * 4, workW, workX, pw, px]);
    pool.run(OP.convGrads, [desc], pw + px);
    const all = result(po, end, [nw + cb + nx]);
    if (!bias) {
      const [dw, dx] = splitResult(all, [w.shape, x.shape]);
      return [dw, undefined, dx];
    }
    const [dw, db, dx] = splitResult(all, [w.shape, [g.cout], x.shape]);
    return [dw, db, dx];
  }

  /**
   * dW, and with `bias` the bias gradient (Σ of dy over n·oh·ow, per output channel) folded in the
   * same pass over dy (assembly `conv2dGradFilter`); the output holds dW then db.
   */
  function gradFilter(x: Tensor, dy: Tensor, wShape: readonly number[], opts: Conv2dOptions, bias: boolean): [Tensor, Tensor | undefined] {
    const g = convGeometry(x.shape, wShape, opts);
    assertConvOutput(bias ? 'conv2dGradFilterBias dy' : 'conv2dGradFilter dy', g, dy);
    const nw = size(wShape);
    if (empty(wShape) || empty(dy.shape) || empty(x.shape)) {
      const db = bias ? (empty(dy.shape) ? { shape: [g.cout], data: new Float32Array(g.cout) } : reduce('sum', { shape: [g.n * g.oh * g.ow, g.cout], data: dy.data }, 0)) : undefined;
      return [{ shape: [...wShape], data: new Float32Array(nw) }, db];
    }
    // one part per thread: every part packs all of dY again
    const p = convCall(g, x, dy, nw + (bias ? g.cout : 0), parts);
    const pdb = bias ? p.po + nw * 4 : 0;
    if (!pool) wasm.conv2dGradFilter(p.geom, p.p0, p.p1, p.po, p.work, pdb);
    else {
      // The transposed product (a first layer's few patch columns) splits by output channels, so
      // every part reads the whole patch matrix: the threads form it once, by rows, and share it.
      const colsBytes = wasm.gradFilterSharedColsBytes(p.geom);
      if (colsBytes > 0 && colsBytes <= CONV_WORK_BUDGET) {
        const cols = take(colsBytes);
        reserve();
        pool.run(OP.im2col, [p.geom, p.p0, cols], partsOf(g.n * g.oh * g.ow, IMAGE_PARTS));
        pool.run(OP.conv2dGradFilterCols, [p.geom, cols, p.p1, p.po, p.work, pdb], parts);
      } else pool.run(OP.conv2dGradFilter, [p.geom, p.p0, p.p1, p.po, p.work, pdb], parts);
    }
    if (!bias) return [result(p.po, p.end, wShape), undefined];
    const [dw, db] = splitResult(result(p.po, p.end, [nw + g.cout]), [wShape, [g.cout]]);
    return [dw, db];
  }

  /**
   * Runs one element-wise kernel: lays out the output, the operands (`inputs`, copied unless
   * resident) and `extra` work bytes, calls `k(pointers, out, work)` and returns the output.
   */
  function mapped(shape: readonly number[], inputs: readonly Tensor[], extra: number, k: (p: number[], out: number, work: number) => void): Tensor {
    begin();
    const po = take(size(shape) * 4);
    const end = top;
    const { ptrs, fill } = operands(inputs);
    const work = take(extra);
    reserve();
    fill();
    k(ptrs, po, work);
    return result(po, end, shape);
  }

  /** Whether a map over `n` elements (a pooling: `splitPool`) is split over the pool's threads (waking them costs tens of microseconds). */
  const split = (n: number): boolean => pool !== undefined && parts > 1 && n >= STREAM_SPLIT_MIN;
  const splitPool = (n: number): boolean => pool !== undefined && parts > 1 && n >= SPLIT_MIN;
  /**
   * Whether a reduction of x viewed as [outer, len, inner] over len is split: never along a sum,
   * so contiguous runs (inner 1) by rows, which needs two rows or more, strided ones by columns
   * (in pairs: inner ≥ 4); from STREAM_SPLIT_MIN elements, as the maps.
   */
  const splitReduce = (outer: number, len: number, inner: number): boolean =>
    split(outer * len * inner) && (inner === 1 ? outer >= 2 : inner >= 4);
  /**
   * Runs the map described by the arguments (the record `mapPart` reads, in assembly/
   * elementwise.ts) on every thread; `desc` is MAP_DESC bytes of the call's work area.
   */
  function mapTask(desc: number, kind: number, op: number, same: number, y: number, a: number, b: number, c: number, outer: number, len: number, inner: number, s: number): void {
    new Int32Array(wasm.memory.buffer, desc, 10).set([kind, op, same, y, a, b, c, outer, len, inner]);
    new Float64Array(wasm.memory.buffer, desc + 40, 1)[0] = s;
    // a reduction, one part per thread: a strided one split by columns reads every row's cache
    // lines once per part (8 parts took [50176, 32]'s column sums from 0.18 to 1.1 ms)
    pool!.run(OP.map, [desc], kind === 5 ? parts : partsOf(Math.ceil((outer * Math.max(len, 1) * Math.max(inner, 1)) / MAP_PART_MIN), RUN_PARTS));
  }

  function unary(op: UnaryOp, x: Tensor): Tensor {
    const c = code(UNARY_CODES, op);
    if (c === undefined) return js.unary(op, x);
    const n = x.data.length;
    return mapped(x.shape, [x], MAP_DESC, ([px], po, d) => (split(n) ? mapTask(d, 0, c, 0, po, px, 0, 0, n, 0, 0, 0) : wasm.unary(c, po, px, n)));
  }

  function scalar(op: ScalarOp, x: Tensor, s: number): Tensor {
    const c = code(SCALAR_CODES, op);
    if (c === undefined || (!Number.isFinite(s) && !(op === 'max' || op === 'min'))) return js.scalar(op, x, s); // its errors
    const n = x.data.length;
    return mapped(x.shape, [x], MAP_DESC, ([px], po, d) => (split(n) ? mapTask(d, 1, c, 0, po, px, 0, 0, n, 0, 0, s) : wasm.scalar(c, po, px, s, n)));
  }

  function binary(op: BinaryOp, a: Tensor, b: Tensor, axis?: number): Tensor {
    const c = code(BINARY_CODES, op);
    if (c === undefined) return js.binary(op, a, b, axis);
    const { outer, len, inner } = broadcastLayout(`binary(${op})`, a, b, axis);
    const same = b.data.length === a.data.length && len === a.data.length ? 1 : 0;
    return mapped(a.shape, [a, b], MAP_DESC, ([pa, pb], po, d) =>
      split(a.data.length) ? mapTask(d, 2, c, same, po, pa, pb, 0, outer, len, inner, 0) : wasm.binary(c, same, po, pa, pb, outer, len, inner));
  }

  function axpy(a: Tensor, s: number, b: Tensor): Tensor {
    assertSameShape('axpy', a, b);
    const n = a.data.length;
    return mapped(a.shape, [a, b], MAP_DESC, ([pa, pb], po, d) => (split(n) ? mapTask(d, 3, 0, 0, po, pa, pb, 0, n, 0, 0, s) : wasm.axpy(po, pa, s, pb, n)));
  }

  function select(cond: Tensor, a: Tensor, b: Tensor): Tensor {
    assertSameShape('select (cond vs a)', cond, a);
    assertSameShape('select (a vs b)', a, b);
    const n = a.data.length;
    return mapped(a.shape, [cond, a, b], MAP_DESC, ([pc, pa, pb], po, d) => (split(n) ? mapTask(d, 4, 0, 0, po, pc, pa, pb, n, 0, 0, 0) : wasm.select(po, pc, pa, pb, n)));
  }

  function reduce(op: ReduceOp, x: Tensor, axis: number | null): Tensor {
    const c = code(REDUCE_CODES, op);
    if (c === undefined) return js.reduce(op, x, axis);
    const { shape, outer, len, inner } = reduceShape(x, axis);
    if (len === 0 && (op === 'max' || op === 'maxAbs')) throw new ShapeError(`reduce(${op}) over an empty axis`, 'non-empty', x.shape);
    const accBytes = alignUp(inner * 8);
    return mapped(shape, [x], accBytes + MAP_DESC, ([px], po, acc) =>
      splitReduce(outer, len, inner) ? mapTask(acc + accBytes, 5, c, 0, po, px, acc, 0, outer, len, inner, 0) : wasm.reduce(c, po, px, outer, len, inner, acc));
  }

  /** A pooling of x alone into one output (`whole` on one thread, `op`'s parts split by images). */
  function pooled(x: Tensor, opts: PoolOptions, op: number, whole: (geom: number, px: number, po: number) => void): Tensor {
    const g = poolGeometry(x.shape, opts);
    // the geometry record goes in the work area: `mapped` resets the arena
    return mapped([g.n, g.oh, g.ow, g.cin], [x], 13 * 4, ([px], po, geom) => {
      putGeometry(geom, g);
      if (splitPool(x.data.length) && g.n > 1) pool!.run(op, [geom, px, po], partsOf(g.n, IMAGE_PARTS));
      else whole(geom, px, po);
    });
  }

  function maxPool(x: Tensor, opts: PoolOptions): Tensor {
    return pooled(x, opts, OP.maxPool, (geom, px, po) => wasm.maxPool(geom, px, po));
  }

  function maxPoolGrad(x: Tensor, dy: Tensor, opts: PoolOptions): Tensor {
    const g = poolGeometry(x.shape, opts);
    assertConvOutput('maxPoolGrad dy', g, dy);
    return mapped(x.shape, [x, dy], 13 * 4, ([px, pdy], po, geom) => {
      putGeometry(geom, g);
      if (splitPool(x.data.length) && g.n > 1) pool!.run(OP.maxPoolGrad, [geom, px, pdy, po], partsOf(g.n, IMAGE_PARTS));
      else wasm.maxPoolGrad(geom, px, pdy, po);
    });
  }

  function maxPoolArgmax(x: Tensor, opts: PoolOptions): [Tensor, Tensor] {
    const g = poolGeometry(x.shape, opts);
    const shape = [g.n, g.oh, g.ow, g.cin];
    const n = size(shape);
    const both = mapped([2 * n], [x], 13 * 4, ([px], po, geom) => {
      putGeometry(geom, g);
      if (splitPool(x.data.length) && g.n > 1) pool!.run(OP.maxPoolArg, [geom, px, po, po + 4 * n], partsOf(g.n, IMAGE_PARTS));
      else wasm.maxPoolArg(geom, px, po, po + 4 * n);
    });
    const [y, arg] = splitResult(both, [shape, shape]);
    return [y, arg];
  }

  function maxPoolGradArgmax(arg: Tensor, dy: Tensor, xShape: readonly number[], opts: PoolOptions): Tensor {
    const g = poolGeometry(xShape, opts);
    assertConvOutput('maxPoolGradArgmax dy', g, dy);
    assertConvOutput('maxPoolGradArgmax arg', g, arg);
    return mapped(xShape, [arg, dy], 13 * 4, ([pa, pdy], po, geom) => {
      putGeometry(geom, g);
      if (splitPool(size(xShape)) && g.n > 1) pool!.run(OP.maxPoolGradArg, [geom, pa, pdy, po], partsOf(g.n, IMAGE_PARTS));
      else wasm.maxPoolGradArg(geom, pa, pdy, po);
    });
  }

  function conv2dPoolArgmax(x: Tensor, w: Tensor, b: Tensor | undefined, convOpts: Conv2dOptions, poolOpts: PoolOptions): [Tensor, Tensor] {
    const g = convGeometry(x.shape, w.shape, convOpts);
    if (b !== undefined && (b.shape.length !== 1 || b.shape[0] !== g.cout || b.data.length !== g.cout)) throw new ShapeError('conv2dPoolArgmax bias', [g.cout], b.shape);
    const pg = poolGeometry([g.n, g.oh, g.ow, g.cout], poolOpts);
    const shape = [pg.n, pg.oh, pg.ow, pg.cin];
    const n = size(shape);
    // nothing to fuse for an empty batch or kernel: the composition
    if (n === 0 || empty(w.shape) || empty(x.shape)) return maxPoolArgmax(b ? conv2dBias(x, w, b, convOpts) : conv2d(x, w, convOpts), poolOpts);
    begin();
    const po = take(2 * n * 4);
    const end = top;
    const geom = take(13 * 4);
    const pgeom = take(13 * 4);
    reserve();
    putGeometry(geom, g);
    putGeometry(pgeom, pg);
    // by images, as conv2d splits
    const k = pool && g.n > 1 ? partsOf(g.n, IMAGE_PARTS) : 1;
    const { ptrs: [px, pw, pb], fill } = operands(b ? [x, w, b] : [x, w]);
    const work = take(wasm.conv2dPoolWorkBytes(geom) * k);
    reserve();
    fill();
    if (k > 1) pool!.run(OP.conv2dPool, [geom, pgeom, px, pw, pb ?? 0, po, po + 4 * n, work], k);
    else wasm.conv2dPool(geom, pgeom, px, pw, pb ?? 0, po, po + 4 * n, work);
    const [y, arg] = splitResult(result(po, end, [2 * n]), [shape, shape]);
    return [y, arg];
  }

  /** relu(maxPool(x)) in one pass, split as maxPool (src/backend.ts `maxPoolRelu`). */
  function maxPoolRelu(x: Tensor, opts: PoolOptions): Tensor {
    return pooled(x, opts, OP.maxPoolRelu, (geom, px, po) => wasm.maxPoolRelu(geom, px, po));
  }

  /** maxPoolGrad(x, dy·step(y)) in one pass, split as maxPoolGrad (src/backend.ts `maxPoolReluGrad`). */
  function maxPoolReluGrad(x: Tensor, y: Tensor, dy: Tensor, opts: PoolOptions): Tensor {
    const g = poolGeometry(x.shape, opts);
    assertConvOutput('maxPoolReluGrad dy', g, dy);
    assertSameShape('maxPoolReluGrad (y vs dy)', y, dy);
    return mapped(x.shape, [x, y, dy], 13 * 4, ([px, py, pdy], po, geom) => {
      putGeometry(geom, g);
      if (splitPool(x.data.length) && g.n > 1) pool!.run(OP.maxPoolReluGrad, [geom, px, py, pdy, po], partsOf(g.n, IMAGE_PARTS));
      else wasm.maxPoolReluGrad(geom, px, py, pdy, po);
    });
  }

  const {
    batchNormAffineRelu, batchNormGradMomentsRelu, batchNormGradAffineRelu,
    batchNormMomentsOfRelu, batchNormAffineOfRelu, batchNormGradMomentsOfRelu, batchNormGradAffineOfRelu,
    ...batchNormOps
  } = createBatchNormOps(wasm, {
    mapped,
    split,
    mapParts: (n) => partsOf(Math.ceil(n / MAP_PART_MIN), RUN_PARTS),
    threads: parts,
    run: (desc, k) => pool!.run(OP.batchNorm, [desc], k),
    reduce,
    binary,
    unary,
  });

  return {
    name: 'wasm',
    dtype: 'float32',
    precision: roundoff('float32'),
    kernel,
    from: js.from,
    unary,
    scalar,
    binary,
    axpy,
    select,
    reduce,
    matmul,
    conv2d,
    conv2dGradInput,
    conv2dGradFilter,
    maxPool,
    maxPoolGrad,
    quantizerKernels: createQuantizerKernels(wasm, {
      floor: () => floor,
      grow: (bytes) => growTo(wasm.memory, bytes, { kept: floor - base, residentBytes }),
      resident: (t) => (isResident(t.data) ? t.data.byteOffset : undefined),
      result,
    }),
    ...batchNormOps,
    ...(fuse
      ? {
          conv2dBias, conv2dGradFilterBias, conv2dBackward, maxPoolArgmax, maxPoolGradArgmax, conv2dPoolArgmax,
          maxPoolRelu, maxPoolReluGrad, batchNormAffineRelu, batchNormGradMomentsRelu, batchNormGradAffineRelu,
          batchNormMomentsOfRelu, batchNormAffineOfRelu, batchNormGradMomentsOfRelu, batchNormGradAffineOfRelu,
        }
      : {}),
    threads: parts,
    dispose: () => pool?.dispose(),
    ...(residentBytes !== undefined ? { resident } : {}),
  };
}
