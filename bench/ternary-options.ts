/**
 * Issue #16 item 3, measured instead of argued: two engine options against the kernels the engine
 * runs today, in one process, one thread, round-robin, medians (bench/common.ts). The experimental
 * kernels live in bench/assembly/options.ts (not in the library); this script compiles them with
 * `asc` into build/bench/ (a plain-SIMD and a relaxed-SIMD build) before it starts.
 *
 * Run: `npx tsx bench/ternary-options.ts` (after `npm run build:wasm`); `STTN_BENCH_SEED=n` replays
 * a drawn seed, `STTN_BENCH_CLOCK=wall` takes medians on the wall clock. Results: bench/INFER.md.
 *
 * 1. Ternary × ternary, C[M×N] = A·Wᵀ over codes, the engine's layer shapes (im2col rows, batch 64
 *    unless marked), in the engine's row chunks (≤ 192 KiB of packed rows and sums per chunk):
 *    - `shipped`: the popcount 8×8 tile on W panels laid out once, A panelled per chunk, and the
 *      SIMD tail dots for a last group of ≤ 32 lanes (`gemmPanelled` + `tailDots` of
 *      build/wasm/sttn-ternary.wasm), from packed rows in wasm memory, as a layer runs them;
 *    - `TL`: table lookup (T-MAC, bitplane g = 4, `tlGemm`), from the same packed rows: the
 *      table addresses made per chunk from them (`tlPackA`) are included; `TL kernel` leaves
 *      them out (as if quantize-and-pack wrote them); each in the plain and the relaxed-SIMD
 *      build (`relaxed`).
 *    Every result is compared with the shipped module's `gemm` (itself checked against a plain
 *    JavaScript dot product on sampled rows) on drawn codes, on these shapes and on small odd ones
 *    with all-equal codes (the largest sums), before anything is timed; a difference throws.
 * 2. Ternary × float (2+32: float activations, ternary weights w = sp_o, 0 or −sn_o), the engine's shapes:
 *    - `float gemm` / `float gemm FMA`: the GEMM the engine runs for a 2+32 conv today (decoded
 *      weights w = s·c, `gemm` with Wᵀ of build/wasm/sttn-simd.wasm / sttn-relaxed-simd.wasm);
 *    - `denseF32`: the ternary module's float dense layer (what the engine runs for float dense ops);
 *    - `decode-free`: `dfGemm`, no multiply per weight, zero codes skipped.
 *    Each is compared with a float64 evaluation on sampled rows within float32 rounding,
 *    |y − ŷ| ≤ γ_{K+1}·Σ|w·x| + 2u·|ŷ| (γ_n = n·u/(1 − n·u), u = 2⁻²⁴); a larger error throws.
 *    Weights with a third of zero codes (the zoo's 2+32 model has 26–39%), and sparser ones.
 * GMAC/s = M·N·K / time (zero codes counted as MACs for every contender). One thread throughout.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { wordsPerRow } from '../src/infer/ternary-kernels.js';
import { CLOCK, type Contender, fmt, machine, median, repeated, roundRobin, table } from './common.js';

// Node 20 runs relaxed SIMD behind a flag (as backends/wasm.ts sets it): only lets modules use it.
setFlagsFromString('--experimental-wasm-relaxed-simd');

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const ROUNDS = 9;
const WARMUP = 2;

class BenchError extends Error {
  override readonly name = 'BenchError';
}

const sh = (cmd: string): string => {
  try {
    return execFileSync(cmd, { encoding: 'utf8' }).trim();
  } catch {
    return `(${cmd} unavailable)`;
  }
};

// ---------------------------------------------------------------- modules

for (const target of ['plain', 'relaxed']) {
  execFileSync(join(root, 'node_modules', '.bin', 'asc'), ['--config', 'bench/assembly/asconfig.json', '--target', target], { cwd: root, stdio: 'inherit' });
}

interface Mod {
  readonly memory: WebAssembly.Memory;
  heapBase(): number;
}
interface ShippedExports extends Mod {
  packI8(src: number, rows: number, k: number, dst: number): number;
  packSlack(): number;
  gemm(a: number, w: number, c: number, m: number, n: number, groups: number, work: number): void;
  gemmOutBytes(m: number, n: number): number;
  gemmWorkBytes(m: number, n: number, groups: number): number;
  panelWBytes(n: number, groups: number): number;
  panelW(w: number, n: number, groups: number, dst: number, stride: number): void;
  gemmPanelledWorkBytes(m: number, groups: number): number;
  gemmPanelled(a: number, wp: number, c: number, m: number, n: number, groups: number, work: number, stride: number): void;
  tailDots(a: number, stride: number, m: number, wt: number, panels: number, c: number, ldc: number, lanes: number): void;
  denseF32(x: number, w: number, bias: number, m: number, k: number, o: number, relu: number, y: number): void;
}
interface OptionExports extends Mod {
  tlPackA(a: number, m: number, groups: number, stride: number, dst: number): void;
  tlWBytes(n: number, groups: number): number;
  tlPackW(w: number, n: number, groups: number, stride: number, dst: number): void;
  tlOutBytes(m: number, n: number): number;
  tlGemm(a: number, wi: number, c: number, m: number, n: number, k: number, groups: number, spare: number): void;
  dfPackW(codes: number, n: number, k: number, dst: number): number;
  dfTileBytes(k: number): number;
  dfGemm(x: number, m: number, k: number, lists: number, n: number, sp: number, sn: number, y: number, tile: number): void;
}
interface FloatExports extends Mod {
  gemmWorkBytes(): number;
  gemm(tA: number, tB: number, m: number, n: number, k: number, a: number, lda: number, b: number, ldb: number, c: number, ldc: number, acc: number, work: number): void;
}

function load<T extends Mod>(file: string): T {
  const bytes = readFileSync(join(root, file));
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { abort: () => { throw new BenchError(`${file}: wasm abort`); } } });
  return inst.exports as unknown as T;
}

/** A bump allocator over a module's memory (64-byte aligned), reset per shape; grows the memory on demand. */
class Arena {
  private top = 0;
  constructor(readonly mod: Mod) {
    this.reset();
  }
  reset(): void {
    this.top = Math.ceil(this.mod.heapBase() / 64) * 64;
  }
  alloc(bytes: number): number {
    const p = this.top;
    this.top = Math.ceil((p + bytes + 64) / 64) * 64; // a little slack past every region
    const have = this.mod.memory.buffer.byteLength;
    if (this.top > have) this.mod.memory.grow(Math.ceil((this.top - have) / 65536));
    return p;
  }
  get buf(): ArrayBuffer {
    return this.mod.memory.buffer;
  }
}

