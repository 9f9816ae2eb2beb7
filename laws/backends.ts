/**
 * The backends every agreement law runs on, each compared with `cpu64`.
 *
 * A backend that cannot load is a failing test, never a silent skip: `loadAll()` throws with the
 * backend's name and the reason. The one exception is explicit: `STTN_SKIP_BACKENDS=gpujs-webgpu`
 * (comma-separated names) leaves a backend out, and the test output says so.
 */
import type { Backend } from '../src/backend.js';
import { cpu32 } from '../backends/cpu.js';

export interface Candidate {
  readonly name: string;
  readonly load: () => Promise<Backend>;
}

export const candidates: readonly Candidate[] = [
  { name: 'cpu32', load: async () => cpu32 },
  { name: 'js32', load: async () => (await import('../backends/js.js')).js32 },
  { name: 'js64', load: async () => (await import('../backends/js.js')).js64 },
  { name: 'wasm', load: async () => (await import('../backends/wasm.js')).createWasmBackend() },
  { name: 'gpujs-cpu', load: async () => (await import('../backends/gpujs.js')).createGpujsBackend({ mode: 'cpu' }) },
  { name: 'gpujs-webgpu', load: async () => (await import('../backends/gpujs.js')).createGpujsBackend({ mode: 'webgpu' }) },
];

export async function loadAll(): Promise<Backend[]> {
  const skip = new Set((process.env.STTN_SKIP_BACKENDS ?? '').split(',').map((s) => s.trim()).filter(Boolean));
  const out: Backend[] = [];
  for (const c of candidates) {
    if (skip.has(c.name)) {
      console.log(`# backend ${c.name} left out by STTN_SKIP_BACKENDS`);
      continue;
    }
    try {
      out.push(await c.load());
    } catch (e) {
      throw new Error(`backend ${c.name} failed to load: ${(e as Error).message}`);
    }
  }
  return out;
}

/**
 * `B` with its activation quantizers watched (ternarize, ternarizeOfficial and sign on a tensor of
 * `batch` rows): `near[i]` becomes true when an input x of example i lies near the threshold θ,
 * as `isNear(|x|, θ, rowMax)` decides (rowMax = max(1, max |x| over the example's row)). Laws that
 * compare two implementations drop such examples, where float rounding may legitimately flip a code.
 */
export function spyQuantizerInputs(B: Backend, batch: number, near: boolean[], isNear: (a: number, th: number, rowMax: number) => boolean): Backend {
  const watch = (x: { shape: readonly number[]; data: ArrayLike<number> }, th: number) => {
    if (x.shape[0] !== batch || x.shape.length < 2) return;
    const per = x.data.length / batch;
    for (let i = 0; i < batch; i++) {
      let rowMax = 1;
      for (let j = 0; j < per; j++) rowMax = Math.max(rowMax, Math.abs(x.data[i * per + j]));
      for (let j = 0; j < per; j++) if (isNear(Math.abs(x.data[i * per + j]), th, rowMax)) near[i] = true;
    }
  };
  return {
    ...B,
    scalar: (op, x, s) => {
      if (op === 'ternarize' || op === 'ternarizeOfficial') watch(x, s);
      return B.scalar(op, x, s);
    },
    unary: (op, x) => {
      if (op === 'sign') watch(x, 0);
      return B.unary(op, x);
    },
  };
}
