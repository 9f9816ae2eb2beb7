/**
 * Laws of the ternary × ternary kernels (src/infer/ternary-kernels.ts): every implementation —
 * the plain TypeScript reference and the WebAssembly one (backends/ternary.ts) — packs and
 * multiplies ternary matrices exactly.
 *
 * - gemm(pack(A), pack(W)) equals the plain integer product Σ_k A[i,k]·W[j,k], for M, N in 1..70
 *   and K in 1..700, drawn so that K < 64, K = 64, K not a multiple of 64 and large K all occur,
 *   and M falls on each of the wasm GEMM's paths (1–2 rows, fewer than a panel, panels + tail).
 * - The wasm pack equals the reference pack bit for bit, from Int8Array, Float32Array,
 *   Float64Array and plain arrays (−0 counts as 0); the wasm gemm equals the reference gemm on
 *   arbitrary packed words (any sign ⊆ nz), i.e. the popcount formula itself.
 * - Edge cases of the formula: all zeros, all (−1)·(−1), (+1)·(−1), one lane, exactly 64 lanes.
 * - A value other than −1, 0, +1 (2, 0.5, NaN, −2, a missing value) is a RangeError naming its
 *   row and column.
 * - The wasm layer (quantize-and-pack with pre ops, packed im2col, GEMM on resident weight panels,
 *   scale/bias/relu epilogue) equals the reference layer bit for bit, on the plain build and on
 *   the lookup and fma builds, whose products run on the table-lookup GEMM (largest sums included: every code
 *   and activation equal, K up to 2080): conv and dense, any
 *   geometry, cin straddling 64-lane words or not, chains of affines and relus, sign and ternary
 *   activations (thresholds that are not float32 values, inputs on and next to them), TTQ's second
 *   product, a max-pool after; into a given array or a fresh one; after other layers were
 *   compiled and run, and row by row as on the whole batch.
 * - The wasm maxPool equals the reference bit for bit (first maximum: +0 does not replace −0),
 *   and so do the wasm floatConv (direct float32 convolution with bias, relu, max-pool) and
 *   floatDense (float32 dense on resident weights; zeros of either sign in the inputs), on the
 *   plain build and on the lookup build (relaxed SIMD for its tables, not for its multiply-adds);
 *   the fma build's are within float32 rounding of the reference.
 * - Each build reports what it is (`name`: wasm, wasm-lookup, wasm-fma; the module's `fused` and
 *   `tables` exports), and a module of another build than the options ask for is a ConfigError.
 * Matrices are drawn from a fast-check seed through src/random.ts (fresh every run).
 */
import fc from 'fast-check';
import { createWasmTernaryKernels } from '../backends/ternary.js';
import { outSize } from '../src/backend.js';
import { referenceTernaryKernels, wordsPerRow, type CodeAct, type FloatConvSpec, type PatchGeometry, type Pool, type TernaryKernels, type TernaryLayerSpec } from '../src/infer/ternary-kernels.js';
import { ConfigError } from '../src/errors.js';
import { nextU32, rng, uniform } from '../src/random.js';
import { sameElements as sameBits } from './bits.js';
import { example, law, throwsWith } from './law.js';

const wasm = await createWasmTernaryKernels();
// the opt-in fma build: float kernels with relaxed-SIMD multiply-adds (fused where the CPU has FMA)
const wasmFma = await createWasmTernaryKernels({ fma: true });
// the lookup build: the fma build's table-lookup GEMM, the plain build's float kernels
const wasmLookup = await createWasmTernaryKernels({ tables: true });
// layers split into 2 and 3 parts of row chunks (what a thread pool runs at once), run in turn;
// the fma build's too (its ternary products on the table-lookup GEMM)
const wasmParts = await Promise.all([2, 3].map((parts) => createWasmTernaryKernels({ parts })));
const wasmFmaParts = await Promise.all([2, 3].map((parts) => createWasmTernaryKernels({ parts, fma: true })));
const wasmLookupParts = await Promise.all([2, 3].map((parts) => createWasmTernaryKernels({ parts, tables: true })));
/** The layers that must equal the reference bit for bit: the plain build, and the lookup and fma builds (table lookup). */
const layerImpls = [wasm, wasmLookup, wasmFma];
/** The float kernels that must equal the reference bit for bit: the plain build and the lookup build (no fused multiply-adds). */
const floatImpls = [wasm, wasmLookup];
const impls: readonly TernaryKernels[] = [referenceTernaryKernels, wasm];

type Fill = 'random' | 'sparse' | 'dense' | 'zeros' | 'plus' | 'minus';

/** `rows × k` ternary values drawn from `seed` with the given fill. */
function ternary(rows: number, k: number, fill: Fill, seed: number): Int8Array {
  const r = rng(seed);
  const v = new Int8Array(rows * k);
  for (let i = 0; i < v.length; i++) {
    switch (fill) {
      case 'zeros':
        break;
      case 'plus':
        v[i] = 1;
        break;
      case 'minus':
        v[i] = -1;
        break;
      default: {
        const p = fill === 'sparse' ? 0.1 : fill === 'dense' ? 0.95 : 0.6;
        if (uniform(r) < p) v[i] = uniform(r) < 0.5 ? -1 : 1;
      }
    }
  }
  return v;
}

/** The plain integer product C[i, j] = Σ_k A[i, k]·W[j, k]. */
function plainProduct(a: Int8Array, w: Int8Array, m: number, n: number, k: number): Int32Array {
  const c = new Int32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let q = 0; q < k; q++) s += a[i * k + q] * w[j * k + q];
      c[i * n + j] = s;
    }
  }
  return c;
}

const same = (x: ArrayLike<number>, y: ArrayLike<number>): boolean => x.length === y.length && Array.prototype.every.call(x, (v: number, i: number) => v === y[i]);

