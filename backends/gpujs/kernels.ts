/**
 * The gpu.js kernels of the `gpujs` backend: one closure-free function per primitive.
 *
 * gpu.js transpiles each function from its source text (to JavaScript, WGSL, GLSL or wasm), so a
 * kernel reads nothing but its arguments and `this.thread.x`, and calls nothing but `Math.*` and
 * the helpers `idiv` and `expAccurate` below. Every kernel has a flat 1-D output, one thread per
 * output element in row-major order; tensors travel as flat float32 arrays and sizes as `Integer`
 * arguments, so one compiled kernel serves every shape (dynamic output and arguments).
 *
 * GPU float division is not correctly rounded (WGSL and GLSL allow ulps of error), so a flat
 * index is never split with a bare `Math.floor(t / n)` or `%`: `idiv` rounds and then corrects
 * the quotient with exact integer products, exact for every index below 2²⁴.
 *
 * Law (laws/backend-agreement.test.ts, laws/gpujs.test.ts): each kernel computes what the
 * matching loop of backends/cpu.ts computes, within float32 roundoff.
 */

/** What gpu.js puts on `this` inside a kernel. */
export interface KernelThis {
  readonly thread: { readonly x: number; readonly y: number; readonly z: number };
}

/** A flat float32 input as kernels see it. */
export type KArray = ArrayLike<number>;

/** ⌊a / b⌋ for integers 0 ≤ a < 2²⁴, 0 < b, exact even where the division is not. */
export function idiv(a: number, b: number): number {
  let q = Math.floor((a + 0.5) / b);
  const r = a - q * b;
  if (r < 0) {
    q = q - 1;
  }
  if (r >= b) {
    q = q + 1;
  }
  return q;
}

/**
 * eˣ to about 2 float32 ulps. A GPU's `exp` is `exp2(x·log₂e)`, whose rounded argument costs up
 * to |x·log₂e|·2⁻²⁴ of relative error in the result (19 ulps at x = −18.7 on Mesa's llvmpipe).
 * So: x = k·ln2 + r with the Cody–Waite split of ln2 (k·LN2_HI exact), eʳ by its Taylor
 * polynomial (|r| ≤ ln2/2, truncation < 0.1 ulp), times 2ᵏ in two exact halves so that
 * 2ᵏ itself never overflows. Outside |x| < 89 (and for NaN) the result is 0, ∞ or NaN anyway.
 */
export function expAccurate(x: number): number {
  if (!(Math.abs(x) < 89)) {
    return Math.exp(x);
  }
  const k = Math.round(x * 1.4426950408889634);
  const r = x - k * 0.693145751953125 - k * 1.4286068203094173e-6;
  const p =
    1 + r * (1 + r * (0.5 + r * (0.16666666666666666 + r * (0.041666666666666664 +
      r * (0.008333333333333333 + r * (0.001388888888888889 + r * 0.0001984126984126984))))));
  const h = Math.floor(k / 2);
  return p * Math.pow(2, k - h) * Math.pow(2, h);
}

/** Op codes of `unaryKernel`, in the order of the `UnaryOp` union. */
export const UNARY_CODES = {
  neg: 0, abs: 1, sign: 2, square: 3, sqrt: 4, rsqrt: 5, exp: 6, log: 7, relu: 8, step: 9, reciprocal: 10,
} as const;

/** `sign(0) = +1`; NaN stays NaN (like cpu's `x >= 0 ? 1 : x < 0 ? -1 : NaN`). */
export function unaryKernel(this: KernelThis, x: KArray, op: number): number {
  const v = x[this.thread.x];
  if (op === 0) return -v;
  if (op === 1) return Math.abs(v);
  if (op === 2) return v >= 0 ? 1 : v < 0 ? -1 : v;
  if (op === 3) return v * v;
  if (op === 4) return Math.sqrt(v);
  if (op === 5) return 1 / Math.sqrt(v);
  if (op === 6) return expAccurate(v);
  if (op === 7) return Math.log(v);
  if (op === 8) return v > 0 ? v : v <= 0 ? 0 : v;
  if (op === 9) return v > 0 ? 1 : 0;
  return 1 / v;
}

