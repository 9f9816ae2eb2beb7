/**
 * Laws of tensors as plain data (src/tensor.ts): `tensor()` checks the data length against the
 * shape (a ShapeError naming both) and rejects invalid shapes; every constructor gives
 * `data.length = size(shape)`; `reshape` keeps the data and checks the size; `tensorEqual` treats
 * −0 and +0 as equal, NaN as unequal (even to itself) and is reflexive otherwise; `cast`
 * float32 → float64 → float32 is exact bit for bit; `assertFinite` names the field and the first
 * bad index.
 */
import fc from 'fast-check';
import { NonFiniteError, ShapeError, SttnError } from '../src/errors.js';
import { assertFinite, cast, dtypeOf, full, reshape, scalar, size, tensor, tensorEqual, zeros, type Tensor } from '../src/tensor.js';
import { example, law, throwsWith } from './law.js';

const shapeArb = fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 });
const dtypeArb = fc.constantFrom<'float32' | 'float64'>('float32', 'float64');
/** A shape and float64 data of its size. */
const sized = shapeArb.chain((shape) =>
  fc.record({ shape: fc.constant(shape), data: fc.float64Array({ minLength: size(shape), maxLength: size(shape), noNaN: true }) }),
);

/** The error `f` throws (or undefined). */
function caught(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

const bitsEqual = (a: ArrayLike<number>, b: ArrayLike<number>): boolean => a.length === b.length && Array.prototype.every.call(a, (x: number, i: number) => Object.is(x, b[i]));

// ---- construction ------------------------------------------------------------------------------

law('tensor(): data of the wrong length is a ShapeError naming the shape and the length found', [shapeArb, fc.nat({ max: 40 })], (shape, len) => {
  fc.pre(len !== size(shape));
  const e = caught(() => tensor(shape, new Float64Array(len)));
  return (
    e instanceof ShapeError &&
    Array.isArray(e.expected) &&
    bitsEqual(e.expected as number[], shape) &&
    bitsEqual(e.found, [len]) &&
    e.message.includes(`[${shape.join(', ')}]`) &&
    e.message.includes(`[${len}]`)
  );
});

law('tensor(): the data length must match for plain arrays and for a requested dtype too', [shapeArb, fc.nat({ max: 40 }), dtypeArb], (shape, len, dtype) => {
  fc.pre(len !== size(shape));
  return throwsWith(() => tensor(shape, new Array(len).fill(0)), ShapeError, `[${len}]`) && throwsWith(() => tensor(shape, new Float32Array(len), dtype), ShapeError, `[${len}]`);
});

example('tensor(): a negative or fractional dimension is an SttnError naming the shape', () =>
  throwsWith(() => tensor([2, -1], []), SttnError, '[2, -1]') && throwsWith(() => tensor([1.5], [0]), SttnError, '[1.5]') && throwsWith(() => tensor([NaN], []), SttnError, 'shape'));

law('every constructor gives data.length = size(shape), the requested dtype, and a copy of the shape', [sized, dtypeArb, fc.double({ noNaN: true })], ({ shape, data }, dtype, v) => {
  const ts: Tensor[] = [tensor(shape, data), tensor(shape, data, dtype), tensor(shape, Array.from(data), dtype), zeros(shape, dtype), full(shape, v, dtype)];
  const lengthsOk = ts.every((t) => t.data.length === size(t.shape) && bitsEqual(t.shape, shape) && t.shape !== shape);
  return lengthsOk && ts.slice(1).every((t) => dtypeOf(t) === dtype) && dtypeOf(tensor(shape, data)) === 'float64' && scalar(v, dtype).shape.length === 0;
});

law('tensor(): the dtype follows the data (Float32Array → float32, plain arrays → float64) unless given', [sized], ({ shape, data }) => {
  const f32 = Float32Array.from(data);
  return dtypeOf(tensor(shape, f32)) === 'float32' && dtypeOf(tensor(shape, Array.from(data))) === 'float64' && dtypeOf(tensor(shape, f32, 'float64')) === 'float64';
});

// ---- reshape -----------------------------------------------------------------------------------

law('reshape keeps the data (no copy) for a shape of the same size', [sized], ({ shape, data }) => {
  const t = tensor(shape, data);
  const n = size(shape);
  const r = reshape(t, [n]);
  return r.data === t.data && bitsEqual(r.shape, [n]) && bitsEqual(reshape(r, shape).shape, shape);
});

law('reshape to a shape of another size is a ShapeError naming both shapes', [sized, shapeArb], ({ shape, data }, to) => {
  fc.pre(size(to) !== size(shape));
  const e = caught(() => reshape(tensor(shape, data), to));
  return e instanceof ShapeError && e.message.includes(`[${to.join(', ')}]`) && e.message.includes(`[${shape.join(', ')}]`);
});

// ---- tensorEqual -------------------------------------------------------------------------------

law('tensorEqual: −0 equals +0 wherever a zero sits', [fc.array(fc.constantFrom(0, -0, 1, -2.5), { minLength: 1, maxLength: 12 }), fc.infiniteStream(fc.boolean())], (xs, flips) => {
  const it = flips[Symbol.iterator]();
  const ys = xs.map((x) => (x === 0 && it.next().value ? -x : x));
  return tensorEqual(tensor([xs.length], xs), tensor([ys.length], ys)) && tensorEqual(tensor([1], [0]), tensor([1], [-0]));
});

law('tensorEqual: a NaN anywhere makes a tensor unequal, even to itself', [fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 12 }), fc.nat()], (xs, at) => {
  const ys = xs.slice();
  ys[at % ys.length] = NaN;
  const t = tensor([ys.length], ys);
  return !tensorEqual(t, t) && !tensorEqual(t, tensor([xs.length], xs)) && !tensorEqual(tensor([xs.length], xs), t);
});

