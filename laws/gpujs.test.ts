/**
 * Laws of the gpujs backend beyond agreement (laws/backend-agreement.test.ts runs every primitive
 * of gpujs-cpu and gpujs-webgpu against cpu64): gpu.js loads only when a gpujs backend is created,
 * and Dawn only inside the webgpu worker; modes that cannot run here fail with a message that
 * says what to install; a kernel never silently runs on another mode than the one asked for;
 * kernel errors and time limits surface as errors of the call; indices and loops stay exact past
 * gpu.js's defaults; exp is accurate to a few float32 ulps across its whole range.
 */
import fc from 'fast-check';
import { createRequire } from 'node:module';
import { after } from 'node:test';
import { ConfigError, SttnError } from '../src/errors.js';
import { type Tensor } from '../src/tensor.js';
import { cpu64 } from '../backends/cpu.js';
import { createGpujsBackend, float32Bounds, GPUJS_MODES, MAX_ELEMENTS, type GpujsBackend, type GpujsMode } from '../backends/gpujs.js';
import { defaultEglPlatform, type DawnBackend } from '../backends/gpujs/dawn.js';
import { createRunner, type GpuInstance } from '../backends/gpujs/runner.js';
import { startBridge } from '../backends/gpujs/bridge.js';
import type { KernelName } from '../backends/gpujs/kernels.js';
import { candidates } from './backends.js';
import { example, law } from './law.js';

const loaded = (pattern: RegExp): boolean => Object.keys(createRequire(import.meta.url).cache).some((k) => pattern.test(k));
const GPUJS = /[\\/]node_modules[\\/]gpu\.js[\\/]/;
const DAWN = /dawn\.node$/;

/** The rejection of `f()`, or undefined when it resolves. */
async function rejection(f: () => Promise<unknown>): Promise<Error | undefined> {
  try {
    await f();
  } catch (e) {
    return e as Error;
  }
  return undefined;
}

