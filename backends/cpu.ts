/**
 * The cpu backend: the readable reference every other backend is compared against.
 *
 * Plain TypeScript over ndarray views (data + shape + stride + offset) and ndarray-ops, in
 * float64 (`cpu64`, what the laws prove gradients with) or float32 (`cpu32`). Transposes and
 * broadcasts are views with permuted or zero strides, never copies. Convolution is im2col + GEMM.
 *
 * Law (laws/backend-agreement.test.ts, laws/layers.test.ts): this backend is the reference the
 * others are compared to, and every layer's backward is proved against its forward on `cpu64`.
 */
import ndarray from 'ndarray';
import type { NdArray } from 'ndarray';
import ops from 'ndarray-ops';
import type { Backend, BinaryOp, MatmulOptions, PoolOptions, ReduceOp, ScalarOp, UnaryOp } from '../src/backend.js';
import { roundoff } from '../src/backend.js';
import { ConfigError, ShapeError } from '../src/errors.js';
import { assertConvOutput, broadcastLayout, matmulShape, poolGeometry, reduceShape, type ConvGeometry } from '../src/shapes.js';
import { alloc, assertSameShape, size, type Data, type DType, type Tensor } from '../src/tensor.js';
import { im2colConvolutions } from './im2col.js';

const view = (t: { data: Data }, shape: number[], stride?: number[]): NdArray<Data> =>
  ndarray(t.data, shape, stride);

