/**
 * Ternary × ternary kernels in WebAssembly: the `TernaryKernels` contract of
 * src/infer/ternary-kernels.ts (2+2-bit rows, [nz_lo, nz_hi, sign_lo, sign_hi] per 64 lanes) with
 * `gemm` as a bit-serial popcount GEMM and `pack` as SIMD compares, the whole ternary `layer`
 * (quantize-and-pack with the fused pre ops, packed im2col, GEMM (a last group of at most 32
 * lanes on SIMD tail kernels), scale/bias/relu epilogue and an optional max-pool, in one pass
 * through wasm memory, its output left there for the next step with `runInPlace`), `maxPool`, and the float `floatConv`
 * (direct) and `floatDense`; compiled by AssemblyScript from backends/ternary/assembly into
 * build/wasm/sttn-ternary.wasm (`npm run build:wasm`).
 *
 * For rows x and w, with m = nz_x & nz_w and t = m & (sign_x ^ sign_w):
 *   Σ_j x_j·w_j = popcount(m ^ t) − popcount(t)        (64 lanes per i64.popcnt pair)
 *
 * Memory: what a compiled layer keeps (its weights packed and laid out as GEMM panels, its
 * per-channel factors, its pre ops' vectors) is resident, allocated once below a boundary that
 * only moves up; each call lays out its scratch above it (memory grows on demand, and views are
 * made only after growing, because growing a non-shared memory detaches every view of the old
 * buffer). A call copies its input in and its result out: into the caller's array when one is
 * given (the engine reuses one per step), else a fresh one. Single-threaded. `pack` reads
 * Int8Array and Float32Array values as they are and any other array through a Float64Array copy,
 * so every value is checked exactly. The float thresholds of Eq. 14 need not be float32 values:
 * a layer compares float32 activations with the float32 bounds that give the same answers as the
 * float64 comparison. Float64 layers (a float64 backend) and pools of float64 arrays run on the
 * reference implementation.
 *
 * Law (laws/ternary-kernels.test.ts): `gemm` equals the plain integer dot product exactly and
 * `pack` equals the reference packing bit for bit, for every K and row count; a value other than
 * −1, 0, +1 is a RangeError naming its row and column; `layer`, `maxPool`, `floatConv` and
 * `floatDense` equal the reference implementation's bit for bit (a non-finite weight included), and
 * so does a chain of `runInPlace` runs, each reading the previous one's output in place.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../src/errors.js';
import { outSize } from '../src/backend.js';
import { referenceTernaryKernels, wordsPerRow, type CodeAct, type FloatConvSpec, type FloatDenseSpec, type Pool, type TernaryKernels, type TernaryLayer, type TernaryLayerSpec } from '../src/infer/ternary-kernels.js';
import type { Data } from '../src/tensor.js';

export interface WasmTernaryOptions {
  /**
   * The compiled module, or its bytes (for hosts without a file system, e.g. a browser that
   * fetched them). Default: build/wasm/sttn-ternary.wasm under sttn's package root.
   */
  readonly module?: WebAssembly.Module | BufferSource;
}

