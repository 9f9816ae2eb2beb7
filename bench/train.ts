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
 * tfjs: the same layer list as `preset('cnn-small')` (conv3×3 1→32 + bias, max-pool 2, batch norm,
 * ReLU, batch norm, conv3×3 32→64 + bias, max-pool 2, ReLU, batch norm, flatten, dense 10), NHWC,
 * HWIO kernels, float32; batch norm in training mode with batch statistics (written from
 * elementwise ops and means: faster under tfjs's autodiff than `tf.moments` + `tf.batchNorm`,
 * whose gradient tiles 1/σ to the full tensor), running statistics updated with momentum 0.9;
 * softmax cross-entropy; gradients by `tf.variableGrads`, weight decay 1e-6 added to the
 * gradients, `tf.train.adam(0.005)` (constant rate: the schedule costs nothing). Its data
 * pipeline is sttn's (same batch order, same `gather` and `augment` pad 2, then `tf.tensor4d`
 * and a one-hot), so both see the same batches.
 *
 * Its convolutions are `tf.customGrad` ops: forward `tf.conv2d` + bias; weight gradient from
 * matmuls, since tfjs-backend-wasm has no Conv2DBackpropFilter — per kernel offset, the shifted
 * slice of the padded input, transposed, times dY (9 products; cheaper here than concatenating
 * the slices into one im2col matrix), and for the one-channel first layer im2col as a conv2d
 * with a one-hot kernel, then one product; input gradient either by the backend's
 * Conv2DBackpropInput kernel (`tf.conv2dTranspose`: the contender the issue names) or as a
 * forward `tf.conv2d` of dY with the flipped, in/out-swapped kernel (valid for stride 1, same
 * padding), which runs on the much faster XNNPACK Conv2D kernel: the stronger baseline. The first
 * convolution's input gradient is never computed (nor is it in sttn's backward). Its max-pools
 * are `tf.maxPool` with a gradient that works around a bug of the backend (see `maxPool2`).
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
import type { GradSaveFunc, Rank, Tensor as TfTensor, Tensor1D, Tensor2D, Tensor4D, Variable } from '@tensorflow/tfjs-core';
import { createRequire } from 'node:module';
import { availableParallelism, loadavg } from 'node:os';
import { createWasmBackend } from '../backends/wasm.js';
import type { Backend } from '../src/backend.js';
import { loadBackend } from '../backends/index.js';
import { orThrow, decodeWith } from '../src/codec.js';
import { augment, epochIndices, gather, loadEmbeddedMnist } from '../src/data/index.js';
import { softmaxCrossEntropy } from '../src/train/loss.js';
import { backward, buildModel, forward, type Model } from '../src/models/model.js';
import type { Tree } from '../src/train/optim.js';
import { preset, type Bits } from '../src/models/presets.js';
import { derive } from '../src/random.js';
import { initTraining, STREAM, train, TrainConfig, type TrainState } from '../src/train/train.js';
import { CLOCK, fmt, machine, median, randomF32, table, tfjsWasm } from './common.js';

