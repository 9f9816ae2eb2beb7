/**
 * Inference benchmark: the deployed engine (src/infer/engine.ts) on cnn-small 2+2 and a narrow
 * VGG-7 2+2 (STTN), batch-1 latency and batch-64 throughput, against
 *   - the same engine on the `lookup` build of the WebAssembly kernels (`tables: true`: the ternary
 *     layers' products by table lookup with relaxed SIMD, the float kernels the plain build's, so
 *     the same logits bit for bit as the plain build, checked before timing),
 *   - the same engine on the `fma` build of the WebAssembly kernels (the first float convolution and
 *     the float dense layer with relaxed-SIMD multiply-adds, within float32 rounding of the
 *     reference instead of bit for bit; the ternary layers' products by table lookup, the same
 *     integer sums as the popcount GEMM),
 *   - the same engine with its ternary × ternary layers on the reference (plain TypeScript) kernels,
 *   - "our float engine": the same network with every kernel decoded to float32, on the wasm
 *     backend (`mode: 'float'`),
 *   - tfjs-wasm (SIMD, one thread) running the same float network (same ops, same weights, the
 *     same ternary activations),
 *   - onnxruntime-node (native CPU, `STTN_BENCH_THREADS` intra-op threads, default 1; one inter-op
 *     thread, sequential, spinning off, so that its CPU time is the work of those threads) on the
 *     same network written as ONNX (opset 13) by `exportOnnx` (src/export/onnx.ts: INT8 codes,
 *     products on the codes then scaled, the same ternary activations, all in float32) — when
 *     `onnxruntime-node` can be loaded: it is not a dependency of sttn (its binaries are ~290 MB);
 *     unpack it with `npm pack onnxruntime-node` (and its `onnxruntime-common`) into a folder's
 *     node_modules and point ONNXRUNTIME_NODE_DIR at that folder;
 *   - onnxruntime-web (its WebAssembly SIMD build, a devDependency; `STTN_BENCH_THREADS` threads,
 *     fixed per process by `ort.env.wasm.numThreads`) on the same ONNX file;
 * every one checked against our float engine's logits before timing; and the file sizes of the
 * network as float32, 2-bit and base-3.
 *
 * Run: `npx tsx bench/infer.ts` (after `npm run build:wasm`); `STTN_BENCH_QUICK=1` for a smoke run
 * that only checks the contenders. Shorter runs: `STTN_BENCH_BATCHES=64` (batch sizes, comma
 * separated: 1, 64), `STTN_BENCH_NETS=vgg7` (network names: cnn-small, vgg7), `STTN_BENCH_FAST=1`
 * (times only the ternary engines on the WebAssembly kernels and onnxruntime-node, and neither
 * runs tfjs nor creates onnxruntime-web's session; the float engine still gives the agreement's
 * reference). At `STTN_BENCH_THREADS=2` onnxruntime-web's idle threads keep burning CPU after its
 * first run (process CPU time ≈ 2× wall for the contenders after it; when they share a core with
 * the timed thread, that one runs at half speed): judge our 2-thread engine against
 * onnxruntime-node in a FAST run, or with our 1-thread engine in the same rotation as a check.
 * With threads each timed run starts after 6 ms idle (`STTN_BENCH_GAP_MS`, see `timeAll`). It
 * ends with per-step profiles (`engine.profile`) of the ternary engine at batch 64 and 1 (and of
 * the 2-thread one at 64) and of the float engine at batch 64. `STTN_BENCH_POPCOUNT=1` adds the fma
 * build with its ternary layers on the popcount GEMM instead of the table lookup (`tables: false`:
 * the same logits), at 1 and `STTN_BENCH_THREADS` threads. Results: bench/INFER.md.
 *
 * Parameters are random (He init) with batch-norm statistics calibrated on one random batch, so
 * the ternary activations have realistic sparsity; timings do not depend on the values otherwise.
 * Every contender is timed from a JS Float32Array batch to JS logits (copies included),
 * round-robin (each contender once per round, in turn; at batch 1 a round times
 * 40 inferences back to back and divides) with medians of wall time and of process CPU time (the machine may be shared: CPU time is less disturbed by
 * neighbours; CPU time above wall time means more than one thread worked). The sttn engines and
 * tfjs-wasm run on one thread; `STTN_BENCH_THREADS=2` gives the onnxruntimes two and adds the
 * ternary engine on two threads (`createWasmTernaryKernels({ threads })`, plain, lookup and fma builds),
 * and every name says its thread count.
 */
