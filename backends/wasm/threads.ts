/**
 * The wasm backend's thread pool: N − 1 workers plus the calling thread over one shared
 * `WebAssembly.Memory`, created once per backend and ended by `dispose()`.
 *
 * Every instance runs the threaded build (build/wasm/sttn-simd-threads.wasm: imported shared
 * memory) on the same memory. Workers never allocate: the calling thread lays out operands and one
 * work area per part, writes a task (op code and i32 arguments) into a shared control block, bumps
 * its generation and wakes the workers with `Atomics.notify`; each participant runs its part of
 * the product (assembly/index.ts: `gemmPart`, `conv2dPart`, …), split by output rows or images,
 * never along a sum, so the result is bit-identical for any thread count; the caller runs part 0
 * and then `Atomics.wait`s for the count of pending parts to reach 0.
 *
 * Where threads come from: Node's worker_threads (reached through `process.getBuiltinModule`, no
 * `node:` import; the worker is evaluated code, NODE_WORKER), or module Web Workers (./worker.ts) where the page is cross-origin isolated and the calling
 * thread may block (`Atomics.wait` is refused on a browser's main thread, so there the pool has
 * one thread). `availableThreads()` says how many a platform gives.
 *
 * Law (laws/threads.test.ts): products, convolutions and a training step give identical results at
 * 1 and 2 threads; `dispose()` ends the workers and the process exits.
 */

/** The exports the parts need (the threaded build has them; so do the others). */
export interface PartExports {
  convPartWorkBytes(geom: number): number;
  gemmPart(part: number, parts: number, ...args: number[]): void;
  conv2dPart(part: number, parts: number, geom: number, x: number, w: number, y: number, work: number): void;
  conv2dGradInputPart(part: number, parts: number, geom: number, dy: number, w: number, dx: number, work: number): void;
  conv2dGradFilterPart(part: number, parts: number, geom: number, x: number, dy: number, dw: number, work: number): void;
  /** the ternary kernels' threaded build only */
  layerChunks?(desc: number, part: number, parts: number): void;
}

/** Task op codes; the workers' loop (./worker.ts) runs the same `runPart`. */
export const OP = { gemm: 0, conv2d: 1, conv2dGradInput: 2, conv2dGradFilter: 3, layerChunks: 4, exit: 99 } as const;

// Control block layout (Int32Array): generation, pending parts, op, parts, then arguments.
const GEN = 0;
const PENDING = 1;
const OPC = 2;
const PARTS = 3;
const ARGS = 4;
const MAX_ARGS = 16;

/** Runs part `part` of `parts` of task `op` on `wasm`. */
export function runPart(wasm: PartExports, op: number, part: number, parts: number, a: ArrayLike<number>): void {
  switch (op) {
    case OP.gemm:
      wasm.gemmPart(part, parts, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12]);
      return;
    case OP.conv2d:
      wasm.conv2dPart(part, parts, a[0], a[1], a[2], a[3], a[4]);
      return;
    case OP.conv2dGradInput:
      wasm.conv2dGradInputPart(part, parts, a[0], a[1], a[2], a[3], a[4]);
      return;
    case OP.conv2dGradFilter:
      wasm.conv2dGradFilterPart(part, parts, a[0], a[1], a[2], a[3], a[4]);
      return;
    case OP.layerChunks:
      // the ternary kernels' threaded build (backends/ternary.ts): a layer's row chunks
      wasm.layerChunks!(a[0], part, parts);
      return;
  }
}

/** The task generation a worker has seen: read it BEFORE saying ready, or a task posted in between is missed. */
export const generation = (ctrl: Int32Array): number => Atomics.load(ctrl, GEN);