export function createCpuBackend(dtype: DType = 'float64'): Backend {
  const out = (shape: readonly number[]): Tensor => ({ shape: [...shape], data: alloc(dtype, size(shape)) });
  const from = (t: Tensor): Tensor => {
    if ((dtype === 'float64') === t.data instanceof Float64Array) return t;
    return { shape: [...t.shape], data: dtype === 'float64' ? Float64Array.from(t.data) : Float32Array.from(t.data) };
  };
  const flat = (t: Tensor): NdArray<Data> => view(t, [t.data.length]);

  function unary(op: UnaryOp, x: Tensor): Tensor {
    const y = out(x.shape);
    const [Y, X] = [flat(y), flat(x)];
    switch (op) {
      case 'neg': ops.neg(Y, X); break;
      case 'abs': ops.abs(Y, X); break;
      case 'exp': ops.exp(Y, X); break;
      case 'log': ops.log(Y, X); break;
      case 'sqrt': ops.sqrt(Y, X); break;
      case 'reciprocal': ops.recip(Y, X); break;
      case 'square': ops.mul(Y, X, X); break;
      case 'relu': ops.maxs(Y, X, 0); break;
      default:
        mapKernel(UNARY_EXPR[op], `u:${op}`)(y.data, x.data, 0);
    }
    return y;
  }

  function scalar(op: ScalarOp, x: Tensor, s: number): Tensor {
    if (!Number.isFinite(s) && !(op === 'max' || op === 'min')) throw new ConfigError(`scalar(${op}).s`, `must be finite, got ${s}`);
    const y = out(x.shape);
    const [Y, X] = [flat(y), flat(x)];
    switch (op) {
      case 'add': ops.adds(Y, X, s); break;
      case 'mul': ops.muls(Y, X, s); break;
      case 'max': ops.maxs(Y, X, s); break;
      case 'min': ops.mins(Y, X, s); break;
      default:
        mapKernel(SCALAR_EXPR[op], `s:${op}`)(y.data, x.data, s);
    }
    return y;
  }

  function binary(op: BinaryOp, a: Tensor, b: Tensor, axis?: number): Tensor {
    const { outer, len, inner } = broadcastLayout(`binary(${op})`, a, b, axis);
    const y = out(a.shape);
    if (b.data.length === a.data.length && len === a.data.length) binaryKernel(op, 'same')(y.data, a.data, b.data, outer, len, inner);
    else binaryKernel(op, 'broadcast')(y.data, a.data, b.data, outer, len, inner);
    return y;
  }

  function axpy(a: Tensor, s: number, b: Tensor): Tensor {
    assertSameShape('axpy', a, b);
    const y = out(a.shape);
    const [yd, ad, bd] = [y.data, a.data, b.data];
    for (let i = 0; i < yd.length; i++) yd[i] = ad[i] + s * bd[i];
    return y;
  }

  function select(cond: Tensor, a: Tensor, b: Tensor): Tensor {
    assertSameShape('select (cond vs a)', cond, a);
    assertSameShape('select (a vs b)', a, b);
    const y = out(a.shape);
    const [yd, cd, ad, bd] = [y.data, cond.data, a.data, b.data];
    for (let i = 0; i < yd.length; i++) yd[i] = cd[i] !== 0 ? ad[i] : bd[i];
    return y;
  }

  function reduce(op: ReduceOp, x: Tensor, axis: number | null): Tensor {
    const { shape, outer, len, inner } = reduceShape(x, axis);
    if (len === 0 && (op === 'max' || op === 'maxAbs')) throw new ShapeError(`reduce(${op}) over an empty axis`, 'non-empty', x.shape);
    const y = out(shape);
    // Walk x in memory order, folding each [len] run into an [inner] row of accumulators, so a
    // reduction over a leading axis streams through memory instead of striding across it.
    const acc = new Float64Array(inner);
    const fold = reduceKernel(op);
    for (let o = 0; o < outer; o++) {
      acc.fill(op === 'max' || op === 'maxAbs' ? -Infinity : 0);
      fold(acc, x.data, o * len * inner, len, inner);
      y.data.set(acc, o * inner);
    }
    return y;
  }

  function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
    const { m, k, n } = matmulShape(a, b, opts);
    const A = opts.transA ? view(a, [k, m]).transpose(1, 0) : view(a, [m, k]);
    const B = opts.transB ? view(b, [n, k]).transpose(1, 0) : view(b, [k, n]);
    const c = out([m, n]);
    gemm(m, k, n, A, B, c.data);
    return c;
  }

  /** C[m,n] += Σ_k A[m,k]·B[k,n] over strided views, i-k-j order so the inner loop runs along C's row. */
  function gemm(m: number, k: number, n: number, A: NdArray<Data>, B: NdArray<Data>, c: Data): void {
    const [ad, as0, as1, ao] = [A.data, A.stride[0], A.stride[1], A.offset];
    const [bd, bs0, bs1, bo] = [B.data, B.stride[0], B.stride[1], B.offset];
    for (let i = 0; i < m; i++) {
      const ci = i * n;
      for (let p = 0; p < k; p++) {
        const aip = ad[ao + i * as0 + p * as1];
        if (aip === 0) continue;
        const bp = bo + p * bs0;
        for (let j = 0; j < n; j++) c[ci + j] += aip * bd[bp + j * bs1];
      }
    }
  }

  /** Patches of NHWC `x` as rows: `[n·oh·ow, kh·kw·cin]`, zero where the window hits padding. */
  function im2col(x: Tensor, g: ConvGeometry): Tensor {
    const cols = out([g.n * g.oh * g.ow, g.kh * g.kw * g.cin]);
    const X = view(x, [g.n, g.h, g.w, g.cin]);
    const C = view(cols, [g.n, g.oh, g.ow, g.kh, g.kw, g.cin]);
    for (let b = 0; b < g.n; b++)
      for (let oy = 0; oy < g.oh; oy++)
        for (let ox = 0; ox < g.ow; ox++)
          for (let ky = 0; ky < g.kh; ky++) {
            const iy = oy * g.sh - g.ph + ky;
            if (iy < 0 || iy >= g.h) continue;
            for (let kx = 0; kx < g.kw; kx++) {
              const ix = ox * g.sw - g.pw + kx;
              if (ix < 0 || ix >= g.w) continue;
              ops.assign(C.pick(b, oy, ox, ky, kx, null), X.pick(b, iy, ix, null));
            }
          }
    return cols;
  }

  /** The adjoint of im2col: adds each patch row back into its NHWC positions. */
  function col2im(cols: Tensor, g: ConvGeometry): Tensor {
    const x = out([g.n, g.h, g.w, g.cin]);
    const X = view(x, [g.n, g.h, g.w, g.cin]);
    const C = view(cols, [g.n, g.oh, g.ow, g.kh, g.kw, g.cin]);
    for (let b = 0; b < g.n; b++)
      for (let oy = 0; oy < g.oh; oy++)
        for (let ox = 0; ox < g.ow; ox++)
          for (let ky = 0; ky < g.kh; ky++) {
            const iy = oy * g.sh - g.ph + ky;
            if (iy < 0 || iy >= g.h) continue;
            for (let kx = 0; kx < g.kw; kx++) {
              const ix = ox * g.sw - g.pw + kx;
              if (ix < 0 || ix >= g.w) continue;
              ops.addeq(X.pick(b, iy, ix, null), C.pick(b, oy, ox, ky, kx, null));
            }
          }
    return x;
  }

  const { conv2d, conv2dGradInput, conv2dGradFilter } = im2colConvolutions({ matmul, im2col, col2im });

  /** Flat index (into x) of the first maximum of each pooling window, in NHWC order of y. */
  function argmaxPool(x: Tensor, g: ConvGeometry): Int32Array {
    const xd = x.data;
    const c = g.cin;
    const idx = new Int32Array(g.n * g.oh * g.ow * c);
    let q = 0;
    for (let b = 0; b < g.n; b++)
      for (let oy = 0; oy < g.oh; oy++)
        for (let ox = 0; ox < g.ow; ox++) {
          const corner = ((b * g.h + oy * g.sh) * g.w + ox * g.sw) * c;
          for (let ch = 0; ch < c; ch++) {
            let at = corner + ch;
            let best = xd[at];
            for (let ky = 0; ky < g.kh; ky++)
              for (let kx = 0; kx < g.kw; kx++) {
                const p = corner + (ky * g.w + kx) * c + ch;
                if (xd[p] > best) {
                  best = xd[p];
                  at = p;
                }
              }
            idx[q++] = at;
          }
        }
    return idx;
  }

  function maxPool(x: Tensor, opts: PoolOptions): Tensor {
    const g = poolGeometry(x.shape, opts);
    const y = out([g.n, g.oh, g.ow, g.cin]);
    const idx = argmaxPool(x, g);
    for (let i = 0; i < idx.length; i++) y.data[i] = x.data[idx[i]];
    return y;
  }

  function maxPoolGrad(x: Tensor, dy: Tensor, opts: PoolOptions): Tensor {
    const g = poolGeometry(x.shape, opts);
    assertConvOutput('maxPoolGrad dy', g, dy);
    const dx = out(x.shape);
    const idx = argmaxPool(x, g);
    for (let i = 0; i < idx.length; i++) dx.data[idx[i]] += dy.data[i];
    return dx;
  }

  return {
    name: dtype === 'float64' ? 'cpu64' : 'cpu32',
    dtype,
    precision: roundoff(dtype),
    from,
    unary,
    scalar,
    binary,
    axpy,
    select,
    reduce,
    matmul,
    conv2d,
    conv2dGradInput,
    conv2dGradFilter,
    maxPool,
    maxPoolGrad,
  };
}