const rowsArb = fc.oneof(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 3, max: 7 }), fc.integer({ min: 8, max: 70 }));
const kArb = fc.oneof(fc.integer({ min: 1, max: 63 }), fc.constantFrom(64, 128, 640), fc.integer({ min: 65, max: 700 }));
const fillArb = fc.constantFrom<Fill>('random', 'random', 'random', 'sparse', 'dense', 'zeros', 'plus', 'minus');
const seedArb = fc.integer({ min: 0, max: 2 ** 31 - 1 });

const productCase = fc.record({ m: rowsArb, n: fc.integer({ min: 1, max: 70 }), k: kArb, fillA: fillArb, fillW: fillArb, seed: seedArb });

for (const K of impls) {
  law(
    `${K.name}: gemm of packed rows equals the plain integer product`,
    [productCase],
    ({ m, n, k, fillA, fillW, seed }) => {
      const a = ternary(m, k, fillA, seed);
      const w = ternary(n, k, fillW, seed + 1);
      return same(K.gemm(K.pack(a, m, k), K.pack(w, n, k), m, n, k), plainProduct(a, w, m, n, k));
    },
    { numRuns: 60 },
  );

  law(
    `${K.name}: gemm writes into out (and only its first m·n values) and returns it`,
    [productCase],
    ({ m, n, k, fillA, fillW, seed }) => {
      const a = ternary(m, k, fillA, seed);
      const w = ternary(n, k, fillW, seed + 1);
      const out = new Int32Array(m * n + 3).fill(7);
      const pa = new Uint32Array(m * wordsPerRow(k) + 5);
      const got = K.gemm(K.pack(a, m, k, pa), K.pack(w, n, k), m, n, k, out);
      return got === out && same(out.subarray(0, m * n), plainProduct(a, w, m, n, k)) && same(out.subarray(m * n), [7, 7, 7]);
    },
    { numRuns: 20 },
  );

  example(`${K.name}: edge cases of the popcount formula`, () => {
    const k = 130;
    const zeros = new Int8Array(k);
    const plus = new Int8Array(k).fill(1);
    const minus = new Int8Array(k).fill(-1);
    const dot = (x: Int8Array, y: Int8Array, kk = k): number => K.gemm(K.pack(x, 1, kk), K.pack(y, 1, kk), 1, 1, kk)[0];
    return (
      dot(zeros, zeros) === 0 &&
      dot(zeros, minus) === 0 &&
      dot(minus, minus) === k &&
      dot(plus, plus) === k &&
      dot(plus, minus) === -k &&
      dot(minus, plus) === -k &&
      dot(Int8Array.of(-1), Int8Array.of(-1), 1) === 1 &&
      dot(Int8Array.of(1), Int8Array.of(-1), 1) === -1 &&
      dot(minus.subarray(0, 64), minus.subarray(0, 64), 64) === 64 &&
      dot(minus.subarray(0, 64), plus.subarray(0, 64), 64) === -64 &&
      K.gemm(new Uint32Array(0), new Uint32Array(0), 3, 2, 0).every((v) => v === 0) &&
      K.gemm(new Uint32Array(0), new Uint32Array(8), 0, 1, 100).length === 0
    );
  });

  law(
    `${K.name}: a value that is not ternary is a RangeError naming its row and column`,
    [
      fc.record({
        rows: fc.integer({ min: 1, max: 12 }),
        k: kArb,
        at: fc.nat(),
        bad: fc.constantFrom(2, -2, 0.5, NaN, Infinity, 1 + 2 ** -20),
        kind: fc.constantFrom('i8', 'f32', 'f64', 'array'),
        seed: seedArb,
      }),
    ],
    ({ rows, k, at, bad, kind, seed }) => {
      const codes = ternary(rows, k, 'random', seed);
      const i = at % codes.length;
      const r = Math.floor(i / k);
      const values: number[] = Array.from(codes);
      // int8 cannot hold 0.5 or NaN: those cases fall back to 2 there.
      const v = kind === 'i8' && !Number.isInteger(bad) ? 2 : kind === 'f32' ? Math.fround(bad) : bad;
      values[i] = v;
      const input = kind === 'i8' ? Int8Array.from(values) : kind === 'f32' ? Float32Array.from(values) : kind === 'f64' ? Float64Array.from(values) : values;
      return throwsWith(() => K.pack(input, rows, k), RangeError, `row ${r}, column ${i - r * k}`, 'not ternary');
    },
    { numRuns: 60 },
  );

  example(`${K.name}: a missing value is a RangeError naming its row and column`, () =>
    throwsWith(() => K.pack([1, 0, -1, 1, 0], 2, 3), RangeError, 'row 1, column 2'),
  );
}

law(
  'wasm: pack equals the reference pack bit for bit, from every kind of array',
  [fc.record({ rows: rowsArb, k: kArb, fill: fillArb, seed: seedArb, kind: fc.constantFrom('i8', 'f32', 'f64', 'array', 'u8') })],
  ({ rows, k, fill, seed, kind }) => {
    const codes = ternary(rows, k, fill, seed);
    const want = referenceTernaryKernels.pack(codes, rows, k);
    // Float inputs get −0 wherever the code is 0 and the draw says so: −0 is 0.
    const r = rng(seed + 2);
    const floats = Array.from(codes, (c) => (c === 0 && uniform(r) < 0.5 ? -0 : c));
    const input =
      kind === 'i8' ? codes : kind === 'f32' ? Float32Array.from(floats) : kind === 'f64' ? Float64Array.from(floats) : kind === 'u8' ? Uint8Array.from(codes, (c) => (c < 0 ? 0 : c)) : floats;
    const expect = kind === 'u8' ? referenceTernaryKernels.pack(input, rows, k) : want;
    const out = new Uint32Array(rows * wordsPerRow(k) + 2).fill(0xdeadbeef);
    const got = wasm.pack(input, rows, k, out);
    return got === out && same(out.subarray(0, expect.length), expect) && out[expect.length] === 0xdeadbeef && same(wasm.pack(input, rows, k), expect);
  },
  { numRuns: 80 },
);

