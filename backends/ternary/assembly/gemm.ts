/**
 * The popcount GEMM over the 2+2-bit packing of src/infer/ternary-kernels.ts: `gemm` (both
 * operands laid out per call), the weight panels a layer lays out once (`panelW`) and the
 * product against them (`gemmPanelled`), and the SIMD kernels for a short last group (`tailDots`).
 *
 * A packed group of 64 lanes is 16 bytes, [nz: i64, sign: i64] (the contract's four u32, read
 * little-endian as two i64). For rows x and w, with m = nz_x & nz_w and t = m & (sign_x ^ sign_w),
 *   Σ_j x_j·w_j = popcnt(m ^ t) − popcnt(t),
 * eight scalar operations per 64 lanes (`i64.popcnt` is one instruction on x86-64 and arm64).
 * Measured on a 2-core EPYC (bench/TERNARY.md): this scalar form reaches 86 GMAC/s in the 8×8
 * tile below, against 63 for the best i8x16.popcnt tile (which V8 lowers to a pshufb table
 * lookup of about eight instructions per vector when AVX-512 is absent).
 *
 * Both operands are laid out in panels of 8 rows, group by group, so the micro-kernel reads
 * every word at a constant offset from two bumped pointers; an 8×8 tile of sums is kept in locals
 * (each loaded word of A is used 8 times, each of W 8 times). W panels are zero-padded to 8 rows
 * (zero rows add nothing) and C rows to a multiple of 8 columns while the tiles run, so no tile
 * has an edge case; rows of A past the last full panel run through a 1×32 kernel; one or two rows
 * of A read W in place (for them the panel copy would cost more than it saves). In a layer, a
 * row's last group when it holds at most 16 or 32 lanes (K = 144 or 288: 3×3 kernels over 16 or
 * 32 channels) is left to `tailDots`, which takes 8 or 4 columns per SIMD step
 * (i8x16.popcnt) instead of a 64-lane scalar step per column.
 *
 * Law (laws/ternary-kernels.test.ts, laws/engine.test.ts): `gemm` equals the plain integer dot
 * product exactly; a layer's sums (`gemmPanelled` + `tailDots`) equal the reference's.
 */

/** Rows of A per panel and per micro-kernel tile. */
const PR: i32 = 8;
/** Rows of W per panel and per micro-kernel tile. */
const PW: i32 = 8;
/** Bytes of W panels kept hot in L1 while every A panel passes over them. */
const W_BLOCK_BYTES: i32 = 16 * 1024;
/** Below this many rows of A, W is read in place (laying it out in panels costs more than it saves). */
const SMALL_M: i32 = 3;

/** Σ x·w over one group of 64 lanes. */
@inline
function dot64(an: i64, as: i64, wn: i64, ws: i64): i64 {
  const m = an & wn;
  const t = m & (as ^ ws);
  return popcnt<i64>(m ^ t) - popcnt<i64>(t);
}

/** Stores 8 sums of one output row. */
@inline
function store8(c: usize, s0: i64, s1: i64, s2: i64, s3: i64, s4: i64, s5: i64, s6: i64, s7: i64): void {
  store<i32>(c, <i32>s0);
  store<i32>(c, <i32>s1, 4);
  store<i32>(c, <i32>s2, 8);
  store<i32>(c, <i32>s3, 12);
  store<i32>(c, <i32>s4, 16);
  store<i32>(c, <i32>s5, 20);
  store<i32>(c, <i32>s6, 24);
  store<i32>(c, <i32>s7, 28);
}

/**
 * Every 8×8 tile of C over full panels: `aPanels` A panels at `ap`, `wPanels` W panels at `wp`,
 * C rows `ldc` bytes apart (8·wPanels columns, so no tile needs an edge case). W panels are
 * visited in blocks that stay in L1 while every A panel passes over them.
 *
 * The micro-kernel keeps 64 named sums and is written out in this loop nest on purpose: V8 keeps
 * what fits in registers and spills the rest, and this shape measured 85 GMAC/s at K = 4608,
 * against 75 for the same kernel as a separate function, 63 for sums kept in a memory tile and
 * 60 for a 3×4 tile (bench/TERNARY.md).
 */
