/**
 * The gpujs backend: every Backend primitive as a gpu.js kernel (./gpujs/kernels.ts), in float32.
 *
 * `await createGpujsBackend({ mode })` imports gpu.js on first use, so a program that never asks
 * for this backend never loads it. Modes are gpu.js's own:
 * - `cpu`: gpu.js's transpiled-JavaScript kernels (a portable check of the kernel sources);
 * - `webasm`: gpu.js's WebAssembly kernels;
 * - `headlessgl`: WebGL 1 through the optional native `gl` package (Node; needs a display or
 *   `xvfb-run`);
 * - `webgl`, `webgl2`: the browser's WebGL (browsers only);
 * - `webgpu` (Node): WGSL compute shaders on WebGPU, here Dawn (the `webgpu` package). WebGPU
 *   reads results back only asynchronously, so this mode runs its kernels in a worker thread and
 *   each call blocks until its result is back (./gpujs/bridge.ts). Without a GPU, Dawn runs on
 *   Mesa's software OpenGL ES (./gpujs/dawn.ts; `source .ci/gpu-env.sh`).
 * The synchronous modes run on the calling thread. In a browser the worker bridge is never
 * loaded (its import is computed and taken only for `webgpu`), and gpu.js comes from the `gpujs`
 * option or `globalThis.GPU` (its browser build).
 *
 * Semantics are backends/cpu.ts's, exactly: `sign(0) = +1`, NHWC/OHWI, the broadcast layouts of
 * src/shapes.ts, ties in max pooling to the first maximum. Thresholds of the comparison ops are
 * applied to the exact float64 parameter, not to its float32 rounding. Flat indices travel as
 * float32 inside some kernels, so a tensor may hold at most 2²⁴ elements.
 *
 * Law (laws/backend-agreement.test.ts): every primitive agrees with cpu64 within tolerances
 * derived from `precision = 2⁻²⁴`; laws/gpujs.test.ts checks modes, loading and errors.
 */
import type { Backend, BinaryOp, Conv2dOptions, MatmulOptions, PoolOptions, ReduceOp, ScalarOp, UnaryOp } from '../src/backend.js';
import { roundoff } from '../src/backend.js';
import { ConfigError, ShapeError, SttnError } from '../src/errors.js';
import { assertConvOutput, broadcastLayout, convGeometry, matmulShape, poolGeometry, reduceShape, type ConvGeometry } from '../src/shapes.js';
import { assertSameShape, size, type Tensor } from '../src/tensor.js';
import { DAWN_BACKENDS, defaultEglPlatform, type DawnBackend } from './gpujs/dawn.js';
import { BINARY_CODES, REDUCE_CODES, SCALAR_CODES, UNARY_CODES, type KernelName } from './gpujs/kernels.js';
import type * as Bridge from './gpujs/bridge.js';
import type { Arg } from './gpujs/runner.js';

/** gpu.js's modes. `webgl` and `webgl2` exist only in a browser, `headlessgl` only with `gl`. */
export type GpujsMode = 'cpu' | 'webasm' | 'headlessgl' | 'webgl' | 'webgl2' | 'webgpu';

export const GPUJS_MODES: readonly GpujsMode[] = ['cpu', 'webasm', 'headlessgl', 'webgl', 'webgl2', 'webgpu'];

export interface GpujsOptions {
  readonly mode: GpujsMode;
  /**
   * webgpu only: the Dawn backend to take an adapter from. Default: `STTN_DAWN_BACKEND`, else
   * `'auto'` (Dawn's default backends, then OpenGL ES at the compatibility feature level).
   */
  readonly dawnBackend?: DawnBackend;
  /** webgpu only: the longest one call may wait for its result (default 120 000 ms). */
  readonly timeoutMs?: number;
  /**
   * The gpu.js module (`await import('gpu.js')`), for bundlers and browsers where sttn's own lazy
   * import of the bare name cannot resolve. Default: `globalThis.GPU` (gpu.js's browser build
   * loaded by a script tag), else `import('gpu.js')`.
   */
  readonly gpujs?: unknown;
}

