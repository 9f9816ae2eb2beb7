/**
 * The backend agreement laws as data, so that the same predicates run in Node
 * (laws/backend-agreement.test.ts, every backend of laws/backends.ts against cpu64) and in a
 * browser page (laws/agreement-page.ts, gpu.js WebGL2 against a reference that generates no
 * code, under the page's strict CSP). The tolerances and arbitraries are explained in
 * laws/backend-agreement.test.ts's header.
 *
 * `agreementLaws(reference)` lists every law: a name, its arbitraries (none for a fixed example),
 * a boolean predicate over (backend, ...drawn values) and its number of runs. Binding them to
 * fast-check and to a test runner is the caller's (`law()`/`example()` in Node).
 */
import fc from 'fast-check';
import type { Backend, BinaryOp, Conv2dOptions, PoolOptions, ReduceOp, ScalarOp, UnaryOp } from '../src/backend.js';
import { outSize } from '../src/backend.js';
import { ConfigError, ShapeError } from '../src/errors.js';
import { rng, uniform } from '../src/random.js';
import { dtypeOf, sameShape, size, type Tensor } from '../src/tensor.js';

/** One agreement law: `predicate(backend, ...values drawn from arbs)` must hold `numRuns` times (once when `arbs` is empty). */
export interface AgreementLaw {
  readonly name: string;
  readonly arbs: readonly fc.Arbitrary<unknown>[];
  readonly predicate: (b: Backend, ...args: never[]) => boolean;
  readonly numRuns: number;
}

/** Binds `law` to fast-check for backend `b`: throws (with fast-check's counterexample and seed) when it fails. */
export function checkLaw(l: AgreementLaw, b: Backend, numRuns = l.numRuns): void {
  const p = l.predicate as (b: Backend, ...args: unknown[]) => boolean;
  if (l.arbs.length === 0) {
    const ok: boolean = p(b);
    if (ok !== true) throw new Error(`example "${l.name}" does not hold`);
    return;
  }
  const prop = fc.property(...(l.arbs as [fc.Arbitrary<unknown>]), (...args: unknown[]) => {
    const ok: boolean = p(b, ...args);
    if (typeof ok !== 'boolean') throw new TypeError(`law "${l.name}": predicate returned ${typeof ok}, not boolean`);
    return ok;
  });
  fc.assert(prop, { numRuns });
}
// ---------------------------------------------------------------------------------------------
// Arbitraries: float32-representable elements, filtered inside the element arbitrary.

const F32_MIN_NORMAL = 2 ** -126;

/** Float32 values in [−max, max]: normal numbers or an exact ±0 (subnormals may be flushed on a GPU). */
const f32 = (max = 100): fc.Arbitrary<number> =>
  fc.float({ min: Math.fround(-max), max: Math.fround(max), noNaN: true, noDefaultInfinity: true })
    .filter((x) => x === 0 || Math.abs(x) >= F32_MIN_NORMAL);

/** Float32 values with lo ≤ |x| ≤ hi, either sign unless `positive`. */
const f32Away = (lo: number, hi: number, positive = false): fc.Arbitrary<number> =>
  fc.float({ min: Math.fround(positive ? lo : -hi), max: Math.fround(hi), noNaN: true, noDefaultInfinity: true })
    .filter((x) => Math.abs(x) >= lo);

/** Elements that make ties, zeros of both signs and exact ±1 likely, mixed with general values. */
const f32Mixed = (max = 100): fc.Arbitrary<number> =>
  fc.oneof({ arbitrary: f32(max), weight: 4 }, { arbitrary: fc.constantFrom(0, -0, 1, -1, 0.5, F32_MIN_NORMAL, -F32_MIN_NORMAL), weight: 1 });

/** The float32 neighbours of a float32 value v (one ulp below and above). */
function f32Neighbours(v: number): [number, number] {
  const f = new Float32Array([v]);
  const i = new Int32Array(f.buffer);
  const at = (bits: number): number => {
    i[0] = bits;
    return f[0];
  };
  const bits = i[0];
  if (v === 0) return [at(0x80000001 | 0), at(1)];
  return v > 0 ? [at(bits - 1), at(bits + 1)] : [at(bits + 1), at(bits - 1)];
}