law(
  'wasm: gemm equals the reference gemm on arbitrary packed words (sign ⊆ nz)',
  [fc.record({ m: rowsArb, n: fc.integer({ min: 1, max: 70 }), k: kArb, seed: seedArb })],
  ({ m, n, k, seed }) => {
    const r = rng(seed);
    const words = (rows: number): Uint32Array => {
      const u = new Uint32Array(rows * wordsPerRow(k));
      for (let g = 0; g < u.length; g += 4) {
        // Lanes past K stay zero, as pack leaves them.
        const lanes = Math.min(64, k - 64 * ((g / 4) % (wordsPerRow(k) / 4)));
        const lo = lanes >= 32 ? 0xffffffff : 2 ** lanes - 1;
        const hi = lanes >= 64 ? 0xffffffff : lanes <= 32 ? 0 : 2 ** (lanes - 32) - 1;
        u[g] = nextU32(r) & lo;
        u[g + 1] = nextU32(r) & hi;
        u[g + 2] = u[g] & nextU32(r);
        u[g + 3] = u[g + 1] & nextU32(r);
      }
      return u;
    };
    const a = words(m);
    const w = words(n);
    return same(wasm.gemm(a, w, m, n, k), referenceTernaryKernels.gemm(a, w, m, n, k));
  },
  { numRuns: 40 },
);

law(
  'wasm: memory grows for a large product, and smaller calls after it stay exact',
  [seedArb],
  (seed) => {
    const [m, n, k] = [600, 90, 1000];
    const a = ternary(m, k, 'random', seed);
    const w = ternary(n, k, 'random', seed + 1);
    const bigOk = same(wasm.gemm(wasm.pack(a, m, k), wasm.pack(w, n, k), m, n, k), plainProduct(a, w, m, n, k));
    const sa = ternary(5, 70, 'random', seed + 2);
    const sw = ternary(9, 70, 'random', seed + 3);
    return bigOk && same(wasm.gemm(wasm.pack(sa, 5, 70), wasm.pack(sw, 9, 70), 5, 9, 70), plainProduct(sa, sw, 5, 9, 70));
  },
  { numRuns: 2 },
);

example('wasm: bad counts and short buffers are RangeErrors', () =>
  throwsWith(() => wasm.pack(new Int8Array(4), -1, 4), RangeError, 'rows') &&
  throwsWith(() => wasm.pack(new Int8Array(4), 1, 4, new Uint32Array(3)), RangeError, 'out') &&
  throwsWith(() => wasm.gemm(new Uint32Array(4), new Uint32Array(4), 2, 1, 64), RangeError, 'a holds') &&
  throwsWith(() => wasm.gemm(new Uint32Array(4), new Uint32Array(4), 1, 1, 64, new Int32Array(0)), RangeError, 'out') &&
  throwsWith(() => wasm.gemm(new Uint32Array(4), new Uint32Array(4), 1.5, 1, 64), RangeError, 'm'),
);

// ---------------------------------------------------------------------------------------------
// The whole layer and max pooling: the wasm kernels (quantPack, im2col, panelW, gemmPanelled,
// epilogueF32, maxPoolF32) against the reference, bit for bit.

const f32Arb = (min: number, max: number) => fc.float({ min: Math.fround(min), max: Math.fround(max), noNaN: true });

const preArb: fc.Arbitrary<{ kind: 'affine'; scale: number[]; shift: number[] } | { kind: 'relu' }> = fc.oneof(
  fc.record({ kind: fc.constant('affine' as const), scale: fc.array(f32Arb(-3, 3), { minLength: 200, maxLength: 200 }), shift: fc.array(f32Arb(-1, 1), { minLength: 200, maxLength: 200 }) }),
  fc.constant({ kind: 'relu' as const }),
);

const actArb: fc.Arbitrary<CodeAct> = fc.oneof(
  fc.constant({ kind: 'sign' as const }),
  // thresholds that are float32 values and ones that are not (0.7, 0.1: the comparison is in float64)
  fc.record({ kind: fc.constant('ternary' as const), threshold: fc.constantFrom(0.5, 0.7, Math.fround(0.7), 0.1, 0.25, 0, 1e-40), boundary: fc.constantFrom<'paper' | 'official'>('paper', 'official') }),
);

const layerCase = fc.record({
  conv: fc.boolean(),
  n: fc.integer({ min: 1, max: 3 }),
  h: fc.integer({ min: 1, max: 7 }),
  w: fc.integer({ min: 1, max: 7 }),
  // 16, 32, 48, 64, 96 and 130 cross whole or partial words; small ones straddle them
  c: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.constantFrom(16, 32, 48, 64, 96, 130)),
  o: fc.oneof(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 10, max: 40 })),
  // up to 4 taps across: 4 taps of 16 channels fill a word exactly
  kh: fc.integer({ min: 1, max: 4 }),
  kw: fc.integer({ min: 1, max: 4 }),
  sh: fc.integer({ min: 1, max: 2 }),
  sw: fc.integer({ min: 1, max: 2 }),
  ph: fc.integer({ min: 0, max: 1 }),
  pw: fc.integer({ min: 0, max: 1 }),
  pre: fc.array(preArb, { maxLength: 3 }),
  act: actArb,
  asym: fc.boolean(),
  relu: fc.boolean(),
  fill: fillArb,
  chunk: fc.integer({ min: 1, max: 3000 }),
  pool: fc.option(fc.record({ size: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })), strides: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })), relu: fc.boolean() })),
  into: fc.boolean(),
  // scales of either sign (a pool then takes the smallest sum where a < 0), and zeros, −0 biases and
  // scales off the float32 grid (where the pool must run on the float outputs)
  scales: fc.constantFrom<'positive' | 'mixed' | 'edge'>('positive', 'mixed', 'edge'),
  seed: seedArb,
});

/** The pool when its window fits in the [oh, ow] output, else none. */
const fitting = (p: Pool | null, oh: number, ow: number): Pool | null => (p !== null && p.size[0] <= oh && p.size[1] <= ow ? p : null);

