/**
 * Threads (backends/wasm/threads.ts, the `threads` option of createWasmBackend): results are
 * bit-identical for any thread count, because products and convolutions split by output rows or
 * images, never along a sum.
 *
 * - matmul (every transpose combination, shapes around the micro-kernel's 4×8 tile and the MC/KC
 *   blocks), conv2d, conv2dGradInput and conv2dGradFilter (strides, padding, 1×1, batch 1 to 5)
 *   give at 2 and 3 threads the same float32 values (Object.is, ±0 told apart) as the unshared
 *   plain build at 1 thread (`resident: false`, what serves without shared memory), and so does a
 *   first layer's weight gradient over several im2col chunks (its parts share one patch matrix),
 *   also with patch rows of 1 or 2 floats, where it is float64's sum within float32 rounding;
 * - a few training steps (conv → batch norm → relu → pool → STTN conv → dense) give the same
 *   parameters at 2 threads as that 1-thread build;
 * - a process that makes a 2-thread backend and never disposes it still exits, and `dispose()`
 *   ends the workers (each one's exit event, `liveWorkers()`); a bad `threads` is a ConfigError
 *   naming it;
 * - a part that traps in a worker (Node's evaluated loop, and worker.ts's run in Node workers) or
 *   throws on the calling thread makes `run()` throw a ThreadTaskError naming the op, the part and
 *   the message instead of hanging, and the pool's next task is exact; a worker failing before it
 *   is ready rejects the pool and the workers that started exit;
 * - a pool's task split into any number of parts (more than threads: claimed by whichever thread
 *   is free) gives the one-call product bit for bit, and so do thousands of back-to-back tasks of
 *   changing shapes and part counts (`run()` returns only once every part is done);
 * - posting a task, stepped store by store (`taskWrites`): a late worker that still holds the
 *   previous generation, reading the control block after any prefix of the stores, claims no part
 *   (so it never runs a part of the new task with half-written arguments), while a worker that sees
 *   the new generation reads exactly the new task and claims its parts from 1 (part 0 is the
 *   poster's).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { createWasmBackend, type WasmBackend } from '../backends/wasm.js';
import { claimNext, controlBlock, createThreadPool, liveWorkers, MAX_PARTS, OP, readTask, sharedMemory, taskWrites, ThreadTaskError, type PartExports, type WebWorkerLike } from '../backends/wasm/threads.js';
import { ConfigError } from '../src/errors.js';
import type { Tensor } from '../src/tensor.js';
import { initTraining, train } from '../src/train/train.js';
import { holdsAsync } from './async-law.js';
import { example, law } from './law.js';
import { cfgOf, sameTree, tiny, toyData } from './toy.js';

// the reference: the unshared plain build, which serves wherever there is no shared memory
const one = await createWasmBackend({ threads: 1, resident: false });
const two = await createWasmBackend({ threads: 2 });
const three = await createWasmBackend({ threads: 3 });
const many: WasmBackend[] = [two, three];

const identical = (a: Tensor, b: Tensor): boolean =>
  a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]) && a.data.every((v, i) => Object.is(v, b.data[i]));

const rand = (shape: number[], seed: number): Tensor => {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s / 2 ** 31 - 1;
  }
  return { shape, data };
};

example('the backends run the thread counts asked for', () => one.threads === 1 && two.threads === 2 && three.threads === 3);

law('matmul at 2 and 3 threads equals 1 thread bit for bit', [
  fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 70 }), fc.integer({ min: 1, max: 400 }),
  fc.boolean(), fc.boolean(), fc.nat(),
], (m, n, k, transA, transB, seed) => {
  const a = rand(transA ? [k, m] : [m, k], seed);
  const b = rand(transB ? [n, k] : [k, n], seed + 1);
  const ref = one.matmul(a, b, { transA, transB });
  return many.every((B) => identical(B.matmul(a, b, { transA, transB }), ref));
}, { numRuns: 40 });

law('conv2d, conv2dGradInput and conv2dGradFilter at 2 and 3 threads equal 1 thread bit for bit', [
  fc.record({
    n: fc.integer({ min: 1, max: 5 }), h: fc.integer({ min: 3, max: 12 }), w: fc.integer({ min: 3, max: 12 }),
    cin: fc.integer({ min: 1, max: 9 }), cout: fc.integer({ min: 1, max: 20 }),
    k: fc.constantFrom(1, 2, 3), s: fc.constantFrom(1, 2), p: fc.constantFrom(0, 1), seed: fc.nat(),
  }),
], ({ n, h, w, cin, cout, k, s, p, seed }) => {
  const opts = { strides: [s, s] as [number, number], pads: [p, p] as [number, number] };
  const oh = Math.floor((h + 2 * p - k) / s) + 1;
  const ow = Math.floor((w + 2 * p - k) / s) + 1;
  const x = rand([n, h, w, cin], seed);
  const wt = rand([cout, k, k, cin], seed + 1);
  const dy = rand([n, oh, ow, cout], seed + 2);
  const y1 = one.conv2d(x, wt, opts);
  const dx1 = one.conv2dGradInput(dy, wt, x.shape, opts);
  const dw1 = one.conv2dGradFilter(x, dy, wt.shape, opts);
  return many.every((B) =>
    identical(B.conv2d(x, wt, opts), y1) &&
    identical(B.conv2dGradInput(dy, wt, x.shape, opts), dx1) &&
    identical(B.conv2dGradFilter(x, dy, wt.shape, opts), dw1));
}, { numRuns: 40 });

// A first layer's weight gradient (few patch columns: the transposed product, whose parts share
// one patch matrix formed by all threads, backends/wasm.ts) over more patch rows than one im2col
// chunk holds (~14.5k for 3×3×1), so the chunks' block boundaries must be the single call's.
law('a first layer\'s weight gradient over several im2col chunks at 2 and 3 threads equals 1 thread bit for bit', [
  fc.record({ n: fc.integer({ min: 19, max: 40 }), cin: fc.constantFrom(1, 2), cout: fc.constantFrom(8, 16, 20, 32), seed: fc.nat() }),
], ({ n, cin, cout, seed }) => {
  const opts = { strides: [1, 1] as [number, number], pads: [1, 1] as [number, number] };
  const x = rand([n, 28, 28, cin], seed);
  const dy = rand([n, 28, 28, cout], seed + 1);
  const dw1 = one.conv2dGradFilter(x, dy, [cout, 3, 3, cin], opts);
  return many.every((B) => identical(B.conv2dGradFilter(x, dy, [cout, 3, 3, cin], opts), dw1));
}, { numRuns: 6 });

// Patch rows of 1 or 2 floats (a 1×1 or 2×1 kernel on one channel) over more rows than two im2col
// chunks (131072 rows of 1 float each): im2col must copy them exactly, as a whole-vector copy
// would write past the next row (into the weight gradient's buffer at 1 thread, into another
// part's rows at 2). Positive values, so a lost partial sum is far outside float32 rounding: the
// 1-thread result is within γ(n+1)·Σ|x·dy| of float64's sum, and 2 and 3 threads give its bits.
// Every run takes both row lengths and both products: cout ≥ 5 is the transposed product (its
// buffer right behind the chunk, its parts sharing one patch matrix), cout 3 the plain one.
const weightGradCases = [1, 2].flatMap((kh) => [3, 5, 8].map((cout) => ({ kh, cout })));
law('a weight gradient with 1- or 2-float patch rows over several im2col chunks is float64\'s within float32 rounding, and the same bits at 2 and 3 threads', [
  fc.nat(),
], (seed) => weightGradCases.every(({ kh, cout }) => {
  const [n, h, w] = [2, 726, 726];
  const opts = { strides: [2, 2] as [number, number], pads: [0, 0] as [number, number] };
  const [oh, ow] = [Math.floor((h - kh) / 2) + 1, Math.floor((w - 1) / 2) + 1];
  const pos = (t: Tensor): Tensor => ({ shape: t.shape, data: t.data.map((v) => 0.75 + v / 4) });
  const x = pos(rand([n, h, w, 1], seed));
  const dy = pos(rand([n, oh, ow, cout], seed + 1));
  const shape = [cout, kh, 1, 1];
  const dw1 = one.conv2dGradFilter(x, dy, shape, opts);
  const rows = n * oh * ow;
  const gamma = ((rows + 1) * 2 ** -24) / (1 - (rows + 1) * 2 ** -24);
  const close = Array.from(dw1.data).every((v, i) => {
    const [o, ky] = [Math.floor(i / kh), i % kh];
    let sum = 0;
    let abs = 0;
    for (let b = 0; b < n; b++) for (let y = 0; y < oh; y++) for (let xx = 0; xx < ow; xx++) {
      const t = x.data[(b * h + 2 * y + ky) * w + 2 * xx] * dy.data[((b * oh + y) * ow + xx) * cout + o];
      sum += t;
      abs += Math.abs(t);
    }
    return Math.abs(v - sum) <= gamma * abs;
  });
  return close && many.every((B) => [0, 1, 2].every(() => identical(B.conv2dGradFilter(x, dy, shape, opts), dw1)));
}), { numRuns: 2 });

example('training steps at 2 threads give the parameters of 1 thread bit for bit (data and run seeds drawn)', () =>
  holdsAsync(fc.tuple(fc.nat(1 << 20), fc.nat(1 << 20)), async ([dataSeed, seed]) => {
    const m = tiny();
    const data = toyData(48, dataSeed);
    const cfg = cfgOf({ epochs: 2, batchSize: 16, augmentPad: 1, seed });
    const a = (await train(one, m, data, cfg, initTraining(one, m, cfg))).state;
    const b = (await train(two, m, data, cfg, initTraining(two, m, cfg))).state;
    return sameTree(a.params, b.params) && sameTree(a.state, b.state);
  }, 4));

example('a bad thread count is a ConfigError naming createWasmBackend.threads', async () => {
  for (const threads of [0, 1.5, -2, NaN]) {
    try {
      await createWasmBackend({ threads });
      return false;
    } catch (e) {
      if (!(e instanceof ConfigError) || !e.message.includes('createWasmBackend.threads')) return false;
    }
  }
  return true;
});

// a plain child process, not a child of this test runner
const childEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT'));
const wasmModule = new URL('../backends/wasm.ts', import.meta.url).href;
const exits = (body: string): boolean => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `
    const { createWasmBackend } = await import(${JSON.stringify(wasmModule)});
    const B = await createWasmBackend({ threads: 2 });
    const y = B.matmul({ shape: [64, 64], data: new Float32Array(4096).fill(1) }, { shape: [64, 64], data: new Float32Array(4096).fill(1) });
    if (y.data[0] !== 64 || B.threads !== 2) process.exit(3);
    ${body}
  `], { cwd: fileURLToPath(new URL('..', import.meta.url)), timeout: 60_000, encoding: 'utf8' });
  return r.status === 0;
};

example('a process with an undisposed 2-thread backend exits by itself; one that disposes it exits too', () =>
  exits('') && exits('B.dispose(); B.dispose();'));

/** Resolves true once `liveWorkers()` is `n` (their 'exit' events), false after 10 s. */
async function settlesAt(n: number): Promise<boolean> {
  for (const t0 = Date.now(); Date.now() - t0 < 10_000; await new Promise((r) => setTimeout(r, 20))) if (liveWorkers() === n) return true;
  return false;
}

