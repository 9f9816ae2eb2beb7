/**
 * Laws of the seeded generator (src/random.ts): the same seed gives the same stream, different
 * seeds give different streams, `restore(snapshot(r))` continues bit-for-bit (also through JSON),
 * `uniform` ∈ [0, 1), `int(r, n)` ∈ [0, n), `permutation` is a permutation, `split` is
 * deterministic and leaves the parent usable, `normal` has mean 0 and variance 1 (a statistical
 * test, tolerance below), and a seed that is not a safe integer is a ConfigError naming `seed`.
 */
import fc from 'fast-check';
import { ConfigError } from '../src/errors.js';
import { int, nextU32, normal, permutation, restore, rng, snapshot, split, uniform, type Rng } from '../src/random.js';
import { example, law, throwsWith } from './law.js';

const seed = fc.maxSafeInteger().chain((m) => fc.constantFrom(m, -m));
const draws = (r: Rng, k: number): number[] => Array.from({ length: k }, () => nextU32(r));
const same = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((x, i) => Object.is(x, b[i]));

law('same seed, same stream', [seed, fc.integer({ min: 1, max: 64 })], (s, k) => same(draws(rng(s), k), draws(rng(s), k)));

law('different safe-integer seeds give different streams (first 4 words)', [seed, seed], (s, t) => s === t || !same(draws(rng(s), 4), draws(rng(t), 4)));

example('different seeds differ: 0 vs −1, 5 vs −6, 1 vs 2^32, 6 vs 2^32 + 7 (seeds whose 32-bit folds lo ^ hi agree)', () =>
  ([[0, -1], [5, -6], [1, 2 ** 32], [6, 2 ** 32 + 7]] as const).every(([s, t]) => !same(draws(rng(s), 4), draws(rng(t), 4))));

law('restore(snapshot(r)) continues the stream bit-for-bit, and the two do not share state', [seed, fc.nat({ max: 50 }), fc.integer({ min: 1, max: 50 })], (s, skip, k) => {
  const r = rng(s);
  draws(r, skip);
  const st = snapshot(r);
  const copy = restore(st);
  const fromJson = restore(JSON.parse(JSON.stringify(st)));
  const a = draws(r, k);
  return same(draws(copy, k), a) && same(draws(fromJson, k), a) && same(draws(restore(st), k), a);
});

law('a snapshot is plain data: four uint32 words, unchanged by later draws', [seed, fc.integer({ min: 1, max: 20 })], (s, k) => {
  const r = rng(s);
  const st = snapshot(r);
  const before = [...st.s];
  draws(r, k);
  return st.s.length === 4 && st.s.every((w) => Number.isInteger(w) && w >= 0 && w < 2 ** 32) && same(st.s, before);
});

law('uniform ∈ [0, 1)', [seed, fc.integer({ min: 1, max: 500 })], (s, k) => {
  const r = rng(s);
  for (let i = 0; i < k; i++) {
    const u = uniform(r);
    if (!(u >= 0 && u < 1)) return false;
  }
  return true;
});

law('int(r, n) is an integer in [0, n)', [seed, fc.integer({ min: 1, max: 2 ** 31 }), fc.integer({ min: 1, max: 200 })], (s, n, k) => {
  const r = rng(s);
  for (let i = 0; i < k; i++) {
    const j = int(r, n);
    if (!(Number.isInteger(j) && j >= 0 && j < n)) return false;
  }
  return true;
});

/** A generator whose next word is `w`: solve the xoshiro128** output map for s[1] (5 and 9 are odd, so invertible mod 2³²). */
function nextWordIs(w: number): Rng {
  const M = 2n ** 32n;
  const inv = (a: bigint): bigint => {
    let x = 1n;
    for (let i = 0; i < 32; i++) x = (x * (2n - a * x)) % M; // Newton's iteration for an odd inverse
    return ((x % M) + M) % M;
  };
  const rot = Number((BigInt(w >>> 0) * inv(9n)) % M);
  const x = ((rot >>> 7) | (rot << 25)) >>> 0;
  const s1 = Number((BigInt(x) * inv(5n)) % M);
  return { s: Uint32Array.from([1, s1, 2, 3]) };
}

example('int(r, n) stays below n when the next word is the largest, 2^32 − 1', () =>
  nextU32(nextWordIs(2 ** 32 - 1)) === 2 ** 32 - 1 &&
  [1, 2, 3, 1000, 2 ** 31, 2 ** 40, 2 ** 52].every((n) => int(nextWordIs(2 ** 32 - 1), n) === n - Math.ceil(n / 2 ** 32)) &&
  uniform(nextWordIs(2 ** 32 - 1)) < 1 && uniform(nextWordIs(0)) === 0);

law('permutation(r, n) is a permutation of 0..n−1', [seed, fc.nat({ max: 300 })], (s, n) => {
  const p = permutation(rng(s), n);
  const seen = new Uint8Array(n);
  for (const v of p) {
    if (!(v >= 0 && v < n) || seen[v]) return false;
    seen[v] = 1;
  }
  return p.length === n;
});

law('split is deterministic and the child differs from the parent', [seed], (s) => {
  const [a, b] = [rng(s), rng(s)];
  const [ca, cb] = [split(a), split(b)];
  const child = draws(ca, 4);
  return same(child, draws(cb, 4)) && same(draws(a, 4), draws(b, 4)) && !same(child, draws(rng(s), 4));
});

// With N independent draws of a standard normal, the sample mean has standard error 1/√N and the
// sample variance (about the true mean 0) has standard error √(2/N), since Var(z²) = 2. Six standard
// errors leave a false-failure probability of about 2·10⁻⁹ per check, while a wrong scale (say a
// variance of 0.5 or 2) or a bias of 0.1 lies dozens of standard errors away at N = 20 000.
const N = 20_000;
law(`normal: mean ≈ 0 within 6/√N and variance ≈ 1 within 6·√(2/N) over N = ${N} draws`, [seed], (s) => {
  const r = rng(s);
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < N; i++) {
    const z = normal(r);
    if (!Number.isFinite(z)) return false;
    sum += z;
    sumSq += z * z;
  }
  return Math.abs(sum / N) <= 6 / Math.sqrt(N) && Math.abs(sumSq / N - 1) <= 6 * Math.sqrt(2 / N);
}, { numRuns: 10 });

example('a seed that is not a safe integer is a ConfigError naming seed', () =>
  [1.5, NaN, Infinity, -Infinity, 2 ** 53, -(2 ** 53), Number.MAX_VALUE].every((s) => throwsWith(() => rng(s), ConfigError, 'seed')) &&
  [1.5, NaN, 2 ** 53].every((s) => {
    try {
      rng(s);
      return false;
    } catch (e) {
      return e instanceof ConfigError && e.field === 'seed';
    }
  }));
