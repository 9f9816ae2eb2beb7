/**
 * Ternary × ternary kernels for the 2+2-bit packing of src/infer/ternary-kernels.ts, compiled by
 * AssemblyScript into build/wasm/sttn-ternary.wasm and driven by backends/ternary.ts.
 *
 * A packed group of 64 lanes is 16 bytes, [nz: i64, sign: i64] (the contract's four u32, read
 * little-endian as two i64). For rows x and w, with m = nz_x & nz_w and t = m & (sign_x ^ sign_w),
 *   Σ_j x_j·w_j = popcnt(m ^ t) − popcnt(t),
 * eight scalar operations per 64 lanes (`i64.popcnt` is one instruction on x86-64 and arm64).
 * Measured on a 2-core EPYC (bench/TERNARY.md): this scalar form reaches 86 GMAC/s in the 8×8
 * tile below, against 63 for the best i8x16.popcnt tile (which V8 lowers to a pshufb table
 * lookup of about eight instructions per vector when AVX-512 is absent).
 *
 * GEMM: both operands are laid out in panels of 8 rows, group by group, so the micro-kernel reads
 * every word at a constant offset from two bumped pointers; an 8×8 tile of sums is kept in locals
 * (each loaded word of A is used 8 times, each of W 8 times). W panels are zero-padded to 8 rows
 * (zero rows add nothing) and C rows to a multiple of 8 columns while the tiles run, so no tile
 * has an edge case; rows of A past the last full panel run through a 1×32 kernel; one or two rows
 * of A read W in place (for them the panel copy would cost more than it saves). In a layer, a
 * row's last group when it holds at most 16 or 32 lanes (K = 144 or 288: 3×3 kernels over 16 or
 * 32 channels) is left to `tailDots`, which takes 8 or 4 columns per SIMD step
 * (i8x16.popcnt) instead of a 64-lane scalar step per column.
 *
 * Packing: 16 values at a time become a vector of codes (−1, 0, +1, or 0x7f for a value that is
 * not ternary) whose bitmasks are the nonzero and sign words.
 *
 * The layer (`TernaryKernels.layer`) is driven from backends/ternary.ts through `quantPack`
 * (activations after their pre ops, compared with float32 bounds and packed, 64 at a time),
 * `im2col` / `im2colStream` / `im2colTaps` (patch rows from packed pixels), `gemmPanelled` (the product against
 * weight panels laid out once by `panelW`) and `epilogueF32` (per-channel scale and bias in
 * float64, relu, rounded to float32); `maxPoolF32`, `convDirectF32` and `denseF32` are the float
 * kernels around it. Every float32 operation is a plain (unfused) SIMD or scalar operation, so
 * each result is the one the reference TypeScript computes with Math.fround after every step.
 *
 * Memory belongs to the caller: every function takes byte pointers into linear memory (`gemm` an
 * output area of `gemmOutBytes` and a work area of `gemmWorkBytes` bytes, `convDirectF32` a
 * scratch area of `convDirectScratchBytes`). Nothing here allocates or keeps state between
 * calls but the quantizer `setQuantizer` sets.
 *
 * Law (laws/ternary-kernels.test.ts): `gemm` equals the plain integer dot product and `pack*`
 * equals the reference packing bit for bit; the layer, the max-pool and the float kernels equal
 * the reference implementation of src/infer/ternary-kernels.ts bit for bit.
 */

/** Rows of A per panel and per micro-kernel tile. */
const PR: i32 = 8;
/** Rows of W per panel and per micro-kernel tile. */
const PW: i32 = 8;
/** Bytes of W panels kept hot in L1 while every A panel passes over them. */
const W_BLOCK_BYTES: i32 = 16 * 1024;
/** Below this many rows of A, W is read in place (laying it out in panels costs more than it saves). */
const SMALL_M: i32 = 3;

/** The first free byte after static data: the caller's arena starts here. */
export function heapBase(): usize {
  return __heap_base;
}

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

// Packing. Each `pack*` reads `rows` rows of `k` values (row-major, contiguous) at `src` and
// writes `rows` packed rows at `dst`; it returns −1, or the index of the first value that is not
// exactly −1, 0 or +1 (then `dst` is left partly written). A row's last group may read up to 63
// values past the end of `src` (the caller leaves `packSlack()` bytes there); those lanes are
// masked off, so what lies there does not matter.

/** Bytes past the values that a pack may read. */
export function packSlack(): i32 {
  return 64 * 8;
}

/** Lanes of a group that hold values: all 64, or the low `k − j` of the last group. */
@inline
function validLanes(k: i32, j: i32): u64 {
  return k - j >= 64 ? <u64>-1 : (<u64>1 << <u64>(k - j)) - 1;
}

/** Narrows four i32x4 lanes to one i8x16, saturating (−1, 0, 1 and 0x7f pass unchanged). */
@inline
function narrow4(a: v128, b: v128, c: v128, d: v128): v128 {
  return i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(a, b), i16x8.narrow_i32x4_s(c, d));
}

/** The high 32 bits of two pairs of f64 lanes as one i32x4 (sign and exponent of each value). */
@inline
function high32(a: v128, b: v128): v128 {
  return i32x4.shuffle(a, b, 1, 3, 5, 7);
}

/** Lanes of two i64x2 masks as one i32x4 mask. */
@inline
function low32(a: v128, b: v128): v128 {
  return i32x4.shuffle(a, b, 0, 2, 4, 6);
}

/**
 * 16 values of type T at `p` as one i8x16 of codes: −1, 0 or +1 where the value is exactly that,
 * and 0x7f where it is not ternary. Floats are compared by their bits: ±1 and ±0 once the sign
 * bit is cleared (so −0 is 0, and NaN is not ternary).
 */
@inline
function codes16<T>(p: usize): v128 {
  if (sizeof<T>() == 1) {
    const v = v128.load(p);
    // v ∈ {−1, 0, 1} ⇔ v + 1 ≤ 2 as an unsigned byte.
    const bad = i8x16.gt_u(i8x16.add(v, i8x16.splat(1)), i8x16.splat(2));
    return v128.bitselect(i8x16.splat(0x7f), v, bad);
  }
  let c0: v128, c1: v128, c2: v128, c3: v128;
  if (sizeof<T>() == 4) {
    c0 = code4F32(v128.load(p));
    c1 = code4F32(v128.load(p, 16));
    c2 = code4F32(v128.load(p, 32));
    c3 = code4F32(v128.load(p, 48));
  } else {
    c0 = code4F64(v128.load(p), v128.load(p, 16));
    c1 = code4F64(v128.load(p, 32), v128.load(p, 48));
    c2 = code4F64(v128.load(p, 64), v128.load(p, 80));
    c3 = code4F64(v128.load(p, 96), v128.load(p, 112));
  }
  return narrow4(c0, c1, c2, c3);
}