/** Op codes of `scalarKernel`. */
export const SCALAR_CODES = {
  add: 0, mul: 1, max: 2, min: 3, clamp: 4, gt: 5, lt: 6, window: 7, ternarize: 8, ternarizeOfficial: 9,
} as const;

/**
 * `s` is the parameter rounded to float32; `lo ≤ s ≤ hi` are the float32 neighbours that make a
 * float32 `x` compare with the exact (float64) parameter: `x > s ⇔ x > lo`, `x < s ⇔ x < hi`,
 * `x ≥ s ⇔ x ≥ hi`, `x ≤ s ⇔ x ≤ lo`, and `x < −s ⇔ x < −lo`.
 */
export function scalarKernel(this: KernelThis, x: KArray, s: number, lo: number, hi: number, op: number): number {
  const v = x[this.thread.x];
  if (op === 0) return v + s;
  if (op === 1) return v * s;
  if (op === 2) return v > s ? v : v <= s ? s : v;
  if (op === 3) return v < s ? v : v >= s ? s : v;
  if (op === 4) return v > lo ? s : v < -lo ? -s : v;
  if (op === 5) return v > lo ? 1 : 0;
  if (op === 6) return v < hi ? 1 : 0;
  if (op === 7) return Math.abs(v) <= lo ? 1 : 0;
  if (op === 8) return v > lo ? 1 : v < -lo ? -1 : 0;
  return v >= hi ? 1 : v < -lo ? -1 : 0;
}

/** Op codes of `binaryKernel`. */
export const BINARY_CODES = { add: 0, sub: 1, mul: 2, div: 3, max: 4, min: 5, gt: 6 } as const;

/** `b` is indexed by `⌊t / inner⌋ mod len` (the `[outer, len, inner]` layout of src/shapes.ts). */
export function binaryKernel(this: KernelThis, a: KArray, b: KArray, len: number, inner: number, op: number): number {
  const t = this.thread.x;
  const r = idiv(t, inner);
  const bi = r - idiv(r, len) * len;
  const u = a[t];
  const v = b[bi];
  if (op === 0) return u + v;
  if (op === 1) return u - v;
  if (op === 2) return u * v;
  if (op === 3) return u / v;
  // Math.max/min propagate NaN: the last branch is reached only when one side is NaN.
  if (op === 4) return u > v ? u : u <= v ? v : u + v;
  if (op === 5) return u < v ? u : u >= v ? v : u + v;
  return u > v ? 1 : 0;
}

export function axpyKernel(this: KernelThis, a: KArray, b: KArray, s: number): number {
  const t = this.thread.x;
  return a[t] + s * b[t];
}

export function selectKernel(this: KernelThis, c: KArray, a: KArray, b: KArray): number {
  const t = this.thread.x;
  return c[t] !== 0 ? a[t] : b[t];
}

/** Op codes of `reduceKernel`. */
export const REDUCE_CODES = { sum: 0, sumAbs: 1, sumSquares: 2, max: 3, maxAbs: 4 } as const;

/** One thread per `[outer, inner]` output; the loop runs along the reduced axis in order. */
export function reduceKernel(this: KernelThis, x: KArray, len: number, inner: number, op: number): number {
  const t = this.thread.x;
  const o = idiv(t, inner);
  const base = o * len * inner + (t - o * inner);
  if (op >= 3) {
    let best = op === 4 ? Math.abs(x[base]) : x[base];
    for (let j = 1; j < len; j++) {
      const w = x[base + j * inner];
      const u = op === 4 ? Math.abs(w) : w;
      // cpu keeps the first NaN it meets: `u > acc || isNaN(u)`.
      if (u > best || u !== u) {
        best = u;
      }
    }
    return best;
  }
  let acc = 0;
  for (let j = 0; j < len; j++) {
    const w = x[base + j * inner];
    if (op === 0) {
      acc += w;
    } else if (op === 1) {
      acc += Math.abs(w);
    } else {
      acc += w * w;
    }
  }
  return acc;
}