/** Elements around the thresholds ±s: exactly on them, one float32 ulp off, or anywhere. */
const f32Around = (s: number): fc.Arbitrary<number> => {
  const near = [s, -s, ...f32Neighbours(s), ...f32Neighbours(-s)].filter((x) => x === 0 || Math.abs(x) >= F32_MIN_NORMAL);
  return fc.oneof({ arbitrary: f32(Math.max(4 * s, 4)), weight: 2 }, { arbitrary: fc.constantFrom(...near), weight: 1 });
};

const dims = (rank: number, max = 5): fc.Arbitrary<number[]> => fc.array(fc.integer({ min: 1, max }), { minLength: rank, maxLength: rank });
const anyShape: fc.Arbitrary<number[]> = fc.integer({ min: 0, max: 4 }).chain((r) => dims(r));

/**
 * Above this many elements a tensor is filled from a drawn seed instead of element by element:
 * shrinking a failing case then shrinks shapes and seeds, not 10⁵ elements one at a time (which
 * would take fast-check hours on a matmul).
 */
const SEEDED_ABOVE = 1024;

/** Seeded fill for large tensors: float32 values uniform in [−10, 10], one in 16 an exact ±0 or ±1. */
function seededElements(seed: number, n: number): number[] {
  const r = rng(seed);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const u = uniform(r);
    out[i] = u < 1 / 16 ? [0, -0, 1, -1][Math.floor(u * 64)] : Math.fround(20 * uniform(r) - 10);
  }
  return out;
}

/**
 * A tensor of `shape` over float32-representable `elem` (or, above SEEDED_ABOVE elements, the
 * seeded fill), stored as float64 or float32 data.
 */
const tensorOf = (shape: readonly number[], elem: fc.Arbitrary<number>): fc.Arbitrary<Tensor> => {
  const n = size(shape);
  const values: fc.Arbitrary<number[]> =
    n > SEEDED_ABOVE ? fc.integer({ min: 0, max: 2 ** 31 - 1 }).map((seed) => seededElements(seed, n)) : fc.array(elem, { minLength: n, maxLength: n });
  return fc.tuple(values, fc.boolean()).map(([xs, as32]) => ({
    shape: [...shape],
    data: as32 ? Float32Array.from(xs) : Float64Array.from(xs),
  }));
};

const tensorArb = (elem: fc.Arbitrary<number>, shape: fc.Arbitrary<number[]> = anyShape): fc.Arbitrary<Tensor> =>
  shape.chain((s) => tensorOf(s, elem));

