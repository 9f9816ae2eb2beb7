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
