/**
 * The backend registry: a backend by name, loaded lazily (wasm compiles its module on first use;
 * gpu.js is imported only when asked for, so CPU-only users never load it).
 *
 * Names: `cpu` / `cpu32` (reference, float32), `cpu64` (reference, float64), `js` / `js32` and
 * `js64` (the reference's loops without code generation: runs under a strict Content-Security-Policy,
 * which ndarray-ops' compiled loops do not), `wasm` (WebAssembly SIMD, float32), `gpujs` (gpu.js, default mode `webgpu` in Node) or `gpujs:<mode>` with mode one of
 * cpu, webasm, headlessgl, webgpu, webgl, webgl2.
 *
 * Every backend is imported on first use, so a browser bundle that asks for `wasm` or `js` never
 * evaluates ndarray. Options pass through to the backend's constructor (`source` for wasm: bytes
 * or a URL, see src/assets.ts).
 *
 * Law (laws/backend-agreement.test.ts): every backend this returns agrees with `cpu64`.
 *
 * Beside it, `loadTernaryKernels`: the inference engine's ternary × ternary kernels by name.
 */
import type { Backend } from '../src/backend.js';
import { ConfigError } from '../src/errors.js';
import { referenceTernaryKernels, type TernaryKernels } from '../src/infer/ternary-kernels.js';
import type { GpujsMode, GpujsOptions } from './gpujs.js';
import type { WasmTernaryOptions } from './ternary.js';
import type { WasmBackendOptions } from './wasm.js';

export const BACKEND_NAMES = ['cpu', 'cpu32', 'cpu64', 'js', 'js32', 'js64', 'wasm', 'gpujs', 'gpujs:<mode>'] as const;

/** A backend's name: a wrong one does not compile (`backendName` checks a string at run time). */
export type BackendName = 'cpu' | 'cpu32' | 'cpu64' | 'js' | 'js32' | 'js64' | 'wasm' | 'gpujs' | `gpujs:${GpujsMode}`;

/** The options a backend's constructor takes: wasm's `{ kernel, source }`, gpu.js's without `mode`. */
export type BackendOptions<N extends BackendName> = N extends 'wasm'
  ? WasmBackendOptions
  : N extends 'gpujs' | `gpujs:${string}`
    ? Omit<GpujsOptions, 'mode'>
    : Record<string, never>;

const GPUJS_MODE_NAMES: readonly GpujsMode[] = ['cpu', 'webasm', 'headlessgl', 'webgl', 'webgl2', 'webgpu'];

/** `name` as a BackendName, or a ConfigError naming the allowed names (for flags, configs, JSON). */
export function backendName(name: string): BackendName {
  if ((['cpu', 'cpu32', 'cpu64', 'js', 'js32', 'js64', 'wasm', 'gpujs'] as const).includes(name as never)) return name as BackendName;
  if (name.startsWith('gpujs:')) {
    const mode = name.slice('gpujs:'.length);
    if ((GPUJS_MODE_NAMES as readonly string[]).includes(mode)) return name as BackendName;
    throw new ConfigError('backend', `unknown gpu.js mode '${mode}' (allowed: ${GPUJS_MODE_NAMES.join(', ')})`);
  }
  throw new ConfigError('backend', `unknown backend '${name}' (allowed: ${BACKEND_NAMES.join(', ')})`);
}

export async function loadBackend<N extends BackendName>(name: N, opts?: BackendOptions<N>): Promise<Backend> {
  const checked = backendName(name); // untyped callers too
  switch (checked) {
    case 'cpu':
    case 'cpu32':
      return (await import('./cpu.js')).cpu32;
    case 'cpu64':
      return (await import('./cpu.js')).cpu64;
    case 'js':
    case 'js32':
      return (await import('./js.js')).js32;
    case 'js64':
      return (await import('./js.js')).js64;
    case 'wasm':
      return (await import('./wasm.js')).createWasmBackend(opts as WasmBackendOptions | undefined);
  }
  const g = await import('./gpujs.js');
  const mode = checked === 'gpujs' ? 'webgpu' : (checked.slice('gpujs:'.length) as GpujsMode);
  return g.createGpujsBackend({ ...(opts as Omit<GpujsOptions, 'mode'> | undefined), mode });
}

export const TERNARY_KERNEL_NAMES = ['reference', 'wasm', 'wasm-lookup'] as const;
export type TernaryKernelName = (typeof TERNARY_KERNEL_NAMES)[number];

/** `name` as a TernaryKernelName, or a ConfigError naming the allowed names. */
export function ternaryKernelName(name: string): TernaryKernelName {
  if ((TERNARY_KERNEL_NAMES as readonly string[]).includes(name)) return name as TernaryKernelName;
  throw new ConfigError('kernels', `unknown ternary kernels '${name}' (allowed: ${TERNARY_KERNEL_NAMES.join(', ')})`);
}

/**
 * The ternary × ternary kernels of the inference engine by name: `reference` (plain TypeScript,
 * src/infer/ternary-kernels.ts), `wasm` (WebAssembly popcount kernels, backends/ternary.ts,
 * compiled on first use; `opts.source` gives its bytes or URL) or `wasm-lookup` (the same with
 * `tables: true`: the table-lookup GEMM, relaxed SIMD). Laws (laws/ternary-kernels.test.ts,
 * laws/engine-threads.test.ts): all three give the same results bit for bit.
 */
export async function loadTernaryKernels(name: TernaryKernelName, opts?: WasmTernaryOptions): Promise<TernaryKernels> {
  switch (ternaryKernelName(name)) {
    case 'reference':
      return referenceTernaryKernels;
    case 'wasm':
      return (await import('./ternary.js')).createWasmTernaryKernels(opts);
    case 'wasm-lookup':
      return (await import('./ternary.js')).createWasmTernaryKernels({ ...opts, tables: true });
  }
}
