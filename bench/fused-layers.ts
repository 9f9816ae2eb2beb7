/**
 * What the fused passes save (src/models/fuse.ts: conv2d → maxPool, maxPool → relu, batchNorm →
 * relu, relu → batchNorm; and the convolution's and pooling's own fused passes, which `fuse:
 * false` also leaves out): the cnn-small STTN 2+2 training step at batch 64 on the wasm backend,
 * resident, with them (default) and with `fuse: false`, interleaved in one process (chunks of steps, A then B, each
 * round), at 1 and 2 threads; then a per-call profile of one chunk each way (which Backend calls a
 * step makes and the milliseconds in them), so the passes that went away show.
 *
 * Both runs start from one state and see the same batches; the fusion is exact, so their losses
 * must be equal step for step (checked: the run stops if they differ).
 *
 * First, the two pairs alone at cnn-small's shapes (and a relu → batchNorm pair, which cnn-small does
 * not have, at its batch norm's shape) (STTN_FUSE_REPS, default 200; STTN_FUSE_PASSES_ONLY=1
 * stops there).
 *
 * Run: `npx tsx bench/fused-layers.ts` (after `npm run build:wasm`). STTN_FUSE_ROUNDS (default 8),
 * STTN_FUSE_STEPS (steps per chunk, default 10), STTN_FUSE_THREADS (default "1,2"), STTN_FUSE_ALL=1
 * (profile every call, not only those whose count differs).
 * Results: bench/TRAIN.md ("Fused layer pairs").
 */
import { createWasmBackend, type WasmBackend } from '../backends/wasm.js';
import type { Backend } from '../src/backend.js';
import type { Tensor } from '../src/tensor.js';
import { decodeWith, orThrow } from '../src/codec.js';
import { loadEmbeddedMnist } from '../src/data/index.js';
import { buildModel } from '../src/models/model.js';
import { preset } from '../src/models/presets.js';
import { initTraining, train, TrainConfig, type TrainState } from '../src/train/train.js';

const ROUNDS = Number(process.env.STTN_FUSE_ROUNDS ?? 8);
const STEPS = Number(process.env.STTN_FUSE_STEPS ?? 10);
const THREADS = (process.env.STTN_FUSE_THREADS ?? '1,2').split(',').map(Number);

const data = loadEmbeddedMnist().train;
const cfg = orThrow(decodeWith(TrainConfig, { epochs: 1000, batchSize: 64 }, 'train'));
const model = orThrow(buildModel(preset('cnn-small', { bits: '2+2' })));

/** Resumes `train()` from `s` for `n` steps; returns the state, the per-step losses and the wall and CPU ms. */
async function chunk(B: Backend, s: TrainState, n: number): Promise<{ s: TrainState; losses: number[]; wall: number; cpu: number }> {
  const losses: number[] = [];
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await train(B, model, data, cfg, s, { onStep: (i) => void losses.push(i.loss), shouldStop: () => losses.length >= n });
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { s: r.state, losses, wall, cpu: (c.user + c.system) / 1000 };
}

const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const min = (v: number[]): number => Math.min(...v);

/** `B` with every call timed into `spent` (name and first operand's shape → ms, calls). */
function timed(B: WasmBackend, spent: Map<string, [number, number]>): Backend {
  return new Proxy(B, {
    get(t, key, r) {
      const v = Reflect.get(t, key, r) as unknown;
      if (typeof v !== 'function' || key === 'resident') return v;
      return (...args: unknown[]) => {
        const t0 = performance.now();
        const res = Reflect.apply(v as (...a: unknown[]) => unknown, t, args);
        const a0 = args[0] as { shape?: number[] } | undefined;
        const k = `${String(key)}${a0?.shape ? `[${a0.shape.join('x')}]` : ''}`;
        const e = spent.get(k) ?? [0, 0];
        spent.set(k, [e[0] + performance.now() - t0, e[1] + 1]);
        return res;
      };
    },
  }) as Backend;
}

/**
 * The two pairs of cnn-small alone, at its shapes (and relu → batchNorm at [12544, 32]), fused against composed, forward and backward
 * (the work one training step does in them), inside a resident scope; interleaved, REPS times
 * each. The minimum is the least disturbed by other processes.
 */
