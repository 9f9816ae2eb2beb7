/**
 * residual: y = main(x) + shortcut(x), a ResNet block whose shortcut has no parameters.
 *
 * The main path is a list of layers run in order. The shortcut is x itself, except that
 * - when the main path shrinks the spatial size (a strided conv or a max-pool inside), the shortcut
 *   max-pools x with window = stride = in/out per axis: the paper's "we replace all 1×1
 *   downsampling layers with max-pooling in ResNet" (§4.1);
 * - when the main path widens the channels (last axis) from Cin to Cout, the shortcut pads x with
 *   Cout − Cin zero channels, so no full-precision 1×1 projection hides inside a quantized block.
 * `shortcut`: `auto` (the default) picks identity or max-pool from the shapes; `identity` and
 * `maxPool` insist on one and are build errors when the shapes call for the other. The main path
 * may never drop channels or change the rank; every mismatch is a build-time ShapeError naming
 * both shapes, and an inner layer's error names its place (`layers.2 (conv2d): …`).
 *
 * Parameters and state of the inner layers are flattened into the block's records under the
 * prefix `j.` (`0.gamma`, `2.w1`; a nested block gives `1.0.w1`), so a block is one entry of the
 * model's parameter tree and optimizers and checkpoints need not know about nesting.
 *
 * Backward: the inner layers' VJPs in reverse order give d main; the shortcut's VJP keeps the first
 * Cin channels of dy and, when pooled, sends each window's gradient to its first maximum;
 * dx = d main(x) + d shortcut(x). Exact wherever the inner layers' VJPs are.
 *
 * Law (laws/residual.test.ts): backward = finite differences of forward (identity, max-pool and
 * channel-padding shortcuts, nested blocks); backward is linear in dy; a block's gradients are its
 * layers' own gradients under their prefixes.
 */
import type { Backend, PoolOptions } from '../backend.js';
import { outSize } from '../backend.js';
import { ConfigError, ShapeError, SttnError } from '../errors.js';
import type { Params } from '../quantizers/common.js';
import { alloc, sameShape, size, type Tensor } from '../tensor.js';
import { NO_DX, type Layer } from './layer.js';

export type Shortcut = 'auto' | 'identity' | 'maxPool';
export const SHORTCUTS: readonly Shortcut[] = ['auto', 'identity', 'maxPool'];

export interface ResidualOptions {
  readonly layers: readonly Layer[];
  readonly shortcut: Shortcut;
}

/** The records of inner layer `j`, taken out of the block's record (`'2.w1'` → `'w1'`). */
export function paramsUnder(p: Params, prefix: string): Params {
  const out: Record<string, Tensor> = {};
  for (const k of Object.keys(p)) if (k.startsWith(prefix)) out[k.slice(prefix.length)] = p[k];
  return out;
}

function putUnder(into: Record<string, Tensor>, p: Params, prefix: string): void {
  for (const k of Object.keys(p)) into[prefix + k] = p[k];
}

/**
 * An error raised by the block's layer `j`, re-raised naming its place in the block:
 * `layers.2 (conv2d): …`, and through a nested block `layers.1.layers.0 (dense): …`.
 */
export function atLayer(j: number, type: string, e: unknown): unknown {
  if (!(e instanceof SttnError)) return e;
  if (e instanceof ConfigError && e.field.startsWith('layers.')) return new ConfigError(`layers.${j}.${e.field}`, e.message.slice(e.field.length + 2));
  return new ConfigError(`layers.${j} (${type})`, e.message);
}

/** What the shortcut does to x: an optional max-pool, then zero channels from `cin` up to `cout`. */
interface Plan {
  readonly pool: PoolOptions | null;
  readonly cin: number;
  readonly cout: number;
}

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;
/** `[h, w, c or more]`: the shapes a zero-padding shortcut can meet. */
const orMore = (s: readonly number[]) => `[${s.join(', ')} or more]`;

function planShortcut(mode: Shortcut, inShape: readonly number[], mainOut: readonly number[]): Plan {
  const rank = inShape.length;
  const where = `residual: the main path's output`;
  if (rank < 1 || mainOut.length !== rank) throw new ShapeError(`${where} (the input is ${fmt(inShape)}; a shortcut keeps the rank)`, `rank ${rank}`, mainOut);
  const cin = inShape[rank - 1];
  const cout = mainOut[rank - 1];
  const inSpatial = inShape.slice(0, -1);
  const outSpatial = mainOut.slice(0, -1);
  let pool: PoolOptions | null = null;
  let scSpatial = inSpatial;
  let how = 'identity';
  if (!sameShape(inSpatial, outSpatial)) {
    if (mode === 'identity') {
      throw new ShapeError(`${where} (shortcut 'identity' keeps the size of the input ${fmt(inShape)}; use 'auto' or 'maxPool' to downsample it)`, orMore([...inSpatial, cin]), mainOut);
    }
    if (rank !== 3) throw new ShapeError(`${where} (a max-pool shortcut needs [height, width, channels]; the input is ${fmt(inShape)})`, orMore([...inSpatial, cin]), mainOut);
    const s: [number, number] = [Math.max(1, Math.floor(inShape[0] / mainOut[0])), Math.max(1, Math.floor(inShape[1] / mainOut[1]))];
    pool = { size: s, strides: s };
    scSpatial = [outSize(inShape[0], s[0], s[0], 0), outSize(inShape[1], s[1], s[1], 0)];
    how = `max-pool ${s[0]}×${s[1]}, stride ${s[0]}×${s[1]},`;
  } else if (mode === 'maxPool') {
    throw new ShapeError(`${where} (shortcut 'maxPool' needs a main path that downsamples the input ${fmt(inShape)}; use 'auto' or 'identity')`, `smaller than ${fmt(inSpatial)} in height or width`, mainOut);
  }
  if (!sameShape(scSpatial, outSpatial) || cout < cin) {
    throw new ShapeError(`${where} disagrees with the shortcut's (${how} of the input ${fmt(inShape)}; channels zero-padded up to the main path's)`, orMore([...scSpatial, cin]), mainOut);
  }
  return { pool, cin, cout };
}

