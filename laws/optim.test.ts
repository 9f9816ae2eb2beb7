/**
 * Laws of the optimizers (src/train/optim.ts): one Adam step equals the formula computed by hand;
 * from a fresh state a zero gradient without weight decay moves no parameter (SGD and Adam); the
 * cosine schedule starts at lr, halves at the midpoint and ends at 0, never rising; latent
 * clipping clamps only the parameters the predicate selects.
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { cpu64 } from '../backends/cpu.js';
import { orThrow } from '../src/codec.js';
import { tensor, tensorEqual } from '../src/tensor.js';
import { initOptimizer, learningRate, mapTree, OptimizerConfig, step as optStep, type Tree } from '../src/train/optim.js';
import { tensorOf } from './gradcheck.js';
import { example, law } from './law.js';

const B = cpu64;

const configOf = (raw: unknown): OptimizerConfig =>
  orThrow(E.mapLeft((e: unknown) => e as Error)(OptimizerConfig.decode(raw)) as E.Either<Error, OptimizerConfig>);

example('Adam: one step equals the formula computed by hand', () => {
  const cfg = configOf({ lr: 0.1, weightDecay: 0.01, schedule: 'constant' });
  const params: Tree = { l: { w: tensor([2], [1, -2]) } };
  const grads: Tree = { l: { w: tensor([2], [0.5, 0.25]) } };
  const r = optStep(B, cfg, initOptimizer(B, cfg, params), params, grads, 10);
  const want = [1, -2].map((p, i) => {
    const g = [0.5, 0.25][i] + 0.01 * p;
    const m = 0.1 * g / (1 - 0.9);
    const v = 0.001 * g * g / (1 - 0.999);
    return p - 0.1 * m / (Math.sqrt(v) + 1e-8);
  });
  return Math.abs(r.params.l.w.data[0] - want[0]) < 1e-12 && Math.abs(r.params.l.w.data[1] - want[1]) < 1e-12 && r.state.step === 1;
});

example('SGD with a cosine schedule: lr halves at the midpoint; latent clipping clamps only selected parameters', () => {
  const cfg = configOf({ kind: 'sgd', lr: 1, momentum: 0, weightDecay: 0, latentClip: 1 });
  const params: Tree = { l: { w: tensor([1], [0]), b: tensor([1], [0]) } };
  const grads: Tree = { l: { w: tensor([1], [-3]), b: tensor([1], [-3]) } };
  const st = { ...initOptimizer(B, cfg, params), step: 5 };
  const r = optStep(B, cfg, st, params, grads, 10, (_l, k) => k === 'w');
  return r.params.l.w.data[0] === 1 && Math.abs(r.params.l.b.data[0] - 1.5) < 1e-12;
});

law('from a fresh state, a zero gradient without weight decay moves no parameter (SGD and Adam, any lr, momentum, schedule)', [
  fc.constantFrom('sgd', 'adam'),
  fc.double({ min: 1e-4, max: 10, noNaN: true }),
  fc.double({ min: 0, max: 0.99, noNaN: true }),
  fc.constantFrom('constant', 'cosine'),
  tensorOf([2, 3], fc.double({ min: -5, max: 5, noNaN: true })),
  tensorOf([4], fc.double({ min: -5, max: 5, noNaN: true })),
], (kind, lr, momentum, schedule, w, b) => {
  const cfg = configOf({ kind, lr, momentum, schedule, weightDecay: 0 });
  const params: Tree = { l: { w, b } };
  const zero = mapTree(params, (p) => B.scalar('mul', p, 0));
  const r = optStep(B, cfg, initOptimizer(B, cfg, params), params, zero, 10);
  return tensorEqual(r.params.l.w, w) && tensorEqual(r.params.l.b, b) && r.state.step === 1;
});

law('the cosine schedule: lr at step 0, lr/2 at the midpoint, 0 at the end, never rising', [
  fc.double({ min: 1e-4, max: 10, noNaN: true }),
  fc.integer({ min: 1, max: 1000 }),
], (lr, total) => {
  const cfg = configOf({ lr, schedule: 'cosine' });
  const at = (t: number) => learningRate(cfg, t, total);
  const mono = Array.from({ length: Math.min(total, 50) + 1 }, (_, i) => at(Math.round((i * total) / Math.min(total, 50))));
  return (
    at(0) === lr &&
    Math.abs(at(total / 2) - lr / 2) <= 1e-12 * lr &&
    Math.abs(at(total)) <= 1e-12 * lr &&
    mono.every((v, i) => i === 0 || v <= mono[i - 1]) &&
    learningRate(configOf({ lr, schedule: 'constant' }), total / 2, total) === lr
  );
});
