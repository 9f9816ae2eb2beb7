/**
 * Threads for the ternary kernels (`createWasmTernaryKernels({ threads })`, the pool of
 * backends/wasm/threads.ts running the parts of each task, `layerChunks`): inference is
 * bit-identical for any thread count, because every kernel splits by output rows, images or
 * chunks of rows, never along a sum, and each part has its own scratch.
 *
 * - ternary layers (conv and dense, pools, relus, pre ops, small chunks so that every thread has
 *   chunks and a part of quantize-and-pack) on 2 and 3 threads, and with 3 parts in turn, equal
 *   the reference layer bit for bit;
 * - the float kernels split by images or rows (the direct first convolution with its pools, the
 *   dense layer, max pooling on its own) on 2 and 3 threads and with 3 parts in turn equal the
 *   reference bit for bit, run and in place;
 * - the engine on exported cnn-small and vgg7 (2+2 STTN) gives the same logits (Object.is) on 1
 *   and 2 threads, at batch 1 and 5, run after run;
 * - the fma build on 2 threads gives the fma build's 1-thread logits bit for bit, and so does the
 *   fma build with its ternary layers on the popcount GEMM instead of the table lookup (cnn-small,
 *   vgg7, batch 1, 5, 64); a ternary layer on the threaded fma build (table lookup) equals the
 *   reference layer bit for bit;
 * - the lookup build (`tables: true`: the table-lookup GEMM, plain float kernels) on 1 and 2
 *   threads gives the plain build's logits bit for bit (drawn cnn-small and vgg7 networks, batch
 *   1, 5, 64), its layers and float kernels on 2 threads equal the reference's, and it reports
 *   itself (`wasm-lookup-threads-2`);
 * - a bad `threads` is a ConfigError naming it, and so is a threaded module of another build
 *   (plain, lookup or fma) than the options ask for; `dispose()` ends
 *   the workers (each one's exit event counted); on a one-core host `threads: 2` still gives 2.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { after } from 'node:test';
import { cpu32 } from '../backends/cpu.js';
import { createWasmTernaryKernels } from '../backends/ternary.js';
import { liveWorkers } from '../backends/wasm/threads.js';
import { orThrow } from '../src/codec.js';
import { ConfigError } from '../src/errors.js';
import { exportModel } from '../src/export/export.js';
import { createEngine } from '../src/infer/engine.js';
import { referenceTernaryKernels, type Pool, type TernaryKernels, type TernaryLayerSpec } from '../src/infer/ternary-kernels.js';
import { outSize } from '../src/backend.js';
import { buildModel, forward, initModel } from '../src/models/model.js';
import { preset } from '../src/models/presets.js';
import { rng, uniform } from '../src/random.js';
import type { Tensor } from '../src/tensor.js';
import { sameElements as sameBits } from './bits.js';
import { example, law } from './law.js';

const one = await createWasmTernaryKernels();
const two = await createWasmTernaryKernels({ threads: 2 });
const three = await createWasmTernaryKernels({ threads: 3 });
const inTurn = await createWasmTernaryKernels({ parts: 3 });
// the fma build (relaxed SIMD): its ternary layers on the table-lookup GEMM (or, `tables: false`,
// on the popcount GEMM), its float layers' multiply-adds fused. Made before `after`: the runner
// may run the hooks while a later top-level await waits
const fmaOne = await createWasmTernaryKernels({ fma: true });
const fmaPopcount = await createWasmTernaryKernels({ fma: true, tables: false });
const fmaTwo = await createWasmTernaryKernels({ fma: true, threads: 2 });
// the lookup build: the fma build's table-lookup GEMM with the plain build's float kernels
const lookupOne = await createWasmTernaryKernels({ tables: true });
const lookupTwo = await createWasmTernaryKernels({ tables: true, threads: 2 });
after(() => {
  two.dispose();
  three.dispose();
  fmaTwo.dispose();
  lookupTwo.dispose();
});


const layerCase = fc.record({
  conv: fc.boolean(),
  n: fc.integer({ min: 1, max: 3 }),
  h: fc.integer({ min: 2, max: 9 }),
  c: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.constantFrom(16, 32, 64, 70)),
  o: fc.integer({ min: 1, max: 40 }),
  k3: fc.boolean(),
  pre: fc.boolean(),
  relu: fc.boolean(),
  pool: fc.boolean(),
  chunk: fc.integer({ min: 1, max: 2000 }),
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
});

function layerSpec(t: typeof layerCase extends fc.Arbitrary<infer T> ? T : never): { spec: TernaryLayerSpec; x: Float32Array; n: number } {
  const r = rng(t.seed);
  const f = (len: number, lo: number, hi: number) => Float32Array.from({ length: len }, () => Math.fround(lo + (hi - lo) * uniform(r)));
  const kk = t.k3 ? 3 : 1;
  const k = t.conv ? kk * kk * t.c : t.c;
  const spec: TernaryLayerSpec = {
    codes: Int8Array.from({ length: t.o * k }, () => Math.floor(uniform(r) * 3) - 1),
    o: t.o,
    k,
    conv: t.conv ? { h: t.h, w: t.h, cin: t.c, kh: kk, kw: kk, sh: 1, sw: 1, ph: kk >> 1, pw: kk >> 1 } : null,
    pre: t.pre ? [{ kind: 'affine', scale: f(t.c, 0.5, 2), shift: f(t.c, -0.5, 0.5) }, { kind: 'relu' }] : [],
    act: { kind: 'ternary', threshold: 0.5, boundary: 'paper' },
    a: Float64Array.from(f(t.o, -2, 2)),
    b: null,
    bias: Float64Array.from(f(t.o, -1, 1)),
    relu: t.relu,
    dtype: 'float32',
    chunkValues: t.chunk,
    pool: t.conv && t.pool ? { size: [2, 2], strides: [2, 2], relu: false } : null,
  };
  return { spec, x: f(t.n * (t.conv ? t.h * t.h * t.c : t.c), -2, 2), n: t.n };
}

law(
  'engine threads: a ternary layer on 2 and 3 threads (chunks of rows on the pool; the lookup and fma builds\' table lookup on 2) equals the reference layer bit for bit, run and in place',
  [layerCase],
  (t) => {
    const { spec, x, n } = layerSpec(t);
    const want = referenceTernaryKernels.layer(spec).run(x, n);
    return [two, three, inTurn, fmaTwo, lookupTwo].every((K) => {
      const L = K.layer(spec);
      return sameBits(L.run(x, n), want) && sameBits(Float32Array.from(L.runInPlace!(x, n)), want);
    });
  },
  { numRuns: 150 },
);

const floatCase = fc.record({
  n: fc.integer({ min: 1, max: 7 }),
  h: fc.integer({ min: 2, max: 9 }),
  w: fc.integer({ min: 2, max: 9 }),
  cin: fc.integer({ min: 1, max: 4 }),
  o: fc.integer({ min: 1, max: 20 }),
  k3: fc.boolean(),
  s: fc.integer({ min: 1, max: 2 }),
  relu: fc.boolean(),
  // none, the fused 2×2/2 pool, or a pool run after the convolution (`poolInto`)
  pool: fc.constantFrom(null, { size: [2, 2], strides: [2, 2] }, { size: [2, 2], strides: [1, 1] }, { size: [3, 2], strides: [2, 1] }),
  poolRelu: fc.boolean(),
  dk: fc.integer({ min: 1, max: 40 }),
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
});

law(
  'engine threads: the float kernels (direct convolution and its pools, dense, max pooling) on 2 and 3 threads and in 3 parts, and on the lookup build at 2 threads, equal the reference bit for bit, run and in place',
  [floatCase],
  (t) => {
    const r = rng(t.seed);
    const f = (len: number, lo: number, hi: number) => Float32Array.from({ length: len }, () => Math.fround(lo + (hi - lo) * uniform(r)));
    const kk = t.k3 ? 3 : 1;
    const g = { h: t.h, w: t.w, cin: t.cin, kh: kk, kw: kk, sh: t.s, sw: t.s, ph: kk >> 1, pw: kk >> 1 };
    const [oh, ow] = [outSize(g.h, kk, t.s, g.ph), outSize(g.w, kk, t.s, g.pw)];
    const pool: Pool | null = t.pool === null || t.pool.size[0] > oh || t.pool.size[1] > ow ? null : { ...(t.pool as Pool), relu: t.poolRelu };
    const conv = { weights: f(t.o * kk * kk * t.cin, -1, 1), o: t.o, conv: g, bias: f(t.o, -0.5, 0.5), relu: t.relu, pool };
    const x = f(t.n * t.h * t.w * t.cin, -2, 2);
    const dense = { weights: f(t.o * t.dk, -1, 1), o: t.o, k: t.dk, bias: f(t.o, -0.5, 0.5), relu: t.relu };
    const xd = f(t.n * t.dk, -2, 2);
    const shape = [t.n, t.h, t.w, t.cin] as const;
    const wantConv = referenceTernaryKernels.floatConv(conv).run(x, t.n);
    const wantDense = referenceTernaryKernels.floatDense(dense).run(xd, t.n);
    const wantPool = referenceTernaryKernels.maxPool(x, shape, [2, 2], [1, 2], t.poolRelu);
    return [two, three, inTurn, lookupTwo].every((K) => {
      const C = K.floatConv(conv);
      const D = K.floatDense(dense);
      return (
        sameBits(C.run(x, t.n), wantConv) &&
        sameBits(Float32Array.from(C.runInPlace!(x, t.n)), wantConv) &&
        sameBits(D.run(xd, t.n), wantDense) &&
        sameBits(Float32Array.from(D.runInPlace!(xd, t.n)), wantDense) &&
        sameBits(K.maxPool(x, shape, [2, 2], [1, 2], t.poolRelu), wantPool)
      );
    });
  },
  { numRuns: 150 },
);

/** A preset with its batch norm calibrated on one random batch, exported; its weights and the batch drawn from `seed`. */
function exported(name: 'cnn-small' | 'vgg7', seed = 1) {
  const spec = name === 'vgg7' ? preset('vgg7', { bits: '2+2', inputShape: [32, 32, 3] }) : preset('cnn-small', { bits: '2+2' });
  const model = orThrow(buildModel({ ...spec, layers: spec.layers.map((l) => (l.type === 'batchNorm' ? { ...l, momentum: 0 } : l)) }));
  const { params, state: s0 } = initModel(model, rng(seed), 'float32');
  const per = model.spec.inputShape.reduce((a, b) => a * b, 1);
  const r = rng(seed + 1);
  const x: Tensor = { shape: [8, ...model.spec.inputShape], data: Float32Array.from({ length: 8 * per }, () => uniform(r)) };
  const state = forward(cpu32, model, params, s0, x, { training: true, rng: rng(0) }).state;
  return { d: exportModel(cpu32, { model, state: { params, state } }), per };
}