example('dispose() ends the workers: every one of a 3-thread backend exits (counted by its exit event)', async () => {
  const before = liveWorkers();
  const B = await createWasmBackend({ threads: 3 });
  const started = liveWorkers() === before + 2;
  B.matmul(rand([8, 8], 1), rand([8, 8], 2));
  B.dispose();
  B.dispose();
  return started && (await settlesAt(before));
});

// A pool over the threaded build, laid out by hand (threads.ts's own tests, without a backend).
const threadsBuild = await WebAssembly.compile(readFileSync(new URL('../build/wasm/sttn-simd-threads.wasm', import.meta.url)));
interface GemmExports extends PartExports {
  heapBase(): number;
  gemmWorkBytes(): number;
  gemm(...args: number[]): void;
}
async function handPool(threads: number, opts: { boom?: () => boolean; webWorker?: () => WebWorkerLike } = {}) {
  const memory = sharedMemory(768);
  const wasm = (await WebAssembly.instantiate(threadsBuild, { env: { memory } })).exports as unknown as GemmExports;
  // the calling thread's part may throw (a JS error) when `boom` says so; the workers run the module
  const main: PartExports = { ...wasm, gemmPart: (...a: number[]) => {
    if (opts.boom?.()) throw new Error('boom on the calling thread');
    (wasm.gemmPart as (...x: number[]) => void)(...a);
  } };
  const pool = await createThreadPool(threadsBuild, memory, main, threads, { webWorker: opts.webWorker });
  const W = wasm.gemmWorkBytes();
  const base = Math.ceil(wasm.heapBase() / 64) * 64;
  const f32 = (ptr: number, n: number) => new Float32Array(memory.buffer, ptr, n);
  /** C = A·B (m×m, float32) on the pool in `parts` parts, work areas at `work` (default: in bounds); returns C. */
  const gemm = (m: number, seed: number, work?: number, parts?: number): Float32Array => {
    const [a, b, c] = [base, base + m * m * 4, base + 2 * m * m * 4];
    f32(a, m * m).set(rand([m, m], seed).data);
    f32(b, m * m).set(rand([m, m], seed + 1).data);
    f32(c, m * m).fill(NaN);
    pool.run(OP.gemm, [0, 0, m, m, m, a, m, b, m, c, m, 0, work ?? base + 3 * m * m * 4], parts);
    return Float32Array.from(f32(c, m * m));
  };
  const single = (m: number, seed: number): Float32Array => {
    const [a, b, c] = [base, base + m * m * 4, base + 2 * m * m * 4];
    f32(a, m * m).set(rand([m, m], seed).data);
    f32(b, m * m).set(rand([m, m], seed + 1).data);
    wasm.gemm(0, 0, m, m, m, a, m, b, m, c, m, 0, base + 3 * m * m * 4);
    return Float32Array.from(f32(c, m * m));
  };
  // part 0's work area ends at the memory's end, so part 1's lies beyond it: a trap in a worker
  const trapWork = memory.buffer.byteLength - W;
  return { pool, gemm, single, trapWork };
}
const sameF32 = (x: Float32Array, y: Float32Array): boolean => x.length === y.length && x.every((v, i) => Object.is(v, y[i]));
const failsNaming = (f: () => unknown, op: string, part: number, text: RegExp): boolean => {
  try {
    f();
    return false;
  } catch (e) {
    return e instanceof ThreadTaskError && e.op === op && e.part === part && e.message.includes(op) && text.test(e.message);
  }
};

