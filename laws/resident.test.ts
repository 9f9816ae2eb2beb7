/**
 * Resident mode of the wasm backend (`resident(f)`, src/backend.ts; backends/wasm.ts): inside it
 * results stay in wasm memory and are read in place, and the scope copies out what its result
 * holds. Only where the bytes live changes, so the claim is bit-identity, not a tolerance.
 *
 * - training steps (a conv → batch norm → relu → pool → STTN conv → dense model, its input
 *   quantizer fp or ternary; Adam or SGD; data and run seeds drawn) give the parameters, batch-norm
 *   state, optimizer slots and every step's loss of the copying backend (`resident: false`) bit for
 *   bit (±0 told apart), at 1 and at 2 threads;
 * - no tensor of the state that train() returns or hands to onStep is a view on wasm memory;
 * - inside `resident()` the backend's results are views on wasm memory, outside ordinary arrays;
 *   its result comes back with every resident array copied out (nested plain objects and arrays),
 *   other values untouched; a nested `resident()` runs inside the outer one;
 * - a step that throws (TrainingDiverged from a NaN parameter) or any throw inside `resident()`
 *   (an async `f` is refused with a ConfigError) leaves the backend usable and its arena reset: the next scope lays its first result where a
 *   fresh scope does, and a later run equals the copying backend's;
 * - a result that would rise past `residentBytes` is copied out (the scope keeps what fits, and
 *   training with any budget still equals the copying backend); a budget past RESIDENT_MAX (the
 *   2 GiB shared memory less working room) or not a whole number ≥ 0 is a ConfigError; a call too
 *   large for wasm memory (in or out of a scope, shared or unshared build) is a ConfigError naming
 *   the bytes it needs and `residentBytes`, not a RangeError, and the backend goes on;
 * - a resident result survives the memory growing within its scope (a ~12 MB operand), and reads
 *   back the copying bits;
 * - `resident()`'s result is copied once per object (a tensor held twice comes back as one copy,
 *   cycles kept);
 * - an async `f`, outer or nested, is refused with a ConfigError and its abandoned promise
 *   raises no unhandled rejection;
 * - the steps' other calls split over threads (element-wise maps of ≥ 2¹⁷ elements into runs,
 *   max pooling and its gradient by images, reductions of ≥ 2¹⁷ elements by rows or by columns,
 *   over every axis) give the values of one thread bit for bit (NaN,
 *   ±0 and ±∞ among them), at 2 and 3 threads;
 * - resident mode is on by default, off with `resident: false`, and asking for it where it
 *   cannot run (`kernel: 'relaxed'`, `auto`, a source without a threads build, no
 *   SharedArrayBuffer) is a ConfigError naming createWasmBackend.resident; not asked for, the
 *   copying backend serves there.
 */
import fc from 'fast-check';
import { createWasmBackend, RESIDENT_MAX, type WasmBackend } from '../backends/wasm.js';
import { ConfigError } from '../src/errors.js';
import type { Model } from '../src/models/model.js';
import type { Tensor } from '../src/tensor.js';
import type { Tree } from '../src/train/optim.js';
import { initTraining, train, TrainingDiverged, type TrainState } from '../src/train/train.js';
import { holdsAsync } from './async-law.js';
import { example, law, throwsWith } from './law.js';
import { cfgOf, sameTree, tiny, toyData } from './toy.js';

const on1 = await createWasmBackend();
const off1 = await createWasmBackend({ resident: false });
const on2 = await createWasmBackend({ threads: 2 });
const on3 = await createWasmBackend({ threads: 3 });
const off2 = await createWasmBackend({ threads: 2, resident: false });

const tinyTernary = (): Model => tiny({ inputQuantizer: 'ternary' });

const onWasm = (d: ArrayLike<number>): boolean => ArrayBuffer.isView(d) && d.buffer instanceof SharedArrayBuffer;
const treeOffWasm = (t: Tree): boolean => Object.values(t).every((ps) => Object.values(ps).every((v) => !onWasm(v.data)));
const stateOffWasm = (s: TrainState): boolean =>
  treeOffWasm(s.params) && treeOffWasm(s.state) && Object.values(s.optimizer.slots).every(treeOffWasm);
const sameSlots = (a: TrainState, b: TrainState): boolean => {
  const ka = Object.keys(a.optimizer.slots);
  return ka.length === Object.keys(b.optimizer.slots).length && ka.every((k) => b.optimizer.slots[k] !== undefined && sameTree(a.optimizer.slots[k], b.optimizer.slots[k]));
};

