/**
 * The wasm backend's thread pool: N − 1 workers plus the calling thread over one shared
 * `WebAssembly.Memory`, created once per backend and ended by `dispose()`.
 *
 * Every instance runs the threaded build (build/wasm/sttn-simd-threads.wasm: imported shared
 * memory) on the same memory. Workers never allocate: the calling thread lays out operands and one
 * work area per part, writes a task (op code, part count and i32 arguments) into a shared control
 * block (`taskWrites`: the claim word first), bumps its generation and wakes the workers that
 * sleep with `Atomics.notify`. A part of the product
 * (assembly/index.ts: `gemmPart`, `conv2dPart`, …) is a range of output rows, images or patch
 * columns, never a piece of a sum, so the result is bit-identical for any thread count and any
 * part count (likewise the element-wise maps, split into runs of elements, and max pooling, by
 * images). A task may have more parts than threads: the caller runs part 0 and every thread then
 * claims the next unclaimed part (an atomic counter tagged with the task's generation, so a late
 * worker never claims a part of a later task), so a worker that wakes late, or is descheduled by
 * other processes, only leaves more parts to the others. The caller returns once every part is
 * done. A waiting thread polls briefly before it sleeps in `Atomics.wait` (WORKER_SPIN_MS for a
 * worker, CALLER_SPIN_MS for the caller waiting on the last parts).
 *
 * Where threads come from: Node's worker_threads (reached through `process.getBuiltinModule`, no
 * `node:` import; the worker is evaluated code, NODE_WORKER), or module Web Workers (./worker.ts) where the page is cross-origin isolated and the calling
 * thread may block (`Atomics.wait` is refused on a browser's main thread, so there the pool has
 * one thread). `availableThreads()` says how many a platform gives.
 *
 * A part that throws (a wasm trap, out of memory), on a worker or on the calling thread, is
 * recorded in the control block (its part and message); every part still counts as done, so `run()`
 * always returns once all parts are done, then throws a ThreadTaskError naming the op, and the pool
 * stays usable. Both kinds of worker dispatch on one table, PART_FNS.
 *
 * Law (laws/threads.test.ts, laws/engine-threads.test.ts): products, convolutions, ternary layers
 * and a training step give identical results at 1, 2 and 3 threads, and a pool's task gives the
 * same results for any part count (parts claimed by whichever thread is free); `dispose()` ends every worker
 * (counted by `liveWorkers()`) and an undisposed pool lets the process exit; a trap in a worker's
 * part (Node's and ./worker.ts's loop) or a throw in the calling thread's is a ThreadTaskError and
 * the next task is exact; a worker failing before it is ready ends the others.
 */

import { SttnError } from '../../src/errors.js';

/** The exports the parts need (the threaded build has them; so do the others). */
export interface PartExports {
  convPartWorkBytes(geom: number): number;
  gemmPart(part: number, parts: number, ...args: number[]): void;
  /** `b`: the bias's pointer, 0 for none */
  conv2dPart(part: number, parts: number, geom: number, x: number, w: number, y: number, work: number, b: number): void;
  conv2dGradInputPart(part: number, parts: number, geom: number, dy: number, w: number, dx: number, work: number): void;
  /** `db`: where the bias gradient goes, 0 for none */
  conv2dGradFilterPart(part: number, parts: number, geom: number, x: number, dy: number, dw: number, work: number, db: number): void;
  /** the ternary kernels' threaded build only */
  layerChunks?(desc: number, part: number, parts: number): void;
  /** the float builds: an element-wise map split into runs, max pooling by images (assembly/elementwise.ts, pool.ts) */
  mapPart?(desc: number, part: number, parts: number): void;
  maxPoolPart?(part: number, parts: number, geom: number, x: number, y: number): void;
  maxPoolGradPart?(part: number, parts: number, geom: number, x: number, dy: number, dx: number): void;
  /** the float builds: a fused batch-norm pass, its sums split by channels, its maps by rows (assembly/batchnorm.ts) */
  bnPart?(desc: number, part: number, parts: number): void;
  /** the float builds: the whole patch matrix of a convolution's input by rows, and the weight gradient's parts reading it (assembly/index.ts) */
  im2colPart?(part: number, parts: number, geom: number, x: number, cols: number): void;
  conv2dGradFilterColsPart?(part: number, parts: number, geom: number, cols: number, dy: number, dw: number, work: number, db: number): void;
  /** the float builds: max pooling with its first maxima's indices, the gradient from them, and a convolution pooled image by image (assembly/pool-argmax.ts, index.ts) */
  maxPoolArgPart?(part: number, parts: number, geom: number, x: number, y: number, arg: number): void;
  maxPoolGradArgPart?(part: number, parts: number, geom: number, arg: number, dy: number, dx: number): void;
  conv2dPoolPart?(part: number, parts: number, geom: number, pgeom: number, x: number, w: number, b: number, y: number, arg: number, work: number): void;
  /** the float builds: a convolution's weight and input gradients as one task (assembly/index.ts) */
  convGradsPart?(desc: number, part: number, parts: number): void;
  /** the float builds: a maxPool → relu pair, forward and backward, by images (assembly/pool.ts) */
  maxPoolReluPart?(part: number, parts: number, geom: number, x: number, y: number): void;
  maxPoolReluGradPart?(part: number, parts: number, geom: number, x: number, y: number, dy: number, dx: number): void;
}

