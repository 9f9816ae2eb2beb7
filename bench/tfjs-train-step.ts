/**
 * The tfjs side of the training benchmarks, shared by bench/train.ts (Node, tfjs-wasm at one
 * thread) and bench/browser-train.ts (a cross-origin isolated page, tfjs-wasm's threaded build):
 * the cnn-small training step written in @tensorflow/tfjs-core, the batches both sides train on
 * (sttn's own pipeline), and the checks run before timing. Browser-safe: no `node:` import; `tf`
 * is passed in (Node loads tfjs-core's CommonJS bundle, a page its ES build).
 *
 * The network: the same layer list as `preset('cnn-small')` (conv3×3 1→32 + bias, max-pool 2,
 * batch norm, ReLU, batch norm, conv3×3 32→64 + bias, max-pool 2, ReLU, batch norm, flatten,
 * dense 10), NHWC, HWIO kernels, float32; batch norm in training mode with batch statistics
 * (written from elementwise ops and means: faster under tfjs's autodiff than `tf.moments` +
 * `tf.batchNorm`, whose gradient tiles 1/σ to the full tensor), running statistics updated with
 * momentum 0.9; softmax cross-entropy; gradients by `tf.variableGrads`, weight decay added to the
 * gradients, `tf.train.adam` at the config's rate (constant: the schedule costs nothing).
 *
 * Its convolutions are `tf.customGrad` ops: forward `tf.conv2d` + bias; weight gradient from
 * matmuls, since tfjs-backend-wasm has no Conv2DBackpropFilter — per kernel offset, the shifted
 * slice of the padded input, transposed, times dY (9 products; cheaper here than concatenating
 * the slices into one im2col matrix), and for the one-channel first layer im2col as a conv2d
 * with a one-hot kernel, then one product; input gradient either by the backend's
 * Conv2DBackpropInput kernel (`tf.conv2dTranspose`) or as a forward `tf.conv2d` of dY with the
 * flipped, in/out-swapped kernel (valid for stride 1, same padding), which runs on the much
 * faster XNNPACK Conv2D kernel. The first convolution's input gradient is never computed (nor is
 * it in sttn's backward). Its max-pools are `tf.maxPool` with a gradient that works around a bug
 * of the backend (see `maxPool2`).
 *
 * A benchmark, not a law: the checks here (shapes, FLOPs, agreement with sttn's loss and
 * gradients, the loss falls, no tensor leaks) stop a run that would time the wrong thing.
 */
import type { GradSaveFunc, Rank, Tensor as TfTensor, Tensor1D, Tensor2D, Tensor4D, Variable } from '@tensorflow/tfjs-core';
import type * as TfCore from '@tensorflow/tfjs-core';
import type { Backend } from '../src/backend.js';
import { augment } from '../src/data/augment.js';
import { epochIndices, gather } from '../src/data/batches.js';
import type { Dataset } from '../src/data/dataset.js';
import { backward, forward, type Model } from '../src/models/model.js';
import { derive } from '../src/random.js';
import { softmaxCrossEntropy } from '../src/train/loss.js';
import type { Tree } from '../src/train/optim.js';
import { STREAM, type TrainConfig, type TrainState } from '../src/train/train.js';

export type Tf = typeof TfCore;

const EPS_BN = 1e-5;
const MOMENTUM_BN = 0.9;

export interface Batch {
  readonly x: Float32Array;
  readonly labels: Uint8Array;
}

/** The batch of global step `step`, exactly as `train()` builds it (order, gather, augment). */
export function batchSource(data: Dataset, cfg: TrainConfig): (step: number) => Batch {
  const n = data.images.shape[0];
  const batch = cfg.batchSize;
  const orders = new Map<number, Int32Array[]>();
  return (step) => {
    const spe = Math.ceil(n / batch);
    const epoch = Math.floor(step / spe);
    let order = orders.get(epoch);
    if (order === undefined) {
      orders.clear();
      order = epochIndices(n, batch, derive(cfg.seed, STREAM.ORDER, epoch));
      orders.set(epoch, order);
    }
    const b = gather(data, order[step % spe]);
    const x = augment(b.images, derive(cfg.seed, STREAM.AUGMENT, step), { pad: cfg.augmentPad, flip: cfg.augmentFlip });
    return { x: x.data as Float32Array, labels: b.labels };
  };
}