for (const name of ['cnn-small', 'vgg7'] as const) {
  example(`engine threads: ${name} 2+2 gives the same logits bit for bit on 1 and 2 threads, at batch 1, 5 and 64, run after run`, () => {
    const { d, per } = exported(name);
    const e1 = createEngine(d, { backend: cpu32, kernels: one });
    const e2 = createEngine(d, { backend: cpu32, kernels: two });
    const r = rng(9);
    return [1, 5, 64, 1].every((n) => {
      const x: Tensor = { shape: [n, ...d.inputShape], data: Float32Array.from({ length: n * per }, () => uniform(r)) };
      const want = e1.run(x).data;
      return sameBits(e2.run(x).data, want) && sameBits(e2.run(x).data, want);
    });
  });
}

/** Whether the engines on each of `others` give the logits of the engine on `base` bit for bit, on random batches of 1, 5 and 64 drawn from `seed`. */
function sameLogits({ d, per }: ReturnType<typeof exported>, seed: number, base: TernaryKernels, others: readonly TernaryKernels[]): boolean {
  const [want, ...got] = [base, ...others].map((kernels) => createEngine(d, { backend: cpu32, kernels }));
  const r = rng(seed);
  return [1, 5, 64].every((n) => {
    const x: Tensor = { shape: [n, ...d.inputShape], data: Float32Array.from({ length: n * per }, () => uniform(r)) };
    const logits = want.run(x).data;
    return got.every((e) => sameBits(e.run(x).data, logits));
  });
}