/** Task op codes; both workers (Node's NODE_WORKER below, the browser's ./worker.ts) run `runPart`'s table. */
export const OP = { gemm: 0, conv2d: 1, conv2dGradInput: 2, conv2dGradFilter: 3, layerChunks: 4, map: 5, maxPool: 6, maxPoolGrad: 7, batchNorm: 8, im2col: 9, conv2dGradFilterCols: 10, maxPoolArg: 11, maxPoolGradArg: 12, conv2dPool: 13, convGrads: 14, maxPoolRelu: 15, maxPoolReluGrad: 16, exit: 99 } as const;

/**
 * The part of each op code: [export, i32 arguments, whether `part, parts` come first or last].
 * The one table both worker kinds dispatch on (NODE_WORKER embeds it as JSON).
 */
export const PART_FNS: readonly (readonly [keyof PartExports, number, boolean])[] = [
  ['gemmPart', 13, true],
  ['conv2dPart', 6, true],
  ['conv2dGradInputPart', 5, true],
  ['conv2dGradFilterPart', 6, true],
  ['layerChunks', 1, false], // the ternary kernels' threaded build (backends/ternary.ts): a layer's row chunks
  ['mapPart', 1, false], // an element-wise map described in memory (backends/wasm.ts)
  ['maxPoolPart', 3, true],
  ['maxPoolGradPart', 4, true],
  ['bnPart', 1, false], // a fused batch-norm pass described in memory (backends/wasm/batchnorm.ts)
  ['im2colPart', 3, true],
  ['conv2dGradFilterColsPart', 6, true],
  ['maxPoolArgPart', 4, true],
  ['maxPoolGradArgPart', 4, true],
  ['conv2dPoolPart', 8, true],
  ['convGradsPart', 1, false], // a convolution's two gradients described in memory (backends/wasm.ts)
  ['maxPoolReluPart', 3, true], // a maxPool → relu pair (src/models/fuse.ts), by images
  ['maxPoolReluGradPart', 5, true],
];

/** A name for op code `op` in errors. */
export const opName = (op: number): string => Object.entries(OP).find(([, c]) => c === op)?.[0] ?? `op ${op}`;

// Control block layout (Int32Array): generation, parts done, op, parts, the first failed part + 1
// (0: none), the claim word (the generation's low 21 bits, then the next unclaimed part in 10 bits),
// the threads asleep on the generation and on the parts done, arguments, then the failure's
// message (length, then UTF-16 code units).
const GEN = 0;
const DONE = 1;
const OPC = 2;
const PARTS = 3;
const FAILED = 4;
const CLAIM = 5;
const GEN_SLEEPERS = 6;
const DONE_SLEEPERS = 7;
const ARGS = 8;
const MAX_ARGS = 16;
const MSG = ARGS + MAX_ARGS;
const MSG_CHARS = 200;
const CTRL_LEN = MSG + 1 + MSG_CHARS;

/** The most parts a task may have (the claim word's 10 bits). */
export const MAX_PARTS = 1023;
const PART_BITS = 10;
const PART_MASK = (1 << PART_BITS) - 1;
/** The claim word of generation `gen` with `next` parts claimed. */
const claimWord = (gen: number, next: number): number => ((gen & 0x1fffff) << PART_BITS) | next;