const threadsModule = new URL('../backends/wasm/threads.ts', import.meta.url).href;
const threadsFile = fileURLToPath(new URL('../build/wasm/sttn-simd-threads.wasm', import.meta.url));
/** The trap case in a child process (the bug was a hang: the deadline turns it into a failure); prints its verdict. */
const TRAP_CHILD = `
  const T = await import(${JSON.stringify(threadsModule)});
  const fs = await import('node:fs');
  const module = await WebAssembly.compile(fs.readFileSync(${JSON.stringify(threadsFile)}));
  const memory = T.sharedMemory(256);
  const w = (await WebAssembly.instantiate(module, { env: { memory } })).exports;
  // part 1 must run on the worker: this thread's part 0 gives it 2 s to claim part 1, and this
  // thread refuses part 1 should it come here
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const main = { ...w, gemmPart: (part, ...a) => {
    if (trapping && part === 1) throw new Error('part 1 came to the calling thread');
    if (trapping) Atomics.wait(pause, 0, 0, 2000);
    w.gemmPart(part, ...a);
  } };
  let trapping = true;
  const pool = await T.createThreadPool(module, memory, main, 2, WEB);
  const base = Math.ceil(w.heapBase() / 64) * 64, m = 8;
  const f32 = (p, n) => new Float32Array(memory.buffer, p, n);
  f32(base, 2 * m * m).fill(1);
  const args = (work) => [0, 0, m, m, m, base, m, base + 256, m, base + 512, m, 0, work];
  // on a loaded machine the worker may not claim part 1 within the 2 s: then the task is tried
  // again (at most 10 times); a run that does not throw, or throws anything else, is the verdict
  let verdict = false;
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      pool.run(T.OP.gemm, args(memory.buffer.byteLength - w.gemmWorkBytes()));
      break;
    } catch (e) {
      if (/came to the calling thread/.test(String(e?.message))) continue;
      verdict = e instanceof T.ThreadTaskError && e.op === 'gemm' && e.part === 1 && /gemm/.test(e.message) && /out of bounds/.test(e.message);
      if (!verdict) console.error(e);
      break;
    }
  }
  trapping = false;
  pool.run(T.OP.gemm, args(base + 1024));
  verdict &&= f32(base + 512, m * m).every((v) => v === m);
  pool.dispose();
  console.log(verdict);
`;
/** The browser's worker (./worker.ts, its `workerLoop`) in a Node worker: tsx registered, a Web Worker's globals shimmed. */
const WORKER_SHIM = [
  '(async () => {',
  "  const { parentPort, workerData } = require('node:worker_threads');",
  "  (await import('tsx/esm/api')).register();",
  '  globalThis.postMessage = (m) => parentPort.postMessage(m);',
  '  globalThis.close = () => process.exit(0);',
  `  await import(${JSON.stringify(new URL('../backends/wasm/worker.ts', import.meta.url).href)});`,
  '  globalThis.onmessage({ data: workerData });',
  '})();',
].join('\n');
/** A WebWorkerLike over that Node worker (what createThreadPool's browser path drives). */
const WEB_ADAPTER = `
  const { Worker } = await import('node:worker_threads');
  const webWorker = () => {
    const ww = { onmessage: null, onerror: null, w: undefined };
    ww.postMessage = (init) => {
      ww.w = new Worker(${JSON.stringify(WORKER_SHIM)}, { eval: true, workerData: init, execArgv: [] });
      ww.w.on('message', () => ww.onmessage?.());
      ww.w.on('error', (e) => ww.onerror?.({ message: e.message }));
    };
    ww.terminate = () => void ww.w?.terminate();
    return ww;
  };
`;
const trapInChild = (web: boolean): boolean => {
  const script = (web ? WEB_ADAPTER : '') + TRAP_CHILD.replace('WEB', web ? '{ webWorker }' : '{}');
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script],
    { cwd: fileURLToPath(new URL('..', import.meta.url)), env: childEnv, timeout: 60_000, encoding: 'utf8' });
  if (r.stdout.trim() !== 'true') console.error(`trap child: status ${r.status}, ${r.stdout}${r.stderr}`.slice(0, 2000));
  return r.status === 0 && r.stdout.trim() === 'true';
};

