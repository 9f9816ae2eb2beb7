/**
 * The wasm backend's thread pool: N − 1 workers plus the calling thread over one shared
 * `WebAssembly.Memory`, created once per backend and ended by `dispose()`.
 *
 * Every instance runs the threaded build (build/wasm/sttn-simd-threads.wasm: imported shared
 * memory) on the same memory. Workers never allocate: the calling thread lays out operands and one
 * work area per part, writes a task (op code and i32 arguments) into a shared control block, bumps
 * its generation and wakes the workers with `Atomics.notify`; each participant runs its part of
 * the product (assembly/index.ts: `gemmPart`, `conv2dPart`, …), split by output rows or images,
 * never along a sum, so the result is bit-identical for any thread count (likewise the large
 * element-wise maps, split into runs of elements, and max pooling, by images); the caller runs part 0
 * and then `Atomics.wait`s for the count of pending parts to reach 0.
 *
 * Where threads come from: Node's worker_threads (reached through `process.getBuiltinModule`, no
 * `node:` import; the worker is evaluated code, NODE_WORKER), or module Web Workers (./worker.ts) where the page is cross-origin isolated and the calling
 * thread may block (`Atomics.wait` is refused on a browser's main thread, so there the pool has
 * one thread). `availableThreads()` says how many a platform gives.
 *
 * A part that throws (a wasm trap, out of memory), on a worker or on the calling thread, is
 * recorded in the control block (its part and message); every part still counts down, so `run()`
 * always returns once all parts are done, then throws a ThreadTaskError naming the op, and the pool
 * stays usable. Both kinds of worker dispatch on one table, PART_FNS.
 *
 * Law (laws/threads.test.ts, laws/engine-threads.test.ts): products, convolutions, ternary layers
 * and a training step give identical results at 1, 2 and 3 threads; `dispose()` ends every worker
 * (counted by `liveWorkers()`) and an undisposed pool lets the process exit; a trap in a worker's
 * part (Node's and ./worker.ts's loop) or a throw in the calling thread's is a ThreadTaskError and
 * the next task is exact; a worker failing before it is ready ends the others.
 */

import { SttnError } from '../../src/errors.js';

/** The exports the parts need (the threaded build has them; so do the others). */
export interface PartExports {
  convPartWorkBytes(geom: number): number;
  gemmPart(part: number, parts: number, ...args: number[]): void;
  conv2dPart(part: number, parts: number, geom: number, x: number, w: number, y: number, work: number): void;
  conv2dGradInputPart(part: number, parts: number, geom: number, dy: number, w: number, dx: number, work: number): void;
  conv2dGradFilterPart(part: number, parts: number, geom: number, x: number, dy: number, dw: number, work: number): void;
  /** the ternary kernels' threaded build only */
  layerChunks?(desc: number, part: number, parts: number): void;
  /** the float builds: an element-wise map split into runs, max pooling by images (assembly/elementwise.ts, pool.ts) */
  mapPart?(desc: number, part: number, parts: number): void;
  maxPoolPart?(part: number, parts: number, geom: number, x: number, y: number): void;
  maxPoolGradPart?(part: number, parts: number, geom: number, x: number, dy: number, dx: number): void;
}

/** Task op codes; both workers (Node's NODE_WORKER below, the browser's ./worker.ts) run `runPart`'s table. */
export const OP = { gemm: 0, conv2d: 1, conv2dGradInput: 2, conv2dGradFilter: 3, layerChunks: 4, map: 5, maxPool: 6, maxPoolGrad: 7, exit: 99 } as const;

/**
 * The part of each op code: [export, i32 arguments, whether `part, parts` come first or last].
 * The one table both worker kinds dispatch on (NODE_WORKER embeds it as JSON).
 */
export const PART_FNS: readonly (readonly [keyof PartExports, number, boolean])[] = [
  ['gemmPart', 13, true],
  ['conv2dPart', 5, true],
  ['conv2dGradInputPart', 5, true],
  ['conv2dGradFilterPart', 5, true],
  ['layerChunks', 1, false], // the ternary kernels' threaded build (backends/ternary.ts): a layer's row chunks
  ['mapPart', 1, false], // an element-wise map described in memory (backends/wasm.ts)
  ['maxPoolPart', 3, true],
  ['maxPoolGradPart', 4, true],
];

/** A name for op code `op` in errors. */
export const opName = (op: number): string => Object.entries(OP).find(([, c]) => c === op)?.[0] ?? `op ${op}`;

