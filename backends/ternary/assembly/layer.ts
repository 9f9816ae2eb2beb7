/**
 * A ternary layer's row chunks in one call (`layerPart`, run by ./tasks.ts's `layerChunks`): for
 * each chunk of R rows of the patch matrix that this part owns (chunks part, part + parts, …), the packed patch rows (one of the
 * im2col variants of ./im2col.ts, or the packed pixels themselves), the popcount GEMM against the
 * resident weight panels (./gemm.ts, with the SIMD tail dots) — in the relaxed-SIMD builds, where
 * the descriptor asks, the table-lookup GEMM against the weights' masks instead (./lookup.ts: the
 * same integer sums; the popcount code stays for `tables: false`) — and either the epilogue
 * (./epilogue.ts) or, where the layer pools its integer sums first, `poolSums` then the epilogue on
 * the pooled sums. Parts split the output rows, never a sum, and each thread has its own scratch
 * (`scratchSlot`), so the result is the same bit for bit for any number of parts (a thread pool runs them at once;
 * backends/ternary/layer.ts runs them in turn).
 *
 * The layer is described by i32 fields at `d` (the `F_*` offsets below, after the task's kind
 * word of ./tasks.ts; mirrored in backends/ternary/layer.ts), written once when the layer is
 * compiled and per call for the call's pointers and row counts.
 *
 * Law (laws/ternary-kernels.test.ts): a layer equals the reference layer bit for bit, for any
 * number of parts.
 */
import { gemmPanelled, tailDots } from './gemm';
import { tlAddrBytes, tlGemm, tlPackA } from './lookup';
import { im2col, im2col3x3, im2colStream, im2colTaps } from './im2col';
import { epilogueF32, poolSums } from './epilogue';
import { scratchSlot } from './memory';

// field indices (i32) of a layer descriptor
const F_UNFOLD = 0; // 0 the packed pixels are the rows, 1 im2col3x3 (bitplanes), 2 im2colTaps, 3 im2colStream, 4 im2col
const F_PIX = 1;
const F_PL = 2;
const F_SGROUPS = 3;
const F_H = 4;
const F_W = 5;
const F_CIN = 6;
const F_KH = 7;
const F_KW = 8;
const F_SH = 9;
const F_SW = 10;
const F_PH = 11;
const F_PW = 12;
const F_OH = 13;
const F_OW = 14;
const F_M = 15;
const F_R = 16;
const F_ROWB = 17;
const F_WP = 18;
const F_O = 19;
const F_HEAD = 20;
const F_GROUPS = 21;
const F_TAIL = 22;
const F_WT = 23;
const F_TPANELS = 24;
const F_NPAD = 25;
const F_WABS = 26;
const F_WABST = 27;
const F_PA = 28;
const F_PB = 29;
const F_PBIAS = 30;
const F_RELU = 31;
const F_OUT = 32;
const F_EARLY = 33;
const F_UNIT = 34;
const F_PERUNIT = 35;
const F_BH = 36;
const F_PKH = 37;
const F_PKW = 38;
const F_PSH = 39;
const F_PSW = 40;
const F_POH = 41;
const F_POW = 42;
const F_NEG = 43;
const F_SCRATCH = 44;
const F_STRIDE = 45;
const F_OFF_WORK = 46;
const F_OFF_PC = 47;
const F_OFF_PC2 = 48;
const F_OFF_PS = 49;
const F_SLOTS = 50;
const F_TABLES = 51; // 1: the products by table lookup (relaxed-SIMD builds only; F_WP, F_WABS then hold ./lookup.ts's masks)
const F_K = 52;
/** Fields of a descriptor. */
const FIELDS = 53;

/** Bytes of a layer descriptor: its kind (./tasks.ts), then its fields. */
export function layerDescBytes(): i32 {
  return (FIELDS + 1) * 4;
}

/** Field `i` of the descriptor at `d` (the task descriptors of ./tasks.ts read their fields the same way). */
@inline
export function fld(d: usize, i: i32): i32 {
  return load<i32>(d + (<usize>i << 2));
}

/** Field `i` of the descriptor at `d`, as a pointer. */
@inline
export function ptr(d: usize, i: i32): usize {
  return <usize>load<u32>(d + (<usize>i << 2));
}