/** Codes (as i32x4: −1, 0, 1, or 0x7f) of four float32 values. */
@inline
function code4F32(v: v128): v128 {
  const abs = v128.and(v, i32x4.splat(0x7fffffff));
  const one = i32x4.eq(abs, i32x4.splat(0x3f800000));
  const ok = v128.or(one, i32x4.eq(abs, i32x4.splat(0)));
  // ±1 → (v >> 31) | 1 = ±1; ±0 → 0; anything else → 0x7f.
  const code = v128.and(v128.or(i32x4.shr_s(v, 31), i32x4.splat(1)), one);
  return v128.bitselect(code, i32x4.splat(0x7f), ok);
}

/** Codes (as i32x4) of four float64 values in two vectors. */
@inline
function code4F64(a: v128, b: v128): v128 {
  const absMask = i64x2.splat(0x7fffffffffffffff);
  const oneBits = i64x2.splat(0x3ff0000000000000);
  const absA = v128.and(a, absMask), absB = v128.and(b, absMask);
  const one = low32(i64x2.eq(absA, oneBits), i64x2.eq(absB, oneBits));
  const zero = low32(i64x2.eq(absA, i64x2.splat(0)), i64x2.eq(absB, i64x2.splat(0)));
  const code = v128.and(v128.or(i32x4.shr_s(high32(a, b), 31), i32x4.splat(1)), one);
  return v128.bitselect(code, i32x4.splat(0x7f), v128.or(one, zero));
}

/**
 * Packs `rows` rows of `k` values of type T at `src` into packed rows at `dst`; returns −1 or
 * the index of the first value that is not ternary. Works on codes: bit 7 of a code is its sign
 * (−1 = 0xff), a code is nonzero unless it is 0, and 0x7f marks a value that is not ternary.
 */
@inline
function packRows<T>(src: usize, rows: i32, k: i32, dst: usize): i32 {
  const size = <usize>sizeof<T>();
  let d = dst;
  for (let r = 0; r < rows; r++) {
    const row = src + <usize>r * <usize>k * size;
    for (let j = 0; j < k; j += 64, d += 16) {
      const p = row + <usize>j * size;
      const c0 = codes16<T>(p);
      const c1 = codes16<T>(p + 16 * size);
      const c2 = codes16<T>(p + 32 * size);
      const c3 = codes16<T>(p + 48 * size);
      const valid = validLanes(k, j);
      const zero = i8x16.splat(0);
      const nz = bits64(i8x16.ne(c0, zero), i8x16.ne(c1, zero), i8x16.ne(c2, zero), i8x16.ne(c3, zero));
      const neg = bits64(c0, c1, c2, c3);
      store<u64>(d, nz & valid);
      store<u64>(d, neg & valid, 8);
      const m = i8x16.splat(0x7f);
      if (v128.any_true(v128.or(v128.or(i8x16.eq(c0, m), i8x16.eq(c1, m)), v128.or(i8x16.eq(c2, m), i8x16.eq(c3, m))))) {
        const bad = bits64(i8x16.eq(c0, m), i8x16.eq(c1, m), i8x16.eq(c2, m), i8x16.eq(c3, m)) & valid;
        if (bad != 0) return r * k + j + <i32>ctz(bad);
      }
    }
  }
  return -1;
}

/** The sign bits of 64 bytes in four vectors, as one word. */
@inline
function bits64(a: v128, b: v128, c: v128, d: v128): u64 {
  return <u64><u32>i8x16.bitmask(a) | (<u64><u32>i8x16.bitmask(b) << 16) | (<u64><u32>i8x16.bitmask(c) << 32) | (<u64><u32>i8x16.bitmask(d) << 48);
}

export function packI8(src: usize, rows: i32, k: i32, dst: usize): i32 {
  return packRows<i8>(src, rows, k, dst);
}

export function packF32(src: usize, rows: i32, k: i32, dst: usize): i32 {
  return packRows<f32>(src, rows, k, dst);
}

export function packF64(src: usize, rows: i32, k: i32, dst: usize): i32 {
  return packRows<f64>(src, rows, k, dst);
}

// ---------------------------------------------------------------------------------------------
// The fused ternary layer (`TernaryKernels.layer` of src/infer/ternary-kernels.ts): activations
// quantized and packed in one pass (`quantPack`), a patch matrix assembled from packed pixels
// (`im2col`), the product against weight panels laid out once and kept (`panelW`,
// `gemmPanelled`), and the per-channel scale, bias and relu (`epilogueF32`). Plus max pooling.

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

// The quantizer of `quantPack`, set by `setQuantizer`: `qN` pre ops at `qOps` (12 bytes each:
// i32 kind — 0 affine, 1 relu — then the byte pointers of the affine's f32 scale and shift,
// padded with zeros to a multiple of 64 channels), then codes: v ≥ qPos ↦ +1, else v ≤ qNeg ↦ −1,
// else 0; with qSign, v ≥ 0 ↦ +1, else −1 (NaN included).
let qOps: usize = 0;
let qN: i32 = 0;
let qSign: bool = false;
let qPos: f32 = 0;
let qNeg: f32 = 0;

export function setQuantizer(ops: usize, nOps: i32, sign: i32, pos: f32, neg: f32): void {
  qOps = ops;
  qN = nOps;
  qSign = sign != 0;
  qPos = pos;
  qNeg = neg;
}

// nonzero and negative bits of the 64 codes of the last `codes64`
let gNz: u64 = 0;
let gNeg: u64 = 0;

/**
 * gNz, gNeg = the codes under the current quantizer of the 64 f32 values at p, after the pre ops,
 * whose channels' scales and shifts start at byte offset `lane` of the affines' vectors: float32
 * roundings after each operation, as the backend's element-wise ops. Sixteen values at a time,
 * kept in registers through every op.
 */