/** Inputs in [−2, 2] that often sit exactly on (or one float32 step from) the thresholds, or are ±0. */
function layerInput(len: number, act: CodeAct, seed: number): Float32Array {
  const r = rng(seed);
  const th = act.kind === 'ternary' ? act.threshold : 0;
  const f = Math.fround(th);
  const step = (v: number, d: number) => Math.fround(v + d * Math.max(Math.abs(v), 2 ** -126) * 2 ** -23);
  const special = [th, -th, f, -f, step(f, 1), step(f, -1), -step(f, 1), -step(f, -1), 0, -0];
  const x = new Float32Array(len);
  for (let i = 0; i < len; i++) x[i] = uniform(r) < 0.3 ? special[Math.floor(uniform(r) * special.length)] : 4 * uniform(r) - 2;
  return x;
}


function layerSpec(t: typeof layerCase extends fc.Arbitrary<infer T> ? T : never): { spec: TernaryLayerSpec; x: Float32Array; n: number } | null {
  const { conv, n, h, w, c, o, kh, kw, sh, sw, ph, pw } = t;
  if (conv && (outSize(h, kh, sh, ph) < 1 || outSize(w, kw, sw, pw) < 1)) return null;
  const k = conv ? kh * kw * c : c;
  const r = rng(t.seed + 7);
  const per = (lo: number, hi: number) => Float64Array.from({ length: o }, () => Math.fround(lo + (hi - lo) * uniform(r)));
  const spec: TernaryLayerSpec = {
    codes: ternary(o, k, t.fill, t.seed),
    o,
    k,
    conv: conv ? { h, w, cin: c, kh, kw, sh, sw, ph, pw } : null,
    pre: t.pre.map((p) => (p.kind === 'relu' ? p : { kind: 'affine', scale: Float32Array.from(p.scale.slice(0, c)), shift: Float32Array.from(p.shift.slice(0, c)) })),
    act: t.act,
    a: t.scales === 'positive' ? per(0.01, 2) : per(0.01, 2).map((v) => (uniform(r) < 0.5 ? -v : v)),
    b: t.asym ? per(-1, 1) : null,
    bias: per(-1, 1),
    relu: t.relu,
    dtype: 'float32',
    chunkValues: t.chunk,
    pool: conv ? fitting(t.pool, outSize(h, kh, sh, ph), outSize(w, kw, sw, pw)) : null,
  };
  if (spec.pre.some((p) => p.kind === 'affine' && p.scale.length < c)) return null;
  if (t.scales === 'edge') {
    const edge = [0, -0, 2 ** -150, -(2 ** -150), 3 * 2 ** -151, 0.1];
    for (let j = 0; j < o; j++) {
      if (uniform(r) < 0.6) spec.a[j] = edge[Math.floor(uniform(r) * edge.length)];
      if (uniform(r) < 0.5) spec.bias[j] = -0;
    }
  }
  return { spec, x: layerInput(conv ? n * h * w * c : n * k, t.act, t.seed + 3), n };
}

law(
  'wasm: a layer (quantize and pack, im2col, GEMM on resident weights, epilogue, optional max-pool) equals the reference layer bit for bit, on the plain build and on the lookup and fma builds (table lookup)',
  [layerCase],
  (t) => {
    const made = layerSpec(t);
    if (made === null) return true;
    const { spec, x, n } = made;
    const want = referenceTernaryKernels.layer(spec).run(x, n);
    return layerImpls.every((K) => {
      const L = K.layer(spec);
      // into a given array (as the engine reuses one) or a fresh one
      const into = t.into ? new Float32Array(want.length).fill(NaN) : undefined;
      const got = L.run(x, n, into);
      // a second layer, run in between, must not disturb the first one's resident weights
      const other = layerSpec({ ...t, seed: t.seed + 11, o: t.o + 1 });
      if (other !== null) K.layer(other.spec).run(other.x, other.n);
      return got instanceof Float32Array && (into === undefined || got === into) && sameBits(got, want) && sameBits(L.run(x, n), want);
    });
  },
  { numRuns: 250 },
);

law(
  'wasm: a conv layer with 16, 32 or 64 input channels (the aligned patch-row paths: whole taps, and 3×3 kernel rows read from bitplanes) equals the reference layer bit for bit, plain, lookup and fma builds',
  [layerCase, fc.constantFrom(16, 32, 64), fc.integer({ min: 3, max: 9 }), fc.integer({ min: 3, max: 9 }), fc.boolean(), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })],
  (t, c, h, w, k3, ph, pw) => {
    const made = layerSpec({ ...t, conv: true, c, h, w, ph, pw, ...(k3 ? { kh: 3, kw: 3 } : {}) });
    if (made === null) return true;
    const { spec, x, n } = made;
    const want = referenceTernaryKernels.layer(spec).run(x, n);
    return layerImpls.every((K) => sameBits(K.layer(spec).run(x, n), want));
  },
  { numRuns: 150 },
);

law(
  'wasm: a pooled conv layer with scales of both signs, zero or off the float32 grid, −0 biases and no relu (the pool on the sums or on the float outputs) equals the reference layer bit for bit, plain, lookup and fma builds',
  [layerCase, fc.integer({ min: 2, max: 6 }), fc.integer({ min: 2, max: 6 }), fc.constantFrom<'mixed' | 'edge'>('mixed', 'edge'), fc.boolean()],
  (t, h, w, scales, square) => {
    const pool = { size: (square ? [2, 2] : [Math.min(2, h), 1]) as [number, number], strides: (square ? [2, 2] : [1, 1]) as [number, number], relu: false };
    const made = layerSpec({ ...t, conv: true, h, w, kh: 1, kw: 1, sh: 1, sw: 1, ph: 0, pw: 0, relu: false, pool, asym: false, scales });
    if (made === null) return true;
    const { spec, x, n } = made;
    const want = referenceTernaryKernels.layer(spec).run(x, n);
    return layerImpls.every((K) => sameBits(K.layer(spec).run(x, n), want));
  },
  { numRuns: 150 },
);

