/**
 * Experimental kernels for bench/ternary-options.ts (issue #16 item 3), NOT part of the library:
 * the two engine options the issue names, written to be measured against the shipped kernels.
 * Compiled by that script (`npx asc --config bench/assembly/asconfig.json`) into build/bench/, in a
 * plain-SIMD build and a relaxed-SIMD one (`i8x16.relaxed_swizzle`: one `pshufb` on x86 instead of
 * the plain swizzle's saturating add + `pshufb`).
 *
 * 1. Ternary × ternary by table lookup, in the manner of T-MAC (bitplane, g = 4). For 4 lanes of
 *    an activation row x (codes in {−1, 0, +1}) the 16-entry table T[idx] = Σ_{j ∈ idx} x_j (idx a
 *    subset of the 4 lanes, as 4 bits; entries in [−4, 4], one i8 each) is looked up by the 4-bit
 *    masks of the weights' +1 and −1 codes: Σ_j x_j·w_j = T[P] − T[N]. One `i8x16.swizzle` looks
 *    up 16 output channels at once, so 16 outputs × 4 lanes cost two swizzles, a subtract and an
 *    add (i8 sums, widened into the i32 outputs every 31 groups, before |sum| can pass 124). The
 *    table needs no arithmetic: the activation's 4 lanes as one byte (nz nibble | sign nibble << 4,
 *    a shuffle of the 2+2 packing) index a static 256 × 16 byte table of tables; `tlPackA` stores
 *    each as its table's address (u16), so the kernel fetches a table with two loads.
 * 2. Ternary × float without decoding (2+32): y[r, o] = sp_o·Σ_{k: c_ok = +1} x_rk − sn_o·Σ_{k:
 *    c_ok = −1} x_rk, zero codes skipped. Each output keeps the lists of its +1 and −1 inputs (`dfPackW`);
 *    16 rows of x are transposed into a K × 16 tile so each listed input adds 16 rows with four
 *    `f32x4.add` and no multiply; the scale is applied once per output.
 *
 * The table-lookup kernel now ships in the relaxed-SIMD builds of the engine (its code lives in
 * backends/ternary/assembly/lookup.ts, re-exported here). Checked by bench/ternary-options.ts
 * (not a law for the decode-free kernel, which is not shipped), which compares
 * every result with the shipped kernels / a float64 reference before timing and throws if one
 * differs.
 */

// ---------------------------------------------------------------- 1. table lookup (T-MAC)

// the kernel itself is the library's (backends/ternary/assembly/lookup.ts: its static table of
// tables, `tlPackA`, `tlGemm`); this file keeps the weight layout and sizes the script needs
export { tlPackA, tlGemm } from '../../backends/ternary/assembly/lookup';

/** The first free byte after static data. */
export function heapBase(): usize {
  return __heap_base;
}

/** Bytes of the weight index layout of n rows of `groups` groups. */
export function tlWBytes(n: i32, groups: i32): usize {
  return <usize>((n + 15) >> 4) * <usize>(groups * 16) * 32;
}

/**
 * The weights' lookup indices: for each 4-lane group j, for each block of 16 output rows (zero
 * past n), 16 bytes of +1 masks P then 16 of −1 masks N; groups nb·32 bytes apart. From n packed
 * rows at `w` (`stride` groups apart, their first `groups` groups). Done once per layer.
 */
export function tlPackW(w: usize, n: i32, groups: i32, stride: i32, dst: usize): void {
  const nb = (n + 15) >> 4;
  const g4 = groups * 16;
  memory.fill(dst, 0, tlWBytes(n, groups));
  for (let o = 0; o < n; o++) {
    const row = w + <usize>o * (<usize>stride << 4);
    for (let j = 0; j < g4; j++) {
      const grp = row + (<usize>(j >> 4) << 4);
      const sh = <u64>((j & 15) << 2);
      const nz = <i32>((load<u64>(grp) >> sh) & 15);
      const sg = <i32>((load<u64>(grp, 8) >> sh) & 15);
      const d = dst + (<usize>(j * nb + (o >> 4)) << 5) + <usize>(o & 15);
      store<u8>(d, nz & ~sg);
      store<u8>(d, nz & sg, 16);
    }
  }
}

/** Bytes of C `tlGemm` writes: m rows of 16·⌈n/16⌉ i32. */
export function tlOutBytes(m: i32, n: i32): usize {
  return <usize>m * (<usize>((n + 15) >> 4) << 6);
}

// ---------------------------------------------------------------- 2. decode-free ternary × float

/** Rows of x per transposed tile (four f32x4 per input). */
const DR: i32 = 16;

