/**
 * Tensors as plain data: `{ shape, data }` over a `Float32Array` or a `Float64Array`,
 * row-major (the last axis varies fastest).
 *
 * Law (laws/tensor.test.ts): `data.length === size(shape)` for every tensor built here;
 * `tensorEqual` treats -0 and +0 as equal, equal infinities as equal, and NaN as unequal to all.
 */
import { NonFiniteError, ShapeError, SttnError } from './errors.js';

export type Data = Float32Array | Float64Array;
export type DType = 'float32' | 'float64';

export interface Tensor {
  readonly shape: readonly number[];
  readonly data: Data;
}

export const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export const dtypeOf = (t: Tensor): DType => (t.data instanceof Float64Array ? 'float64' : 'float32');

export const alloc = (dtype: DType, n: number): Data =>
  dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);

/** A tensor over `data` (copied into `dtype` when given and different). Checks the length. */
export function tensor(shape: readonly number[], data: Data | readonly number[], dtype?: DType): Tensor {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new SttnError(`tensor: invalid shape [${shape.join(', ')}]`);
  }
  const want = dtype ?? (data instanceof Float32Array ? 'float32' : 'float64');
  let arr: Data;
  if (data instanceof Float32Array || data instanceof Float64Array) {
    arr = dtypeOf({ shape, data }) === want ? data : want === 'float64' ? Float64Array.from(data) : Float32Array.from(data);
  } else {
    arr = want === 'float64' ? Float64Array.from(data) : Float32Array.from(data);
  }
  if (arr.length !== size(shape)) {
    throw new ShapeError('tensor data', shape, [arr.length]);
  }
  return { shape: [...shape], data: arr };
}

export const zeros = (shape: readonly number[], dtype: DType = 'float64'): Tensor => ({
  shape: [...shape],
  data: alloc(dtype, size(shape)),
});

export const full = (shape: readonly number[], v: number, dtype: DType = 'float64'): Tensor => {
  const t = zeros(shape, dtype);
  t.data.fill(v);
  return t;
};

export const scalar = (v: number, dtype: DType = 'float64'): Tensor => tensor([], [v], dtype);

/** Same data, another shape of the same size (no copy). */
export function reshape(t: Tensor, shape: readonly number[]): Tensor {
  if (size(shape) !== t.data.length) throw new ShapeError('reshape', shape, t.shape);
  return { shape: [...shape], data: t.data };
}

export const cast = (t: Tensor, dtype: DType): Tensor =>
  dtypeOf(t) === dtype ? t : { shape: t.shape, data: dtype === 'float64' ? Float64Array.from(t.data) : Float32Array.from(t.data) };

export const clone = (t: Tensor): Tensor => ({ shape: [...t.shape], data: t.data.slice() });

export const sameShape = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((d, i) => d === b[i]);

export function assertShape(what: string, t: Tensor, expected: readonly number[]): void {
  if (!sameShape(t.shape, expected)) throw new ShapeError(what, expected, t.shape);
}

export function assertSameShape(what: string, a: Tensor, b: Tensor): void {
  if (!sameShape(a.shape, b.shape)) {
    throw new ShapeError(what, a.shape, b.shape);
  }
}

/** Throws a NonFiniteError naming `field` at the first NaN or ±Infinity. */
export function assertFinite(field: string, t: Tensor): void {
  const d = t.data;
  for (let i = 0; i < d.length; i++) {
    if (!Number.isFinite(d[i])) throw new NonFiniteError(field, i, d[i]);
  }
}

/** Element-wise equality with a tolerance `|a-b| <= atol + rtol·|b|`; -0 equals +0. */
export function tensorClose(a: Tensor, b: Tensor, rtol = 0, atol = 0): boolean {
  if (!sameShape(a.shape, b.shape)) return false;
  for (let i = 0; i < a.data.length; i++) {
    const x = a.data[i];
    const y = b.data[i];
    if (x !== y && !(Math.abs(x - y) <= atol + rtol * Math.abs(y))) return false;
  }
  return true;
}

export const tensorEqual = (a: Tensor, b: Tensor): boolean => tensorClose(a, b, 0, 0);

/** Largest |a_i - b_i| (Infinity on a shape mismatch): for messages and tolerances. */
export function maxAbsDiff(a: Tensor, b: Tensor): number {
  if (!sameShape(a.shape, b.shape)) return Infinity;
  let m = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i] - b.data[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

export const toArray = (t: Tensor): number[] => Array.from(t.data);