interface Exports {
  readonly memory: WebAssembly.Memory;
  heapBase(): number;
  gemmOutBytes(m: number, n: number): number;
  gemmWorkBytes(m: number, n: number, groups: number): number;
  gemm(a: number, w: number, c: number, m: number, n: number, groups: number, work: number): void;
  packSlack(): number;
  packI8(src: number, rows: number, k: number, dst: number): number;
  packF32(src: number, rows: number, k: number, dst: number): number;
  packF64(src: number, rows: number, k: number, dst: number): number;
  panelWBytes(n: number, groups: number): number;
  panelW(w: number, n: number, groups: number, dst: number, stride: number): void;
  gemmPanelledWorkBytes(m: number, groups: number): number;
  gemmPanelled(a: number, wp: number, c: number, m: number, n: number, groups: number, work: number, stride: number): void;
  tailDots(a: number, stride: number, m: number, wt: number, panels: number, c: number, ldc: number, lanes: number): void;
  setQuantizer(ops: number, nOps: number, sign: number, pos: number, neg: number): void;
  quantPack(x: number, rows: number, k: number, dst: number, stream: number): void;
  im2colStream(pix: number, h: number, w: number, cin: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, oh: number, ow: number, r0: number, count: number, dst: number): void;
  im2col(pix: number, h: number, w: number, cin: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, oh: number, ow: number, r0: number, count: number, dst: number): void;
  im2colTaps(pix: number, h: number, w: number, cin: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, oh: number, ow: number, r0: number, count: number, dst: number): void;
  planesBytes(groups: number): number;
  planes(pix: number, groups: number, dst: number): void;
  im2col3x3(pl: number, groups: number, h: number, w: number, cin: number, sh: number, sw: number, ph: number, pw: number, oh: number, ow: number, r0: number, count: number, dst: number): void;
  epilogueF32(c: number, c2: number, m: number, n: number, ldc: number, a: number, b: number, bias: number, relu: number, y: number): void;
  convDirectScratchBytes(h: number, w: number, cin: number, kh: number, kw: number, ph: number, pw: number): number;
  convDirectF32(x: number, n: number, h: number, w: number, cin: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, oh: number, ow: number, wt: number, o: number, opad: number, bias: number, relu: number, pool: number, poolRelu: number, scratch: number, y: number): void;
  denseF32(x: number, w: number, bias: number, m: number, k: number, o: number, relu: number, y: number): void;
  maxPoolF32(x: number, n: number, h: number, w: number, c: number, kh: number, kw: number, sh: number, sw: number, oh: number, ow: number, relu: number, y: number): void;
}

const FILE = 'sttn-ternary.wasm';

/** sttn's package root: the closest directory above this module whose package.json is named sttn (tsx or dist alike). */
function findPackageRoot(): string {
  const here = fileURLToPath(import.meta.url);
  for (let dir = dirname(here); ; ) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && manifestName(manifest) === 'sttn') return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new ConfigError('ternary wasm kernels', `no sttn package.json above ${here}`);
    dir = parent;
  }
}

function manifestName(path: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { name?: string }).name;
  } catch {
    return undefined;
  }
}

async function defaultModule(): Promise<WebAssembly.Module> {
  const path = join(findPackageRoot(), 'build', 'wasm', FILE);
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new ConfigError('ternary wasm kernels', `cannot read ${path} (run \`npm run build:wasm\`): ${(e as Error).message}`);
  }
  if (!WebAssembly.validate(bytes)) throw new ConfigError('ternary wasm kernels', 'this engine does not support WebAssembly SIMD');
  return WebAssembly.compile(bytes);
}

/** Creates the WebAssembly `TernaryKernels` (each instance owns its own memory). */
export async function createWasmTernaryKernels(opts: WasmTernaryOptions = {}): Promise<TernaryKernels> {
  const given = opts.module;
  const module = given === undefined ? await defaultModule() : given instanceof WebAssembly.Module ? given : await WebAssembly.compile(given);
  const instance = await WebAssembly.instantiate(module, {
    env: {
      abort: (): never => {
        throw new Error('sttn ternary wasm kernel aborted');
      },
    },
  });
  return makeKernels(instance.exports as unknown as Exports);
}

const ALIGN = 64;
const alignUp = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;
const PAGE = 65536;
/** Values are copied into wasm memory and packed this many bytes at a time, so they are packed while still in L2. */
const PACK_CHUNK_BYTES = 128 * 1024;

