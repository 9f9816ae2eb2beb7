/**
 * `TernaryKernels.floatConv` and `floatDense` on the wasm kernels (backends/ternary/assembly/float.ts):
 * the float32 first and last layers of a deployed network, their weights resident (the
 * convolution's reordered OHWI → HWIO and padded to 8 output channels), run like a ternary layer
 * (`run` copies the output out, `runInPlace` leaves it in memory). The direct convolution fuses a
 * 2×2 max-pool with stride 2 and runs any other pool after it; it reads taps outside the image as
 * zeros, so a non-finite weight sends the layer to the reference implementation.
 *
 * Law (laws/ternary-kernels.test.ts, laws/engine.test.ts): `floatConv` and `floatDense` equal the
 * reference implementation's bit for bit (a non-finite weight included), and so do their
 * `runInPlace` runs.
 */
import { outSize } from '../../src/backend.js';
import { referenceTernaryKernels, type FloatConvSpec, type FloatDenseSpec, type TernaryLayer } from '../../src/infer/ternary-kernels.js';
import type { Data } from '../../src/tensor.js';
import { TASK, type KernelMemory } from './memory.js';
import { pooledLen, poolInto } from './pool.js';

/** Parts per thread of a split convolution: a thread that starts late or is slowed leaves its runs of images to the others. */
const CONV_PARTS_PER_THREAD = 4;

export function floatConv(mem: KernelMemory, spec: FloatConvSpec): TernaryLayer {
  const { o, conv: g } = spec;
  // the kernel reads taps outside the image as zeros: 0·w must be ±0, so every weight finite
  if (!spec.weights.subarray(0, o * g.kh * g.kw * g.cin).every(Number.isFinite)) return referenceTernaryKernels.floatConv(spec);
  const { wasm, resident, arena, inMemory, input, keeper, deliver, run, task } = mem;
  const { h, w, cin, kh, kw, sh, sw, ph, pw } = g;
  const oh = outSize(h, kh, sh, ph);
  const ow = outSize(w, kw, sw, pw);
  const opad = Math.ceil(o / 8) * 8;
  // weights OHWI → HWIO, output channels padded with zeros to opad
  const taps = kh * kw * cin;
  const wt = resident(taps * opad * 4);
  const hwio = new Float32Array(wasm.memory.buffer, wt, taps * opad);
  for (let c = 0; c < o; c++) for (let t = 0; t < taps; t++) hwio[t * opad + c] = spec.weights[c * taps + t];
  const pbias = resident(opad * 4);
  new Float32Array(wasm.memory.buffer, pbias, opad).set(Float32Array.from(spec.bias));
  const pool = spec.pool;
  // a 2×2 pooling with stride 2 is fused into the kernel; any other runs after it
  const fused = pool !== null && pool.size[0] === 2 && pool.size[1] === 2 && pool.strides[0] === 2 && pool.strides[1] === 2;
  const scratchB = Math.ceil(wasm.convDirectScratchBytes(h, w, cin, kh, kw, ph, pw) / 64) * 64;
  const imgOut = (fused ? pooledLen(pool, 1, oh, ow, o) : oh * ow * o) * 4;
  // the kernel in parts of whole images (`mem.run`), each thread with its own scratch
  const t = task(TASK.conv, 25);
  t.i32().set([0, 0, h, w, cin, kh, kw, sh, sw, ph, pw, oh, ow, wt, o, opad, pbias, spec.relu ? 1 : 0, fused ? 1 : 0, fused && pool.relu ? 1 : 0, 0, scratchB, 0, imgOut, mem.slots]);
  const keep = keeper();
  const go = (x: Data, n: number, out: Data | undefined, inPlace: boolean): Data => {
    const len = n * h * w * cin;
    const xAt = inMemory(x);
    if (xAt >= 0 && x.length < len) throw new RangeError(`floatConv: x holds ${x.length} values, ${n} inputs need ${len}`);
    const convLen = fused ? pooledLen(pool, n, oh, ow, o) : n * oh * ow * o;
    const direct = pool === null || fused; // the kernel's output is the result
    const pooled = direct ? 0 : pooledLen(pool, n, oh, ow, o);
    const kept = inPlace ? keep((direct ? convLen : pooled) * 4) : 0;
    // one part where the input is this layer's own kept output (a part's output would overwrite another's input)
    // else runs of images, CONV_PARTS_PER_THREAD per thread, claimed by whichever thread is free
    const parts = inPlace && xAt >= 0 && xAt < kept + convLen * 4 && kept < xAt + len * 4 ? 1 : mem.parts > 1 ? Math.min(n, CONV_PARTS_PER_THREAD * mem.parts) : 1;
    const [pxScratch, scratch, pyScratch, pzScratch] = arena(xAt >= 0 ? 0 : len * 4, mem.parts * scratchB, inPlace && direct ? 0 : convLen * 4, inPlace ? 0 : pooled * 4);
    const px = input(x, xAt, len, pxScratch, 'floatConv');
    const py = inPlace && direct ? kept : pyScratch;
    const ti = t.i32();
    ti[0] = px;
    ti[1] = n;
    ti[20] = scratch;
    ti[22] = py;
    run(t.at, parts);
    if (direct) return deliver(py, convLen, out, inPlace);
    const pz = inPlace ? kept : pzScratch;
    poolInto(mem, pool, py, n, oh, ow, o, pz);
    return deliver(pz, pooled, out, inPlace);
  };
  return { run: (x, n, out) => go(x, n, out, false), runInPlace: (x, n) => go(x, n, undefined, true) };
}

export function floatDense(mem: KernelMemory, spec: FloatDenseSpec): TernaryLayer {
  const { o, k } = spec;
  const { wasm, resident, arena, inMemory, input, keeper, deliver, run, task } = mem;
  // rows are read up to 3 values past their ends: 16 bytes of slack after the weights
  const wt = resident(o * k * 4 + 16);
  new Float32Array(wasm.memory.buffer, wt, o * k).set(spec.weights.subarray(0, o * k));
  const pbias = resident(o * 4);
  new Float32Array(wasm.memory.buffer, pbias, o).set(Float32Array.from(spec.bias));
  // the kernel in parts of whole rows (`mem.run`)
  const t = task(TASK.dense, 8);
  t.i32().set([0, wt, pbias, 0, k, o, spec.relu ? 1 : 0, 0]);
  const keep = keeper();
  const go = (x: Data, n: number, out: Data | undefined, inPlace: boolean): Data => {
    const len = n * k;
    const xAt = inMemory(x);
    if (xAt >= 0 && x.length < len) throw new RangeError(`floatDense: x holds ${x.length} values, ${n} inputs need ${len}`);
    const kept = inPlace ? keep(n * o * 4) : 0;
    // a row is read up to 3 values past its end: 16 bytes of slack after the input (a kept input has packSlack)
    const [pxScratch, pyScratch] = arena(xAt >= 0 ? 0 : len * 4 + 16, inPlace ? 0 : n * o * 4);
    const px = input(x, xAt, len, pxScratch, 'floatDense');
    const py = inPlace ? kept : pyScratch;
    const ti = t.i32();
    ti[0] = px;
    ti[3] = n;
    ti[7] = py;
    // one part where the input is this layer's own kept output (a part's output would overwrite another's input)
    run(t.at, inPlace && xAt >= 0 && xAt < kept + n * o * 4 && kept < xAt + len * 4 ? 1 : Math.min(mem.parts, n));
    return deliver(py, n * o, out, inPlace);
  };
  return { run: (x, n, out) => go(x, n, out, false), runInPlace: (x, n) => go(x, n, undefined, true) };
}
