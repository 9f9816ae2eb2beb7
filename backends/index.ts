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
import type { GpujsMode } from './gpujs.js';

export const BACKEND_NAMES = ['cpu', 'cpu32', 'cpu64', 'wasm', 'gpujs', 'gpujs:<mode>'] as const;

/** A backend's name: a wrong one does not compile (`backendName` checks a string at run time). */
export type BackendName = 'cpu' | 'cpu32' | 'cpu64' | 'wasm' | 'gpujs' | `gpujs:${GpujsMode}`;

const GPUJS_MODE_NAMES: readonly GpujsMode[] = ['cpu', 'webasm', 'headlessgl', 'webgl', 'webgl2', 'webgpu'];

/** `name` as a BackendName, or a ConfigError naming the allowed names (for flags, configs, JSON). */
export function backendName(name: string): BackendName {
  if (name === 'cpu' || name === 'cpu32' || name === 'cpu64' || name === 'wasm' || name === 'gpujs') return name;
  if (name.startsWith('gpujs:')) {
    const mode = name.slice('gpujs:'.length);
    if ((GPUJS_MODE_NAMES as readonly string[]).includes(mode)) return name as BackendName;
    throw new ConfigError('backend', `unknown gpu.js mode '${mode}' (allowed: ${GPUJS_MODE_NAMES.join(', ')})`);
  }
  throw new ConfigError('backend', `unknown backend '${name}' (allowed: ${BACKEND_NAMES.join(', ')})`);
}

export async function loadBackend(name: BackendName): Promise<Backend> {
  const checked = backendName(name); // untyped callers too
  switch (checked) {
    case 'cpu':
    case 'cpu32':
      return cpu32;
    case 'cpu64':
      return cpu64;
    case 'wasm':
      return (await import('./wasm.js')).createWasmBackend();
  }
  const g = await import('./gpujs.js');
  return g.createGpujsBackend({ mode: checked === 'gpujs' ? 'webgpu' : (checked.slice('gpujs:'.length) as GpujsMode) });
}

export const TERNARY_KERNEL_NAMES = ['reference', 'wasm'] as const;
export type TernaryKernelName = (typeof TERNARY_KERNEL_NAMES)[number];

/** `name` as a TernaryKernelName, or a ConfigError naming the allowed names. */
export function ternaryKernelName(name: string): TernaryKernelName {
  if ((TERNARY_KERNEL_NAMES as readonly string[]).includes(name)) return name as TernaryKernelName;
  throw new ConfigError('kernels', `unknown ternary kernels '${name}' (allowed: ${TERNARY_KERNEL_NAMES.join(', ')})`);
}

/**
 * The ternary × ternary kernels of the inference engine by name: `reference` (plain TypeScript,
 * src/infer/ternary-kernels.ts) or `wasm` (WebAssembly popcount kernels, backends/ternary.ts,
 * compiled on first use). Law (laws/ternary-kernels.test.ts): both give the same results bit for bit.
 */
export async function loadTernaryKernels(name: TernaryKernelName): Promise<TernaryKernels> {
  switch (ternaryKernelName(name)) {
    case 'reference':
      return referenceTernaryKernels;
    case 'wasm':
      return (await import('./ternary.js')).createWasmTernaryKernels();
  }
}