// the fma build (relaxed-SIMD multiply-adds in the float layers) on threads: its own threaded
// build, the same bits as the fma build on one thread; and its ternary layers' table lookup the
// same bits as the popcount GEMM (`tables: false`), so the lookup changes no logit
for (const name of ['cnn-small', 'vgg7'] as const) {
  law(`engine threads: ${name} 2+2 on the fma build gives the same logits bit for bit on 1 and 2 threads and with the popcount GEMM instead of the table lookup, at batch 1, 5 and 64`, [fc.nat()], (seed) =>
    sameLogits(exported(name), seed, fmaOne, [fmaTwo, fmaPopcount]), { numRuns: 3 });
}

// the lookup build: the plain build's float kernels and the table-lookup GEMM's integer sums, so
// every logit is the plain build's (and so the reference's), on 1 and 2 threads
for (const name of ['cnn-small', 'vgg7'] as const) {
  law(`engine threads: ${name} 2+2 (drawn weights) on the lookup build gives the plain build's logits bit for bit on 1 and 2 threads, at batch 1, 5 and 64`, [fc.integer({ min: 0, max: 2 ** 30 }), fc.nat()], (net, seed) =>
    sameLogits(exported(name, net), seed, one, [lookupOne, lookupTwo]), { numRuns: 3 });
}

