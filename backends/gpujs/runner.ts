/**
 * Compiles and runs the kernels of ./kernels.ts on one gpu.js `GPU` instance.
 *
 * Each kernel is compiled once per instance, on first use, with dynamic output and dynamic
 * arguments: its output length is set per call, so one compilation serves every shape. The
 * runner is what both sides share: the main thread runs it directly for the synchronous modes,
 * and the webgpu worker (./worker.ts) runs it behind its message port.
 *
 * Law (laws/gpujs.test.ts): a result always comes from the mode that was asked for; gpu.js's
 * silent fallback to its cpu kernel is an error here, never a quiet pass.
 */
import { ConfigError } from '../../src/errors.js';
import { HELPERS, KERNELS, type KernelName } from './kernels.js';

/** A kernel argument: a flat float32 array or a number. */
export type Arg = Float32Array | number;

/** Loop bound compiled into every kernel: gpu.js's default (1000) would silently cut loops short. */
export const LOOP_MAX = 2 ** 24;

/** The part of a gpu.js kernel shortcut the runner uses. */
interface Shortcut {
  (...args: Arg[]): unknown;
  setOutput(output: number[]): unknown;
  /** The kernel that ran last: gpu.js swaps in a `CPUKernel` when it falls back. */
  readonly kernel: object;
}

/** The part of gpu.js's `GPU` the runner uses. */
export interface GpuInstance {
  /** The kernel class gpu.js chose for the requested mode (GL kernels all call their mode 'gpu'). */
  readonly Kernel: abstract new (...args: never[]) => object;
  createKernel(fn: unknown, settings: Record<string, unknown>): Shortcut;
  destroy(): unknown;
}

export type Run<R> = (name: KernelName, outLen: number, args: readonly Arg[]) => R;

/** One float per element: the only value the 1-D kernels read back. */
function asResult(name: KernelName, outLen: number, r: unknown): Float32Array {
  if (!(r instanceof Float32Array) || r.length !== outLen) {
    const got = r instanceof Float32Array ? `Float32Array(${r.length})` : Object.prototype.toString.call(r);
    throw new Error(`gpu.js kernel ${name}: expected Float32Array(${outLen}), got ${got}`);
  }
  // gpu.js may reuse its output buffer across calls; a Tensor owns its data.
  return r.slice();
}

/**
 * A runner over `gpu`, whose kernels must execute in `mode`. `run` returns a `Float32Array` for
 * the synchronous modes and a `Promise` of one for webgpu.
 */
export function createRunner(gpu: GpuInstance, mode: string): Run<Float32Array | Promise<Float32Array>> {
  const cache = new Map<KernelName, Shortcut>();
  const compiled = (name: KernelName): Shortcut => {
    let k = cache.get(name);
    if (!k) {
      const spec = KERNELS[name];
      k = gpu.createKernel(spec.fn, {
        output: [1],
        dynamicOutput: true,
        dynamicArguments: true,
        argumentTypes: [...spec.types],
        functions: [...HELPERS],
        loopMaxIterations: LOOP_MAX,
        precision: 'single',
        tactic: 'precision',
      });
      cache.set(name, k);
    }
    return k;
  };
  const checkMode = (name: KernelName, k: Shortcut): void => {
    if (!(k.kernel instanceof gpu.Kernel)) {
      throw new Error(`gpu.js kernel ${name} ran on ${k.kernel.constructor.name}, not on ${gpu.Kernel.name} (the requested mode '${mode}')`);
    }
  };
  return (name, outLen, args) => {
    if (outLen === 0) return new Float32Array(0);
    const k = compiled(name);
    k.setOutput([outLen]);
    // A kernel never reads an empty input (its loops run zero times), but gpu.js cannot bind one.
    const r = k(...args.map((a) => (typeof a !== 'number' && a.length === 0 ? new Float32Array(1) : a)));
    if (r instanceof Promise) {
      return r.then((v: unknown) => {
        checkMode(name, k);
        return asResult(name, outLen, v);
      });
    }
    checkMode(name, k);
    return asResult(name, outLen, r);
  };
}

export type GpuConstructor = new (settings: { mode: string }) => GpuInstance;

/** What sttn uses of gpu.js's exports. */
export interface GpuJs {
  readonly GPU: GpuConstructor;
  /** The shared WebGPU device of gpu.js's webgpu mode; `destroy()` releases it. */
  readonly WebGPUContext?: { destroy(): Promise<void> };
}

/** The command that installs the optional peer dependencies a gpu.js mode needs. */
export const installCommand = (mode: string): string =>
  mode === 'webgpu' ? 'npm install gpu.js@~2.24.1 webgpu@0.6.2' : 'npm install gpu.js@~2.24.1';

/**
 * Checks, without loading them, that the optional peer dependencies of a gpu.js mode resolve
 * (gpu.js; for `webgpu` also the `webgpu` package, Dawn for Node); a missing one is a ConfigError
 * naming the install command.
 */
export function assertPeers(mode: string): void {
  // Browsers resolve bare specifiers only through an import map or a bundler: loadGpuJs decides there.
  if (!(globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node) return;
  for (const pkg of mode === 'webgpu' ? ['gpu.js', 'webgpu'] : ['gpu.js']) {
    try {
      import.meta.resolve(pkg);
    } catch {
      throw new ConfigError('backend', `gpujs:${mode} needs the optional peer dependency ${pkg}, which is not installed; install it with \`${installCommand(mode)}\``);
    }
  }
}

/**
 * gpu.js, imported on first use so that cpu-only users never load it. It is an optional peer
 * dependency of sttn: missing, it is a ConfigError naming the install command.
 */
export async function loadGpuJs(mode: string, given?: unknown): Promise<GpuJs> {
  // A computed specifier keeps TypeScript from pulling gpu.js's declarations into every build, and
  // bundlers from bundling an optional peer: a browser page passes the module (`gpujs` option) or
  // loads gpu.js's browser build, which sets `globalThis.GPU`.
  const spec = 'gpu.js';
  const global = (globalThis as { GPU?: unknown }).GPU;
  let m: Partial<GpuJs> & { default?: Partial<GpuJs> };
  try {
    m = (given ?? (typeof (global as Partial<GpuJs> | undefined)?.GPU === 'function' ? global : await import(spec))) as typeof m;
  } catch (e) {
    throw new ConfigError('backend', `gpujs:${mode} needs the optional peer dependency gpu.js, which cannot be loaded (${(e as Error).message.split('\n')[0]}); install it with \`${installCommand(mode)}\``);
  }
  const lib = typeof m.GPU === 'function' ? m : m.default;
  if (typeof lib?.GPU !== 'function') throw new ConfigError('backend', 'gpu.js loaded but exports no GPU class');
  return lib as GpuJs;
}