@inline
function codes64(p: usize, lane: usize): void {
  const pos = f32x4.splat(qPos);
  const neg = f32x4.splat(qNeg);
  const zero = f32x4.splat(0);
  let nzBits: u64 = 0;
  let negBits: u64 = 0;
  for (let s = 0; s < 64; s += 16) {
    const q = p + (<usize>s << 2);
    let v0 = v128.load(q), v1 = v128.load(q, 16), v2 = v128.load(q, 32), v3 = v128.load(q, 48);
    for (let i = 0; i < qN; i++) {
      const op = qOps + <usize>i * 12;
      if (load<i32>(op) == 0) {
        const sc = <usize>load<u32>(op, 4) + lane + (<usize>s << 2);
        const sf = <usize>load<u32>(op, 8) + lane + (<usize>s << 2);
        v0 = f32x4.add(f32x4.mul(v0, v128.load(sc)), v128.load(sf));
        v1 = f32x4.add(f32x4.mul(v1, v128.load(sc, 16)), v128.load(sf, 16));
        v2 = f32x4.add(f32x4.mul(v2, v128.load(sc, 32)), v128.load(sf, 32));
        v3 = f32x4.add(f32x4.mul(v3, v128.load(sc, 48)), v128.load(sf, 48));
      } else {
        // 0 < v ? v : 0, as the relu v > 0 ? v : 0
        v0 = f32x4.pmax(zero, v0);
        v1 = f32x4.pmax(zero, v1);
        v2 = f32x4.pmax(zero, v2);
        v3 = f32x4.pmax(zero, v3);
      }
    }
    const p0 = f32x4.ge(v0, pos), p1 = f32x4.ge(v1, pos), p2 = f32x4.ge(v2, pos), p3 = f32x4.ge(v3, pos);
    let n0: v128, n1: v128, n2: v128, n3: v128;
    if (qSign) {
      n0 = v128.not(p0);
      n1 = v128.not(p1);
      n2 = v128.not(p2);
      n3 = v128.not(p3);
    } else {
      n0 = v128.andnot(f32x4.le(v0, neg), p0);
      n1 = v128.andnot(f32x4.le(v1, neg), p1);
      n2 = v128.andnot(f32x4.le(v2, neg), p2);
      n3 = v128.andnot(f32x4.le(v3, neg), p3);
    }
    nzBits |= <u64><u32>i8x16.bitmask(narrow4(v128.or(p0, n0), v128.or(p1, n1), v128.or(p2, n2), v128.or(p3, n3))) << <u64>s;
    negBits |= <u64><u32>i8x16.bitmask(narrow4(n0, n1, n2, n3)) << <u64>s;
  }
  gNz = nzBits;
  gNeg = negBits;
}

/**
 * Quantizes `rows` rows of k f32 values at `x` (channel = index in the row) with the current
 * quantizer and packs them at `dst`. When k divides 64 (k < 64), the values are taken as one
 * stream, 64 at a time (64/k rows per step, the affines' vectors tiled to 64 lanes by the
 * caller); otherwise row by row, a group at a time (the vectors padded with zeros to whole
 * groups). With `stream` (and k dividing 64), the rows are packed as one stream of rows·k lanes
 * instead, 64 to a group, as the rows of a k that is a multiple of 64 are anyway. The last step
 * reads up to 63 values past the end (`packSlack()` bytes): those lanes are masked off.
 */
export function quantPack(x: usize, rows: i32, k: i32, dst: usize, stream: i32): void {
  let d = dst;
  if (k < 64 && 64 % k == 0 && stream != 0) {
    // one packed stream of rows·k lanes, 64 to a group (what `im2colStream` reads)
    const total = rows * k;
    for (let c = 0; c < total; c += 64, d += 16) {
      codes64(x + (<usize>c << 2), 0);
      const valid = validLanes(total, c);
      store<u64>(d, gNz & valid);
      store<u64>(d, gNeg & valid, 8);
    }
    return;
  }
  if (k < 64 && 64 % k == 0) {
    const total = rows * k;
    const mask: u64 = (<u64>1 << <u64>k) - 1;
    for (let c = 0; c < total; c += 64) {
      codes64(x + (<usize>c << 2), 0);
      const valid = validLanes(total, c);
      const nz = gNz & valid;
      const ng = gNeg & valid;
      const cnt = min(64, total - c) / k;
      for (let t = 0; t < cnt; t++, d += 16) {
        const sh = <u64>(t * k);
        store<u64>(d, (nz >> sh) & mask);
        store<u64>(d, (ng >> sh) & mask, 8);
      }
    }
    return;
  }
  for (let r = 0; r < rows; r++) {
    const row = x + ((<usize>r * <usize>k) << 2);
    for (let j = 0; j < k; j += 64, d += 16) {
      codes64(row + (<usize>j << 2), <usize>j << 2);
      const valid = validLanes(k, j);
      store<u64>(d, gNz & valid);
      store<u64>(d, gNeg & valid, 8);
    }
  }
}

/**
 * Rows r0 … r0+count−1 of the patch matrix of a convolution, packed, at `dst` (each row K =
 * kh·kw·cin lanes, channels innermost), from the packed pixels at `pix` (n·h·w rows of cin lanes):
 * tap t's lanes are the pixel's bits moved to lane t·cin, 64 at a time (a shift and two ORs
 * where they straddle a word); taps outside the image stay zero.
 */
export function im2col(pix: usize, h: i32, w: i32, cin: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32, r0: i32, count: i32, dst: usize): void {
  const pg = (cin + 63) >> 6;
  const groups = (kh * kw * cin + 63) >> 6;
  const rowB = <usize>groups << 4;
  const plane = oh * ow;
  let b = r0 / plane;
  const rem = r0 - b * plane;
  let oy = rem / ow;
  let ox = rem - oy * ow;
  memory.fill(dst, 0, <usize>count * rowB);
  for (let r = 0; r < count; r++) {
    const d = dst + <usize>r * rowB;
    for (let ky = 0; ky < kh; ky++) {
      const iy = oy * sh - ph + ky;
      if (iy < 0 || iy >= h) continue;
      for (let kx = 0; kx < kw; kx++) {
        const ix = ox * sw - pw + kx;
        if (ix < 0 || ix >= w) continue;
        const src = pix + ((<usize>((b * h + iy) * w + ix) * <usize>pg) << 4);
        let L = (ky * kw + kx) * cin;
        for (let g = 0; g < pg; g++, L += 64) {
          const nz = load<u64>(src + (<usize>g << 4));
          const sg = load<u64>(src + (<usize>g << 4), 8);
          const wd = d + (<usize>(L >> 6) << 4);
          const s = <u64>(L & 63);
          store<u64>(wd, load<u64>(wd) | (nz << s));
          store<u64>(wd, load<u64>(wd, 8) | (sg << s), 8);
          if (s != 0 && <i32>s + min(64, cin - g * 64) > 64) {
            store<u64>(wd, load<u64>(wd, 16) | (nz >> (64 - s)), 16);
            store<u64>(wd, load<u64>(wd, 24) | (sg >> (64 - s)), 24);
          }
        }
      }
    }
    if (++ox == ow) {
      ox = 0;
      if (++oy == oh) {
        oy = 0;
        b++;
      }
    }
  }
}

/**
 * `im2col` from the packed pixels as one stream (pixel p's channel c at lane p·cin + c, as
 * `quantPack` writes with `stream`): the taps of one kernel row inside the image are consecutive
 * pixels, so they are consecutive lanes of the stream, moved up to 64 at a time; each patch row is
 * written front to back, a group at a time, from lanes gathered in locals (no clearing, no
 * read-modify-write). The stream is read up to one group past its end.
 */