function tiles8x8(ap: usize, wp: usize, c: usize, aPanels: i32, wPanels: i32, groups: i32, ldc: usize): void {
  const aPanelB = <usize>(groups * PR) << 4;
  const wPanelB = <usize>(groups * PW) << 4;
  const block = max(1, W_BLOCK_BYTES / <i32>wPanelB);
  for (let qb = 0; qb < wPanels; qb += block) {
    const qe = min(wPanels, qb + block);
    for (let p = 0; p < aPanels; p++) {
      for (let q = qb; q < qe; q++) {
        let pa = ap + <usize>p * aPanelB;
        let pw = wp + <usize>q * wPanelB;
        let c00: i64 = 0, c01: i64 = 0, c02: i64 = 0, c03: i64 = 0, c04: i64 = 0, c05: i64 = 0, c06: i64 = 0, c07: i64 = 0;
        let c10: i64 = 0, c11: i64 = 0, c12: i64 = 0, c13: i64 = 0, c14: i64 = 0, c15: i64 = 0, c16: i64 = 0, c17: i64 = 0;
        let c20: i64 = 0, c21: i64 = 0, c22: i64 = 0, c23: i64 = 0, c24: i64 = 0, c25: i64 = 0, c26: i64 = 0, c27: i64 = 0;
        let c30: i64 = 0, c31: i64 = 0, c32: i64 = 0, c33: i64 = 0, c34: i64 = 0, c35: i64 = 0, c36: i64 = 0, c37: i64 = 0;
        let c40: i64 = 0, c41: i64 = 0, c42: i64 = 0, c43: i64 = 0, c44: i64 = 0, c45: i64 = 0, c46: i64 = 0, c47: i64 = 0;
        let c50: i64 = 0, c51: i64 = 0, c52: i64 = 0, c53: i64 = 0, c54: i64 = 0, c55: i64 = 0, c56: i64 = 0, c57: i64 = 0;
        let c60: i64 = 0, c61: i64 = 0, c62: i64 = 0, c63: i64 = 0, c64: i64 = 0, c65: i64 = 0, c66: i64 = 0, c67: i64 = 0;
        let c70: i64 = 0, c71: i64 = 0, c72: i64 = 0, c73: i64 = 0, c74: i64 = 0, c75: i64 = 0, c76: i64 = 0, c77: i64 = 0;
        const end = pa + aPanelB;
        for (; pa < end; pa += PR * 16, pw += PW * 16) {
          const a0n = load<i64>(pa, 0), a0s = load<i64>(pa, 8), a1n = load<i64>(pa, 16), a1s = load<i64>(pa, 24);
          const a2n = load<i64>(pa, 32), a2s = load<i64>(pa, 40), a3n = load<i64>(pa, 48), a3s = load<i64>(pa, 56);
          const a4n = load<i64>(pa, 64), a4s = load<i64>(pa, 72), a5n = load<i64>(pa, 80), a5s = load<i64>(pa, 88);
          const a6n = load<i64>(pa, 96), a6s = load<i64>(pa, 104), a7n = load<i64>(pa, 112), a7s = load<i64>(pa, 120);
          c00 += dot64(a0n, a0s, load<i64>(pw, 0), load<i64>(pw, 8));
          c01 += dot64(a0n, a0s, load<i64>(pw, 16), load<i64>(pw, 24));
          c02 += dot64(a0n, a0s, load<i64>(pw, 32), load<i64>(pw, 40));
          c03 += dot64(a0n, a0s, load<i64>(pw, 48), load<i64>(pw, 56));
          c04 += dot64(a0n, a0s, load<i64>(pw, 64), load<i64>(pw, 72));
          c05 += dot64(a0n, a0s, load<i64>(pw, 80), load<i64>(pw, 88));
          c06 += dot64(a0n, a0s, load<i64>(pw, 96), load<i64>(pw, 104));
          c07 += dot64(a0n, a0s, load<i64>(pw, 112), load<i64>(pw, 120));
          c10 += dot64(a1n, a1s, load<i64>(pw, 0), load<i64>(pw, 8));
          c11 += dot64(a1n, a1s, load<i64>(pw, 16), load<i64>(pw, 24));
          c12 += dot64(a1n, a1s, load<i64>(pw, 32), load<i64>(pw, 40));
          c13 += dot64(a1n, a1s, load<i64>(pw, 48), load<i64>(pw, 56));
          c14 += dot64(a1n, a1s, load<i64>(pw, 64), load<i64>(pw, 72));
          c15 += dot64(a1n, a1s, load<i64>(pw, 80), load<i64>(pw, 88));
          c16 += dot64(a1n, a1s, load<i64>(pw, 96), load<i64>(pw, 104));
          c17 += dot64(a1n, a1s, load<i64>(pw, 112), load<i64>(pw, 120));
          c20 += dot64(a2n, a2s, load<i64>(pw, 0), load<i64>(pw, 8));
          c21 += dot64(a2n, a2s, load<i64>(pw, 16), load<i64>(pw, 24));
          c22 += dot64(a2n, a2s, load<i64>(pw, 32), load<i64>(pw, 40));
          c23 += dot64(a2n, a2s, load<i64>(pw, 48), load<i64>(pw, 56));
          c24 += dot64(a2n, a2s, load<i64>(pw, 64), load<i64>(pw, 72));
          c25 += dot64(a2n, a2s, load<i64>(pw, 80), load<i64>(pw, 88));
          c26 += dot64(a2n, a2s, load<i64>(pw, 96), load<i64>(pw, 104));
          c27 += dot64(a2n, a2s, load<i64>(pw, 112), load<i64>(pw, 120));
          c30 += dot64(a3n, a3s, load<i64>(pw, 0), load<i64>(pw, 8));
          c31 += dot64(a3n, a3s, load<i64>(pw, 16), load<i64>(pw, 24));
          c32 += dot64(a3n, a3s, load<i64>(pw, 32), load<i64>(pw, 40));
          c33 += dot64(a3n, a3s, load<i64>(pw, 48), load<i64>(pw, 56));
          c34 += dot64(a3n, a3s, load<i64>(pw, 64), load<i64>(pw, 72));
          c35 += dot64(a3n, a3s, load<i64>(pw, 80), load<i64>(pw, 88));
          c36 += dot64(a3n, a3s, load<i64>(pw, 96), load<i64>(pw, 104));
          c37 += dot64(a3n, a3s, load<i64>(pw, 112), load<i64>(pw, 120));
          c40 += dot64(a4n, a4s, load<i64>(pw, 0), load<i64>(pw, 8));
          c41 += dot64(a4n, a4s, load<i64>(pw, 16), load<i64>(pw, 24));
          c42 += dot64(a4n, a4s, load<i64>(pw, 32), load<i64>(pw, 40));
          c43 += dot64(a4n, a4s, load<i64>(pw, 48), load<i64>(pw, 56));
          c44 += dot64(a4n, a4s, load<i64>(pw, 64), load<i64>(pw, 72));
          c45 += dot64(a4n, a4s, load<i64>(pw, 80), load<i64>(pw, 88));
          c46 += dot64(a4n, a4s, load<i64>(pw, 96), load<i64>(pw, 104));
          c47 += dot64(a4n, a4s, load<i64>(pw, 112), load<i64>(pw, 120));
          c50 += dot64(a5n, a5s, load<i64>(pw, 0), load<i64>(pw, 8));
          c51 += dot64(a5n, a5s, load<i64>(pw, 16), load<i64>(pw, 24));
          c52 += dot64(a5n, a5s, load<i64>(pw, 32), load<i64>(pw, 40));
          c53 += dot64(a5n, a5s, load<i64>(pw, 48), load<i64>(pw, 56));
          c54 += dot64(a5n, a5s, load<i64>(pw, 64), load<i64>(pw, 72));
          c55 += dot64(a5n, a5s, load<i64>(pw, 80), load<i64>(pw, 88));
          c56 += dot64(a5n, a5s, load<i64>(pw, 96), load<i64>(pw, 104));
          c57 += dot64(a5n, a5s, load<i64>(pw, 112), load<i64>(pw, 120));
          c60 += dot64(a6n, a6s, load<i64>(pw, 0), load<i64>(pw, 8));
          c61 += dot64(a6n, a6s, load<i64>(pw, 16), load<i64>(pw, 24));
          c62 += dot64(a6n, a6s, load<i64>(pw, 32), load<i64>(pw, 40));
          c63 += dot64(a6n, a6s, load<i64>(pw, 48), load<i64>(pw, 56));
          c64 += dot64(a6n, a6s, load<i64>(pw, 64), load<i64>(pw, 72));
          c65 += dot64(a6n, a6s, load<i64>(pw, 80), load<i64>(pw, 88));
          c66 += dot64(a6n, a6s, load<i64>(pw, 96), load<i64>(pw, 104));
          c67 += dot64(a6n, a6s, load<i64>(pw, 112), load<i64>(pw, 120));
          c70 += dot64(a7n, a7s, load<i64>(pw, 0), load<i64>(pw, 8));
          c71 += dot64(a7n, a7s, load<i64>(pw, 16), load<i64>(pw, 24));
          c72 += dot64(a7n, a7s, load<i64>(pw, 32), load<i64>(pw, 40));
          c73 += dot64(a7n, a7s, load<i64>(pw, 48), load<i64>(pw, 56));
          c74 += dot64(a7n, a7s, load<i64>(pw, 64), load<i64>(pw, 72));
          c75 += dot64(a7n, a7s, load<i64>(pw, 80), load<i64>(pw, 88));
          c76 += dot64(a7n, a7s, load<i64>(pw, 96), load<i64>(pw, 104));
          c77 += dot64(a7n, a7s, load<i64>(pw, 112), load<i64>(pw, 120));
        }
        const t = c + <usize>(p * PR) * ldc + (<usize>(q * PW) << 2);
        store8(t, c00, c01, c02, c03, c04, c05, c06, c07);
        store8(t + ldc, c10, c11, c12, c13, c14, c15, c16, c17);
        store8(t + 2 * ldc, c20, c21, c22, c23, c24, c25, c26, c27);
        store8(t + 3 * ldc, c30, c31, c32, c33, c34, c35, c36, c37);
        store8(t + 4 * ldc, c40, c41, c42, c43, c44, c45, c46, c47);
        store8(t + 5 * ldc, c50, c51, c52, c53, c54, c55, c56, c57);
        store8(t + 6 * ldc, c60, c61, c62, c63, c64, c65, c66, c67);
        store8(t + 7 * ldc, c70, c71, c72, c73, c74, c75, c76, c77);
      }
    }
  }
}

