/**
 * Law of the js backend (backends/js.ts): every primitive equals the cpu reference's bit for bit,
 * in float64 (js64 vs cpu64) and float32 (js32 vs cpu32) — element-wise maps, scalar ops, binary
 * ops (same shape and broadcast along an axis), axpy, select, every reduction over every axis and
 * over all, matmul in all four transpose combinations, the convolution and its two gradients, max
 * pooling and its gradient — on inputs with zeros, negative zeros, ties and the odd NaN; and the
 * same errors (an unknown op is a ConfigError, mismatched shapes a ShapeError).
 */
import fc from 'fast-check';
import { cpu32, cpu64 } from '../backends/cpu.js';
import { js32, js64 } from '../backends/js.js';
import type { Backend, BinaryOp, ReduceOp, ScalarOp, UnaryOp } from '../src/backend.js';
import { ConfigError, ShapeError } from '../src/errors.js';
import type { Tensor } from '../src/tensor.js';
import { law, throwsWith, example } from './law.js';

const pairs: [Backend, Backend][] = [
  [js64, cpu64],
  [js32, cpu32],
];

/** Same shape and the same bits, NaN payloads aside (-0 and +0 differ). */
function sameBits(a: Tensor, b: Tensor): boolean {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) return false;
  if (a.data.constructor !== b.data.constructor || a.data.length !== b.data.length) return false;
  for (let i = 0; i < a.data.length; i++) {
    const x = a.data[i];
    const y = b.data[i];
    if (!(Object.is(x, y) || (Number.isNaN(x) && Number.isNaN(y)))) return false;
  }
  return true;
}

const value = fc.oneof(
  { weight: 8, arbitrary: fc.double({ min: -4, max: 4, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(0, -0, 1, -1, 0.5, -0.5) },
  { weight: 1, arbitrary: fc.constant(Number.NaN) },
);
const dims = (rank: number) => fc.array(fc.integer({ min: 1, max: 4 }), { minLength: rank, maxLength: rank });
const tensorOf = (shape: number[]) =>
  fc.array(value, { minLength: shape.reduce((a, b) => a * b, 1), maxLength: shape.reduce((a, b) => a * b, 1) }).map((d) => ({ shape, data: Float64Array.from(d) }));
const anyTensor = fc.integer({ min: 0, max: 4 }).chain(dims).chain(tensorOf);
const both = (f: (B: Backend) => Tensor): boolean => pairs.every(([J, C]) => sameBits(f(J), f(C)));

const UNARY: UnaryOp[] = ['neg', 'abs', 'sign', 'square', 'sqrt', 'rsqrt', 'exp', 'log', 'relu', 'step', 'reciprocal'];
const SCALAR: ScalarOp[] = ['add', 'mul', 'max', 'min', 'clamp', 'gt', 'lt', 'window', 'ternarize', 'ternarizeOfficial'];
const BINARY: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'max', 'min', 'gt'];
const REDUCE: ReduceOp[] = ['sum', 'sumAbs', 'sumSquares', 'max', 'maxAbs'];

law('unary: js equals cpu bit for bit', [fc.constantFrom(...UNARY), anyTensor], (op, x) => both((B) => B.unary(op, B.from(x))));

law('scalar: js equals cpu bit for bit', [fc.constantFrom(...SCALAR), anyTensor, fc.double({ min: -2, max: 2, noNaN: true })], (op, x, s) =>
  both((B) => B.scalar(op, B.from(x), s)),
);

law(
  'binary, same shape and broadcast along an axis: js equals cpu bit for bit',
  [fc.constantFrom(...BINARY), fc.integer({ min: 1, max: 4 }).chain(dims).chain((s) => fc.tuple(tensorOf(s), tensorOf(s), fc.nat(s.length - 1)))],
  (op, [a, b, axis]) => {
    const row = { shape: [a.shape[axis]], data: b.data.slice(0, a.shape[axis]) };
    const one = { shape: [1], data: b.data.slice(0, 1) };
    return both((B) => B.binary(op, B.from(a), B.from(b))) && both((B) => B.binary(op, B.from(a), B.from(row), axis)) && both((B) => B.binary(op, B.from(a), B.from(one)));
  },
);

law('axpy and select: js equals cpu bit for bit', [fc.integer({ min: 0, max: 3 }).chain(dims).chain((s) => fc.tuple(tensorOf(s), tensorOf(s), tensorOf(s))), fc.double({ min: -3, max: 3, noNaN: true })], ([a, b, c], s) =>
  both((B) => B.axpy(B.from(a), s, B.from(b))) && both((B) => B.select(B.from(c), B.from(a), B.from(b))),
);

law('reduce over every axis and over all: js equals cpu bit for bit', [fc.constantFrom(...REDUCE), fc.integer({ min: 1, max: 4 }).chain(dims).chain(tensorOf)], (op, x) =>
  [null, ...x.shape.map((_, i) => i)].every((axis) => both((B) => B.reduce(op, B.from(x), axis))),
);

law(
  'matmul in every transpose combination: js equals cpu bit for bit',
  [fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 })).chain(([m, k, n]) => fc.tuple(tensorOf([m * k]), tensorOf([k * n]), fc.constant([m, k, n] as const))), fc.boolean(), fc.boolean()],
  ([a, b, [m, k, n]], transA, transB) => {
    const A = { shape: transA ? [k, m] : [m, k], data: a.data };
    const Bm = { shape: transB ? [n, k] : [k, n], data: b.data };
    return both((B) => B.matmul(B.from(A), B.from(Bm), { transA, transB }));
  },
);