example('a worker whose part traps (an out-of-bounds work area) makes run() throw a ThreadTaskError naming gemm, part 1 and the trap, then the pool computes the next task exactly', () =>
  trapInChild(false));

example("the browser's worker (worker.ts's workerLoop, run here in Node workers) reads the same control block: a trap in its part is the same ThreadTaskError, and the next task is exact", () =>
  trapInChild(true));

example('a calling-thread part that throws waits for the workers: the error names gemm and part 0, the pool stays usable and the next task is exact', async () => {
  let boom = false;
  const before = liveWorkers();
  const P = await handPool(2, { boom: () => boom });
  boom = true;
  const threw = failsNaming(() => P.gemm(384, 5), 'gemm', 0, /boom on the calling thread/);
  boom = false;
  const ok = [0, 1, 2].every((i) => sameF32(P.gemm(384, 7 + i), P.single(384, 7 + i)));
  P.pool.dispose();
  return threw && ok && (await settlesAt(before));
});

/** Pools of 2 and 3 threads made at the first call (not while the tests above count workers). */
let pools: Awaited<ReturnType<typeof handPool>>[] | undefined;
let livePools = 0;
const handPools = async () => {
  if (pools === undefined) livePools = liveWorkers();
  return (pools ??= await Promise.all([handPool(2), handPool(3)]));
};