law('tensorEqual: reflexive on finite tensors, and false on a different shape or value', [sized, fc.nat()], ({ shape, data }, at) => {
  const finite = data.map((v) => (Number.isFinite(v) ? v : 0));
  const t = tensor(shape, finite);
  if (!tensorEqual(t, tensor(shape, finite.slice()))) return false;
  if (finite.length === 0) return true;
  const other = finite.slice();
  const i = at % other.length;
  other[i] = other[i] === 0 ? 1 : other[i] * 2;
  return !tensorEqual(t, tensor(shape, other)) && !tensorEqual(t, tensor([...shape, 1], finite));
});

example('tensorEqual: reflexive on ±Infinity (an infinite entry equals itself)', () => {
  const t = tensor([3], [Infinity, -Infinity, 1]);
  return tensorEqual(t, t) && !tensorEqual(t, tensor([3], [-Infinity, Infinity, 1]));
});

// ---- cast --------------------------------------------------------------------------------------

law('cast float32 → float64 → float32 is exact, bit for bit (−0 and ±Infinity included)', [
  shapeArb.chain((shape) => fc.record({ shape: fc.constant(shape), data: fc.float32Array({ minLength: size(shape), maxLength: size(shape), noNaN: true }) })),
], ({ shape, data }) => {
  const t = tensor(shape, data);
  const wide = cast(t, 'float64');
  const back = cast(wide, 'float32');
  return dtypeOf(wide) === 'float64' && dtypeOf(back) === 'float32' && bitsEqual(back.data, data) && bitsEqual(wide.data, data) && bitsEqual(back.shape, shape);
});

law('cast to the dtype a tensor already has is the identity', [sized, dtypeArb], ({ shape, data }, dtype) => {
  const t = tensor(shape, data, dtype);
  return cast(t, dtype) === t;
});

// ---- assertFinite ------------------------------------------------------------------------------

law('assertFinite: names the field and the first non-finite index and its value', [
  // finite in float32 too: beyond ±3.4·10³⁸ a float32 tensor would round the value to ±Infinity
  fc.array(fc.double({ min: -3e38, max: 3e38, noNaN: true }), { minLength: 1, maxLength: 20 }),
  fc.nat(),
  fc.constantFrom(NaN, Infinity, -Infinity),
  fc.constantFrom('w', 'g1', 'layer.kernel'),
  fc.boolean(),
  dtypeArb,
], (xs, at, bad, field, another, dtype) => {
  const i = at % xs.length;
  const ys = xs.slice();
  ys[i] = bad;
  if (another) ys.push(NaN); // a later bad value must not be the one reported
  const e = caught(() => assertFinite(field, tensor([ys.length], ys, dtype)));
  return e instanceof NonFiniteError && e.field === field && e.index === i && Object.is(e.value, bad) && e.message.includes(field) && e.message.includes(`index ${i}`);
});

law('assertFinite: passes finite tensors', [sized], ({ shape, data }) => {
  const t = tensor(shape, data.map((v) => (Number.isFinite(v) ? v : 0)));
  return caught(() => assertFinite('x', t)) === undefined;
});