/** A run's final state, every step's loss (Object.is-comparable), and whether every state onStep saw was off wasm memory. */
async function run(B: WasmBackend, m: Model, dataSeed: number, raw: object): Promise<{ s: TrainState; losses: number[]; seenOff: boolean }> {
  const data = toyData(40, dataSeed);
  const cfg = cfgOf({ epochs: 2, batchSize: 16, augmentPad: 1, ...raw });
  const losses: number[] = [];
  let seenOff = true;
  const r = await train(B, m, data, cfg, initTraining(B, m, cfg), {
    onStep: (info, s) => {
      losses.push(info.loss);
      seenOff &&= stateOffWasm(s);
    },
  });
  return { s: r.state, losses, seenOff };
}

const sameRun = (a: Awaited<ReturnType<typeof run>>, b: Awaited<ReturnType<typeof run>>): boolean =>
  sameTree(a.s.params, b.s.params) && sameTree(a.s.state, b.s.state) && sameSlots(a.s, b.s) && a.s.step === b.s.step &&
  a.s.optimizer.step === b.s.optimizer.step && a.losses.length === b.losses.length && a.losses.every((l, i) => Object.is(l, b.losses[i]));

example('resident mode is on by default and off with resident: false, at 1 and 2 threads', () =>
  typeof on1.resident === 'function' && typeof on2.resident === 'function' && off1.resident === undefined && off2.resident === undefined && on2.threads === 2);

example('training steps with resident mode give the params, state, optimizer slots and losses of the copying backend bit for bit, at 1 and 2 threads (seeds, model, optimizer drawn)', () =>
  holdsAsync(
    fc.record({ dataSeed: fc.nat(1 << 20), seed: fc.nat(1 << 20), ternary: fc.boolean(), kind: fc.constantFrom('adam', 'sgd'), budget: fc.nat(40000) }),
    async ({ dataSeed, seed, ternary, kind, budget }) => {
      const m = ternary ? tinyTernary() : tiny();
      const raw = { seed, optimizer: { kind } };
      const [a1, b1, a2, b2] = [await run(on1, m, dataSeed, raw), await run(off1, m, dataSeed, raw), await run(on2, m, dataSeed, raw), await run(off2, m, dataSeed, raw)];
      // a step that outgrows residentBytes keeps what fits and copies the rest
      const small = await createWasmBackend({ residentBytes: budget });
      return sameRun(a1, b1) && sameRun(a2, b2) && sameRun(a1, a2) && sameRun(await run(small, m, dataSeed, raw), b1) && a1.losses.length === 6;
    },
    6,
  ));

example('no tensor of the state train() returns or hands to onStep is a view on wasm memory (data and run seeds drawn)', () =>
  holdsAsync(
    fc.record({ d1: fc.nat(1 << 20), s1: fc.nat(1 << 20), d2: fc.nat(1 << 20), s2: fc.nat(1 << 20) }),
    async ({ d1, s1, d2, s2 }) => {
      const r = await run(on1, tiny(), d1, { seed: s1 });
      const r2 = await run(on2, tinyTernary(), d2, { seed: s2 });
      return r.seenOff && stateOffWasm(r.s) && r2.seenOff && stateOffWasm(r2.s);
    },
    2,
  ));

const t = (shape: number[], values: number[]): Tensor => ({ shape, data: Float32Array.from(values) });

