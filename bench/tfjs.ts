/**
 * The overhead of sttn's tfjs ops (backends/tfjs.ts) in a tfjs training step: the same MLP
 * (784 → 256 → 256 → 10, ReLU, softmax cross-entropy, Adam, batch 64) with float kernels and with
 * STTN kernels (two latents per kernel, merged by `sttn(w1, w2)`, per-output-unit α), timed in the
 * same process on tfjs-backend-wasm (SIMD, one thread) and tfjs-backend-cpu.
 *
 * Method: per backend, both models built from the same draws; W warm-up steps each (losses must
 * fall, tensor count must stay flat); then R round-robin rounds, each model in turn running S steps;
 * medians of process CPU time and of wall time per step; ratio = STTN / float. Also the op alone
 * (forward + VJP of one 784×256 pair). Results in bench/TFJS.md. Not a test: the laws of the ops
 * are in laws/tfjs.test.ts. `STTN_BENCH_QUICK=1` runs tiny counts.
 */
import { createRequire } from 'node:module';
import * as tfc from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { sttn } from '../backends/tfjs.js';
import { fmt, machine, median, randomF32, table, tfjsWasm } from './common.js';

const QUICK = process.env.STTN_BENCH_QUICK === '1';
const WARM = QUICK ? 3 : 15;
const ROUNDS = QUICK ? 2 : 9;
const STEPS = QUICK ? 2 : 10;
const BATCH = 64;
const SIZES = [784, 256, 256, 10];

const tf: typeof tfc = await tfjsWasm();
createRequire(import.meta.url)('@tensorflow/tfjs-core/dist/register_all_gradients.js');
tf.env().set('PROD', true);

interface Model {
  readonly name: string;
  step(x: tfc.Tensor, y: tfc.Tensor): number;
  dispose(): void;
}

function build(kind: 'float' | 'sttn'): Model {
  const vars: tfc.Variable[] = [];
  const layers = SIZES.slice(1).map((nOut, i) => {
    const nIn = SIZES[i];
    const lim = Math.sqrt(6 / (nIn + nOut));
    const v = (seed: number) => {
      const x = tf.variable(tf.mul(tf.tensor2d(randomF32(nIn * nOut, 1 + 10 * i + seed), [nIn, nOut]), lim));
      vars.push(x);
      return x;
    };
    const b = tf.variable(tf.zeros([nOut]));
    vars.push(b);
    const w1 = v(0);
    const w2 = kind === 'sttn' ? v(1) : null;
    return (x: tfc.Tensor) => tf.add(tf.matMul(x, w2 === null ? w1 : sttn(w1, w2, { granularity: 'channel' })), b);
  });
  const opt = tf.train.adam(1e-3);
  const logits = (x: tfc.Tensor) => layers.reduce((h, l, i) => (i === layers.length - 1 ? l(h) : tf.relu(l(h))), x);
  return {
    name: kind === 'float' ? 'float (32+32)' : 'STTN kernels (sttn op)',
    step(x, y) {
      const cost = opt.minimize(() => tf.losses.softmaxCrossEntropy(y, logits(x)) as tfc.Scalar, true)!;
      const v = cost.dataSync()[0];
      cost.dispose();
      return v;
    },
    dispose() {
      opt.dispose();
      tf.dispose(vars);
    },
  };
}

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

interface Row {
  backend: string;
  name: string;
  cpu: number;
  wall: number;
}

function benchBackend(backend: string): Row[] {
  const x = tf.tensor2d(randomF32(BATCH * 784, 7), [BATCH, 784]);
  const y = tf.oneHot(tf.tensor1d(Int32Array.from({ length: BATCH }, (_, i) => (i * 7) % 10), 'int32'), 10);
  const yf = tf.cast(y, 'float32');
  const models = [build('float'), build('sttn')];
  for (const m of models) {
    const before = tf.memory().numTensors;
    const first = m.step(x, yf);
    let last = first;
    for (let i = 1; i < WARM; i++) last = m.step(x, yf);
    if (!(last < first)) throw new Error(`${backend} ${m.name}: loss did not fall in warm-up (${first} → ${last})`);
    // the first step creates Adam's slots; later steps must not leak
    const settled = tf.memory().numTensors;
    m.step(x, yf);
    if (tf.memory().numTensors !== settled) throw new Error(`${backend} ${m.name}: leaks tensors (${before} → ${settled} → ${tf.memory().numTensors})`);
  }
  const t = new Map(models.map((m) => [m.name, { cpu: [] as number[], wall: [] as number[] }]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const m of models) {
      const c0 = cpuMs();
      const w0 = performance.now();
      for (let s = 0; s < STEPS; s++) m.step(x, yf);
      t.get(m.name)!.cpu.push((cpuMs() - c0) / STEPS);
      t.get(m.name)!.wall.push((performance.now() - w0) / STEPS);
    }
  }
  models.forEach((m) => m.dispose());
  tf.dispose([x, y, yf]);
  return models.map((m) => ({ backend, name: m.name, cpu: median(t.get(m.name)!.cpu), wall: median(t.get(m.name)!.wall) }));
}

/** The op alone: forward + VJP of one 784×256 STTN pair (per-channel α), ms. */
function opAlone(backend: string): Row {
  const w1 = tf.tensor2d(randomF32(784 * 256, 3), [784, 256]);
  const w2 = tf.tensor2d(randomF32(784 * 256, 4), [784, 256]);
  const dy = tf.tensor2d(randomF32(784 * 256, 5), [784, 256]);
  const run = () => {
    const g = tf.grads((a: tfc.Tensor, b: tfc.Tensor) => sttn(a, b, { granularity: 'channel' }))([w1, w2], dy);
    g[0].dataSync();
    tf.dispose(g);
  };
  for (let i = 0; i < WARM; i++) run();
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const c0 = cpuMs();
    const w0 = performance.now();
    for (let s = 0; s < STEPS; s++) run();
    cpu.push((cpuMs() - c0) / STEPS);
    wall.push((performance.now() - w0) / STEPS);
  }
  tf.dispose([w1, w2, dy]);
  return { backend, name: 'sttn op alone, 784×256 fwd+VJP', cpu: median(cpu), wall: median(wall) };
}

const rows: Row[] = [];
for (const backend of ['wasm', 'cpu']) {
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs ${backend} failed to initialise`);
  await tf.ready();
  rows.push(...benchBackend(backend), opAlone(backend));
}

console.log(machine());
console.log(`tfjs-core ${tf.version_core}; wasm threads ${getThreadsCount()}; batch ${BATCH}; MLP ${SIZES.join('→')}; ${WARM} warm-up steps, ${ROUNDS} rounds × ${STEPS} steps\n`);
const floatOf = (b: string) => rows.find((r) => r.backend === b && r.name.startsWith('float'))!;
console.log(
  table(
    ['backend', 'model', 'ms/step CPU (median)', 'ms/step wall (median)', 'ratio to float, CPU', 'ratio to float, wall'],
    rows.map((r) => [
      `tfjs-${r.backend}`,
      r.name,
      fmt(r.cpu, 2),
      fmt(r.wall, 2),
      `${fmt(r.cpu / floatOf(r.backend).cpu, 2)}×`,
      `${fmt(r.wall / floatOf(r.backend).wall, 2)}×`,
    ]),
  ),
);