/** Every agreement law, each comparing a backend with `cpu64`, the float64 reference. */
export function agreementLaws(cpu64: Backend): AgreementLaw[] {
  const laws: AgreementLaw[] = [];

  /** A law, checked on every backend by the caller. */
  function lawOn<Ts extends [unknown, ...unknown[]]>(
    name: string,
    arbs: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> },
    predicate: (b: Backend, ...args: Ts) => boolean,
    opts?: { readonly numRuns?: number },
  ): void {
    laws.push({ name, arbs: arbs as readonly fc.Arbitrary<unknown>[], predicate: predicate as unknown as AgreementLaw['predicate'], numRuns: opts?.numRuns ?? 100 });
  }

  /** A fixed example, checked once on every backend. */
  function exampleOn(name: string, predicate: (b: Backend) => boolean): void {
    laws.push({ name, arbs: [], predicate: predicate as AgreementLaw['predicate'], numRuns: 1 });
  }

  // ---------------------------------------------------------------------------------------------
  // Comparison.

  const abs = (t: Tensor): Tensor => cpu64.unary('abs', t);

  /**
   * `y` has the backend's dtype and the reference's shape, and yᵢ = refᵢ (infinities included) or
   * |yᵢ − refᵢ| ≤ bound(i) for every i (NaN never passes).
   */
  function agrees(b: Backend, y: Tensor, ref: Tensor, bound: (i: number) => number): boolean {
    if (dtypeOf(y) !== b.dtype || !sameShape(y.shape, ref.shape) || y.data.length !== ref.data.length) return false;
    for (let i = 0; i < ref.data.length; i++) {
      const [v, r] = [y.data[i], ref.data[i]];
      if (!(v === r || Math.abs(v - r) <= bound(i))) return false;
    }
    return true;
  }

  const exact = (b: Backend, y: Tensor, ref: Tensor): boolean => agrees(b, y, ref, () => 0);

  /**
   * Results below float32's smallest normal may be rounded as subnormals or flushed to zero: every
   * inexact comparison allows that much absolute error.
   */
  const UNDERFLOW = F32_MIN_NORMAL;

  /** Within c·u of the reference, relatively. */
  const ulps = (b: Backend, y: Tensor, ref: Tensor, c: number): boolean =>
    agrees(b, y, ref, (i) => c * b.precision * Math.abs(ref.data[i]) + UNDERFLOW);

  /**
   * A sum of at most `terms` rounded products per element, `mag` the exact Σ|terms| per element
   * (the reference op on absolute values): 2·(terms+1)·u·mag + 2u·|ref| (see the header), plus
   * (terms+1)·2⁻¹²⁶: a GPU that flushes subnormals to zero (WebGL on SwiftShader does) loses
   * each product below 2⁻¹²⁶ and the sum's own subnormal part, each less than 2⁻¹²⁶.
   */
  const summed = (b: Backend, y: Tensor, ref: Tensor, mag: Tensor, terms: number): boolean =>
    agrees(b, y, ref, (i) => 2 * (terms + 1) * b.precision * mag.data[i] + 2 * b.precision * Math.abs(ref.data[i]) + (terms + 1) * UNDERFLOW);

  // ---------------------------------------------------------------------------------------------
  // Conversion and element-wise maps.

  lawOn(
    'from: a float32-representable tensor converts exactly to the backend dtype',
    [tensorArb(f32Mixed())],
    (b, x) => exact(b, b.from(x), x),
    { numRuns: 30 },
  );

  /**
   * Per unary op: the input domain and the tolerance, c ulps (c = 0: exact) of |y| times
   * (1 + cond(x)), plus c ulps of `atol`. `cond` is exp's condition number |x|: an exp that is only
   * backward stable (argument reduction x·log₂e rounded, as float32 GPU code does) is off by |x|·u.
   */
  const UNARY: Record<UnaryOp, { elem: fc.Arbitrary<number>; c: number; atol?: number; cond?: (x: number) => number }> = {
    neg: { elem: f32Mixed(), c: 0 },
    abs: { elem: f32Mixed(), c: 0 },
    sign: { elem: f32Mixed(), c: 0 },
    relu: { elem: f32Mixed(), c: 0 },
    step: { elem: f32Mixed(), c: 0 },
    square: { elem: f32Mixed(1e4), c: 4 },
    sqrt: { elem: fc.oneof(f32Away(1e-6, 1e6, true), fc.constant(0)), c: 4 },
    rsqrt: { elem: f32Away(1e-6, 1e6, true), c: 4 },
    reciprocal: { elem: f32Away(1e-6, 1e6), c: 4 },
    exp: { elem: f32(20), c: 8, cond: Math.abs },
    log: { elem: f32Away(1e-6, 1e6, true), c: 8, atol: 1 },
  };

  for (const op of Object.keys(UNARY) as UnaryOp[]) {
    const { elem, c, atol = 0, cond = () => 0 } = UNARY[op];
    lawOn(
      `unary(${op}) agrees with cpu64 ${c === 0 ? 'exactly' : `within ${c} ulps`}`,
      [tensorArb(elem)],
      (b, x) => {
        const y = b.unary(op, x);
        const ref = cpu64.unary(op, x);
        if (c === 0) return exact(b, y, ref);
        return agrees(b, y, ref, (i) => c * b.precision * (Math.abs(ref.data[i]) * (1 + cond(x.data[i])) + atol) + UNDERFLOW);
      },
      { numRuns: 20 },
    );
  }

  /** Per scalar op: the parameter's domain, the elements given s, and the tolerance in ulps. */
  const THRESHOLDS: fc.Arbitrary<number> = fc.oneof(fc.constant(0), f32Away(1e-3, 10, true));
  const SCALAR: Record<ScalarOp, { s: fc.Arbitrary<number>; elem: (s: number) => fc.Arbitrary<number>; c: number }> = {
    add: { s: f32(), elem: () => f32Mixed(), c: 4 },
    mul: { s: f32(), elem: () => f32Mixed(), c: 4 },
    max: { s: fc.oneof(f32(), fc.constantFrom(Infinity, -Infinity)), elem: (s) => f32Around(Number.isFinite(s) ? s : 1), c: 0 },
    min: { s: fc.oneof(f32(), fc.constantFrom(Infinity, -Infinity)), elem: (s) => f32Around(Number.isFinite(s) ? s : 1), c: 0 },
    clamp: { s: THRESHOLDS, elem: f32Around, c: 0 },
    gt: { s: f32(10), elem: f32Around, c: 0 },
    lt: { s: f32(10), elem: f32Around, c: 0 },
    window: { s: THRESHOLDS, elem: f32Around, c: 0 },
    ternarize: { s: THRESHOLDS, elem: f32Around, c: 0 },
    ternarizeOfficial: { s: THRESHOLDS, elem: f32Around, c: 0 },
  };

  for (const op of Object.keys(SCALAR) as ScalarOp[]) {
    const { s: sArb, elem, c } = SCALAR[op];
    lawOn(
      `scalar(${op}) agrees with cpu64 ${c === 0 ? 'exactly, on and one ulp around its threshold' : `within ${c} ulps`}`,
      [sArb.chain((s) => fc.tuple(fc.constant(s), tensorArb(elem(s))))],
      (b, [s, x]) => {
        const y = b.scalar(op, x, s);
        const ref = cpu64.scalar(op, x, s);
        return c === 0 ? exact(b, y, ref) : ulps(b, y, ref, c);
      },
      { numRuns: 20 },
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Binary maps: same shape, axis broadcast (either sign of axis) and scalar broadcast.

  /** `[a, b, axis]` for every broadcast form the interface allows. */
  const binaryOperands = (elemA: fc.Arbitrary<number>, elemB: fc.Arbitrary<number>): fc.Arbitrary<[Tensor, Tensor, number | undefined]> =>
    anyShape.chain((shape) => {
      const same = fc.tuple(tensorOf(shape, elemA), tensorOf(shape, elemB), fc.constant(undefined));
      const scalarB = fc.constantFrom<number[]>([], [1]).chain((bs) => fc.tuple(tensorOf(shape, elemA), tensorOf(bs, elemB), fc.constant(undefined)));
      if (shape.length === 0) return fc.oneof(same, scalarB);
      const axisB = fc
        .integer({ min: 0, max: shape.length - 1 })
        .chain((ax) =>
          fc.tuple(tensorOf(shape, elemA), tensorOf([shape[ax]], elemB), fc.constantFrom(ax, ax - shape.length)),
        );
      return fc.oneof(same, scalarB, axisB);
    });

  const BINARY: Record<BinaryOp, { b: fc.Arbitrary<number>; c: number }> = {
    add: { b: f32Mixed(), c: 4 },
    sub: { b: f32Mixed(), c: 4 },
    mul: { b: f32Mixed(), c: 4 },
    div: { b: f32Away(1e-3, 1e3), c: 4 },
    max: { b: f32Mixed(), c: 0 },
    min: { b: f32Mixed(), c: 0 },
    gt: { b: f32Mixed(), c: 0 },
  };

  for (const op of Object.keys(BINARY) as BinaryOp[]) {
    const { b: elemB, c } = BINARY[op];
    lawOn(
      `binary(${op}) agrees with cpu64 (same shape, axis and scalar broadcast)`,
      [binaryOperands(f32Mixed(), elemB)],
      (b, [x, z, axis]) => {
        // Where the reference rejects a pairing (a b that is neither a's shape nor of size 1), the
        // backend must reject it with the same error.
        if (throws(() => cpu64.binary(op, x, z, axis))) return sameError(b, ShapeError, (be) => be.binary(op, x, z, axis));
        const y = b.binary(op, x, z, axis);
        const ref = cpu64.binary(op, x, z, axis);
        return c === 0 ? exact(b, y, ref) : ulps(b, y, ref, c);
      },
      { numRuns: 25 },
    );
  }

  lawOn(
    'axpy agrees with cpu64: |error| ≤ 4u·(|a| + |s·b|)',
    [f32(), anyShape.chain((s) => fc.tuple(tensorOf(s, f32Mixed()), tensorOf(s, f32Mixed())))],
    (b, s, [x, z]) => {
      const y = b.axpy(x, s, z);
      const ref = cpu64.axpy(x, s, z);
      return agrees(b, y, ref, (i) => 4 * b.precision * (Math.abs(x.data[i]) + Math.abs(s * z.data[i])) + UNDERFLOW);
    },
    { numRuns: 25 },
  );

  lawOn(
    'select agrees with cpu64 exactly (−0 and 0 select b)',
    [anyShape.chain((s) => fc.tuple(tensorOf(s, fc.constantFrom(0, -0, 1, -2, 0.5)), tensorOf(s, f32Mixed()), tensorOf(s, f32Mixed())))],
    (b, [cond, x, z]) => exact(b, b.select(cond, x, z), cpu64.select(cond, x, z)),
    { numRuns: 25 },
  );

  // ---------------------------------------------------------------------------------------------
  // Reductions, over every axis (either sign) and over all (axis = null).

  const reduceOperands: fc.Arbitrary<[Tensor, number | null]> = fc.integer({ min: 0, max: 4 }).chain((r) =>
    fc.tuple(
      dims(r, 6).chain((s) => tensorOf(s, f32Mixed())),
      r === 0 ? fc.constant(null) : fc.oneof(fc.constant(null), fc.integer({ min: -r, max: r - 1 })),
    ),
  );

  const REDUCE: Record<ReduceOp, UnaryOp | null> = { sum: 'abs', sumAbs: 'abs', sumSquares: 'square', max: null, maxAbs: null };

  for (const op of Object.keys(REDUCE) as ReduceOp[]) {
    const magOf = REDUCE[op];
    lawOn(
      `reduce(${op}) agrees with cpu64 ${magOf ? 'within the bound of a sum' : 'exactly'}, on every axis and on all`,
      [reduceOperands],
      (b, [x, axis]) => {
        const y = b.reduce(op, x, axis);
        const ref = cpu64.reduce(op, x, axis);
        if (!magOf) return exact(b, y, ref);
        const terms = axis === null ? x.data.length : x.shape[axis < 0 ? x.shape.length + axis : axis];
        return summed(b, y, ref, cpu64.reduce('sum', cpu64.unary(magOf, x), axis), terms);
      },
      { numRuns: 25 },
    );
  }

  // ---------------------------------------------------------------------------------------------
  // matmul: all four transposes, sizes off the 4×8 tile (1, 3, 5, 17, 33, 129…), and blocks
  // larger than the wasm kernel's MC = 128, KC = 384 and NC = 1024.

  const MM_SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33, 65, 129];

  const mmOperands = (sizes: fc.Arbitrary<number>, maxWork: number) =>
    fc
      .tuple(sizes, sizes, sizes, fc.boolean(), fc.boolean())
      .filter(([m, k, n]) => m * k * n <= maxWork)
      .chain(([m, k, n, transA, transB]) =>
        fc.tuple(
          tensorOf(transA ? [k, m] : [m, k], f32Mixed(10)),
          tensorOf(transB ? [n, k] : [k, n], f32Mixed(10)),
          fc.constant({ transA, transB }),
        ),
      );

  const matmulAgrees = (b: Backend, a: Tensor, z: Tensor, opts: { transA: boolean; transB: boolean }): boolean => {
    const y = b.matmul(a, z, opts);
    const ref = cpu64.matmul(a, z, opts);
    const k = opts.transA ? a.shape[0] : a.shape[1];
    return summed(b, y, ref, cpu64.matmul(abs(a), abs(z), opts), k);
  };

  lawOn(
    'matmul agrees with cpu64 for every transpose and odd sizes',
    [mmOperands(fc.constantFrom(...MM_SIZES), 300_000)],
    (b, [a, z, opts]) => matmulAgrees(b, a, z, opts),
    { numRuns: 60 },
  );

  lawOn(
    'matmul agrees with cpu64 across cache blocks (M > 128, K > 384, N > 1024)',
    [mmOperands(fc.constantFrom(1, 3, 130, 389, 777, 1031), 1_500_000)],
    (b, [a, z, opts]) => matmulAgrees(b, a, z, opts),
    { numRuns: 12 },
  );

  exampleOn('matmul with K = 0 is all zeros, with M or N = 0 is empty', (b) => {
    const z = b.matmul({ shape: [3, 0], data: new Float64Array(0) }, { shape: [0, 2], data: new Float64Array(0) });
    const e = b.matmul({ shape: [0, 4], data: new Float64Array(0) }, { shape: [4, 2], data: new Float64Array(8) });
    return exact(b, z, { shape: [3, 2], data: new Float64Array(6) }) && sameShape(e.shape, [0, 2]) && e.data.length === 0;
  });

  // ---------------------------------------------------------------------------------------------
  // Convolutions: forward and both gradients, strides 1 and 2, pads 0 and 1, NHWC / OHWI.

  interface ConvCase {
    readonly x: Tensor;
    readonly w: Tensor;
    readonly dy: Tensor;
    readonly opts: Conv2dOptions;
  }

  const convCase = (
    geom: fc.Arbitrary<{ n: number; h: number; w: number; cin: number; cout: number; kh: number; kw: number; s: [number, number]; p: [number, number] }>,
  ): fc.Arbitrary<ConvCase> =>
    geom
      .filter((g) => outSize(g.h, g.kh, g.s[0], g.p[0]) >= 1 && outSize(g.w, g.kw, g.s[1], g.p[1]) >= 1)
      .chain((g) => {
        const oh = outSize(g.h, g.kh, g.s[0], g.p[0]);
        const ow = outSize(g.w, g.kw, g.s[1], g.p[1]);
        return fc.record({
          x: tensorOf([g.n, g.h, g.w, g.cin], f32Mixed(10)),
          w: tensorOf([g.cout, g.kh, g.kw, g.cin], f32Mixed(10)),
          dy: tensorOf([g.n, oh, ow, g.cout], f32Mixed(10)),
          opts: fc.constant<Conv2dOptions>({ strides: g.s, pads: g.p }),
        });
      });

  const stride = fc.constantFrom(1, 2);
  const pad = fc.constantFrom(0, 1);
  const smallGeometry = fc.record({
    n: fc.integer({ min: 1, max: 2 }),
    h: fc.integer({ min: 1, max: 8 }),
    w: fc.integer({ min: 1, max: 8 }),
    cin: fc.integer({ min: 1, max: 5 }),
    cout: fc.integer({ min: 1, max: 9 }),
    kh: fc.integer({ min: 1, max: 3 }),
    kw: fc.integer({ min: 1, max: 3 }),
    s: fc.tuple(stride, stride),
    p: fc.tuple(pad, pad),
  });
  /** 1×1, stride 1, no padding: im2col is the identity (the wasm kernels skip it). */
  const pointwiseGeometry = smallGeometry.map((g) => ({ ...g, kh: 1, kw: 1, s: [1, 1] as [number, number], p: [0, 0] as [number, number] }));
  /**
   * Enough rows (≥ 2·18·18 = 648) for a patch length of 270–324 floats that the wasm kernels walk
   * the patch matrix in at least two chunks (of 512 KiB, ≤ 485 rows here).
   */
  const chunkedGeometry = fc.record({
    n: fc.constant(2),
    h: fc.integer({ min: 20, max: 24 }),
    w: fc.integer({ min: 20, max: 24 }),
    cin: fc.integer({ min: 30, max: 36 }),
    cout: fc.integer({ min: 1, max: 5 }),
    kh: fc.constant(3),
    kw: fc.constant(3),
    s: fc.tuple(fc.constant(1), fc.constant(1)),
    p: fc.tuple(pad, pad),
  });

  const convLaws = (what: string, cases: fc.Arbitrary<ConvCase>, numRuns: number): void => {
    lawOn(
      `conv2d agrees with cpu64 (${what})`,
      [cases],
      (b, { x, w, opts }) =>
        summed(b, b.conv2d(x, w, opts), cpu64.conv2d(x, w, opts), cpu64.conv2d(abs(x), abs(w), opts), w.shape[1] * w.shape[2] * w.shape[3]),
      { numRuns },
    );
    lawOn(
      `conv2dGradInput agrees with cpu64 (${what})`,
      [cases],
      (b, { x, w, dy, opts }) =>
        summed(
          b,
          b.conv2dGradInput(dy, w, x.shape, opts),
          cpu64.conv2dGradInput(dy, w, x.shape, opts),
          cpu64.conv2dGradInput(abs(dy), abs(w), x.shape, opts),
          w.shape[0] * w.shape[1] * w.shape[2],
        ),
      { numRuns },
    );
    lawOn(
      `conv2dGradFilter agrees with cpu64 (${what})`,
      [cases],
      (b, { x, w, dy, opts }) =>
        summed(
          b,
          b.conv2dGradFilter(x, dy, w.shape, opts),
          cpu64.conv2dGradFilter(x, dy, w.shape, opts),
          cpu64.conv2dGradFilter(abs(x), abs(dy), w.shape, opts),
          dy.shape[0] * dy.shape[1] * dy.shape[2],
        ),
      { numRuns },
    );
  };

  convLaws('strides 1/2, pads 0/1, small shapes', convCase(smallGeometry), 40);
  convLaws('1×1 kernels', convCase(pointwiseGeometry), 10);
  convLaws('patch matrix in several chunks', convCase(chunkedGeometry), 3);

  // ---------------------------------------------------------------------------------------------
  // Max pooling: ties are likely (small value set), overlapping windows sum their gradients.

  const poolCase: fc.Arbitrary<{ x: Tensor; dy: Tensor; opts: PoolOptions }> = fc
    .record({
      n: fc.integer({ min: 1, max: 2 }),
      h: fc.integer({ min: 1, max: 7 }),
      w: fc.integer({ min: 1, max: 7 }),
      c: fc.integer({ min: 1, max: 4 }),
      size: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
      strides: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
    })
    .filter((g) => g.h >= g.size[0] && g.w >= g.size[1])
    .chain((g) => {
      const oh = outSize(g.h, g.size[0], g.strides[0], 0);
      const ow = outSize(g.w, g.size[1], g.strides[1], 0);
      const elem = fc.oneof(fc.constantFrom(0, -0, 1, -1, 2), f32(10));
      return fc.record({
        x: tensorOf([g.n, g.h, g.w, g.c], elem),
        dy: tensorOf([g.n, oh, ow, g.c], f32Mixed(10)),
        opts: fc.constant<PoolOptions>({ size: g.size, strides: g.strides }),
      });
    });

  lawOn(
    'maxPool agrees with cpu64 exactly',
    [poolCase],
    (b, { x, opts }) => exact(b, b.maxPool(x, opts), cpu64.maxPool(x, opts)),
    { numRuns: 40 },
  );

  lawOn(
    'maxPoolGrad agrees with cpu64 (ties to the first maximum; overlaps summed)',
    [poolCase],
    (b, { x, dy, opts }) => {
      const ref = cpu64.maxPoolGrad(x, dy, opts);
      const terms = Math.ceil(opts.size[0] / opts.strides[0]) * Math.ceil(opts.size[1] / opts.strides[1]);
      return summed(b, b.maxPoolGrad(x, dy, opts), ref, cpu64.maxPoolGrad(x, abs(dy), opts), terms);
    },
    { numRuns: 40 },
  );

  // ---------------------------------------------------------------------------------------------
  // Errors: every shape mismatch is a ShapeError with the reference's message, on every backend.

  function throws(f: () => unknown): boolean {
    try {
      f();
    } catch {
      return true;
    }
    return false;
  }

  /** `f` throws, on `b` and on cpu64, an error of class `cls` with the same message. */
  function sameError(b: Backend, cls: new (...a: never[]) => Error, f: (be: Backend) => unknown): boolean {
    const caught = (be: Backend): Error | undefined => {
      try {
        f(be);
      } catch (e) {
        return e as Error;
      }
      return undefined;
    };
    const mine = caught(b);
    const ref = caught(cpu64);
    return mine instanceof cls && ref instanceof cls && mine.message === ref.message;
  }

  const t = (shape: number[]): Tensor => ({ shape, data: new Float32Array(size(shape)) });

  /** Two different shapes of rank 1–3. */
  const differentShapes = fc
    .tuple(fc.integer({ min: 1, max: 3 }).chain((r) => dims(r, 4)), fc.integer({ min: 1, max: 3 }).chain((r) => dims(r, 4)))
    .filter(([p, q]) => !sameShape(p, q));

  lawOn(
    'element-wise shape mismatches throw the reference ShapeError on every backend',
    [differentShapes, fc.constantFrom<BinaryOp>('add', 'mul', 'gt')],
    (b, [p, q], op) =>
      (size(q) === 1 || sameError(b, ShapeError, (be) => be.binary(op, t(p), t(q)))) &&
      sameError(b, ShapeError, (be) => be.axpy(t(p), 2, t(q))) &&
      sameError(b, ShapeError, (be) => be.select(t(p), t(p), t(q))) &&
      sameError(b, ShapeError, (be) => be.select(t(q), t(p), t(p))) &&
      sameError(b, ShapeError, (be) => be.binary(op, t(p), t([p[0] + 1]), 0)),
    { numRuns: 20 },
  );

  lawOn(
    'matmul with mismatched inner dimensions throws the reference ShapeError on every backend',
    [fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 })), fc.boolean(), fc.boolean()],
    (b, [m, k, k2, n], transA, transB) => {
      if (k === k2) k2 += 1;
      const a = t(transA ? [k, m] : [m, k]);
      const z = t(transB ? [n, k2] : [k2, n]);
      return (
      sameError(b, ShapeError, (be) => be.matmul(a, z, { transA, transB })) &&
      sameError(b, ShapeError, (be) => be.matmul(t([m, k, 1]), t([k, n]))) &&
      sameError(b, ShapeError, (be) => be.matmul(t([m, k]), t([k])))
      );
    },
    { numRuns: 20 },
  );

  exampleOn('convolution and pooling shape mismatches throw the reference ShapeError', (b) => {
    const opts: Conv2dOptions = { strides: [1, 1], pads: [1, 1] };
    const pool: PoolOptions = { size: [2, 2], strides: [2, 2] };
    const x = t([2, 5, 5, 3]);
    const w = t([4, 3, 3, 3]);
    const dy = t([2, 5, 5, 4]);
    return (
      sameError(b, ShapeError, (be) => be.conv2d(x, t([4, 3, 3, 2]), opts)) &&
      sameError(b, ShapeError, (be) => be.conv2d(t([5, 5, 3]), w, opts)) &&
      sameError(b, ShapeError, (be) => be.conv2d(t([1, 2, 2, 3]), t([4, 5, 5, 3]), { strides: [1, 1], pads: [0, 0] })) &&
      sameError(b, ShapeError, (be) => be.conv2dGradInput(t([2, 5, 5, 3]), w, x.shape, opts)) &&
      sameError(b, ShapeError, (be) => be.conv2dGradInput(dy, w, [2, 5, 5, 2], opts)) &&
      sameError(b, ShapeError, (be) => be.conv2dGradFilter(x, t([2, 4, 5, 4]), w.shape, opts)) &&
      sameError(b, ShapeError, (be) => be.conv2dGradFilter(x, dy, [4, 3, 3, 1], opts)) &&
      sameError(b, ShapeError, (be) => be.maxPool(t([5, 5, 3]), pool)) &&
      sameError(b, ShapeError, (be) => be.maxPoolGrad(x, t([2, 3, 3, 3]), pool)) &&
      sameError(b, ConfigError, (be) => be.scalar('add', x, NaN)) &&
      sameError(b, ConfigError, (be) => be.conv2d(x, w, { strides: [0, 1], pads: [0, 0] }))
    );
  });

  return laws;
}