law(
  'wasm: a layer split into 2 or 3 parts (chunks of rows, each part its own scratch; small chunks) equals the reference layer bit for bit, in place too, plain, lookup and fma builds',
  [layerCase],
  (t) => {
    const made = layerSpec(t);
    if (made === null) return true;
    const { spec, x, n } = made;
    const want = referenceTernaryKernels.layer(spec).run(x, n);
    return [...wasmParts, ...wasmLookupParts, ...wasmFmaParts].every((K) => {
      const L = K.layer(spec);
      return sameBits(L.run(x, n), want) && sameBits(Float32Array.from(L.runInPlace!(x, n)), want);
    });
  },
  { numRuns: 200 },
);

law(
  'wasm lookup and fma builds: a layer with the largest sums (every code and activation equal, K up to 2080 and not a multiple of 4, 16 or 64; TTQ, pools, 1 to 3 parts) equals the reference and the plain build bit for bit',
  [layerCase, fc.constantFrom<Fill>('plus', 'minus'), fc.constantFrom(2, -2), fc.oneof(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 100, max: 130 }))],
  (t, fill, v, c) => {
    const made = layerSpec({ ...t, fill, c, pre: [], ph: 0, pw: 0 });
    if (made === null) return true;
    const { spec, x, n } = made;
    x.fill(v);
    const want = referenceTernaryKernels.layer(spec).run(x, n);
    return [wasmFma, ...wasmFmaParts, wasmLookup, ...wasmLookupParts, wasm].every((K) => sameBits(K.layer(spec).run(x, n), want));
  },
  { numRuns: 60 },
);

example('wasm: parts must be an integer ≥ 1 (a ConfigError naming the option)', async () => {
  const refused = (parts: number): Promise<boolean> =>
    createWasmTernaryKernels({ parts }).then(
      () => false,
      (e: unknown) => e instanceof ConfigError && e.message.includes('createWasmTernaryKernels.parts'),
    );
  return (await refused(0)) && (await refused(1.5)) && (await refused(NaN));
});

law(
  'wasm: runInPlace leaves the values run returns, and a run whose input is an in-place output (of another layer, or its own) reads it as the copied array',
  [fc.record({ n: fc.integer({ min: 1, max: 3 }), k: fc.integer({ min: 1, max: 70 }), h: fc.integer({ min: 2, max: 6 }), relu: fc.boolean(), fill: fillArb, seed: seedArb })],
  ({ n, k, h, relu, fill, seed }) => {
    const r = rng(seed);
    const per = (len: number, lo: number, hi: number) => Float64Array.from({ length: len }, () => Math.fround(lo + (hi - lo) * uniform(r)));
    const floats = (len: number) => Float32Array.from({ length: len }, () => 4 * uniform(r) - 2);
    const act: CodeAct = { kind: 'ternary', threshold: 0.5, boundary: 'paper' };
    // a square dense ternary layer (it can take its own output), a float dense layer, and a conv
    // over an h×h image of k channels whose max-pooled output goes to the maxPool of the kernels
    const square: TernaryLayerSpec = { codes: ternary(k, k, fill, seed), o: k, k, conv: null, pre: [], act, a: per(k, 0.01, 2), b: null, bias: per(k, -1, 1), relu, dtype: 'float32', chunkValues: 1 << 20, pool: null };
    const dense = { weights: floats(k * k), o: k, k, bias: floats(k), relu: false };
    const conv: TernaryLayerSpec = { ...square, codes: ternary(k, 9 * k, fill, seed + 1), k: 9 * k, conv: { h, w: h, cin: k, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1 }, pool: { size: [2, 2], strides: [2, 2], relu: false } };
    const x = floats(n * k);
    const img = floats(n * h * h * k);
    const ref = referenceTernaryKernels;
    const [L, D, C] = [wasm.layer(square), wasm.floatDense(dense), wasm.layer(conv)];
    const [rL, rD, rC] = [ref.layer(square), ref.floatDense(dense), ref.layer(conv)];
    const runs = [L, D, C].every((q) => q.runInPlace !== undefined);
    // x → L → D → L → L (its own output) → D, in place, against the same chain on copies
    let got: Float32Array = L.runInPlace!(x, n) as Float32Array;
    let want = rL.run(x, n);
    let same = sameBits(got, want) && sameBits(got, L.run(x, n));
    for (const [q, rq] of [[D, rD], [L, rL], [L, rL], [D, rD]] as const) {
      got = q.runInPlace!(got, n) as Float32Array;
      want = rq.run(Float32Array.from(want), n);
      same = same && sameBits(got, want);
    }
    // a pooled conv output in place, then the kernels' own max-pool reading it
    const p = h >> 1;
    const pooled = C.runInPlace!(img, n);
    const wantPooled = rC.run(img, n);
    const q = p >> 1;
    const twice = q > 0 ? wasm.maxPool(pooled, [n, p, p, k], [2, 2], [2, 2], true) : null;
    return runs && same && sameBits(pooled, wantPooled) && (twice === null || sameBits(twice, ref.maxPool(wantPooled, [n, p, p, k], [2, 2], [2, 2], true)));
  },
  { numRuns: 100 },
);

law(
  'wasm: a layer on one row equals the same layer on a batch, row for row',
  [layerCase],
  (t) => {
    const made = layerSpec({ ...t, n: 3 });
    if (made === null) return true;
    const { spec, x } = made;
    const L = wasm.layer(spec);
    const all = L.run(x, 3);
    const per = x.length / 3;
    const out = all.length / 3;
    return [0, 1, 2].every((i) => sameBits(L.run(x.subarray(i * per, (i + 1) * per), 1), all.subarray(i * out, (i + 1) * out)));
  },
  { numRuns: 40 },
);