const QUICK = process.env.STTN_BENCH_QUICK === '1';
const envInt = (name: string, dflt: number): number => {
  const v = process.env[name];
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${v}`);
  return n;
};
const BATCH = 64;
const STEPS = envInt('STTN_TRAIN_STEPS', QUICK ? 2 : 20);
const ROUNDS = envInt('STTN_TRAIN_ROUNDS', QUICK ? 1 : 7);
/** warm-up steps of every contender (checked: the losses fall) */
const WARM = QUICK ? 7 : Math.max(10, envInt('STTN_TRAIN_WARMUP', 30));
const EPS_BN = 1e-5;
const MOMENTUM_BN = 0.9;

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
const N_TRAIN = data.images.shape[0];

/** The batch of global step `step`, exactly as `train()` builds it (order, gather, augment). */
const orders = new Map<number, Int32Array[]>();
function batchAt(step: number): { x: Float32Array; labels: Uint8Array } {
  const spe = Math.ceil(N_TRAIN / BATCH);
  const epoch = Math.floor(step / spe);
  let order = orders.get(epoch);
  if (order === undefined) {
    orders.clear();
    order = epochIndices(N_TRAIN, BATCH, derive(cfg.seed, STREAM.ORDER, epoch));
    orders.set(epoch, order);
  }
  const b = gather(data, order[step % spe]);
  const x = augment(b.images, derive(cfg.seed, STREAM.AUGMENT, step), { pad: cfg.augmentPad, flip: cfg.augmentFlip });
  return { x: x.data as Float32Array, labels: b.labels };
}

// ---------------------------------------------------------------------------------------------
// Shapes and FLOPs

interface GemmLayer {
  readonly kind: 'conv' | 'dense';
  /** multiply-adds of one product (forward; dW and dX cost the same each) */
  readonly macs: number;
  readonly needDx: boolean;
}
const stepFlops = (ls: readonly GemmLayer[]): number => ls.reduce((s, l) => s + 2 * l.macs * (l.needDx ? 3 : 2), 0);

/** The GEMM layers of an sttn model, from its spec and its checked shapes. */
function sttnGemms(m: Model): GemmLayer[] {
  const out: GemmLayer[] = [];
  m.spec.layers.forEach((l, i) => {
    const [inS, outS] = [m.shapes[i], m.shapes[i + 1]];
    if (l.type === 'conv2d') {
      const [kh, kw] = (l as { kernelSize: readonly number[] }).kernelSize;
      out.push({ kind: 'conv', macs: BATCH * outS[0] * outS[1] * outS[2] * kh * kw * inS[2], needDx: i > 0 });
    } else if (l.type === 'dense') {
      out.push({ kind: 'dense', macs: BATCH * inS[0] * outS[0], needDx: i > 0 });
    } else if (l.type === 'residual') {
      throw new Error('not a cnn-small layer');
    }
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// The tfjs network

type DxVia = 'Conv2DBackpropInput' | 'conv2d of flipped kernel';

/** Shapes the tfjs forward records on demand: per-layer outputs and the GEMM layers. */
interface Trace {
  outShapes: number[][];
  gemms: GemmLayer[];
}

/** dW (HWIO) of a stride-1 same-padded conv from matmuls (tfjs-backend-wasm has no Conv2DBackpropFilter). */
function convGradFilter(x: Tensor4D, dy: Tensor4D, kh: number, kw: number): Tensor4D {
  const [n, h, w, cin] = x.shape;
  const cout = dy.shape[3];
  const [ph, pw] = [(kh - 1) / 2, (kw - 1) / 2];
  const dy2 = tf.reshape(dy, [n * h * w, cout]);
  if (cin === 1) {
    // one input channel: im2col as a convolution with a one-hot kernel (output channel k copies
    // offset k), then one product colsᵀ · dY
    const cols = tf.reshape(tf.conv2d(x, oneHotKernel(kh, kw), 1, 'same'), [n * h * w, kh * kw]);
    return tf.reshape(tf.matMul(tf.transpose(cols), dy2), [kh, kw, 1, cout]);
  }
  const xp = tf.pad(x, [[0, 0], [ph, ph], [pw, pw], [0, 0]]);
  // one product per kernel offset: dW[ky, kx] = shifted(x)ᵀ · dY, [cin, cout] each
  const parts: Tensor2D[] = [];
  for (let ky = 0; ky < kh; ky++) {
    for (let kx = 0; kx < kw; kx++) {
      const s = tf.reshape(tf.slice(xp, [0, ky, kx, 0], [n, h, w, cin]), [n * h * w, cin]);
      parts.push(tf.matMul(tf.transpose(s), dy2));
    }
  }
  return tf.reshape(tf.stack(parts), [kh, kw, cin, cout]);
}

const oneHotKernels = new Map<string, Tensor4D>();
/** HWIO `[kh, kw, 1, kh·kw]` with a 1 at (ky, kx, 0, ky·kw + kx): im2col of a one-channel input by conv2d. */
function oneHotKernel(kh: number, kw: number): Tensor4D {
  const key = `${kh}x${kw}`;
  let k = oneHotKernels.get(key);
  if (k === undefined) {
    const d = new Float32Array(kh * kw * kh * kw);
    for (let i = 0; i < kh * kw; i++) d[i * kh * kw + i] = 1;
    k = tf.keep(tf.tensor4d(d, [kh, kw, 1, kh * kw]));
    oneHotKernels.set(key, k);
  }
  return k;
}

/** dX of a stride-1 same-padded conv as a forward conv of dY with the kernel flipped and in/out swapped. */
const convGradInputByConv = (dy: Tensor4D, w: Tensor4D): Tensor4D =>
  tf.conv2d(dy, tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2]), 1, 'same');

/** conv2d(x, w) + b, 3×3, stride 1, same, with hand-written gradients; `x` is a constant when `needDx` is false. */
function makeConv(dxVia: DxVia) {
  const withDx = tf.customGrad(((x: Tensor4D, w: Tensor4D, b: Tensor1D, save: GradSaveFunc) => {
    save([x, w]);
    return {
      value: tf.add(tf.conv2d(x, w, 1, 'same'), b),
      gradFunc: (dy: Tensor4D, saved: TfTensor[]) => {
        const [sx, sw] = saved as [Tensor4D, Tensor4D];
        const dx = dxVia === 'Conv2DBackpropInput' ? tf.conv2dTranspose(dy, sw, sx.shape, 1, 'same') : convGradInputByConv(dy, sw);
        return [dx, convGradFilter(sx, dy, sw.shape[0], sw.shape[1]), tf.sum(dy, [0, 1, 2])];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: Tensor4D, w: Tensor4D, b: Tensor1D) => Tensor4D;
  const first = (x: Tensor4D, w: Tensor4D, b: Tensor1D): Tensor4D =>
    (
      tf.customGrad(((w_: Tensor4D, b_: Tensor1D, save: GradSaveFunc) => {
        save([w_]);
        return {
          value: tf.add(tf.conv2d(x, w_, 1, 'same'), b_),
          gradFunc: (dy: Tensor4D, saved: TfTensor[]) => {
            const sw = saved[0] as Tensor4D;
            return [convGradFilter(x, dy, sw.shape[0], sw.shape[1]), tf.sum(dy, [0, 1, 2])];
          },
        };
      }) as unknown as Parameters<typeof tf.customGrad>[0]) as (w: Tensor4D, b: Tensor1D) => Tensor4D
    )(w, b);
  return (x: Tensor4D, w: Tensor4D, b: Tensor1D, needDx: boolean): Tensor4D => (needDx ? withDx(x, w, b) : first(x, w, b));
}

/**
 * 2×2 max-pool, stride 2, with a working gradient. tfjs-backend-wasm 4.22's MaxPoolGrad kernel
 * starts each window's running maximum at FLT_MIN (the smallest positive float) rather than −∞:
 * a window whose values are all ≤ 0 gets no gradient at all (and among equal values it picks the
 * last). Both convolutions here feed a max-pool, so about 1/16 of the windows of random
 * activations, and every blank-background window of a digit, would lose their gradient. The
 * forward is tfjs's (XNNPACK, correct); the gradient is tfjs's own kernel run on the windows
 * shifted so that each window's maximum is exactly 1 (x − max + 1), which it handles correctly.
 */
const maxPool2 = tf.customGrad(((x: Tensor4D, save: GradSaveFunc) => {
  const y = tf.maxPool(x, 2, 2, 'valid');
  save([x, y]);
  return {
    value: y,
    gradFunc: (dy: Tensor4D, saved: TfTensor[]) => {
      const [sx, sy] = saved as [Tensor4D, Tensor4D];
      const [n, h, w, c] = sx.shape;
      const windows = tf.reshape(sx, [n, h / 2, 2, w / 2, 2, c]);
      const shifted = tf.reshape(tf.add(tf.sub(windows, tf.reshape(sy, [n, h / 2, 1, w / 2, 1, c])), 1), sx.shape);
      return tf.engine().runKernel('MaxPoolGrad', { dy, input: shifted, output: tf.onesLike(sy) }, { filterSize: 2, strides: 2, pad: 'valid' }) as Tensor4D;
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: Tensor4D) => Tensor4D;

const BN_LAYERS = ['l02_batchNorm', 'l04_batchNorm', 'l08_batchNorm'] as const;

interface TfjsTrainer {
  readonly name: string;
  /** loss and gradients of one batch, nothing updated (for the agreement check) */
  lossAndGrads(x: Float32Array, labels: Uint8Array): { loss: number; grads: Record<string, Float32Array> };
  /** `k` training steps; returns the losses */
  steps(k: number): number[];
  trace(): Trace;
  readonly vars: Record<string, Variable>;
}

/**
 * The tfjs float cnn-small, initialised from sttn's parameters (sttn's `l05_conv2d/w` is named
 * `l05_conv2d/w` here too; kernels OHWI → HWIO, dense [units, in] → [in, units]).
 */
function tfjsTrainer(dxVia: DxVia, init: Tree): TfjsTrainer {
  const conv = makeConv(dxVia);
  const vars: Record<string, Variable> = {};
  for (const [l, ps] of Object.entries(init)) {
    for (const [k, v] of Object.entries(ps)) {
      let t: TfTensor = tf.tensor(v.data as Float32Array, [...v.shape]);
      if (k === 'w' && v.shape.length === 4) t = tf.transpose(t, [1, 2, 3, 0]);
      if (k === 'w' && v.shape.length === 2) t = tf.transpose(t);
      vars[`${l}/${k}`] = tf.variable(t, true, `${dxVia}/${l}/${k}`);
    }
  }
  const running: Record<string, { mean: Variable; variance: Variable }> = {};
  for (const l of BN_LAYERS) {
    const c = vars[`${l}/gamma`].shape[0];
    running[l] = { mean: tf.variable(tf.zeros([c]), false), variance: tf.variable(tf.ones([c]), false) };
  }
  const optimizer = tf.train.adam(cfg.optimizer.lr, cfg.optimizer.beta1, cfg.optimizer.beta2, cfg.optimizer.epsilon);
  let step = 0;
  let tracing: Trace | null = null;
  /** batch statistics of this forward: [layer, mean, variance, elements per channel], kept for the running averages */
  let stats: [string, TfTensor, TfTensor, number][] = [];

  const bn = (l: string, x: Tensor4D): Tensor4D => {
    const mean = tf.mean(x, [0, 1, 2]);
    const xc = tf.sub(x, mean);
    const variance = tf.mean(tf.square(xc), [0, 1, 2]);
    stats.push([l, tf.keep(mean), tf.keep(variance), x.size / x.shape[3]]);
    return tf.add(tf.mul(xc, tf.mul(vars[`${l}/gamma`], tf.rsqrt(tf.add(variance, EPS_BN)))), vars[`${l}/beta`]);
  };
  const rec = <T extends TfTensor>(t: T): T => {
    tracing?.outShapes.push(t.shape.slice(1));
    return t;
  };
  const convL = (l: string, x: Tensor4D, needDx: boolean): Tensor4D => {
    const w = vars[`${l}/w`] as unknown as Tensor4D;
    const y = conv(x, w, vars[`${l}/b`] as unknown as Tensor1D, needDx);
    tracing?.gemms.push({ kind: 'conv', macs: y.shape[0] * y.shape[1] * y.shape[2] * y.shape[3] * w.shape[0] * w.shape[1] * w.shape[2], needDx });
    return y;
  };
  const lossOf = (x: Tensor4D, labels: Uint8Array): TfTensor<Rank.R0> => {
    let y = rec(convL('l00_conv2d', x, false));
    y = rec(maxPool2(y));
    y = rec(bn('l02_batchNorm', y));
    y = rec(tf.relu(y));
    y = rec(bn('l04_batchNorm', y));
    y = rec(convL('l05_conv2d', y, true));
    y = rec(maxPool2(y));
    y = rec(tf.relu(y));
    y = rec(bn('l08_batchNorm', y));
    const flat = rec(tf.reshape(y, [y.shape[0], -1]) as Tensor2D);
    const wd = vars['l10_dense/w'] as unknown as Tensor2D;
    const logits = rec(tf.add(tf.matMul(flat, wd), vars['l10_dense/b']) as Tensor2D);
    tracing?.gemms.push({ kind: 'dense', macs: flat.shape[0] * wd.shape[0] * wd.shape[1], needDx: true });
    const onehot = tf.oneHot(tf.tensor1d(Array.from(labels), 'int32'), logits.shape[1]);
    return tf.losses.softmaxCrossEntropy(onehot, logits) as TfTensor<Rank.R0>;
  };
  const gradsOf = (xd: Float32Array, labels: Uint8Array) => {
    stats = [];
    const x = tf.tensor4d(xd, [labels.length, 28, 28, 1]);
    const r = tf.variableGrads(() => lossOf(x, labels), Object.values(vars));
    x.dispose();
    return r;
  };
  const dropStats = (): void => {
    for (const [, m, v] of stats) tf.dispose([m, v]);
    stats = [];
  };
  return {
    name: `tfjs-wasm, dX by ${dxVia}`,
    vars,
    trace() {
      tracing = { outShapes: [], gemms: [] };
      const b = batchAt(0);
      tf.tidy(() => {
        const x = tf.tensor4d(b.x, [b.labels.length, 28, 28, 1]);
        stats = [];
        lossOf(x, b.labels);
      });
      dropStats();
      const t = tracing;
      tracing = null;
      return t;
    },
    lossAndGrads(xd, labels) {
      const { value, grads } = gradsOf(xd, labels);
      dropStats();
      const out: Record<string, Float32Array> = {};
      for (const [k, v] of Object.entries(vars)) out[k] = grads[v.name].dataSync() as Float32Array;
      const loss = value.dataSync()[0];
      tf.dispose([value, ...Object.values(grads)]);
      return { loss, grads: out };
    },
    steps(k) {
      const losses: number[] = [];
      for (let i = 0; i < k; i++) {
        const b = batchAt(step);
        const { value, grads } = gradsOf(b.x, b.labels);
        tf.tidy(() => {
          const g: Record<string, TfTensor> = {};
          for (const v of Object.values(vars)) g[v.name] = tf.add(grads[v.name], tf.mul(v, cfg.optimizer.weightDecay));
          optimizer.applyGradients(g as unknown as Record<string, Variable>);
          for (const [l, mean, variance, elems] of stats) {
            const r = running[l];
            r.mean.assign(tf.add(tf.mul(r.mean, MOMENTUM_BN), tf.mul(mean, 1 - MOMENTUM_BN)));
            r.variance.assign(tf.add(tf.mul(r.variance, MOMENTUM_BN), tf.mul(variance, ((1 - MOMENTUM_BN) * elems) / (elems - 1))));
          }
        });
        dropStats();
        losses.push(value.dataSync()[0]);
        tf.dispose([value, ...Object.values(grads)]);
        step++;
      }
      return losses;
    },
  };
}

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

const sttnGemm = sttnGemms(sttnF.model);
const expectShapes = sttnF.model.shapes.slice(1).map((s) => s.join('×'));
const checks: string[] = [];
for (const t of TFJS) {
  const tr = t.trace();
  const got = tr.outShapes.map((s) => s.join('×'));
  if (got.join(' ') !== expectShapes.join(' ')) throw new Error(`${t.name}: layer output shapes ${got.join(', ')} differ from sttn's ${expectShapes.join(', ')}`);
  const [a, b] = [stepFlops(tr.gemms), stepFlops(sttnGemm)];
  if (a !== b) throw new Error(`${t.name}: ${a} FLOP per step, sttn ${b}`);
}
const FLOPS = stepFlops(sttnGemm);
checks.push(`layer output shapes (per example) on both sides: ${expectShapes.join(' → ')}`);
checks.push(`GEMM FLOPs per step (forward + weight gradients + input gradients but the first conv's), both sides: ${fmt(FLOPS / 1e9, 3)} GFLOP`);
if (stepFlops(sttnGemms(sttnT.model)) !== FLOPS) throw new Error('2+2 and 32+32 differ in FLOPs');