const shipped = load<ShippedExports>('build/wasm/sttn-ternary.wasm');
const floatPlain = load<FloatExports>('build/wasm/sttn-simd.wasm');
const floatFma = load<FloatExports>('build/wasm/sttn-relaxed-simd.wasm');
const tlPlain = load<OptionExports>('build/bench/ternary-options.wasm');
const tlRelaxed = load<OptionExports>('build/bench/ternary-options-relaxed.wasm');

// ---------------------------------------------------------------- drawn operands

const seed = process.env.STTN_BENCH_SEED !== undefined ? Number(process.env.STTN_BENCH_SEED) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
let state = seed;
const next = (): number => {
  state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
  return state / 2 ** 32;
};
/** Codes with a fraction `zeros` of 0, the rest ±1 at random; or all `fill`. */
function codes(n: number, zeros: number, fill?: number): Int8Array {
  const out = new Int8Array(n);
  for (let i = 0; i < n; i++) out[i] = fill ?? (next() < zeros ? 0 : next() < 0.5 ? -1 : 1);
  return out;
}
function floats(n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.fround(next() * 2 - 1);
  return out;
}

console.log(`uptime before: ${sh('uptime')}`);
console.log(`${machine()}; threads: 1 (every contender); seed ${seed} (STTN_BENCH_SEED=${seed} replays it)`);
console.log(`command: npx tsx bench/ternary-options.ts${CLOCK === 'wall' ? ' (STTN_BENCH_CLOCK=wall)' : ''}; ${ROUNDS} rounds, medians; each run ~40 ms of repeated calls\n`);