// Control block layout (Int32Array): generation, pending parts, op, parts, the first failed part + 1
// (0: none), arguments, then the failure's message (length, then UTF-16 code units).
const GEN = 0;
const PENDING = 1;
const OPC = 2;
const PARTS = 3;
const FAILED = 4;
const ARGS = 5;
const MAX_ARGS = 16;
const MSG = ARGS + MAX_ARGS;
const MSG_CHARS = 200;
const CTRL_LEN = MSG + 1 + MSG_CHARS;

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
 * The worker loop: wait for a generation after `seen`, run this worker's part (a throw is recorded
 * in the control block, never lost), count down, repeat until `exit`.
 */
export function workerLoop(wasm: PartExports, ctrl: Int32Array, part: number, seen: number): void {
  for (;;) {
    Atomics.wait(ctrl, GEN, seen);
    seen = Atomics.load(ctrl, GEN);
    const op = Atomics.load(ctrl, OPC);
    if (op === OP.exit) return;
    const parts = Atomics.load(ctrl, PARTS);
    try {
      if (part < parts) runPart(wasm, op, part, parts, ctrl.subarray(ARGS, ARGS + MAX_ARGS));
    } catch (e) {
      recordFailure(ctrl, part, e);
    } finally {
      if (Atomics.sub(ctrl, PENDING, 1) === 1) Atomics.notify(ctrl, PENDING);
    }
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
  /** Runs every part of task `op` (arguments are i32) and returns when all are done. */
  run(op: number, args: readonly number[]): void;
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
const { module, memory, ctrl, part } = workerData;
const w = new WebAssembly.Instance(module, { env: { memory } }).exports;
const fns = ${JSON.stringify(PART_FNS)};
// read before saying ready: the first task may be posted as soon as the caller hears it
let seen = Atomics.load(ctrl, ${GEN});
parentPort.postMessage('ready');
for (;;) {
  Atomics.wait(ctrl, ${GEN}, seen);
  seen = Atomics.load(ctrl, ${GEN});
  const op = Atomics.load(ctrl, ${OPC});
  if (op === ${OP.exit}) break;
  const parts = Atomics.load(ctrl, ${PARTS});
  try {
    if (part < parts) {
      const fn = fns[op];
      if (fn === undefined) throw new Error('unknown op code ' + op);
      const f = w[fn[0]];
      if (typeof f !== 'function') throw new Error('the module has no ' + fn[0] + ' export');
      const a = Array.prototype.slice.call(ctrl, ${ARGS}, ${ARGS} + fn[1]);
      if (fn[2]) f(part, parts, ...a);
      else f(...a, part, parts);
    }
  } catch (e) {
    if (Atomics.compareExchange(ctrl, ${FAILED}, 0, part + 1) === 0) {
      const text = String(e?.message ?? e).slice(0, ${MSG_CHARS});
      for (let i = 0; i < text.length; i++) ctrl[${MSG + 1} + i] = text.charCodeAt(i);
      Atomics.store(ctrl, ${MSG}, text.length);
    }
  } finally {
    if (Atomics.sub(ctrl, ${PENDING}, 1) === 1) Atomics.notify(ctrl, ${PENDING});
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
    return { threads: 1, run: (op, args) => runPart(main, op, 0, 1, args), dispose: () => {} };
  }
  const ctrl = new Int32Array(new SharedArrayBuffer(CTRL_LEN * 4));
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
    run(op, args) {
      if (disposed) throw new Error('sttn wasm thread pool: used after dispose()');
      if (args.length > MAX_ARGS) throw new Error(`sttn wasm thread pool: ${args.length} arguments, at most ${MAX_ARGS}`);
      ctrl[OPC] = op;
      ctrl[PARTS] = n;
      ctrl[FAILED] = 0;
      for (let i = 0; i < args.length; i++) ctrl[ARGS + i] = args[i];
      Atomics.store(ctrl, PENDING, n - 1);
      Atomics.add(ctrl, GEN, 1);
      Atomics.notify(ctrl, GEN);
      try {
        runPart(main, op, 0, n, args);
      } catch (e) {
        recordFailure(ctrl, 0, e);
      } finally {
        // every worker's part ends before the next task may overwrite the control block
        for (let left = Atomics.load(ctrl, PENDING); left !== 0; left = Atomics.load(ctrl, PENDING)) Atomics.wait(ctrl, PENDING, left);
      }
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