// Same loss and gradients from the same parameters on one batch. Gradients are compared on a
// batch of uniform noise images: on digits, exact ties inside pooling windows (blank background)
// are common and sttn sends a tied window's gradient to its first maximum, tfjs's kernel to its
// last — both valid subgradients, different numbers. On the digits batch the losses are compared.
{
  const m = sttnF.model;
  const s0 = sttnF.initial;
  const sttnLossGrads = (x: Float32Array, labels: Uint8Array) => {
    const f = forward(B, m, s0.params, s0.state, { shape: [BATCH, 28, 28, 1], data: x }, { training: true, rng: derive(cfg.seed, STREAM.DROPOUT, 0) });
    const l = softmaxCrossEntropy(B, f.logits, labels);
    return { loss: l.loss, grads: backward(B, m, s0.params, f.res, l.dlogits) };
  };
  const digits = batchAt(0);
  const noise = randomF32(BATCH * 28 * 28, 7).map((v) => (v + 1) / 2);
  const sd = sttnLossGrads(digits.x, digits.labels);
  const sn = sttnLossGrads(noise, digits.labels);
  // sttn's gradients in tfjs's layouts. Each tensor's error is max |Δ| / max(max |g|, 1% of the
  // largest gradient of the model): conv1's bias and the first batch norm's γ have gradient 0
  // (a batch norm follows and cancels a per-channel shift, resp. a positive scale passed through
  // ReLU), so theirs is rounding noise. The tolerance, 2%, leaves room for max-pool near-ties: the
  // two libraries' forward values differ by ~1e-5 relative, so a window whose top two values are
  // that close routes its gradient to a different element (2 of the 200,704 windows of conv2 on
  // this batch, moving conv2's dW by ~0.5%); a wrong gradient formula shows as O(1).
  const refs = new Map<string, Float32Array>();
  let global = 0;
  for (const [layer, ps] of Object.entries(sn.grads)) {
    for (const [k, v] of Object.entries(ps)) {
      let ref = v.data as Float32Array;
      if (k === 'w') ref = tf.tidy(() => tf.transpose(tf.tensor(ref, [...v.shape]), v.shape.length === 4 ? [1, 2, 3, 0] : [1, 0]).dataSync() as Float32Array);
      refs.set(`${layer}/${k}`, ref);
      for (const x of ref) global = Math.max(global, Math.abs(x));
    }
  }
  for (const t of TFJS) {
    const ld = t.lossAndGrads(digits.x, digits.labels).loss;
    const r = t.lossAndGrads(noise, digits.labels);
    let worst = 0;
    let worstAt = '';
    if (Object.keys(r.grads).length !== refs.size) throw new Error(`${t.name} has ${Object.keys(r.grads).length} parameter tensors, sttn ${refs.size}`);
    for (const [key, ref] of refs) {
      const got = r.grads[key];
      if (got === undefined || got.length !== ref.length) throw new Error(`${t.name}: no gradient ${key} of ${ref.length} values`);
      let num = 0;
      let den = 1e-2 * global;
      for (let i = 0; i < ref.length; i++) {
        num = Math.max(num, Math.abs(got[i] - ref[i]));
        den = Math.max(den, Math.abs(ref[i]));
      }
      const e = num / den;
      if (!(e <= worst)) [worst, worstAt] = [e, key];
    }
    const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
    if (!(rel(ld, sd.loss) < 1e-4 && rel(r.loss, sn.loss) < 1e-4 && worst < 2e-2)) {
      throw new Error(`${t.name} disagrees with sttn 32+32: loss ${ld} vs ${sd.loss} (digits), ${r.loss} vs ${sn.loss} (noise); worst gradient ${worstAt} (max relative difference ${worst})`);
    }
    checks.push(
      `${t.name}: from sttn 32+32's initial parameters, loss on the first digits batch ${fmt(ld, 5)} vs sttn ${fmt(sd.loss, 5)}; ` +
        `on a noise batch ${fmt(r.loss, 5)} vs ${fmt(sn.loss, 5)}, and all ${refs.size} parameter gradients agree to ${worst.toExponential(1)} (max |Δ| / max |g| per tensor, worst ${worstAt})`,
    );
  }
}