/**
 * Per-output lists of the codes at `codes` (n rows of k i8 in {−1, 0, +1}) into `dst`: n pairs of
 * u32 (count of +1, count of −1), then, output by output, the u16 indices of its +1 inputs and of
 * its −1 inputs. Returns the bytes written. Done once per layer.
 */
export function dfPackW(codes: usize, n: i32, k: i32, dst: usize): usize {
  let q = dst + (<usize>n << 3);
  for (let o = 0; o < n; o++) {
    const row = codes + <usize>o * <usize>k;
    let np = 0;
    let nn = 0;
    for (let j = 0; j < k; j++) if (load<i8>(row + <usize>j) > 0) { store<u16>(q, <u16>j); q += 2; np++; }
    for (let j = 0; j < k; j++) if (load<i8>(row + <usize>j) < 0) { store<u16>(q, <u16>j); q += 2; nn++; }
    store<u32>(dst + (<usize>o << 3), np);
    store<u32>(dst + (<usize>o << 3), nn, 4);
  }
  return q - dst;
}

/** Bytes of the transposed tile `dfGemm` needs. */
export function dfTileBytes(k: i32): usize {
  return <usize>k * <usize>DR * 4;
}

/**
 * y[r, o] = sp[o]·Σ_{+1} x[r, k] − sn[o]·Σ_{−1} x[r, k] (a ternary layer's two scales, `scalePos`
 * and `scaleNeg`; equal for TWN) for m rows of k float32 at `x`, the lists at `lists` (`dfPackW`),
 * n outputs; y is [m, n] row-major; `tile` has `dfTileBytes(k)` bytes. Each of the two sums is a
 * float32 sum (two partial sums, alternate listed inputs), then one multiply each.
 */
