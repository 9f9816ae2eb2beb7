/**
 * Threads (backends/wasm/threads.ts, the `threads` option of createWasmBackend): results are
 * bit-identical for any thread count, because products and convolutions split by output rows or
 * images, never along a sum.
 *
 * - matmul (every transpose combination, shapes around the micro-kernel's 4×8 tile and the MC/KC
 *   blocks), conv2d, conv2dGradInput and conv2dGradFilter (strides, padding, 1×1, batch 1 to 5)
 *   give the same float32 values (Object.is, ±0 told apart) at 1, 2 and 3 threads;
 * - a few training steps (conv → batch norm → relu → pool → STTN conv → dense) give the same
 *   parameters at 1 and 2 threads;
 * - a process that makes a 2-thread backend and never disposes it still exits, and `dispose()`
 *   ends the workers; a bad `threads` is a ConfigError naming it.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { createWasmBackend, type WasmBackend } from '../backends/wasm.js';
import { ConfigError } from '../src/errors.js';
import type { Tensor } from '../src/tensor.js';
import { initTraining, train } from '../src/train/train.js';
import { example, law } from './law.js';
import { cfgOf, sameTree, tiny, toyData } from './toy.js';

const one = await createWasmBackend({ threads: 1 });
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

example('training steps at 2 threads give the parameters of 1 thread bit for bit', async () => {
  const m = tiny();
  const data = toyData(48, 7);
  const cfg = cfgOf({ epochs: 2, batchSize: 16, augmentPad: 1, seed: 11 });
  const a = (await train(one, m, data, cfg, initTraining(one, m, cfg))).state;
  const b = (await train(two, m, data, cfg, initTraining(two, m, cfg))).state;
  return sameTree(a.params, b.params) && sameTree(a.state, b.state);
});

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

example('after dispose, the pool refuses work instead of hanging', async () => {
  const B = await createWasmBackend({ threads: 2 });
  B.dispose();
  try {
    B.matmul(rand([8, 8], 1), rand([8, 8], 2));
    return false;
  } catch (e) {
    return /after dispose/.test((e as Error).message);
  }
});

// the workers are unref'd: the test process ends without disposing these