const convCase = fc
  .record({
    n: fc.integer({ min: 1, max: 2 }),
    h: fc.integer({ min: 2, max: 5 }),
    w: fc.integer({ min: 2, max: 5 }),
    cin: fc.integer({ min: 1, max: 3 }),
    cout: fc.integer({ min: 1, max: 3 }),
    k: fc.integer({ min: 1, max: 2 }),
    s: fc.integer({ min: 1, max: 2 }),
    p: fc.integer({ min: 0, max: 1 }),
  })
  .chain((g) => {
    const oh = Math.floor((g.h + 2 * g.p - g.k) / g.s) + 1;
    const ow = Math.floor((g.w + 2 * g.p - g.k) / g.s) + 1;
    return fc.tuple(fc.constant(g), tensorOf([g.n, g.h, g.w, g.cin]), tensorOf([g.cout, g.k, g.k, g.cin]), tensorOf([g.n, oh, ow, g.cout]));
  });

law('conv2d and both gradients: js equals cpu bit for bit', [convCase], ([g, x, w, dy]) => {
  const opts = { strides: [g.s, g.s] as const, pads: [g.p, g.p] as const };
  return (
    both((B) => B.conv2d(B.from(x), B.from(w), opts)) &&
    both((B) => B.conv2dGradInput(B.from(dy), B.from(w), x.shape, opts)) &&
    both((B) => B.conv2dGradFilter(B.from(x), B.from(dy), w.shape, opts))
  );
});

law('maxPool and its gradient: js equals cpu bit for bit', [fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 2, max: 5 }), fc.integer({ min: 2, max: 5 }), fc.integer({ min: 1, max: 3 })).chain(([n, h, w, c]) => fc.tuple(tensorOf([n, h, w, c]), fc.constant([n, h, w, c])))], ([x, [n, h, w, c]]) => {
  const opts = { size: [2, 2] as const, strides: [2, 2] as const };
  const dy = { shape: [n, Math.floor((h - 2) / 2) + 1, Math.floor((w - 2) / 2) + 1, c], data: new Float64Array(n * (Math.floor((h - 2) / 2) + 1) * (Math.floor((w - 2) / 2) + 1) * c).map((_, i) => i - 3) };
  return both((B) => B.maxPool(B.from(x), opts)) && both((B) => B.maxPoolGrad(B.from(x), B.from(dy), opts));
});

example('js fails as cpu does: an unknown op is a ConfigError, mismatched shapes a ShapeError', () => {
  const a = { shape: [2], data: new Float64Array(2) };
  const b = { shape: [3], data: new Float64Array(3) };
  return pairs.every(([J]) =>
    throwsWith(() => J.unary('nope' as UnaryOp, a), ConfigError, 'nope') &&
    throwsWith(() => J.scalar('nope' as ScalarOp, a, 1), ConfigError, 'nope') &&
    throwsWith(() => J.binary('nope' as BinaryOp, a, a), ConfigError, 'nope') &&
    throwsWith(() => J.reduce('nope' as ReduceOp, a, null), ConfigError, 'nope') &&
    throwsWith(() => J.axpy(a, 1, b), ShapeError) &&
    throwsWith(() => J.scalar('add', a, Number.NaN), ConfigError, 'finite'),
  );
});