export function dfGemm(x: usize, m: i32, k: i32, lists: usize, n: i32, sp: usize, sn: usize, y: usize, tile: usize): void {
  const rowB = <usize>k << 2;
  for (let r0 = 0; r0 < m; r0 += DR) {
    const rows = min(DR, m - r0);
    // tile[j][l] = x[r0 + l, j]: four rows at a time, 4×4 transposes
    const xb = x + <usize>r0 * rowB;
    for (let l = 0; l < DR; l += 4) {
      const x0 = xb + <usize>min(l, rows - 1) * rowB;
      const x1 = xb + <usize>min(l + 1, rows - 1) * rowB;
      const x2 = xb + <usize>min(l + 2, rows - 1) * rowB;
      const x3 = xb + <usize>min(l + 3, rows - 1) * rowB;
      let j = 0;
      for (; j + 4 <= k; j += 4) {
        const jb = <usize>j << 2;
        const r0v = v128.load(x0 + jb), r1v = v128.load(x1 + jb), r2v = v128.load(x2 + jb), r3v = v128.load(x3 + jb);
        const t0 = i32x4.shuffle(r0v, r1v, 0, 4, 1, 5);
        const t1 = i32x4.shuffle(r2v, r3v, 0, 4, 1, 5);
        const t2 = i32x4.shuffle(r0v, r1v, 2, 6, 3, 7);
        const t3 = i32x4.shuffle(r2v, r3v, 2, 6, 3, 7);
        const d = tile + (<usize>j << 6) + (<usize>l << 2);
        v128.store(d, i64x2.shuffle(t0, t1, 0, 2));
        v128.store(d + 64, i64x2.shuffle(t0, t1, 1, 3));
        v128.store(d + 128, i64x2.shuffle(t2, t3, 0, 2));
        v128.store(d + 192, i64x2.shuffle(t2, t3, 1, 3));
      }
      for (; j < k; j++) {
        const d = tile + (<usize>j << 6) + (<usize>l << 2);
        store<f32>(d, load<f32>(x0 + (<usize>j << 2)));
        store<f32>(d, load<f32>(x1 + (<usize>j << 2)), 4);
        store<f32>(d, load<f32>(x2 + (<usize>j << 2)), 8);
        store<f32>(d, load<f32>(x3 + (<usize>j << 2)), 12);
      }
    }
    let q = lists + (<usize>n << 3);
    const yb = y + ((<usize>r0 * <usize>n) << 2);
    for (let o = 0; o < n; o++) {
      const np = <i32>load<u32>(lists + (<usize>o << 3));
      const nn = <i32>load<u32>(lists + (<usize>o << 3), 4);
      const z = f32x4.splat(0);
      let a0 = z, a1 = z, a2 = z, a3 = z, b0 = z, b1 = z, b2 = z, b3 = z;
      let e = q + (<usize>(np & ~1) << 1);
      for (; q < e; q += 4) {
        const p = tile + (<usize>load<u16>(q) << 6);
        const p2 = tile + (<usize>load<u16>(q, 2) << 6);
        a0 = f32x4.add(a0, v128.load(p));
        a1 = f32x4.add(a1, v128.load(p, 16));
        a2 = f32x4.add(a2, v128.load(p, 32));
        a3 = f32x4.add(a3, v128.load(p, 48));
        b0 = f32x4.add(b0, v128.load(p2));
        b1 = f32x4.add(b1, v128.load(p2, 16));
        b2 = f32x4.add(b2, v128.load(p2, 32));
        b3 = f32x4.add(b3, v128.load(p2, 48));
      }
      if ((np & 1) != 0) {
        const p = tile + (<usize>load<u16>(q) << 6);
        a0 = f32x4.add(a0, v128.load(p));
        a1 = f32x4.add(a1, v128.load(p, 16));
        a2 = f32x4.add(a2, v128.load(p, 32));
        a3 = f32x4.add(a3, v128.load(p, 48));
        q += 2;
      }
      const pos0 = f32x4.add(a0, b0), pos1 = f32x4.add(a1, b1), pos2 = f32x4.add(a2, b2), pos3 = f32x4.add(a3, b3);
      a0 = z; a1 = z; a2 = z; a3 = z; b0 = z; b1 = z; b2 = z; b3 = z;
      e = q + (<usize>(nn & ~1) << 1);
      for (; q < e; q += 4) {
        const p = tile + (<usize>load<u16>(q) << 6);
        const p2 = tile + (<usize>load<u16>(q, 2) << 6);
        a0 = f32x4.add(a0, v128.load(p));
        a1 = f32x4.add(a1, v128.load(p, 16));
        a2 = f32x4.add(a2, v128.load(p, 32));
        a3 = f32x4.add(a3, v128.load(p, 48));
        b0 = f32x4.add(b0, v128.load(p2));
        b1 = f32x4.add(b1, v128.load(p2, 16));
        b2 = f32x4.add(b2, v128.load(p2, 32));
        b3 = f32x4.add(b3, v128.load(p2, 48));
      }
      if ((nn & 1) != 0) {
        const p = tile + (<usize>load<u16>(q) << 6);
        a0 = f32x4.add(a0, v128.load(p));
        a1 = f32x4.add(a1, v128.load(p, 16));
        a2 = f32x4.add(a2, v128.load(p, 32));
        a3 = f32x4.add(a3, v128.load(p, 48));
        q += 2;
      }
      const s = f32x4.splat(load<f32>(sp + (<usize>o << 2)));
      const t = f32x4.splat(load<f32>(sn + (<usize>o << 2)));
      const v0 = f32x4.sub(f32x4.mul(pos0, s), f32x4.mul(f32x4.add(a0, b0), t));
      const v1 = f32x4.sub(f32x4.mul(pos1, s), f32x4.mul(f32x4.add(a1, b1), t));
      const v2 = f32x4.sub(f32x4.mul(pos2, s), f32x4.mul(f32x4.add(a2, b2), t));
      const v3 = f32x4.sub(f32x4.mul(pos3, s), f32x4.mul(f32x4.add(a3, b3), t));
      const nB = <usize>n << 2;
      let d = yb + (<usize>o << 2);
      // scatter the 16 rows of this output (rows past m are not stored)
      store<f32>(d, f32x4.extract_lane(v0, 0));
      if (rows > 1) store<f32>(d + nB, f32x4.extract_lane(v0, 1));
      if (rows > 2) store<f32>(d + 2 * nB, f32x4.extract_lane(v0, 2));
      if (rows > 3) store<f32>(d + 3 * nB, f32x4.extract_lane(v0, 3));
      if (rows > 4) {
        d += 4 * nB;
        store<f32>(d, f32x4.extract_lane(v1, 0));
        if (rows > 5) store<f32>(d + nB, f32x4.extract_lane(v1, 1));
        if (rows > 6) store<f32>(d + 2 * nB, f32x4.extract_lane(v1, 2));
        if (rows > 7) store<f32>(d + 3 * nB, f32x4.extract_lane(v1, 3));
      }
      if (rows > 8) {
        d += 4 * nB;
        store<f32>(d, f32x4.extract_lane(v2, 0));
        if (rows > 9) store<f32>(d + nB, f32x4.extract_lane(v2, 1));
        if (rows > 10) store<f32>(d + 2 * nB, f32x4.extract_lane(v2, 2));
        if (rows > 11) store<f32>(d + 3 * nB, f32x4.extract_lane(v2, 3));
      }
      if (rows > 12) {
        d += 4 * nB;
        store<f32>(d, f32x4.extract_lane(v3, 0));
        if (rows > 13) store<f32>(d + nB, f32x4.extract_lane(v3, 1));
        if (rows > 14) store<f32>(d + 2 * nB, f32x4.extract_lane(v3, 2));
        if (rows > 15) store<f32>(d + 3 * nB, f32x4.extract_lane(v3, 3));
      }
    }
  }
}