// The warm-up steps, checked: the losses fall and tfjs holds no more tensors than before.
const mean = (xs: readonly number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
const head = (xs: number[]) => mean(xs.slice(0, 5));
const tail = (xs: number[]) => mean(xs.slice(-5));
for (const t of TFJS) {
  t.steps(1);
  const before = tf.memory().numTensors;
  const losses = t.steps(WARM - 1);
  const after = tf.memory().numTensors;
  if (after !== before) throw new Error(`${t.name} leaks tensors: ${before} before ${WARM - 1} steps, ${after} after`);
  if (!QUICK && !(tail(losses) < 0.6 * head(losses))) throw new Error(`${t.name} does not train: losses ${losses.map((x) => fmt(x, 3)).join(' ')}`);
  checks.push(`${t.name} trains: mean loss of steps 2–6 ${fmt(head(losses), 3)}, of steps ${WARM - 4}–${WARM} ${fmt(tail(losses), 3)}; ${after} tensors held before and after`);
}
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
console.log(`load average (1, 5, 15 min) before the timed rounds ${loadBefore.map((x) => x.toFixed(2)).join(' ')}, after ${loadAfter.map((x) => x.toFixed(2)).join(' ')}`);
console.log(`cnn-small, batch ${BATCH}; ${WARM} warm-up steps per contender, then ${ROUNDS} round-robin rounds of ${STEPS} steps per contender; medians over rounds\n`);
for (const c of checks) console.log(`- ${c}`);
console.log('');
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