example("a pool's task in any number of parts (claimed by whichever thread is free) equals the one-call product bit for bit", async () => {
  const ps = await handPools();
  return holdsAsync(fc.tuple(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 8 }), fc.nat()), async ([m, parts, seed]) =>
    ps.every((P) => sameF32(P.gemm(m, seed, undefined, parts), P.single(m, seed))), 30);
});

example('thousands of back-to-back tasks of changing sizes and part counts are each exact (no part runs with another task\'s arguments, none is left undone)', async () => {
  const ps = await handPools();
  const exact = ps.every((P) => {
    const sizes = [1, 5, 8, 13, 24, 40];
    const want = sizes.map((m) => P.single(m, m));
    for (let i = 0; i < 3000; i++) {
      const j = (i * 7 + (i >> 3)) % sizes.length;
      if (!sameF32(P.gemm(sizes[j], sizes[j], undefined, 1 + (i % 5)), want[j])) return false;
    }
    return true;
  });
  for (const P of ps) P.pool.dispose();
  return exact && (await settlesAt(livePools));
});

example('after dispose, the pool refuses work instead of hanging', async () => {
  const before = liveWorkers();
  const B = await createWasmBackend({ threads: 2 });
  B.dispose();
  try {
    B.matmul(rand([8, 8], 1), rand([8, 8], 2));
    return false;
  } catch (e) {
    return /after dispose/.test((e as Error).message) && (await settlesAt(before));
  }
});

