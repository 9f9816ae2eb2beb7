/**
 * The js backend: the cpu reference's arithmetic as plain loops over typed arrays, with no code
 * generation (no ndarray, no ndarray-ops, no `new Function`), so it runs under a strict
 * Content-Security-Policy (`script-src 'self'`): the browser's CPU fallback and what
 * `sttn/neutral` binds to.
 *
 * Every loop visits elements in backends/cpu.ts's order and applies the same expression (relu and
 * scalar max/min are `Math.max`/`Math.min` as in ndarray-ops; GEMM is i-k-j and skips zero entries
 * of A; reductions fold into float64 accumulators), so results equal cpu's bit for bit in both
 * dtypes. One loop per op: a shared loop calling the op as a closure would see every op at one
 * call site and stop being inlined.
 *
 * Law (laws/js-backend.test.ts): every primitive equals cpu's bit for bit, in both dtypes, with
 * the same errors; laws/backend-agreement.test.ts: js32 and js64 run in `loadAll()`;
 * laws/neutral.test.ts: the neutral API (on js) equals the quantizer modules on cpu.
 */
import type { Backend, BinaryOp, MatmulOptions, PoolOptions, ReduceOp, ScalarOp, UnaryOp } from '../src/backend.js';
import { roundoff } from '../src/backend.js';
import { ConfigError, ShapeError } from '../src/errors.js';
import { assertConvOutput, broadcastLayout, matmulShape, poolGeometry, reduceShape, type ConvGeometry } from '../src/shapes.js';
import { alloc, assertSameShape, size, type Data, type DType, type Tensor } from '../src/tensor.js';
import { im2colConvolutions } from './im2col.js';

