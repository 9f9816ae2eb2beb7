/**
 * `TernaryKernels.layer` on the wasm kernels: a ternary conv2d or dense op compiled once — its
 * codes packed and laid out as resident GEMM panels (`residentPanels`), its per-channel factors
 * and its pre ops' vectors resident — and run in one pass through wasm memory: quantize-and-pack
 * with the fused pre ops (`quantPack`), the packed patch matrix (one of the im2col variants of
 * backends/ternary/assembly/im2col.ts), the GEMM (`gemmPanelled`; a last group of at most 16 or
 * 32 lanes on `tailDots`; in the relaxed-SIMD builds the table-lookup GEMM on the weights' masks,
 * `lookupWeights`, the same integer sums), per output channel
 *   y_o = relu?(a_o·Σ x·c + b_o·Σ x·|c| + bias_o)          (`epilogueF32`, in float64)
 * and an optional max-pool, its output copied out (`run`) or left in memory for the next step
 * (`runInPlace`). Where the epilogue is monotone in each channel's sum (one product, a ≠ 0, a and
 * bias on the float32 grid: `sumsPool`), the max-pool runs on the integer sums first (`poolSums`:
 * a channel's largest sum where a > 0, its smallest where a < 0) and the epilogue on the pooled
 * sums only, a quarter of them under a 2×2 pool. Quantize-and-pack runs in parts of whole units of
 * rows, then the row chunks, a part per chunk, each thread with its own scratch, each part one
 * wasm call (`layerChunks` of backends/ternary/assembly/tasks.ts, reading a resident descriptor):
 * up to `mem.parts` parts, in turn or at once on a thread pool (`mem.run`). The float thresholds of Eq. 14 need not be float32
 * values: a layer compares float32 activations with the float32 bounds that give the same answers
 * as the float64 comparison (`f32Bounds`). Float64 layers (a float64 backend) run on the
 * reference implementation.
 *
 * Law (laws/ternary-kernels.test.ts, laws/engine.test.ts, laws/engine-threads.test.ts): `layer` equals the reference
 * implementation's bit for bit, for 1, 2 or 3 parts, and so does a chain of `runInPlace` runs,
 * each reading the previous one's output in place; laws/engine.test.ts checks it against the
 * float64 evaluation of the same layer.
 */
import { outSize } from '../../src/backend.js';
import { referenceTernaryKernels, wordsPerRow, type CodeAct, type TernaryLayer, type TernaryLayerSpec } from '../../src/infer/ternary-kernels.js';
import type { Data } from '../../src/tensor.js';
import { lookupWeights, residentPanels } from './gemm.js';
import { MAX_PARTS } from '../wasm/threads.js';
import { TASK, type KernelMemory } from './memory.js';
import { pooledLen, poolInto } from './pool.js';

const f32Bits = new Float32Array(1);
const i32Bits = new Int32Array(f32Bits.buffer);

/** The next float32 above the finite float32 f. */
function nextUpF32(f: number): number {
  if (f === 0) return 2 ** -149;
  f32Bits[0] = f;
  i32Bits[0] += f > 0 ? 1 : -1;
  return f32Bits[0];
}

/**
 * Float32 bounds (pos, neg) with, for every float32 v, v ≥ pos ⇔ v > θ (paper) or v ≥ θ
 * (official), and v ≤ neg ⇔ v < −θ, for a threshold θ that need not be a float32 itself; null
 * when θ is not finite.
 */
function f32Bounds(act: Extract<CodeAct, { kind: 'ternary' }>): [number, number] | null {
  const th = act.threshold;
  if (!Number.isFinite(th) || Math.abs(th) >= 2 ** 127) return null;
  let lo = Math.fround(th); // the largest float32 ≤ θ
  if (lo > th) lo = -nextUpF32(-lo);
  let hi = Math.fround(th); // the smallest float32 ≥ θ
  if (hi < th) hi = nextUpF32(hi);
  const above = nextUpF32(lo); // v > θ ⇔ v ≥ above
  return [act.boundary === 'paper' ? above : hi, -above];
}