/**
 * Rows of A outside full panels (`rows` packed rows at `a`) against every W panel: four panels
 * (32 columns) at a time, then one; one A row stays in L1 while W streams past. C as in tiles8x8.
 */
function rows1x32(a: usize, wp: usize, c: usize, rows: i32, wPanels: i32, groups: i32, ldc: usize, stride: i32): void {
  const rowB = <usize>stride << 4;
  const useB = <usize>groups << 4;
  const wPanelB = <usize>(groups * PW) << 4;
  for (let i = 0; i < rows; i++) {
    const crow = c + <usize>i * ldc;
    let q = 0;
    for (; q + 4 <= wPanels; q += 4) {
      let pa = a + <usize>i * rowB;
      let p0 = wp + <usize>q * wPanelB;
      let p1 = p0 + wPanelB;
      let p2 = p1 + wPanelB;
      let p3 = p2 + wPanelB;
      let s0: i64 = 0, s1: i64 = 0, s2: i64 = 0, s3: i64 = 0, s4: i64 = 0, s5: i64 = 0, s6: i64 = 0, s7: i64 = 0;
      let t0: i64 = 0, t1: i64 = 0, t2: i64 = 0, t3: i64 = 0, t4: i64 = 0, t5: i64 = 0, t6: i64 = 0, t7: i64 = 0;
      let u0: i64 = 0, u1: i64 = 0, u2: i64 = 0, u3: i64 = 0, u4: i64 = 0, u5: i64 = 0, u6: i64 = 0, u7: i64 = 0;
      let v0: i64 = 0, v1: i64 = 0, v2: i64 = 0, v3: i64 = 0, v4: i64 = 0, v5: i64 = 0, v6: i64 = 0, v7: i64 = 0;
      const end = pa + useB;
      for (; pa < end; pa += 16, p0 += PW * 16, p1 += PW * 16, p2 += PW * 16, p3 += PW * 16) {
        const an = load<i64>(pa), as = load<i64>(pa, 8);
        s0 += dot64(an, as, load<i64>(p0, 0), load<i64>(p0, 8));
        s1 += dot64(an, as, load<i64>(p0, 16), load<i64>(p0, 24));
        s2 += dot64(an, as, load<i64>(p0, 32), load<i64>(p0, 40));
        s3 += dot64(an, as, load<i64>(p0, 48), load<i64>(p0, 56));
        s4 += dot64(an, as, load<i64>(p0, 64), load<i64>(p0, 72));
        s5 += dot64(an, as, load<i64>(p0, 80), load<i64>(p0, 88));
        s6 += dot64(an, as, load<i64>(p0, 96), load<i64>(p0, 104));
        s7 += dot64(an, as, load<i64>(p0, 112), load<i64>(p0, 120));
        t0 += dot64(an, as, load<i64>(p1, 0), load<i64>(p1, 8));
        t1 += dot64(an, as, load<i64>(p1, 16), load<i64>(p1, 24));
        t2 += dot64(an, as, load<i64>(p1, 32), load<i64>(p1, 40));
        t3 += dot64(an, as, load<i64>(p1, 48), load<i64>(p1, 56));
        t4 += dot64(an, as, load<i64>(p1, 64), load<i64>(p1, 72));
        t5 += dot64(an, as, load<i64>(p1, 80), load<i64>(p1, 88));
        t6 += dot64(an, as, load<i64>(p1, 96), load<i64>(p1, 104));
        t7 += dot64(an, as, load<i64>(p1, 112), load<i64>(p1, 120));
        u0 += dot64(an, as, load<i64>(p2, 0), load<i64>(p2, 8));
        u1 += dot64(an, as, load<i64>(p2, 16), load<i64>(p2, 24));
        u2 += dot64(an, as, load<i64>(p2, 32), load<i64>(p2, 40));
        u3 += dot64(an, as, load<i64>(p2, 48), load<i64>(p2, 56));
        u4 += dot64(an, as, load<i64>(p2, 64), load<i64>(p2, 72));
        u5 += dot64(an, as, load<i64>(p2, 80), load<i64>(p2, 88));
        u6 += dot64(an, as, load<i64>(p2, 96), load<i64>(p2, 104));
        u7 += dot64(an, as, load<i64>(p2, 112), load<i64>(p2, 120));
        v0 += dot64(an, as, load<i64>(p3, 0), load<i64>(p3, 8));
        v1 += dot64(an, as, load<i64>(p3, 16), load<i64>(p3, 24));
        v2 += dot64(an, as, load<i64>(p3, 32), load<i64>(p3, 40));
        v3 += dot64(an, as, load<i64>(p3, 48), load<i64>(p3, 56));
        v4 += dot64(an, as, load<i64>(p3, 64), load<i64>(p3, 72));
        v5 += dot64(an, as, load<i64>(p3, 80), load<i64>(p3, 88));
        v6 += dot64(an, as, load<i64>(p3, 96), load<i64>(p3, 104));
        v7 += dot64(an, as, load<i64>(p3, 112), load<i64>(p3, 120));
      }
      const t = crow + (<usize>(q * PW) << 2);
      store8(t, s0, s1, s2, s3, s4, s5, s6, s7);
      store8(t + 32, t0, t1, t2, t3, t4, t5, t6, t7);
      store8(t + 64, u0, u1, u2, u3, u4, u5, u6, u7);
      store8(t + 96, v0, v1, v2, v3, v4, v5, v6, v7);
    }
    for (; q < wPanels; q++) {
      let pa = a + <usize>i * rowB;
      let pw = wp + <usize>q * wPanelB;
      let s0: i64 = 0, s1: i64 = 0, s2: i64 = 0, s3: i64 = 0, s4: i64 = 0, s5: i64 = 0, s6: i64 = 0, s7: i64 = 0;
      const end = pa + useB;
      for (; pa < end; pa += 16, pw += PW * 16) {
        const an = load<i64>(pa), as = load<i64>(pa, 8);
        s0 += dot64(an, as, load<i64>(pw, 0), load<i64>(pw, 8));
        s1 += dot64(an, as, load<i64>(pw, 16), load<i64>(pw, 24));
        s2 += dot64(an, as, load<i64>(pw, 32), load<i64>(pw, 40));
        s3 += dot64(an, as, load<i64>(pw, 48), load<i64>(pw, 56));
        s4 += dot64(an, as, load<i64>(pw, 64), load<i64>(pw, 72));
        s5 += dot64(an, as, load<i64>(pw, 80), load<i64>(pw, 88));
        s6 += dot64(an, as, load<i64>(pw, 96), load<i64>(pw, 104));
        s7 += dot64(an, as, load<i64>(pw, 112), load<i64>(pw, 120));
      }
      store8(crow + (<usize>(q * PW) << 2), s0, s1, s2, s3, s4, s5, s6, s7);
    }
  }
}