/**
 * How long a worker polls for the next task before it sleeps in `Atomics.wait`, and the caller for
 * the parts still running elsewhere, in ms. Waking a sleeping thread (a futex, and on a virtual
 * machine its halted CPU) costs ~15–90 µs, a polled task ~2 µs. A training step posts hundreds of
 * tasks with JS between them, most well under a millisecond apart but some gaps longer, so a
 * worker polls for 4 ms (OpenMP runtimes poll for 200 ms or more by default): on the quiet 2-core
 * guest polls of 0.02, 0.2 and 1 ms gave the cnn-small 2-thread step 1.22×, 1.38× and 1.56–1.76×
 * the 1-thread step, and 4 ms a further ~13% over 1 ms (30.6 against 35.2 ms per step, means of
 * interleaved runs; 10 and 25 ms no better; bench/TRAIN.md). The caller's poll stays short: on a
 * loaded machine the thread it waits for may share its core, and then a poll only holds that
 * thread back.
 */
export const WORKER_SPIN_MS = 4;
export const CALLER_SPIN_MS = 0.1;

/**
 * Returns once `ctrl[i]` is not `v`: polls for up to `spinMs`, then sleeps in `Atomics.wait`,
 * counted in `ctrl[sleepers]` so that a change wakes it (`changed`) without the notify's cost,
 * ~90 µs on a loaded virtual machine, when nobody sleeps.
 */
function awaitChange(ctrl: Int32Array, i: number, v: number, spinMs: number, sleepers: number): void {
  if (Atomics.load(ctrl, i) !== v) return;
  const t0 = performance.now();
  for (let k = 1; Atomics.load(ctrl, i) === v; k++) {
    if ((k & 127) === 0 && performance.now() - t0 > spinMs) {
      Atomics.add(ctrl, sleepers, 1);
      while (Atomics.load(ctrl, i) === v) Atomics.wait(ctrl, i, v);
      Atomics.sub(ctrl, sleepers, 1);
      return;
    }
  }
}

/** Wakes the threads asleep on `ctrl[i]` (after a change to it), if there are any. */
function changed(ctrl: Int32Array, i: number, sleepers: number): void {
  if (Atomics.load(ctrl, sleepers) !== 0) Atomics.notify(ctrl, i);
}

/** Runs part `part` of `parts` of task `op` on `wasm`. */
export function runPart(wasm: PartExports, op: number, part: number, parts: number, a: ArrayLike<number>): void {
  const fn = PART_FNS[op];
  if (fn === undefined) throw new Error(`unknown op code ${op}`);
  const f = wasm[fn[0]] as ((...x: number[]) => void) | undefined;
  if (typeof f !== 'function') throw new Error(`the module has no ${fn[0]} export`);
  const args = Array.prototype.slice.call(a, 0, fn[1]) as number[];
  if (fn[2]) f(part, parts, ...args);
  else f(...args, part, parts);
}

/** The task generation a worker has seen: read it BEFORE saying ready, or a task posted in between is missed. */
export const generation = (ctrl: Int32Array): number => Atomics.load(ctrl, GEN);

/** Records the first failure of a task: its part (+ 1) and message, read by `run()`. */
function recordFailure(ctrl: Int32Array, part: number, e: unknown): void {
  if (Atomics.compareExchange(ctrl, FAILED, 0, part + 1) !== 0) return;
  const text = String((e as { message?: unknown } | null)?.message ?? e).slice(0, MSG_CHARS);
  for (let i = 0; i < text.length; i++) ctrl[MSG + 1 + i] = text.charCodeAt(i);
  Atomics.store(ctrl, MSG, text.length);
}

/**
 * The stores that post task `op` as generation `gen`, in the order they must happen, each an
 * `Atomics.store` (sequentially consistent): first the claim word, tagged with the new generation
 * and with part 0 already claimed (the poster's), so that a worker still holding an earlier
 * generation can claim nothing while the rest of the task is half written; then the op, the part
 * count, the failure slot, the arguments and the parts-done count; the generation last. A worker
 * reads the task with atomic loads (`readTask`), so whatever it reads of the new task comes after
 * the new claim word in that single order, and its claim of an earlier generation fails.
 */
export function taskWrites(gen: number, op: number, parts: number, args: readonly number[]): readonly (readonly [number, number])[] {
  return [
    [CLAIM, claimWord(gen, 1)],
    [OPC, op],
    [PARTS, parts],
    [FAILED, 0],
    ...args.map((a, i) => [ARGS + i, a] as const),
    [DONE, 0],
    [GEN, gen],
  ];
}

