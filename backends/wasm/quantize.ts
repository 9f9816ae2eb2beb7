/**
 * The wasm backend's fused quantizer kernels (src/quantizers/fast.ts's QuantizerKernels) over the
 * kernels of assembly/quantize.ts: each call lays out its outputs, copies in the operands not
 * already in linear memory, runs a reduction pass, asks the quantizer for the per-group scalars,
 * and runs one map pass (TTQ's backward: its sums and its map in one pass). Nothing else is
 * allocated; the arena starts at the module's heap base (or, inside the backend's resident scope,
 * above the results it keeps) and is reset by every call, like the backend's own (calls are
 * synchronous, so they never overlap). Outside a resident scope the outputs are copied out into
 * new arrays; inside one, like the backend's own calls, an operand that is a resident view is
 * read in place and the outputs stay in wasm memory as views (a training step's g, effective
 * kernels and latent gradients never leave it; the latents, the caller's arrays, are copied in).
 *
 * `quantizerKernels()` gives the kernels without a backend (for `sttn/neutral`): in Node it
 * compiles the packaged plain build synchronously on first use (the file is read through
 * `process.getBuiltinModule`, no `node:` import); elsewhere `loadQuantizerKernels(source)` must
 * have run first. Until then it returns undefined and callers take the generic path.
 *
 * Law (laws/quantizers-fast.test.ts): every quantizer on this path equals its generic path on
 * cpu32 bit for bit; laws/neutral.test.ts: the neutral API equals the quantizer modules.
 */
import type { QuantizerKernels, Scalars } from '../../src/quantizers/fast.js';
import { instantiateWasm, type WasmSource } from '../../src/assets.js';
import { size, type Tensor } from '../../src/tensor.js';
import { growTo } from './memory.js';

/** The exports of the wasm module this needs (every build of backends/wasm/assembly has them). */
export interface QuantizeExports {
  readonly memory: WebAssembly.Memory;
  heapBase(): number;
  qSumAbs2(out: number, a: number, b: number, groups: number, len: number, clamp: number): void;
  qSumAbs(out: number, a: number, groups: number, len: number): void;
  qMaxAbs(a: number, n: number): number;
  qSumGradSign(out: number, w1: number, g1: number, w2: number, g2: number, groups: number, len: number, zero: number): void;
  qTwnSums(out: number, w: number, delta: number, groups: number, len: number): void;
  qTtqSums(out: number, w: number, g: number, delta: number, groups: number, len: number): void;
  qSttnMap(merged: number, w1q: number, w2q: number, codes: number, w1: number, w2: number, alpha: number, groups: number, len: number, zero: number): void;
  qOfficialGrad(dw: number, w: number, g: number, s: number, groups: number, len: number, zero: number): number;
  qBinaryGrad(dw: number, w: number, g: number, s: number, alpha: number, clipF: number, groups: number, len: number): number;
  qXnorGrad(dw: number, w: number, g: number, alpha: number, inv: number, clipF: number, groups: number, len: number): number;
  qSignMap(y: number, codes: number, w: number, alpha: number, groups: number, len: number): void;
  qTwnMap(y: number, codes: number, w: number, delta: number, alpha: number, groups: number, len: number): void;
  qTtqMap(y: number, codes: number, w: number, delta: number, wp: number, wn: number, groups: number, len: number): void;
  qTtqGrad(dw: number, w: number, g: number, delta: number, wp: number, wn: number, groups: number, len: number): number;
  qTtqSumsGrad(out: number, dw: number, w: number, g: number, delta: number, wp: number, wn: number, groups: number, len: number): number;
  qOfficialGrad2(dw1: number, dw2: number, w1: number, w2: number, g1: number, g2: number, s1: number, s2: number, groups: number, len: number, zero: number): number;
  qBinaryGrad2(dw1: number, dw2: number, w1: number, w2: number, g1: number, g2: number, s: number, alpha: number, clipF: number, groups: number, len: number): number;
  qSteGrad(dx: number, x: number, g: number, clipF: number, n: number): number;
  qAllFinite(x: number, n: number): number;
}

const ALIGN = 64;
const alignUp = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;

/** The wasm backend's arena, as its resident scope (backends/wasm.ts) shares it with these kernels. */
export interface ArenaHooks {
  /** Where a call may lay out its operands: the scope keeps its results below. */
  floor(): number;
  /** Grows the memory to `bytes` (./memory.ts's growTo, naming the backend's budget). */
  grow(bytes: number): void;
  /** The address of `t`'s data when it is one of the scope's results (read in place), else undefined. */
  resident(t: Tensor): number | undefined;
  /** The output at `[ptr, end)`, laid out first of a call: a view the scope keeps, or a copy outside one. */
  result(ptr: number, end: number, shape: readonly number[]): Tensor;
}