/**
 * One or two rows of A against W in place, 8 rows of W at a time, then one: every word of W is
 * used once or twice, so laying W out in panels would cost more than it saves. C rows `n` wide.
 */
function fewRows(a: usize, w: usize, c: usize, m: i32, n: i32, groups: i32): void {
  const rowB = <usize>groups << 4;
  for (let i = 0; i < m; i++) {
    const pa = a + <usize>i * rowB;
    const crow = c + ((<usize>i * <usize>n) << 2);
    let j = 0;
    for (; j + 8 <= n; j += 8) {
      const pw = w + <usize>j * rowB;
      let s0: i64 = 0, s1: i64 = 0, s2: i64 = 0, s3: i64 = 0, s4: i64 = 0, s5: i64 = 0, s6: i64 = 0, s7: i64 = 0;
      for (let o: usize = 0; o < rowB; o += 16) {
        const an = load<i64>(pa + o), as = load<i64>(pa + o, 8);
        let p = pw + o;
        s0 += dot64(an, as, load<i64>(p), load<i64>(p, 8));
        p += rowB;
        s1 += dot64(an, as, load<i64>(p), load<i64>(p, 8));
        p += rowB;
        s2 += dot64(an, as, load<i64>(p), load<i64>(p, 8));
        p += rowB;
        s3 += dot64(an, as, load<i64>(p), load<i64>(p, 8));
        p += rowB;
        s4 += dot64(an, as, load<i64>(p), load<i64>(p, 8));
        p += rowB;
        s5 += dot64(an, as, load<i64>(p), load<i64>(p, 8));
        p += rowB;
        s6 += dot64(an, as, load<i64>(p), load<i64>(p, 8));
        p += rowB;
        s7 += dot64(an, as, load<i64>(p), load<i64>(p, 8));
      }
      store8(crow + (<usize>j << 2), s0, s1, s2, s3, s4, s5, s6, s7);
    }
    for (; j < n; j++) {
      let s: i64 = 0;
      const pw = w + <usize>j * rowB;
      for (let o: usize = 0; o < rowB; o += 16) s += dot64(load<i64>(pa + o), load<i64>(pa + o, 8), load<i64>(pw + o), load<i64>(pw + o, 8));
      store<i32>(crow + (<usize>j << 2), <i32>s);
    }
  }
}