example('inside resident() results are views on wasm memory, read back in place; its result is copied out, other values untouched; nested scopes run inside', () => {
  const x = t([2, 3], [1, -2, 3, -4, 5, -6]);
  const marker = new Float32Array([7]);
  let insideOnWasm = false;
  let nestedOnWasm = false;
  const out = on1.resident!(() => {
    const y = on1.unary('neg', x);
    const z = on1.binary('mul', y, y);
    // the fused quantizer kernels' activation-sized one keeps its output too
    const ste = on1.quantizerKernels.steGrad(y, z, 4).x;
    const w = on1.matmul(z, on1.unary('abs', y), { transB: true });
    const n = on1.resident!(() => on1.scalar('add', w, 1));
    insideOnWasm = onWasm(y.data) && onWasm(z.data) && onWasm(w.data) && onWasm(ste.data);
    nestedOnWasm = onWasm(n.data);
    return { list: [y, { z }], w, n, ste, k: 3, marker, text: 'a' };
  });
  const outside = on1.unary('neg', x);
  const ref = off1.matmul(off1.binary('mul', off1.unary('neg', x), off1.unary('neg', x)), off1.unary('abs', off1.unary('neg', x)), { transB: true });
  const same = (a: Tensor, b: Tensor): boolean => a.data.length === b.data.length && a.data.every((v, i) => Object.is(v, b.data[i]));
  return insideOnWasm && nestedOnWasm && !onWasm(outside.data) &&
    [out.list[0] as Tensor, (out.list[1] as { z: Tensor }).z, out.w, out.n].every((r) => !onWasm(r.data)) &&
    same(out.w, ref) && same(out.n, off1.scalar('add', ref, 1)) && same(out.list[0] as Tensor, off1.unary('neg', x)) && !onWasm(out.ste.data) &&
    same(out.ste, off1.quantizerKernels.steGrad(off1.unary('neg', x), off1.binary('mul', off1.unary('neg', x), off1.unary('neg', x)), 4).x) &&
    out.k === 3 && out.marker === marker && out.text === 'a';
});

example('results that would rise past residentBytes are copied out, those below stay views', async () => {
  const B = await createWasmBackend({ residentBytes: 3 * 4096 });
  const x = t([1000], new Array<number>(1000).fill(2));
  const kinds = B.resident!(() => {
    const ys = [B.unary('neg', x)];
    for (let i = 0; i < 4; i++) ys.push(B.unary('neg', ys[i]));
    return ys.map((y) => onWasm(y.data) && y.data.every((v) => v === (ys.indexOf(y) % 2 === 0 ? -2 : 2)));
  });
  const bad = await createWasmBackend({ residentBytes: -1 }).then(() => undefined, (e: unknown) => e);
  return kinds.join() === 'true,true,true,false,false' && bad instanceof ConfigError && bad.message.includes('createWasmBackend.residentBytes');
});

/** Where a fresh scope lays its first result. */
const firstOffset = (B: WasmBackend): number => B.resident!(() => B.unary('neg', t([1000], new Array<number>(1000).fill(1))).data.byteOffset);

example('a step that throws inside resident() leaves the backend usable and its arena reset', async () => {
  const m = tiny();
  const data = toyData(16, 1);
  const cfg = cfgOf({ epochs: 1, batchSize: 8, augmentPad: 0 });
  let ok = true;
  for (const B of [on1, on2]) {
    const fresh = firstOffset(B);
    const s = initTraining(B, m, cfg);
    const poisoned: TrainState = { ...s, params: { ...s.params, l06_dense: { ...s.params.l06_dense, b: t([3], [NaN, 0, 0]) } } };
    let diverged = false;
    try {
      await train(B, m, data, cfg, poisoned);
    } catch (e) {
      diverged = e instanceof TrainingDiverged && e.step === 0;
    }
    const afterDiverged = firstOffset(B);
    const threw = throwsWith(() => B.resident!(() => {
      for (let i = 0; i < 5; i++) B.unary('neg', t([4096], new Array<number>(4096).fill(i)));
      throw new Error('thrown mid-step');
    }), Error, 'thrown mid-step');
    const asyncRefused = throwsWith(() => B.resident!(async () => B.unary('neg', t([2], [1, 2]))), ConfigError, 'resident(f)', 'synchronous');
    const afterThrow = firstOffset(B);
    const outside = B.unary('abs', t([2], [-1, 2]));
    // afterwards it still trains as the copying backend does (data and run seeds drawn)
    const same = await holdsAsync(
      fc.record({ dataSeed: fc.nat(1 << 20), seed: fc.nat(1 << 20) }),
      async ({ dataSeed, seed }) => sameRun(await run(B, m, dataSeed, { seed }), await run(B === on1 ? off1 : off2, m, dataSeed, { seed })),
      1,
    );
    ok &&= diverged && threw && asyncRefused && afterDiverged === fresh && afterThrow === fresh && !onWasm(outside.data) && outside.data[0] === 1 && same;
  }
  return ok;
});