import type { Tensor as TfTensor, Tensor4D } from '@tensorflow/tfjs-core';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createWasmBackend } from '../backends/wasm.js';
import { orThrow } from '../src/codec.js';
import type { DeployedModel } from '../src/export/deployed.js';
import { decodeWeights } from '../src/export/deployed.js';
import { exportModel } from '../src/export/export.js';
import { exportOnnx, ONNX_INPUT, ONNX_LOGITS } from '../src/export/onnx.js';
import { sizeReport } from '../src/export/size.js';
import { createEngine, type Engine } from '../src/infer/engine.js';
import { referenceTernaryKernels, type TernaryKernels } from '../src/infer/ternary-kernels.js';
import { buildModel, forward, initModel } from '../src/models/model.js';
import { preset } from '../src/models/presets.js';
import { rng } from '../src/random.js';
import type { Tensor } from '../src/tensor.js';
import { fmt, machine, median, randomF32, table, tfjsWasm } from './common.js';
import { WORKER_SPIN_MS } from '../backends/wasm/threads.js';
import { sameElements } from '../laws/bits.js';

/** Threads of the onnxruntime contenders (the sttn engines and tfjs-wasm use one). */
const THREADS = Number(process.env.STTN_BENCH_THREADS ?? 1);
if (!(Number.isInteger(THREADS) && THREADS >= 1)) throw new Error(`STTN_BENCH_THREADS must be a positive integer, got ${process.env.STTN_BENCH_THREADS}`);
const tf = await tfjsWasm();
const ortWeb = await import('onnxruntime-web');
ortWeb.env.wasm.numThreads = THREADS;
// one thread, as the header says of the sttn engines (createWasmBackend's default, said here)
const B = await createWasmBackend({ threads: 1 });
let wasmKernels: TernaryKernels | null = null;
let fmaKernels: TernaryKernels | null = null;
let threadKernels: TernaryKernels | null = null;
let fmaThreadKernels: TernaryKernels | null = null;
let lookupKernels: TernaryKernels | null = null;
let lookupThreadKernels: TernaryKernels | null = null;
/** STTN_BENCH_POPCOUNT=1: the fma build with its ternary layers on the popcount GEMM (`tables: false`) too, 1 and THREADS threads. */
const POPCOUNT = process.env.STTN_BENCH_POPCOUNT === '1';
const popKernels: TernaryKernels[] = [];
const kernelsNotes: string[] = [];
try {
  const { createWasmTernaryKernels } = await import('../backends/ternary.js');
  wasmKernels = await createWasmTernaryKernels();
  if (THREADS > 1) threadKernels = await createWasmTernaryKernels({ threads: THREADS });
  // an opt-in relaxed-SIMD build, or null and a note saying why it is not timed
  const optional = (what: string, opts: { fma?: boolean; tables?: boolean; threads?: number }): Promise<TernaryKernels | null> =>
    createWasmTernaryKernels(opts).catch((e: Error) => {
      kernelsNotes.push(`the ${what} of the ternary kernels is unavailable (${e.message})`);
      return null;
    });
  fmaKernels = await optional('fma build', { fma: true });
  if (THREADS > 1 && fmaKernels) fmaThreadKernels = await optional('threaded fma build', { fma: true, threads: THREADS });
  lookupKernels = await optional('lookup build', { tables: true });
  if (THREADS > 1 && lookupKernels) lookupThreadKernels = await optional('threaded lookup build', { tables: true, threads: THREADS });
  if (POPCOUNT && fmaKernels) {
    popKernels.push(await createWasmTernaryKernels({ fma: true, tables: false }));
    if (THREADS > 1) popKernels.push(await createWasmTernaryKernels({ fma: true, tables: false, threads: THREADS }));
  }
} catch (e) {
  kernelsNotes.push(`WebAssembly ternary kernels unavailable (${(e as Error).message}); only the reference kernels are timed`);
}

