/**
 * Linear memory of the ternary kernels: where the caller's arena starts. Memory belongs to the
 * caller (backends/ternary/memory.ts): every kernel takes byte pointers into linear memory (`gemm`
 * an output area of `gemmOutBytes` and a work area of `gemmWorkBytes` bytes, `convDirectF32` a
 * scratch area of `convDirectScratchBytes`). Nothing here allocates or keeps state between calls
 * but the quantizer `setQuantizer` sets (./pack.ts).
 *
 * Law (laws/ternary-kernels.test.ts, laws/engine.test.ts): every kernel's results, read back from
 * the caller's regions, equal the reference implementation's.
 */

/** The first free byte after static data: the caller's arena starts here. */
export function heapBase(): usize {
  return __heap_base;
}