/** Runs the chunks of part `part` of `parts` of the layer whose fields are at `d` (./tasks.ts's `layerChunks` calls it). */
export function layerPart(d: usize, part: i32, parts: i32): void {
  const unfold = fld(d, F_UNFOLD);
  const pix = ptr(d, F_PIX);
  const M = fld(d, F_M);
  const R = fld(d, F_R);
  const rowB = <usize>fld(d, F_ROWB);
  const o = fld(d, F_O);
  const head = fld(d, F_HEAD);
  const groups = fld(d, F_GROUPS);
  const tail = fld(d, F_TAIL);
  const nPad = fld(d, F_NPAD);
  const wabs = ptr(d, F_WABS);
  const early = fld(d, F_EARLY) != 0;
  const out = ptr(d, F_OUT);
  const base = ptr(d, F_SCRATCH) + <usize>scratchSlot(ptr(d, F_SLOTS)) * ptr(d, F_STRIDE);
  const pA = base;
  const work = base + ptr(d, F_OFF_WORK);
  const pc = base + ptr(d, F_OFF_PC);
  const pc2 = base + ptr(d, F_OFF_PC2);
  const ps = base + ptr(d, F_OFF_PS);
  for (let r0 = part * R; r0 < M; r0 += parts * R) {
    const count = min(R, M - r0);
    let a = pix + <usize>r0 * rowB;
    if (unfold != 0) {
      const h = fld(d, F_H), w = fld(d, F_W), cin = fld(d, F_CIN), sh = fld(d, F_SH), sw = fld(d, F_SW), ph = fld(d, F_PH), pw = fld(d, F_PW), oh = fld(d, F_OH), ow = fld(d, F_OW);
      if (unfold == 1) im2col3x3(ptr(d, F_PL), fld(d, F_SGROUPS), h, w, cin, sh, sw, ph, pw, oh, ow, r0, count, pA);
      else if (unfold == 2) im2colTaps(pix, h, w, cin, fld(d, F_KH), fld(d, F_KW), sh, sw, ph, pw, oh, ow, r0, count, pA);
      else if (unfold == 3) im2colStream(pix, h, w, cin, fld(d, F_KH), fld(d, F_KW), sh, sw, ph, pw, oh, ow, r0, count, pA);
      else im2col(pix, h, w, cin, fld(d, F_KH), fld(d, F_KW), sh, sw, ph, pw, oh, ow, r0, count, pA);
      a = pA;
    }
    let looked = false;
    if (ASC_FEATURE_RELAXED_SIMD) {
      // the table-lookup GEMM (./lookup.ts): the rows' table addresses in the work area, then the
      // spare C row its tiles write an odd last row's partner into
      if (fld(d, F_TABLES) != 0) {
        const k = fld(d, F_K);
        const spare = work + ((tlAddrBytes(R, groups) + 63) & ~63);
        tlPackA(a, count, groups, groups, work);
        tlGemm(work, ptr(d, F_WP), pc, count, o, k, groups, spare);
        if (wabs != 0) tlGemm(work, wabs, pc2, count, o, k, groups, spare);
        looked = true;
      }
    }
    if (!looked) {
      gemmPanelled(a, ptr(d, F_WP), pc, count, o, head, work, groups);
      if (tail != 0) tailDots(a, groups, count, ptr(d, F_WT), fld(d, F_TPANELS), pc, <usize>nPad << 2, tail);
      if (wabs != 0) {
        gemmPanelled(a, wabs, pc2, count, o, head, work, groups);
        if (tail != 0) tailDots(a, groups, count, ptr(d, F_WABST), fld(d, F_TPANELS), pc2, <usize>nPad << 2, tail);
      }
    }
    if (early) {
      const unit = fld(d, F_UNIT);
      const perUnit = fld(d, F_PERUNIT);
      const units = count / unit;
      poolSums(pc, nPad, units, fld(d, F_BH), fld(d, F_OW), fld(d, F_PKH), fld(d, F_PKW), fld(d, F_PSH), fld(d, F_PSW), fld(d, F_POH), fld(d, F_POW), ptr(d, F_NEG), ps);
      epilogueF32(ps, 0, units * perUnit, o, nPad, ptr(d, F_PA), 0, ptr(d, F_PBIAS), fld(d, F_RELU), out + <usize>((r0 / unit) * perUnit * o) * 4);
    } else {
      epilogueF32(pc, wabs != 0 ? pc2 : 0, count, o, nPad, ptr(d, F_PA), ptr(d, F_PB), ptr(d, F_PBIAS), fld(d, F_RELU), out + <usize>(r0 * o) * 4);
    }
  }
}
