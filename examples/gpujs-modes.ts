/**
 * The gpujs backend in each gpu.js mode: one small convolution, max pooling and exp, checked
 * against the cpu float64 reference. Run with `npx tsx examples/gpujs-modes.ts [mode ...]`
 * (default: cpu, webasm, webgpu, headlessgl).
 *
 * On a Linux machine without a GPU, webgpu runs Dawn on Mesa's software OpenGL ES:
 * `source .ci/gpu-env.sh` first (or set EGL_PLATFORM=surfaceless yourself). A mode that cannot
 * run here prints why and what to install (gpu.js, and `webgpu` for the webgpu mode, are optional
 * peer dependencies of sttn: `npm install gpu.js@~2.24.1 webgpu@0.6.2`); gpu.js is loaded only by
 * the first mode you ask for.
 */
import { maxAbsDiff, tensor, type Backend, type Tensor } from 'sttn';
import { cpu64 } from 'sttn/backends/cpu';
import { createGpujsBackend, GPUJS_MODES, type GpujsMode } from 'sttn/backends/gpujs';

const modes = (process.argv.length > 2 ? process.argv.slice(2) : ['cpu', 'webasm', 'webgpu', 'headlessgl']) as GpujsMode[];

// A 1×6×6×2 image (NHWC) and four 3×3 kernels (OHWI), float32-representable values.
const x = tensor([1, 6, 6, 2], Array.from({ length: 72 }, (_, i) => Math.fround(Math.sin(i))));
const w = tensor([4, 3, 3, 2], Array.from({ length: 72 }, (_, i) => Math.fround(Math.cos(i) / 4)));

/** conv (stride 1, pad 1) → 2×2 max pool → exp: three different kinds of kernel. */
const pipeline = (b: Backend): Tensor => {
  const y = b.conv2d(x, w, { strides: [1, 1], pads: [1, 1] });
  const p = b.maxPool(y, { size: [2, 2], strides: [2, 2] });
  return b.unary('exp', p);
};

const want = pipeline(cpu64);
for (const mode of modes) {
  if (!GPUJS_MODES.includes(mode)) {
    console.log(`${mode}: not a gpu.js mode (${GPUJS_MODES.join(', ')})`);
    continue;
  }
  let b;
  try {
    b = await createGpujsBackend({ mode });
  } catch (e) {
    console.log(`${mode}: unavailable here — ${(e as Error).message}`);
    continue;
  }
  const t0 = performance.now();
  const got = pipeline(b);
  const ms = performance.now() - t0;
  console.log(`${b.name} on ${b.device}: shape [${got.shape.join(', ')}], max |Δ| vs cpu64 ${maxAbsDiff(got, want).toExponential(2)} (${ms.toFixed(0)} ms, compile included)`);
  await b.dispose();
}