/** Caller-given arrays for the outputs of a call, by name (the neutral API's `out`). */
export interface OutputArrays {
  readonly merged?: Float32Array;
  readonly w1q?: Float32Array;
  readonly w2q?: Float32Array;
  readonly codes?: Float32Array;
  readonly y?: Float32Array;
  readonly w?: Float32Array;
  readonly w1?: Float32Array;
  readonly w2?: Float32Array;
  readonly x?: Float32Array;
}

/**
 * The kernels over `wasm`'s memory, laying out from the heap base, or with `arena` from the
 * backend's floor. With `arena`, every call lays out its outputs first (so a resident scope keeps
 * them as views: `arena.result`), then copies in only the operands that are not already resident
 * (`arena.resident`: read in place), then its small per-group scalars.
 */
export function createQuantizerKernels(wasm: QuantizeExports, arena?: ArenaHooks, sink?: () => OutputArrays | undefined): QuantizerKernels {
  const base = alignUp(wasm.heapBase());
  let top = base;
  const take = (floats: number): number => {
    const p = top;
    top = alignUp(top + floats * 4);
    return p;
  };
  // views are made after `layout` (growing detaches the old buffer of an unshared memory) and never kept
  const view = (ptr: number, n: number): Float32Array => new Float32Array(wasm.memory.buffer, ptr, n);
  const put = (ptr: number, d: ArrayLike<number>): void => view(ptr, d.length).set(d);
  /**
   * One call's layout after a reset: `outs` (floats each) first, then a slot for each of `ins` not
   * resident (0 for an absent one), then `scratch` (floats each); grows the memory once, copies the
   * operands in, and returns the three lists of pointers.
   */
  const layout = (outs: readonly number[], ins: readonly (Tensor | undefined)[], scratch: readonly number[] = []): { o: number[]; i: number[]; s: number[] } => {
    top = arena === undefined ? base : alignUp(Math.max(base, arena.floor()));
    const o = outs.map(take);
    const copies: [number, Tensor][] = [];
    const i = ins.map((t) => {
      if (t === undefined) return 0;
      const r = arena?.resident(t);
      if (r !== undefined) return r;
      const p = take(t.data.length);
      copies.push([p, t]);
      return p;
    });
    const sc = scratch.map(take);
    if (arena) arena.grow(top);
    else growTo(wasm.memory, top, { kept: 0, residentBytes: undefined });
    for (const [p, t] of copies) put(p, t.data);
    return { o, i, s: sc };
  };
  const getData = (ptr: number, n: number): Float32Array => {
    const d = new Float32Array(n);
    d.set(view(ptr, n));
    return d;
  };
  /**
   * The output `name` at `ptr` (laid out by `layout`'s `outs`): kept as a view in a resident scope,
   * else copied out, into the array `sink` names for it if any (checked by the caller: a
   * Float32Array of the output's size). Call in address order.
   */
  const out = (ptr: number, shape: readonly number[], name: keyof OutputArrays): Tensor => {
    if (arena) return arena.result(ptr, alignUp(ptr + size(shape) * 4), shape);
    const given = sink?.()?.[name];
    if (given === undefined) return { shape: [...shape], data: getData(ptr, size(shape)) };
    given.set(view(ptr, given.length));
    return { shape: [...shape], data: given };
  };
  const lenOf = (t: Tensor, groups: number): number => t.data.length / groups;

  return {
    sttnForward(w1, w2, groups, alpha: Scalars, outputs, official) {
      const n = w1.data.length;
      const len = lenOf(w1, groups);
      const all = outputs === 'all';
      const k = outputs === 'scale' ? 0 : n;
      const a = all ? n : 0;
      const { o: [pm, pq1, pq2, pc], i: [p1, p2], s: [ps] } = layout([k, a, a, a], [w1, w2], [groups]);
      wasm.qSumAbs2(ps, p1, p2, groups, len, official ? 1 : 0);
      const al = alpha(getData(ps, groups));
      if (outputs === 'scale') return { alpha: al };
      put(ps, al);
      wasm.qSttnMap(pm, all ? pq1 : 0, all ? pq2 : 0, all ? pc : 0, p1, p2, ps, groups, len, official?.signOfZero === 0 ? 1 : 0);
      const merged = out(pm, w1.shape, 'merged');
      return all ? { merged, alpha: al, w1q: out(pq1, w1.shape, 'w1q'), w2q: out(pq2, w1.shape, 'w2q'), codes: out(pc, w1.shape, 'codes') } : { merged, alpha: al };
    },

    sttnBackward(w1, w2, g1, g2, groups, alpha, clipF, scale) {
      const n = w1.data.length;
      const len = lenOf(w1, groups);
      const sameG = g1 === g2 || g1.data === g2.data;
      const { o: [pd1, pd2], i: [p1, p2, pg1, pg2x], s: [pa, ps] } = layout([n, n], [w1, w2, g1, sameG ? undefined : g2], [groups, 2 * groups]);
      const pg2 = sameG ? pg1 : pg2x;
      put(pa, alpha);
      wasm.qSumGradSign(ps, p1, pg1, p2, pg2, groups, len, 0);
      put(ps, scale(getData(ps, 2 * groups)));
      const bad = wasm.qBinaryGrad2(pd1, pd2, p1, p2, pg1, pg2, ps, pa, clipF, groups, len);
      return { w1: out(pd1, w1.shape, 'w1'), w2: out(pd2, w1.shape, 'w2'), finite: bad === 0 };
    },

    sttnOfficialBackward(w1, w2, g1, g2, groups, signOfZero, scale) {
      const len = lenOf(w1, groups);
      const zero = signOfZero === 0 ? 1 : 0;
      const n = w1.data.length;
      const sameG = g1 === g2 || g1.data === g2.data;
      const { o: [pd1, pd2], i: [p1, p2, pg1, pg2x], s: [ps, ps1, ps2] } = layout([n, n], [w1, w2, g1, sameG ? undefined : g2], [2 * groups, groups, groups]);
      const pg2 = sameG ? pg1 : pg2x;
      wasm.qSumGradSign(ps, p1, pg1, p2, pg2, groups, len, zero);
      const s = scale(getData(ps, 2 * groups));
      const s1 = new Float32Array(groups);
      const s2 = new Float32Array(groups);
      for (let i = 0; i < groups; i++) {
        s1[i] = s[2 * i];
        s2[i] = s[2 * i + 1];
      }
      put(ps1, s1);
      put(ps2, s2);
      const bad = wasm.qOfficialGrad2(pd1, pd2, p1, p2, pg1, pg2, ps1, ps2, groups, len, zero);
      return { w1: out(pd1, w1.shape, 'w1'), w2: out(pd2, w1.shape, 'w2'), finite: bad === 0 };
    },

    signForward(w, groups, alpha, outputs) {
      const n = w.data.length;
      const len = lenOf(w, groups);
      const all = outputs === 'all';
      const { o: [py, pc], i: [pw], s: [ps] } = layout([outputs === 'scale' ? 0 : n, all ? n : 0], [w], [groups]);
      wasm.qSumAbs(ps, pw, groups, len);
      const a = alpha(getData(ps, groups));
      if (outputs === 'scale') return { alpha: a };
      put(ps, a);
      wasm.qSignMap(py, all ? pc : 0, pw, ps, groups, len);
      const y = out(py, w.shape, 'y');
      return all ? { y, alpha: a, codes: out(pc, w.shape, 'codes') } : { y, alpha: a };
    },

    signBackward(w, g, groups, alpha, clipF, scale) {
      const n = w.data.length;
      const len = lenOf(w, groups);
      const { o: [pd], i: [pw, pg], s: [pa, ps] } = layout([n], [w, g], [groups, 2 * groups]);
      put(pa, alpha);
      wasm.qSumGradSign(ps, pw, pg, 0, 0, groups, len, 0);
      put(ps, scale(getData(ps, 2 * groups)));
      const bad = wasm.qBinaryGrad(pd, pw, pg, ps, pa, clipF, groups, len);
      return { w: out(pd, w.shape, 'w'), finite: bad === 0 };
    },

    xnorBackward(w, g, groups, alpha, inv, clipF) {
      const n = w.data.length;
      const { o: [pd], i: [pw, pg], s: [pa] } = layout([n], [w, g], [groups]);
      put(pa, alpha);
      const bad = wasm.qXnorGrad(pd, pw, pg, pa, inv, clipF, groups, lenOf(w, groups));
      return { w: out(pd, w.shape, 'w'), finite: bad === 0 };
    },

    twnForward(w, groups, delta, alpha, all) {
      const n = w.data.length;
      const len = lenOf(w, groups);
      const { o: [py, pc], i: [pw], s: [pd, pa, ps] } = layout([n, all ? n : 0], [w], [groups, groups, 2 * groups]);
      wasm.qSumAbs(ps, pw, groups, len);
      const d = delta(getData(ps, groups));
      put(pd, d);
      wasm.qTwnSums(ps, pw, pd, groups, len);
      const sums = getData(ps, 2 * groups);
      const a = alpha(sums);
      put(pa, a);
      wasm.qTwnMap(py, all ? pc : 0, pw, pd, pa, groups, len);
      const count = new Float32Array(groups);
      for (let i = 0; i < groups; i++) count[i] = sums[2 * i];
      const y = out(py, w.shape, 'y');
      return all ? { y, delta: d, alpha: a, count, codes: out(pc, w.shape, 'codes') } : { y, delta: d, alpha: a, count };
    },

    ttqForward(w, delta, wp, wn, groups, all) {
      const n = w.data.length;
      const { o: [py, pc], i: [pw], s: [pp, pn] } = layout([n, all ? n : 0], [w], [groups, groups]);
      put(pp, wp);
      put(pn, wn);
      const d = delta(wasm.qMaxAbs(pw, n));
      wasm.qTtqMap(py, all ? pc : 0, pw, d, pp, pn, groups, lenOf(w, groups));
      const y = out(py, w.shape, 'y');
      return all ? { y, delta: d, codes: out(pc, w.shape, 'codes') } : { y, delta: d };
    },

    ttqBackward(w, g, delta, wp, wn, groups) {
      const n = w.data.length;
      const { o: [pd], i: [pw, pg], s: [pp, pn, ps] } = layout([n], [w, g], [groups, groups, 2 * groups]);
      put(pp, wp);
      put(pn, wn);
      const bad = wasm.qTtqSumsGrad(ps, pd, pw, pg, delta, pp, pn, groups, lenOf(w, groups));
      return { w: out(pd, w.shape, 'w'), sums: getData(ps, 2 * groups), finite: bad === 0 };
    },

    steGrad(x, g, clipF) {
      const n = x.data.length;
      const { o: [pd], i: [px, pg] } = layout([n], [x, g]);
      const bad = wasm.qSteGrad(pd, px, pg, clipF, n);
      return { x: out(pd, x.shape, 'x'), finite: bad === 0 };
    },

    allFinite(x) {
      const { i: [px] } = layout([], [x]);
      return wasm.qAllFinite(px, x.data.length) === 1;
    },
  };
}