/** Times the contenders round-robin: medians on the configured clock (CPU by default) and on the wall clock. */
function timeBoth(cs: readonly { contender: Contender; reps: number }[]): Map<string, { clock: number; wall: number; reps: number }> {
  const walls = new Map<string, number[]>(cs.map((c) => [c.contender.name, []]));
  const wrapped = cs.map(({ contender }) => ({
    name: contender.name,
    run: () => {
      const t0 = performance.now();
      contender.run();
      walls.get(contender.name)!.push(performance.now() - t0);
    },
  }));
  const ms = roundRobin(wrapped, ROUNDS, WARMUP);
  return new Map(cs.map(({ contender, reps }) => [contender.name, { clock: ms.get(contender.name)!, wall: median(walls.get(contender.name)!.slice(WARMUP)), reps }]));
}

// ---------------------------------------------------------------- 1. ternary × ternary

interface Shape {
  readonly label: string;
  readonly m: number;
  readonly k: number;
  readonly n: number;
}
const TT: readonly Shape[] = [
  { label: 'cnn-small conv2', m: 64 * 14 * 14, k: 288, n: 64 },
  { label: 'cnn-small conv2, batch 1', m: 14 * 14, k: 288, n: 64 },
  { label: 'vgg7 conv2', m: 64 * 32 * 32, k: 144, n: 16 },
  { label: 'vgg7 conv3', m: 64 * 16 * 16, k: 144, n: 32 },
  { label: 'vgg7 conv4', m: 64 * 16 * 16, k: 288, n: 32 },
  { label: 'vgg7 conv5', m: 64 * 8 * 8, k: 288, n: 64 },
  { label: 'vgg7 conv6', m: 64 * 8 * 8, k: 576, n: 64 },
  { label: 'vgg7 fc1', m: 64, k: 1024, n: 128 },
  { label: 'K = 1024', m: 4096, k: 1024, n: 128 },
];
const ONLY = process.env.STTN_BENCH_ONLY; // a substring of the labels, for a quick look

/** Rows per chunk as backends/ternary/layer.ts sizes them (one product, no TTQ). */
function chunkRows(k: number, n: number): number {
  const rowB = wordsPerRow(k) * 4;
  const nPad = Math.ceil(n / 8) * 8;
  const rows = Math.min((192 * 1024) / (rowB + nPad * 4), 2 ** 20 / k);
  return Math.max(8, Math.floor(rows / 8) * 8);
}

/** Σ_k a[i,k]·w[j,k] in plain JavaScript. */
function dot(a: Int8Array, w: Int8Array, i: number, j: number, k: number): number {
  let s = 0;
  for (let q = 0; q < k; q++) s += a[i * k + q] * w[j * k + q];
  return s;
}

interface TTCase {
  readonly m: number;
  readonly k: number;
  readonly n: number;
  readonly groups: number;
  readonly chunk: number;
  /** the contenders' calls, each writing its sums where `result` reads them */
  readonly calls: readonly { name: string; call: () => void; result: () => Int32Array }[];
  /** the shipped module's `gemm` of the same operands, m·n sums */
  readonly reference: Int32Array;
}