/** A Backend plus what a caller may want to know or release. */
export interface GpujsBackend extends Backend {
  readonly mode: GpujsMode;
  /** What actually runs the kernels, in words (for webgpu: the Dawn backend and adapter). */
  readonly device: string;
  /** Releases the GPU (the worker thread, for webgpu). The backend is unusable afterwards. */
  dispose(): Promise<void>;
}

/** The most elements one tensor may have: flat indices must be exact as float32. */
export const MAX_ELEMENTS = 2 ** 24;

const HEADLESSGL_HELP =
  "mode 'headlessgl' needs gpu.js's optional native package `gl`, built from source (in sttn's own " +
  'checkout, package.json overrides `gl` with an empty package: drop that override first). The build needs ' +
  '`apt-get install build-essential python3 libxi-dev libglu1-mesa-dev libglew-dev pkg-config`, ' +
  'then `npm install gl --foreground-scripts`; with no display, run under `xvfb-run` (`apt-get install xvfb`)';

export async function createGpujsBackend(opts: GpujsOptions): Promise<GpujsBackend> {
  const { mode } = opts;
  if (!GPUJS_MODES.includes(mode)) {
    throw new ConfigError('gpujs.mode', `unknown mode ${JSON.stringify(mode)}; one of ${GPUJS_MODES.join(', ')}`);
  }
  const { assertPeers } = await import('./gpujs/runner.js');
  assertPeers(mode);
  if (mode === 'webgpu') {
    const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
    if (env === undefined) throw new ConfigError('gpujs.mode', "'webgpu' runs in Node (Dawn in a worker thread); in a browser use 'webgl2' or 'webgl'");
    const dawnBackend = opts.dawnBackend ?? (env.STTN_DAWN_BACKEND as DawnBackend | undefined) ?? 'auto';
    if (!DAWN_BACKENDS.includes(dawnBackend)) {
      throw new ConfigError('gpujs.dawnBackend', `unknown Dawn backend ${JSON.stringify(dawnBackend)}; one of ${DAWN_BACKENDS.join(', ')}`);
    }
    const timeoutMs = opts.timeoutMs ?? 120_000;
    if (!(timeoutMs > 0)) throw new ConfigError('gpujs.timeoutMs', `must be positive, got ${timeoutMs}`);
    defaultEglPlatform();
    // Node only (worker threads): a computed specifier keeps the bridge out of browser bundles.
    const bridgeModule = './gpujs/bridge.js';
    const { startBridge } = (await import(bridgeModule)) as typeof Bridge;
    let bridge;
    try {
      bridge = await startBridge(dawnBackend, timeoutMs);
    } catch (e) {
      throw new Error(`gpujs webgpu: ${(e as Error).message}`);
    }
    return build(mode, bridge.device, bridge.run, bridge.close);
  }
  const { createRunner, loadGpuJs } = await import('./gpujs/runner.js');
  const { GPU } = await loadGpuJs(mode, opts.gpujs);
  let gpu;
  try {
    gpu = new GPU({ mode });
  } catch (e) {
    const why = (e as Error).message;
    throw new Error(`gpujs ${mode}: ${why}${mode === 'headlessgl' ? `; ${HEADLESSGL_HELP}` : ''}`);
  }
  const runner = createRunner(gpu, mode);
  const run = (name: KernelName, outLen: number, args: readonly Arg[]): Float32Array => {
    const r = runner(name, outLen, args);
    if (r instanceof Promise) throw new Error(`gpujs ${mode}: kernel ${name} returned a Promise`);
    return r;
  };
  return build(mode, `gpu.js ${mode}`, run, async () => {
    await gpu.destroy();
  });
}

/** The op code of `op`, or a ConfigError naming `field`. */
function codeOf<K extends string>(table: Readonly<Record<K, number>>, field: string, op: K): number {
  if (!Object.hasOwn(table, op)) throw new ConfigError(field, `unknown op ${String(op)}`);
  return table[op];
}

type Exec = (name: KernelName, outLen: number, args: readonly Arg[]) => Float32Array;