export function createJsBackend(dtype: DType = 'float64'): Backend {
  const out = (shape: readonly number[]): Tensor => ({ shape: [...shape], data: alloc(dtype, size(shape)) });
  const from = (t: Tensor): Tensor => {
    if ((dtype === 'float64') === t.data instanceof Float64Array) return t;
    return { shape: [...t.shape], data: dtype === 'float64' ? Float64Array.from(t.data) : Float32Array.from(t.data) };
  };

  function unary(op: UnaryOp, x: Tensor): Tensor {
    const y = out(x.shape);
    unaryLoop(op, y.data, x.data);
    return y;
  }

  function scalar(op: ScalarOp, x: Tensor, s: number): Tensor {
    if (!Number.isFinite(s) && !(op === 'max' || op === 'min')) throw new ConfigError(`scalar(${op}).s`, `must be finite, got ${s}`);
    const y = out(x.shape);
    scalarLoop(op, y.data, x.data, s);
    return y;
  }

  function binary(op: BinaryOp, a: Tensor, b: Tensor, axis?: number): Tensor {
    const { outer, len, inner } = broadcastLayout(`binary(${op})`, a, b, axis);
    const y = out(a.shape);
    if (b.data.length === a.data.length && len === a.data.length) binarySame(op, y.data, a.data, b.data);
    else binaryBroadcast(op, y.data, a.data, b.data, outer, len, inner);
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
    const acc = new Float64Array(inner);
    for (let o = 0; o < outer; o++) {
      acc.fill(op === 'max' || op === 'maxAbs' ? -Infinity : 0);
      fold(op, acc, x.data, o * len * inner, len, inner);
      y.data.set(acc, o * inner);
    }
    return y;
  }

  function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
    const { m, k, n } = matmulShape(a, b, opts);
    // Strides of op(A) [m, k] and op(B) [k, n] over the stored arrays, as cpu's transposed views.
    const [as0, as1] = opts.transA ? [1, m] : [k, 1];
    const [bs0, bs1] = opts.transB ? [1, k] : [n, 1];
    const c = out([m, n]);
    gemm(m, k, n, a.data, as0, as1, b.data, bs0, bs1, c.data);
    return c;
  }

  /** Patches of NHWC `x` as rows: `[n·oh·ow, kh·kw·cin]`, zero where the window hits padding. */
  function im2col(x: Tensor, g: ConvGeometry): Tensor {
    const cols = out([g.n * g.oh * g.ow, g.kh * g.kw * g.cin]);
    patches(g, (c, xi) => {
      for (let ch = 0; ch < g.cin; ch++) cols.data[c + ch] = x.data[xi + ch];
    });
    return cols;
  }

  /** The adjoint of im2col: adds each patch row back into its NHWC positions. */
  function col2im(cols: Tensor, g: ConvGeometry): Tensor {
    const x = out([g.n, g.h, g.w, g.cin]);
    patches(g, (c, xi) => {
      for (let ch = 0; ch < g.cin; ch++) x.data[xi + ch] += cols.data[c + ch];
    });
    return x;
  }

  const { conv2d, conv2dGradInput, conv2dGradFilter } = im2colConvolutions({ matmul, im2col, col2im });

  function maxPool(x: Tensor, opts: PoolOptions): Tensor {
    const g = poolGeometry(x.shape, opts);
    const y = out([g.n, g.oh, g.ow, g.cin]);
    const idx = argmaxPool(x.data, g);
    for (let i = 0; i < idx.length; i++) y.data[i] = x.data[idx[i]];
    return y;
  }

  function maxPoolGrad(x: Tensor, dy: Tensor, opts: PoolOptions): Tensor {
    const g = poolGeometry(x.shape, opts);
    assertConvOutput('maxPoolGrad dy', g, dy);
    const dx = out(x.shape);
    const idx = argmaxPool(x.data, g);
    for (let i = 0; i < idx.length; i++) dx.data[idx[i]] += dy.data[i];
    return dx;
  }

  return {
    name: dtype === 'float64' ? 'js64' : 'js32',
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

/** Calls `visit(colsOffset, xOffset)` for each in-bounds (patch, tap) pair, in cpu's im2col order. */
function patches(g: ConvGeometry, visit: (c: number, xi: number) => void): void {
  const row = g.kh * g.kw * g.cin;
  let r = 0;
  for (let b = 0; b < g.n; b++)
    for (let oy = 0; oy < g.oh; oy++)
      for (let ox = 0; ox < g.ow; ox++, r++)
        for (let ky = 0; ky < g.kh; ky++) {
          const iy = oy * g.sh - g.ph + ky;
          if (iy < 0 || iy >= g.h) continue;
          for (let kx = 0; kx < g.kw; kx++) {
            const ix = ox * g.sw - g.pw + kx;
            if (ix < 0 || ix >= g.w) continue;
            visit(r * row + (ky * g.kw + kx) * g.cin, ((b * g.h + iy) * g.w + ix) * g.cin);
          }
        }
}

/** C[m,n] += Σ_k A[m,k]·B[k,n] over strided operands, i-k-j order, skipping zero entries of A. */
function gemm(m: number, k: number, n: number, ad: Data, as0: number, as1: number, bd: Data, bs0: number, bs1: number, c: Data): void {
  for (let i = 0; i < m; i++) {
    const ci = i * n;
    for (let p = 0; p < k; p++) {
      const aip = ad[i * as0 + p * as1];
      if (aip === 0) continue;
      const bp = p * bs0;
      if (bs1 === 1) for (let j = 0; j < n; j++) c[ci + j] += aip * bd[bp + j];
      else for (let j = 0; j < n; j++) c[ci + j] += aip * bd[bp + j * bs1];
    }
  }
}

/** Flat index (into x) of the first maximum of each pooling window, in NHWC order of y. */
function argmaxPool(xd: Data, g: ConvGeometry): Int32Array {
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

// ---- one loop per op (the expressions of backends/cpu.ts) ----------------------------------

function unaryLoop(op: UnaryOp, y: Data, v: Data): void {
  const n = y.length;
  switch (op) {
    case 'neg': for (let p = 0; p < n; p++) y[p] = -v[p]; return;
    case 'abs': for (let p = 0; p < n; p++) y[p] = Math.abs(v[p]); return;
    case 'sign': for (let p = 0; p < n; p++) { const x = v[p]; y[p] = x >= 0 ? 1 : x < 0 ? -1 : NaN; } return;
    case 'square': for (let p = 0; p < n; p++) y[p] = v[p] * v[p]; return;
    case 'sqrt': for (let p = 0; p < n; p++) y[p] = Math.sqrt(v[p]); return;
    case 'rsqrt': for (let p = 0; p < n; p++) y[p] = 1 / Math.sqrt(v[p]); return;
    case 'exp': for (let p = 0; p < n; p++) y[p] = Math.exp(v[p]); return;
    case 'log': for (let p = 0; p < n; p++) y[p] = Math.log(v[p]); return;
    case 'relu': for (let p = 0; p < n; p++) y[p] = Math.max(v[p], 0); return;
    case 'step': for (let p = 0; p < n; p++) y[p] = v[p] > 0 ? 1 : 0; return;
    case 'reciprocal': for (let p = 0; p < n; p++) y[p] = 1 / v[p]; return;
  }
  throw new ConfigError('op', `unknown op u:${String(op)}`);
}

function scalarLoop(op: ScalarOp, y: Data, v: Data, s: number): void {
  const n = y.length;
  switch (op) {
    case 'add': for (let p = 0; p < n; p++) y[p] = v[p] + s; return;
    case 'mul': for (let p = 0; p < n; p++) y[p] = v[p] * s; return;
    case 'max': for (let p = 0; p < n; p++) y[p] = Math.max(v[p], s); return;
    case 'min': for (let p = 0; p < n; p++) y[p] = Math.min(v[p], s); return;
    case 'clamp': for (let p = 0; p < n; p++) { const x = v[p]; y[p] = x > s ? s : x < -s ? -s : x; } return;
    case 'gt': for (let p = 0; p < n; p++) y[p] = v[p] > s ? 1 : 0; return;
    case 'lt': for (let p = 0; p < n; p++) y[p] = v[p] < s ? 1 : 0; return;
    case 'window': for (let p = 0; p < n; p++) y[p] = Math.abs(v[p]) <= s ? 1 : 0; return;
    case 'ternarize': for (let p = 0; p < n; p++) { const x = v[p]; y[p] = x > s ? 1 : x < -s ? -1 : 0; } return;
    case 'ternarizeOfficial': for (let p = 0; p < n; p++) { const x = v[p]; y[p] = x >= s ? 1 : x < -s ? -1 : 0; } return;
  }
  throw new ConfigError('op', `unknown op s:${String(op)}`);
}

function binarySame(op: BinaryOp, y: Data, x: Data, z: Data): void {
  const n = y.length;
  switch (op) {
    case 'add': for (let p = 0; p < n; p++) y[p] = x[p] + z[p]; return;
    case 'sub': for (let p = 0; p < n; p++) y[p] = x[p] - z[p]; return;
    case 'mul': for (let p = 0; p < n; p++) y[p] = x[p] * z[p]; return;
    case 'div': for (let p = 0; p < n; p++) y[p] = x[p] / z[p]; return;
    case 'max': for (let p = 0; p < n; p++) y[p] = Math.max(x[p], z[p]); return;
    case 'min': for (let p = 0; p < n; p++) y[p] = Math.min(x[p], z[p]); return;
    case 'gt': for (let p = 0; p < n; p++) y[p] = x[p] > z[p] ? 1 : 0; return;
  }
  throw new ConfigError('binary.op', `unknown op ${String(op)}`);
}

/** `a op b[l]` over the [outer, len, inner] layout: b has `len` entries (or one). */
function binaryBroadcast(op: BinaryOp, y: Data, x: Data, z: Data, outer: number, len: number, inner: number): void {
  let p = 0;
  for (let o = 0; o < outer; o++)
    for (let l = 0; l < len; l++) {
      const b = z[len === 1 ? 0 : l];
      const end = p + inner;
      switch (op) {
        case 'add': for (; p < end; p++) y[p] = x[p] + b; break;
        case 'sub': for (; p < end; p++) y[p] = x[p] - b; break;
        case 'mul': for (; p < end; p++) y[p] = x[p] * b; break;
        case 'div': for (; p < end; p++) y[p] = x[p] / b; break;
        case 'max': for (; p < end; p++) y[p] = Math.max(x[p], b); break;
        case 'min': for (; p < end; p++) y[p] = Math.min(x[p], b); break;
        case 'gt': for (; p < end; p++) y[p] = x[p] > b ? 1 : 0; break;
        default: throw new ConfigError('binary.op', `unknown op ${String(op)}`);
      }
    }
}

/** Folds x[start …] as `len` runs of `inner` values into `acc` (cpu's memory-order reduction). */
function fold(op: ReduceOp, acc: Float64Array, x: Data, start: number, len: number, inner: number): void {
  let p = start;
  for (let j = 0; j < len; j++) {
    switch (op) {
      case 'sum': for (let i = 0; i < inner; i++, p++) acc[i] = acc[i] + x[p]; break;
      case 'sumAbs': for (let i = 0; i < inner; i++, p++) acc[i] = acc[i] + Math.abs(x[p]); break;
      case 'sumSquares': for (let i = 0; i < inner; i++, p++) { const v = x[p]; acc[i] = acc[i] + v * v; } break;
      case 'max': for (let i = 0; i < inner; i++, p++) { const v = x[p]; acc[i] = v > acc[i] || v !== v ? v : acc[i]; } break;
      case 'maxAbs': for (let i = 0; i < inner; i++, p++) { const v = Math.abs(x[p]); acc[i] = v > acc[i] || v !== v ? v : acc[i]; } break;
      default: throw new ConfigError('reduce.op', `unknown op ${String(op)}`);
    }
  }
}

/** The float64 js backend. */
export const js64: Backend = createJsBackend('float64');
/** The float32 js backend. */
export const js32: Backend = createJsBackend('float32');