/** Lays out one product in every module and returns its contenders (nothing timed yet). */
function ttCase(aCodes: Int8Array, wCodes: Int8Array, m: number, k: number, n: number): TTCase {
  const groups = wordsPerRow(k) / 4;
  const rowB = groups * 16;
  const chunk = Math.min(chunkRows(k, n), m);
  const sa = new Arena(shipped);
  const slack = shipped.packSlack();
  const srcA = sa.alloc(m * k + slack);
  const srcW = sa.alloc(n * k + slack);
  new Int8Array(sa.buf, srcA, m * k).set(aCodes);
  new Int8Array(sa.buf, srcW, n * k).set(wCodes);
  const pa = sa.alloc(m * rowB);
  const pw = sa.alloc(n * rowB);
  if (shipped.packI8(srcA, m, k, pa) !== -1 || shipped.packI8(srcW, n, k, pw) !== -1) throw new BenchError('packI8 rejected ternary codes');
  const packedA = new Uint8Array(sa.buf, pa, m * rowB).slice();
  const packedW = new Uint8Array(sa.buf, pw, n * rowB).slice();
  // the reference: the shipped module's gemm (laws/ternary-kernels.test.ts), checked here against JS on sampled rows
  const refC = sa.alloc(shipped.gemmOutBytes(m, n));
  shipped.gemm(pa, pw, refC, m, n, groups, sa.alloc(shipped.gemmWorkBytes(m, n, groups)));
  const reference = new Int32Array(sa.buf, refC, m * n).slice();
  for (let t = 0; t < Math.min(m, 24); t++) {
    const i = t < 2 ? (t === 0 ? 0 : m - 1) : Math.floor(next() * m);
    for (let j = 0; j < n; j++) {
      if (reference[i * n + j] !== dot(aCodes, wCodes, i, j, k)) throw new BenchError(`shipped gemm differs from the JS dot product at [${i}, ${j}] (M ${m} K ${k} N ${n})`);
    }
  }
  // shipped, as a layer runs it: W panels of the head groups once, the last ≤ 32 lanes on tailDots
  const lastLanes = k - (groups - 1) * 64;
  const tail = lastLanes <= 16 ? 16 : lastLanes <= 32 ? 32 : 0;
  const head = tail === 0 ? groups : groups - 1;
  const wp = sa.alloc(shipped.panelWBytes(n, head));
  shipped.panelW(pw, n, head, wp, groups);
  const per = tail === 0 ? 0 : 128 / tail;
  const tailPanels = tail === 0 ? 0 : Math.ceil(n / per);
  const wt = sa.alloc(tailPanels * 32);
  if (tail !== 0) {
    const words = new Uint32Array(packedW.buffer);
    const view = tail === 16 ? new Uint16Array(sa.buf, wt, tailPanels * 16) : new Uint32Array(sa.buf, wt, tailPanels * 8);
    const mask = tail === 16 ? 0xffff : 0xffffffff;
    for (let j = 0; j < n; j++) {
      const w0 = (j + 1) * 4 * groups - 4;
      const q = Math.floor(j / per);
      view[q * 2 * per + (j % per)] = words[w0] & mask;
      view[q * 2 * per + per + (j % per)] = words[w0 + 2] & mask;
    }
  }
  const nPad = Math.ceil(n / 8) * 8;
  const work = sa.alloc(shipped.gemmPanelledWorkBytes(chunk, head));
  const sc = sa.alloc(m * nPad * 4);
  const shippedCall = (): void => {
    for (let r = 0; r < m; r += chunk) {
      const rows = Math.min(chunk, m - r);
      const a = pa + r * rowB;
      const c = sc + r * nPad * 4;
      shipped.gemmPanelled(a, wp, c, rows, n, head, work, groups);
      if (tail !== 0) shipped.tailDots(a, groups, rows, wt, tailPanels, c, nPad * 4, tail);
    }
  };
  const unpad = (buf: () => ArrayBuffer, p: number, width: number) => (): Int32Array => {
    const all = new Int32Array(buf(), p, m * width);
    if (width === n) return all.slice();
    const out = new Int32Array(m * n);
    for (let i = 0; i < m; i++) out.set(all.subarray(i * width, i * width + n), i * n);
    return out;
  };
  const calls: TTCase['calls'][number][] = [{ name: 'shipped', call: shippedCall, result: unpad(() => shipped.memory.buffer, sc, nPad) }];
  for (const [tag, mod] of [['', tlPlain], [' relaxed', tlRelaxed]] as const) {
    const ar = new Arena(mod);
    const a = ar.alloc(m * rowB);
    const w = ar.alloc(n * rowB);
    new Uint8Array(ar.buf, a, m * rowB).set(packedA);
    new Uint8Array(ar.buf, w, n * rowB).set(packedW);
    const wi = ar.alloc(mod.tlWBytes(n, groups));
    mod.tlPackW(w, n, groups, groups, wi);
    const width = Math.ceil(n / 16) * 16;
    const c = ar.alloc(mod.tlOutBytes(m, n));
    const spare = ar.alloc(width * 4);
    const bytesChunk = ar.alloc(chunk * rowB * 2); // a u16 table address per 4 lanes
    const bytesAll = ar.alloc(m * rowB * 2);
    mod.tlPackA(a, m, groups, groups, bytesAll);
    calls.push({
      name: `TL${tag}`,
      call: () => {
        for (let r = 0; r < m; r += chunk) {
          const rows = Math.min(chunk, m - r);
          mod.tlPackA(a + r * rowB, rows, groups, groups, bytesChunk);
          mod.tlGemm(bytesChunk, wi, c + r * width * 4, rows, n, k, groups, spare);
        }
      },
      result: unpad(() => mod.memory.buffer, c, width),
    });
    calls.push({
      name: `TL kernel${tag}`,
      call: () => {
        for (let r = 0; r < m; r += chunk) {
          const rows = Math.min(chunk, m - r);
          mod.tlGemm(bytesAll + r * rowB * 2, wi, c + r * width * 4, rows, n, k, groups, spare);
        }
      },
      result: unpad(() => mod.memory.buffer, c, width),
    });
  }
  return { m, k, n, groups, chunk, calls, reference };
}

