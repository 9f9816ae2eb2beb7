/**
 * The demo page's entry (bundled into dist/app.js by `npm run build:web`): wires the drawing pad,
 * the live classification, the training buttons and the plots to demo.ts. No inline handlers
 * (the page's CSP forbids them): every listener is attached here.
 *
 * `window.sttnDemo` exposes the page's own functions to the browser law
 * (laws/browser-page.test.ts): it classifies digits and trains exactly as the buttons do, and
 * records every CSP violation the page meets.
 */
import { classify, latentHistogram, loadClassifier, loadDigits, loadTrainBackend, trainHere, TRAIN_BATCH, TRAIN_SPEC, type Classifier, type TrainBackend, type TrainRun } from './demo.js';
import { paint, toInput, type Digits } from './digits.js';
import { drawHistogram, drawLoss, movingAverage } from './plots.js';

const $ = <T extends HTMLElement>(id: string): T => {
  const e = document.getElementById(id);
  if (e === null) throw new Error(`the page has no #${id}`);
  return e as T;
};

const violations: string[] = [];
document.addEventListener('securitypolicyviolation', (e) => violations.push(`${e.violatedDirective}: ${e.blockedURI || e.sourceFile}`));

const status = (text: string, error = false): void => {
  const s = $('status');
  s.textContent = text;
  s.classList.toggle('error', error);
};

// ---------------------------------------------------------------------------------------------
// Drawing and classifying

const pad = $<HTMLCanvasElement>('pad');
const thumb = $<HTMLCanvasElement>('thumb');
const padCtx = pad.getContext('2d', { willReadFrequently: true })!;

function clearPad(): void {
  padCtx.fillStyle = '#000';
  padCtx.fillRect(0, 0, pad.width, pad.height);
}
clearPad();

function showPrediction(c: Classifier, input: Float32Array): void {
  paint(thumb, input);
  if (!input.some((v) => v > 0)) {
    // nothing drawn: no class to show
    $('pred').textContent = '–';
    $('infer-ms').textContent = '–';
    $('probs').replaceChildren();
    return;
  }
  const r = classify(c, input, 1);
  const p = r.probabilities[0];
  $('pred').textContent = String(r.classes[0]);
  $('infer-ms').textContent = r.msPerImage.toFixed(3);
  const list = $('probs');
  list.replaceChildren(
    ...p.map((v, k) => {
      const li = document.createElement('li');
      const bar = document.createElement('span');
      bar.className = 'bar';
      bar.style.width = `${Math.max(1, Math.round(v * 150))}px`;
      li.append(bar, `${(v * 100).toFixed(1)}%`);
      if (k === r.classes[0]) li.className = 'top';
      return li;
    }),
  );
}

function attachPad(c: Classifier, digits: Digits | undefined): void {
  let drawing = false;
  let last: [number, number] | null = null;
  let pending = false;
  const at = (e: PointerEvent): [number, number] => {
    const r = pad.getBoundingClientRect();
    return [((e.clientX - r.left) / r.width) * pad.width, ((e.clientY - r.top) / r.height) * pad.height];
  };
  const update = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      showPrediction(c, toInput(pad));
    });
  };
  pad.addEventListener('pointerdown', (e) => {
    drawing = true;
    last = at(e);
    pad.setPointerCapture(e.pointerId);
  });
  pad.addEventListener('pointermove', (e) => {
    if (!drawing || last === null) return;
    const p = at(e);
    padCtx.strokeStyle = '#fff';
    padCtx.lineWidth = 20;
    padCtx.lineCap = 'round';
    padCtx.lineJoin = 'round';
    padCtx.beginPath();
    padCtx.moveTo(...last);
    padCtx.lineTo(...p);
    padCtx.stroke();
    last = p;
    update();
  });
  const end = () => {
    drawing = false;
    last = null;
  };
  pad.addEventListener('pointerup', end);
  pad.addEventListener('pointercancel', end);
  $('clear').addEventListener('click', () => {
    clearPad();
    showPrediction(c, toInput(pad));
  });
  const sample = $<HTMLButtonElement>('sample');
  sample.disabled = digits === undefined;
  let next = 0;
  sample.addEventListener('click', () => {
    if (digits === undefined) return;
    const { test } = digits;
    const n = test.labels.length;
    // stride through the test split so that successive clicks show different classes
    const i = (next = (next + 733) % n);
    const x = test.images.data.slice(i * 784, (i + 1) * 784) as Float32Array;
    paint(pad, x);
    showPrediction(c, x);
  });
}

// ---------------------------------------------------------------------------------------------
// Training

let stopRequested = false;
let training = false;