// ---------------------------------------------------------------------------------------------
// Shapes and FLOPs

export interface GemmLayer {
  readonly kind: 'conv' | 'dense';
  /** multiply-adds of one product (forward; dW and dX cost the same each) */
  readonly macs: number;
  readonly needDx: boolean;
}
export const stepFlops = (ls: readonly GemmLayer[]): number => ls.reduce((s, l) => s + 2 * l.macs * (l.needDx ? 3 : 2), 0);

/** The GEMM layers of an sttn model at batch `batch`, from its spec and its checked shapes. */
export function sttnGemms(m: Model, batch: number): GemmLayer[] {
  const out: GemmLayer[] = [];
  m.spec.layers.forEach((l, i) => {
    const [inS, outS] = [m.shapes[i], m.shapes[i + 1]];
    if (l.type === 'conv2d') {
      const [kh, kw] = (l as { kernelSize: readonly number[] }).kernelSize;
      out.push({ kind: 'conv', macs: batch * outS[0] * outS[1] * outS[2] * kh * kw * inS[2], needDx: i > 0 });
    } else if (l.type === 'dense') {
      out.push({ kind: 'dense', macs: batch * inS[0] * outS[0], needDx: i > 0 });
    } else if (l.type === 'residual') {
      throw new Error('not a cnn-small layer');
    }
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// The tfjs network

export type DxVia = 'Conv2DBackpropInput' | 'conv2d of flipped kernel';

/** Shapes the tfjs forward records on demand: per-layer outputs and the GEMM layers. */
export interface Trace {
  outShapes: number[][];
  gemms: GemmLayer[];
}

export interface TfjsTrainer {
  readonly name: string;
  /** loss and gradients of one batch, nothing updated (for the agreement check) */
  lossAndGrads(x: Float32Array, labels: Uint8Array): { loss: number; grads: Record<string, Float32Array> };
  /** `k` training steps; returns the losses */
  steps(k: number): number[];
  trace(): Trace;
  readonly vars: Record<string, Variable>;
}

const BN_LAYERS = ['l02_batchNorm', 'l04_batchNorm', 'l08_batchNorm'] as const;

/**
 * The tfjs float cnn-small on `tf` (its backend already set), trained with `cfg`'s Adam and weight
 * decay on the batches of `batchAt`: `trainer(dxVia, init)` initialises one from sttn's parameters
 * (sttn's `l05_conv2d/w` is named `l05_conv2d/w` here too; kernels OHWI → HWIO, dense
 * [units, in] → [in, units]).
 */
export function tfjsCnnSmall(tf: Tf, cfg: TrainConfig, batchAt: (step: number) => Batch): { trainer(dxVia: DxVia, init: Tree): TfjsTrainer } {
  if (cfg.optimizer.kind !== 'adam') throw new Error('the tfjs step is written for Adam');
  const opt = cfg.optimizer;

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

  function trainer(dxVia: DxVia, init: Tree): TfjsTrainer {
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
    const optimizer = tf.train.adam(opt.lr, opt.beta1, opt.beta2, opt.epsilon);
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
            for (const v of Object.values(vars)) g[v.name] = tf.add(grads[v.name], tf.mul(v, opt.weightDecay));
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
  return { trainer };
}

// ---------------------------------------------------------------------------------------------
// Checks before timing (each throws where the run would time the wrong thing; returns what it checked)

/**
 * Every tfjs trainer's layer output shapes equal the sttn model's, and so do its per-step GEMM
 * FLOPs (computed from the shapes each side actually uses). Returns the FLOPs and the two lines.
 */
export function checkShapesAndFlops(trainers: readonly TfjsTrainer[], model: Model, batch: number): { flops: number; checks: string[] } {
  const sttnGemm = sttnGemms(model, batch);
  const expectShapes = model.shapes.slice(1).map((s) => s.join('×'));
  for (const t of trainers) {
    const tr = t.trace();
    const got = tr.outShapes.map((s) => s.join('×'));
    if (got.join(' ') !== expectShapes.join(' ')) throw new Error(`${t.name}: layer output shapes ${got.join(', ')} differ from sttn's ${expectShapes.join(', ')}`);
    const [a, b] = [stepFlops(tr.gemms), stepFlops(sttnGemm)];
    if (a !== b) throw new Error(`${t.name}: ${a} FLOP per step, sttn ${b}`);
  }
  const flops = stepFlops(sttnGemm);
  return {
    flops,
    checks: [
      `layer output shapes (per example) on both sides: ${expectShapes.join(' → ')}`,
      `GEMM FLOPs per step (forward + weight gradients + input gradients but the first conv's), both sides: ${(flops / 1e9).toFixed(3)} GFLOP`,
    ],
  };
}

/**
 * Same loss and gradients from the same parameters on one batch: sttn (model `model` from state
 * `s0` on backend `B`) against every tfjs trainer initialised from `s0.params`. Gradients are
 * compared on `noise` (uniform images): on digits, exact ties inside pooling windows (blank
 * background) are common and sttn sends a tied window's gradient to its first maximum, tfjs's
 * kernel to its last — both valid subgradients, different numbers. On `digits` the losses are
 * compared.
 */
export function checkAgreement(
  tf: Tf,
  trainers: readonly TfjsTrainer[],
  on: { readonly B: Backend; readonly model: Model; readonly s0: TrainState; readonly cfg: TrainConfig },
  digits: Batch,
  noise: Float32Array,
): string[] {
  const { B, model: m, s0, cfg } = on;
  const n = digits.labels.length;
  const sttnLossGrads = (x: Float32Array, labels: Uint8Array) => {
    const f = forward(B, m, s0.params, s0.state, { shape: [n, 28, 28, 1], data: x }, { training: true, rng: derive(cfg.seed, STREAM.DROPOUT, 0) });
    const l = softmaxCrossEntropy(B, f.logits, labels);
    return { loss: l.loss, grads: backward(B, m, s0.params, f.res, l.dlogits) };
  };
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
  const checks: string[] = [];
  for (const t of trainers) {
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
      `${t.name}: from sttn 32+32's initial parameters, loss on the first digits batch ${ld.toFixed(5)} vs sttn ${sd.loss.toFixed(5)}; ` +
        `on a noise batch ${r.loss.toFixed(5)} vs ${sn.loss.toFixed(5)}, and all ${refs.size} parameter gradients agree to ${worst.toExponential(1)} (max |Δ| / max |g| per tensor, worst ${worstAt})`,
    );
  }
  return checks;
}

const mean = (xs: readonly number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
/** mean loss of the first five steps */
export const head = (xs: readonly number[]): number => mean(xs.slice(0, 5));
/** mean loss of the last five steps */
export const tail = (xs: readonly number[]): number => mean(xs.slice(-5));

/**
 * `warm` warm-up steps of a tfjs trainer, checked: it holds no more tensors after the last
 * `warm − 1` than before them, and (unless `quick`) the mean loss of its last five steps is
 * below 0.6× that of its first five. Returns the line saying so and the losses.
 */
export function warmUpTfjs(tf: Tf, t: TfjsTrainer, warm: number, quick: boolean): { check: string; losses: number[] } {
  t.steps(1);
  const before = tf.memory().numTensors;
  const losses = t.steps(warm - 1);
  const after = tf.memory().numTensors;
  if (after !== before) throw new Error(`${t.name} leaks tensors: ${before} before ${warm - 1} steps, ${after} after`);
  if (!quick && !(tail(losses) < 0.6 * head(losses))) throw new Error(`${t.name} does not train: losses ${losses.map((x) => x.toFixed(3)).join(' ')}`);
  return {
    check: `${t.name} trains: mean loss of steps 2–6 ${head(losses).toFixed(3)}, of steps ${warm - 4}–${warm} ${tail(losses).toFixed(3)}; ${after} tensors held before and after`,
    losses,
  };
}
