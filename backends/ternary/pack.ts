/**
 * `TernaryKernels.pack` on the wasm kernels: values copied into wasm memory a chunk at a time and
 * packed there by SIMD compares (`packI8` / `packF32` / `packF64` of
 * backends/ternary/assembly/pack.ts) into the 2+2-bit rows of src/infer/ternary-kernels.ts.
 * Int8Array and Float32Array values are read as they are and any other array through a
 * Float64Array copy, so every value is checked exactly.
 *
 * Law (laws/ternary-kernels.test.ts): `pack` equals the reference packing bit for bit, for every
 * K and row count; a value other than −1, 0, +1 is a RangeError naming its row and column.
 */
import { referenceTernaryKernels, wordsPerRow } from '../../src/infer/ternary-kernels.js';
import type { KernelMemory } from './memory.js';

/** Values are copied into wasm memory and packed this many bytes at a time, so they are packed while still in L2. */
const PACK_CHUNK_BYTES = 128 * 1024;

export function checkCount(where: string, what: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${where}: ${what} must be a non-negative integer, got ${v}`);
}

export function pack(mem: KernelMemory, values: ArrayLike<number>, rows: number, k: number, out?: Uint32Array): Uint32Array {
  checkCount('pack', 'rows', rows);
  checkCount('pack', 'k', k);
  const wpr = wordsPerRow(k);
  const words = rows * wpr;
  if (out !== undefined && out.length < words) throw new RangeError(`pack: out holds ${out.length} words, ${rows} rows of K = ${k} need ${words}`);
  // Missing values are not ternary; the reference reports the first bad value in order.
  if (values.length < rows * k) return referenceTernaryKernels.pack(values, rows, k, out);
  const o = out ?? new Uint32Array(words);
  if (words === 0) return o;

  const { wasm, arena } = mem;
  const kind = values instanceof Int8Array ? 'i8' : values instanceof Float32Array ? 'f32' : 'f64';
  const bytes = kind === 'i8' ? 1 : kind === 'f32' ? 4 : 8;
  const chunkRows = Math.min(rows, Math.max(1, Math.floor(PACK_CHUNK_BYTES / (k * bytes))));
  const [src, dst] = arena(chunkRows * k * bytes + wasm.packSlack(), words * 4);
  for (let r0 = 0; r0 < rows; r0 += chunkRows) {
    const nr = Math.min(chunkRows, rows - r0);
    const from = r0 * k;
    const count = nr * k;
    let bad: number;
    if (kind === 'i8') {
      new Int8Array(wasm.memory.buffer, src, count).set((values as Int8Array).subarray(from, from + count));
      bad = wasm.packI8(src, nr, k, dst + r0 * wpr * 4);
    } else if (kind === 'f32') {
      new Float32Array(wasm.memory.buffer, src, count).set((values as Float32Array).subarray(from, from + count));
      bad = wasm.packF32(src, nr, k, dst + r0 * wpr * 4);
    } else {
      const view = new Float64Array(wasm.memory.buffer, src, count);
      if (ArrayBuffer.isView(values)) view.set((values as unknown as Float64Array).subarray(from, from + count));
      else for (let i = 0; i < count; i++) view[i] = values[from + i];
      bad = wasm.packF64(src, nr, k, dst + r0 * wpr * 4);
    }
    if (bad >= 0) {
      const at = from + bad;
      const r = Math.floor(at / k);
      throw new RangeError(`pack: value ${values[at]} at row ${r}, column ${at - r * k} is not ternary`);
    }
  }
  o.set(new Uint32Array(wasm.memory.buffer, dst, words));
  return o;
}