/**
 * Lays out `p` rows as one panel at `dst`, group by group: the first `rows` come from packed rows
 * at `src`, `stride` groups apart (their first `groups` groups), the rest are zero.
 */
function panel(src: usize, groups: i32, rows: i32, p: i32, dst: usize, stride: i32): void {
  const step = <usize>p << 4;
  for (let r = 0; r < p; r++) {
    let d = dst + (<usize>r << 4);
    const end = d + <usize>groups * step;
    if (r < rows) {
      for (let s = src + <usize>r * (<usize>stride << 4); d < end; d += step, s += 16) v128.store(d, v128.load(s));
    } else {
      for (; d < end; d += step) v128.store(d, i64x2.splat(0));
    }
  }
}

/** Bytes `gemm` writes at `c`: m rows of n sums, padded to a multiple of 8 while it works. */
export function gemmOutBytes(m: i32, n: i32): usize {
  return <usize>m * <usize>(m < SMALL_M ? n : (n + PW - 1) & -PW) * 4;
}

/** Bytes of work area `gemm` needs: the panels of A and W. */
export function gemmWorkBytes(m: i32, n: i32, groups: i32): usize {
  if (m < SMALL_M) return 0;
  const rows = <usize>(m / PR * PR) + <usize>((n + PW - 1) & -PW);
  return (rows * <usize>groups) << 4;
}