/** The worker loop: wait for a generation after `seen`, run this worker's part, count down, repeat until `exit`. */
export function workerLoop(wasm: PartExports, ctrl: Int32Array, part: number, seen: number): void {
  for (;;) {
    Atomics.wait(ctrl, GEN, seen);
    seen = Atomics.load(ctrl, GEN);
    const op = Atomics.load(ctrl, OPC);
    if (op === OP.exit) return;
    const parts = Atomics.load(ctrl, PARTS);
    if (part < parts) runPart(wasm, op, part, parts, ctrl.subarray(ARGS, ARGS + MAX_ARGS));
    if (Atomics.sub(ctrl, PENDING, 1) === 1) Atomics.notify(ctrl, PENDING);
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
interface WebWorkerLike {
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
 * `workerLoop` and `runPart` above, spelled out in plain JavaScript with the same constants. It
 * gets no flags of this process (`execArgv: []`: `--input-type=module` or `--test` would change
 * how it runs).
 */
const NODE_WORKER = `
const { workerData, parentPort } = process.getBuiltinModule('node:worker_threads');
const { module, memory, ctrl, part } = workerData;
const w = new WebAssembly.Instance(module, { env: { memory } }).exports;
// read before saying ready: the first task may be posted as soon as the caller hears it
let seen = Atomics.load(ctrl, ${GEN});
parentPort.postMessage('ready');
for (;;) {
  Atomics.wait(ctrl, ${GEN}, seen);
  seen = Atomics.load(ctrl, ${GEN});
  const op = Atomics.load(ctrl, ${OPC});
  if (op === ${OP.exit}) break;
  const parts = Atomics.load(ctrl, ${PARTS});
  const a = ctrl.subarray(${ARGS}, ${ARGS + MAX_ARGS});
  if (part < parts) {
    if (op === ${OP.gemm}) w.gemmPart(part, parts, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12]);
    else if (op === ${OP.conv2d}) w.conv2dPart(part, parts, a[0], a[1], a[2], a[3], a[4]);
    else if (op === ${OP.conv2dGradInput}) w.conv2dGradInputPart(part, parts, a[0], a[1], a[2], a[3], a[4]);
    else if (op === ${OP.conv2dGradFilter}) w.conv2dGradFilterPart(part, parts, a[0], a[1], a[2], a[3], a[4]);
    else if (op === ${OP.layerChunks}) w.layerChunks(a[0], part, parts);
  }
  if (Atomics.sub(ctrl, ${PENDING}, 1) === 1) Atomics.notify(ctrl, ${PENDING});
}
`;

/**
 * A pool of `threads` (≥ 1) over `module` (the threaded build) and its shared `memory`; `main` is
 * the calling thread's instance. With 1 thread, or where the platform cannot block, no worker is
 * made and every part runs here.
 */
export async function createThreadPool(module: WebAssembly.Module, memory: WebAssembly.Memory, main: PartExports, threads: number): Promise<ThreadPool> {
  const n = Math.max(1, Math.floor(threads));
  if (n === 1 || !canBlock()) {
    return { threads: 1, run: (op, args) => runPart(main, op, 0, 1, args), dispose: () => {} };
  }
  const ctrl = new Int32Array(new SharedArrayBuffer((ARGS + MAX_ARGS) * 4));
  const disposers: (() => void)[] = [];
  const ready: Promise<void>[] = [];
  const p = nodeProcess();
  const wt = p?.getBuiltinModule?.('node:worker_threads') as NodeWorkerThreads | undefined;
  for (let part = 1; part < n; part++) {
    const init = { module, memory, ctrl, part };
    if (wt) {
      const w = new wt.Worker(NODE_WORKER, { eval: true, workerData: init, execArgv: [] });
      // held until ready, then unref'd: idle workers never keep the process alive
      ready.push(new Promise((resolve, reject) => {
        w.once('message', () => {
          w.unref();
          resolve();
        });
        w.once('error', (e) => reject(e));
      }));
      disposers.push(() => void w.terminate());
    } else {
      const WebWorker = (globalThis as unknown as { Worker: new (url: URL, o: { type: 'module' }) => WebWorkerLike }).Worker;
      const w = new WebWorker(workerUrl(), { type: 'module' });
      ready.push(new Promise((resolve, reject) => {
        w.onmessage = () => resolve();
        w.onerror = (e) => reject(new Error(`sttn wasm worker: ${e.message}`));
      }));
      w.postMessage(init);
      disposers.push(() => w.terminate());
    }
  }
  await Promise.all(ready);
  let disposed = false;
  return {
    threads: n,
    run(op, args) {
      if (disposed) throw new Error('sttn wasm thread pool: used after dispose()');
      ctrl[OPC] = op;
      ctrl[PARTS] = n;
      for (let i = 0; i < args.length; i++) ctrl[ARGS + i] = args[i];
      Atomics.store(ctrl, PENDING, n - 1);
      Atomics.add(ctrl, GEN, 1);
      Atomics.notify(ctrl, GEN);
      runPart(main, op, 0, n, args);
      for (let left = Atomics.load(ctrl, PENDING); left !== 0; left = Atomics.load(ctrl, PENDING)) Atomics.wait(ctrl, PENDING, left);
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      Atomics.store(ctrl, OPC, OP.exit);
      Atomics.add(ctrl, GEN, 1);
      Atomics.notify(ctrl, GEN);
      for (const d of disposers) d();
    },
  };
}
