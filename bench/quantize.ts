/**
 * Weight quantizers at memory speed (issue #16, item 5): each kernel quantizer's forward +
 * backward over N float32 weights (default 4M; `STTN_BENCH_N`), in ns per weight and as a
 * fraction of this machine's copy bandwidth measured in the same process.
 *
 * Copy bandwidth: bytes read + written per second by `Float32Array.prototype.set` over N floats
 * (JS heap to JS heap) and by wasm `memory.copy` inside one linear memory (a 60-byte module
 * written out below). The fraction for a quantizer is (its minimal traffic / its time) / (the
 * faster copy's bandwidth), where the minimal traffic counts every input read once and every
 * output written once: forward reads the latents and writes the effective kernel, backward reads
 * the latents and g and writes the latents' gradients (STTN: 12 + 20 = 32 bytes per weight, one
 * weight = one element of W1; sign/TWN: 8 + 12; TTQ: 8 + 12).
 *
 * Contenders, through the layers' bound quantizers (`kernelQuantizer(id).forward/backward`):
 * wasm (the fused kernels, called outside a resident scope: operands copied in, outputs copied
 * out into new arrays); wasm, resident (the same inside `resident()`, the latents and g already
 * views on wasm memory: read in place, outputs left there as views; only the quantizer calls
 * are timed, not making the views); wasm, resident, weights copied in (the training step's case:
 * g is a view, the latents are the caller's arrays); wasm-generic (the same backend without the
 * kernels), cpu32; and `sttn/neutral` (float32: the fused kernels, with new output arrays or with
 * `out` arrays given once; float64: the reference) — its forward writes every output (STTN: W̃1,
 * W̃2, merged, codes: 12 more bytes per weight than the minimal traffic counted), and its
 * gradient repeats the forward's reduction (the API is stateless). Each
 * run's CPU time (user + system of this process) and wall time are both recorded; medians of 5
 * rounds after 1 warm-up, round-robin. One thread everywhere.
 *
 * Then where the time goes: each kernel pass alone over data already in wasm memory (the plain
 * build instantiated here), the copy of one 16 MB operand into wasm memory, a fresh output array
 * (allocation + copy out), and the floor under bit-identity with cpu32: one float64 add chain in
 * memory order (qSumAbs over one group: a dependent add per element).
 *
 * Not a test: nothing here asserts. `npx tsx bench/quantize.ts`.
 */
import { createCpuBackend } from '../backends/cpu.js';
import { createWasmBackend } from '../backends/wasm.js';
import * as neutral from '../backends/neutral.js';
import type { Backend } from '../src/backend.js';
import { orThrow } from '../src/codec.js';
import { kernelQuantizer } from '../src/quantizers/index.js';
import type { Tensor } from '../src/tensor.js';
import { readFileSync } from 'node:fs';
import type { QuantizeExports } from '../backends/wasm/quantize.js';
import { fmt, machine, median, randomF32, table } from './common.js';

const N = Number(process.env.STTN_BENCH_N ?? 4 * 1024 * 1024);
const ROUNDS = Number(process.env.STTN_BENCH_ROUNDS ?? 5);
const shape = [N / 1024, 1024];

interface Timed {
  cpu: number;
  wall: number;
}

/** Round-robin medians; a run that returns its own timing (of the part that counts) is taken at its word. */
function time(runs: Map<string, () => Timed | void>, rounds = ROUNDS): Map<string, Timed> {
  for (const f of runs.values()) f();
  const t = new Map<string, { cpu: number[]; wall: number[] }>([...runs.keys()].map((k) => [k, { cpu: [], wall: [] }]));
  for (let r = 0; r < rounds; r++) {
    for (const [k, f] of runs) {
      const u0 = process.cpuUsage();
      const w0 = performance.now();
      const own = f();
      const w1 = performance.now();
      const u1 = process.cpuUsage(u0);
      t.get(k)!.cpu.push(own ? own.cpu : (u1.user + u1.system) / 1000);
      t.get(k)!.wall.push(own ? own.wall : w1 - w0);
    }
  }
  return new Map([...t].map(([k, v]) => [k, { cpu: median(v.cpu), wall: median(v.wall) }]));
}

/** Times `f` alone (ms of CPU and wall). */
function timed(f: () => void): Timed {
  const u0 = process.cpuUsage();
  const w0 = performance.now();
  f();
  const wall = performance.now() - w0;
  const u1 = process.cpuUsage(u0);
  return { cpu: (u1.user + u1.system) / 1000, wall };
}

// ---- copy bandwidth -----------------------------------------------------------------------------

