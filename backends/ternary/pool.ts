/**
 * Max pooling on the wasm kernels (`maxPoolF32` of backends/ternary/assembly/pool.ts):
 * `TernaryKernels.maxPool` on its own, and the pooling a layer or a float convolution runs on its
 * output before it leaves wasm memory. Each window's first maximum in (ky, kx) order, then with
 * `relu` v > 0 ? v : 0; whole images per part where the instance has threads (`mem.run`).
 * Pools of float64 arrays run on the reference implementation.
 *
 * Law (laws/ternary-kernels.test.ts, laws/engine.test.ts, laws/engine-threads.test.ts): `maxPool`
 * and the pooled layers equal the reference implementation's bit for bit, on any number of threads.
 */
import { outSize } from '../../src/backend.js';
import { referenceTernaryKernels, type Pool } from '../../src/infer/ternary-kernels.js';
import type { Data } from '../../src/tensor.js';
import type { KernelMemory } from './memory.js';

/** Pooled output size of [n, oh, ow, c] (the values `maxPoolF32` writes). */
export const pooledLen = (p: Pool, n: number, oh: number, ow: number, c: number): number => n * outSize(oh, p.size[0], p.strides[0], 0) * outSize(ow, p.size[1], p.strides[1], 0) * c;

/**
 * maxPoolF32 of `x` [n, h, w, c] at `src` into `dst` [n, oh, ow, c], in parts of whole images
 * (`mem.run`; `dst` must not overlap `src`).
 */
function poolRun(mem: KernelMemory, src: number, n: number, h: number, w: number, c: number, size: readonly [number, number], strides: readonly [number, number], oh: number, ow: number, relu: boolean, dst: number): void {
  const t = mem.poolTask;
  t.i32().set([src, n, h, w, c, size[0], size[1], strides[0], strides[1], oh, ow, relu ? 1 : 0, dst]);
  mem.run(t.at, Math.min(mem.parts, n));
}

/** maxPoolF32 of the [n, oh, ow, c] values at `src` into `dst` (not overlapping it). */
export function poolInto(mem: KernelMemory, p: Pool, src: number, n: number, oh: number, ow: number, c: number, dst: number): void {
  poolRun(mem, src, n, oh, ow, c, p.size, p.strides, outSize(oh, p.size[0], p.strides[0], 0), outSize(ow, p.size[1], p.strides[1], 0), p.relu, dst);
}

export function maxPool(mem: KernelMemory, x: Data, shape: readonly [number, number, number, number], size: readonly [number, number], strides: readonly [number, number], relu: boolean, out?: Data): Data {
  if (!(x instanceof Float32Array) || (out !== undefined && !(out instanceof Float32Array))) return referenceTernaryKernels.maxPool(x, shape, size, strides, relu, out);
  const [n, h, w, c] = shape;
  const oh = outSize(h, size[0], strides[0], 0);
  const ow = outSize(w, size[1], strides[1], 0);
  const len = n * h * w * c;
  if (x.length < len) throw new RangeError(`maxPool: x holds ${x.length} values, [${shape.join(', ')}] needs ${len}`);
  const len2 = n * oh * ow * c;
  const { arena, inMemory, input, emit } = mem;
  const xAt = inMemory(x);
  const [pxScratch, py] = arena(xAt >= 0 ? 0 : len * 4, len2 * 4);
  const px = input(x, xAt, len, pxScratch, 'maxPool');
  poolRun(mem, px, n, h, w, c, size, strides, oh, ow, relu, py);
  return emit(py, len2, out);
}