export function im2colStream(pix: usize, h: i32, w: i32, cin: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32, r0: i32, count: i32, dst: usize): void {
  const span = kw * cin;
  const groups = (kh * span + 63) >> 6;
  const rowB = <usize>groups << 4;
  const plane = oh * ow;
  let b = r0 / plane;
  const rem = r0 - b * plane;
  let oy = rem / ow;
  let ox = rem - oy * ow;
  for (let r = 0; r < count; r++) {
    let at = dst + <usize>r * rowB;
    let accN: u64 = 0;
    let accS: u64 = 0;
    let fill = 0;
    const ix0 = ox * sw - pw;
    const kx0 = min(kw, max(0, -ix0));
    const kx1 = max(kx0, min(kw, w - ix0));
    for (let ky = 0; ky < kh; ky++) {
      const iy = oy * sh - ph + ky;
      const inside = iy >= 0 && iy < h;
      // lanes [0, z0) and [z1, span) of this kernel row are zero, [z0, z1) come from the stream at src
      const z0 = inside ? kx0 * cin : span;
      const z1 = inside ? kx1 * cin : span;
      const src = ((b * h + iy) * w + ix0 + kx0) * cin - z0;
      for (let t = 0; t < span; ) {
        let len: i32;
        let bn: u64 = 0;
        let bs: u64 = 0;
        if (t < z0) len = min(64, z0 - t);
        else if (t < z1) {
          len = min(64, z1 - t);
          const pos = src + t;
          const p = pix + (<usize>(pos >> 6) << 4);
          const s = <u64>(pos & 63);
          bn = load<u64>(p) >> s;
          bs = load<u64>(p, 8) >> s;
          if (s != 0 && <i32>s + len > 64) {
            bn |= load<u64>(p, 16) << (64 - s);
            bs |= load<u64>(p, 24) << (64 - s);
          }
          const mask: u64 = len >= 64 ? <u64>-1 : (<u64>1 << <u64>len) - 1;
          bn &= mask;
          bs &= mask;
        } else len = min(64, span - t);
        t += len;
        // append len lanes; store each group as it fills
        if (fill == 0) {
          accN = bn;
          accS = bs;
        } else {
          accN |= bn << <u64>fill;
          accS |= bs << <u64>fill;
        }
        if (fill + len >= 64) {
          store<u64>(at, accN);
          store<u64>(at, accS, 8);
          at += 16;
          accN = fill == 0 ? 0 : bn >> <u64>(64 - fill);
          accS = fill == 0 ? 0 : bs >> <u64>(64 - fill);
          fill += len - 64;
        } else fill += len;
      }
    }
    if (fill > 0) {
      store<u64>(at, accN);
      store<u64>(at, accS, 8);
    }
    if (++ox == ow) {
      ox = 0;
      if (++oy == oh) {
        oy = 0;
        b++;
      }
    }
  }
}

/**
 * Byte offset of slot q of a packed row or stream whose slots are one T of each bitplane (T = u32:
 * 32 lanes, 2 slots a group; u16: 16 lanes, 4 a group); the sign half is 8 bytes on.
 */
@inline
function slotByte<T>(q: i32): usize {
  const per = <u32>(8 / sizeof<T>());
  return (<usize>(<u32>q / per) << 4) + <usize>(<u32>q % per) * sizeof<T>();
}

/**
 * A patch row at d whose taps are all inside the image, for cin = 16 (T = u16) or 32 (T = u32):
 * tap (ky, kx) is slot ky·kw + kx, moved from slot p0 + ky·w + kx of the stream at pix; the
 * slots after the last tap (the padding lanes of the row's `groups` groups) are cleared.
 */
@inline
function tapMoves<T>(pix: usize, d: usize, p0: i32, w: i32, kh: i32, kw: i32, groups: i32): void {
  let t = 0;
  for (let ky = 0; ky < kh; ky++) {
    let q = p0 + ky * w;
    for (let kx = 0; kx < kw; kx++, q++, t++) {
      const src = pix + slotByte<T>(q);
      const at = d + slotByte<T>(t);
      store<T>(at, load<T>(src));
      store<T>(at, load<T>(src, 8), 8);
    }
  }
  for (const end = groups * <i32>(8 / sizeof<T>()); t < end; t++) {
    const at = d + slotByte<T>(t);
    store<T>(at, 0);
    store<T>(at, 0, 8);
  }
}

/**
 * `im2colStream` for the channel counts whose runs are aligned: cin = 16 or 32 (a tap is one u16
 * or u32 of each bitplane, in the stream as in the patch row, since both start at multiples of
 * cin lanes) or a multiple of 64 (a tap is cin/64 whole groups). Each tap inside the image is one
 * load and one store per bitplane (a copy of whole groups for cin ≥ 64); the rows are cleared
 * first, so the taps outside the image and the padding lanes are zero. Same result as
 * `im2colStream`, bit for bit.
 */
export function im2colTaps(pix: usize, h: i32, w: i32, cin: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32, r0: i32, count: i32, dst: usize): void {
  const groups = (kh * kw * cin + 63) >> 6;
  const rowB = <usize>groups << 4;
  const tapB = <usize>(cin >> 6) << 4; // bytes of a tap of whole groups (cin ≥ 64)
  const plane = oh * ow;
  let b = r0 / plane;
  const rem = r0 - b * plane;
  let oy = rem / ow;
  let ox = rem - oy * ow;
  const taps = kh * kw;
  for (let r = 0; r < count; r++) {
    const d = dst + <usize>r * rowB;
    const iy0 = oy * sh - ph;
    const ix0 = ox * sw - pw;
    if (iy0 >= 0 && iy0 + kh <= h && ix0 >= 0 && ix0 + kw <= w) {
      // every tap inside the image: the taps in order, tap (ky, kx) from pixel p0 + ky·w + kx; of
      // the padding lanes after the last tap, only those are cleared
      const p0 = (b * h + iy0) * w + ix0;
      if (cin == 32) tapMoves<u32>(pix, d, p0, w, kh, kw, groups);
      else if (cin == 16) tapMoves<u16>(pix, d, p0, w, kh, kw, groups);
      else {
        const run = <usize>kw * tapB;
        for (let ky = 0; ky < kh; ky++) memory.copy(d + <usize>ky * run, pix + <usize>(p0 + ky * w) * tapB, run);
      }
    } else {
      memory.fill(d, 0, rowB);
      for (let ky = 0; ky < kh; ky++) {
        const iy = oy * sh - ph + ky;
        if (iy < 0 || iy >= h) continue;
        for (let kx = 0; kx < kw; kx++) {
          const ix = ox * sw - pw + kx;
          if (ix < 0 || ix >= w) continue;
          const p = <usize>((b * h + iy) * w + ix); // pixel
          const t = <usize>(ky * kw + kx); // tap
          if (cin == 32) {
            const src = pix + slotByte<u32>(<i32>p);
            const at = d + slotByte<u32>(<i32>t);
            store<u32>(at, load<u32>(src));
            store<u32>(at, load<u32>(src, 8), 8);
          } else if (cin == 16) {
            const src = pix + slotByte<u16>(<i32>p);
            const at = d + slotByte<u16>(<i32>t);
            store<u16>(at, load<u16>(src));
            store<u16>(at, load<u16>(src, 8), 8);
          } else {
            memory.copy(d + t * tapB, pix + p * tapB, tapB);
          }
        }
      }
    }
    if (++ox == ow) {
      ox = 0;
      if (++oy == oh) {
        oy = 0;
        b++;
      }
    }
  }
}

