/**
 * Optimizers as one map over two trees of the same type (parameters and gradients), with their
 * state (slots) as trees of that type too, so everything is plain data for checkpoints.
 *
 * - Adam (Kingma & Ba; the paper: lr 0.005, weight decay 1e-6 added to the gradient as L2, as
 *   PyTorch's Adam does): m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g², p ← p − lr·m̂/(√v̂ + ε).
 * - SGD with momentum: u ← μ·u + g, p ← p − lr·u.
 * - Schedules: constant, or cosine decay lr_t = lr·½(1 + cos(π·t/T)).
 * - Optional latent-weight clipping to [−c, c] after each step for the parameters a predicate
 *   selects (the official STTN code clips latent weights to [−1, 1]).
 *
 * Law (laws/optim.test.ts): one Adam step equals the formula computed by hand; from a fresh state
 * a zero gradient without weight decay moves no parameter (SGD and Adam); the cosine schedule
 * starts at lr, halves at the midpoint, ends at 0 and never rises; latent clipping clamps only
 * the selected parameters. (laws/run-checkpoint.test.ts): the slots round-trip through a
 * checkpoint file bit for bit.
 */
import * as t from 'io-ts';
import type { Backend } from '../backend.js';
import { NonNegativeNumber, oneOf, PositiveNumber, refinedNumber, withDefaults } from '../codec.js';
import type { Params } from '../quantizers/common.js';
import type { Tensor } from '../tensor.js';

/** Parameter trees: layer name → parameter name → tensor. */
export type Tree = Readonly<Record<string, Params>>;

const Beta = refinedNumber('number in [0, 1)', (n) => n >= 0 && n < 1);

export const OptimizerConfig = withDefaults(
  'optimizer',
  {
    kind: oneOf<'adam' | 'sgd'>('optimizer kind', ['adam', 'sgd']),
    lr: PositiveNumber,
    weightDecay: NonNegativeNumber,
    beta1: Beta,
    beta2: Beta,
    epsilon: PositiveNumber,
    momentum: Beta,
    schedule: oneOf<'constant' | 'cosine'>('schedule', ['constant', 'cosine']),
    /** clip latent quantized weights to [−c, c] after each step; null = never */
    latentClip: t.union([PositiveNumber, t.null]),
  },
  { kind: 'adam', lr: 0.005, weightDecay: 1e-6, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, momentum: 0.9, schedule: 'cosine', latentClip: null },
);
export type OptimizerConfig = t.TypeOf<typeof OptimizerConfig>;

export interface OptimizerState {
  /** steps taken so far */
  readonly step: number;
  /** Adam: m and v; SGD: u */
  readonly slots: Readonly<Record<string, Tree>>;
}

export const mapTree = (tree: Tree, f: (t: Tensor, layer: string, name: string) => Tensor): Tree =>
  Object.fromEntries(Object.entries(tree).map(([l, ps]) => [l, Object.fromEntries(Object.entries(ps).map(([k, v]) => [k, f(v, l, k)]))]));

export function initOptimizer(B: Backend, cfg: OptimizerConfig, params: Tree): OptimizerState {
  const zeros = () => mapTree(params, (p) => B.scalar('mul', p, 0));
  return { step: 0, slots: cfg.kind === 'adam' ? { m: zeros(), v: zeros() } : { u: zeros() } };
}

/** The learning rate at step `t` (0-based) of `total`. */
export function learningRate(cfg: OptimizerConfig, t: number, total: number): number {
  if (cfg.schedule === 'constant' || total <= 0) return cfg.lr;
  return cfg.lr * 0.5 * (1 + Math.cos((Math.PI * Math.min(t, total)) / total));
}

/**
 * One step. `clipSelect(layer, name)` says which parameters are latent quantized weights (clipped
 * when `latentClip` is set). Returns the new parameters and state; the inputs are not modified.
 */
export function step(
  B: Backend,
  cfg: OptimizerConfig,
  state: OptimizerState,
  params: Tree,
  grads: Tree,
  totalSteps: number,
  clipSelect: (layer: string, name: string) => boolean = () => false,
): { params: Tree; state: OptimizerState } {
  const lr = learningRate(cfg, state.step, totalSteps);
  const t = state.step + 1;
  const g = cfg.weightDecay > 0 ? mapTree(grads, (gr, l, k) => B.axpy(gr, cfg.weightDecay, params[l][k])) : grads;
  const clip = (p: Tensor, l: string, k: string) => (cfg.latentClip !== null && clipSelect(l, k) ? B.scalar('clamp', p, cfg.latentClip) : p);
  if (cfg.kind === 'adam') {
    const m = mapTree(state.slots.m, (mm, l, k) => B.axpy(B.scalar('mul', mm, cfg.beta1), 1 - cfg.beta1, g[l][k]));
    const v = mapTree(state.slots.v, (vv, l, k) => B.axpy(B.scalar('mul', vv, cfg.beta2), 1 - cfg.beta2, B.unary('square', g[l][k])));
    const c1 = 1 / (1 - cfg.beta1 ** t);
    const c2 = 1 / (1 - cfg.beta2 ** t);
    const next = mapTree(params, (p, l, k) => {
      const denom = B.scalar('add', B.unary('sqrt', B.scalar('mul', v[l][k], c2)), cfg.epsilon);
      return clip(B.axpy(p, -lr * c1, B.binary('div', m[l][k], denom)), l, k);
    });
    return { params: next, state: { step: t, slots: { m, v } } };
  }
  const u = mapTree(state.slots.u, (uu, l, k) => B.axpy(B.scalar('mul', uu, cfg.momentum), 1, g[l][k]));
  const next = mapTree(params, (p, l, k) => clip(B.axpy(p, -lr, u[l][k]), l, k));
  return { params: next, state: { step: t, slots: { u } } };
}