example('engine threads: a threaded module of another build than the options ask for (plain, lookup, fma) is a ConfigError naming the source', async () => {
  const bytes = (file: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../build/wasm/${file}`, import.meta.url)));
  const refused = (p: Promise<unknown>, build: string): Promise<boolean> =>
    p.then(
      () => false,
      (e: unknown) => e instanceof ConfigError && e.message.includes('createWasmTernaryKernels.source') && e.message.includes(build),
    );
  return (
    (await refused(createWasmTernaryKernels({ threads: 2, fma: true, source: bytes('sttn-ternary-threads.wasm') }), 'threaded plain build')) &&
    (await refused(createWasmTernaryKernels({ threads: 2, source: bytes('sttn-ternary-threads-fma.wasm') }), 'threaded fma build')) &&
    (await refused(createWasmTernaryKernels({ threads: 2, tables: true, source: bytes('sttn-ternary-threads.wasm') }), 'threaded plain build')) &&
    (await refused(createWasmTernaryKernels({ threads: 2, tables: true, source: bytes('sttn-ternary-threads-fma.wasm') }), 'threaded fma build')) &&
    (await refused(createWasmTernaryKernels({ threads: 2, source: bytes('sttn-ternary-threads-lookup.wasm') }), 'threaded lookup build')) &&
    (await refused(createWasmTernaryKernels({ threads: 2, fma: true, source: bytes('sttn-ternary-threads-lookup.wasm') }), 'threaded lookup build'))
  );
});

example('engine threads: threads must be an integer ≥ 1 (ConfigErrors naming the option); the fma and lookup builds run threads too, and say which build they are', async () => {
  const refused = (p: Promise<unknown>): Promise<boolean> =>
    p.then(
      () => false,
      (e: unknown) => e instanceof ConfigError && e.message.includes('createWasmTernaryKernels.threads'),
    );
  return (await refused(createWasmTernaryKernels({ threads: 0 }))) && (await refused(createWasmTernaryKernels({ threads: 1.5 }))) && fmaTwo.threads === 2 && fmaTwo.name === 'wasm-fma-threads-2' && lookupTwo.threads === 2 && lookupTwo.name === 'wasm-lookup-threads-2' && lookupOne.name === 'wasm-lookup' && two.name === 'wasm-threads-2' && two.threads === 2 && three.threads === 3 && one.threads === 1;
});

example('engine threads: dispose() ends the workers of a 3-thread instance (each one\'s exit event), and is idempotent', async () => {
  const before = liveWorkers();
  const K = await createWasmTernaryKernels({ threads: 3 });
  const started = liveWorkers() === before + 2 && K.threads === 3;
  K.dispose();
  K.dispose();
  for (const t0 = Date.now(); Date.now() - t0 < 10_000; await new Promise((r) => setTimeout(r, 20))) if (liveWorkers() === before) return started;
  return false;
});

// a child process told it has one core (os.availableParallelism patched before sttn loads)
const childEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT'));
example('engine threads: on a one-core host the thread counts asked for still run (oversubscribed), the ternary kernels as the wasm backend', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `
    const os = process.getBuiltinModule('node:os');
    os.availableParallelism = () => 1;
    const { createWasmTernaryKernels } = await import(${JSON.stringify(new URL('../backends/ternary.ts', import.meta.url).href)});
    const { createWasmBackend } = await import(${JSON.stringify(new URL('../backends/wasm.ts', import.meta.url).href)});
    const K = await createWasmTernaryKernels({ threads: 2 });
    const B = await createWasmBackend({ threads: 2 });
    console.log(JSON.stringify([os.availableParallelism(), K.threads, B.threads]));
    K.dispose();
    B.dispose();
  `], { cwd: fileURLToPath(new URL('..', import.meta.url)), env: childEnv, timeout: 60_000, encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() === '[1,2,2]';
});