/** [..., cin] → [..., cout] with zeros in the new channels (plain data movement, O(size)). */
function padChannels(B: Backend, x: Tensor, cout: number): Tensor {
  const cin = x.shape[x.shape.length - 1];
  const m = size(x.shape) / cin;
  const out = alloc(B.dtype, m * cout);
  for (let i = 0; i < m; i++) for (let k = 0; k < cin; k++) out[i * cout + k] = x.data[i * cin + k];
  return { shape: [...x.shape.slice(0, -1), cout], data: out };
}

/** [..., cout] → its first `cin` channels: the VJP of `padChannels`. */
function firstChannels(B: Backend, dy: Tensor, cin: number): Tensor {
  const cout = dy.shape[dy.shape.length - 1];
  const m = size(dy.shape) / cout;
  const out = alloc(B.dtype, m * cin);
  for (let i = 0; i < m; i++) for (let k = 0; k < cin; k++) out[i * cin + k] = dy.data[i * cout + k];
  return { shape: [...dy.shape.slice(0, -1), cin], data: out };
}

interface ResidualRes {
  readonly x: Tensor;
  readonly inner: readonly unknown[];
  readonly plan: Plan;
}

export function residual(o: ResidualOptions): Layer {
  const layers = o.layers;
  const prefix = (j: number) => `${j}.`;
  /** The per-example shapes along the main path: input, then each layer's output. */
  const chain = (inShape: readonly number[]): number[][] => {
    const shapes: number[][] = [[...inShape]];
    layers.forEach((l, j) => {
      try {
        shapes.push(l.outShape(shapes[j]));
      } catch (e) {
        throw atLayer(j, l.type, e);
      }
    });
    return shapes;
  };
  return {
    type: 'residual',
    outShape(inShape) {
      const shapes = chain(inShape);
      const out = shapes[shapes.length - 1];
      planShortcut(o.shortcut, inShape, out);
      return out;
    },
    init(inShape, rng, dtype) {
      const shapes = chain(inShape);
      const outShape = shapes[shapes.length - 1];
      planShortcut(o.shortcut, inShape, outShape);
      const params: Record<string, Tensor> = {};
      const state: Record<string, Tensor> = {};
      layers.forEach((l, j) => {
        const r = l.init(shapes[j], rng, dtype);
        putUnder(params, r.params, prefix(j));
        putUnder(state, r.state, prefix(j));
      });
      return { params, state, outShape };
    },
    forward(B, params, state, x, ctx) {
      const inner: unknown[] = [];
      const next: Record<string, Tensor> = {};
      let unchanged = true;
      let y = x;
      layers.forEach((l, j) => {
        const f = l.forward(B, paramsUnder(params, prefix(j)), paramsUnder(state, prefix(j)), y, ctx);
        inner.push(f.res);
        for (const k of Object.keys(f.state)) {
          next[prefix(j) + k] = f.state[k];
          if (state[prefix(j) + k] !== f.state[k]) unchanged = false;
        }
        y = f.y;
      });
      const plan = planShortcut(o.shortcut, x.shape.slice(1), y.shape.slice(1));
      let sc = plan.pool ? B.maxPool(x, plan.pool) : x;
      if (plan.cout > plan.cin) sc = padChannels(B, sc, plan.cout);
      const res: ResidualRes = { x, inner, plan };
      // an inference forward hands back the very state it was given, as the inner layers do
      return { y: B.binary('add', y, sc), res, state: unchanged ? state : next };
    },
    backward(B, params, r, dy, needDx) {
      const { x, inner, plan } = r as ResidualRes;
      const dparams: Record<string, Tensor> = {};
      let g = dy;
      for (let j = layers.length - 1; j >= 0; j--) {
        const b = layers[j].backward(B, paramsUnder(params, prefix(j)), inner[j], g, needDx || j > 0);
        putUnder(dparams, b.dparams, prefix(j));
        g = b.dx;
      }
      if (!needDx) return { dparams, dx: NO_DX };
      let ds = plan.cout > plan.cin ? firstChannels(B, dy, plan.cin) : dy;
      if (plan.pool) ds = B.maxPoolGrad(x, ds, plan.pool);
      return { dparams, dx: B.binary('add', g, ds) };
    },
  };
}