/** Runs every contender once and throws unless its sums equal the reference. */
function checkTT(label: string, t: TTCase): void {
  for (const c of t.calls) {
    c.call();
    const got = c.result();
    for (let i = 0; i < got.length; i++) {
      if (got[i] !== t.reference[i]) {
        throw new BenchError(`${label} (M ${t.m} K ${t.k} N ${t.n}): ${c.name} gives ${got[i]} at [${Math.floor(i / t.n)}, ${i % t.n}], the shipped gemm ${t.reference[i]}`);
      }
    }
  }
}

// odd shapes and the largest sums (all codes equal), then drawn codes on the timed shapes
for (const [m, k, n] of [[13, 101, 40], [3, 1024, 17], [9, 16, 8], [6, 300, 48], [31, 200, 64], [2, 64, 128]] as const) {
  for (const [fa, fw] of [[1, 1], [-1, 1], [undefined, undefined]] as const) {
    const zeros = next() * 0.7;
    checkTT(`check ${m}×${k}×${n}`, ttCase(codes(m * k, zeros, fa), codes(n * k, zeros, fw), m, k, n));
  }
}
console.log('ternary × ternary: every contender equals the shipped gemm on the small and all-equal cases');

const ttRows: string[][] = [];
const ttNames = ['shipped', 'TL', 'TL kernel', 'TL relaxed', 'TL kernel relaxed'] as const;
for (const s of TT.filter((x) => ONLY === undefined || x.label.includes(ONLY))) {
  const zeros = 0.2 + next() * 0.4;
  const t = ttCase(codes(s.m * s.k, zeros), codes(s.n * s.k, zeros), s.m, s.k, s.n);
  checkTT(s.label, t);
  const res = timeBoth(t.calls.map((c) => repeated(c.name, c.call)));
  const macs = s.m * s.n * s.k;
  const g = (name: string, which: 'clock' | 'wall' = 'clock'): number => {
    const r = res.get(name)!;
    return (macs * r.reps) / (r[which] * 1e6);
  };
  ttRows.push([
    `${s.label} ${s.m}×${s.k}×${s.n} (chunks of ${t.chunk})`,
    ...ttNames.map((x) => fmt(g(x))),
    ...ttNames.slice(1).map((x) => `${fmt(g(x) / g('shipped'), 2)}×`),
    `${fmt(g('shipped', 'wall'))} / ${fmt(g('TL relaxed', 'wall'))}`,
  ]);
  console.error(`done ${s.label}: ${ttRows.at(-1)!.slice(1).join('  ')}`);
}
console.log(`\nternary × ternary, GMAC/s (${CLOCK === 'cpu' ? 'CPU' : 'wall'} time medians; last column on the wall clock), results equal the shipped gemm's:`);
console.log(table(['shape M×K×N', ...ttNames, ...ttNames.slice(1).map((x) => `${x} / shipped`), 'wall: shipped / TL relaxed'], ttRows));

