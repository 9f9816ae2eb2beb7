/**
 * Ternary × ternary kernels for the 2+2-bit packing of src/infer/ternary-kernels.ts, compiled by
 * AssemblyScript into build/wasm/sttn-ternary.wasm and driven by backends/ternary.ts (the glue in
 * backends/ternary/). The module's entry: it re-exports the kernels, one file per concept:
 * - ./memory.ts: where the caller's arena starts (memory belongs to the caller);
 * - ./gemm.ts: the popcount GEMM, Σ_j x_j·w_j = popcnt(m ^ t) − popcnt(t) with m = nz_x & nz_w
 *   and t = m & (sign_x ^ sign_w), over 8×8 tiles of panels, the weight panels a layer keeps, and
 *   the SIMD kernels for a last group of at most 16 or 32 lanes;
 * - ./lookup.ts: the table-lookup GEMM (T-MAC style, `i8x16.relaxed_swizzle`) that the relaxed-SIMD
 *   builds (`lookup`, `fma` and their threaded ones) run a layer's products on instead: the same
 *   integer sums (`lookup` keeps the float kernels' plain multiply-adds, `fma` fuses them: the
 *   compile-time constant `STTN_FMA` of ./asconfig.json's targets);
 * - ./pack.ts: `pack*` (values that must be ternary) and a layer's `quantPack` (pre ops, then
 *   the activation's codes, packed 64 at a time) with its quantizer state;
 * - ./im2col.ts: the packed patch matrix from packed pixels (four variants, one result);
 * - ./epilogue.ts: per-channel scale and bias in float64, relu, rounded to float32, and the max-pool
 *   of integer sums that may run before it (`poolSums`);
 * - ./pool.ts: max pooling of float32 values;
 * - ./float.ts: the direct float32 convolution and the float32 dense layer;
 * - ./layer.ts: a layer's row chunks in one call (`layerChunks`: im2col → GEMM → tails → epilogue,
 *   or pooled sums then the epilogue), a part of them at a time;
 * - ./tasks.ts: the parts a thread pool runs (`layerChunks`: a layer's chunks, or a run of rows or
 *   images of quantize-and-pack, the direct convolution, the dense layer or max pooling).
 *
 * A layer (`TernaryKernels.layer`) runs quantPack → im2col → gemmPanelled (+ tailDots; in the
 * relaxed-SIMD builds tlPackA → tlGemm) → epilogueF32 (→ maxPoolF32) in wasm memory. Every float32 operation is a plain (unfused) SIMD or
 * scalar operation, so each result is the one the reference TypeScript computes with Math.fround
 * after every step.
 *
 * Law (laws/ternary-kernels.test.ts, laws/engine.test.ts): `gemm` equals the plain integer dot
 * product and `pack*` equals the reference packing bit for bit; the layer, the max-pool and the
 * float kernels equal the reference implementation of src/infer/ternary-kernels.ts bit for bit.
 */

export { heapBase } from './memory';
export { gemmOutBytes, gemmWorkBytes, gemm, panelWBytes, panelW, gemmPanelledWorkBytes, gemmPanelled, tailDots } from './gemm';
export { packSlack, packI8, packF32, packF64, setQuantizer, quantPack } from './pack';
export { im2col, im2colStream, im2colTaps, planesBytes, planes, im2col3x3 } from './im2col';
export { epilogueF32, poolSums } from './epilogue';
export { maxPoolF32 } from './pool';
export { convDirectScratchBytes, convDirectF32, denseF32, fused } from './float';
export { layerDescBytes } from './layer';
export { tables } from './lookup';
export { taskDescBytes, layerChunks } from './tasks';
