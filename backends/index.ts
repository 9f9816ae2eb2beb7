/**
 * The backend registry: a backend by name, loaded lazily (wasm compiles its module on first use;
 * gpu.js is imported only when asked for, so CPU-only users never load it).
 *
 * Names: `cpu` / `cpu32` (reference, float32), `cpu64` (reference, float64), `wasm` (WebAssembly
 * SIMD, float32), `gpujs` (gpu.js, default mode `webgpu` in Node) or `gpujs:<mode>` with mode one of
 * cpu, webasm, headlessgl, webgpu, webgl, webgl2.
 *
 * Law (laws/backend-agreement.test.ts): every backend this returns agrees with `cpu64`.
 *
 * Beside it, `loadTernaryKernels`: the inference engine's ternary × ternary kernels by name.
 */
import type { Backend } from '../src/backend.js';
import { ConfigError } from '../src/errors.js';
import { referenceTernaryKernels, type TernaryKernels } from '../src/infer/ternary-kernels.js';
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

export const TERNARY_KERNEL_NAMES = ['reference', 'wasm'] as const;
export type TernaryKernelName = (typeof TERNARY_KERNEL_NAMES)[number];

/**
 * The ternary × ternary kernels of the inference engine by name: `reference` (plain TypeScript,
 * src/infer/ternary-kernels.ts) or `wasm` (WebAssembly popcount kernels, backends/ternary.ts,
 * compiled on first use). Law (laws/ternary-kernels.test.ts): both give the same results bit for bit.
 */
export async function loadTernaryKernels(name: string): Promise<TernaryKernels> {
  switch (name) {
    case 'reference':
      return referenceTernaryKernels;
    case 'wasm':
      return (await import('./ternary.js')).createWasmTernaryKernels();
  }
  throw new ConfigError('kernels', `unknown ternary kernels '${name}' (allowed: ${TERNARY_KERNEL_NAMES.join(', ')})`);
}