law(
  'wasm: maxPool (NHWC, first maximum, optional relu) equals the reference bit for bit',
  [
    fc.record({
      n: fc.integer({ min: 1, max: 3 }),
      h: fc.integer({ min: 1, max: 9 }),
      w: fc.integer({ min: 1, max: 9 }),
      c: fc.oneof(fc.integer({ min: 1, max: 9 }), fc.constantFrom(16, 32, 33)),
      kh: fc.integer({ min: 1, max: 3 }),
      kw: fc.integer({ min: 1, max: 3 }),
      sh: fc.integer({ min: 1, max: 3 }),
      sw: fc.integer({ min: 1, max: 3 }),
      relu: fc.boolean(),
      seed: seedArb,
    }),
  ],
  ({ n, h, w, c, kh, kw, sh, sw, relu, seed }) => {
    if (kh > h || kw > w) return true;
    const r = rng(seed);
    // few distinct values, ±0 among them: ties everywhere, and +0 after −0 must not replace it
    const vals = [-0, 0, 1, -1, 0.5, -2.5];
    const x = Float32Array.from({ length: n * h * w * c }, () => (uniform(r) < 0.5 ? vals[Math.floor(uniform(r) * vals.length)] : 4 * uniform(r) - 2));
    const shape = [n, h, w, c] as const;
    const want = referenceTernaryKernels.maxPool(x, shape, [kh, kw], [sh, sw], relu);
    const got = wasm.maxPool(x, shape, [kh, kw], [sh, sw], relu, seed % 2 === 0 ? new Float32Array(want.length) : undefined);
    const x64 = Float64Array.from(x);
    const got64 = wasm.maxPool(x64, shape, [kh, kw], [sh, sw], relu);
    return got instanceof Float32Array && sameBits(got, want) && got64 instanceof Float64Array && sameBits(got64, want);
  },
  { numRuns: 150 },
);

/**
 * A floatConv spec with seeded weights and bias and its input of n images: 10% zeros, half of
 * them −0 (a tap outside the image must leave a sum as skipping it does, whatever the signs of the
 * zeros); the pool only if it fits.
 */
function floatConvCase(n: number, conv: PatchGeometry, o: number, relu: boolean, pool: Pool | null, seed: number): { spec: FloatConvSpec; x: Float32Array } {
  const r = rng(seed);
  const f = (len: number, s: number) => Float32Array.from({ length: len }, () => (uniform(r) < 0.1 ? (uniform(r) < 0.5 ? -0 : 0) : s * (2 * uniform(r) - 1)));
  const { h, w, cin, kh, kw, sh, sw, ph, pw } = conv;
  const spec = { weights: f(o * kh * kw * cin, 1), o, conv, bias: f(o, 0.5), relu, pool: fitting(pool, outSize(h, kh, sh, ph), outSize(w, kw, sw, pw)) };
  return { spec, x: f(n * h * w * cin, 2) };
}

law(
  'wasm: floatConv (direct float32 convolution, bias, optional relu and max-pool) equals the reference bit for bit, plain and lookup builds',
  [
    fc.record({
      n: fc.integer({ min: 1, max: 3 }),
      h: fc.integer({ min: 1, max: 8 }),
      w: fc.integer({ min: 1, max: 8 }),
      cin: fc.integer({ min: 1, max: 4 }),
      // 8-channel blocks and partial vectors
      o: fc.oneof(fc.integer({ min: 1, max: 9 }), fc.constantFrom(16, 17, 32, 35)),
      kh: fc.integer({ min: 1, max: 5 }),
      kw: fc.integer({ min: 1, max: 5 }),
      sh: fc.integer({ min: 1, max: 2 }),
      sw: fc.integer({ min: 1, max: 2 }),
      ph: fc.integer({ min: 0, max: 2 }),
      pw: fc.integer({ min: 0, max: 2 }),
      relu: fc.boolean(),
      pool: fc.option(fc.record({ size: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })), strides: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })), relu: fc.boolean() })),
      seed: seedArb,
    }),
  ],
  ({ n, h, w, cin, o, kh, kw, sh, sw, ph, pw, relu, pool, seed }) => {
    if (outSize(h, kh, sh, ph) < 1 || outSize(w, kw, sw, pw) < 1) return true;
    const { spec, x } = floatConvCase(n, { h, w, cin, kh, kw, sh, sw, ph, pw }, o, relu, pool, seed);
    const want = referenceTernaryKernels.floatConv(spec).run(x, n);
    return floatImpls.every((K) => {
      const L = K.floatConv(spec);
      const into = new Float32Array(want.length);
      return sameBits(L.run(x, n), want) && L.run(x, n, into) === into && sameBits(into, want);
    });
  },
  { numRuns: 150 },
);

law(
  'wasm: floatConv equals the reference bit for bit on first-layer shapes (1–4 channels, 3×3, 8–48 outputs, the fused 2×2 max-pool), plain and lookup builds',
  [
    fc.record({
      n: fc.integer({ min: 1, max: 2 }),
      h: fc.integer({ min: 3, max: 11 }),
      w: fc.integer({ min: 3, max: 11 }),
      cin: fc.integer({ min: 1, max: 4 }),
      o: fc.constantFrom(8, 12, 16, 20, 32, 48),
      s: fc.integer({ min: 1, max: 2 }),
      p: fc.integer({ min: 0, max: 1 }),
      relu: fc.boolean(),
      pool: fc.boolean(),
      poolRelu: fc.boolean(),
      seed: seedArb,
    }),
  ],
  ({ n, h, w, cin, o, s, p, relu, pool, poolRelu, seed }) => {
    const pl: Pool | null = pool ? { size: [2, 2], strides: [2, 2], relu: poolRelu } : null;
    const { spec, x } = floatConvCase(n, { h, w, cin, kh: 3, kw: 3, sh: s, sw: s, ph: p, pw: p }, o, relu, pl, seed);
    const want = referenceTernaryKernels.floatConv(spec).run(x, n);
    return floatImpls.every((K) => sameBits(K.floatConv(spec).run(x, n), want));
  },
  { numRuns: 100 },
);