/** Bytes of slack `planes` leaves before and after each bitplane (`im2col3x3` reads a little outside the pixels). */
const PLANE_SLACK: usize = 16;

/** Bytes `planes` writes for a stream of `groups` groups: two bitplanes of 8 bytes a group, each with slack on both sides. */
export function planesBytes(groups: i32): usize {
  return (<usize>groups << 4) + 4 * PLANE_SLACK;
}

/**
 * The stream of `groups` packed groups at `pix` as two bitplanes at `dst` (nz, then sign, each
 * `PLANE_SLACK` zero bytes, 8 bytes a group, `PLANE_SLACK` zero bytes): lane L of the stream is
 * then bit L of its plane read as one little-endian bit string, so the lanes of pixel q (cin a
 * multiple of 8) start at byte q·cin/8.
 */
export function planes(pix: usize, groups: i32, dst: usize): void {
  const planeB = (<usize>groups << 3) + 2 * PLANE_SLACK;
  const nz = dst + PLANE_SLACK;
  const sg = nz + planeB;
  memory.fill(dst, 0, PLANE_SLACK);
  memory.fill(nz + (<usize>groups << 3), 0, 2 * PLANE_SLACK);
  memory.fill(sg + (<usize>groups << 3), 0, PLANE_SLACK);
  for (let g: usize = 0; g < <usize>groups; g++) {
    store<u64>(nz + (g << 3), load<u64>(pix + (g << 4)));
    store<u64>(sg + (g << 3), load<u64>(pix + (g << 4), 8));
  }
}

/**
 * One patch row of a 3×3 kernel over 16 channels at d (3 groups): kernel row ky's three taps are
 * the 48 bits at byte offset oky of the planes at nz and sg, when `hasKy` (else zero), masked by
 * `keep` (the taps inside the image in x).
 */
@inline
function row3x3c16(nz: usize, sg: usize, o0: usize, o1: usize, o2: usize, has0: bool, has1: bool, has2: bool, keep: u64, d: usize): void {
  const n0: u64 = has0 ? load<u64>(nz + o0) & keep : 0;
  const s0: u64 = has0 ? load<u64>(sg + o0) & keep : 0;
  const n1: u64 = has1 ? load<u64>(nz + o1) & keep : 0;
  const s1: u64 = has1 ? load<u64>(sg + o1) & keep : 0;
  const n2: u64 = has2 ? load<u64>(nz + o2) & keep : 0;
  const s2: u64 = has2 ? load<u64>(sg + o2) & keep : 0;
  // 144 lanes: [0, 48) kernel row 0, [48, 96) row 1, [96, 144) row 2
  store<u64>(d, n0 | (n1 << 48));
  store<u64>(d, s0 | (s1 << 48), 8);
  store<u64>(d, (n1 >> 16) | (n2 << 32), 16);
  store<u64>(d, (s1 >> 16) | (s2 << 32), 24);
  store<u64>(d, n2 >> 32, 32);
  store<u64>(d, s2 >> 32, 40);
}

/**
 * One patch row of a 3×3 kernel over 32 channels at d (5 groups): kernel row ky's taps 0 and 1
 * are the u64 at byte offset oky of the planes, tap 2 the u32 after it, when `hasKy` (else zero),
 * masked by keepLo and keepHi.
 */
@inline
function row3x3c32(nz: usize, sg: usize, o0: usize, o1: usize, o2: usize, has0: bool, has1: bool, has2: bool, keepLo: u64, keepHi: u64, d: usize): void {
  const n0: u64 = has0 ? load<u64>(nz + o0) & keepLo : 0;
  const s0: u64 = has0 ? load<u64>(sg + o0) & keepLo : 0;
  const m0: u64 = has0 ? <u64>load<u32>(nz + o0, 8) & keepHi : 0;
  const t0: u64 = has0 ? <u64>load<u32>(sg + o0, 8) & keepHi : 0;
  const n1: u64 = has1 ? load<u64>(nz + o1) & keepLo : 0;
  const s1: u64 = has1 ? load<u64>(sg + o1) & keepLo : 0;
  const m1: u64 = has1 ? <u64>load<u32>(nz + o1, 8) & keepHi : 0;
  const t1: u64 = has1 ? <u64>load<u32>(sg + o1, 8) & keepHi : 0;
  const n2: u64 = has2 ? load<u64>(nz + o2) & keepLo : 0;
  const s2: u64 = has2 ? load<u64>(sg + o2) & keepLo : 0;
  const m2: u64 = has2 ? <u64>load<u32>(nz + o2, 8) & keepHi : 0;
  const t2: u64 = has2 ? <u64>load<u32>(sg + o2, 8) & keepHi : 0;
  // 288 lanes: [0, 96) kernel row 0, [96, 192) row 1, [192, 288) row 2
  store<u64>(d, n0);
  store<u64>(d, s0, 8);
  store<u64>(d, m0 | (n1 << 32), 16);
  store<u64>(d, t0 | (s1 << 32), 24);
  store<u64>(d, (n1 >> 32) | (m1 << 32), 32);
  store<u64>(d, (s1 >> 32) | (t1 << 32), 40);
  store<u64>(d, n2, 48);
  store<u64>(d, s2, 56);
  store<u64>(d, m2, 64);
  store<u64>(d, t2, 72);
}

/**
 * `im2colTaps` for a 3×3 kernel over 16 or 32 channels, from the bitplanes of `planes` (at
 * `pl`, for a stream of `groups` groups; pw ≤ 2): a kernel row's three taps are 48 or 96
 * consecutive bits of a plane, read with unaligned loads, the taps outside the image masked off
 * (a row outside the image read as zero), and the patch row assembled with constant shifts: every
 * row is written whole, padding lanes zero. A run of outputs whose taps are all inside the image
 * goes through a loop without masks or checks. Same result as `im2colTaps`, bit for bit.
 */