/** The error `f()` throws, or undefined. */
function thrown(f: () => unknown): Error | undefined {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Lazy loading: nothing above has loaded gpu.js; creating a backend does.

const loadedBeforeCreate = loaded(GPUJS) || loaded(DAWN);

const skip = new Set((process.env.STTN_SKIP_BACKENDS ?? '').split(',').map((s) => s.trim()).filter(Boolean));
const backends: GpujsBackend[] = [];
for (const c of candidates.filter((c) => c.name.startsWith('gpujs-') && !skip.has(c.name))) {
  try {
    backends.push((await c.load()) as GpujsBackend);
  } catch (e) {
    throw new Error(`backend ${c.name} failed to load: ${(e as Error).message}`);
  }
}

example('importing backends/gpujs.ts loads neither gpu.js nor Dawn', () => !loadedBeforeCreate);

if (backends.some((b) => b.mode !== 'webgpu')) {
  example('creating a synchronous-mode backend loads gpu.js', () => loaded(GPUJS));
}
if (backends.some((b) => b.mode === 'webgpu')) {
  example('the webgpu mode loads Dawn in its worker, never on the calling thread', () => !loaded(DAWN));
}

// ---------------------------------------------------------------------------------------------
// Modes.

const unknownMode = await rejection(() => createGpujsBackend({ mode: 'vulkan' as GpujsMode }));
example('an unknown mode is a ConfigError that lists the modes', () =>
  unknownMode instanceof ConfigError && GPUJS_MODES.every((m) => unknownMode.message.includes(m)));

const badDawn = await rejection(() => createGpujsBackend({ mode: 'webgpu', dawnBackend: 'metal' as 'auto' }));
example('an unknown Dawn backend is a ConfigError', () => badDawn instanceof ConfigError && badDawn.message.includes('opengles'));

const browserOnly = await Promise.all((['webgl', 'webgl2'] as const).map((mode) => rejection(() => createGpujsBackend({ mode }))));
example('webgl and webgl2 (browser modes) reject in Node with the mode named', () =>
  browserOnly.every((e, i) => e instanceof Error && e.message.includes(i === 0 ? 'gpujs webgl:' : 'gpujs webgl2:')));

// headless-gl is an optional native build: without it the error says how to get it; with it the
// mode must work.
const headless = await createGpujsBackend({ mode: 'headlessgl' }).then(
  (b) => b,
  (e: Error) => e,
);
example("headlessgl either runs or says to install `gl` and use xvfb-run", () => {
  if (headless instanceof Error) return headless.message.includes('`gl`') && headless.message.includes('xvfb-run');
  const y = headless.unary('neg', { shape: [2], data: new Float32Array([1, -2]) });
  return y.data[0] === -1 && y.data[1] === 2;
});
if (!(headless instanceof Error)) await headless.dispose();

const webasm = await createGpujsBackend({ mode: 'webasm' });
example('webasm: matmul of ones over K = 1500 is exactly K (loops run past gpu.js\'s default 1000)', () => {
  const y = webasm.matmul({ shape: [2, 1500], data: new Float32Array(3000).fill(1) }, { shape: [1500, 3], data: new Float32Array(4500).fill(1) });
  return y.data.length === 6 && y.data.every((v) => v === 1500);
});
await webasm.dispose();

// ---------------------------------------------------------------------------------------------
// The runner never passes off gpu.js's cpu fallback as the requested mode.

class WebGPUKernel {}
class CPUKernel {}

/** A stand-in for gpu.js that chose WebGPUKernel and whose kernels ran on `Ran`. */
const fakeGpu = (Ran: new () => object): GpuInstance => ({
  Kernel: WebGPUKernel,
  createKernel: () => Object.assign(() => new Float32Array(3), { setOutput: () => undefined, kernel: new Ran() }),
  destroy: () => undefined,
});

example("a kernel that ran on gpu.js's cpu fallback is an error naming both kernels and the mode", () => {
  const e = thrown(() => createRunner(fakeGpu(CPUKernel), 'webgpu')('unary', 3, [new Float32Array(3), 0]));
  return e instanceof Error && ['ran on CPUKernel', 'WebGPUKernel', "'webgpu'"].every((s) => e.message.includes(s));
});
example('a kernel that ran on the kernel class of the requested mode returns its result', () => {
  const y = createRunner(fakeGpu(WebGPUKernel), 'webgpu')('unary', 3, [new Float32Array(3), 0]);
  return y instanceof Float32Array && y.length === 3;
});

// ---------------------------------------------------------------------------------------------
// Parameters compare exactly: float32Bounds brackets a float64 with adjacent float32s.

law(
  'float32Bounds(v) = [lo, hi]: float32s with lo ≤ v ≤ hi, equal iff v is a float32, else adjacent',
  [fc.oneof(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.float({ noNaN: true }).map((x) => x), fc.constantFrom(0, -0, 1e-45, 3.5e38, 1e300))],
  (v) => {
    const [lo, hi] = float32Bounds(v);
    const f32 = (x: number): boolean => Object.is(Math.fround(x), x) || (x === 0 && Math.fround(x) === 0);
    if (!(f32(lo) && f32(hi) && lo <= v && v <= hi)) return false;
    if (Math.fround(v) === v) return lo === v && hi === v;
    const mid = new Float32Array([lo, hi]);
    const bits = new Int32Array(mid.buffer);
    return lo < hi && Math.abs(bits[1] - bits[0]) === 1;
  },
);

// ---------------------------------------------------------------------------------------------
// Dawn's environment.

example('EGL_PLATFORM defaults to surfaceless only on a Linux with no display and no choice made', () => {
  const bare: NodeJS.ProcessEnv = {};
  const x11: NodeJS.ProcessEnv = { DISPLAY: ':0' };
  const chosen: NodeJS.ProcessEnv = { EGL_PLATFORM: 'wayland' };
  [bare, x11, chosen].forEach((e) => defaultEglPlatform(e));
  return (
    (process.platform !== 'linux' || bare.EGL_PLATFORM === 'surfaceless') &&
    x11.EGL_PLATFORM === undefined &&
    chosen.EGL_PLATFORM === 'wayland'
  );
});

// ---------------------------------------------------------------------------------------------
// Every registered gpujs backend.

const ones = (shape: number[]): Tensor => ({ shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(1) });
const ramp = (shape: number[], mod: number): Tensor => ({
  shape,
  data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => ((i * 7919) % mod) - mod / 2),
});
const same = (a: Tensor, b: Tensor): boolean =>
  a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]) && a.data.every((v, i) => v === b.data[i]);