example("resident: true where it cannot run (kernel 'relaxed', a source without a threads build) is a ConfigError naming createWasmBackend.resident", async () => {
  for (const opts of [{ kernel: 'relaxed' as const, resident: true }, { kernel: 'auto' as const, resident: true }, { source: { plain: new URL('../build/wasm/sttn-simd.wasm', import.meta.url) }, resident: true }]) {
    try {
      await createWasmBackend(opts);
      return false;
    } catch (e) {
      if (!(e instanceof ConfigError) || !e.message.includes('createWasmBackend.resident')) return false;
    }
  }
  // where it cannot run and was not asked for, the copying backend serves ('auto' always loads: relaxed or plain)
  return (await createWasmBackend({ kernel: 'auto' })).resident === undefined;
});

example('without SharedArrayBuffer (a page without cross-origin isolation) the backend copies, and resident: true is a ConfigError', async () => {
  const g = globalThis as { SharedArrayBuffer?: unknown };
  const saved = Object.getOwnPropertyDescriptor(g, 'SharedArrayBuffer')!;
  delete g.SharedArrayBuffer;
  try {
    const B = await createWasmBackend();
    const y = B.unary('neg', t([3], [1, -2, 0]));
    const asked = await createWasmBackend({ resident: true }).then(() => undefined, (e: unknown) => e);
    return B.resident === undefined && !(y.data.buffer instanceof (saved.value as typeof SharedArrayBuffer)) && Object.is(y.data[2], -0) && asked instanceof ConfigError &&
      asked.message.includes('createWasmBackend.resident') && asked.message.includes('SharedArrayBuffer');
  } finally {
    Object.defineProperty(g, 'SharedArrayBuffer', saved);
  }
});

example('a resident result survives the memory growing inside the same scope (a ~12 MB operand): reused after, it gives the copying bits', async () => {
  const B = await createWasmBackend(); // a fresh memory: 2 MiB
  const x = t([1000], Array.from({ length: 1000 }, (_, i) => i / 7 - 60));
  const big = { shape: [3 << 20], data: new Float32Array(3 << 20).fill(-0.5) };
  const out = B.resident!(() => {
    const y = B.unary('neg', x);
    const grown = B.unary('abs', big);
    const z = B.binary('mul', y, y);
    // a view's buffer is the memory's buffer when it was made: a new one means the memory grew
    return { y, z, grownOk: grown.data[(3 << 20) - 1] === 0.5 && onWasm(y.data) && grown.data.buffer !== y.data.buffer };
  });
  const y0 = off1.unary('neg', x);
  return out.grownOk && bits(out.y, y0) && bits(out.z, off1.binary('mul', y0, y0));
});

example('the result of resident() is copied once per object: a tensor held twice comes back as one copy, and cycles are kept', () => {
  const x = t([2, 2], [1, -2, 3, -4]);
  type Cyc = { y: Tensor; again: Tensor; list: unknown[]; self?: Cyc };
  const out = on1.resident!(() => {
    const y = on1.unary('neg', x);
    const list: unknown[] = [y];
    list.push(list);
    const o: Cyc = { y, again: y, list };
    o.self = o;
    return o;
  });
  return out.y === out.again && out.self === out && out.list[0] === out.y && out.list[1] === out.list && !onWasm(out.y.data) &&
    bits(out.y, off1.unary('neg', x));
});

example('an async f is refused with a ConfigError, outer or nested, and its abandoned promise raises no unhandled rejection', async () => {
  const unhandled: unknown[] = [];
  const listen = (e: unknown): void => void unhandled.push(e);
  process.on('unhandledRejection', listen);
  try {
    const fresh = firstOffset(on1);
    const outer = throwsWith(() => on1.resident!(async () => {
      throw new Error('async body');
    }), ConfigError, 'resident(f)', 'synchronous');
    // the outer f drops the inner promise: only the nested scope can see it
    const nested = throwsWith(() => on1.resident!(() => {
      void on1.resident!(async () => {
        await null;
        throw new Error('nested async body');
      });
      return 1;
    }), ConfigError, 'resident(f)', 'synchronous');
    await new Promise((r) => setTimeout(r, 20));
    return outer && nested && unhandled.length === 0 && firstOffset(on1) === fresh;
  } finally {
    process.off('unhandledRejection', listen);
  }
});

example('a residentBytes past the memory minus working room, or not a whole number ≥ 0, is a ConfigError naming it', async () => {
  const refused = async (residentBytes: number): Promise<boolean> => {
    const e = await createWasmBackend({ residentBytes }).then(() => undefined, (x: unknown) => x);
    return e instanceof ConfigError && e.message.includes('createWasmBackend.residentBytes');
  };
  return (await refused(2 ** 31)) && (await refused(RESIDENT_MAX + 1)) && (await refused(1.5)) && (await refused(-1)) && (await refused(NaN)) &&
    typeof (await createWasmBackend({ residentBytes: RESIDENT_MAX })).resident === 'function';
});

