/**
 * Training-throughput benchmark: samples/s of the cnn-small training step at batch 64, sttn's
 * `train()` on the wasm backend (float `32+32` and STTN `2+2`) against @tensorflow/tfjs-core on
 * @tensorflow/tfjs-backend-wasm (SIMD, one thread) training the same float network in the same
 * process.
 *
 * Run: `npx tsx bench/train.ts` (after `npm run build:wasm`). Results: bench/TRAIN.md.
 * `STTN_BENCH_QUICK=1`: a smoke run with tiny step counts (runs every check but the "tfjs trains"
 * threshold; its timings mean nothing). `STTN_TRAIN_ROUNDS` / `STTN_TRAIN_STEPS` /
 * `STTN_TRAIN_WARMUP` override the counts; `STTN_TRAIN_PROFILE=1` prints tfjs's per-kernel times
 * of one step (tf.profile) before timing.
 *
 * sttn: exactly what a user runs — `train()` from src/train/train.ts with the default TrainConfig
 * (Adam lr 0.005, weight decay 1e-6, cosine schedule, batch 64, augmentation pad 2) over the
 * embedded MNIST train split; each timed chunk is one `train()` call resumed from the previous
 * state and stopped by `shouldStop` after a fixed number of steps.
 *
 * tfjs: the cnn-small step of bench/tfjs-train-step.ts (shared with bench/browser-train.ts, which
 * runs it on tfjs-wasm's threaded build in a browser): the same layer list as
 * `preset('cnn-small')`, NHWC, float32, batch norm from elementwise ops and means, gradients by
 * `tf.variableGrads`, weight decay 1e-6 added to the gradients, `tf.train.adam(0.005)` (constant
 * rate: the schedule costs nothing). Its data pipeline is sttn's (same batch order, same `gather`
 * and `augment` pad 2, then `tf.tensor4d` and a one-hot), so both see the same batches. Two
 * contenders differ in the input gradient of conv2: the backend's Conv2DBackpropInput kernel
 * (`tf.conv2dTranspose`: the contender the issue names) or a forward `tf.conv2d` of dY with the
 * flipped, in/out-swapped kernel, which runs on the much faster XNNPACK Conv2D kernel: the
 * stronger baseline. Max-pool gradients work around a bug of the backend (`maxPool2` there).
 *
 * Checks before timing (the run stops if one fails): the tfjs network's layer output shapes equal
 * the sttn model's, and so do its per-step GEMM FLOPs (computed from the shapes each side actually
 * uses); from sttn's 32+32 initial parameters, both give the same loss on a digits batch and the
 * same loss and gradients on a noise batch (which checks the hand-written gradients); each tfjs
 * contender's loss falls over its first 30 training steps and it holds no more tensors after
 * them than before.
 *
 * Threads: `STTN_TRAIN_THREADS` (default: this machine's cores; 1 turns it off) adds STTN 2+2 on
 * the threaded wasm backend (`createWasmBackend({ threads })`, the same bits as one thread:
 * laws/threads.test.ts). Its CPU time sums every thread's, so compare it by wall time; the
 * `threads` column says how many each contender ran (tfjs-wasm here: one).
 *
 * Resident: the first sttn contenders run the copying backend (`resident: false`: every call
 * copies its operands into wasm memory and its result out); the `resident` ones run the same
 * step inside the backend's resident scope (src/backend.ts `resident`, the default of
 * createWasmBackend and so of the CLI), at 1 thread and at `STTN_TRAIN_THREADS` (the same bits:
 * laws/resident.test.ts). `STTN_TRAIN_PROFILE=1` also prints where the sttn steps' time goes
 * (per backend call), resident ones included.
 *
 * Timing: every contender first runs 30 warm-up steps (the checked ones above; the threaded and
 * resident sttn steps' warm-up losses must equal the copying 1-thread step's bit for bit), then
 * `ROUNDS` rounds in which each contender in turn runs `STEPS` steps;
 * samples/s = 64·STEPS / time, medians over the rounds, of process CPU time (the default clock of
 * bench/common.ts; `STTN_BENCH_CLOCK=wall` ranks by wall time), the other clock alongside.
 */