/**
 * C[i, j] = Σ_k A[i, k]·W[j, k]: `a` holds m packed rows and `w` n packed rows of `groups`
 * groups each (16 bytes per group); `c` (`gemmOutBytes` bytes) receives m·n i32, row-major;
 * `work` has `gemmWorkBytes` bytes.
 */
export function gemm(a: usize, w: usize, c: usize, m: i32, n: i32, groups: i32, work: usize): void {
  if (m <= 0 || n <= 0) return;
  if (groups <= 0) {
    memory.fill(c, 0, <usize>m * <usize>n * 4);
    return;
  }
  if (m < SMALL_M) {
    fewRows(a, w, c, m, n, groups);
    return;
  }
  const rowB = <usize>groups << 4;
  const aPanels = m / PR;
  const wPanels = (n + PW - 1) / PW;
  const aPanelB = <usize>PR * rowB;
  const wPanelB = <usize>PW * rowB;
  const ap = work;
  const wp = work + <usize>aPanels * aPanelB;
  for (let q = 0; q < aPanels; q++) panel(a + <usize>q * aPanelB, groups, PR, PR, ap + <usize>q * aPanelB, groups);
  for (let q = 0; q < wPanels; q++) {
    const j = q * PW;
    panel(w + <usize>j * rowB, groups, min(PW, n - j), PW, wp + <usize>q * wPanelB, groups);
  }
  const nPad = wPanels * PW;
  const ldc = <usize>nPad << 2;
  tiles8x8(ap, wp, c, aPanels, wPanels, groups, ldc);
  const done = aPanels * PR;
  rows1x32(a + <usize>done * rowB, wp, c + <usize>done * ldc, m - done, wPanels, groups, ldc, groups);
  if (nPad != n) {
    // Close up the padded rows (each moves toward the front, so in order is safe).
    const rowOut = <usize>n << 2;
    for (let i = 1; i < m; i++) memory.copy(c + <usize>i * rowOut, c + <usize>i * ldc, rowOut);
  }
}