/** A preset with batch norm calibrated on one random batch (momentum 0: running stats = that batch's). */
function network(spec: ReturnType<typeof preset>): DeployedModel {
  const model = orThrow(buildModel({ ...spec, layers: spec.layers.map((l) => (l.type === 'batchNorm' ? { ...l, momentum: 0 } : l)) }));
  const { params, state: s0 } = initModel(model, rng(1), 'float32');
  const per = model.spec.inputShape.reduce((a, b) => a * b, 1);
  const x: Tensor = { shape: [64, ...model.spec.inputShape], data: randomF32(64 * per, 9).map((v) => (v + 1) / 2) };
  const state = forward(B, model, params, s0, x, { training: true, rng: rng(0) }).state;
  return exportModel(B, { model, state: { params, state } });
}

/** The deployed network as tfjs ops (float weights, the same activations). */
function tfjsNet(d: DeployedModel): (x: Float32Array, n: number) => Float32Array {
  type Step = (x: TfTensor) => TfTensor;
  const steps: Step[] = [];
  for (const op of d.ops) {
    switch (op.op) {
      case 'conv2d':
      case 'dense': {
        const w = decodeWeights(op);
        const bias = op.bias === null ? null : tf.tensor1d(op.bias);
        const act = op.input;
        const q: Step =
          act.kind === 'fp'
            ? (x) => x
            : act.kind === 'sign'
              ? (x) => tf.sub(tf.mul(tf.cast(tf.greaterEqual(x, 0), 'float32'), 2), 1)
              : act.boundary === 'paper'
                ? (x) => tf.sub(tf.cast(tf.greater(x, act.threshold), 'float32'), tf.cast(tf.less(x, -act.threshold), 'float32'))
                : (x) => tf.sub(tf.cast(tf.greaterEqual(x, act.threshold), 'float32'), tf.cast(tf.less(x, -act.threshold), 'float32'));
        if (op.op === 'conv2d') {
          const [o, kh, kw, c] = op.shape;
          const hwio = tf.transpose(tf.tensor4d(w, [o, kh, kw, c]), [1, 2, 3, 0]) as Tensor4D;
          if (!(op.strides[0] === 1 && op.strides[1] === 1 && op.pads[0] === (kh - 1) / 2 && op.pads[1] === (kw - 1) / 2)) throw new Error(`${op.name}: only stride-1 'same' convolutions are mapped to tfjs here`);
          steps.push((x) => {
            const y = tf.conv2d(q(x) as Tensor4D, hwio, 1, 'same');
            return bias === null ? y : tf.add(y, bias);
          });
        } else {
          const wt = tf.tensor2d(w, [op.shape[0], op.shape[1]]);
          steps.push((x) => {
            const y = tf.matMul(q(x), wt, false, true);
            return bias === null ? y : tf.add(y, bias);
          });
        }
        break;
      }
      case 'affine': {
        const s = tf.tensor1d(op.scale);
        const t = tf.tensor1d(op.shift);
        steps.push((x) => tf.add(tf.mul(x, s), t));
        break;
      }
      case 'relu':
        steps.push((x) => tf.relu(x));
        break;
      case 'maxPool':
        steps.push((x) => tf.maxPool(x as Tensor4D, [op.size[0], op.size[1]], [op.strides[0], op.strides[1]], 'valid'));
        break;
      case 'flatten':
        steps.push((x) => tf.reshape(x, [x.shape[0], -1]));
        break;
      default:
        throw new Error(`${op.op} is not mapped to tfjs in this benchmark`);
    }
  }
  return (x, n) =>
    tf.tidy(() => {
      let y: TfTensor = tf.tensor(x, [n, ...d.inputShape]);
      for (const s of steps) y = s(y);
      return y.dataSync() as Float32Array;
    });
}


interface Ort {
  InferenceSession: { create(model: Uint8Array, opts: object): Promise<{ run(feeds: object): Promise<Record<string, { data: Float32Array }>>; outputNames: readonly string[] }> };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => object;
}