example('a call too large for wasm memory (in or out of a scope, shared or not) is a ConfigError naming the bytes asked and residentBytes, and the backend goes on', () => {
  // a 40000 × 40000 float32 product: 6.4 GB, past the 2 GiB shared and 4 GiB unshared maximum
  const a = { shape: [40000, 1], data: new Float32Array(40000).fill(1) };
  const fresh = firstOffset(on1);
  const named = (f: () => unknown, rb: string): boolean => {
    try {
      f();
      return false;
    } catch (e) {
      const needs = /needs (\d+) bytes/.exec((e as Error).message);
      return e instanceof ConfigError && e.message.startsWith('wasm memory:') && e.message.includes(`residentBytes ${rb}`) && needs !== null && Number(needs[1]) >= 6.4e9;
    }
  };
  const ok = named(() => on1.matmul(a, a, { transB: true }), String(2 ** 30)) &&
    named(() => off1.matmul(a, a, { transB: true }), 'off') &&
    named(() => on1.resident!(() => {
      on1.unary('neg', t([1000], new Array<number>(1000).fill(1)));
      return on1.matmul(a, a, { transB: true });
    }), String(2 ** 30));
  const y = on1.matmul(t([1, 2], [1, 2]), t([2, 1], [3, 4]));
  return ok && y.data[0] === 11 && firstOffset(on1) === fresh;
});

/** n float32 values from `seed`, with NaN, ±0, ±∞ and exact ties sprinkled in. */
const values = (n: number, seed: number): Float32Array => {
  const d = new Float32Array(n);
  let r = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    r = (Math.imul(r, 1664525) + 1013904223) >>> 0;
    const k = r % 97;
    d[i] = k === 0 ? NaN : k === 1 ? -0 : k === 2 ? Infinity : k === 3 ? -Infinity : k < 10 ? 0.5 : r / 2 ** 31 - 1;
  }
  return d;
};
const bits = (a: Tensor, b: Tensor): boolean =>
  a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]) && a.data.length === b.data.length && a.data.every((v, i) => Object.is(v, b.data[i]));

law('element-wise maps of 2^17 elements or more split over 2 and 3 threads equal 1 thread bit for bit', [
  fc.integer({ min: (1 << 17) + 40, max: (1 << 20) + (3 << 16) }), fc.integer({ min: 1, max: 40 }), fc.nat(), fc.double({ min: -2, max: 2, noNaN: true }),
], (n, c, seed, s) => {
  const shape = [Math.floor(n / c), c];
  const m = shape[0] * c;
  const a = { shape, data: values(m, seed) };
  const b = { shape, data: values(m, seed + 1) };
  const cond = { shape, data: values(m, seed + 2) };
  const row = { shape: [c], data: values(c, seed + 3) };
  const col = { shape: [shape[0]], data: values(shape[0], seed + 4) };
  const one = { shape: [1], data: Float32Array.of(0.25) };
  const calls: ((B: WasmBackend) => Tensor)[] = [
    ...(['neg', 'abs', 'sign', 'square', 'sqrt', 'rsqrt', 'relu', 'step', 'reciprocal'] as const).map((op) => (B: WasmBackend) => B.unary(op, a)),
    ...(['add', 'mul', 'max', 'min', 'clamp', 'gt', 'lt', 'window', 'ternarize', 'ternarizeOfficial'] as const).map((op) => (B: WasmBackend) => B.scalar(op, a, op === 'clamp' || op === 'window' ? Math.abs(s) : s)),
    ...(['add', 'sub', 'mul', 'div', 'max', 'min', 'gt'] as const).flatMap((op) => [
      (B: WasmBackend) => B.binary(op, a, b),
      (B: WasmBackend) => B.binary(op, a, one),
      (B: WasmBackend) => B.binary(op, a, row, 1),
      (B: WasmBackend) => B.binary(op, a, col, 0),
    ]),
    (B) => B.axpy(a, s, b),
    (B) => B.select(cond, a, b),
  ];
  return calls.every((f) => {
    const ref = f(off1);
    return bits(f(on2), ref) && bits(f(on3), ref) && bits(on2.resident!(() => f(on2)), ref);
  });
}, { numRuns: 4 });