/** Float32 data of `t`, shared when it already is float32 (kernels never write their inputs). */
const f32 = (t: Tensor): Float32Array => (t.data instanceof Float32Array ? t.data : Float32Array.from(t.data));

/** Largest float32 ≤ v and smallest float32 ≥ v (v itself when representable). */
export function float32Bounds(v: number): [number, number] {
  const f = Math.fround(v);
  if (f === v || Number.isNaN(v)) return [f, f];
  return f < v ? [f, nextFloat32(f, 1)] : [nextFloat32(f, -1), f];
}

const bits = new DataView(new ArrayBuffer(4));

/** The float32 after `f` towards +∞ (`dir = 1`) or −∞ (`dir = −1`). */
function nextFloat32(f: number, dir: 1 | -1): number {
  if (f === 0) return dir * 2 ** -149;
  bits.setFloat32(0, f);
  const i = bits.getInt32(0);
  bits.setInt32(0, (f > 0) === (dir > 0) ? i + 1 : i - 1);
  return bits.getFloat32(0);
}

function build(mode: GpujsMode, device: string, run: Exec, release: () => Promise<void>): GpujsBackend {
  let disposed = false;
  const exec: Exec = (name, outLen, args) => {
    if (disposed) throw new SttnError(`gpujs-${mode}: the backend was disposed`);
    return run(name, outLen, args);
  };
  const dispose = async (): Promise<void> => {
    if (disposed) return;
    disposed = true;
    await release();
  };
  const tensorOut = (shape: readonly number[], data: Float32Array): Tensor => ({ shape: [...shape], data });
  const checkSize = (what: string, ...shapes: (readonly number[])[]): void => {
    for (const s of shapes) {
      if (size(s) > MAX_ELEMENTS) {
        throw new ConfigError(`gpujs.${what}`, `a tensor of shape [${s.join(', ')}] has more than 2^24 elements`);
      }
    }
  };

  function from(t: Tensor): Tensor {
    return t.data instanceof Float32Array ? t : { shape: [...t.shape], data: Float32Array.from(t.data) };
  }

  function unary(op: UnaryOp, x: Tensor): Tensor {
    const code = codeOf(UNARY_CODES, 'unary.op', op);
    checkSize('unary', x.shape);
    return tensorOut(x.shape, exec('unary', x.data.length, [f32(x), code]));
  }

  function scalar(op: ScalarOp, x: Tensor, s: number): Tensor {
    const code = codeOf(SCALAR_CODES, 'scalar.op', op);
    if (!Number.isFinite(s) && !(op === 'max' || op === 'min')) throw new ConfigError(`scalar(${op}).s`, `must be finite, got ${s}`);
    checkSize('scalar', x.shape);
    // Math.max(x, NaN) is NaN; a NaN parameter never reaches a kernel.
    if (Number.isNaN(s)) return tensorOut(x.shape, new Float32Array(x.data.length).fill(NaN));
    const [lo, hi] = float32Bounds(s);
    return tensorOut(x.shape, exec('scalar', x.data.length, [f32(x), Math.fround(s), lo, hi, code]));
  }

  function binary(op: BinaryOp, a: Tensor, b: Tensor, axis?: number): Tensor {
    const code = codeOf(BINARY_CODES, 'binary.op', op);
    const { len, inner } = broadcastLayout(`binary(${op})`, a, b, axis);
    checkSize('binary', a.shape);
    return tensorOut(a.shape, exec('binary', a.data.length, [f32(a), f32(b), len, inner, code]));
  }

  function axpy(a: Tensor, s: number, b: Tensor): Tensor {
    assertSameShape('axpy', a, b);
    checkSize('axpy', a.shape);
    return tensorOut(a.shape, exec('axpy', a.data.length, [f32(a), f32(b), s]));
  }

  function select(cond: Tensor, a: Tensor, b: Tensor): Tensor {
    assertSameShape('select (cond vs a)', cond, a);
    assertSameShape('select (a vs b)', a, b);
    checkSize('select', a.shape);
    return tensorOut(a.shape, exec('select', a.data.length, [f32(cond), f32(a), f32(b)]));
  }

  function reduce(op: ReduceOp, x: Tensor, axis: number | null): Tensor {
    const code = codeOf(REDUCE_CODES, 'reduce.op', op);
    const { shape, outer, len, inner } = reduceShape(x, axis);
    if (len === 0 && (op === 'max' || op === 'maxAbs')) throw new ShapeError(`reduce(${op}) over an empty axis`, 'non-empty', x.shape);
    checkSize('reduce', x.shape);
    return tensorOut(shape, exec('reduce', outer * inner, [f32(x), len, inner, code]));
  }

  function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
    const { m, k, n } = matmulShape(a, b, opts);
    checkSize('matmul', a.shape, b.shape, [m, n]);
    // Element (i, p) of op(a) sits at i·asi + p·asp; element (p, j) of op(b) at p·bsp + j·bsj.
    const [asi, asp] = opts.transA ? [1, m] : [k, 1];
    const [bsp, bsj] = opts.transB ? [1, k] : [n, 1];
    return tensorOut([m, n], exec('matmul', m * n, [f32(a), f32(b), k, n, asi, asp, bsp, bsj]));
  }

  const geometry = (g: ConvGeometry): number[] => [g.h, g.w, g.cin, g.cout, g.kh, g.kw, g.oh, g.ow, g.sh, g.sw, g.ph, g.pw];

  function conv2d(x: Tensor, w: Tensor, opts: Conv2dOptions): Tensor {
    const g = convGeometry(x.shape, w.shape, opts);
    const shape = [g.n, g.oh, g.ow, g.cout];
    checkSize('conv2d', x.shape, w.shape, shape);
    return tensorOut(shape, exec('conv2d', size(shape), [f32(x), f32(w), ...geometry(g)]));
  }

  function conv2dGradInput(dy: Tensor, w: Tensor, xShape: readonly number[], opts: Conv2dOptions): Tensor {
    const g = convGeometry(xShape, w.shape, opts);
    assertConvOutput('conv2dGradInput dy', g, dy);
    checkSize('conv2dGradInput', dy.shape, w.shape, xShape);
    return tensorOut(xShape, exec('conv2dGradInput', size(xShape), [f32(dy), f32(w), ...geometry(g)]));
  }

  function conv2dGradFilter(x: Tensor, dy: Tensor, wShape: readonly number[], opts: Conv2dOptions): Tensor {
    const g = convGeometry(x.shape, wShape, opts);
    assertConvOutput('conv2dGradFilter dy', g, dy);
    checkSize('conv2dGradFilter', x.shape, dy.shape, wShape);
    return tensorOut(wShape, exec('conv2dGradFilter', size(wShape), [f32(x), f32(dy), g.n, ...geometry(g)]));
  }

  const poolArgs = (g: ConvGeometry): number[] => [g.h, g.w, g.cin, g.kh, g.kw, g.oh, g.ow, g.sh, g.sw];

  function maxPool(x: Tensor, opts: PoolOptions): Tensor {
    const g = poolGeometry(x.shape, opts);
    const shape = [g.n, g.oh, g.ow, g.cin];
    checkSize('maxPool', x.shape);
    return tensorOut(shape, exec('pool', size(shape), [f32(x), ...poolArgs(g), 0]));
  }

  function maxPoolGrad(x: Tensor, dy: Tensor, opts: PoolOptions): Tensor {
    const g = poolGeometry(x.shape, opts);
    assertConvOutput('maxPoolGrad dy', g, dy);
    checkSize('maxPoolGrad', x.shape);
    const arg = exec('pool', dy.data.length, [f32(x), ...poolArgs(g), 1]);
    return tensorOut(x.shape, exec('poolGrad', x.data.length, [arg, f32(dy), ...poolArgs(g)]));
  }

  return {
    name: `gpujs-${mode}`,
    dtype: 'float32',
    precision: roundoff('float32'),
    mode,
    device,
    dispose,
    from,
    unary,
    scalar,
    binary,
    axpy,
    select,
    reduce,
    matmul,
    conv2d,
    conv2dGradInput,
    conv2dGradFilter,
    maxPool,
    maxPoolGrad,
  };
}