/** onnxruntime-node if it can be loaded (from this package, or ONNXRUNTIME_NODE_DIR), else the reason. */
function loadOrt(): Ort | string {
  const from = process.env.ONNXRUNTIME_NODE_DIR ? join(process.env.ONNXRUNTIME_NODE_DIR, 'package.json') : import.meta.url;
  try {
    return createRequire(from)('onnxruntime-node') as Ort;
  } catch (e) {
    return `onnxruntime-node not loaded (${(e as Error).message.split('\n')[0]})`;
  }
}

// ---------------------------------------------------------------------------------------------
// timing: round-robin, medians of wall and CPU time

interface Contender {
  readonly name: string;
  readonly run: () => void | Promise<void>;
}

/**
 * Median wall and CPU ms per run of each contender: `rounds` round-robin rounds, each timing
 * `inner` back-to-back runs of a contender (so a sub-millisecond batch-1 run is not measured
 * against the timer's and cpuUsage's resolution), after `warmup` runs of each. With GAP_MS > 0
 * each timed run starts after that long idle, so that no pool still polls from the run before it
 * (our workers poll WORKER_SPIN_MS after a task: they would take a core from onnxruntime's threads, which
 * start from sleep, spinning off), and ours start from sleep too.
 */
async function timeAll(contenders: readonly Contender[], rounds: number, warmup: number, inner = 1): Promise<Map<string, { wall: number; cpu: number; rounds: number[] }>> {
  for (const c of contenders) for (let i = 0; i < warmup; i++) await c.run();
  const wall = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  const cpu = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const c of contenders) {
      if (GAP_MS > 0) await new Promise((resolve) => setTimeout(resolve, GAP_MS));
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < inner; i++) await c.run();
      wall.get(c.name)!.push((performance.now() - t0) / inner);
      const dc = process.cpuUsage(c0);
      cpu.get(c.name)!.push((dc.user + dc.system) / 1000 / inner);
    }
  }
  return new Map(contenders.map((c) => [c.name, { wall: median(wall.get(c.name)!), cpu: median(cpu.get(c.name)!), rounds: wall.get(c.name)! }]));
}

const maxRelDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let scale = 1;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m / scale;
};

const listed = (v: string | undefined, all: readonly string[]): readonly string[] => {
  const want = v === undefined || v === '' ? all : v.split(',').map((s) => s.trim());
  const bad = want.filter((s) => !all.includes(s));
  if (bad.length > 0) throw new Error(`unknown ${bad.join(', ')}: one of ${all.join(', ')}`);
  return want;
};
const BATCHES = listed(process.env.STTN_BENCH_BATCHES, ['1', '64']).map(Number);
const FAST = process.env.STTN_BENCH_FAST === '1';
/** Idle ms before each timed run (`STTN_BENCH_GAP_MS`; default 2 ms past a worker's poll with threads, else 0): see `timeAll`. */
const GAP_MS = Number(process.env.STTN_BENCH_GAP_MS ?? (THREADS > 1 ? WORKER_SPIN_MS + 2 : 0));
if (!(Number.isFinite(GAP_MS) && GAP_MS >= 0)) throw new Error(`STTN_BENCH_GAP_MS must be a number ≥ 0, got ${process.env.STTN_BENCH_GAP_MS}`);
const nets = [
  { name: 'cnn-small', label: 'cnn-small 2+2 STTN, 28×28×1', spec: preset('cnn-small', { bits: '2+2' }) },
  { name: 'vgg7', label: 'vgg7 ×1/8 2+2 STTN, 32×32×3', spec: preset('vgg7', { bits: '2+2', inputShape: [32, 32, 3] }) },
].filter((n) => listed(process.env.STTN_BENCH_NETS, ['cnn-small', 'vgg7']).includes(n.name));

