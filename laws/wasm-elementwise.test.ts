/**
 * The wasm backend's element-wise, reduction and pooling kernels (backends/wasm/assembly/
 * elementwise.ts and pool.ts) compute exactly what the cpu backend's float32 loops compute.
 *
 * Exactness, not a tolerance, is the claim (backends/wasm.ts says why it holds: float32 ops are
 * correctly rounded, scalar ops run in float64 as the JS loops do). So values are drawn from all
 * of float32 — NaN, ±∞, ±0, subnormals — and, for the scalar ops, placed on and beside the
 * threshold `s` (a double that is usually not a float32), where a float32 rounding of `s` would
 * flip a comparison. Results are compared with `Object.is`, element by element (±0 distinguished,
 * every NaN equal).
 *
 * The one inexact case: a sum along a contiguous run (inner size 1) is accumulated in two
 * interleaved float64 partial sums, so it may differ from the sequential float64 sum by float64
 * rounding (≤ len·2⁻⁵²·Σ|terms|), and then by one float32 rounding step: the law allows exactly
 * that, and nothing for max / maxAbs or for strided reductions.
 */
import fc from 'fast-check';
import type { Backend, BinaryOp, ReduceOp, ScalarOp, UnaryOp } from '../src/backend.js';
import { createCpuBackend } from '../backends/cpu.js';
import { createWasmBackend } from '../backends/wasm.js';
import type { Tensor } from '../src/tensor.js';
import { law } from './law.js';

const cpu32 = createCpuBackend('float32');
const cpu64 = createCpuBackend('float64');
// every build that serves: the threaded plain build on shared memory (the default where it can
// run), the unshared plain build (`resident: false`, and wherever there is no shared memory), relaxed
const builds: [string, Backend][] = [
  ['wasm(plain, shared)', await createWasmBackend({ kernel: 'plain' })],
  ['wasm(plain)', await createWasmBackend({ kernel: 'plain', resident: false })],
];
try {
  builds.push(['wasm(relaxed)', await createWasmBackend({ kernel: 'relaxed' })]);
} catch (e) {
  console.log(`# relaxed build not checked: ${(e as Error).message}`);
}

const identical = (a: Tensor, b: Tensor): boolean =>
  a.shape.length === b.shape.length &&
  a.shape.every((d, i) => d === b.shape[i]) &&
  a.data.length === b.data.length &&
  a.data.every((v, i) => Object.is(v, b.data[i]));

/** Shapes of rank 1–4 with dims 1–7, so lengths that are not multiples of the SIMD width occur. */
const shapeArb = fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 4 });

/** Any float32, with the special values drawn often. */
const f32Arb = fc.oneof(
  { weight: 4, arbitrary: fc.float() },
  { weight: 1, arbitrary: fc.constantFrom(0, -0, NaN, Infinity, -Infinity, 1, -1) },
);

const tensorOf = (shape: number[], values: fc.Arbitrary<number>): fc.Arbitrary<Tensor> => {
  const n = shape.reduce((a, b) => a * b, 1);
  return fc.array(values, { minLength: n, maxLength: n }).map((v) => ({ shape, data: Float32Array.from(v) }));
};
const tensorArb = (values: fc.Arbitrary<number> = f32Arb): fc.Arbitrary<Tensor> => shapeArb.chain((s) => tensorOf(s, values));

/** The float32 values nearest a double `s` and their neighbours: where a threshold is decided. */
function around(s: number): number[] {
  const f = Math.fround(s);
  const buf = new Float32Array(1);
  const bits = new Int32Array(buf.buffer);
  const step = (x: number, d: number): number => {
    buf[0] = x;
    bits[0] += x >= 0 ? d : -d;
    return buf[0];
  };
  const near = Number.isFinite(f) && f !== 0 ? [f, step(f, 1), step(f, -1)] : [f];
  return [...near, ...near.map((x) => -x)];
}

const UNARY: UnaryOp[] = ['neg', 'abs', 'sign', 'square', 'sqrt', 'rsqrt', 'exp', 'log', 'relu', 'step', 'reciprocal'];
const SCALAR: ScalarOp[] = ['add', 'mul', 'max', 'min', 'clamp', 'gt', 'lt', 'window', 'ternarize', 'ternarizeOfficial'];
const BINARY: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'max', 'min', 'gt'];
const REDUCE: ReduceOp[] = ['sum', 'sumAbs', 'sumSquares', 'max', 'maxAbs'];

/** A finite threshold (mostly not a float32), or ±∞ for the ops that accept it. */
const scalarCase = fc.constantFrom(...SCALAR).chain((op) =>
  fc
    .tuple(
      op === 'max' || op === 'min'
        ? fc.oneof(fc.double({ noNaN: true, min: -1e3, max: 1e3 }), fc.constantFrom(Infinity, -Infinity))
        : fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e3, max: 1e3 }),
    )
    .chain(([s]) => tensorArb(fc.oneof(f32Arb, fc.constantFrom(...around(s)))).map((x) => ({ op, s, x }))),
);