const imports = {
  env: {
    abort: (): never => {
      throw new Error('sttn wasm kernel aborted');
    },
  },
};

/** The packaged plain build, beside this module (dist/build/ in the package). */
const packagedPlain = (): URL => new URL('../../build/wasm/sttn-simd.wasm', import.meta.url);

let loaded: QuantizerKernels | undefined;
/** The arrays `writingInto` gave the standalone kernels for the call in progress. */
let into: OutputArrays | undefined;
const sink = (): OutputArrays | undefined => into;

/**
 * Runs `f` with the standalone kernels (`quantizerKernels()`) writing each output that `arrays`
 * names into that array instead of a new one (the caller checks type and length). Synchronous, so
 * no other call sees them.
 */
export function writingInto<T>(arrays: OutputArrays, f: () => T): T {
  const prev = into;
  into = arrays;
  try {
    return f();
  } finally {
    into = prev;
  }
}
let triedSync = false;

/** Node's synchronous file read, without a `node:` import; undefined outside Node. */
function readFileSync(url: URL): Uint8Array<ArrayBuffer> | undefined {
  const p = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const fs = p?.getBuiltinModule?.('node:fs') as { readFileSync(path: string): Uint8Array<ArrayBuffer> } | undefined;
  const nodeUrl = p?.getBuiltinModule?.('node:url') as { fileURLToPath(u: URL): string } | undefined;
  return fs && nodeUrl ? fs.readFileSync(nodeUrl.fileURLToPath(url)) : undefined;
}

/**
 * The fused kernels if they are loaded, or (in Node, once) loadable synchronously from the
 * packaged build; undefined otherwise (no file, no SIMD, a browser before `loadQuantizerKernels`).
 */
export function quantizerKernels(): QuantizerKernels | undefined {
  if (loaded || triedSync) return loaded;
  triedSync = true;
  try {
    const bytes = readFileSync(packagedPlain());
    if (bytes === undefined || !WebAssembly.validate(bytes)) return undefined;
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), imports);
    loaded = createQuantizerKernels(instance.exports as unknown as QuantizeExports, undefined, sink);
  } catch {
    // the generic path serves: same results, slower
  }
  return loaded;
}

/** Loads the kernels from `source` (default: the packaged plain build) for `quantizerKernels()`. */
export async function loadQuantizerKernels(source: WasmSource = packagedPlain()): Promise<QuantizerKernels> {
  const instance = await instantiateWasm(source, imports, 'quantizer kernels source');
  loaded = createQuantizerKernels(instance.exports as unknown as QuantizeExports, undefined, sink);
  return loaded;
}