/** The task in the control block as a worker reads it (atomic loads only): its generation, op, part count and arguments. */
export function readTask(ctrl: Int32Array): { gen: number; op: number; parts: number; args: number[] } {
  const gen = Atomics.load(ctrl, GEN);
  const op = Atomics.load(ctrl, OPC);
  const parts = Atomics.load(ctrl, PARTS);
  const args: number[] = [];
  for (let i = 0; i < MAX_ARGS; i++) args.push(Atomics.load(ctrl, ARGS + i));
  return { gen, op, parts, args };
}

/**
 * Claims the next unclaimed part of task `gen` (of `parts` parts): its number, or −1 when every
 * part is claimed or the claim word belongs to another generation (a later task was posted).
 */
export function claimNext(ctrl: Int32Array, gen: number, parts: number): number {
  const tag = claimWord(gen, 0);
  for (;;) {
    const w = Atomics.load(ctrl, CLAIM);
    const part = w & PART_MASK;
    if (w - part !== tag || part >= parts) return -1;
    if (Atomics.compareExchange(ctrl, CLAIM, w, w + 1) === w) return part;
  }
}

/** A control block of this module's layout (for a pool, and for the laws that step one by hand). */
export const controlBlock = (): Int32Array => new Int32Array(new SharedArrayBuffer(CTRL_LEN * 4));

/**
 * Claims and runs parts of task `gen` until none is left (a throw is recorded in the control
 * block, never lost); each part done counts up, the last one wakes the caller. A claim is a
 * compare-and-swap on the claim word, which fails once the caller has posted a later task, so
 * `op`, `parts` and `args`, read before it, are always that of the claimed part's task.
 */
function claimParts(wasm: PartExports, ctrl: Int32Array, gen: number, op: number, parts: number, args: ArrayLike<number>): void {
  for (;;) {
    const part = claimNext(ctrl, gen, parts);
    if (part < 0) return;
    try {
      runPart(wasm, op, part, parts, args);
    } catch (e) {
      recordFailure(ctrl, part, e);
    } finally {
      if (Atomics.add(ctrl, DONE, 1) === parts - 1) changed(ctrl, DONE, DONE_SLEEPERS);
    }
  }
}

/**
 * The worker loop: wait for a generation after `seen`, claim and run parts of its task, repeat
 * until `exit` (parts go to whichever thread claims them, so a worker needs no number of its own).
 */
export function workerLoop(wasm: PartExports, ctrl: Int32Array, seen: number): void {
  for (;;) {
    awaitChange(ctrl, GEN, seen, WORKER_SPIN_MS, GEN_SLEEPERS);
    const t = readTask(ctrl);
    seen = t.gen;
    if (t.op === OP.exit) return;
    claimParts(wasm, ctrl, t.gen, t.op, t.parts, t.args);
  }
}

/** A part of a pool's task threw (a wasm trap, out of memory): names the op and the part's message. */
export class ThreadTaskError extends SttnError {
  override readonly name = 'ThreadTaskError';
  constructor(
    readonly op: string,
    readonly part: number,
    message: string,
  ) {
    super(`sttn wasm thread pool: part ${part} of ${op} failed: ${message}`);
  }
}

export interface ThreadPool {
  /** Threads taking part in each task (the calling thread included). */
  readonly threads: number;
  /**
   * Runs every part of task `op` (arguments are i32) and returns when all are done: `parts` parts
   * (default: one per thread, at most MAX_PARTS), each with its own work area where the op has one.
   */
  run(op: number, args: readonly number[], parts?: number): void;
  /** Ends the workers (idempotent). */
  dispose(): void;
}

interface NodeWorker {
  postMessage(m: unknown): void;
  once(ev: string, f: (m: unknown) => void): void;
  unref(): void;
  terminate(): Promise<number>;
}
interface NodeWorkerThreads {
  Worker: new (code: string, opts: { eval: true; workerData: unknown; execArgv: string[] }) => NodeWorker;
}
/** A Web Worker as the pool uses it (a law passes one that wraps a Node worker running ./worker.ts). */
export interface WebWorkerLike {
  onmessage: (() => void) | null;
  onerror: ((e: { message: string }) => void) | null;
  postMessage(m: unknown): void;
  terminate(): void;
}
interface NodeProcess {
  getBuiltinModule?: (id: string) => unknown;
  execArgv?: string[];
  versions?: { node?: string };
}
const nodeProcess = (): NodeProcess | undefined => (globalThis as { process?: NodeProcess }).process;