async function runTraining(name: TrainBackend, digits: Digits, steps: number): Promise<TrainRun> {
  if (training) throw new Error('a training run is already going');
  training = true;
  stopRequested = false;
  const buttons = ['train-wasm', 'train-gpujs'].map((id) => $<HTMLButtonElement>(id));
  buttons.forEach((b) => (b.disabled = true));
  $<HTMLButtonElement>('train-stop').disabled = false;
  const losses: number[] = [];
  const accs: number[] = [];
  let redraw = false;
  try {
    $('train-backend').textContent = name === 'wasm' ? 'wasm' : 'gpu.js WebGL2';
    $('train-test').textContent = '–';
    status(`training on ${name}…`);
    const B = await loadTrainBackend(name);
    const run = await trainHere(B, digits, {
      steps,
      shouldStop: () => stopRequested,
      onStep: (p, model) => {
        losses.push(p.loss);
        accs.push(p.accuracy);
        $('train-step').textContent = String(p.step);
        $('train-loss').textContent = movingAverage(losses, 10).at(-1)!.toFixed(3);
        $('train-acc').textContent = `${(p.accuracy * 100).toFixed(0)}%`;
        $('train-rate').textContent = p.samplesPerSecond > 0 ? p.samplesPerSecond.toFixed(0) : '–';
        if (!redraw) {
          redraw = true;
          requestAnimationFrame(() => {
            redraw = false;
            drawLoss($('loss-plot'), losses, accs);
            const h = latentHistogram(B, model, p.state);
            $('hist-layer').textContent = h?.layer ?? '–';
            drawHistogram($('hist'), h);
          });
        }
      },
    });
    drawLoss($('loss-plot'), run.losses, run.accuracies);
    drawHistogram($('hist'), latentHistogram(B, run.model, run.state));
    $('train-test').textContent = `${(run.testAccuracy * 100).toFixed(1)}%`;
    status(`trained ${run.losses.length} steps on ${name}: test accuracy ${(run.testAccuracy * 100).toFixed(1)}%, ${run.samplesPerSecond.toFixed(0)} samples/s`);
    return run;
  } catch (e) {
    status(`training on ${name} failed: ${(e as Error).message}`, true);
    throw e;
  } finally {
    training = false;
    buttons.forEach((b) => (b.disabled = false));
    $<HTMLButtonElement>('train-stop').disabled = true;
  }
}

// ---------------------------------------------------------------------------------------------
// Start

/** What the browser law reads: the page's own functions and what it met. */
interface DemoHook {
  readonly ready: Promise<void>;
  readonly violations: string[];
  classify(pixels: number[], n: number): { classes: number[]; msPerImage: number };
  train(backend: TrainBackend, steps: number): Promise<{ backend: string; losses: number[]; samplesPerSecond: number; testAccuracy: number }>;
}

async function start(): Promise<{ classifier: Classifier; digits: Digits }> {
  const [classifier, digits] = await Promise.all([loadClassifier(), loadDigits()]);
  $('model-name').textContent = classifier.name;
  $('model-bytes').textContent = classifier.bytes.toLocaleString('en');
  $('train-model').textContent = `${TRAIN_SPEC.name}, width ½`;
  $('train-count').textContent = digits.train.labels.length.toLocaleString('en');
  $('test-count').textContent = digits.test.labels.length.toLocaleString('en');
  $('train-batch').textContent = String(TRAIN_BATCH);
  attachPad(classifier, digits);
  showPrediction(classifier, toInput(pad));
  for (const [id, name] of [['train-wasm', 'wasm'], ['train-gpujs', 'gpujs:webgl2']] as const) {
    $(id).addEventListener('click', () => void runTraining(name, digits, 2000).catch(() => undefined));
  }
  $('train-stop').addEventListener('click', () => (stopRequested = true));
  status(`ready · ${classifier.name} · ${self.crossOriginIsolated ? 'cross-origin isolated' : 'not cross-origin isolated'}`);
  return { classifier, digits };
}

const started = start();
started.catch((e: Error) => status(`could not start: ${e.message}`, true));

const hook: DemoHook = {
  ready: started.then(() => undefined),
  violations,
  classify: (pixels, n) => {
    throw new Error(`not ready (${pixels.length}, ${n})`);
  },
  train: async () => {
    throw new Error('not ready');
  },
};
void started.then(({ classifier, digits }) => {
  Object.assign(hook, {
    classify: (pixels: number[], n: number) => {
      const r = classify(classifier, Float32Array.from(pixels), n);
      return { classes: r.classes, msPerImage: r.msPerImage };
    },
    train: async (backend: TrainBackend, steps: number) => {
      const r = await runTraining(backend, digits, steps);
      return { backend: r.backend, losses: r.losses, samplesPerSecond: r.samplesPerSecond, testAccuracy: r.testAccuracy };
    },
  });
});
(globalThis as unknown as { sttnDemo: DemoHook }).sttnDemo = hook;