// ---------------------------------------------------------------- 2. ternary × float

// the zoo's 2+32 model (cnn-ternary-2p32) has 26–39% zero codes per layer: a third, and two sparser runs
const TF: readonly (Shape & { zeros: number })[] = [
  { label: 'cnn-small conv2', m: 64 * 14 * 14, k: 288, n: 64, zeros: 1 / 3 },
  { label: 'cnn-small conv2', m: 64 * 14 * 14, k: 288, n: 64, zeros: 1 / 2 },
  { label: 'cnn-small conv2', m: 64 * 14 * 14, k: 288, n: 64, zeros: 2 / 3 },
  { label: 'cnn-small conv2, batch 1', m: 14 * 14, k: 288, n: 64, zeros: 1 / 3 },
  { label: 'vgg7 conv3', m: 64 * 16 * 16, k: 144, n: 32, zeros: 1 / 3 },
  { label: 'vgg7 conv5', m: 64 * 8 * 8, k: 288, n: 64, zeros: 1 / 3 },
  { label: 'vgg7 conv6', m: 64 * 8 * 8, k: 576, n: 64, zeros: 1 / 3 },
  { label: 'vgg7 fc1', m: 64, k: 1024, n: 128, zeros: 1 / 3 },
  { label: 'vgg7 fc1, batch 1', m: 1, k: 1024, n: 128, zeros: 1 / 3 },
];
const U = 2 ** -24;
const tfNames = ['float gemm', 'float gemm FMA', 'denseF32', 'decode-free'] as const;
const tfRows: string[][] = [];
for (const s of TF.filter((x) => ONLY === undefined || x.label.includes(ONLY))) {
  const { m, k, n, zeros } = s;
  const c = codes(n * k, zeros);
  // a ternary layer's two scales (w = sp for code +1, −sn for −1: decodeWeights of src/export/deployed.ts)
  const sp = floats(n).map((v) => Math.fround(0.05 + Math.abs(v)));
  const sn = floats(n).map((v) => Math.fround(0.05 + Math.abs(v)));
  const x = floats(m * k);
  const wDec = new Float32Array(n * k);
  for (let j = 0; j < n; j++) for (let q = 0; q < k; q++) wDec[j * k + q] = c[j * k + q] > 0 ? sp[j] : c[j * k + q] < 0 ? -sn[j] : 0;
  const calls: { name: string; call: () => void; result: () => Float32Array }[] = [];
  for (const [name, mod] of [['float gemm', floatPlain], ['float gemm FMA', floatFma]] as const) {
    const ar = new Arena(mod);
    const px = ar.alloc(m * k * 4);
    const pw = ar.alloc(n * k * 4);
    const py = ar.alloc(m * n * 4);
    const work = ar.alloc(mod.gemmWorkBytes());
    new Float32Array(ar.buf, px, m * k).set(x);
    new Float32Array(ar.buf, pw, n * k).set(wDec);
    calls.push({ name, call: () => mod.gemm(0, 1, m, n, k, px, k, pw, k, py, n, 0, work), result: () => new Float32Array(mod.memory.buffer, py, m * n).slice() });
  }
  {
    const ar = new Arena(shipped);
    const px = ar.alloc(m * k * 4 + 16);
    const pw = ar.alloc(n * k * 4 + 16);
    const pb = ar.alloc(n * 4);
    const py = ar.alloc(m * n * 4);
    new Float32Array(ar.buf, px, m * k).set(x);
    new Float32Array(ar.buf, pw, n * k).set(wDec);
    new Float32Array(ar.buf, pb, n).fill(0);
    calls.push({ name: 'denseF32', call: () => shipped.denseF32(px, pw, pb, m, k, n, 0, py), result: () => new Float32Array(shipped.memory.buffer, py, m * n).slice() });
  }
  {
    const mod = tlPlain;
    const ar = new Arena(mod);
    const pc = ar.alloc(n * k);
    new Int8Array(ar.buf, pc, n * k).set(c);
    const lists = ar.alloc(n * 8 + n * k * 2);
    mod.dfPackW(pc, n, k, lists);
    const psp = ar.alloc(n * 4);
    const psn = ar.alloc(n * 4);
    new Float32Array(ar.buf, psp, n).set(sp);
    new Float32Array(ar.buf, psn, n).set(sn);
    const px = ar.alloc(m * k * 4);
    new Float32Array(ar.buf, px, m * k).set(x);
    const py = ar.alloc(m * n * 4);
    const tile = ar.alloc(mod.dfTileBytes(k));
    calls.push({ name: 'decode-free', call: () => mod.dfGemm(px, m, k, lists, n, psp, psn, py, tile), result: () => new Float32Array(mod.memory.buffer, py, m * n).slice() });
  }
  // check on sampled rows (first, last, drawn) against float64
  const rowsToCheck = [0, m - 1, ...Array.from({ length: Math.min(m, 40) }, () => Math.floor(next() * m))];
  const worst = new Map<string, number>();
  for (const cl of calls) {
    cl.call();
    const y = cl.result();
    let worstRatio = 0;
    for (const i of rowsToCheck) {
      for (let j = 0; j < n; j++) {
        let exact = 0;
        let abs = 0;
        for (let q = 0; q < k; q++) {
          const p = wDec[j * k + q] * x[i * k + q];
          exact += p;
          abs += Math.abs(p);
        }
        const bound = (((k + 1) * U) / (1 - (k + 1) * U)) * abs + 2 * U * Math.abs(exact);
        const err = Math.abs(y[i * n + j] - exact);
        if (!(err <= bound)) throw new BenchError(`${s.label} (M ${m} K ${k} N ${n}): ${cl.name} gives ${y[i * n + j]} at [${i}, ${j}], float64 ${exact}, error ${err} > bound ${bound}`);
        if (bound > 0) worstRatio = Math.max(worstRatio, err / bound);
      }
    }
    worst.set(cl.name, worstRatio);
  }
  const res = timeBoth(calls.map((cl) => repeated(cl.name, cl.call)));
  const macs = m * n * k;
  const g = (name: string, which: 'clock' | 'wall' = 'clock'): number => {
    const r = res.get(name)!;
    return (macs * r.reps) / (r[which] * 1e6);
  };
  tfRows.push([
    `${s.label} ${m}×${k}×${n}, ${fmt(100 * zeros, 0)}% zeros`,
    ...tfNames.map((nm) => fmt(g(nm))),
    `${fmt(g('decode-free') / g('float gemm'), 2)}×`,
    `${fmt(g('decode-free') / g('float gemm FMA'), 2)}×`,
    `${fmt(g('decode-free') / g('denseF32'), 2)}×`,
    `${fmt(g('float gemm', 'wall'))} / ${fmt(g('decode-free', 'wall'))}`,
    tfNames.map((nm) => worst.get(nm)!.toExponential(1)).join(' / '),
  ]);
  console.error(`done ${s.label}: ${tfRows.at(-1)!.slice(1).join('  ')}`);
}
console.log(`\nternary × float (2+32), GMAC/s (${CLOCK === 'cpu' ? 'CPU' : 'wall'} time medians; wall clock where marked); last column: largest error / float32 bound per contender:`);
console.log(table(['shape M×K×N', ...tfNames, 'decode-free / float gemm', '/ float gemm FMA', '/ denseF32', 'wall: float gemm / decode-free', 'error / bound'], tfRows));
console.log(`\nuptime after: ${sh('uptime')}`);