/** (module (memory (export "m") 1) (func (export "c") (param i32 i32 i32) local.get 0 local.get 1 local.get 2 memory.copy)) */
const COPY_WASM = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x07, 0x01, 0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x00, // type: (i32 i32 i32) -> ()
  0x03, 0x02, 0x01, 0x00, // func 0 : type 0
  0x05, 0x03, 0x01, 0x00, 0x01, // memory min 1
  0x07, 0x09, 0x02, 0x01, 0x6d, 0x02, 0x00, 0x01, 0x63, 0x00, 0x00, // export "m" memory 0, "c" func 0
  0x0a, 0x0e, 0x01, 0x0c, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfc, 0x0a, 0x00, 0x00, 0x0b,
]);
const copyMod = new WebAssembly.Instance(new WebAssembly.Module(COPY_WASM)).exports as { m: WebAssembly.Memory; c: (d: number, s: number, n: number) => void };
copyMod.m.grow(Math.ceil((2 * N * 4) / 65536));
const src = randomF32(N, 7);
const dst = new Float32Array(N);
const copies = time(new Map([
  ['Float32Array.set', () => dst.set(src)],
  ['wasm memory.copy', () => copyMod.c(N * 4, 0, N * 4)],
]), 9);
const copyBytes = 2 * N * 4;
const bw = (ms: number): number => copyBytes / (ms * 1e6); // GB/s
const bestCopy = Math.max(...[...copies.values()].map((t) => bw(t.wall)));

// ---- quantizers -----------------------------------------------------------------------------------

const cpu32 = createCpuBackend('float32');
const wasm = await createWasmBackend({ kernel: 'plain' });
const generic: Backend = { ...wasm, quantizerKernels: undefined } as unknown as Backend;
const w1: Tensor = { shape, data: randomF32(N, 1) };
const w2: Tensor = { shape, data: randomF32(N, 2) };
const g: Tensor = { shape, data: randomF32(N, 3).map((v) => v * 1e-3) };
const w1d = { shape, data: Float64Array.from(w1.data) };
const w2d = { shape, data: Float64Array.from(w2.data) };
const gd = { shape, data: Float64Array.from(g.data) };

const BYTES: Record<string, number> = { sttn: 32, sign: 20, twn: 20, ttq: 20 };

const paramsOf = (id: string): Record<string, Tensor> =>
  id === 'sttn' ? { w1, w2 } : id === 'ttq' ? { w: w1, wp: { shape: [], data: new Float32Array([1]) }, wn: { shape: [], data: new Float32Array([1]) } } : { w: w1 };

const bound = (id: string, B: Backend) => {
  const q = orThrow(kernelQuantizer(id));
  const p = paramsOf(id);
  return () => {
    const f = q.forward(B, p);
    q.backward(B, p, f.res, g);
  };
};

/**
 * Inside one resident scope: g (and with `weights`, the latents) made views on wasm memory
 * first, then only the forward + backward timed; their outputs stay views.
 */
const residentRun = (id: string, weights: boolean) => {
  const q = orThrow(kernelQuantizer(id));
  const p = paramsOf(id);
  return (): Timed =>
    wasm.resident!(() => {
      const view = (t: Tensor): Tensor => wasm.scalar('mul', t, 1);
      const pp = weights ? Object.fromEntries(Object.entries(p).map(([k, t]) => [k, view(t)])) : p;
      const gv = view(g);
      return timed(() => {
        const f = q.forward(wasm, pp);
        q.backward(wasm, pp, f.res, gv);
      });
    });
};

const rows: string[][] = [];
const slowOk = process.env.STTN_BENCH_SLOW !== '0';
for (const id of ['sttn', 'sign', 'twn', 'ttq']) {
  const runs = new Map<string, () => Timed | void>([['wasm (fused)', bound(id, wasm)]]);
  // resident mode needs a shared memory (Node has one): without it these two would be the copying path again
  if (wasm.resident) {
    runs.set('wasm, resident', residentRun(id, true));
    runs.set('wasm, resident, weights copied in', residentRun(id, false));
  }
  runs.set('wasm (generic)', bound(id, generic));
  if (slowOk) runs.set('cpu32', bound(id, cpu32));
  // sttn/neutral: forward with all its outputs (STTN: W̃1, W̃2, merged, codes; the others: y, codes), then gradient
  const neutralRun = (f32: boolean, out: Record<string, Float32Array> | undefined) => {
    const [a, b, gg] = f32 ? [w1, w2, g] : [w1d, w2d, gd];
    const o = out ?? {};
    if (id === 'sttn') {
      return () => {
        neutral.sttn.forward({ w1: a, w2: b }, {}, out && { w1q: o.w1q, w2q: o.w2q, merged: o.merged, codes: o.codes });
        neutral.sttn.gradient({ w1: a, w2: b }, { g1: gg, g2: gg }, {}, out && { w1: o.w1, w2: o.w2 });
      };
    }
    const q = neutral[id as 'sign' | 'twn' | 'ttq'];
    return () => {
      q.forward({ w: a }, {}, out && { y: o.y, codes: o.codes });
      q.gradient({ w: a }, { g: gg }, {}, out && { w: o.w });
    };
  };
  runs.set('neutral float32', neutralRun(true, undefined));
  runs.set('neutral float32, out', neutralRun(true, Object.fromEntries(['w1q', 'w2q', 'merged', 'codes', 'y', 'w', 'w1', 'w2'].map((k) => [k, new Float32Array(N)]))));
  if (slowOk) runs.set('neutral float64', neutralRun(false, undefined));
  const t = time(runs, id === 'sttn' ? ROUNDS : Math.max(3, ROUNDS - 2));
  const fused = t.get('wasm (fused)')!;
  for (const [name, v] of t) {
    const ns = (v.wall * 1e6) / N;
    const gbs = BYTES[id] / ns;
    rows.push([id, name, fmt((v.cpu * 1e6) / N, 2), fmt(ns, 2), fmt(gbs, 2), fmt(gbs / bestCopy, 3), name === 'wasm (fused)' ? '1' : fmt(v.wall / fused.wall, 1) + '×']);
  }
}