law(
  'wasm: floatConv with a weight that is ±∞ or NaN equals the reference bit for bit (a tap outside the image is skipped, not multiplied by zero), plain and lookup builds',
  [fc.record({ n: fc.integer({ min: 1, max: 2 }), h: fc.integer({ min: 2, max: 6 }), w: fc.integer({ min: 2, max: 6 }), cin: fc.integer({ min: 1, max: 3 }), o: fc.integer({ min: 1, max: 12 }), bad: fc.constantFrom(Infinity, -Infinity, NaN), at: fc.nat(), seed: seedArb })],
  ({ n, h, w, cin, o, bad, at, seed }) => {
    const { spec, x } = floatConvCase(n, { h, w, cin, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1 }, o, false, null, seed);
    spec.weights[at % spec.weights.length] = bad;
    const want = referenceTernaryKernels.floatConv(spec).run(x, n);
    return floatImpls.every((K) => sameBits(K.floatConv(spec).run(x, n), want));
  },
  { numRuns: 60 },
);

law(
  'wasm: floatDense (float32 dense on resident weights, bias, optional relu) equals the reference bit for bit, plain and lookup builds',
  [fc.record({ n: fc.integer({ min: 1, max: 5 }), k: fc.oneof(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 10, max: 300 })), o: fc.integer({ min: 1, max: 12 }), relu: fc.boolean(), seed: seedArb })],
  ({ n, k, o, relu, seed }) => {
    const r = rng(seed);
    // zeros and negative zeros now and then: the sign of a zero sum is part of the contract
    const f = (len: number, s: number) => Float32Array.from({ length: len }, () => (uniform(r) < 0.15 ? (uniform(r) < 0.5 ? -0 : 0) : s * (2 * uniform(r) - 1)));
    const spec = { weights: f(o * k, 1), o, k, bias: f(o, 0.5), relu };
    const x = f(n * k, 2);
    const want = referenceTernaryKernels.floatDense(spec).run(x, n);
    return floatImpls.every((K) => {
      const L = K.floatDense(spec);
      const into = new Float32Array(want.length);
      return sameBits(L.run(x, n), want) && L.run(x, n, into) === into && sameBits(into, want);
    });
  },
  { numRuns: 150 },
);

/** γ(m) = m·u / (1 − m·u), u = 2⁻²⁴: the relative error bound of m float32 roundings in a sum. */
const gamma = (m: number): number => (m * 2 ** -24) / (1 - m * 2 ** -24);

/**
 * Whether `got` is within float32 rounding of `want`: each output of two sums of the same m
 * terms (n products and the bias), formed with one rounding per multiply-add (fused) and with two
 * (the reference), differs by at most 2·γ(m+1) times the sum of the terms' magnitudes (`mag`,
 * the same layer run on |x|, |w|, |bias|, whose max-pool and relu are 1-Lipschitz as well), plus
 * 2(m+1)·2⁻¹⁴⁹ for roundings in the subnormal range.
 */
function withinRounding(got: ArrayLike<number>, want: ArrayLike<number>, mag: ArrayLike<number>, m: number): boolean {
  if (got.length !== want.length) return false;
  for (let i = 0; i < got.length; i++) {
    const bound = 2 * gamma(m + 1) * mag[i] * (1 + gamma(m + 1)) + 2 * (m + 1) * 2 ** -149;
    if (!(Math.abs(got[i] - want[i]) <= bound)) return false;
  }
  return true;
}

const absSpec = <T extends { readonly weights: ArrayLike<number>; readonly bias: ArrayLike<number>; readonly relu: boolean }>(spec: T): T => ({ ...spec, weights: Float32Array.from(spec.weights, Math.abs), bias: Float32Array.from(spec.bias, Math.abs), relu: false });

law(
  'wasm fma build: floatConv (first-layer shapes and others, relu, max-pool) is within the float32 rounding of the reference, 2·γ(n+1)·(Σ|x·w| + |bias|)',
  [
    fc.record({
      n: fc.integer({ min: 1, max: 2 }),
      h: fc.integer({ min: 1, max: 11 }),
      w: fc.integer({ min: 1, max: 11 }),
      cin: fc.integer({ min: 1, max: 4 }),
      o: fc.oneof(fc.integer({ min: 1, max: 9 }), fc.constantFrom(16, 32, 35)),
      kh: fc.integer({ min: 1, max: 4 }),
      kw: fc.integer({ min: 1, max: 4 }),
      s: fc.integer({ min: 1, max: 2 }),
      p: fc.integer({ min: 0, max: 1 }),
      relu: fc.boolean(),
      pool: fc.option(fc.record({ size: fc.constant<[number, number]>([2, 2]), strides: fc.constant<[number, number]>([2, 2]), relu: fc.boolean() })),
      seed: seedArb,
    }),
  ],
  ({ n, h, w, cin, o, kh, kw, s, p, relu, pool, seed }) => {
    if (outSize(h, kh, s, p) < 1 || outSize(w, kw, s, p) < 1) return true;
    const { spec, x } = floatConvCase(n, { h, w, cin, kh, kw, sh: s, sw: s, ph: p, pw: p }, o, relu, pool, seed);
    const want = referenceTernaryKernels.floatConv(spec).run(x, n);
    const mag = referenceTernaryKernels.floatConv({ ...absSpec(spec), pool: spec.pool === null ? null : { ...spec.pool, relu: false } }).run(x.map(Math.abs), n);
    return withinRounding(wasmFma.floatConv(spec).run(x, n), want, mag, kh * kw * cin);
  },
  { numRuns: 150 },
);

law(
  'wasm fma build: floatDense is within the float32 rounding of the reference, 2·γ(k+3)·(Σ|x·w| + |bias|)',
  [fc.record({ n: fc.integer({ min: 1, max: 5 }), k: fc.oneof(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 10, max: 3200 })), o: fc.integer({ min: 1, max: 12 }), relu: fc.boolean(), seed: seedArb })],
  ({ n, k, o, relu, seed }) => {
    const r = rng(seed);
    const f = (len: number, sc: number) => Float32Array.from({ length: len }, () => sc * (2 * uniform(r) - 1));
    const spec = { weights: f(o * k, 1), o, k, bias: f(o, 0.5), relu };
    const x = f(n * k, 2);
    const want = referenceTernaryKernels.floatDense(spec).run(x, n);
    const mag = referenceTernaryKernels.floatDense(absSpec(spec)).run(x.map(Math.abs), n);
    // four partial sums, then two additions and the bias: no term passes through more than k + 2 roundings
    return withinRounding(wasmFma.floatDense(spec).run(x, n), want, mag, k + 2);
  },
  { numRuns: 100 },
);

