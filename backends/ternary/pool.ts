/**
 * Max pooling on the wasm kernels (`maxPoolF32` of backends/ternary/assembly/pool.ts):
 * `TernaryKernels.maxPool` on its own, and the pooling a layer or a float convolution runs on its
 * output before it leaves wasm memory. Each window's first maximum in (ky, kx) order, then with
 * `relu` v > 0 ? v : 0. Pools of float64 arrays run on the reference implementation.
 *
 * Law (laws/ternary-kernels.test.ts, laws/engine.test.ts): `maxPool` and the pooled layers equal
 * the reference implementation's bit for bit.
 */
import { outSize } from '../../src/backend.js';
import { referenceTernaryKernels, type Pool } from '../../src/infer/ternary-kernels.js';
import type { Data } from '../../src/tensor.js';
import type { KernelMemory } from './memory.js';

/** Pooled output size of [n, oh, ow, c] (the values `maxPoolF32` writes). */
export const pooledLen = (p: Pool, n: number, oh: number, ow: number, c: number): number => n * outSize(oh, p.size[0], p.strides[0], 0) * outSize(ow, p.size[1], p.strides[1], 0) * c;

/** maxPoolF32 of the [n, oh, ow, c] values at `src` into `dst`. */
export function poolInto(mem: KernelMemory, p: Pool, src: number, n: number, oh: number, ow: number, c: number, dst: number): void {
  mem.wasm.maxPoolF32(src, n, oh, ow, c, p.size[0], p.size[1], p.strides[0], p.strides[1], outSize(oh, p.size[0], p.strides[0], 0), outSize(ow, p.size[1], p.strides[1], 0), p.relu ? 1 : 0, dst);
}

export function maxPool(mem: KernelMemory, x: Data, shape: readonly [number, number, number, number], size: readonly [number, number], strides: readonly [number, number], relu: boolean, out?: Data): Data {
  if (!(x instanceof Float32Array) || (out !== undefined && !(out instanceof Float32Array))) return referenceTernaryKernels.maxPool(x, shape, size, strides, relu, out);
  const [n, h, w, c] = shape;
  const oh = outSize(h, size[0], strides[0], 0);
  const ow = outSize(w, size[1], strides[1], 0);
  const len = n * h * w * c;
  if (x.length < len) throw new RangeError(`maxPool: x holds ${x.length} values, [${shape.join(', ')}] needs ${len}`);
  const len2 = n * oh * ow * c;
  const { wasm, arena, inMemory, input, emit } = mem;
  const xAt = inMemory(x);
  const [pxScratch, py] = arena(xAt >= 0 ? 0 : len * 4, len2 * 4);
  const px = input(x, xAt, len, pxScratch, 'maxPool');
  wasm.maxPoolF32(px, n, h, w, c, size[0], size[1], strides[0], strides[1], oh, ow, relu ? 1 : 0, py);
  return emit(py, len2, out);
}
