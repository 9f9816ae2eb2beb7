/**
 * Laws of the ternary × ternary kernels (src/infer/ternary-kernels.ts): every implementation —
 * the plain TypeScript reference and the WebAssembly one (backends/ternary-wasm.ts) — packs and
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
 * Matrices are drawn from a fast-check seed through src/random.ts (fresh every run).
 */
import fc from 'fast-check';
import { createWasmTernaryKernels } from '../backends/ternary-wasm.js';
import { referenceTernaryKernels, wordsPerRow, type TernaryKernels } from '../src/infer/ternary-kernels.js';
import { nextU32, rng, uniform } from '../src/random.js';
import { example, law, throwsWith } from './law.js';

const wasm = await createWasmTernaryKernels();
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