/** Rows of the patch matrix per GEMM chunk: A rows and their sums stay within about this many bytes (L2). */
const LAYER_CHUNK_BYTES = 192 * 1024;

/** Field indices of a layer descriptor, after its kind word (the `F_*` of backends/ternary/assembly/layer.ts). */
const F = { unfold: 0, pix: 1, h: 4, M: 15, R: 16, rowB: 17, relu: 31, out: 32, early: 33, scratch: 44, slots: 50, tables: 51, fields: 53 } as const;

const align = (n: number): number => Math.ceil(n / 64) * 64;

/** Rows of one pooling unit of a chunk at most this many times LAYER_CHUNK_BYTES (else the pool runs on the float outputs). */
const UNIT_CHUNKS = 4;

/** Where `poolSums` may pool a layer's integer sums: its units of rows, their pooled rows, the rows per chunk and the mask of falling channels. */
interface SumsPool {
  /** rows of sums that pool on their own: a band of `sh` output rows, or a whole image */
  readonly unit: number;
  /** pooled rows per unit */
  readonly perUnit: number;
  /** rows per chunk, a multiple of `unit` */
  readonly rows: number;
  /** i32 lanes, −1 where a < 0 (resident; set by `layer`) */
  negAt: number;
  /** the epilogue's relu: the layer's, or the pool's (a relu after the max is the max after a relu) */
  readonly relu: boolean;
}

/**
 * The pool of a conv layer moved before its epilogue, or null where that could change a bit. With
 * one product (b = null), a ≠ 0 and a, bias finite multiples of 2⁻¹⁴⁹ (every float32 is), the
 * epilogue f(c) = f32(relu?(c·a + bias)) is monotone in c (rising for a > 0, falling for a < 0:
 * float64 and float32 roundings are monotone), so a window's first maximum of f(c) is f of its
 * largest (smallest) sum; and two sums never give zeros of opposite signs: c·a + bias is a multiple
 * of 2⁻¹⁴⁹, so a nonzero one stays nonzero in float32, and it is −0 only for c = 0, a < 0, bias = −0.
 */
function sumsPool(spec: TernaryLayerSpec, g: { oh: number; ow: number }, nPad: number, perRow: number, chunkRows: number): SumsPool | null {
  const p = spec.pool!;
  const grid = (v: number): boolean => Number.isFinite(v) && Number.isInteger(v * 2 ** 149);
  if (spec.b !== null || !spec.a.every((v) => v !== 0 && grid(v)) || !spec.bias.every(grid)) return null;
  const band = p.size[0] <= p.strides[0] && g.oh % p.strides[0] === 0;
  const unit = (band ? p.strides[0] : g.oh) * g.ow;
  if (unit * perRow > UNIT_CHUNKS * LAYER_CHUNK_BYTES) return null;
  const perUnit = outSize(unit / g.ow, p.size[0], p.strides[0], 0) * outSize(g.ow, p.size[1], p.strides[1], 0);
  return { unit, perUnit, rows: Math.max(1, Math.floor(chunkRows / unit)) * unit, negAt: 0, relu: spec.relu || p.relu };
}

/**
 * Chunks per thread a layer's rows are cut into at least, where it has threads: fewer where a
 * chunk would then hold under CHUNK_MIN_MACS products (a part costs a claim and a call, ~1 µs) or
 * under one pooling unit.
 */
const CHUNKS_PER_THREAD = 8;
const CHUNK_MIN_MACS = 1 << 20;

/** Values quantized and packed per part at most (a part of fewer runs on the calling thread). */
const QUANT_VALUES = 16384;

/**
 * A ternary layer compiled on `mem`; its quantize-and-pack and its row chunks run as up to
 * `mem.parts` parts (`mem.run`). With `tables` (a relaxed-SIMD build) its products run on the
 * table-lookup GEMM (backends/ternary/assembly/lookup.ts) instead of the popcount panels: the same
 * integer sums, so the same bits.
 */