/** `c[i, j] = Σ_p a[i·asi + p·asp] · b[p·bsp + j·bsj]`: the strides carry the transposes. */
export function matmulKernel(
  this: KernelThis, a: KArray, b: KArray, k: number, n: number, asi: number, asp: number, bsp: number, bsj: number,
): number {
  const t = this.thread.x;
  const i = idiv(t, n);
  const j = t - i * n;
  let acc = 0;
  for (let p = 0; p < k; p++) {
    acc += a[i * asi + p * asp] * b[p * bsp + j * bsj];
  }
  return acc;
}

/** Direct NHWC ⋆ OHWI convolution, summing over (ky, kx, ci) in im2col order. */
export function conv2dKernel(
  this: KernelThis, x: KArray, wt: KArray,
  h: number, w: number, cin: number, cout: number, kh: number, kw: number,
  oh: number, ow: number, sh: number, sw: number, ph: number, pw: number,
): number {
  const t = this.thread.x;
  const r1 = idiv(t, cout);
  const co = t - r1 * cout;
  const r2 = idiv(r1, ow);
  const ox = r1 - r2 * ow;
  const b = idiv(r2, oh);
  const oy = r2 - b * oh;
  let acc = 0;
  for (let ky = 0; ky < kh; ky++) {
    const iy = oy * sh - ph + ky;
    if (iy >= 0 && iy < h) {
      for (let kx = 0; kx < kw; kx++) {
        const ix = ox * sw - pw + kx;
        if (ix >= 0 && ix < w) {
          const xb = ((b * h + iy) * w + ix) * cin;
          const wb = ((co * kh + ky) * kw + kx) * cin;
          for (let ci = 0; ci < cin; ci++) {
            acc += x[xb + ci] * wt[wb + ci];
          }
        }
      }
    }
  }
  return acc;
}

/** dL/dx as a gather: each input position sums the outputs whose window covers it. */
export function conv2dGradInputKernel(
  this: KernelThis, dy: KArray, wt: KArray,
  h: number, w: number, cin: number, cout: number, kh: number, kw: number,
  oh: number, ow: number, sh: number, sw: number, ph: number, pw: number,
): number {
  const t = this.thread.x;
  const r1 = idiv(t, cin);
  const ci = t - r1 * cin;
  const r2 = idiv(r1, w);
  const ix = r1 - r2 * w;
  const b = idiv(r2, h);
  const iy = r2 - b * h;
  let acc = 0;
  for (let ky = 0; ky < kh; ky++) {
    const ty = iy + ph - ky;
    const oy = idiv(ty, sh);
    if (ty >= 0 && oy * sh === ty && oy < oh) {
      for (let kx = 0; kx < kw; kx++) {
        const tx = ix + pw - kx;
        const ox = idiv(tx, sw);
        if (tx >= 0 && ox * sw === tx && ox < ow) {
          const db = ((b * oh + oy) * ow + ox) * cout;
          for (let co = 0; co < cout; co++) {
            acc += dy[db + co] * wt[((co * kh + ky) * kw + kx) * cin + ci];
          }
        }
      }
    }
  }
  return acc;
}

/** dL/dw: each kernel tap sums dy·x over the batch and the output positions. */
export function conv2dGradFilterKernel(
  this: KernelThis, x: KArray, dy: KArray,
  n: number, h: number, w: number, cin: number, cout: number, kh: number, kw: number,
  oh: number, ow: number, sh: number, sw: number, ph: number, pw: number,
): number {
  const t = this.thread.x;
  const r1 = idiv(t, cin);
  const ci = t - r1 * cin;
  const r2 = idiv(r1, kw);
  const kx = r1 - r2 * kw;
  const co = idiv(r2, kh);
  const ky = r2 - co * kh;
  let acc = 0;
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < oh; oy++) {
      const iy = oy * sh - ph + ky;
      if (iy >= 0 && iy < h) {
        for (let ox = 0; ox < ow; ox++) {
          const ix = ox * sw - pw + kx;
          if (ix >= 0 && ix < w) {
            acc += dy[((b * oh + oy) * ow + ox) * cout + co] * x[((b * h + iy) * w + ix) * cin + ci];
          }
        }
      }
    }
  }
  return acc;
}