/** Can this thread block in `Atomics.wait` (not a browser's main thread) with shared memory? */
export function canBlock(): boolean {
  if (typeof SharedArrayBuffer === 'undefined') return false;
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

/** Threads this platform can give a pool: the cores in Node, `navigator.hardwareConcurrency` in an isolated worker, else 1. */
export function availableThreads(): number {
  if (!canBlock()) return 1;
  const os = nodeProcess()?.getBuiltinModule?.('node:os') as { availableParallelism?: () => number; cpus(): unknown[] } | undefined;
  if (os) return os.availableParallelism?.() ?? os.cpus().length;
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number }; crossOriginIsolated?: boolean });
  return nav.crossOriginIsolated ? Math.max(1, nav.navigator?.hardwareConcurrency ?? 1) : 1;
}

/** The browser's worker module beside this one. */
const workerUrl = (): URL => new URL('./worker.js', import.meta.url);

/**
 * The Node worker, as code Node evaluates (no file to resolve, so it runs the same from the
 * TypeScript source through tsx, whose loader Node 20 workers do not inherit, and from dist/):
 * `workerLoop` above in plain JavaScript, dispatching on the same table (PART_FNS, as JSON) and
 * writing a failure into the same control block. It gets no flags of this process
 * (`execArgv: []`: `--input-type=module` or `--test` would change how it runs).
 */
const NODE_WORKER = `
const { workerData, parentPort } = process.getBuiltinModule('node:worker_threads');
const { module, memory, ctrl } = workerData;
const w = new WebAssembly.Instance(module, { env: { memory } }).exports;
const fns = ${JSON.stringify(PART_FNS)};
// read before saying ready: the first task may be posted as soon as the caller hears it
let seen = Atomics.load(ctrl, ${GEN});
parentPort.postMessage('ready');
for (;;) {
  if (Atomics.load(ctrl, ${GEN}) === seen) {
    const t0 = performance.now();
    for (let k = 1; Atomics.load(ctrl, ${GEN}) === seen; k++) {
      if ((k & 127) === 0 && performance.now() - t0 > ${WORKER_SPIN_MS}) {
        Atomics.add(ctrl, ${GEN_SLEEPERS}, 1);
        while (Atomics.load(ctrl, ${GEN}) === seen) Atomics.wait(ctrl, ${GEN}, seen);
        Atomics.sub(ctrl, ${GEN_SLEEPERS}, 1);
        break;
      }
    }
  }
  seen = Atomics.load(ctrl, ${GEN});
  const op = Atomics.load(ctrl, ${OPC});
  if (op === ${OP.exit}) break;
  const parts = Atomics.load(ctrl, ${PARTS});
  const args = [];
  for (let i = 0; i < ${MAX_ARGS}; i++) args.push(Atomics.load(ctrl, ${ARGS} + i));
  const tag = (seen & 0x1fffff) << ${PART_BITS};
  for (;;) {
    const c = Atomics.load(ctrl, ${CLAIM});
    const part = c & ${PART_MASK};
    if (c - part !== tag || part >= parts) break;
    if (Atomics.compareExchange(ctrl, ${CLAIM}, c, c + 1) !== c) continue;
    try {
      const fn = fns[op];
      if (fn === undefined) throw new Error('unknown op code ' + op);
      const f = w[fn[0]];
      if (typeof f !== 'function') throw new Error('the module has no ' + fn[0] + ' export');
      const a = args.slice(0, fn[1]);
      if (fn[2]) f(part, parts, ...a);
      else f(...a, part, parts);
    } catch (e) {
      if (Atomics.compareExchange(ctrl, ${FAILED}, 0, part + 1) === 0) {
        const text = String(e?.message ?? e).slice(0, ${MSG_CHARS});
        for (let i = 0; i < text.length; i++) ctrl[${MSG + 1} + i] = text.charCodeAt(i);
        Atomics.store(ctrl, ${MSG}, text.length);
      }
    } finally {
      if (Atomics.add(ctrl, ${DONE}, 1) === parts - 1 && Atomics.load(ctrl, ${DONE_SLEEPERS}) !== 0) Atomics.notify(ctrl, ${DONE});
    }
  }
}
`;

/** Pages a pool's shared memory may grow to (64 KiB each): 2 GiB, reserved as address space only. */
export const SHARED_MAX_PAGES = 32768;

/** A shared memory for a threaded build, `initial` pages, growable to 2 GiB. */
export const sharedMemory = (initial: number): WebAssembly.Memory => new WebAssembly.Memory({ initial, maximum: SHARED_MAX_PAGES, shared: true });

let live = 0;
/** Workers of every pool that have started and not yet exited (Node: counted by their 'exit' events). */
export const liveWorkers = (): number => live;