import { createRequire } from 'node:module';
import { availableParallelism, loadavg } from 'node:os';
import { createWasmBackend } from '../backends/wasm.js';
import type { Backend } from '../src/backend.js';
import { loadBackend } from '../backends/index.js';
import { orThrow, decodeWith } from '../src/codec.js';
import { loadEmbeddedMnist } from '../src/data/index.js';
import { buildModel, type Model } from '../src/models/model.js';
import { preset, type Bits } from '../src/models/presets.js';
import { initTraining, train, TrainConfig, type TrainState } from '../src/train/train.js';
import { CLOCK, fmt, machine, median, randomF32, table, tfjsWasm } from './common.js';
import { runPreamble, trainCounts } from './train-env.js';
import { batchSource, checkAgreement, checkShapesAndFlops, head, sttnGemms, stepFlops, tail, tfjsCnnSmall, warmUpTfjs } from './tfjs-train-step.js';

const { quick: QUICK, steps: STEPS, rounds: ROUNDS, warm: WARM } = trainCounts(7);
const BATCH = 64;

const tf = await tfjsWasm();
// tfjs-core's CommonJS bundle (what Node loads) registers no gradients; @tensorflow/tfjs does it by
// importing this module of tfjs-core's ES build, which we load the same way through require.
// The registry is global, so the bundle's engine finds them.
createRequire(import.meta.url)('@tensorflow/tfjs-core/dist/register_all_gradients.js');
// today's copying wasm backend (every call copies its operands in and its result out) for the
// earlier contenders; the resident ones run createWasmBackend()'s default (src/backend.ts `resident`)
const B = await loadBackend('wasm', { resident: false });
const data = loadEmbeddedMnist().train;
const cfg = orThrow(decodeWith(TrainConfig, { epochs: 1000, batchSize: BATCH }, 'train'));
if (cfg.optimizer.kind !== 'adam' || cfg.augmentPad !== 2) throw new Error('the default TrainConfig changed: update this benchmark');
const batchAt = batchSource(data, cfg);
const { trainer: tfjsTrainer } = tfjsCnnSmall(tf, cfg, batchAt);

// ---------------------------------------------------------------------------------------------
// The sttn contenders

interface SttnTrainer {
  readonly name: string;
  readonly model: Model;
  readonly initial: TrainState;
  steps(k: number): Promise<number[]>;
}

