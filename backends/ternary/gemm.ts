/**
 * `TernaryKernels.gemm` on the wasm kernels, the bit-serial popcount GEMM of
 * backends/ternary/assembly/gemm.ts: for rows x and w, with m = nz_x & nz_w and
 * t = m & (sign_x ^ sign_w),
 *   Σ_j x_j·w_j = popcount(m ^ t) − popcount(t)        (64 lanes per i64.popcnt pair)
 * both operands copied into wasm memory per call; and the resident weight panels a compiled layer
 * keeps (`residentPanels`), read by `gemmPanelled` and `tailDots`; in the relaxed-SIMD builds, the
 * weights' +1 and −1 masks the table-lookup GEMM reads instead (`lookupWeights`).
 *
 * Law (laws/ternary-kernels.test.ts, laws/engine.test.ts): `gemm` equals the plain integer dot
 * product exactly, for every K and row count; a layer over the panels equals the reference's.
 */
import { wordsPerRow } from '../../src/infer/ternary-kernels.js';
import type { KernelMemory } from './memory.js';
import { checkCount, pack } from './pack.js';

export function gemm(mem: KernelMemory, a: Uint32Array, w: Uint32Array, m: number, n: number, k: number, out?: Int32Array): Int32Array {
  checkCount('gemm', 'm', m);
  checkCount('gemm', 'n', n);
  checkCount('gemm', 'k', k);
  const wpr = wordsPerRow(k);
  if (a.length < m * wpr) throw new RangeError(`gemm: a holds ${a.length} words, ${m} rows of K = ${k} need ${m * wpr}`);
  if (w.length < n * wpr) throw new RangeError(`gemm: w holds ${w.length} words, ${n} rows of K = ${k} need ${n * wpr}`);
  if (out !== undefined && out.length < m * n) throw new RangeError(`gemm: out holds ${out.length} values, need ${m}·${n} = ${m * n}`);
  const c = out ?? new Int32Array(m * n);
  if (m === 0 || n === 0) return c;
  const { wasm, arena } = mem;
  const groups = wpr / 4;
  const aWords = m * wpr;
  const wWords = n * wpr;
  const [pa, pw, pc, work] = arena(aWords * 4, wWords * 4, wasm.gemmOutBytes(m, n), wasm.gemmWorkBytes(m, n, groups));
  const buf = wasm.memory.buffer;
  new Uint32Array(buf, pa, aWords).set(a.length === aWords ? a : a.subarray(0, aWords));
  new Uint32Array(buf, pw, wWords).set(w.length === wWords ? w : w.subarray(0, wWords));
  wasm.gemm(pa, pw, pc, m, n, groups, work);
  c.set(new Int32Array(wasm.memory.buffer, pc, m * n));
  return c;
}

/**
 * Packed rows of `codes` laid out as resident W panels of their first `head` groups, and, when
 * `tail` (16 or 32), their last group's first `tail` lanes laid out for `tailDots`
 * (panels of 128/tail rows: their nz words, then their sign words, zero past the last row).
 */
export function residentPanels(mem: KernelMemory, codes: Int8Array, o: number, k: number, head: number, tail: 0 | 16 | 32): { panels: number; tails: number } {
  const { wasm, resident, arena } = mem;
  const groups = wordsPerRow(k) / 4;
  const panels = resident(wasm.panelWBytes(o, head));
  const rows = pack(mem, codes, o, k);
  const [tmp] = arena(rows.length * 4);
  new Uint32Array(wasm.memory.buffer, tmp, rows.length).set(rows);
  wasm.panelW(tmp, o, head, panels, groups);
  if (tail === 0) return { panels, tails: 0 };
  const per = 128 / tail; // rows per tail panel
  const count = Math.ceil(o / per);
  const tails = resident(count * 32);
  const view = tail === 16 ? new Uint16Array(wasm.memory.buffer, tails, count * 16) : new Uint32Array(wasm.memory.buffer, tails, count * 8);
  for (let j = 0; j < o; j++) {
    const w = (j + 1) * 4 * groups - 4; // [nz_lo, nz_hi, sign_lo, sign_hi] of the last group
    const q = Math.floor(j / per);
    const lane = j % per;
    view[q * 2 * per + lane] = rows[w] & (tail === 16 ? 0xffff : 0xffffffff);
    view[q * 2 * per + per + lane] = rows[w + 2] & (tail === 16 ? 0xffff : 0xffffffff);
  }
  return { panels, tails };
}

/**
 * The weights' masks for the table-lookup GEMM of the relaxed-SIMD builds
 * (backends/ternary/assembly/lookup.ts), resident: for each group of 4 lanes j < ⌈k/4⌉, for each
 * block of 16 output rows (zero past o), 16 bytes of +1 masks P, then 16 of −1 masks N (bit l of
 * a mask: lane 4j + l). Laid out once per layer.
 */
export function lookupWeights(mem: KernelMemory, codes: Int8Array, o: number, k: number): number {
  pack(mem, codes, o, k); // a code other than −1, 0, +1 is the RangeError naming its row and column
  const g4 = Math.ceil(k / 4);
  const nb = Math.ceil(o / 16);
  const bytes = g4 * nb * 32;
  const at = mem.resident(bytes);
  const m = new Uint8Array(mem.wasm.memory.buffer, at, bytes).fill(0); // resident memory may hold an earlier call's scratch
  for (let r = 0; r < o; r++) {
    const row = r * k;
    const base = (r >> 4) * 32 + (r & 15);
    for (let l = 0; l < k; l++) {
      const c = codes[row + l];
      if (c !== 0) m[((l >> 2) * nb << 5) + base + (c < 0 ? 16 : 0)] |= 1 << (l & 3);
    }
  }
  return at;
}