const ort = loadOrt();
const speedRows: string[][] = [];
const ratioRows: string[][] = [];
const headRows: string[][] = [];
const sizeRows: string[][] = [];
const checks: string[] = [];
const notes: string[] = [];
notes.push(...kernelsNotes);
if (typeof ort === 'string') notes.push(ort);
for (const { label, spec } of nets) {
  const d = network(spec);
  const per = d.inputShape.reduce((a, b) => a * b, 1);
  const engines: [string, Engine][] = [
    ...(wasmKernels ? ([['sttn ternary engine (wasm ternary kernels)', createEngine(d, { backend: B, kernels: wasmKernels })]] as [string, Engine][]) : []),
    ...(lookupKernels ? ([['sttn ternary engine (wasm ternary kernels, lookup build)', createEngine(d, { backend: B, kernels: lookupKernels })]] as [string, Engine][]) : []),
    ...(fmaKernels ? ([['sttn ternary engine (wasm ternary kernels, fma build)', createEngine(d, { backend: B, kernels: fmaKernels })]] as [string, Engine][]) : []),
    ...(threadKernels ? ([[`sttn ternary engine (wasm ternary kernels, ${THREADS} threads)`, createEngine(d, { backend: B, kernels: threadKernels })]] as [string, Engine][]) : []),
    ...(lookupThreadKernels ? ([[`sttn ternary engine (wasm ternary kernels, lookup build, ${THREADS} threads)`, createEngine(d, { backend: B, kernels: lookupThreadKernels })]] as [string, Engine][]) : []),
    ...(fmaThreadKernels ? ([[`sttn ternary engine (wasm ternary kernels, fma build, ${THREADS} threads)`, createEngine(d, { backend: B, kernels: fmaThreadKernels })]] as [string, Engine][]) : []),
    ...popKernels.map((K, i): [string, Engine] => [`sttn ternary engine (wasm ternary kernels, fma build, popcount GEMM${i > 0 ? `, ${THREADS} threads` : ''})`, createEngine(d, { backend: B, kernels: K })]),
    ['sttn ternary engine (reference TS kernels)', createEngine(d, { backend: B, kernels: referenceTernaryKernels })],
    ['sttn float engine (wasm backend)', createEngine(d, { backend: B, mode: 'float' })],
  ];
  const tfRun = tfjsNet(d);
  const onnx = exportOnnx(d, { probabilities: false });
  // intra-op threads pinned, no inter-op parallelism, and no spinning (a spinning pool burns CPU time while it waits)
  const spin = { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } };
  const session = typeof ort === 'string' ? null : await ort.InferenceSession.create(onnx, { intraOpNumThreads: THREADS, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all', extra: spin });
  const ortRun = async (x: Float32Array, n: number): Promise<Float32Array> => {
    const out = await session!.run({ [ONNX_INPUT]: new (ort as Ort).Tensor('float32', x, [n, ...d.inputShape]) });
    return out[ONNX_LOGITS].data;
  };
  // not in a FAST run: after its first run onnxruntime-web's idle threads (STTN_BENCH_THREADS > 1)
  // keep burning CPU, which slows whatever runs next in this process
  const webSession = FAST ? null : await ortWeb.InferenceSession.create(onnx, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const webRun = async (x: Float32Array, n: number): Promise<Float32Array> => {
    const out = await webSession!.run({ [ONNX_INPUT]: new ortWeb.Tensor('float32', x, [n, ...d.inputShape]) });
    return out[ONNX_LOGITS].data as Float32Array;
  };
  for (const batch of BATCHES) {
    const x: Tensor = { shape: [batch, ...d.inputShape], data: randomF32(batch * per, 5 + batch).map((v) => (v + 1) / 2) };
    const xd = x.data as Float32Array;
    // agreement before timing
    const ref = engines[engines.length - 1][1].run(x).data;
    // the lookup builds' logits are the plain build's, bit for bit (laws/engine-threads.test.ts): checked here too
    const plainLogits = wasmKernels ? engines[0][1].run(x).data : null;
    for (const [name, e] of engines.filter(([n]) => n.includes('lookup build'))) {
      const got = e.run(x).data;
      if (plainLogits === null || !sameElements(got, plainLogits)) throw new Error(`${label}, batch ${batch}: ${name} does not give the plain build's logits bit for bit`);
    }
    if (batch === 64) {
      for (const [name, e] of engines.slice(0, -1)) checks.push(`${label}: ${name} vs float engine: max |Δlogit| / max|logit| = ${maxRelDiff(e.run(x).data, ref).toExponential(1)}`);
      if (!FAST) checks.push(`${label}: tfjs-wasm vs float engine: ${maxRelDiff(tfRun(xd, batch), ref).toExponential(1)}`);
      if (session) checks.push(`${label}: onnxruntime-node vs float engine: ${maxRelDiff(await ortRun(xd, batch), ref).toExponential(1)}`);
      if (!FAST) checks.push(`${label}: onnxruntime-web vs float engine: ${maxRelDiff(await webRun(xd, batch), ref).toExponential(1)}`);
    }
    const contenders: Contender[] = [
      ...engines.filter(([name]) => !FAST || name.startsWith('sttn ternary engine (wasm')).map(([name, e]) => ({ name, run: () => void e.run(x) })),
      ...(FAST ? [] : [{ name: 'tfjs-wasm 4.22 (SIMD, 1 thread), float weights', run: () => void tfRun(xd, batch) }]),
      ...(session ? [{ name: `onnxruntime-node (native CPU, ${THREADS} thread${THREADS > 1 ? 's' : ''}), exportOnnx`, run: async () => void (await ortRun(xd, batch)) }] : []),
      ...(FAST ? [] : [{ name: `onnxruntime-web ${ortWeb.env.versions.web} (wasm SIMD, ${THREADS} thread${THREADS > 1 ? 's' : ''}), exportOnnx`, run: async () => void (await webRun(xd, batch)) }]),
    ];
    const quick = process.env.STTN_BENCH_QUICK === '1'; // a smoke run: checks the contenders, times nothing worth reporting
    // batch 1: 25 rounds of 40 back-to-back inferences each; batch 64: 11 rounds of one
    const times = await timeAll(contenders, quick ? 1 : batch === 1 ? 25 : 11, quick ? 0 : batch === 1 ? 20 : 3, quick ? 1 : batch === 1 ? 40 : 1);
    const digits = batch === 1 ? 3 : 2;
    for (const c of contenders) {
      const { wall, cpu } = times.get(c.name)!;
      speedRows.push([label, c.name, String(batch), fmt(wall, digits), fmt(cpu, digits), batch === 1 ? '' : fmt((1000 * batch) / wall, 0)]);
    }
    // the ternary engine against each other contender, paired round by round (both timed in the
    // same round, so a slow phase of the machine affects both) and the median of those ratios
    const mine = times.get(engines[0][0])!.rounds;
    for (const c of contenders.slice(1)) {
      const theirs = times.get(c.name)!.rounds;
      const ratios = mine.map((t, i) => theirs[i] / t).sort((p, q) => p - q);
      ratioRows.push([label, String(batch), engines[0][0], c.name, `${fmt(median(ratios), 2)}×`, `${fmt(ratios[Math.floor(ratios.length / 4)], 2)}–${fmt(ratios[Math.floor((3 * ratios.length) / 4)], 2)}×`]);
    }
    // head to head: the ternary engine and one other contender alone in the rotation (at batch 64
    // only the onnxruntimes). In the full rotation each contender runs after four others that fill
    // the caches with their own data (and tfjs leaves garbage to collect); onnxruntime pays that
    // most (its batch-1 time on cnn-small doubles), so the targets are judged on these pairs.
    // (the lookup and fma builds of the ternary engine as well, against the onnxruntimes)
    const ours = [contenders[0], ...contenders.filter((q) => q.name.startsWith('sttn ternary engine') && !q.name.includes('popcount') && (q.name.includes('fma build') || q.name.includes('lookup build') || q.name.includes(' threads)')))];
    for (const mine of ours) {
      for (const c of contenders.slice(1).filter((q) => !q.name.startsWith('sttn') && ((batch === 1 && mine === contenders[0]) || q.name.startsWith('onnxruntime')))) {
        const pair = batch === 1 ? await timeAll([mine, c], quick ? 1 : 25, quick ? 0 : 20, quick ? 1 : 40) : await timeAll([mine, c], quick ? 1 : 15, quick ? 0 : 3, 1);
        const mine1 = pair.get(mine.name)!;
        const theirs1 = pair.get(c.name)!;
        const ratios = mine1.rounds.map((t, i) => theirs1.rounds[i] / t).sort((p, q) => p - q);
        headRows.push([label, String(batch), mine.name, c.name, `${fmt(mine1.wall, digits)} / ${fmt(mine1.cpu, digits)}`, `${fmt(theirs1.wall, digits)} / ${fmt(theirs1.cpu, digits)}`, `${fmt(median(ratios), 2)}×`, `${fmt(ratios[Math.floor(ratios.length / 4)], 2)}–${fmt(ratios[Math.floor((3 * ratios.length) / 4)], 2)}×`]);
      }
    }
  }
  const prof = engines[0][1].profile({ shape: [64, ...d.inputShape], data: randomF32(64 * per, 3).map((v) => (v + 1) / 2) }, 5);
  notes.push(`${label}, ${engines[0][0]}, batch 64, median ms per step: ${prof.map((p) => `${p.step} ${fmt(p.ms, 1)}`).join('; ')}`);
  const threaded = engines.find(([name]) => name.includes(' threads)'));
  if (threaded) {
    const tprof = threaded[1].profile({ shape: [64, ...d.inputShape], data: randomF32(64 * per, 3).map((v) => (v + 1) / 2) }, 5);
    notes.push(`${label}, ${threaded[0]}, batch 64, median ms per step: ${tprof.map((p) => `${p.step} ${fmt(p.ms, 1)}`).join('; ')}`);
  }
  const prof1 = engines[0][1].profile({ shape: [1, ...d.inputShape], data: randomF32(per, 4).map((v) => (v + 1) / 2) }, 101);
  notes.push(`${label}, ${engines[0][0]}, batch 1, median µs per step: ${prof1.map((p) => `${p.step} ${fmt(1000 * p.ms, 0)}`).join('; ')}`);
  if (!FAST) {
    const fprof = engines[engines.length - 1][1].profile({ shape: [64, ...d.inputShape], data: randomF32(64 * per, 3).map((v) => (v + 1) / 2) }, 5);
    notes.push(`${label}, ${engines[engines.length - 1][0]}, batch 64, median ms per step: ${fprof.map((p) => `${p.step} ${fmt(p.ms, 1)}`).join('; ')}`);
  }
  const r = sizeReport(d);
  const f = r.fileBytes;
  const q = r.quantized.bytes;
  sizeRows.push([
    label,
    `${f.float32} / ${q.float32}`,
    `${f['2bit']} / ${q['2bit']}`,
    `${f.base3} / ${q.base3}`,
    `${fmt(f.float32 / f['2bit'], 2)}× / ${fmt(q.float32 / q['2bit'], 2)}×`,
    `${fmt(f.float32 / f.base3, 2)}× / ${fmt(q.float32 / q.base3, 2)}×`,
  ]);
}

console.log(`# sttn inference benchmark\n\n${machine()}; onnxruntime threads: ${THREADS}\n`);
console.log(table(['network', 'engine', 'batch', 'median wall ms', 'median CPU ms', 'images/s (wall)'], speedRows));
console.log(`\nSpeed-up of the first engine over each other contender: the median over rounds of (its time / the engine's) in the same round, and the interquartile range:\n`);
console.log(table(['network', 'batch', 'engine', 'contender', 'median ratio', 'quartiles'], ratioRows));
console.log(`\nHead to head: a ternary engine (1 thread) and one contender alone in the rotation (batch 1: 25 rounds of 40 inferences each; batch 64: 15 rounds of one), median wall / CPU ms per inference and the paired ratio of wall times (contender / engine):\n`);
console.log(table(['network', 'batch', 'engine', 'contender', 'engine wall / CPU ms', 'contender wall / CPU ms', 'median ratio', 'quartiles'], headRows));
console.log('\nFile sizes in bytes, whole .sttn file / quantized kernels only (codes, no scales):\n');
console.log(table(['network', 'float32', '2-bit', 'base-3', 'float32 ÷ 2-bit', 'float32 ÷ base-3'], sizeRows));
console.log('\nAgreement (batch 64, relative to the largest |logit|):\n');
for (const c of checks) console.log(`- ${c}`);
console.log('\nNotes:\n');
for (const n of notes) console.log(`- ${n}`);