function sttnTrainer(bits: Bits, on: Backend = B, threads = 1): SttnTrainer {
  const resident = on.resident !== undefined ? ', resident' : '';
  const model = orThrow(buildModel(preset('cnn-small', { bits })));
  const initial = initTraining(on, model, cfg);
  let state = initial;
  return {
    name: `sttn wasm, ${bits}${bits === '2+2' ? ' (STTN)' : ''}${resident}${threads > 1 ? `, ${threads} threads` : ''}`,
    model,
    initial,
    async steps(k) {
      const losses: number[] = [];
      const r = await train(on, model, data, cfg, state, { onStep: (info) => void losses.push(info.loss), shouldStop: () => losses.length >= k });
      state = r.state;
      return losses;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Checks

const sttnF = sttnTrainer('32+32');
const sttnT = sttnTrainer('2+2');
// the same step on the threaded backend (bit-identical results: laws/threads.test.ts)
const THREADS = Number(process.env.STTN_TRAIN_THREADS ?? availableParallelism());
const threaded = THREADS > 1 ? await createWasmBackend({ threads: THREADS, resident: false }) : undefined;
const sttnTn = threaded ? sttnTrainer('2+2', threaded, THREADS) : undefined;
// the resident step (bit-identical to the copying one: laws/resident.test.ts), at 1 and THREADS threads
const residentB = await createWasmBackend({ resident: true });
const sttnR = sttnTrainer('2+2', residentB);
const residentN = THREADS > 1 ? await createWasmBackend({ threads: THREADS, resident: true }) : undefined;
const sttnRn = residentN ? sttnTrainer('2+2', residentN, THREADS) : undefined;
const tfBpi = tfjsTrainer('Conv2DBackpropInput', sttnF.initial.params);
const tfFlip = tfjsTrainer('conv2d of flipped kernel', sttnF.initial.params);
const TFJS = [tfBpi, tfFlip];

const { flops: FLOPS, checks } = checkShapesAndFlops(TFJS, sttnF.model, BATCH);
if (stepFlops(sttnGemms(sttnT.model, BATCH)) !== FLOPS) throw new Error('2+2 and 32+32 differ in FLOPs');

// Same loss and gradients from the same parameters on one batch (gradients on a batch of
// uniform noise images, losses on the first digits batch: see checkAgreement)
checks.push(...checkAgreement(tf, TFJS, { B, model: sttnF.model, s0: sttnF.initial, cfg }, batchAt(0), randomF32(BATCH * 28 * 28, 7).map((v) => (v + 1) / 2)));

// The warm-up steps, checked: the losses fall and tfjs holds no more tensors than before.
for (const t of TFJS) checks.push(warmUpTfjs(tf, t, WARM, QUICK).check);
const warmLosses = new Map<SttnTrainer, number[]>();
for (const s of [sttnF, sttnT, sttnTn, sttnR, sttnRn]) {
  if (s === undefined) continue;
  const losses = await s.steps(WARM);
  warmLosses.set(s, losses);
  checks.push(`${s.name}, the same warm-up: mean loss of steps 1–5 ${fmt(head(losses), 3)}, of steps ${WARM - 4}–${WARM} ${fmt(tail(losses), 3)}`);
}
// the threaded and resident steps compute what the copying 1-thread one does, from the same
// initial state and batches: every warm-up loss bit for bit (laws/threads.test.ts, laws/resident.test.ts)
{
  const ref = warmLosses.get(sttnT)!;
  for (const s of [sttnTn, sttnR, sttnRn]) {
    if (s === undefined) continue;
    const l = warmLosses.get(s)!;
    const at = l.length === ref.length ? l.findIndex((x, i) => !Object.is(x, ref[i])) : 0;
    if (at >= 0) throw new Error(`${s.name}: warm-up loss of step ${at + 1} is ${l[at]}, ${sttnT.name}'s ${ref[at]}: they must be the same bits`);
    checks.push(`${s.name}: its ${WARM} warm-up losses equal ${sttnT.name}'s bit for bit (Object.is)`);
  }
}
if (process.env.STTN_TRAIN_PROFILE === '1') {
  // sttn: wall time per backend call (method, and op name where there is one) over a few steps of
  // a fresh trainer on a timing wrapper of the backend; the rest of the step is JS outside the backend
  const profiled: [Bits, Backend, string][] = [['32+32', B, ''], ['2+2', B, ''], ['2+2', residentB, ', resident']];
  if (residentN) profiled.push(['2+2', residentN, `, resident, ${THREADS} threads`]);
  for (const [bits, on, label] of profiled) {
    const spent = new Map<string, number>();
    const timed = new Proxy(on, {
      get(target, key, receiver) {
        const v: unknown = Reflect.get(target, key, receiver);
        // `resident` wraps the whole step: time the calls inside it instead
        if (typeof v !== 'function' || key === 'resident') return v;
        return (...args: unknown[]) => {
          const t0 = performance.now();
          const r: unknown = Reflect.apply(v as (...a: unknown[]) => unknown, target, args);
          const k = `${String(key)}${typeof args[0] === 'string' ? `:${args[0]}` : ''}`;
          spent.set(k, (spent.get(k) ?? 0) + performance.now() - t0);
          return r;
        };
      },
    });
    const model = orThrow(buildModel(preset('cnn-small', { bits })));
    let st = initTraining(timed, model, cfg);
    const run = async (k: number) => {
      let n = 0;
      st = (await train(timed, model, data, cfg, st, { onStep: () => void n++, shouldStop: () => n >= k })).state;
    };
    await run(5);
    spent.clear();
    const k = 10;
    const t0 = performance.now();
    await run(k);
    const step = (performance.now() - t0) / k;
    const inside = [...spent.values()].reduce((a, b) => a + b, 0) / k;
    console.error(
      `sttn ${bits}${label}: ${fmt(step)} ms per step, ${fmt(inside)} in backend calls: ` +
        [...spent].sort((a, b) => b[1] - a[1]).map(([op, ms]) => `${op} ${fmt(ms / k)}`).join(', '),
    );
  }
  for (const t of TFJS) {
    const p = await tf.profile(() => void t.steps(1));
    const by = new Map<string, number>();
    for (const k of p.kernels) by.set(k.name, (by.get(k.name) ?? 0) + (k.kernelTimeMs as number));
    const total = [...by.values()].reduce((a, b) => a + b, 0);
    console.error(`${t.name}: kernels ${fmt(total)} ms in one step: ${[...by].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}`);
    for (const k of p.kernels) {
      if ((k.kernelTimeMs as number) > 3) console.error(`  ${k.name}[${k.inputShapes.map((x) => x?.join('×')).join('; ')}] ${fmt(k.kernelTimeMs as number)} ms`);
    }
  }
}
for (const c of checks) console.error(`check: ${c}`);

// ---------------------------------------------------------------------------------------------
// Timing

interface Contender {
  readonly name: string;
  run(k: number): Promise<unknown>;
}
const contenders: Contender[] = [
  { name: sttnF.name, run: (k) => sttnF.steps(k) },
  { name: sttnT.name, run: (k) => sttnT.steps(k) },
  ...(sttnTn ? [{ name: sttnTn.name, run: (k: number) => sttnTn.steps(k) }] : []),
  { name: sttnR.name, run: (k) => sttnR.steps(k) },
  ...(sttnRn ? [{ name: sttnRn.name, run: (k: number) => sttnRn.steps(k) }] : []),
  { name: tfBpi.name, run: async (k) => tfBpi.steps(k) },
  { name: tfFlip.name, run: async (k) => tfFlip.steps(k) },
];
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const times = new Map(contenders.map((c) => [c.name, { cpu: [] as number[], wall: [] as number[] }]));
const loadBefore = loadavg();
for (let r = 0; r < ROUNDS; r++) {
  for (const c of contenders) {
    const [c0, w0] = [cpuMs(), performance.now()];
    await c.run(STEPS);
    const [c1, w1] = [cpuMs(), performance.now()];
    times.get(c.name)!.cpu.push(c1 - c0);
    times.get(c.name)!.wall.push(w1 - w0);
    console.error(`round ${r + 1}/${ROUNDS} ${c.name}: ${fmt((STEPS * BATCH) / ((c1 - c0) / 1000))} samples/s CPU, ${fmt((STEPS * BATCH) / ((w1 - w0) / 1000))} wall`);
  }
}
const loadAfter = loadavg();

const rate = (ms: number): number => (STEPS * BATCH) / (ms / 1000);
const med = (name: string, clock: 'cpu' | 'wall'): number => rate(median(times.get(name)![clock]));
const ref = tfBpi.name;
const best = (clock: 'cpu' | 'wall'): number => Math.max(med(tfBpi.name, clock), med(tfFlip.name, clock));
const other: 'cpu' | 'wall' = CLOCK === 'cpu' ? 'wall' : 'cpu';
const rows = contenders.map((c) => {
  const v = med(c.name, CLOCK);
  const all = times.get(c.name)![CLOCK].map(rate);
  return [
    c.name,
    c.name.endsWith(' threads') ? String(THREADS) : '1',
    fmt(v),
    `${fmt(Math.min(...all))}–${fmt(Math.max(...all))}`,
    fmt(med(c.name, other)),
    fmt((1000 * BATCH) / v),
    `${fmt(v / med(ref, CLOCK), 2)}×`,
    `${fmt(v / best(CLOCK), 2)}×`,
    fmt(((v / BATCH) * FLOPS) / 1e9, 1),
  ];
});
const clockName = (c: 'cpu' | 'wall'): string => (c === 'cpu' ? 'CPU' : 'wall');
console.log(`\n${machine()}`);
console.log(runPreamble(loadBefore, loadAfter, BATCH, { steps: STEPS, rounds: ROUNDS, warm: WARM }, checks));
console.log(
  table(
    [
      'contender',
      'threads',
      `samples/s (median, ${clockName(CLOCK)} time)`,
      'range over rounds',
      `samples/s (median, ${clockName(other)} time)`,
      'ms / step',
      'ratio to tfjs-wasm (Conv2DBackpropInput)',
      'ratio to faster tfjs',
      'GEMM GFLOP/s',
    ],
    rows,
  ),
);