/** Bytes of W panels for n rows of `groups` groups (n rounded up to a multiple of 8). */
export function panelWBytes(n: i32, groups: i32): usize {
  return <usize>((n + PW - 1) & -PW) * (<usize>groups << 4);
}

/**
 * Lays out the first `groups` groups of n packed rows at `w`, `stride` groups apart, as the W
 * panels `gemmPanelled` reads (zero rows up to a multiple of 8).
 */
export function panelW(w: usize, n: i32, groups: i32, dst: usize, stride: i32): void {
  const rowB = <usize>stride << 4;
  const wPanels = (n + PW - 1) / PW;
  const wPanelB = <usize>(PW * groups) << 4;
  for (let q = 0; q < wPanels; q++) {
    const j = q * PW;
    panel(w + <usize>j * rowB, groups, min(PW, n - j), PW, dst + <usize>q * wPanelB, stride);
  }
}

/** Bytes of work area `gemmPanelled` needs for m rows of A: the full A panels. */
export function gemmPanelledWorkBytes(m: i32, groups: i32): usize {
  return <usize>(m / PR * PR) * (<usize>groups << 4);
}

/**
 * C = A·Wᵀ over the first `groups` groups of each row, with W already in panels of those groups
 * (`panelW`): `a` holds m packed rows `stride` groups apart, `c` receives m rows of
 * nPad = 8·⌈n/8⌉ i32 (the padding columns are zero), `work` has `gemmPanelledWorkBytes` bytes.
 */