// ---- specialised loops ---------------------------------------------------------------------
// One loop per (op, layout), generated once and cached, with the op's expression inlined — what
// ndarray-ops' cwise does. A shared loop taking the op as a closure would see every op at one call
// site, stop being inlined, and run several times slower on the element-wise passes that dominate
// a training step (batch norm, ReLU, pooling over [64, 28, 28, 32]).

type Loop = (y: Data, a: Data, b: Data, outer: number, len: number, inner: number) => void;
type Map1 = (y: Data, x: Data, s: number) => void;
type Fold = (acc: Float64Array, x: Data, start: number, len: number, inner: number) => void;

const BINARY_EXPR: Record<BinaryOp, string> = {
  add: 'a + b',
  sub: 'a - b',
  mul: 'a * b',
  div: 'a / b',
  max: 'Math.max(a, b)',
  min: 'Math.min(a, b)',
  gt: 'a > b ? 1 : 0',
};

const UNARY_EXPR: Record<UnaryOp, string> = {
  neg: '-x',
  abs: 'Math.abs(x)',
  sign: 'x >= 0 ? 1 : x < 0 ? -1 : NaN',
  square: 'x * x',
  sqrt: 'Math.sqrt(x)',
  rsqrt: '1 / Math.sqrt(x)',
  exp: 'Math.exp(x)',
  log: 'Math.log(x)',
  relu: 'x > 0 ? x : 0',
  step: 'x > 0 ? 1 : 0',
  reciprocal: '1 / x',
};