export function im2col3x3(pl: usize, groups: i32, h: i32, w: i32, cin: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32, r0: i32, count: i32, dst: usize): void {
  const nz = pl + PLANE_SLACK;
  const sg = nz + (<usize>groups << 3) + 2 * PLANE_SLACK;
  const plane = oh * ow;
  let b = r0 / plane;
  const rem = r0 - b * plane;
  let oy = rem / ow;
  let ox = rem - oy * ow;
  const pixB = <usize>(cin >> 3); // bytes of a pixel in a plane
  const wB = <usize>w * pixB; // bytes of an image row in a plane
  const rowB = <usize>(cin == 16 ? 3 : 5) << 4;
  // outputs ox ≤ oxIn have every tap inside the image in x from ox ≥ oxIn0 on
  const oxIn0 = (pw + sw - 1) / sw;
  const oxIn = (w - 3 + pw) / sw;
  let d = dst;
  for (let r = 0; r < count; ) {
    const iy0 = oy * sh - ph;
    const ix0 = ox * sw - pw;
    let o = <usize>((b * h + iy0) * w + ix0) * pixB; // tap (0, 0), inside the image or not
    if (iy0 >= 0 && iy0 + 3 <= h && ox >= oxIn0 && ox <= oxIn) {
      // a run of outputs with every tap inside the image
      const run = min(count - r, oxIn - ox + 1);
      const step = <usize>sw * pixB;
      const end = d + <usize>run * rowB;
      if (cin == 16) for (; d < end; d += rowB, o += step) row3x3c16(nz, sg, o, o + wB, o + 2 * wB, true, true, true, 0xffffffffffff, d);
      else for (; d < end; d += rowB, o += step) row3x3c32(nz, sg, o, o + wB, o + 2 * wB, true, true, true, <u64>-1, <u64>-1, d);
      r += run;
      ox += run;
    } else {
      // taps kx0 … kx1 − 1 are inside the image in x
      const kx0 = max(0, -ix0);
      const kx1 = min(3, w - ix0);
      const has0 = iy0 >= 0 && iy0 < h;
      const has1 = iy0 + 1 >= 0 && iy0 + 1 < h;
      const has2 = iy0 + 2 >= 0 && iy0 + 2 < h;
      if (cin == 16) {
        const keep: u64 = kx1 <= kx0 ? 0 : ((<u64>1 << <u64>(kx1 << 4)) - 1) & ~((<u64>1 << <u64>(kx0 << 4)) - 1);
        row3x3c16(nz, sg, o, o + wB, o + 2 * wB, has0, has1, has2, keep, d);
      } else {
        const keepLo: u64 = (kx0 <= 0 && kx1 >= 1 ? <u64>0xffffffff : 0) | (kx0 <= 1 && kx1 >= 2 ? <u64>0xffffffff00000000 : 0);
        const keepHi: u64 = kx1 >= 3 ? <u64>0xffffffff : 0;
        row3x3c32(nz, sg, o, o + wB, o + 2 * wB, has0, has1, has2, keepLo, keepHi, d);
      }
      d += rowB;
      r++;
      ox++;
    }
    if (ox == ow) {
      ox = 0;
      if (++oy == oh) {
        oy = 0;
        b++;
      }
    }
  }
}

/**
 * y[i, j] = f32(relu?(c[i, j]·a[j] + c2[i, j]·b[j] + bias[j])) for i < m, j < n, evaluated in
 * float64 (the c2 term only when `c2` ≠ 0): c and c2 rows `ldc` i32 apart, a, b, bias f64 per
 * channel, y rows n f32 apart. The relu is 0 < v ? v : 0 (so −0 and NaN give +0).
 */
export function epilogueF32(c: usize, c2: usize, m: i32, n: i32, ldc: i32, a: usize, b: usize, bias: usize, relu: i32, y: usize): void {
  const zero = f64x2.splat(0);
  const two = c2 != 0;
  const rl = relu != 0;
  for (let i = 0; i < m; i++) {
    const cr = c + ((<usize>i * <usize>ldc) << 2);
    const cr2 = c2 + ((<usize>i * <usize>ldc) << 2);
    const yr = y + ((<usize>i * <usize>n) << 2);
    let j = 0;
    if (!two) {
      // four at a time: the high two sums moved down and converted like the low two
      for (; j + 4 <= n; j += 4) {
        const jj = <usize>j;
        const c4 = v128.load(cr + (jj << 2));
        let lo = f64x2.add(f64x2.mul(f64x2.convert_low_i32x4_s(c4), v128.load(a + (jj << 3))), v128.load(bias + (jj << 3)));
        let hi = f64x2.add(f64x2.mul(f64x2.convert_low_i32x4_s(i32x4.shuffle(c4, c4, 2, 3, 2, 3)), v128.load(a + (jj << 3), 16)), v128.load(bias + (jj << 3), 16));
        if (rl) {
          lo = f64x2.pmax(zero, lo);
          hi = f64x2.pmax(zero, hi);
        }
        v128.store(yr + (jj << 2), i32x4.shuffle(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5));
      }
    }
    for (; j + 2 <= n; j += 2) {
      const jj = <usize>j;
      let v = f64x2.mul(f64x2.convert_low_i32x4_s(v128.load64_zero(cr + (jj << 2))), v128.load(a + (jj << 3)));
      if (two) v = f64x2.add(v, f64x2.mul(f64x2.convert_low_i32x4_s(v128.load64_zero(cr2 + (jj << 2))), v128.load(b + (jj << 3))));
      v = f64x2.add(v, v128.load(bias + (jj << 3)));
      if (rl) v = f64x2.pmax(zero, v);
      v128.store64_lane(yr + (jj << 2), f32x4.demote_f64x2_zero(v), 0);
    }
    for (; j < n; j++) {
      const jj = <usize>j;
      let v = <f64>load<i32>(cr + (jj << 2)) * load<f64>(a + (jj << 3));
      if (two) v += <f64>load<i32>(cr2 + (jj << 2)) * load<f64>(b + (jj << 3));
      v += load<f64>(bias + (jj << 3));
      if (rl && !(v > 0)) v = 0;
      store<f32>(yr + (jj << 2), <f32>v);
    }
  }
}

/**
 * Max pooling of NHWC f32 `x` [n, h, w, c] into `y` [n, oh, ow, c] (no padding): each window's
 * first maximum in (ky, kx) order (a later value replaces it only when greater), then, with
 * `relu`, 0 < v ? v : 0.
 */
