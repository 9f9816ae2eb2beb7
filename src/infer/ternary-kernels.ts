/**
 * The contract between the ternary inference engine and its kernels: ternary × ternary products
 * on bit-packed operands (2+2 layers).
 *
 * Packing of a row of K ternary values t ∈ {−1, 0, +1}: K is padded with zeros to a multiple of
 * 64 lanes, and each group of 64 lanes is two 64-bit words stored as four u32 in this order:
 *   [nz_lo, nz_hi, sign_lo, sign_hi]   (interleaved, so loads have constant offsets)
 * where bit j of nz is 1[t_j ≠ 0] and bit j of sign is 1[t_j < 0] (sign is 0 wherever nz is 0).
 * A row therefore takes `wordsPerRow(K) = 4·ceil(K/64)` u32.
 *
 * For rows x and w: with m = nz_x & nz_w and t = m & (sign_x ^ sign_w),
 *   Σ_j x_j·w_j = popcount(m) − 2·popcount(t) = popcount(m ^ t) − popcount(t).
 *
 * Law (laws/ternary-kernels.test.ts): every implementation equals the plain integer dot product
 * exactly, for every K (including K not a multiple of 64) and every row count.
 */

/** u32 words of one packed row of K ternary values. */
export const wordsPerRow = (k: number): number => 4 * Math.ceil(k / 64);

export interface TernaryKernels {
  readonly name: string;
  /**
   * Pack `rows` rows of K ternary values (each exactly −1, 0 or +1, row-major in `values`) into
   * `rows · wordsPerRow(K)` u32 (written into `out` when given).
   */
  pack(values: ArrayLike<number>, rows: number, k: number, out?: Uint32Array): Uint32Array;
  /**
   * C[i, j] = Σ_k A[i, k]·W[j, k] over packed rows: `a` holds M packed rows, `w` holds N packed rows
   * (a weight matrix stored [N, K], as a dense or OHWI kernel is). Returns M·N int32, row-major.
   */
  gemm(a: Uint32Array, w: Uint32Array, m: number, n: number, k: number, out?: Int32Array): Int32Array;
}

const popcount32 = (x: number): number => {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
};

/** The readable reference implementation in plain TypeScript (what the wasm kernels are checked against). */
export const referenceTernaryKernels: TernaryKernels = {
  name: 'reference',
  pack(values, rows, k, out) {
    const wpr = wordsPerRow(k);
    const o = out ?? new Uint32Array(rows * wpr);
    o.fill(0, 0, rows * wpr);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < k; j++) {
        const v = values[r * k + j];
        if (v === 0) continue;
        if (v !== 1 && v !== -1) throw new RangeError(`pack: value ${v} at row ${r}, column ${j} is not ternary`);
        const base = r * wpr + 4 * (j >>> 6);
        const bit = j & 63;
        const half = bit >>> 5;
        o[base + half] |= 1 << (bit & 31);
        if (v < 0) o[base + 2 + half] |= 1 << (bit & 31);
      }
    }
    return o;
  },
  gemm(a, w, m, n, k, out) {
    const wpr = wordsPerRow(k);
    const c = out ?? new Int32Array(m * n);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let q = 0; q < wpr; q += 4) {
          const ai = i * wpr + q;
          const wj = j * wpr + q;
          for (let h = 0; h < 2; h++) {
            const mm = a[ai + h] & w[wj + h];
            const t = mm & (a[ai + 2 + h] ^ w[wj + 2 + h]);
            s += popcount32(mm ^ t) - popcount32(t);
          }
        }
        c[i * n + j] = s;
      }
    }
    return c;
  },
};