for (const [tag, w] of builds) {

  law(
    `${tag}: every unary op equals cpu32's loop bit for bit (NaN, ±0, ±∞ included)`,
    [fc.constantFrom(...UNARY), tensorArb()],
    (op, x) => identical(w.unary(op, x), cpu32.unary(op, x)),
    { numRuns: 300 },
  );

  law(
    `${tag}: every scalar op equals cpu32's loop bit for bit, thresholds compared as doubles`,
    [scalarCase],
    ({ op, s, x }) => identical(w.scalar(op, x, s), cpu32.scalar(op, x, s)),
    { numRuns: 400 },
  );

  law(
    `${tag}: binary ops equal cpu32 bit for bit: same shape, scalar b, and b broadcast along each axis`,
    [
      fc.constantFrom(...BINARY),
      shapeArb.chain((shape) =>
        fc.tuple(
          tensorOf(shape, f32Arb),
          fc.integer({ min: -1, max: shape.length - 1 }).chain((axis) =>
            axis < 0
              ? fc.oneof(tensorOf(shape, f32Arb), tensorOf([1], f32Arb)).map((b) => ({ b, axis: undefined }))
              : tensorOf([shape[axis]], f32Arb).map((b) => ({ b, axis: axis as number | undefined })),
          ),
        ),
      ),
    ],
    (op, [a, { b, axis }]) => identical(w.binary(op, a, b, axis), cpu32.binary(op, a, b, axis)),
    { numRuns: 400 },
  );

  law(
    `${tag}: axpy and select equal cpu32 bit for bit`,
    [
      shapeArb.chain((shape) => fc.tuple(tensorOf(shape, f32Arb), tensorOf(shape, f32Arb), tensorOf(shape, f32Arb))),
      fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e3, max: 1e3 }),
    ],
    ([a, b, c], s) => identical(w.axpy(a, s, b), cpu32.axpy(a, s, b)) && identical(w.select(c, a, b), cpu32.select(c, a, b)),
    { numRuns: 300 },
  );

  law(
    `${tag}: reductions equal cpu32: exactly along strided axes and for max, within float64 rounding along a contiguous run`,
    [
      fc.constantFrom(...REDUCE),
      shapeArb.chain((shape) =>
        fc.tuple(
          tensorOf(shape, f32Arb),
          fc.integer({ min: -1, max: shape.length - 1 }).map((a) => (a < 0 ? null : a)),
        ),
      ),
    ],
    (op, [x, axis]) => {
      const got = w.reduce(op, x, axis);
      const want = cpu32.reduce(op, x, axis);
      const inner = axis === null ? 1 : x.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
      if (op === 'max' || op === 'maxAbs' || inner > 1) return identical(got, want);
      // contiguous run: same NaN/∞ pattern, finite values within float64 rounding + one float32 step
      const len = axis === null ? x.data.length : x.shape[axis];
      const mass = cpu64.reduce(op === 'sumSquares' ? 'sumSquares' : 'sumAbs', x, axis);
      return (
        got.shape.length === want.shape.length &&
        got.data.every((g, i) => {
          const c = want.data[i];
          if (!Number.isFinite(c) || !Number.isFinite(g)) return Object.is(g, c);
          return Math.abs(g - c) <= 2 ** -23 * Math.abs(c) + 2 ** -52 * len * mass.data[i];
        })
      );
    },
    { numRuns: 400 },
  );

  law(
    `${tag}: maxPool and its gradient equal cpu32 bit for bit (ties, NaN, overlapping and strided windows)`,
    [
      fc
        .record({
          n: fc.integer({ min: 1, max: 2 }),
          h: fc.integer({ min: 1, max: 7 }),
          w: fc.integer({ min: 1, max: 7 }),
          c: fc.integer({ min: 1, max: 9 }),
          kh: fc.integer({ min: 1, max: 3 }),
          kw: fc.integer({ min: 1, max: 3 }),
          sh: fc.integer({ min: 1, max: 3 }),
          sw: fc.integer({ min: 1, max: 3 }),
        })
        .filter((g) => g.kh <= g.h && g.kw <= g.w)
        .chain((g) => {
          const oh = Math.floor((g.h - g.kh) / g.sh) + 1;
          const ow = Math.floor((g.w - g.kw) / g.sw) + 1;
          // few distinct values, so windows have ties; NaN among them
          const vals = fc.oneof(fc.constantFrom(-1, 0, -0, 1, 2, NaN), f32Arb);
          return fc.tuple(fc.constant(g), tensorOf([g.n, g.h, g.w, g.c], vals), tensorOf([g.n, oh, ow, g.c], f32Arb));
        }),
    ],
    ([g, x, dy]) => {
      const opts = { size: [g.kh, g.kw] as const, strides: [g.sh, g.sw] as const };
      return identical(w.maxPool(x, opts), cpu32.maxPool(x, opts)) && identical(w.maxPoolGrad(x, dy, opts), cpu32.maxPoolGrad(x, dy, opts));
    },
    { numRuns: 300 },
  );

  // windows that tile the image (stride = window, nothing left over) take pool.ts's write-once path
  law(
    `${tag}: maxPool's gradient over windows that tile the image equals cpu32 bit for bit (ties, NaN, ±0 in dy)`,
    [
      fc
        .record({
          n: fc.integer({ min: 1, max: 3 }),
          oh: fc.integer({ min: 1, max: 5 }),
          ow: fc.integer({ min: 1, max: 5 }),
          c: fc.integer({ min: 1, max: 11 }),
          kh: fc.integer({ min: 1, max: 3 }),
          kw: fc.integer({ min: 1, max: 3 }),
        })
        .chain((g) => {
          const vals = fc.oneof(fc.constantFrom(-1, 0, -0, 1, 2, NaN), f32Arb);
          const dys = fc.oneof(fc.constantFrom(0, -0, NaN, 1), f32Arb);
          return fc.tuple(fc.constant(g), tensorOf([g.n, g.oh * g.kh, g.ow * g.kw, g.c], vals), tensorOf([g.n, g.oh, g.ow, g.c], dys));
        }),
    ],
    ([g, x, dy]) => {
      const opts = { size: [g.kh, g.kw] as const, strides: [g.kh, g.kw] as const };
      return identical(w.maxPoolGrad(x, dy, opts), cpu32.maxPoolGrad(x, dy, opts));
    },
    { numRuns: 300 },
  );
}
