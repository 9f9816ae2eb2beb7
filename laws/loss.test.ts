/**
 * Laws of the softmax cross-entropy (src/train/loss.ts): its gradient equals the finite
 * differences of the loss (with and without label smoothing), the smoothed loss is the documented
 * mixture of cross-entropy and the uniform target's, the loss is invariant under adding a constant to every logit, huge
 * logits stay finite (stable log-sum-exp), and a bad label or logit is an error naming it.
 */
import fc from 'fast-check';
import { cpu64 } from '../backends/cpu.js';
import { ConfigError, NonFiniteError } from '../src/errors.js';
import { tensor, type Tensor } from '../src/tensor.js';
import { softmaxCrossEntropy } from '../src/train/loss.js';
import { gradsClose, numericVjp, tensorOf } from './gradcheck.js';
import { example, law, throwsWith } from './law.js';

const B = cpu64;

const logitsCase = fc.record({ n: fc.integer({ min: 1, max: 4 }), k: fc.integer({ min: 2, max: 5 }) }).chain(({ n, k }) =>
  fc.record({
    z: tensorOf([n, k], fc.double({ min: -5, max: 5, noNaN: true })),
    y: fc.array(fc.integer({ min: 0, max: k - 1 }), { minLength: n, maxLength: n }),
    c: fc.double({ min: -50, max: 50, noNaN: true }),
    eps: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.95, noNaN: true })),
  }),
);

law('softmax cross-entropy: dL/dz equals the finite differences of L, label smoothing ε drawn (0 included)', [logitsCase], ({ z, y, eps }) => {
  const got = softmaxCrossEntropy(B, z, y, eps).dlogits;
  const one = [tensor([], [1])];
  const num = numericVjp((p: { z: Tensor }) => [tensor([], [softmaxCrossEntropy(B, p.z, y, eps).loss])], { z }, one);
  return gradsClose({ z: got }, num, 1e-5, 1e-8, 'xent');
});

law('label smoothing: L_ε = (1 − ε)·L_0 + ε·mean_n(logsumexp(z_n) − mean_j z_n,j), and the same correct count', [logitsCase], ({ z, y, eps }) => {
  const [n, k] = z.shape;
  let uniform = 0;
  for (let i = 0; i < n; i++) {
    const row = Array.from(z.data.subarray(i * k, (i + 1) * k));
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
    uniform += lse - row.reduce((a, v) => a + v, 0) / k;
  }
  const plain = softmaxCrossEntropy(B, z, y);
  const smooth = softmaxCrossEntropy(B, z, y, eps);
  return Math.abs(smooth.loss - ((1 - eps) * plain.loss + (eps * uniform) / n)) < 1e-9 && smooth.correct === plain.correct;
});

example('label smoothing outside [0, 1) is a ConfigError naming it', () =>
  [-0.1, 1, 2, NaN, '0.1' as unknown as number, null as unknown as number].every((e) => throwsWith(() => softmaxCrossEntropy(B, tensor([1, 3], [0, 0, 0]), [1], e), ConfigError, 'label smoothing')));

law('softmax cross-entropy: invariant under adding a constant to every logit', [logitsCase], ({ z, y, c }) =>
  Math.abs(softmaxCrossEntropy(B, z, y).loss - softmaxCrossEntropy(B, B.scalar('add', z, c), y).loss) < 1e-9);

example('softmax cross-entropy: huge logits stay finite (stable log-sum-exp)', () => {
  const r = softmaxCrossEntropy(B, tensor([1, 3], [1000, -1000, 999]), [2]);
  return Math.abs(r.loss - Math.log(1 + Math.exp(1))) < 1e-12 && r.dlogits.data.every(Number.isFinite);
});

example('softmax cross-entropy: a label out of range and a NaN logit are named', () =>
  throwsWith(() => softmaxCrossEntropy(B, tensor([1, 3], [0, 0, 0]), [3]), ConfigError, 'labels[0]', '[0, 3)') &&
  throwsWith(() => softmaxCrossEntropy(B, tensor([1, 3], [0, NaN, 0]), [1]), NonFiniteError, 'logits', 'index 1'));
