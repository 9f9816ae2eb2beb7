/**
 * WebGPU for Node through Dawn (the `webgpu` npm package), set up the way gpu.js's webgpu mode
 * expects it: a `navigator.gpu` whose `requestAdapter()` answers with an adapter we already hold.
 *
 * Dawn's default backends are Vulkan, Metal and D3D12. A Linux machine without a GPU has none of
 * them, but Mesa's software OpenGL ES (llvmpipe) runs Dawn's OpenGL ES backend, which offers only
 * WebGPU's `compatibility` feature level and, with no display, needs `EGL_PLATFORM=surfaceless`.
 * So `'auto'` asks Dawn's default backends first and OpenGL ES second.
 *
 * Law (laws/gpujs.test.ts): a machine with no adapter gets an error that says what to install.
 */

/** Which Dawn backend to ask for an adapter. */
export type DawnBackend = 'auto' | 'default' | 'opengles' | 'vulkan';

export const DAWN_BACKENDS: readonly DawnBackend[] = ['auto', 'default', 'opengles', 'vulkan'];

interface Attempt {
  readonly label: string;
  readonly flags: readonly string[];
  readonly featureLevel: 'core' | 'compatibility';
}

const ATTEMPTS: Record<Exclude<DawnBackend, 'auto'>, Attempt> = {
  default: { label: "Dawn's default backend", flags: [], featureLevel: 'core' },
  vulkan: { label: 'Dawn Vulkan', flags: ['backend=vulkan'], featureLevel: 'core' },
  opengles: { label: 'Dawn OpenGL ES (compatibility)', flags: ['backend=opengles'], featureLevel: 'compatibility' },
};

export const attemptsFor = (b: DawnBackend): Attempt[] =>
  b === 'auto' ? [ATTEMPTS.default, ATTEMPTS.opengles] : [ATTEMPTS[b]];

/** The part of a WebGPU adapter we read. */
interface AdapterLike {
  readonly info?: { readonly vendor?: string; readonly architecture?: string; readonly description?: string };
}

interface GpuLike {
  requestAdapter(opts?: Record<string, unknown>): Promise<AdapterLike | null>;
}

/** What to do when no adapter answers, in one message. */
export const NO_ADAPTER_HELP =
  'On Linux without a GPU, Dawn runs on Mesa\'s software OpenGL ES: install it ' +
  '(`apt-get install libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri`) and set EGL_PLATFORM=surfaceless ' +
  '(`source .ci/gpu-env.sh` does both); or leave this backend out with STTN_SKIP_BACKENDS=gpujs-webgpu.';

/** Linux with no display: EGL must not look for one (it is read when Dawn first opens EGL). */
export function defaultEglPlatform(env: NodeJS.ProcessEnv = process.env): void {
  if (process.platform === 'linux' && !env.EGL_PLATFORM && !env.DISPLAY && !env.WAYLAND_DISPLAY) {
    env.EGL_PLATFORM = 'surfaceless';
  }
}

/**
 * Loads Dawn, finds an adapter with the first attempt that gives one, and installs
 * `globalThis.navigator.gpu` for gpu.js. Returns a one-line description of the adapter.
 */
export async function installDawn(backend: DawnBackend): Promise<string> {
  const spec = 'webgpu';
  let dawn: { create(flags: string[]): GpuLike };
  try {
    dawn = (await import(spec)) as typeof dawn;
  } catch (e) {
    throw new Error(`cannot load the optional peer dependency 'webgpu' (Dawn for Node): ${(e as Error).message.split('\n')[0]}; install it with \`npm install gpu.js@~2.24.1 webgpu@0.6.2\``);
  }
  const tried: string[] = [];
  for (const a of attemptsFor(backend)) {
    let adapter: AdapterLike | null = null;
    let gpu: GpuLike;
    try {
      gpu = dawn.create([...a.flags]);
      adapter = await gpu.requestAdapter({ featureLevel: a.featureLevel });
    } catch (e) {
      tried.push(`${a.label}: ${(e as Error).message}`);
      continue;
    }
    if (!adapter) {
      tried.push(`${a.label}: no adapter`);
      continue;
    }
    const found = adapter;
    const navigatorGpu = {
      // gpu.js asks once and then requests its device from this adapter.
      requestAdapter: async () => found,
      getPreferredCanvasFormat: () => 'rgba8unorm',
      // Keeps Dawn's GPU object (and so its instance) alive as long as the adapter is used.
      dawn: gpu,
    };
    const nav = (globalThis as { navigator?: object }).navigator;
    if (nav && typeof nav === 'object') {
      Object.defineProperty(nav, 'gpu', { value: navigatorGpu, configurable: true, writable: true });
    } else {
      Object.defineProperty(globalThis, 'navigator', { value: { gpu: navigatorGpu }, configurable: true, writable: true });
    }
    const info = found.info ?? {};
    const name = [info.vendor, info.architecture, info.description].filter((s) => s).join(' ').trim();
    return `${a.label}: ${name || 'unnamed adapter'}`;
  }
  throw new Error(`no WebGPU adapter (${tried.join('; ')}). ${NO_ADAPTER_HELP}`);
}