export function maxPoolF32(x: usize, n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, oh: i32, ow: i32, relu: i32, y: usize): void {
  const cb = <usize>c << 2;
  const zero = f32x4.splat(0);
  let out = y;
  if (kh == 2 && kw == 2 && (c & 3) == 0) {
    // 2×2 windows over whole vectors of channels: the four taps in (ky, kx) order, in registers
    const rowB = <usize>w * cb;
    for (let b = 0; b < n; b++) {
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          const p0 = x + <usize>((b * h + oy * sh) * w + ox * sw) * cb;
          const p1 = p0 + rowB;
          const end = out + cb;
          for (let q: usize = 0; out < end; q += 16, out += 16) {
            let best = v128.load(p0 + q);
            let v = v128.load(p0 + q + cb);
            best = v128.bitselect(v, best, f32x4.gt(v, best));
            v = v128.load(p1 + q);
            best = v128.bitselect(v, best, f32x4.gt(v, best));
            v = v128.load(p1 + q + cb);
            best = v128.bitselect(v, best, f32x4.gt(v, best));
            v128.store(out, relu != 0 ? f32x4.pmax(zero, best) : best);
          }
        }
      }
    }
    return;
  }
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++, out += cb) {
        const corner = x + <usize>((b * h + oy * sh) * w + ox * sw) * cb;
        memory.copy(out, corner, cb);
        for (let ky = 0; ky < kh; ky++) {
          for (let kx = 0; kx < kw; kx++) {
            if (ky == 0 && kx == 0) continue;
            const p = corner + <usize>(ky * w + kx) * cb;
            let q: usize = 0;
            for (; q + 16 <= cb; q += 16) {
              const best = v128.load(out + q);
              const v = v128.load(p + q);
              v128.store(out + q, v128.bitselect(v, best, f32x4.gt(v, best)));
            }
            for (; q < cb; q += 4) {
              const v = load<f32>(p + q);
              if (v > load<f32>(out + q)) store<f32>(out + q, v);
            }
          }
        }
        if (relu != 0) {
          let q: usize = 0;
          for (; q + 16 <= cb; q += 16) v128.store(out + q, f32x4.pmax(zero, v128.load(out + q)));
          for (; q < cb; q += 4) {
            const v = load<f32>(out + q);
            store<f32>(out + q, v > 0 ? v : 0);
          }
        }
      }
    }
  }
}

/** Stores the first `left` lanes of v at p (all four when left ≥ 4, none when left ≤ 0). */
@inline
function putLanes(p: usize, v: v128, left: i32): void {
  if (left >= 4) v128.store(p, v);
  else {
    if (left > 0) store<f32>(p, f32x4.extract_lane(v, 0));
    if (left > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
    if (left > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
  }
}

/** bias, then relu (0 < v ? v : 0), on one vector of sums. */
@inline
function finishF32(acc: v128, bias: v128, relu: bool): v128 {
  const v = f32x4.add(acc, bias);
  return relu ? f32x4.pmax(f32x4.splat(0), v) : v;
}

/** Bytes of scratch `convDirectF32` needs: the zero-padded image and the table of tap offsets. */
export function convDirectScratchBytes(h: i32, w: i32, cin: i32, kh: i32, kw: i32, ph: i32, pw: i32): usize {
  return ((<usize>((h + 2 * ph) * (w + 2 * pw) * cin) << 2) + 15 & ~15) + (<usize>(kh * kw * cin) << 2);
}

/**
 * Four outputs × eight channels: output k's taps start at xb + ok (o0 = 0), tap t's byte offset
 * is the i32 at tab + 4t, its 8 weights are at wp + t·tapB. Each sum is, in float32 with a
 * rounding after every operation, 0 + x·w + x·w + … in tap order, then + bias (at bp), then with
 * `relu` 0 < v ? v : 0. With `pooled` the four are a pooling window, stored as its first maximum
 * (a later value replacing it only when greater; then with `poolRelu` 0 < v ? v : 0) at dst;
 * else output k ≤ `last` is stored at dst + k·outB. `left` channels from j on are stored.
 */
@inline
function block4x8(xb: usize, o1: usize, o2: usize, o3: usize, tab: usize, taps: i32, wp: usize, tapB: usize, bp: usize, relu: bool, pooled: bool, poolRelu: bool, dst: usize, outB: usize, last: i32, left: i32): void {
  let a0 = f32x4.splat(0), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0, d1 = a0;
  const end = tab + (<usize>taps << 2);
  for (let t = tab; t < end; t += 4, wp += tapB) {
    const xp = xb + <usize>load<i32>(t);
    const w0 = v128.load(wp), w1 = v128.load(wp, 16);
    let xs = v128.load32_splat(xp);
    a0 = f32x4.add(a0, f32x4.mul(xs, w0));
    a1 = f32x4.add(a1, f32x4.mul(xs, w1));
    xs = v128.load32_splat(xp + o1);
    b0 = f32x4.add(b0, f32x4.mul(xs, w0));
    b1 = f32x4.add(b1, f32x4.mul(xs, w1));
    xs = v128.load32_splat(xp + o2);
    c0 = f32x4.add(c0, f32x4.mul(xs, w0));
    c1 = f32x4.add(c1, f32x4.mul(xs, w1));
    xs = v128.load32_splat(xp + o3);
    d0 = f32x4.add(d0, f32x4.mul(xs, w0));
    d1 = f32x4.add(d1, f32x4.mul(xs, w1));
  }
  const bb0 = v128.load(bp), bb1 = v128.load(bp, 16);
  a0 = finishF32(a0, bb0, relu);
  a1 = finishF32(a1, bb1, relu);
  b0 = finishF32(b0, bb0, relu);
  b1 = finishF32(b1, bb1, relu);
  c0 = finishF32(c0, bb0, relu);
  c1 = finishF32(c1, bb1, relu);
  d0 = finishF32(d0, bb0, relu);
  d1 = finishF32(d1, bb1, relu);
  if (pooled) {
    let m0 = later(later(later(a0, b0), c0), d0);
    let m1 = later(later(later(a1, b1), c1), d1);
    if (poolRelu) {
      m0 = f32x4.pmax(f32x4.splat(0), m0);
      m1 = f32x4.pmax(f32x4.splat(0), m1);
    }
    putLanes(dst, m0, left);
    putLanes(dst + 16, m1, left - 4);
  } else {
    putLanes(dst, a0, left);
    putLanes(dst + 16, a1, left - 4);
    if (last >= 1) {
      putLanes(dst + outB, b0, left);
      putLanes(dst + outB + 16, b1, left - 4);
    }
    if (last >= 2) {
      putLanes(dst + 2 * outB, c0, left);
      putLanes(dst + 2 * outB + 16, c1, left - 4);
    }
    if (last >= 3) {
      putLanes(dst + 3 * outB, d0, left);
      putLanes(dst + 3 * outB + 16, d1, left - 4);
    }
  }
}

/** The larger of best and v, best kept unless v > best (the max-pool's rule). */
@inline
function later(best: v128, v: v128): v128 {
  return v128.bitselect(v, best, f32x4.gt(v, best));
}

/**
 * A float32 convolution computed directly (no patch matrix), for inputs with few channels: x
 * NHWC [n, h, w, cin], weights HWIO [kh, kw, cin, opad] (opad = o rounded up to 8, zero
 * padded), bias [opad]; y [n, oh, ow, o], or with `pool` its 2×2 max-pooling with stride 2
 * [n, oh/2, ow/2, o] (rounded down). Each output is, in float32 with a rounding after every
 * operation, acc = 0; acc += x·w over the taps in (ky, kx, ci) order; then acc + bias, then with
 * `relu` 0 < v ? v : 0. Each image is first copied into `scratch` (`convDirectScratchBytes`)
 * with ph rows and pw columns of zeros around it, so every output reads all its taps: a tap
 * outside the image adds 0·w = ±0, which leaves the sum as it is for finite weights (a sum that
 * starts at +0 is never −0), the sum the reference forms by skipping it. Four outputs × eight
 * channels at a time: a pooling window (then the window's first maximum in (ky, kx) order, a later
 * value replacing it only when greater, and with `poolRelu` 0 < v ? v : 0), or four neighbours
 * in a row (the last block of a row repeats its last output, stored once).
 */
export function convDirectF32(x: usize, n: i32, h: i32, w: i32, cin: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32, wt: usize, o: i32, opad: i32, bias: usize, relu: i32, pool: i32, poolRelu: i32, scratch: usize, y: usize): void {
  const hp = h + 2 * ph;
  const wp = w + 2 * pw;
  const pixB = <usize>cin << 2;
  const imgB = <usize>(hp * wp) * pixB;
  const tab = scratch + ((imgB + 15) & ~15);
  const taps = kh * kw * cin;
  for (let ky = 0, t = 0; ky < kh; ky++)
    for (let kx = 0; kx < kw; kx++)
      for (let ci = 0; ci < cin; ci++, t++) store<i32>(tab + (<usize>t << 2), ((ky * wp + kx) * cin + ci) << 2);
  const tapB = <usize>opad << 2;
  const outB = <usize>o << 2;
  const colB = <usize>sw * pixB; // between horizontal neighbours
  const rowB = <usize>(sh * wp) * pixB; // between vertical neighbours
  const rl = relu != 0;
  const rowIn = <usize>(w * cin);
  let out = y;
  for (let b = 0; b < n; b++) {
    memory.fill(scratch, 0, imgB);
    for (let iy = 0; iy < h; iy++) {
      const src = x + ((<usize>(b * h + iy) * rowIn) << 2);
      const dst = scratch + <usize>((iy + ph) * wp + pw) * pixB;
      memory.copy(dst, src, rowIn << 2);
    }
    if (pool != 0) {
      const poh = oh >> 1;
      const pow = ow >> 1;
      for (let py = 0; py < poh; py++) {
        for (let px = 0; px < pow; px++, out += outB) {
          const xb = scratch + <usize>(2 * py) * rowB + <usize>(2 * px) * colB;
          for (let j = 0; j < opad; j += 8) block4x8(xb, colB, rowB, rowB + colB, tab, taps, wt + (<usize>j << 2), tapB, bias + (<usize>j << 2), rl, true, poolRelu != 0, out + (<usize>j << 2), 0, 3, o - j);
        }
      }
      continue;
    }
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox += 4) {
        const xb = scratch + <usize>oy * rowB + <usize>ox * colB;
        const last = min(3, ow - 1 - ox); // outputs ox … ox + last are this row's
        const o1 = colB * <usize>min(1, last);
        const o2 = colB * <usize>min(2, last);
        const o3 = colB * <usize>last;
        for (let j = 0; j < opad; j += 8) block4x8(xb, o1, o2, o3, tab, taps, wt + (<usize>j << 2), tapB, bias + (<usize>j << 2), rl, false, false, out + (<usize>j << 2), outB, last, o - j);
        out += <usize>(last + 1) * outB;
      }
    }
  }
}

