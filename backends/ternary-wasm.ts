/**
 * Ternary × ternary kernels in WebAssembly: the `TernaryKernels` contract of
 * src/infer/ternary-kernels.ts (2+2-bit rows, [nz_lo, nz_hi, sign_lo, sign_hi] per 64 lanes) with
 * `gemm` as a bit-serial popcount GEMM and `pack` as SIMD compares, both compiled by
 * AssemblyScript from backends/ternary/assembly into build/wasm/sttn-ternary.wasm
 * (`npm run build:wasm`).
 *
 * For rows x and w, with m = nz_x & nz_w and t = m & (sign_x ^ sign_w):
 *   Σ_j x_j·w_j = popcount(m ^ t) − popcount(t)        (64 lanes per i64.popcnt pair)
 *
 * Every call copies its operands into wasm memory and its result out (a bump arena reset per
 * call; memory grows on demand, and views are made only after growing, because growing a
 * non-shared memory detaches every view of the old buffer). Single-threaded. `pack` reads
 * Int8Array and Float32Array values as they are and any other array through a Float64Array copy,
 * so every value is checked exactly.
 *
 * Law (laws/ternary-kernels.test.ts): `gemm` equals the plain integer dot product exactly and
 * `pack` equals the reference packing bit for bit, for every K and row count; a value other than
 * −1, 0, +1 is a RangeError naming its row and column.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../src/errors.js';
import { referenceTernaryKernels, wordsPerRow, type TernaryKernels } from '../src/infer/ternary-kernels.js';

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

function makeKernels(wasm: Exports): TernaryKernels {
  const base = alignUp(wasm.heapBase());

  /** Lays out regions of the given byte sizes from `base`, grows memory to fit, returns their offsets. */
  function arena(...sizes: number[]): number[] {
    const offsets: number[] = [];
    let top = base;
    for (const s of sizes) {
      offsets.push(top);
      top = alignUp(top + s);
    }
    const have = wasm.memory.buffer.byteLength;
    if (top > have) wasm.memory.grow(Math.ceil((top - have) / PAGE));
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

  return { name: 'wasm', pack, gemm };
}
