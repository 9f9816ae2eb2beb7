/**
 * Softmax cross-entropy over logits `[batch, classes]` with integer labels, computed stably
 * (log-sum-exp with the row maximum subtracted), averaged over the batch.
 *
 *   L = (1/N)·Σ_n [ logsumexp(z_n) − z_n,y_n ],   dL/dz = (softmax(z) − onehot(y)) / N.
 *
 * Law (laws/loss.test.ts): the gradient equals the finite differences of the loss; the loss is
 * invariant under adding a constant to a row; huge logits give finite values; a label out of range
 * or a non-finite logit is an error naming the index.
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

export function softmaxCrossEntropy(B: Backend, logits: Tensor, labels: ArrayLike<number>): LossResult {
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
  // one-hot and the per-row pick are O(n) on the plain data
  const onehot = alloc(B.dtype, n * k);
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    onehot[i * k + y] = 1;
    loss += logSum.data[i] - shifted.data[i * k + y];
    let best = 0;
    for (let j = 1; j < k; j++) if (logits.data[i * k + j] > logits.data[i * k + best]) best = j;
    if (best === y) correct++;
  }
  const dlogits = B.scalar('mul', B.binary('sub', p, { shape: [n, k], data: onehot }), 1 / n);
  return { loss: loss / n, dlogits, correct };
}