/**
 * A float32 dense layer: y[i, j] = relu?(Σ_k x[i, k]·w[j, k] + bias[j]) for m rows of k inputs
 * at `x` and o rows of k weights at `w` (bias [o], y [m, o]). In float32 with a rounding after
 * every operation: lane l of four partial sums takes the k ≡ l (mod 4) terms in order, the sum is
 * (s0 + s2) + (s1 + s3), then + bias, then with `relu` 0 < v ? v : 0. Four outputs at a time (four
 * independent chains of additions; the last block of a row repeats its last output, stored once).
 * Rows of x and w may be read up to 3 values past their ends (those products are not added).
 */
export function denseF32(x: usize, w: usize, bias: usize, m: i32, k: i32, o: i32, relu: i32, y: usize): void {
  const k4 = k & ~3;
  const rowB = <usize>k << 2;
  const end = <usize>k4 << 2;
  // the last k mod 4 products, in lanes 0 … k mod 4 − 1
  const keep = i32x4.lt_s(i32x4(0, 1, 2, 3), i32x4.splat(k - k4));
  for (let i = 0; i < m; i++) {
    const xr = x + <usize>i * rowB;
    const yr = y + ((<usize>i * <usize>o) << 2);
    for (let j = 0; j < o; j += 4) {
      const last = min(3, o - 1 - j);
      const w0 = w + <usize>j * rowB;
      const w1 = w + <usize>(j + min(1, last)) * rowB;
      const w2 = w + <usize>(j + min(2, last)) * rowB;
      const w3 = w + <usize>(j + last) * rowB;
      let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0;
      let q: usize = 0;
      for (; q < end; q += 16) {
        const xv = v128.load(xr + q);
        s0 = f32x4.add(s0, f32x4.mul(xv, v128.load(w0 + q)));
        s1 = f32x4.add(s1, f32x4.mul(xv, v128.load(w1 + q)));
        s2 = f32x4.add(s2, f32x4.mul(xv, v128.load(w2 + q)));
        s3 = f32x4.add(s3, f32x4.mul(xv, v128.load(w3 + q)));
      }
      if (k4 < k) {
        const xv = v128.load(xr + q);
        s0 = f32x4.add(s0, v128.and(f32x4.mul(xv, v128.load(w0 + q)), keep));
        s1 = f32x4.add(s1, v128.and(f32x4.mul(xv, v128.load(w1 + q)), keep));
        s2 = f32x4.add(s2, v128.and(f32x4.mul(xv, v128.load(w2 + q)), keep));
        s3 = f32x4.add(s3, v128.and(f32x4.mul(xv, v128.load(w3 + q)), keep));
      }
      const yj = yr + (<usize>j << 2);
      const bj = bias + (<usize>j << 2);
      store<f32>(yj, denseOut(s0, load<f32>(bj), relu));
      if (last >= 1) store<f32>(yj, denseOut(s1, load<f32>(bj, 4), relu), 4);
      if (last >= 2) store<f32>(yj, denseOut(s2, load<f32>(bj, 8), relu), 8);
      if (last >= 3) store<f32>(yj, denseOut(s3, load<f32>(bj, 12), relu), 12);
    }
  }
}

/** (s0 + s2) + (s1 + s3) + bias, then with `relu` 0 < v ? v : 0. */
@inline
function denseOut(s: v128, bias: f32, relu: i32): f32 {
  const h = f32x4.add(s, v128.shuffle<f32>(s, s, 2, 3, 0, 1));
  let v: f32 = f32x4.extract_lane(h, 0) + f32x4.extract_lane(h, 1);
  v += bias;
  if (relu != 0 && !(v > 0)) v = 0;
  return v;
}