function checkCount(where: string, what: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${where}: ${what} must be a non-negative integer, got ${v}`);
}

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

function makeKernels(wasm: Exports): TernaryKernels {
  /** Everything below `perm` is resident (packed weights, scales); scratch areas start there. */
  let perm = alignUp(wasm.heapBase());

  /** Grows memory so that it holds `top` bytes. */
  function reserve(top: number): void {
    const have = wasm.memory.buffer.byteLength;
    if (top > have) wasm.memory.grow(Math.ceil((top - have) / PAGE));
  }

  /** A resident region of `bytes` bytes (kept for the kernels' lifetime). */
  function resident(bytes: number): number {
    const at = perm;
    perm = alignUp(perm + bytes);
    reserve(perm);
    return at;
  }

  /** Lays out scratch regions of the given byte sizes above the resident ones, grows memory to fit, returns their offsets. */
  function arena(...sizes: number[]): number[] {
    const offsets: number[] = [];
    let top = perm;
    for (const s of sizes) {
      offsets.push(top);
      top = alignUp(top + s);
    }
    reserve(top);
    return offsets;
  }

  function pack(values: ArrayLike<number>, rows: number, k: number, out?: Uint32Array): Uint32Array {
    checkCount('pack', 'rows', rows);
    checkCount('pack', 'k', k);
    const wpr = wordsPerRow(k);
    const words = rows * wpr;
    if (out !== undefined && out.length < words) throw new RangeError(`pack: out holds ${out.length} words, ${rows} rows of K = ${k} need ${words}`);
    // Missing values are not ternary; the reference reports the first bad value in order.
    if (values.length < rows * k) return referenceTernaryKernels.pack(values, rows, k, out);
    const o = out ?? new Uint32Array(words);
    if (words === 0) return o;

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

  function gemm(a: Uint32Array, w: Uint32Array, m: number, n: number, k: number, out?: Int32Array): Int32Array {
    checkCount('gemm', 'm', m);
    checkCount('gemm', 'n', n);
    checkCount('gemm', 'k', k);
    const wpr = wordsPerRow(k);
    if (a.length < m * wpr) throw new RangeError(`gemm: a holds ${a.length} words, ${m} rows of K = ${k} need ${m * wpr}`);
    if (w.length < n * wpr) throw new RangeError(`gemm: w holds ${w.length} words, ${n} rows of K = ${k} need ${n * wpr}`);
    if (out !== undefined && out.length < m * n) throw new RangeError(`gemm: out holds ${out.length} values, need ${m}·${n} = ${m * n}`);
    const c = out ?? new Int32Array(m * n);
    if (m === 0 || n === 0) return c;
    const groups = wpr / 4;
    const aWords = m * wpr;
    const wWords = n * wpr;
    const [pa, pw, pc, work] = arena(aWords * 4, wWords * 4, wasm.gemmOutBytes(m, n), wasm.gemmWorkBytes(m, n, groups));
    const buf = wasm.memory.buffer;
    new Uint32Array(buf, pa, aWords).set(a.length === aWords ? a : a.subarray(0, aWords));
    new Uint32Array(buf, pw, wWords).set(w.length === wWords ? w : w.subarray(0, wWords));
    wasm.gemm(pa, pw, pc, m, n, groups, work);
    c.set(new Int32Array(wasm.memory.buffer, pc, m * n));
    return c;
  }

  /**
   * Packed rows of `codes` laid out as resident W panels of their first `head` groups, and, when
   * `tail` (16 or 32), their last group's first `tail` lanes laid out for `tailDots`
   * (panels of 128/tail rows: their nz words, then their sign words, zero past the last row).
   */
  function residentPanels(codes: Int8Array, o: number, k: number, head: number, tail: 0 | 16 | 32): { panels: number; tails: number } {
    const groups = wordsPerRow(k) / 4;
    const panels = resident(wasm.panelWBytes(o, head));
    const rows = pack(codes, o, k);
    const [tmp] = arena(rows.length * 4);
    new Uint32Array(wasm.memory.buffer, tmp, rows.length).set(rows);
    wasm.panelW(tmp, o, head, panels, groups);
    if (tail === 0) return { panels, tails: 0 };
    const per = 128 / tail; // rows per tail panel
    const count = Math.ceil(o / per);
    const tails = resident(count * 32);
    const view = tail === 16 ? new Uint16Array(wasm.memory.buffer, tails, count * 16) : new Uint32Array(wasm.memory.buffer, tails, count * 8);
    for (let j = 0; j < o; j++) {
      const w = (j + 1) * 4 * groups - 4; // [nz_lo, nz_hi, sign_lo, sign_hi] of the last group
      const q = Math.floor(j / per);
      const lane = j % per;
      view[q * 2 * per + lane] = rows[w] & (tail === 16 ? 0xffff : 0xffffffff);
      view[q * 2 * per + per + lane] = rows[w + 2] & (tail === 16 ? 0xffff : 0xffffffff);
    }
    return { panels, tails };
  }

  function residentF64(v: Float64Array): number {
    const at = resident(v.length * 8);
    new Float64Array(wasm.memory.buffer, at, v.length).set(v);
    return at;
  }

  /** The `len` float32 values at `at` as a run's result: copied into `out` when given, else into a fresh array. */
  function emit(at: number, len: number, out: Data | undefined): Data {
    const view = new Float32Array(wasm.memory.buffer, at, len);
    if (out === undefined) return view.slice();
    if (out.length !== len) throw new RangeError(`out holds ${out.length} values, the output has ${len}`);
    out.set(view);
    return out;
  }

  /**
   * The byte offset of `x` when it is a view of this memory (an output left here by `runInPlace`),
   * else −1. Read before anything that may grow memory (growing detaches every view).
   */
  const inMemory = (x: Data): number => (x instanceof Float32Array && x.buffer === wasm.memory.buffer ? x.byteOffset : -1);

  /**
   * The input of a run at a byte offset of this memory: where it already lies (`at` ≥ 0), else
   * copied to `scratch`. `len` values are checked to be there first.
   */
  function input(x: Data, at: number, len: number, scratch: number, where: string): number {
    if (at >= 0) return at;
    if (x.length < len) throw new RangeError(`${where}: x holds ${x.length} values, ${len} needed`);
    new Float32Array(wasm.memory.buffer, scratch, len).set(x.length === len ? x : x.subarray(0, len));
    return scratch;
  }

  /**
   * A run's output region kept for `runInPlace`: resident, reused from call to call, replaced when
   * a batch needs more by one at least twice as large (so that growing batches leave at most as
   * much behind as the last region holds), with `packSlack` bytes after it, which a pack may read.
   * A run may take its own in-place output as its input: every kernel has read an input value
   * before it writes the output that may lie on it (the law feeds a layer its own output).
   */
  function keeper(): (bytes: number) => number {
    let at = 0;
    let cap = -1;
    return (bytes) => {
      if (bytes > cap) {
        cap = Math.max(bytes, 2 * cap);
        at = resident(cap + wasm.packSlack());
      }
      return at;
    };
  }

  /** The result of a run: left in memory as a view (`inPlace`), or as `emit` gives it. */
  const deliver = (at: number, len: number, out: Data | undefined, inPlace: boolean): Data => (inPlace ? new Float32Array(wasm.memory.buffer, at, len) : emit(at, len, out));

  /** Pooled output size of [n, oh, ow, c] (the values `maxPoolF32` writes). */
  const pooledLen = (p: Pool, n: number, oh: number, ow: number, c: number): number => n * outSize(oh, p.size[0], p.strides[0], 0) * outSize(ow, p.size[1], p.strides[1], 0) * c;

  /** maxPoolF32 of the [n, oh, ow, c] values at `src` into `dst`. */
  function poolInto(p: Pool, src: number, n: number, oh: number, ow: number, c: number, dst: number): void {
    wasm.maxPoolF32(src, n, oh, ow, c, p.size[0], p.size[1], p.strides[0], p.strides[1], outSize(oh, p.size[0], p.strides[0], 0), outSize(ow, p.size[1], p.strides[1], 0), p.relu ? 1 : 0, dst);
  }

  function layer(spec: TernaryLayerSpec): TernaryLayer {
    const bounds = spec.act.kind === 'sign' ? ([0, 0] as [number, number]) : f32Bounds(spec.act);
    // float64 layers (the pre ops round differently) and odd thresholds run on the reference
    if (spec.dtype !== 'float32' || bounds === null) return referenceTernaryKernels.layer(spec);
    const { o, k, conv: g } = spec;
    const C = g === null ? k : g.cin;
    const groups = wordsPerRow(k) / 4;
    const rowB = groups * 16;
    const nPad = Math.ceil(o / 8) * 8;
    // a last group of at most 16 or 32 lanes goes to tailDots (eight or four columns per
    // SIMD step) instead of a whole 64-lane step of the GEMM per column
    const lastLanes = k - 64 * (groups - 1);
    const tail: 0 | 16 | 32 = groups === 0 ? 0 : lastLanes <= 16 ? 16 : lastLanes <= 32 ? 32 : 0;
    const head = tail === 0 ? groups : groups - 1;
    const W = residentPanels(spec.codes, o, k, head, tail);
    const WAbs = spec.b === null ? null : residentPanels(Int8Array.from(spec.codes, Math.abs), o, k, head, tail);
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
    const chunk = Math.max(8, Math.floor(LAYER_CHUNK_BYTES / perRow / 8) * 8);

    const keep = keeper();
    const go = (x: Data, n: number, out: Data | undefined, inPlace: boolean): Data => {
      const xAt = inMemory(x);
      const rows = geo === null ? n : n * geo.h * geo.w; // rows of C values to quantize
      const M = geo === null ? n : n * geo.oh * geo.ow; // rows of the patch matrix
      const R = Math.min(chunk, M);
      // bytes of packed input: a group per row (per 64 values of the stream), and one group of slack for im2colStream
      const packedB = stream ? (Math.ceil((rows * C) / 64) + 1) * 16 : rows * (geo === null ? rowB : geo.pg * 16);
      const pool = geo === null ? null : spec.pool;
      const pooled = pool === null ? 0 : pooledLen(pool, n, geo!.oh, geo!.ow, o);
      if (xAt >= 0 && x.length < rows * C) throw new RangeError(`layer: x holds ${x.length} values, ${n} inputs need ${rows * C}`);
      const kept = inPlace ? keep((pool === null ? M * o : pooled) * 4) : 0;
      const streamGroups = Math.ceil((rows * C) / 64);
      const [pxScratch, pix, pl, pA, work, pc, pc2, pyScratch, pzScratch] = arena(
        xAt >= 0 ? 0 : rows * C * 4 + wasm.packSlack(),
        packedB,
        bitplanes ? wasm.planesBytes(streamGroups) : 0,
        identity ? 0 : R * rowB,
        wasm.gemmPanelledWorkBytes(R, head),
        R * nPad * 4,
        spec.b === null ? 0 : R * nPad * 4,
        inPlace && pool === null ? 0 : M * o * 4,
        inPlace ? 0 : pooled * 4,
      );
      const px = input(x, xAt, rows * C, pxScratch, 'layer');
      const py = inPlace && pool === null ? kept : pyScratch;
      const pz = inPlace ? kept : pzScratch;
      wasm.setQuantizer(table, spec.pre.length, sign, pos, neg);
      wasm.quantPack(px, rows, C, pix, stream ? 1 : 0);
      if (bitplanes) wasm.planes(pix, streamGroups, pl);
      for (let r0 = 0; r0 < M; r0 += R) {
        const count = Math.min(R, M - r0);
        let a = pix + r0 * rowB;
        if (!identity) {
          const q = geo!;
          if (bitplanes) wasm.im2col3x3(pl, streamGroups, q.h, q.w, q.cin, q.sh, q.sw, q.ph, q.pw, q.oh, q.ow, r0, count, pA);
          else unfold(pix, q.h, q.w, q.cin, q.kh, q.kw, q.sh, q.sw, q.ph, q.pw, q.oh, q.ow, r0, count, pA);
          a = pA;
        }
        wasm.gemmPanelled(a, W.panels, pc, count, o, head, work, groups);
        if (tail !== 0) wasm.tailDots(a, groups, count, W.tails, tailPanels, pc, nPad * 4, tail);
        if (WAbs !== null) {
          wasm.gemmPanelled(a, WAbs.panels, pc2, count, o, head, work, groups);
          if (tail !== 0) wasm.tailDots(a, groups, count, WAbs.tails, tailPanels, pc2, nPad * 4, tail);
        }
        wasm.epilogueF32(pc, WAbs === null ? 0 : pc2, count, o, nPad, pa, pb, pbias, spec.relu ? 1 : 0, py + r0 * o * 4);
      }
      if (pool === null) return deliver(py, M * o, out, inPlace);
      poolInto(pool, py, n, geo!.oh, geo!.ow, o, pz);
      return deliver(pz, pooled, out, inPlace);
    };
    return { run: (x, n, out) => go(x, n, out, false), runInPlace: (x, n) => go(x, n, undefined, true) };
  }

  function maxPool(x: Data, shape: readonly [number, number, number, number], size: readonly [number, number], strides: readonly [number, number], relu: boolean, out?: Data): Data {
    if (!(x instanceof Float32Array) || (out !== undefined && !(out instanceof Float32Array))) return referenceTernaryKernels.maxPool(x, shape, size, strides, relu, out);
    const [n, h, w, c] = shape;
    const oh = outSize(h, size[0], strides[0], 0);
    const ow = outSize(w, size[1], strides[1], 0);
    const len = n * h * w * c;
    if (x.length < len) throw new RangeError(`maxPool: x holds ${x.length} values, [${shape.join(', ')}] needs ${len}`);
    const len2 = n * oh * ow * c;
    const xAt = inMemory(x);
    const [pxScratch, py] = arena(xAt >= 0 ? 0 : len * 4, len2 * 4);
    const px = input(x, xAt, len, pxScratch, 'maxPool');
    wasm.maxPoolF32(px, n, h, w, c, size[0], size[1], strides[0], strides[1], oh, ow, relu ? 1 : 0, py);
    return emit(py, len2, out);
  }

  function floatConv(spec: FloatConvSpec): TernaryLayer {
    const { o, conv: g } = spec;
    // the kernel reads taps outside the image as zeros: 0·w must be ±0, so every weight finite
    if (!spec.weights.subarray(0, o * g.kh * g.kw * g.cin).every(Number.isFinite)) return referenceTernaryKernels.floatConv(spec);
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
    const scratchB = wasm.convDirectScratchBytes(h, w, cin, kh, kw, ph, pw);
    const keep = keeper();
    const go = (x: Data, n: number, out: Data | undefined, inPlace: boolean): Data => {
      const len = n * h * w * cin;
      const xAt = inMemory(x);
      if (xAt >= 0 && x.length < len) throw new RangeError(`floatConv: x holds ${x.length} values, ${n} inputs need ${len}`);
      const convLen = fused ? pooledLen(pool, n, oh, ow, o) : n * oh * ow * o;
      const direct = pool === null || fused; // the kernel's output is the result
      const pooled = direct ? 0 : pooledLen(pool, n, oh, ow, o);
      const kept = inPlace ? keep((direct ? convLen : pooled) * 4) : 0;
      const [pxScratch, scratch, pyScratch, pzScratch] = arena(xAt >= 0 ? 0 : len * 4, scratchB, inPlace && direct ? 0 : convLen * 4, inPlace ? 0 : pooled * 4);
      const px = input(x, xAt, len, pxScratch, 'floatConv');
      const py = inPlace && direct ? kept : pyScratch;
      wasm.convDirectF32(px, n, h, w, cin, kh, kw, sh, sw, ph, pw, oh, ow, wt, o, opad, pbias, spec.relu ? 1 : 0, fused ? 1 : 0, fused && pool.relu ? 1 : 0, scratch, py);
      if (direct) return deliver(py, convLen, out, inPlace);
      const pz = inPlace ? kept : pzScratch;
      poolInto(pool, py, n, oh, ow, o, pz);
      return deliver(pz, pooled, out, inPlace);
    };
    return { run: (x, n, out) => go(x, n, out, false), runInPlace: (x, n) => go(x, n, undefined, true) };
  }

  function floatDense(spec: FloatDenseSpec): TernaryLayer {
    const { o, k } = spec;
    // rows are read up to 3 values past their ends: 16 bytes of slack after the weights
    const wt = resident(o * k * 4 + 16);
    new Float32Array(wasm.memory.buffer, wt, o * k).set(spec.weights.subarray(0, o * k));
    const pbias = resident(o * 4);
    new Float32Array(wasm.memory.buffer, pbias, o).set(Float32Array.from(spec.bias));
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
      wasm.denseF32(px, wt, pbias, n, k, o, spec.relu ? 1 : 0, py);
      return deliver(py, n * o, out, inPlace);
    };
    return { run: (x, n, out) => go(x, n, out, false), runInPlace: (x, n) => go(x, n, undefined, true) };
  }

  return { name: 'wasm', fast: true, pack, gemm, layer, maxPool, floatConv, floatDense };
}