export function gemmPanelled(a: usize, wp: usize, c: usize, m: i32, n: i32, groups: i32, work: usize, stride: i32): void {
  if (m <= 0 || n <= 0) return;
  const wPanels = (n + PW - 1) / PW;
  const ldc = <usize>(wPanels * PW) << 2;
  if (groups <= 0) {
    memory.fill(c, 0, <usize>m * ldc);
    return;
  }
  const rowB = <usize>stride << 4;
  const aPanels = m / PR;
  const aPanelB = <usize>(PR * groups) << 4;
  for (let q = 0; q < aPanels; q++) panel(a + <usize>q * <usize>PR * rowB, groups, PR, PR, work + <usize>q * aPanelB, stride);
  tiles8x8(work, wp, c, aPanels, wPanels, groups, ldc);
  const done = aPanels * PR;
  rows1x32(a + <usize>done * rowB, wp, c + <usize>done * ldc, m - done, wPanels, groups, ldc, stride);
}

/**
 * Per byte of a tail step, popcnt(m & ~t) − popcnt(t) with m = nz_a & nz_w, t = m & (sign_a ^
 * sign_w): the row's tail (an, as: repeated in every lane) against the tails of the W rows at w
 * (16 bytes of nz, then 16 of sign).
 */
@inline
function tailBytes(an: v128, as: v128, w: usize): v128 {
  const m = v128.and(an, v128.load(w));
  const t = v128.and(m, v128.xor(as, v128.load(w, 16)));
  return i8x16.sub(i8x16.popcnt(v128.andnot(m, t)), i8x16.popcnt(t));
}

/**
 * The last group of each row when it holds at most `lanes` = 16 or 32 lanes, for 128/lanes
 * columns at a time: the row's tail (its nz and sign u16 or u32) repeated in every lane against
 * the tails of 8 or 4 W rows (`wt`, per panel: their nz words, then their sign words, zero past
 * the last row), each lane's Σ x·w added into C. `a` holds m packed rows `stride` groups apart
 * (the tail is their last group), C rows `ldc` bytes apart with at least 8·panels or 4·panels
 * columns. The same sums as the scalar kernels, exactly.
 */
export function tailDots(a: usize, stride: i32, m: i32, wt: usize, panels: i32, c: usize, ldc: usize, lanes: i32): void {
  const rowB = <usize>stride << 4;
  const last = <usize>(stride - 1) << 4;
  for (let i = 0; i < m; i++) {
    const p = a + <usize>i * rowB + last;
    const cr = c + <usize>i * ldc;
    if (lanes == 16) {
      const an = i16x8.splat(load<u16>(p));
      const as = i16x8.splat(load<u16>(p, 8));
      for (let q = 0; q < panels; q++) {
        const cnt = i16x8.extadd_pairwise_i8x16_s(tailBytes(an, as, wt + (<usize>q << 5)));
        const cq = cr + (<usize>q << 5);
        v128.store(cq, i32x4.add(v128.load(cq), i32x4.extend_low_i16x8_s(cnt)));
        v128.store(cq, i32x4.add(v128.load(cq, 16), i32x4.extend_high_i16x8_s(cnt)), 16);
      }
    } else {
      const an = i32x4.splat(load<u32>(p));
      const as = i32x4.splat(load<u32>(p, 8));
      for (let q = 0; q < panels; q++) {
        const cq = cr + (<usize>q << 4);
        v128.store(cq, i32x4.add(v128.load(cq), i32x4.extadd_pairwise_i16x8_s(i16x8.extadd_pairwise_i8x16_s(tailBytes(an, as, wt + (<usize>q << 5))))));
      }
    }
  }
}
