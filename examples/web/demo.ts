/**
 * What the demo page does, apart from its UI: load the packed ternary model and classify digits
 * with sttn's engine on the WebAssembly backend and popcount kernels; load the embedded digits;
 * train a small STTN network in the page on wasm or gpu.js WebGL2. Everything is fetched from the
 * page's own origin (built next to it by `npm run build:web`: model.sttn, wasm/, data/), so it
 * runs offline under the page's strict CSP.
 *
 * The page's UI (app.ts) and the browser law (laws/browser-page.test.ts, through
 * `window.sttnDemo`) call the same functions.
 */
import { orThrow } from 'sttn';
import { createWasmBackend } from 'sttn/backends/wasm';
import { createWasmTernaryKernels } from 'sttn/backends/ternary';
import { parseDeployed } from 'sttn/export';
import { createEngine, type Engine } from 'sttn/infer';
import { buildModel, effectiveWeights, preset, type Model } from 'sttn/models';
import { gather } from 'sttn/data';
import { evaluate, initTraining, train, trainConfig, type TrainState } from 'sttn/train';
import type { Backend } from 'sttn';
import { loadDigits, type Digits } from './digits.js';

/** The page's files, relative to the page. */
const FILES = {
  model: 'model.sttn',
  wasm: { plain: 'wasm/sttn-simd.wasm', relaxed: 'wasm/sttn-relaxed-simd.wasm', threads: 'wasm/sttn-simd-threads.wasm' },
  ternary: 'wasm/sttn-ternary.wasm',
} as const;

const here = (path: string): URL => new URL(path, document.baseURI);

let wasmBackend: Promise<Backend> | undefined;

/**
 * The WebAssembly backend, compiled once (streaming, from the page's wasm/ folder). With the
 * threads build given, a cross-origin isolated page (as `sttn serve` sends it) gets the resident
 * training step (results kept in one shared wasm memory, no copies between layers); elsewhere
 * the plain build serves and copies.
 */
export const wasm = (): Promise<Backend> =>
  (wasmBackend ??= createWasmBackend({ source: { plain: here(FILES.wasm.plain), relaxed: here(FILES.wasm.relaxed), threads: here(FILES.wasm.threads) } }));

export interface Classifier {
  readonly engine: Engine;
  readonly name: string;
  readonly bytes: number;
  readonly classes: number;
  readonly inputShape: readonly number[];
}

/** The packed model of the page, on the wasm backend and the WebAssembly ternary kernels. */
export async function loadClassifier(): Promise<Classifier> {
  const url = here(FILES.model);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url.pathname}: HTTP ${res.status} (build the page with \`npm run build:web\`)`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  const model = orThrow(parseDeployed(bytes, url.pathname));
  const [backend, kernels] = await Promise.all([wasm(), createWasmTernaryKernels({ source: here(FILES.ternary) })]);
  const engine = createEngine(model, { backend, kernels });
  return { engine, name: model.name, bytes: bytes.length, classes: model.classes, inputShape: model.inputShape };
}

export interface Classified {
  readonly classes: number[];
  /** softmax rows, `[n][classes]` */
  readonly probabilities: number[][];
  /** wall milliseconds per image of this call */
  readonly msPerImage: number;
}

/** Classes and probabilities of `n` images (NHWC float32 in [0, 1], `n·h·w·c` values). */
export function classify(c: Classifier, pixels: Float32Array, n: number): Classified {
  const t0 = performance.now();
  const p = c.engine.predict({ shape: [n, ...c.inputShape], data: pixels });
  const ms = (performance.now() - t0) / n;
  const k = c.classes;
  return {
    classes: Array.from(p.classes),
    probabilities: Array.from({ length: n }, (_, i) => Array.from(p.probabilities.subarray(i * k, (i + 1) * k))),
    msPerImage: ms,
  };
}

// ---------------------------------------------------------------------------------------------
// Training in the page

export type TrainBackend = 'wasm' | 'gpujs:webgl2';

/** The network trained in the page: the mlp preset at half width, STTN 2+2 (784 → 128 → STTN 128 → 10). */
export const TRAIN_SPEC = preset('mlp', { bits: '2+2', ternary: 'sttn', width: 0.5 });
export const TRAIN_BATCH = 32;

export async function loadTrainBackend(name: TrainBackend): Promise<Backend> {
  if (name === 'wasm') return wasm();
  // gpu.js (an optional peer of sttn) is bundled by the page's build as a chunk loaded on this click
  const [{ createGpujsBackend }, gpujs] = await Promise.all([import('sttn/backends/gpujs'), import('gpu.js')]);
  return createGpujsBackend({ mode: 'webgl2', gpujs });
}