/**
 * A module whose start function counts its instances in shared memory (an atomic add at address 0)
 * and traps in the third: with the calling thread's instance first, exactly one of three workers
 * fails before it is ready while the other two start.
 */
const THIRD_TRAPS = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type: () → ()
  0x02, 0x10, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x03, 0x01, 0x01, // import env.memory, shared, 1 page
  0x03, 0x02, 0x01, 0x00, // one function
  0x08, 0x01, 0x00, // start: function 0
  // if (i32.atomic.rmw.add(0, 1) == 2) unreachable
  0x0a, 0x13, 0x01, 0x11, 0x00, 0x41, 0x00, 0x41, 0x01, 0xfe, 0x1e, 0x02, 0x00, 0x41, 0x02, 0x46, 0x04, 0x40, 0x00, 0x0b, 0x0b,
]);

example('a worker that fails before it is ready: the pool rejects naming the worker, and the workers that did start exit too', async () => {
  const before = liveWorkers();
  const module = await WebAssembly.compile(THIRD_TRAPS);
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  const main = (await WebAssembly.instantiate(module, { env: { memory } })).exports as unknown as PartExports;
  const rejected = await createThreadPool(module, memory, main, 4).then(
    (p) => {
      p.dispose();
      return false;
    },
    (e: unknown) => /sttn wasm worker \d: .*unreachable/.test((e as Error).message),
  );
  return rejected && (await settlesAt(before));
});

// the workers of one, two and three are unref'd: the test process ends without disposing them

law('a task posted store by store: a worker of the previous generation claims nothing after any prefix of the stores; one of the new generation reads the whole task', [
  fc.integer({ min: 1, max: 1 << 20 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: MAX_PARTS }),
  fc.constantFrom(...Object.values(OP).filter((o) => o !== OP.exit)), fc.array(fc.integer(), { maxLength: 16 }),
], (gen, oldParts, newParts, op, args) => {
  const ctrl = controlBlock();
  const post = (writes: readonly (readonly [number, number])[]): void => {
    for (const [i, v] of writes) Atomics.store(ctrl, i, v);
  };
  post(taskWrites(gen, OP.gemm, oldParts, [7, 8, 9]));
  while (claimNext(ctrl, gen, oldParts) >= 0); // the previous task's parts are all claimed
  const writes = taskWrites(gen + 1, op, newParts, args);
  const snapshot = ctrl.slice();
  let staleClaimsNothing = true;
  for (let k = 0; k <= writes.length; k++) {
    ctrl.set(snapshot);
    post(writes.slice(0, k));
    // the late worker read generation `gen` before this task; it now reads what is there and tries to claim
    const t = readTask(ctrl);
    if (claimNext(ctrl, gen, t.parts) !== -1) staleClaimsNothing = false;
  }
  const t = readTask(ctrl);
  const sameTask = t.gen === gen + 1 && t.op === op && t.parts === newParts && args.every((a, i) => t.args[i] === a);
  const claims: number[] = [];
  for (let c = claimNext(ctrl, t.gen, t.parts); c >= 0; c = claimNext(ctrl, t.gen, t.parts)) claims.push(c);
  return staleClaimsNothing && sameTask && claims.length === newParts - 1 && claims.every((c, i) => c === i + 1);
});
