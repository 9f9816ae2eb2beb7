/**
 * The backend registry: a backend by name, loaded lazily (wasm compiles its module on first use;
 * gpu.js is imported only when asked for, so CPU-only users never load it).
 *
 * Names: `cpu` / `cpu32` (reference, float32), `cpu64` (reference, float64), `wasm` (WebAssembly
 * SIMD, float32), `gpujs` (gpu.js, default mode `webgpu` in Node) or `gpujs:<mode>` with mode one of
 * cpu, webasm, headlessgl, webgpu, webgl, webgl2.
 *
 * Law (laws/backend-agreement.test.ts): every backend this returns agrees with `cpu64`.
 */
import type { Backend } from '../src/backend.js';
import { ConfigError } from '../src/errors.js';
import { cpu32, cpu64 } from './cpu.js';

export const BACKEND_NAMES = ['cpu', 'cpu32', 'cpu64', 'wasm', 'gpujs', 'gpujs:<mode>'] as const;

export async function loadBackend(name: string): Promise<Backend> {
  switch (name) {
    case 'cpu':
    case 'cpu32':
      return cpu32;
    case 'cpu64':
      return cpu64;
    case 'wasm':
      return (await import('./wasm.js')).createWasmBackend();
  }
  if (name === 'gpujs' || name.startsWith('gpujs:')) {
    const g = await import('./gpujs.js');
    const mode = name === 'gpujs' ? 'webgpu' : name.slice('gpujs:'.length);
    if (!(g.GPUJS_MODES as readonly string[]).includes(mode)) throw new ConfigError('backend', `unknown gpu.js mode '${mode}' (allowed: ${g.GPUJS_MODES.join(', ')})`);
    return g.createGpujsBackend({ mode: mode as (typeof g.GPUJS_MODES)[number] });
  }
  throw new ConfigError('backend', `unknown backend '${name}' (allowed: ${BACKEND_NAMES.join(', ')})`);
}