export interface TrainProgress {
  readonly step: number;
  readonly loss: number;
  readonly accuracy: number;
  readonly samplesPerSecond: number;
  readonly state: TrainState;
}

export interface TrainRun {
  /** the backend's name, then `, resident` where its training step keeps results in its memory */
  readonly backend: string;
  readonly losses: number[];
  readonly accuracies: number[];
  readonly samplesPerSecond: number;
  readonly testAccuracy: number;
  readonly model: Model;
  readonly state: TrainState;
}

/**
 * Train the page's network on `digits` with `B` until `steps` steps or `shouldStop()`, calling
 * `onStep` after each step (the loop yields to the page between steps, so the UI repaints).
 */
export async function trainHere(
  B: Backend,
  digits: Digits,
  opts: { readonly steps: number; readonly onStep?: (p: TrainProgress, model: Model) => void; readonly shouldStop?: () => boolean; readonly seed?: number },
): Promise<TrainRun> {
  const model = orThrow(buildModel(TRAIN_SPEC));
  const cfg = trainConfig({ epochs: Math.max(1, Math.ceil((opts.steps * TRAIN_BATCH) / digits.train.labels.length)), batchSize: TRAIN_BATCH, augmentPad: 0, seed: opts.seed ?? 1, optimizer: { lr: 0.005 } });
  const losses: number[] = [];
  const accuracies: number[] = [];
  let t0 = performance.now();
  let samples = 0;
  let rate = 0;
  const { state } = await train(B, model, digits.train, cfg, initTraining(B, model, cfg), {
    onStep: (info, s) => {
      // the first step compiles kernels (gpu.js) or warms the JIT: the rate counts from the second
      if (info.step === 1) t0 = performance.now();
      else samples += info.batchSize;
      const dt = (performance.now() - t0) / 1000;
      rate = dt > 0 ? samples / dt : 0;
      losses.push(info.loss);
      accuracies.push(info.correct / info.batchSize);
      opts.onStep?.({ step: info.step, loss: info.loss, accuracy: info.correct / info.batchSize, samplesPerSecond: rate, state: s }, model);
    },
    shouldStop: () => losses.length >= opts.steps || (opts.shouldStop?.() ?? false),
  });
  // every 4th test digit (500, all classes): a full pass over 2,000 is slow on software WebGL
  const every4 = Int32Array.from({ length: Math.ceil(digits.test.labels.length / 4) }, (_, i) => 4 * i);
  const testAccuracy = evaluate(B, model, state, { ...digits.test, ...gather(digits.test, every4) }, 250).accuracy;
  return { backend: B.resident !== undefined ? `${B.name}, resident` : B.name, losses, accuracies, samplesPerSecond: rate, testAccuracy, model, state };
}

export interface Histogram {
  readonly layer: string;
  readonly lo: number;
  readonly hi: number;
  /** counts per bin for code −1, 0, +1 */
  readonly counts: [number[], number[], number[]];
}

/**
 * The paper's Figure 1 for the first STTN layer: the latent sum W1 + W2 in `bins` bins, each bin
 * split by the ternary code (B1 + B2)/2 the layer multiplies with (the sign of its effective
 * kernel α(B1 + B2), as sttn's quantizer computes it).
 */
export function latentHistogram(B: Backend, model: Model, state: Pick<TrainState, 'params'>, bins = 48): Histogram | undefined {
  const eff = effectiveWeights(B, model, state.params);
  const layer = Object.keys(eff).find((k) => 'w1' in eff[k].latent && 'w2' in eff[k].latent);
  if (layer === undefined) return undefined;
  const { latent, effective } = eff[layer];
  const w1 = latent.w1.data;
  const w2 = latent.w2.data;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < w1.length; i++) {
    const s = w1[i] + w2[i];
    lo = Math.min(lo, s);
    hi = Math.max(hi, s);
  }
  if (!(hi > lo)) hi = lo + 1e-6;
  const counts: [number[], number[], number[]] = [new Array(bins).fill(0), new Array(bins).fill(0), new Array(bins).fill(0)];
  for (let i = 0; i < w1.length; i++) {
    const bin = Math.min(bins - 1, Math.floor(((w1[i] + w2[i] - lo) / (hi - lo)) * bins));
    const e = effective.data[i];
    counts[e > 0 ? 2 : e < 0 ? 0 : 1][bin]++;
  }
  return { layer, lo, hi, counts };
}

export { loadDigits };
