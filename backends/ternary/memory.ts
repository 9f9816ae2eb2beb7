/**
 * The memory of one instance of the ternary wasm kernels (backends/ternary/assembly), as the glue
 * modules beside this one use it: the module's exports, and its linear memory in two parts. What a
 * compiled layer keeps (its weights packed and laid out as GEMM panels, its per-channel factors,
 * its pre ops' vectors, its in-place output) is resident, allocated once below a boundary that
 * only moves up; each call lays out its scratch above it. Memory grows on demand, and views are
 * made only after growing, because growing a non-shared memory detaches every view of the old
 * buffer. A call copies its input in (unless it already lies here, left by `runInPlace`) and its
 * result out: into the caller's array when one is given, else a fresh one. One call at a time (threads, where there are, run the parts of a call).
 *
 * Law (laws/ternary-kernels.test.ts, laws/engine.test.ts): results equal the reference
 * implementation's bit for bit, and so does a chain of `runInPlace` runs, each reading the
 * previous one's output in place, also when a later call grows memory.
 */
import type { Data } from '../../src/tensor.js';

/** The exports of build/wasm/sttn-ternary.wasm (byte pointers into its memory; see backends/ternary/assembly). */
export interface TernaryExports {
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
  poolSums(c: number, ldc: number, imgs: number, oh: number, ow: number, kh: number, kw: number, sh: number, sw: number, poh: number, pow: number, neg: number, y: number): void;
  layerDescBytes(): number;
  taskDescBytes(fields: number): number;
  /** part `part` of `parts` of the task described at `desc` (a layer's chunks, or runs of quantPack, convDirectF32, denseF32, maxPoolF32: backends/ternary/assembly/tasks.ts) */
  layerChunks(desc: number, part: number, parts: number): void;
  convDirectScratchBytes(h: number, w: number, cin: number, kh: number, kw: number, ph: number, pw: number): number;
  convDirectF32(x: number, n: number, h: number, w: number, cin: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, oh: number, ow: number, wt: number, o: number, opad: number, bias: number, relu: number, pool: number, poolRelu: number, scratch: number, y: number): void;
  denseF32(x: number, w: number, bias: number, m: number, k: number, o: number, relu: number, y: number): void;
  /** 1 in the fma build (relaxed SIMD multiply-adds in the float kernels); absent from older builds */
  fused?(): number;
  /** 1 in the builds with the table-lookup GEMM (relaxed SIMD: lookup, fma); absent from older builds */
  tables?(): number;
  maxPoolF32(x: number, n: number, h: number, w: number, c: number, kh: number, kw: number, sh: number, sw: number, oh: number, ow: number, relu: number, y: number): void;
}

/** The kinds of task a descriptor names in its first word (backends/ternary/assembly/tasks.ts). */
export const TASK = { layer: 0, quant: 1, conv: 2, dense: 3, pool: 4 } as const;

/** One instance's exports and its memory's resident and scratch regions (byte offsets). */
export interface KernelMemory {
  readonly wasm: TernaryExports;
  /** The most parts a task is split into (each part's scratch is laid out by the caller): the threads, or the `parts` option. */
  readonly parts: number;
  /**
   * Runs every part of the task described at `desc`, `parts` (1 … `this.parts`) of them: at once on
   * a thread pool, or in turn; one part runs on the calling thread.
   */
  run(desc: number, parts: number): void;
  /**
   * A resident task descriptor of kind `kind` (TASK) with `fields` i32 fields, as i32 and f32 views
   * made on demand. Made when a layer is compiled, never during a call: it would land on the call's scratch.
   */
  task(kind: number, fields: number): TaskDesc;
  /** The instance's max-pooling task (./pool.ts), filled by each call that pools (one call at a time). */
  readonly poolTask: TaskDesc;
  /**
   * The i32 that numbers the threads' scratch slots (`scratchSlot` of
   * backends/ternary/assembly/memory.ts): a task with scratch lays out `parts` areas, one per
   * thread, whatever its number of parts.
   */
  readonly slots: number;
  /** A resident region of `bytes` bytes (kept for the kernels' lifetime). */
  resident(bytes: number): number;
  /** `v` copied into a resident region. */
  residentF64(v: Float64Array): number;
  /** Lays out scratch regions of the given byte sizes above the resident ones, grows memory to fit, returns their offsets. */
  arena(...sizes: number[]): number[];
  /** The `len` float32 values at `at` as a run's result: copied into `out` when given, else into a fresh array. */
  emit(at: number, len: number, out: Data | undefined): Data;
  /**
   * The byte offset of `x` when it is a view of this memory (an output left here by `runInPlace`),
   * else −1. Read before anything that may grow memory (growing detaches every view).
   */
  inMemory(x: Data): number;
  /**
   * The input of a run at a byte offset of this memory: where it already lies (`at` ≥ 0), else
   * copied to `scratch`. `len` values are checked to be there first.
   */
  input(x: Data, at: number, len: number, scratch: number, where: string): number;
  /**
   * A run's output region kept for `runInPlace`: resident, reused from call to call, replaced when
   * a batch needs more by one at least twice as large (so that growing batches leave at most as
   * much behind as the last region holds), with `packSlack` bytes after it, which a pack may read.
   * A run may take its own in-place output as its input: every kernel has read an input value
   * before it writes the output that may lie on it (the law feeds a layer its own output).
   */
  keeper(): (bytes: number) => number;
  /** The result of a run: left in memory as a view (`inPlace`), or as `emit` gives it. */
  deliver(at: number, len: number, out: Data | undefined, inPlace: boolean): Data;
}