example('wasm builds: each reports its build (name wasm, wasm-lookup, wasm-fma; the lookup and fma modules export tables() = 1, only fma fused() = 1; `tables` says which GEMM the layers run); a module of another build than fma/tables ask for, a threaded module on one thread, or a tables or fma that is not true or false, is a ConfigError naming it', async () => {
  const { readFileSync } = await import('node:fs');
  const bytes = (file: string): Uint8Array<ArrayBuffer> => new Uint8Array(readFileSync(new URL(`../build/wasm/${file}`, import.meta.url)));
  const [plain, lookup, fused] = ['sttn-ternary.wasm', 'sttn-ternary-lookup.wasm', 'sttn-ternary-fma.wasm'].map(bytes);
  const refused = (p: Promise<unknown>, field: string, pattern: string): Promise<boolean> =>
    p.then(
      () => false,
      (e: unknown) => e instanceof ConfigError && e.message.includes(field) && e.message.includes(pattern),
    );
  const src = 'createWasmTernaryKernels.source';
  const notBoolean = await Promise.all(
    ['no', 0, 1, null].flatMap((t) => [
      refused(createWasmTernaryKernels({ fma: true, tables: t as unknown as boolean }), 'createWasmTernaryKernels.tables', 'must be true or false'),
      refused(createWasmTernaryKernels({ tables: t as unknown as boolean }), 'createWasmTernaryKernels.tables', 'must be true or false'),
      refused(createWasmTernaryKernels({ fma: t as unknown as boolean }), 'createWasmTernaryKernels.fma', 'must be true or false'),
    ]),
  );
  const mismatched = await Promise.all([
    refused(createWasmTernaryKernels({ source: plain, fma: true }), src, 'plain build'),
    refused(createWasmTernaryKernels({ source: plain, tables: true }), src, 'plain build'),
    refused(createWasmTernaryKernels({ source: fused }), src, 'fma build'),
    refused(createWasmTernaryKernels({ source: fused, tables: true }), src, 'fma build'),
    refused(createWasmTernaryKernels({ source: lookup }), src, 'lookup build'),
    refused(createWasmTernaryKernels({ source: lookup, fma: true }), src, 'lookup build'),
    refused(createWasmTernaryKernels({ source: bytes('sttn-ternary-threads-lookup.wasm'), tables: true }), src, 'threaded build'),
    refused(createWasmTernaryKernels({ source: bytes('sttn-ternary-threads.wasm') }), src, 'threaded build'),
  ]);
  // which GEMM the layers run, for every combination of the two options
  const popcountFma = await createWasmTernaryKernels({ fma: true, tables: false });
  const plainNoTables = await createWasmTernaryKernels({ tables: false });
  const gemms = [wasm, plainNoTables, wasmLookup, wasmFma, popcountFma].map((k) => k.tables);
  // the module's own word, read from a fresh instance of each packaged file
  const reports = async (b: Uint8Array<ArrayBuffer>): Promise<[number, number]> => {
    const e = (await WebAssembly.instantiate(await WebAssembly.compile(b), { env: { abort: () => {} } })).exports as unknown as { fused(): number; tables(): number };
    return [e.fused(), e.tables()];
  };
  const words = await Promise.all([plain, lookup, fused].map(reports));
  const fromBytes = await createWasmTernaryKernels({ source: lookup, tables: true });
  return (
    notBoolean.every(Boolean) &&
    mismatched.every(Boolean) &&
    JSON.stringify(words) === '[[0,0],[0,1],[1,1]]' &&
    JSON.stringify(gemms) === '[false,false,true,true,false]' &&
    wasm.name === 'wasm' &&
    wasmLookup.name === 'wasm-lookup' &&
    fromBytes.name === 'wasm-lookup' &&
    wasmFma.name === 'wasm-fma'
  );
});

// in a fresh process nothing has set Node 20's relaxed-SIMD flag yet: a given module of a relaxed build
// must still be named as that build, not refused as one that does not validate
example('wasm builds: in a fresh process, a lookup or fma module given as source where the options ask for the plain build is a ConfigError naming the build it is', async () => {
  const { spawnSync } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT'));
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `
    const { readFileSync } = await import('node:fs');
    const { createWasmTernaryKernels } = await import(${JSON.stringify(new URL('../backends/ternary.ts', import.meta.url).href)});
    const bytes = (f) => new Uint8Array(readFileSync(new URL('build/wasm/' + f, ${JSON.stringify(new URL('../', import.meta.url).href)})));
    const messages = [];
    for (const [file, threads] of [['sttn-ternary-lookup.wasm', 1], ['sttn-ternary-fma.wasm', 1], ['sttn-ternary-threads-lookup.wasm', 2]]) {
      try { const k = await createWasmTernaryKernels({ source: bytes(file), threads }); k.dispose(); messages.push('accepted'); }
      catch (e) { messages.push(e.name + ': ' + e.message); }
    }
    console.log(JSON.stringify(messages));
  `], { cwd: fileURLToPath(new URL('..', import.meta.url)), env, timeout: 60_000, encoding: 'utf8' });
  if (r.status !== 0) return false;
  const m = JSON.parse(r.stdout.trim()) as string[];
  const says = (i: number, build: string) => m[i].startsWith('ConfigError') && m[i].includes('createWasmTernaryKernels.source') && m[i].includes(`the module is the ${build}`);
  return m.length === 3 && says(0, 'lookup build') && says(1, 'fma build') && says(2, 'threaded lookup build');
});