console.log(`# Weight quantizers, forward + backward over ${N} float32 weights (one thread)\n`);
console.log(machine());
console.log('\nCopy bandwidth (read + write, wall clock, median of 9):\n');
console.log(table(['copy', 'ms (cpu)', 'ms (wall)', 'GB/s'], [...copies].map(([k, v]) => [k, fmt(v.cpu, 2), fmt(v.wall, 2), fmt(bw(v.wall), 1)])));
console.log(`\nFraction of copy bandwidth = (minimal bytes per weight / wall ns per weight) / ${fmt(bestCopy, 1)} GB/s (the faster copy).\n`);
console.log(table(['quantizer', 'path', 'ns/weight (cpu)', 'ns/weight (wall)', 'GB/s moved', 'fraction of copy bw', 'wall vs fused'], rows));

// ---- where the time goes ----------------------------------------------------------------------------

const mod = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(new URL('../build/wasm/sttn-simd.wasm', import.meta.url))), {
  env: { abort: () => { throw new Error('abort'); } },
}).exports as unknown as QuantizeExports;
const at0 = Math.ceil(mod.heapBase() / 64) * 64;
const slot = (i: number): number => at0 + i * N * 4;
mod.memory.grow(Math.ceil((slot(7) + 4096 - mod.memory.buffer.byteLength) / 65536));
const mview = (i: number): Float32Array => new Float32Array(mod.memory.buffer, slot(i), N);
mview(0).set(w1.data);
mview(1).set(w2.data);
mview(2).set(g.data);
const S = slot(6); // per-group scalars: α, s, Δ, Wp, Wn = 0.5; enough for every kernel below
new Float32Array(mod.memory.buffer, S, 16).fill(0.5);
const passes = new Map<string, () => void>([
  ['floor: one float64 add chain (qSumAbs, 1 group)', () => mod.qSumAbs(S, slot(0), 1, N)],
  ['qSumAbs2: Σ|W1|, Σ|W2| (2 chains, 1 pass)', () => mod.qSumAbs2(S, slot(0), slot(1), 1, N, 0)],
  ['qSumGradSign: Σ g·B1, Σ g·B2 (2 chains)', () => mod.qSumGradSign(S, slot(0), slot(2), slot(1), slot(2), 1, N, 0)],
  ['qSumGradSign: Σ g·sign(W) (1 chain)', () => mod.qSumGradSign(S, slot(0), slot(2), 0, 0, 1, N, 0)],
  ['qTwnSums: |I|, Σ_I |W| (2 chains)', () => mod.qTwnSums(S, slot(0), S, 1, N)],
  ['qMaxAbs (TTQ)', () => void mod.qMaxAbs(slot(0), N)],
  ['qSttnMap (kernel only)', () => mod.qSttnMap(slot(3), 0, 0, 0, slot(0), slot(1), S, 1, N, 0)],
  ['qBinaryGrad2 (STTN dW1, dW2)', () => void mod.qBinaryGrad2(slot(3), slot(4), slot(0), slot(1), slot(2), slot(2), S, S, 1, 1, N)],
  ['qBinaryGrad (sign dW)', () => void mod.qBinaryGrad(slot(3), slot(0), slot(2), S, S, 1, 1, N)],
  ['qSignMap', () => mod.qSignMap(slot(3), 0, slot(0), S, 1, N)],
  ['qTwnMap', () => mod.qTwnMap(slot(3), 0, slot(0), S, S, 1, N)],
  ['qTtqMap', () => mod.qTtqMap(slot(3), 0, slot(0), 0.05, S, S, 1, N)],
  ['qTtqSumsGrad (TTQ backward, 2 chains + map)', () => void mod.qTtqSumsGrad(S, slot(3), slot(0), slot(2), 0.05, S, S, 1, N)],
  ['copy one operand in (Float32Array.set into wasm)', () => mview(5).set(w1.data)],
  ['one output out (new Float32Array + set)', () => new Float32Array(N).set(mview(3))],
  ['one output into a given array (set)', () => dst.set(mview(3))],
]);
const pt = time(passes, 9);
console.log('\nWhere the time goes: each pass alone over 4M weights already in wasm memory, and the copies around it (median of 9, wall):\n');
console.log(table(['pass', 'ns/weight (cpu)', 'ns/weight (wall)'], [...pt].map(([k, v]) => [k, fmt((v.cpu * 1e6) / N, 3), fmt((v.wall * 1e6) / N, 3)])));