function passes(B: WasmBackend, reps: number): void {
  const fill = (shape: number[]): Tensor => ({ shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i * 0.37) * 2) });
  const pool = { size: [2, 2] as const, strides: [2, 2] as const };
  const xp0 = fill([64, 14, 14, 64]);
  const dyp0 = fill([64, 7, 7, 64]);
  const xb0 = fill([12544, 32]);
  const dyb0 = fill([12544, 32]);
  const v0 = fill([32]);
  // the operands, made resident (untimed) at the start of each scope, as a step's activations are
  let xp = xp0, dyp = dyp0, xb = xb0, dyb = dyb0, v = v0;
  const kinds = {
    'maxPool → relu, composed': () => {
      const z = B.maxPool(xp, pool);
      B.unary('relu', z);
      B.maxPoolGrad(xp, B.binary('mul', dyp, B.unary('step', z)), pool);
    },
    'maxPool → relu, fused': () => {
      const y = B.maxPoolRelu!(xp, pool);
      B.maxPoolReluGrad!(xp, y, dyp, pool);
    },
    'batchNorm → relu (its affine and gradient passes), composed': () => {
      const z = B.batchNormAffine!(xb, v, v);
      B.unary('relu', z);
      const d = B.binary('mul', dyb, B.unary('step', z));
      B.batchNormGradMoments!(d, xb);
      B.batchNormGradAffine!(d, xb, v, v, v);
    },
    'batchNorm → relu (its affine and gradient passes), fused': () => {
      const y = B.batchNormAffineRelu!(xb, v, v);
      B.batchNormGradMomentsRelu!(dyb, xb, y);
      B.batchNormGradAffineRelu!(dyb, xb, y, v, v, v);
    },
    'relu → batchNorm (at the same shape), composed': () => {
      const x = B.unary('relu', xb);
      B.batchNormMoments!(x);
      B.batchNormAffine!(x, v, v);
      B.batchNormGradMoments!(dyb, x);
      B.binary('mul', B.batchNormGradAffine!(dyb, x, v, v, v), B.unary('step', xb));
    },
    'relu → batchNorm (at the same shape), fused': () => {
      B.batchNormMomentsOfRelu!(xb);
      B.batchNormAffineOfRelu!(xb, v, v);
      B.batchNormGradMomentsOfRelu!(dyb, xb);
      B.batchNormGradAffineOfRelu!(dyb, xb, v, v, v);
    },
  };
  const times = new Map<string, number[]>(Object.keys(kinds).map((k) => [k, []]));
  for (let r = 0; r < reps; r++) {
    for (const [k, f] of Object.entries(kinds)) {
      B.resident!(() => {
        [xp, dyp, xb, dyb, v] = [xp0, dyp0, xb0, dyb0, v0].map((t) => B.scalar('add', t, 0));
        const t0 = performance.now();
        f();
        times.get(k)!.push(performance.now() - t0);
      });
    }
  }
  console.log(`threads ${B.threads}: the pairs alone, ms per step's worth (forward + backward), ${reps} interleaved reps`);
  for (const [k, t] of times) console.log(`  ${k.padEnd(62)} min ${min(t).toFixed(3)} median ${median(t).toFixed(3)}`);
}

const REPS = Number(process.env.STTN_FUSE_REPS ?? 200);
for (const threads of THREADS) {
  const B = await createWasmBackend({ threads, resident: true });
  passes(B, REPS);
  B.dispose();
}
if (process.env.STTN_FUSE_PASSES_ONLY === '1') process.exit(0);

for (const threads of THREADS) {
  const fused = await createWasmBackend({ threads, resident: true });
  const plain = await createWasmBackend({ threads, resident: true, fuse: false });
  let a = initTraining(fused, model, cfg);
  let b = a;
  // warm both (JIT, memory growth)
  a = (await chunk(fused, a, 5)).s;
  b = (await chunk(plain, b, 5)).s;
  const per = { fused: { wall: [] as number[], cpu: [] as number[] }, plain: { wall: [] as number[], cpu: [] as number[] } };
  for (let r = 0; r < ROUNDS; r++) {
    // alternate which goes first
    const order: ['fused' | 'plain', WasmBackend][] = r % 2 === 0 ? [['fused', fused], ['plain', plain]] : [['plain', plain], ['fused', fused]];
    const losses: Record<string, number[]> = {};
    for (const [name, B] of order) {
      const c = await chunk(B, name === 'fused' ? a : b, STEPS);
      if (name === 'fused') a = c.s;
      else b = c.s;
      per[name].wall.push(c.wall / STEPS);
      per[name].cpu.push(c.cpu / STEPS);
      losses[name] = c.losses;
    }
    if (!losses.fused.every((l, i) => Object.is(l, losses.plain[i]))) throw new Error(`round ${r}: the fused run's losses differ from fuse: false`);
  }
  const f = (v: number[]) => `median ${median(v).toFixed(2)} min ${min(v).toFixed(2)}`;
  console.log(`threads ${threads}, ${ROUNDS} rounds × ${STEPS} steps, ms/step:`);
  console.log(`  fused      wall ${f(per.fused.wall)}   cpu ${f(per.fused.cpu)}`);
  console.log(`  fuse:false wall ${f(per.plain.wall)}   cpu ${f(per.plain.cpu)}`);
  console.log(`  plain/fused wall ${(median(per.plain.wall) / median(per.fused.wall)).toFixed(3)} (medians), saved ${(median(per.plain.wall) - median(per.fused.wall)).toFixed(2)} ms/step`);

  // which calls went away: one chunk each way through a timing proxy
  const sf = new Map<string, [number, number]>();
  const sp = new Map<string, [number, number]>();
  await chunk(timed(fused, sf), a, STEPS);
  await chunk(timed(plain, sp), b, STEPS);
  const keys = [...new Set([...sf.keys(), ...sp.keys()])].filter((k) => process.env.STTN_FUSE_ALL === '1' || (sf.get(k)?.[1] ?? 0) !== (sp.get(k)?.[1] ?? 0));
  keys.sort((x, y) => (sp.get(y)?.[0] ?? 0) + (sf.get(y)?.[0] ?? 0) - (sp.get(x)?.[0] ?? 0) - (sf.get(x)?.[0] ?? 0));
  console.log(`  calls whose count differs (per step: calls, ms)        fuse:false          fused`);
  for (const k of keys) {
    const p = sp.get(k) ?? [0, 0];
    const q = sf.get(k) ?? [0, 0];
    console.log(`  ${k.padEnd(52)} ${(p[1] / STEPS).toFixed(0).padStart(3)} ${(p[0] / STEPS).toFixed(3).padStart(7)}   ${(q[1] / STEPS).toFixed(0).padStart(3)} ${(q[0] / STEPS).toFixed(3).padStart(7)}`);
  }
  const tot = (s: Map<string, [number, number]>) => keys.reduce((t, k) => t + (s.get(k)?.[0] ?? 0), 0) / STEPS;
  console.log(`  total of those calls, ms/step: fuse:false ${tot(sp).toFixed(3)}, fused ${tot(sf).toFixed(3)}`);
  fused.dispose();
  plain.dispose();
}
process.exit(0);