export function layer(mem: KernelMemory, spec: TernaryLayerSpec, tables = false): TernaryLayer {
  const bounds = spec.act.kind === 'sign' ? ([0, 0] as [number, number]) : f32Bounds(spec.act);
  // float64 layers (the pre ops round differently) and odd thresholds run on the reference
  if (spec.dtype !== 'float32' || bounds === null) return referenceTernaryKernels.layer(spec);
  const { wasm, resident, residentF64, arena, inMemory, input, keeper, deliver, run, task } = mem;
  const { o, k, conv: g } = spec;
  const C = g === null ? k : g.cin;
  const groups = wordsPerRow(k) / 4;
  const rowB = groups * 16;
  // sums rows of 8·⌈o/8⌉ columns (the popcount panels), or of 16·⌈o/16⌉ (the lookup's blocks)
  const nPad = tables ? Math.ceil(o / 16) * 16 : Math.ceil(o / 8) * 8;
  // a last group of at most 16 or 32 lanes goes to tailDots (eight or four columns per
  // SIMD step) instead of a whole 64-lane step of the GEMM per column; the lookup covers every K
  const lastLanes = k - 64 * (groups - 1);
  const tail: 0 | 16 | 32 = tables || groups === 0 ? 0 : lastLanes <= 16 ? 16 : lastLanes <= 32 ? 32 : 0;
  const head = tail === 0 ? groups : groups - 1;
  const absCodes = spec.b === null ? null : Int8Array.from(spec.codes, Math.abs);
  const weights = (codes: Int8Array): { panels: number; tails: number } => (tables ? { panels: lookupWeights(mem, codes, o, k), tails: 0 } : residentPanels(mem, codes, o, k, head, tail));
  const W = weights(spec.codes);
  const WAbs = absCodes === null ? null : weights(absCodes);
  const tailPanels = tail === 0 ? 0 : Math.ceil(o / (128 / tail));
  const pa = residentF64(spec.a);
  const pb = spec.b === null ? 0 : residentF64(spec.b);
  const pbias = residentF64(spec.bias);
  // the pre ops: a table of [kind, scale, shift], each affine's vectors tiled to 64 lanes when C
  // divides 64 (quantPack then takes the values as one stream), else padded with zeros to whole groups
  const tiled = C < 64 && 64 % C === 0;
  const padC = tiled ? 64 : Math.ceil(C / 64) * 64;
  const lanesOf = (v: Float32Array): Float32Array => Float32Array.from({ length: padC }, (_, l) => (tiled ? v[l % C] : l < C ? v[l] : 0));
  const table = resident(Math.max(1, spec.pre.length) * 12);
  for (let i = 0; i < spec.pre.length; i++) {
    const op = spec.pre[i];
    let scale = 0;
    let shift = 0;
    if (op.kind === 'affine') {
      scale = resident(padC * 4);
      shift = resident(padC * 4);
      new Float32Array(wasm.memory.buffer, scale, padC).set(lanesOf(op.scale));
      new Float32Array(wasm.memory.buffer, shift, padC).set(lanesOf(op.shift));
    }
    new Int32Array(wasm.memory.buffer, table + 12 * i, 3).set([op.kind === 'affine' ? 0 : 1, scale, shift]);
  }
  const sign = spec.act.kind === 'sign' ? 1 : 0;
  const [pos, neg] = bounds;
  const geo = g === null ? null : { ...g, oh: outSize(g.h, g.kh, g.sh, g.ph), ow: outSize(g.w, g.kw, g.sw, g.pw), pg: Math.ceil(g.cin / 64) };
  // a 1×1 convolution with stride 1 and no padding: the packed pixels are the patch rows
  const identity = geo === null || (geo.kh === 1 && geo.kw === 1 && geo.sh === 1 && geo.sw === 1 && geo.ph === 0 && geo.pw === 0);
  // pixels packed as one stream when cin divides 64 or is a multiple of it: kernel rows are then moved a run at a time
  const stream = !identity && geo !== null && (geo.cin % 64 === 0 || 64 % geo.cin === 0);
  // taps aligned in the stream and in the patch row (cin 16, 32 or a multiple of 64): one move per tap
  const unfold = stream && (geo!.cin === 16 || geo!.cin === 32 || geo!.cin % 64 === 0) ? wasm.im2colTaps : stream ? wasm.im2colStream : wasm.im2col;
  // a 3×3 kernel over 16 or 32 channels: kernel rows read from the stream's bitplanes (`planes`, `im2col3x3`)
  const bitplanes = stream && (geo!.cin === 16 || geo!.cin === 32) && geo!.kh === 3 && geo!.kw === 3 && geo!.pw <= 2;
  const perRow = rowB + nPad * 4 * (spec.b === null ? 1 : 2);
  // rows per chunk: their patch rows and sums within LAYER_CHUNK_BYTES, and at most the spec's chunkValues codes
  const chunkRows = Math.min(LAYER_CHUNK_BYTES / perRow, spec.chunkValues / k);
  const chunk = Math.max(8, Math.floor(chunkRows / 8) * 8);
  // a pool after an epilogue monotone in each channel's sum runs on the sums (`poolSums`), and the
  // epilogue on the pooled sums only; chunks then hold whole units of rows that pool on their own
  const early = geo === null || spec.pool === null ? null : sumsPool(spec, geo, nPad, perRow, chunkRows);
  if (early !== null) {
    early.negAt = resident(nPad * 4);
    new Int32Array(wasm.memory.buffer, early.negAt, nPad).set(Array.from(spec.a, (v) => (v < 0 ? -1 : 0)));
  }

  // the layer's descriptor for `layerChunks` (backends/ternary/assembly/layer.ts): what is fixed now, the rest per call
  const desc = task(TASK.layer, F.fields);
  const D = desc.i32;
  {
    const d = D();
    const q = geo;
    d[F.unfold] = identity ? 0 : bitplanes ? 1 : unfold === wasm.im2colTaps ? 2 : unfold === wasm.im2colStream ? 3 : 4;
    if (q !== null) d.set([q.h, q.w, q.cin, q.kh, q.kw, q.sh, q.sw, q.ph, q.pw, q.oh, q.ow], F.h);
    d.set([rowB, W.panels, o, head, groups, tail, W.tails, tailPanels, nPad, WAbs?.panels ?? 0, WAbs?.tails ?? 0, pa, pb, pbias], F.rowB);
    d[F.relu] = (early?.relu ?? spec.relu) ? 1 : 0;
    d[F.slots] = mem.slots;
    d.set([tables ? 1 : 0, k], F.tables);
    if (early !== null) {
      const p = spec.pool!;
      const bh = early.unit / q!.ow;
      d.set([1, early.unit, early.perUnit, bh, p.size[0], p.size[1], p.strides[0], p.strides[1], outSize(bh, p.size[0], p.strides[0], 0), outSize(q!.ow, p.size[1], p.strides[1], 0), early.negAt], F.early);
    }
  }
  const R0 = early?.rows ?? chunk;
  // quantize-and-pack in parts of whole units of rows, each unit packing into whole 16-byte groups:
  // 64/C rows when C divides 64 (one stream, or one group per row), else one row (its groups)
  const q = task(TASK.quant, 14);
  const unitRows = C < 64 && 64 % C === 0 ? 64 / C : 1;
  const unitB = !(C < 64 && 64 % C === 0) ? (geo === null ? rowB : geo.pg * 16) : stream ? 16 : 16 * unitRows;
  {
    const qi = q.i32();
    qi.set([C, 0, stream ? 1 : 0, table, spec.pre.length, sign], 2);
    qi.set([unitRows, unitB], 10);
    q.f32().set([pos, neg], 8);
  }
  const quantGrain = Math.max(64, Math.min(QUANT_VALUES, spec.chunkValues));

  const keep = keeper();
  const go = (x: Data, n: number, out: Data | undefined, inPlace: boolean): Data => {
    const xAt = inMemory(x);
    const rows = geo === null ? n : n * geo.h * geo.w; // rows of C values to quantize
    const M = geo === null ? n : n * geo.oh * geo.ow; // rows of the patch matrix
    // on threads, chunks small enough that each thread gets CHUNKS_PER_THREAD of them: the last
    // chunks then leave a thread idle for less (a chunk's patch rows are cheap to form again)
    const few = mem.parts > 1 ? Math.max(Math.ceil(M / (CHUNKS_PER_THREAD * mem.parts)), Math.ceil(CHUNK_MIN_MACS / (k * o))) : M;
    const R = early === null ? Math.min(R0, Math.ceil(few / 8) * 8, M) : Math.min(R0, Math.max(1, Math.ceil(few / early.unit)) * early.unit);
    // bytes of packed input: a group per row (per 64 values of the stream), and one group of slack for im2colStream
    const packedB = stream ? (Math.ceil((rows * C) / 64) + 1) * 16 : rows * (geo === null ? rowB : geo.pg * 16);
    const pool = geo === null ? null : spec.pool;
    const pooled = pool === null ? 0 : pooledLen(pool, n, geo!.oh, geo!.ow, o);
    if (xAt >= 0 && x.length < rows * C) throw new RangeError(`layer: x holds ${x.length} values, ${n} inputs need ${rows * C}`);
    const kept = inPlace ? keep((pool === null ? M * o : pooled) * 4) : 0;
    const streamGroups = Math.ceil((rows * C) / 64);
    // each part's scratch: its patch rows, the GEMM's A panels, its sums (two products: two), its pooled sums
    const offWork = align(identity ? 0 : R * rowB);
    // the GEMM's work: the A panels, or the lookup's table addresses (32 bytes per group) and a spare row of sums
    const offPc = offWork + align(tables ? align(R * groups * 32) + nPad * 4 : wasm.gemmPanelledWorkBytes(R, head));
    const offPc2 = offPc + align(R * nPad * 4);
    const offPs = offPc2 + align(spec.b === null ? 0 : R * nPad * 4);
    const stride = offPs + align(early === null ? 0 : (R / early.unit) * early.perUnit * nPad * 4);
    // a part per chunk, claimed by whichever thread is free, each thread on its own scratch
    const parts = mem.parts > 1 ? Math.min(MAX_PARTS, Math.ceil(M / R)) : 1;
    const unpooled = early === null && !(inPlace && pool === null); // the epilogue's full output, pooled after
    const [pxScratch, pix, pl, scratch, pyScratch, pzScratch] = arena(
      xAt >= 0 ? 0 : rows * C * 4 + wasm.packSlack(),
      packedB,
      bitplanes ? wasm.planesBytes(streamGroups) : 0,
      mem.parts * stride,
      unpooled ? M * o * 4 : 0,
      inPlace || pool === null ? 0 : pooled * 4,
    );
    const px = input(x, xAt, rows * C, pxScratch, 'layer');
    const pz = inPlace ? kept : pzScratch;
    const py = early !== null ? pz : inPlace && pool === null ? kept : pyScratch;
    const qi = q.i32();
    qi[0] = px;
    qi[1] = rows;
    qi[3] = pix;
    // the bitplanes (`planes`) written by the same parts, each its own groups (a unit is a group of the stream)
    qi[12] = bitplanes ? pl : 0;
    qi[13] = streamGroups;
    run(q.at, Math.max(1, Math.min(mem.parts, Math.ceil(rows / unitRows), Math.floor((rows * C) / quantGrain))));
    const d = D();
    d.set([pix, pl, streamGroups], F.pix);
    d[F.M] = M;
    d[F.R] = R;
    d[F.out] = py;
    d.set([scratch, stride, offWork, offPc, offPc2, offPs], F.scratch);
    run(desc.at, parts);
    if (pool === null) return deliver(py, M * o, out, inPlace);
    if (early !== null) return deliver(pz, pooled, out, inPlace);
    poolInto(mem, pool, py, n, geo!.oh, geo!.ow, o, pz);
    return deliver(pz, pooled, out, inPlace);
  };
  return { run: (x, n, out) => go(x, n, out, false), runInPlace: (x, n) => go(x, n, undefined, true) };
}
