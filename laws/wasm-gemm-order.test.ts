/**
 * The wasm GEMM's sum order (backends/wasm/assembly/index.ts `gemm`), on which trained models'
 * bits depend: the plain build's `matmul` equals, bit for bit (Object.is, ±0 told apart), the
 * float32 loop that sums each element of op(A)·op(B) in blocks of KC = 384 along k, each block
 * from +0 in k order (`s = fround(s + fround(a·b))`) and added to the blocks before it
 * (`c = fround(c + s)`). The micro-kernels (4×8, 4×4, the 1–3-column and 1–3-row edge kernels),
 * their unrolling, the tile sizes MR/NR/MC/NC and the packing may change; this order may not.
 *
 * Checked on shapes around the tiles' edges and the KC blocks, every transpose combination, for
 * the unshared plain build (`resident: false`), the default backend (threaded plain build at 1
 * thread) outside and inside a `resident` scope, and 2 threads. The relaxed build (fused
 * multiply-add, opt-in) rounds once per step instead and is not covered here.
 */
import fc from 'fast-check';
import { createWasmBackend } from '../backends/wasm.js';
import type { Tensor } from '../src/tensor.js';
import { law } from './law.js';

const KC = 384;

const unshared = await createWasmBackend({ kernel: 'plain', resident: false });
const resident = await createWasmBackend({ kernel: 'plain' });
const two = await createWasmBackend({ threads: 2 });
process.on('exit', () => two.dispose());

const rand = (n: number, seed: number): Float32Array => {
  const data = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s / 2 ** 31 - 1;
  }
  return data;
};

/** The reference: the documented order, in float32 (Math.fround after every operation). */
function reference(a: Tensor, b: Tensor, m: number, n: number, k: number, transA: boolean, transB: boolean): Float32Array {
  const f = Math.fround;
  const A = (i: number, p: number): number => (transA ? a.data[p * m + i] : a.data[i * k + p]);
  const B = (p: number, j: number): number => (transB ? b.data[j * k + p] : b.data[p * n + j]);
  const c = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let p0 = 0; p0 < k; p0 += KC) {
        let s = 0;
        for (let p = p0; p < Math.min(k, p0 + KC); p++) s = f(s + f(A(i, p) * B(p, j)));
        acc = p0 === 0 ? s : f(acc + s);
      }
      c[i * n + j] = acc;
    }
  }
  return c;
}

const sameBits = (x: ArrayLike<number>, y: Float32Array): boolean => x.length === y.length && y.every((v, i) => Object.is(v, x[i]));

// Small and edge sizes most of the time (every m % 4 and n % 8), some past MC = 128 rows, and k
// inside one KC block or across two or three.
const dim = fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 120, max: 260 }));
const cols = fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 60, max: 100 }));
const depth = fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 370, max: 800 }));

law('the plain build sums each element in KC = 384 blocks, in k order, bit for bit (unshared, resident 1 thread, 2 threads)', [
  dim, cols, depth, fc.boolean(), fc.boolean(), fc.nat(),
], (m, n, k, transA, transB, seed) => {
  const a: Tensor = { shape: transA ? [k, m] : [m, k], data: rand(m * k, seed) };
  const b: Tensor = { shape: transB ? [n, k] : [k, n], data: rand(k * n, seed + 1) };
  const ref = reference(a, b, m, n, k, transA, transB);
  const opts = { transA, transB };
  const inScope = resident.resident!(() => {
    const ra = resident.scalar('mul', a, 1);
    const rb = resident.scalar('mul', b, 1);
    return sameBits(resident.matmul(ra, rb, opts).data, ref);
  });
  return (
    inScope &&
    sameBits(unshared.matmul(a, b, opts).data, ref) &&
    sameBits(resident.matmul(a, b, opts).data, ref) &&
    sameBits(two.matmul(a, b, opts).data, ref)
  );
}, { numRuns: 60 });