/**
 * A pool of `threads` (≥ 1) over `module` (the threaded build) and its shared `memory`; `main` is
 * the calling thread's instance. With 1 thread, or where the platform cannot block, no worker is
 * made and every part runs here. If a worker fails before it is ready, every worker is told to
 * exit and ended, and the promise rejects. `webWorker` makes the workers (the browser's kind,
 * ./worker.ts) instead of Node's evaluated ones.
 */
export async function createThreadPool(
  module: WebAssembly.Module,
  memory: WebAssembly.Memory,
  main: PartExports,
  threads: number,
  opts: { readonly webWorker?: () => WebWorkerLike } = {},
): Promise<ThreadPool> {
  const n = Math.max(1, Math.floor(threads));
  if (n === 1 || !canBlock()) {
    // parts in order on this thread: the same results as any split
    return {
      threads: 1,
      run(op, args, parts = 1) {
        for (let p = 0; p < parts; p++) runPart(main, op, p, parts, args);
      },
      dispose: () => {},
    };
  }
  const ctrl = controlBlock();
  const disposers: (() => void)[] = [];
  const ready: Promise<void>[] = [];
  const p = nodeProcess();
  const wt = opts.webWorker ? undefined : (p?.getBuiltinModule?.('node:worker_threads') as NodeWorkerThreads | undefined);
  for (let part = 1; part < n; part++) {
    const init = { module, memory, ctrl, part };
    if (wt) {
      const w = new wt.Worker(NODE_WORKER, { eval: true, workerData: init, execArgv: [] });
      live++;
      w.once('exit', () => live--);
      // held until ready, then unref'd: idle workers never keep the process alive
      ready.push(new Promise((resolve, reject) => {
        w.once('message', () => {
          w.unref();
          resolve();
        });
        w.once('error', (e) => reject(new Error(`sttn wasm worker ${part}: ${(e as Error).message}`)));
      }));
      disposers.push(() => void w.terminate());
    } else {
      const WebWorker = (globalThis as unknown as { Worker: new (url: URL, o: { type: 'module' }) => WebWorkerLike }).Worker;
      const w = opts.webWorker?.() ?? new WebWorker(workerUrl(), { type: 'module' });
      live++;
      ready.push(new Promise((resolve, reject) => {
        w.onmessage = () => resolve();
        w.onerror = (e) => reject(new Error(`sttn wasm worker ${part}: ${e.message}`));
      }));
      w.postMessage(init);
      disposers.push(() => {
        w.terminate();
        live--;
      });
    }
  }
  const end = (): void => {
    Atomics.store(ctrl, OPC, OP.exit);
    Atomics.add(ctrl, GEN, 1);
    Atomics.notify(ctrl, GEN);
    for (const d of disposers) d();
  };
  try {
    await Promise.all(ready);
  } catch (e) {
    end();
    throw e;
  }
  let disposed = false;
  return {
    threads: n,
    run(op, args, parts = n) {
      if (disposed) throw new Error('sttn wasm thread pool: used after dispose()');
      if (args.length > MAX_ARGS) throw new Error(`sttn wasm thread pool: ${args.length} arguments, at most ${MAX_ARGS}`);
      if (!Number.isInteger(parts) || parts < 1 || parts > MAX_PARTS) throw new Error(`sttn wasm thread pool: ${parts} parts, from 1 to ${MAX_PARTS}`);
      // part 0 is this thread's, claimed in the first store, before the workers can see the task
      const gen = (Atomics.load(ctrl, GEN) + 1) | 0;
      for (const [i, v] of taskWrites(gen, op, parts, args)) Atomics.store(ctrl, i, v);
      changed(ctrl, GEN, GEN_SLEEPERS);
      try {
        runPart(main, op, 0, parts, args);
      } catch (e) {
        recordFailure(ctrl, 0, e);
      }
      Atomics.add(ctrl, DONE, 1);
      claimParts(main, ctrl, gen, op, parts, args);
      // every part ends before the next task may overwrite the control block
      for (let done = Atomics.load(ctrl, DONE); done < parts; done = Atomics.load(ctrl, DONE)) awaitChange(ctrl, DONE, done, CALLER_SPIN_MS, DONE_SLEEPERS);
      const failed = Atomics.load(ctrl, FAILED);
      if (failed !== 0) {
        const len = Atomics.load(ctrl, MSG);
        throw new ThreadTaskError(opName(op), failed - 1, String.fromCharCode(...ctrl.subarray(MSG + 1, MSG + 1 + len)));
      }
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      end();
    },
  };
}
