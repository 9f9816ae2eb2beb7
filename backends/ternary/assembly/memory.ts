/**
 * Linear memory of the ternary kernels: where the caller's arena starts. Memory belongs to the
 * caller (backends/ternary/memory.ts): every kernel takes byte pointers into linear memory (`gemm`
 * an output area of `gemmOutBytes` and a work area of `gemmWorkBytes` bytes, `convDirectF32` a
 * scratch area of `convDirectScratchBytes`). Nothing here allocates or keeps state between calls
 * but the quantizer `setQuantizer` sets (./pack.ts) and an instance's scratch slot (`scratchSlot`).
 *
 * Law (laws/ternary-kernels.test.ts, laws/engine.test.ts): every kernel's results, read back from
 * the caller's regions, equal the reference implementation's.
 */

/** The first free byte after static data: the caller's arena starts here. */
export function heapBase(): usize {
  return __heap_base;
}

/** This instance's scratch slot (−1: none yet). Every thread runs its own instance, so its own copy. */
let slot: i32 = -1;

/**
 * The scratch slot of this instance (thread): 0, 1, … in the order instances first ask, counted in
 * the i32 at `counter` (the caller's, zero before any part runs). Parts claimed by whichever thread
 * is free then reuse their thread's scratch (warm in its cache) instead of one area per part; the
 * caller lays out one area per thread.
 */
export function scratchSlot(counter: usize): i32 {
  if (slot < 0) {
    if (ASC_FEATURE_THREADS) slot = atomic.add<i32>(counter, 1);
    else slot = 0;
  }
  return slot;
}