/** A resident task descriptor: `at` for `run`, its fields (after the kind word) as views of the current buffer. */
export interface TaskDesc {
  readonly at: number;
  i32(): Int32Array;
  f32(): Float32Array;
}

const ALIGN = 64;
const alignUp = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;
const PAGE = 65536;

/**
 * `run(desc, parts)` runs a task's parts (default: in turn on this thread), `parts` the most a task
 * is split into.
 */
export function kernelMemory(wasm: TernaryExports, parts = 1, run: (desc: number, parts: number) => void = (d, n) => {
  for (let p = 0; p < n; p++) wasm.layerChunks(d, p, n);
}): KernelMemory {
  /** Everything below `perm` is resident (packed weights, scales); scratch areas start there. */
  let perm = alignUp(wasm.heapBase());

  /** Grows memory so that it holds `top` bytes. */
  function reserve(top: number): void {
    const have = wasm.memory.buffer.byteLength;
    if (top > have) wasm.memory.grow(Math.ceil((top - have) / PAGE));
  }

  function resident(bytes: number): number {
    const at = perm;
    perm = alignUp(perm + bytes);
    reserve(perm);
    return at;
  }

  function residentF64(v: Float64Array): number {
    const at = resident(v.length * 8);
    new Float64Array(wasm.memory.buffer, at, v.length).set(v);
    return at;
  }

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

  function emit(at: number, len: number, out: Data | undefined): Data {
    const view = new Float32Array(wasm.memory.buffer, at, len);
    if (out === undefined) return view.slice();
    if (out.length !== len) throw new RangeError(`out holds ${out.length} values, the output has ${len}`);
    out.set(view);
    return out;
  }

  const inMemory = (x: Data): number => (x instanceof Float32Array && x.buffer === wasm.memory.buffer ? x.byteOffset : -1);

  function input(x: Data, at: number, len: number, scratch: number, where: string): number {
    if (at >= 0) return at;
    if (x.length < len) throw new RangeError(`${where}: x holds ${x.length} values, ${len} needed`);
    new Float32Array(wasm.memory.buffer, scratch, len).set(x.length === len ? x : x.subarray(0, len));
    return scratch;
  }

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

  const deliver = (at: number, len: number, out: Data | undefined, inPlace: boolean): Data => (inPlace ? new Float32Array(wasm.memory.buffer, at, len) : emit(at, len, out));

  function task(kind: number, fields: number): TaskDesc {
    const at = resident(wasm.taskDescBytes(fields));
    new Int32Array(wasm.memory.buffer, at, fields + 1).fill(0)[0] = kind; // resident memory may hold an earlier call's scratch
    return { at, i32: () => new Int32Array(wasm.memory.buffer, at + 4, fields), f32: () => new Float32Array(wasm.memory.buffer, at + 4, fields) };
  }

  const poolTask = task(TASK.pool, 13);
  const slots = resident(4);
  new Int32Array(wasm.memory.buffer, slots, 1)[0] = 0;

  return { wasm, parts, run, task, poolTask, slots, resident, residentF64, arena, emit, inMemory, input, keeper, deliver };
}