const SCALAR_EXPR: Record<ScalarOp, string> = {
  add: 'x + s',
  mul: 'x * s',
  max: 'x > s ? x : s',
  min: 'x < s ? x : s',
  clamp: 'x > s ? s : x < -s ? -s : x',
  gt: 'x > s ? 1 : 0',
  lt: 'x < s ? 1 : 0',
  window: 'Math.abs(x) <= s ? 1 : 0',
  ternarize: 'x > s ? 1 : x < -s ? -1 : 0',
  ternarizeOfficial: 'x >= s ? 1 : x < -s ? -1 : 0',
};

const REDUCE_EXPR: Record<ReduceOp, string> = {
  sum: 'acc[i] + v',
  sumAbs: 'acc[i] + Math.abs(v)',
  sumSquares: 'acc[i] + v * v',
  max: 'v > acc[i] || v !== v ? v : acc[i]',
  maxAbs: 'Math.abs(v) > acc[i] || v !== v ? Math.abs(v) : acc[i]',
};

const loops = new Map<string, Loop | Map1 | Fold>();

function binaryKernel(op: BinaryOp, layout: 'same' | 'broadcast'): Loop {
  const key = `b:${op}:${layout}`;
  let f = loops.get(key) as Loop | undefined;
  if (f === undefined) {
    const expr = BINARY_EXPR[op];
    if (expr === undefined) throw new ConfigError('binary.op', `unknown op ${String(op)}`);
    const body =
      layout === 'same'
        ? `for (let p = 0; p < y.length; p++) { const a = x[p], b = z[p]; y[p] = ${expr}; }`
        : `let p = 0;
           for (let o = 0; o < outer; o++)
             for (let l = 0; l < len; l++) {
               const b = z[len === 1 ? 0 : l];
               for (let i = 0; i < inner; i++, p++) { const a = x[p]; y[p] = ${expr}; }
             }`;
    f = new Function('y', 'x', 'z', 'outer', 'len', 'inner', body) as Loop;
    loops.set(key, f);
  }
  return f;
}

function mapKernel(expr: string | undefined, op: string): Map1 {
  const key = `m:${op}`;
  let f = loops.get(key) as Map1 | undefined;
  if (f === undefined) {
    if (expr === undefined) throw new ConfigError('op', `unknown op ${op}`);
    f = new Function('y', 'v', 's', `for (let p = 0; p < v.length; p++) { const x = v[p]; y[p] = ${expr}; }`) as Map1;
    loops.set(key, f);
  }
  return f;
}

function reduceKernel(op: ReduceOp): Fold {
  const key = `r:${op}`;
  let f = loops.get(key) as Fold | undefined;
  if (f === undefined) {
    const expr = REDUCE_EXPR[op];
    if (expr === undefined) throw new ConfigError('reduce.op', `unknown op ${String(op)}`);
    f = new Function('acc', 'x', 'start', 'len', 'inner', `let p = start;
      for (let j = 0; j < len; j++) for (let i = 0; i < inner; i++, p++) { const v = x[p]; acc[i] = ${expr}; }`) as Fold;
    loops.set(key, f);
  }
  return f;
}

/** The float64 reference backend. */
export const cpu64: Backend = createCpuBackend('float64');
/** The float32 reference backend (training precision). */
export const cpu32: Backend = createCpuBackend('float32');
