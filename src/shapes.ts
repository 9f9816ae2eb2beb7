/**
 * Shape rules of the Backend primitives, written once so that every backend validates its
 * arguments the same way and throws the same `ShapeError` naming both shapes.
 *
 * Law (laws/backend-agreement.test.ts): each rule returns the shape the cpu backend produces, and
 * a mismatch is a ShapeError on every backend.
 */
import type { Conv2dOptions, MatmulOptions, PoolOptions } from './backend.js';
import { outSize } from './backend.js';
import { ConfigError, ShapeError } from './errors.js';
import { size, type Tensor } from './tensor.js';

/** Broadcast layout of `b` against `a`: `[outer, len, inner]` with `len = 1` for a scalar. */
export interface Broadcast {
  readonly outer: number;
  readonly len: number;
  readonly inner: number;
}

export function broadcastLayout(what: string, a: Tensor, b: Tensor, axis?: number): Broadcast {
  const n = a.data.length;
  if (axis === undefined) {
    if (b.shape.length === a.shape.length && b.shape.every((d, i) => d === a.shape[i])) return { outer: 1, len: n, inner: 1 };
    // any b of size 1 ([], [1], [1, 1]…) is a scalar
    if (b.data.length === 1) return { outer: n, len: 1, inner: 1 };
    throw new ShapeError(what, a.shape, b.shape);
  }
  const r = a.shape.length;
  const ax = axis < 0 ? r + axis : axis;
  if (!(ax >= 0 && ax < r)) throw new ConfigError(`${what}.axis`, `axis ${axis} out of range for rank ${r}`);
  const len = a.shape[ax];
  if (b.shape.length !== 1 || b.shape[0] !== len) throw new ShapeError(`${what} (broadcast along axis ${ax})`, [len], b.shape);
  return { outer: size(a.shape.slice(0, ax)), len, inner: size(a.shape.slice(ax + 1)) };
}

export function reduceShape(x: Tensor, axis: number | null): { shape: number[]; outer: number; len: number; inner: number } {
  if (axis === null) return { shape: [], outer: 1, len: x.data.length, inner: 1 };
  const r = x.shape.length;
  const ax = axis < 0 ? r + axis : axis;
  if (!(ax >= 0 && ax < r)) throw new ConfigError('reduce.axis', `axis ${axis} out of range for rank ${r}`);
  return {
    shape: x.shape.filter((_, i) => i !== ax),
    outer: size(x.shape.slice(0, ax)),
    len: x.shape[ax],
    inner: size(x.shape.slice(ax + 1)),
  };
}

export function matmulShape(a: Tensor, b: Tensor, opts: MatmulOptions = {}): { m: number; k: number; n: number } {
  if (a.shape.length !== 2) throw new ShapeError('matmul a', 'rank 2', a.shape);
  if (b.shape.length !== 2) throw new ShapeError('matmul b', 'rank 2', b.shape);
  const [m, ka] = opts.transA ? [a.shape[1], a.shape[0]] : [a.shape[0], a.shape[1]];
  const [kb, n] = opts.transB ? [b.shape[1], b.shape[0]] : [b.shape[0], b.shape[1]];
  if (ka !== kb) {
    throw new ShapeError(
      `matmul inner dimensions (a${opts.transA ? 'ᵀ' : ''} is [${m}, ${ka}])`,
      opts.transB ? [n, ka] : [ka, n],
      b.shape,
    );
  }
  return { m, k: ka, n };
}

export interface ConvGeometry {
  readonly n: number;
  readonly h: number;
  readonly w: number;
  readonly cin: number;
  readonly cout: number;
  readonly kh: number;
  readonly kw: number;
  readonly oh: number;
  readonly ow: number;
  readonly sh: number;
  readonly sw: number;
  readonly ph: number;
  readonly pw: number;
}

function checkConvOpts(opts: Conv2dOptions | PoolOptions, what: string): void {
  for (const s of opts.strides) {
    if (!Number.isInteger(s) || s < 1) throw new ConfigError(`${what}.strides`, `must be positive integers, got [${opts.strides.join(', ')}]`);
  }
  if ('pads' in opts) {
    for (const p of opts.pads) {
      if (!Number.isInteger(p) || p < 0) throw new ConfigError(`${what}.pads`, `must be non-negative integers, got [${opts.pads.join(', ')}]`);
    }
  }
}

export function convGeometry(xShape: readonly number[], wShape: readonly number[], opts: Conv2dOptions): ConvGeometry {
  checkConvOpts(opts, 'conv2d');
  if (xShape.length !== 4) throw new ShapeError('conv2d input (NHWC)', 'rank 4', xShape);
  if (wShape.length !== 4) throw new ShapeError('conv2d kernel (OHWI)', 'rank 4', wShape);
  const [n, h, w, cin] = xShape;
  const [cout, kh, kw, kc] = wShape;
  if (kc !== cin) throw new ShapeError(`conv2d kernel input channels (input is [${xShape.join(', ')}])`, [cout, kh, kw, cin], wShape);
  const [sh, sw] = opts.strides;
  const [ph, pw] = opts.pads;
  const oh = outSize(h, kh, sh, ph);
  const ow = outSize(w, kw, sw, pw);
  if (oh < 1 || ow < 1) throw new ShapeError(`conv2d output (kernel [${wShape.join(', ')}] too large)`, 'positive', [n, oh, ow, cout]);
  return { n, h, w, cin, cout, kh, kw, oh, ow, sh, sw, ph, pw };
}

export function poolGeometry(xShape: readonly number[], opts: PoolOptions): ConvGeometry {
  checkConvOpts(opts, 'maxPool');
  if (xShape.length !== 4) throw new ShapeError('maxPool input (NHWC)', 'rank 4', xShape);
  const [n, h, w, c] = xShape;
  const [kh, kw] = opts.size;
  if (!Number.isInteger(kh) || !Number.isInteger(kw) || kh < 1 || kw < 1) {
    throw new ConfigError('maxPool.size', `must be positive integers, got [${opts.size.join(', ')}]`);
  }
  const [sh, sw] = opts.strides;
  const oh = outSize(h, kh, sh, 0);
  const ow = outSize(w, kw, sw, 0);
  if (oh < 1 || ow < 1) throw new ShapeError(`maxPool output (window [${kh}, ${kw}] too large)`, 'positive', [n, oh, ow, c]);
  return { n, h, w, cin: c, cout: c, kh, kw, oh, ow, sh, sw, ph: 0, pw: 0 };
}

export function assertConvOutput(what: string, g: ConvGeometry, dy: Tensor): void {
  const want = [g.n, g.oh, g.ow, g.cout];
  if (dy.shape.length !== 4 || dy.shape.some((d, i) => d !== want[i])) throw new ShapeError(what, want, dy.shape);
}
