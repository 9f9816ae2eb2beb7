/**
 * Explicit seeded randomness: a small generator (xoshiro128**) whose whole state is plain data,
 * so it can be written into a checkpoint and restored bit-for-bit.
 *
 * Law (laws/random.test.ts): the same seed gives the same stream; `restore(snapshot(r))`
 * continues the stream exactly; `uniform` lies in [0, 1).
 */
import { ConfigError } from './errors.js';

export interface RngState {
  readonly s: readonly [number, number, number, number];
}

export interface Rng {
  s: Uint32Array;
}

function splitmix32(a: number): () => number {
  return () => {
    a = (a + 0x9e3779b9) | 0;
    let z = a;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export function rng(seed: number): Rng {
  if (!Number.isSafeInteger(seed)) throw new ConfigError('seed', `must be a safe integer, got ${seed}`);
  // The state is the seed's two 32-bit words (plus constants, so it is never all zero): distinct
  // seeds give distinct states, and xoshiro128** is a bijection on states, so distinct streams.
  const [lo, hi] = words(seed);
  const r: Rng = { s: new Uint32Array([lo, hi, (lo ^ 0x9e3779b9) >>> 0, (hi ^ 0x85ebca6b) >>> 0]) };
  for (let i = 0; i < 16; i++) nextU32(r); // mix the low-entropy start
  return r;
}

/** The low and high 32-bit words of a safe integer (two's complement for negatives). */
function words(n: number): [number, number] {
  return [n >>> 0, Math.floor(n / 2 ** 32) >>> 0];
}

export const snapshot = (r: Rng): RngState => ({ s: [r.s[0], r.s[1], r.s[2], r.s[3]] });
export const restore = (st: RngState): Rng => ({ s: Uint32Array.from(st.s) });

export function nextU32(r: Rng): number {
  const s = r.s;
  const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
  const t = s[1] << 9;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 11);
  return result;
}

const rotl = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

/** Uniform in [0, 1) with 32 bits of resolution. */
export const uniform = (r: Rng): number => nextU32(r) / 4294967296;

/** Integer uniform in [0, n). */
export const int = (r: Rng, n: number): number => Math.floor(uniform(r) * n);

/** Standard normal (Box–Muller; one draw per call, so the stream position is simple). */
export function normal(r: Rng): number {
  let u = uniform(r);
  while (u === 0) u = uniform(r);
  const v = uniform(r);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** A fresh generator derived from this one (advances the parent by four draws). */
export const split = (r: Rng): Rng => {
  const s = new Uint32Array([nextU32(r), nextU32(r), nextU32(r), nextU32(r)]);
  if (s.every((x) => x === 0)) s[0] = 1;
  return { s };
};

/** Fisher–Yates permutation of 0..n-1. */
export function permutation(r: Rng, n: number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = int(r, i + 1);
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/**
 * A generator derived from a seed and a path of integers (counter-based, like JAX's fold_in): the
 * same `(seed, ...path)` always gives the same stream, so training can take the randomness of
 * step t as `derive(seed, STREAM, t)` and resume from any step without replaying the past.
 */
export function derive(seed: number, ...path: number[]): Rng {
  const [lo, hi] = words(seed);
  let h = splitmix32(lo)();
  for (const p of [hi, ...path.flatMap((x) => words(x))]) h = splitmix32((h ^ Math.imul(p | 0, 0x27d4eb2d)) | 0)();
  const sm = splitmix32(h | 0);
  const s = new Uint32Array([sm(), sm(), sm(), sm()]);
  if (s.every((x) => x === 0)) s[0] = 1;
  return { s };
}