for (const b of backends) {
  example(`${b.name}: reports float32, precision 2^-24, and the device it runs on`, () =>
    b.dtype === 'float32' && b.precision === 2 ** -24 && b.device.length > 0 && b.name === `gpujs-${b.mode}`);

  example(`${b.name}: loops run past gpu.js's default of 1000 iterations (reduce and matmul over 3001)`, () => {
    const x = ramp([2, 3001, 3], 1000);
    const y = b.matmul(ones([2, 3001]), ones([3001, 2]));
    return same(b.reduce('max', x, 1), cpu64.reduce('max', x, 1)) && y.data.every((v) => v === 3001);
  });

  example(`${b.name}: flat indices stay exact in large tensors (broadcast max along a 1999-long axis)`, () => {
    const a = ramp([3, 1999, 211], 4001);
    const c = ramp([1999], 3001);
    return same(b.binary('max', a, c, 1), cpu64.binary('max', a, c, 1)) && same(b.binary('max', a, c, -2), cpu64.binary('max', a, c, 1));
  });

  example(`${b.name}: exp is within 4 float32 ulps of eˣ on a grid over its whole normal range`, () => {
    const n = 1 << 16;
    const x = Float32Array.from({ length: n }, (_, i) => Math.fround(-87 + (175.5 * i) / n));
    const y = b.unary('exp', { shape: [n], data: x });
    return x.every((v, i) => Math.abs(y.data[i] - Math.exp(v)) <= 4 * 2 ** -24 * Math.exp(v));
  });

  example(`${b.name}: a tensor over 2^24 elements is a ConfigError, before any data is read`, () => {
    const e = thrown(() => b.unary('abs', { shape: [MAX_ELEMENTS + 1], data: new Float32Array(0) }));
    return e instanceof ConfigError && e.message.includes('2^24');
  });

  example(`${b.name}: empty tensors give empty or zero results without a kernel`, () => {
    const e = b.unary('exp', { shape: [0, 3], data: new Float32Array(0) });
    const z = b.reduce('sum', { shape: [2, 0], data: new Float32Array(0) }, 1);
    return e.data.length === 0 && e.shape[1] === 3 && z.data.length === 2 && z.data.every((v) => v === 0);
  });
}

after(async () => {
  for (const b of backends) await b.dispose();
});

const disposed: Error[] = [];
for (const mode of backends.map((b) => b.mode)) {
  const b = await createGpujsBackend({ mode });
  await b.dispose();
  disposed.push(thrown(() => b.unary('abs', ones([2]))) ?? new Error('no error'));
}
example('a disposed backend throws an SttnError on use', () => disposed.every((e) => e instanceof SttnError && e.message.includes('disposed')));

// ---------------------------------------------------------------------------------------------
// The webgpu bridge: errors and time limits belong to the call that caused them.

if (backends.some((b) => b.mode === 'webgpu')) {
  const dawnBackend = (process.env.STTN_DAWN_BACKEND ?? 'auto') as DawnBackend;
  const bridge = await startBridge(dawnBackend, 120_000);
  const workerError = thrown(() => bridge.run('noSuchKernel' as KernelName, 4, []));
  const next = bridge.run('unary', 2, [new Float32Array([1, -2]), 0]);
  await bridge.close();
  example('webgpu: an error inside the worker is thrown by the call, and the next call still works', () =>
    workerError instanceof Error && workerError.message.includes('noSuchKernel') && next[0] === -1 && next[1] === 2);

  const slow = await startBridge(dawnBackend, 1);
  const timedOut = thrown(() => slow.run('matmul', 4, [new Float32Array(4), new Float32Array(4), 2, 2, 2, 1, 2, 1]));
  await slow.close();
  example('webgpu: a call past timeoutMs throws an error naming the kernel and the limit', () =>
    timedOut instanceof Error && timedOut.message.includes('matmul') && timedOut.message.includes('1 ms'));
}
