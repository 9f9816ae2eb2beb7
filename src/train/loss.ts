/**
 * Softmax cross-entropy over logits `[batch, classes]` with integer labels, computed stably
 * (log-sum-exp with the row maximum subtracted), averaged over the batch.
 *
 *   L = (1/N)·Σ_n [ logsumexp(z_n) − Σ_j q_n,j·z_n,j ],   dL/dz = (softmax(z) − q) / N,
 *
 * with targets q = (1 − ε)·onehot(y) + ε/K: ε = 0 (the default) is plain cross-entropy, ε > 0
 * label smoothing (Szegedy et al., 2016), which pulls each row's probabilities toward uniform by ε.
 * The loss is computed with q in float64, the gradient with q stored in the backend's dtype (they
 * differ by its rounding). A smoothed loss cannot fall below the entropy of q (≈ 0.5 for ε = 0.1,
 * K = 10), so it is not comparable with an unsmoothed one (evaluation reports the plain loss).
 *
 * Law (laws/loss.test.ts): the gradient equals the finite differences of the loss, with and
 * without smoothing; smoothing 0 is plain cross-entropy bit for bit; the loss is invariant under
 * adding a constant to a row; huge logits give finite values; a label out of range, a non-finite
 * logit or a smoothing outside [0, 1) is an error naming it.
 */
import type { Backend } from '../backend.js';
import { ConfigError, NonFiniteError, ShapeError } from '../errors.js';
import { alloc, type Tensor } from '../tensor.js';

export interface LossResult {
  /** mean loss over the batch */
  readonly loss: number;
  /** dL/dlogits */
  readonly dlogits: Tensor;
  /** how many rows have their label as the (first) largest logit */
  readonly correct: number;
}

export function softmaxCrossEntropy(B: Backend, logits: Tensor, labels: ArrayLike<number>, smoothing = 0): LossResult {
  if (typeof smoothing !== 'number' || !(smoothing >= 0 && smoothing < 1)) throw new ConfigError('label smoothing', `must be a number in [0, 1), got ${smoothing}`);
  if (logits.shape.length !== 2) throw new ShapeError('logits', '[batch, classes]', logits.shape);
  const [n, k] = logits.shape;
  if (labels.length !== n) throw new ShapeError('labels (one per row of logits)', [n], [labels.length]);
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    if (!Number.isInteger(y) || y < 0 || y >= k) throw new ConfigError(`labels[${i}]`, `must be an integer class in [0, ${k}), got ${y}`);
  }
  for (let i = 0; i < logits.data.length; i++) {
    if (!Number.isFinite(logits.data[i])) throw new NonFiniteError('logits', i, logits.data[i]);
  }
  const rowMax = B.reduce('max', logits, 1);
  const shifted = B.binary('sub', logits, rowMax, 0);
  const e = B.unary('exp', shifted);
  const sum = B.reduce('sum', e, 1);
  const p = B.binary('div', e, sum, 0);
  const logSum = B.unary('log', sum);
  // the targets and the per-row pick are O(n·k) on the plain data
  const target = alloc(B.dtype, n * k);
  const off = smoothing / k;
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    if (smoothing === 0) {
      target[i * k + y] = 1;
      loss += logSum.data[i] - shifted.data[i * k + y];
    } else {
      let picked = 0;
      for (let j = 0; j < k; j++) {
        const q = j === y ? 1 - smoothing + off : off;
        target[i * k + j] = q;
        picked += q * shifted.data[i * k + j];
      }
      loss += logSum.data[i] - picked;
    }
    let best = 0;
    for (let j = 1; j < k; j++) if (logits.data[i * k + j] > logits.data[i * k + best]) best = j;
    if (best === y) correct++;
  }
  const dlogits = B.scalar('mul', B.binary('sub', p, { shape: [n, k], data: target }), 1 / n);
  return { loss: loss / n, dlogits, correct };
}