/**
 * The first maximum of each pooling window in row-major window order: its value (`want = 0`)
 * or its flat index into `x` (`want = 1`, exact as a float32 below 2²⁴).
 */
export function poolKernel(
  this: KernelThis, x: KArray,
  h: number, w: number, c: number, kh: number, kw: number, oh: number, ow: number, sh: number, sw: number, want: number,
): number {
  const t = this.thread.x;
  const r1 = idiv(t, c);
  const ci = t - r1 * c;
  const r2 = idiv(r1, ow);
  const ox = r1 - r2 * ow;
  const b = idiv(r2, oh);
  const oy = r2 - b * oh;
  const p0 = ((b * h + oy * sh) * w + ox * sw) * c + ci;
  let best = x[p0];
  let at = p0;
  for (let ky = 0; ky < kh; ky++) {
    for (let kx = 0; kx < kw; kx++) {
      const p = p0 + (ky * w + kx) * c;
      const v = x[p];
      if (v > best) {
        best = v;
        at = p;
      }
    }
  }
  return want === 1 ? at : best;
}

/** dL/dx of max pooling as a gather: sums dy over the windows whose first maximum `arg` is here. */
export function poolGradKernel(
  this: KernelThis, arg: KArray, dy: KArray,
  h: number, w: number, c: number, kh: number, kw: number, oh: number, ow: number, sh: number, sw: number,
): number {
  const t = this.thread.x;
  const r1 = idiv(t, c);
  const ci = t - r1 * c;
  const r2 = idiv(r1, w);
  const ix = r1 - r2 * w;
  const b = idiv(r2, h);
  const iy = r2 - b * h;
  let acc = 0;
  for (let ky = 0; ky < kh; ky++) {
    const ty = iy - ky;
    const oy = idiv(ty, sh);
    if (ty >= 0 && oy * sh === ty && oy < oh) {
      for (let kx = 0; kx < kw; kx++) {
        const tx = ix - kx;
        const ox = idiv(tx, sw);
        if (tx >= 0 && ox * sw === tx && ox < ow) {
          const q = ((b * oh + oy) * ow + ox) * c + ci;
          if (arg[q] === t) {
            acc += dy[q];
          }
        }
      }
    }
  }
  return acc;
}

type Kind = 'Array' | 'Integer' | 'Float';

export interface KernelSpec {
  readonly fn: (this: KernelThis, ...args: never[]) => number;
  /** gpu.js argument types, in the function's parameter order. */
  readonly types: readonly Kind[];
}

const A = 'Array';
const I = 'Integer';
const F = 'Float';
const GEOMETRY: Kind[] = [I, I, I, I, I, I, I, I, I, I, I, I];

/** Every kernel by name: what the host sends across (the name) and what gpu.js compiles. */
export const KERNELS = {
  unary: { fn: unaryKernel, types: [A, I] },
  scalar: { fn: scalarKernel, types: [A, F, F, F, I] },
  binary: { fn: binaryKernel, types: [A, A, I, I, I] },
  axpy: { fn: axpyKernel, types: [A, A, F] },
  select: { fn: selectKernel, types: [A, A, A] },
  reduce: { fn: reduceKernel, types: [A, I, I, I] },
  matmul: { fn: matmulKernel, types: [A, A, I, I, I, I, I, I] },
  conv2d: { fn: conv2dKernel, types: [A, A, ...GEOMETRY] },
  conv2dGradInput: { fn: conv2dGradInputKernel, types: [A, A, ...GEOMETRY] },
  conv2dGradFilter: { fn: conv2dGradFilterKernel, types: [A, A, I, ...GEOMETRY] },
  pool: { fn: poolKernel, types: [A, I, I, I, I, I, I, I, I, I, I] },
  poolGrad: { fn: poolGradKernel, types: [A, A, I, I, I, I, I, I, I, I, I] },
} as const satisfies Record<string, KernelSpec>;

export type KernelName = keyof typeof KERNELS;

/** Helper functions every kernel may call (gpu.js compiles them alongside). */
export const HELPERS = [idiv, expAccurate] as const;
