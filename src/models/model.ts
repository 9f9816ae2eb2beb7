/**
 * Models as data: a `ModelSpec` (input shape, classes, a list of layer specs) decoded with io-ts,
 * built into named layers whose shapes are checked end to end, and run forward and backward over
 * parameter trees (layer name → parameter record).
 *
 * Neighbouring layers run as one fused pair where the backend can (./fuse.ts), with the same bits.
 *
 * Law (laws/model.test.ts): the model's backward equals finite differences of its forward;
 * decode(encode(spec)) = spec; a spec whose shapes do not chain, or whose output is not
 * `[classes]`, is a Left naming the layer; input of the wrong shape is a ShapeError naming both.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import type { Backend } from '../backend.js';
import { decodeWith, PositiveInt, withDefaults } from '../codec.js';
import { ConfigError, ShapeError, SttnError } from '../errors.js';
import { buildLayer, LayerSpec, type Layer } from '../layers/index.js';
import { NONE, type ForwardCtx } from '../layers/layer.js';
import { INTO_NEXT, INTO_PREVIOUS, plan, POOLED_INTO_PREVIOUS } from './fuse.js';
import type { Tree } from '../train/optim.js';
import type { Params } from '../quantizers/common.js';
import type { Rng } from '../random.js';
import { sameShape, type DType, type Tensor } from '../tensor.js';

export const ModelSpec = withDefaults(
  'model',
  { name: t.string, inputShape: t.array(PositiveInt), classes: PositiveInt, layers: t.array(LayerSpec) },
  { name: 'model', inputShape: [28, 28, 1], classes: 10, layers: [] },
);
export type ModelSpec = t.TypeOf<typeof ModelSpec>;

export interface Model {
  readonly spec: ModelSpec;
  readonly layers: readonly Layer[];
  /** `l00_conv2d`, `l01_batchNorm`, …: the keys of the parameter trees */
  readonly names: readonly string[];
  /** the per-example input shape of each layer, then the output shape */
  readonly shapes: readonly (readonly number[])[];
}

export const layerName = (i: number, type: string): string => `l${String(i).padStart(2, '0')}_${type}`;

/** Decode and build a model; every error names the layer (`model.layers.3…`). */
export function buildModel(raw: unknown): E.Either<ConfigError, Model> {
  const decoded = decodeWith(ModelSpec, raw, 'model');
  if (E.isLeft(decoded)) return decoded;
  const spec = decoded.right;
  const layers: Layer[] = [];
  const names: string[] = [];
  const shapes: number[][] = [[...spec.inputShape]];
  for (let i = 0; i < spec.layers.length; i++) {
    try {
      const layer = buildLayer(spec.layers[i]);
      shapes.push(layer.outShape(shapes[i]));
      layers.push(layer);
      names.push(layerName(i, layer.type));
    } catch (e) {
      if (e instanceof SttnError) return E.left(new ConfigError(`model.layers.${i} (${spec.layers[i].type})`, e.message));
      throw e;
    }
  }
  const out = shapes[shapes.length - 1];
  if (!sameShape(out, [spec.classes])) {
    return E.left(new ConfigError('model.layers', `the last layer's output is [${out.join(', ')}], expected [${spec.classes}] (one logit per class)`));
  }
  return E.right({ spec, layers, names, shapes });
}

export function initModel(m: Model, rng: Rng, dtype: DType): { params: Tree; state: Tree } {
  const params: Record<string, Params> = {};
  const state: Record<string, Params> = {};
  m.layers.forEach((layer, i) => {
    const r = layer.init(m.shapes[i], rng, dtype);
    params[m.names[i]] = r.params;
    state[m.names[i]] = r.state;
  });
  return { params, state };
}

export interface ModelForward {
  readonly logits: Tensor;
  readonly res: readonly unknown[];
  readonly state: Tree;
}

export function forward(B: Backend, m: Model, params: Tree, state: Tree, x: Tensor, ctx: ForwardCtx): ModelForward {
  if (!sameShape(x.shape.slice(1), m.spec.inputShape)) {
    throw new ShapeError(`model input (${m.spec.name})`, `[batch, ${m.spec.inputShape.join(', ')}]`, x.shape);
  }
  let y = B.from(x);
  const res: unknown[] = [];
  const next: Record<string, Params> = {};
  for (const step of plan(B, m.layers)) {
    const { i } = step;
    if (step.pair === undefined) {
      const name = m.names[i];
      const f = m.layers[i].forward(B, params[name], state[name], y, ctx);
      y = f.y;
      res.push(f.res);
      next[name] = f.state;
      continue;
    }
    // the pair's owner (i or i + 1) keeps the residual and its new state; the relu, a marker
    const owner = m.names[i + step.owner];
    const relu = m.names[i + 1 - step.owner];
    const f = step.pair.forward(B, params[owner], state[owner], y, ctx);
    y = f.y;
    res.push(...(step.owner === 0 ? [f.res, step.pooled ? POOLED_INTO_PREVIOUS : INTO_PREVIOUS] : [INTO_NEXT, f.res]));
    next[owner] = f.state;
    next[relu] = state[relu];
  }
  return { logits: y, res, state: next };
}

/** Gradients of every parameter given dL/dlogits (the first layer's dx is not computed). */
export function backward(B: Backend, m: Model, params: Tree, res: readonly unknown[], dlogits: Tensor): Tree {
  const grads: Record<string, Params> = {};
  let dy = dlogits;
  for (let i = m.layers.length - 1; i >= 0; i--) {
    const name = m.names[i];
    if (res[i] === INTO_PREVIOUS || res[i] === INTO_NEXT || res[i] === POOLED_INTO_PREVIOUS) {
      grads[name] = NONE; // a relu's or maxPool's, whose gradient its pair applies
      continue;
    }
    const layer = m.layers[i];
    // the pair this layer holds, if any; dx is then dL/d(the pair's input), at layer i − 1 for afterRelu
    const run =
      res[i + 1] === POOLED_INTO_PREVIOUS
        ? layer.thenMaxPool!(m.layers[i + 1].poolOptions!)
        : res[i + 1] === INTO_PREVIOUS
          ? layer.thenRelu!
          : res[i - 1] === INTO_NEXT
            ? layer.afterRelu!
            : layer;
    const first = run === layer.afterRelu ? i - 1 : i;
    const b = run.backward(B, params[name], res[i], dy, first > 0);
    grads[name] = b.dparams;
    dy = b.dx;
  }
  return grads;
}