law('max pooling and its gradient split over 2 and 3 threads by images equal 1 thread bit for bit', [
  fc.integer({ min: 2, max: 6 }), fc.integer({ min: 20, max: 36 }), fc.integer({ min: 16, max: 40 }), fc.constantFrom(1, 2, 3), fc.constantFrom(1, 2), fc.nat(),
], (n, h, c, k, st, seed) => {
  const x = { shape: [n, h, h, c], data: values(n * h * h * c, seed) };
  const opts = { size: [k, k] as [number, number], strides: [st, st] as [number, number] };
  const y = off1.maxPool(x, opts);
  const dy = { shape: y.shape, data: values(y.data.length, seed + 1) };
  const dx = off1.maxPoolGrad(x, dy, opts);
  return [on2, on3].every((B) => bits(B.maxPool(x, opts), y) && bits(B.maxPoolGrad(x, dy, opts), dx));
}, { numRuns: 10 });

/**
 * Finite data on which a float64 sum depends on its order: small float32 values, and along the
 * reduced axis of each output a few pairs +2^30 (first half) and −2^30 (second half), which
 * cancel exactly in the total but carry the running sum far from the result in between, so the
 * small values' rounding depends on where each partial sum starts.
 */
const cancelling = (shape: readonly number[], axis: number | null, seed: number): Float32Array => {
  const n = shape.reduce((x, y) => x * y, 1);
  const d = values(n, seed).map((v) => (Number.isFinite(v) ? v : 0.25));
  const len = axis === null ? n : shape[axis];
  const inner = axis === null ? 1 : shape.slice(axis + 1).reduce((x, y) => x * y, 1);
  const outer = n / (len * inner);
  let r = (seed ^ 0x9e3779b9) >>> 0 || 1;
  const next = (m: number): number => ((r = (Math.imul(r, 1664525) + 1013904223) >>> 0), r % m);
  if (len < 2) return d;
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++)
      for (let k = 0; k < 3; k++) {
        const p = next(len >> 1);
        const q = (len >> 1) + next(len - (len >> 1));
        d[(o * len + p) * inner + i] = 2 ** 30;
        d[(o * len + q) * inner + i] = -(2 ** 30);
      }
  return d;
};

law('sums of 2^17 elements or more whose value depends on the order of addition: 2 and 3 threads equal 1 thread bit for bit (no split along a sum)', [
  fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 700 }), fc.integer({ min: 1, max: 70 }), fc.nat(),
], (a, b, c, seed) => {
  const len = Math.ceil((1 << 17) / (a * c)) + (b % 7);
  const cases: [readonly number[], number | null][] = [[[a, len, c], 0], [[a, len, c], 1], [[a, len, c], 2], [[a, len, c], null], [[a * len, c], 0], [[a * len, c], 1]];
  return cases.every(([shape, axis]) => {
    const t = { shape: [...shape], data: cancelling(shape, axis, seed) };
    return (['sum', 'sumAbs', 'sumSquares'] as const).every((op) => {
      const ref = off1.reduce(op, t, axis);
      return bits(on2.reduce(op, t, axis), ref) && bits(on3.reduce(op, t, axis), ref);
    });
  });
}, { numRuns: 4 });

law('reductions of 2^17 elements or more split over 2 and 3 threads (rows, or columns) equal 1 thread bit for bit', [
  fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 700 }), fc.integer({ min: 1, max: 70 }), fc.nat(),
], (a, b, c, seed) => {
  // [a, len, c] with len making it 2^17 elements or more: every axis, contiguous and strided
  const len = Math.ceil((1 << 17) / (a * c)) + (b % 7);
  const x = { shape: [a, len, c], data: values(a * len * c, seed) };
  const flat = { shape: [a * len, c], data: x.data };
  return (['sum', 'sumAbs', 'sumSquares', 'max', 'maxAbs'] as const).every((op) =>
    ([[x, 0], [x, 1], [x, 2], [x, null], [flat, 0], [flat, 1]] as const).every(([t, axis]) => {
      const ref = off1.reduce(op, t, axis);
      return bits(on2.reduce(op, t, axis), ref) && bits(on3.reduce(op, t, axis), ref) && bits(on2.resident!(() => on2.reduce(op, t, axis)), ref);
    }));
}, { numRuns: 6 });
