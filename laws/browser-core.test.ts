/**
 * The browser core in a real browser (`npm run test:browser`): headless Chromium (puppeteer-core,
 * the system's binary) loads esbuild bundles of sttn's browser-safe subpaths from a page served
 * with the strict policy of `sttn serve` (`script-src 'self' 'wasm-unsafe-eval'`, no
 * 'unsafe-eval'), and
 *   - the policy is in force: a bundle of `sttn/backends/cpu` (ndarray-ops and cpu's loops compile
 *     with `new Function`) throws an EvalError there — the control that shows the page would
 *     catch code generation;
 *   - `sttn/neutral` quantizes as in Node, bit for bit;
 *   - `sttn/backends/wasm` loads its module from a URL (compiled while streaming) and multiplies
 *     as in Node, bit for bit;
 *   - `sttn/export` parses a `.sttn` model fetched as bytes, `sttn/backends/ternary` loads its
 *     kernels from a URL, and `sttn/infer`'s engine classifies digits with the probabilities the
 *     Node engine gives, bit for bit;
 *   - `sttn/data` loads the embedded digits from a URL (gunzip by DecompressionStream) equal to
 *     Node's `loadEmbeddedMnist`;
 *   - gpu.js's `webgl2` mode (through `sttn/backends/gpujs`, gpu.js's browser build passed in)
 *     multiplies under the same policy, within float32 tolerance of js32;
 *   - nothing of the above met a CSP violation other than the control's (those reported from cpu.js).
 * Chromium comes from laws/chromium.ts (Debian's `chromium` or STTN_CHROMIUM).
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'puppeteer-core';
import { CSP, listen } from '../app/cli/serve.js';
import { js32 } from '../backends/js.js';
import * as neutral from '../backends/neutral.js';
import { createWasmBackend } from '../backends/wasm.js';
import { bundle, cnnSmallModel } from '../scripts/bundle-sizes.js';
import { loadEmbeddedMnist } from '../src/data/mnist-embedded.js';
import { parseDeployed } from '../src/export/container-format.js';
import { createEngine } from '../src/infer/engine.js';
import { orThrow } from '../src/codec.js';
import { launchChromium } from './chromium.js';
import { example } from './law.js';
import * as E from 'fp-ts/lib/Either.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The page's own code (no inline script: the policy forbids it), run from main.js. */
const ENTRY = `
import { sttn } from 'sttn/neutral';
import { createWasmBackend } from 'sttn/backends/wasm';
import { createWasmTernaryKernels } from 'sttn/backends/ternary';
import { parseDeployed } from 'sttn/export';
import { createEngine } from 'sttn/infer';
import { loadEmbeddedMnistFrom } from 'sttn/data';
export async function run(input) {
  const out = {};
  const f = sttn.forward({ w1: { shape: [input.w1.length], data: Float32Array.from(input.w1) }, w2: { shape: [input.w2.length], data: Float32Array.from(input.w2) } });
  out.neutral = { merged: Array.from(f.merged.data), alpha: Array.from(f.alpha.data) };
  const W = await createWasmBackend({ source: new URL('./wasm/sttn-simd.wasm', location.href) });
  out.matmul = Array.from(W.matmul({ shape: [input.m, input.k], data: Float32Array.from(input.a) }, { shape: [input.k, input.n], data: Float32Array.from(input.b) }).data);
  const bytes = new Uint8Array(await (await fetch('./model.sttn')).arrayBuffer());
  const parsed = parseDeployed(bytes, 'model.sttn');
  if (parsed._tag !== 'Right') throw new Error(parsed.left.message);
  const kernels = await createWasmTernaryKernels({ source: './wasm/sttn-ternary.wasm' });
  const engine = createEngine(parsed.right, { backend: W, kernels });
  out.probabilities = Array.from(engine.run({ shape: [input.digits, 28, 28, 1], data: Float32Array.from(input.pixels) }).data);
  const split = await loadEmbeddedMnistFrom('./data/', { testPerClass: 3, trainPerClass: 2 });
  out.digits = { train: split.train.labels.length, test: Array.from(split.test.images.data.subarray(0, 784 * 3)) };
  return out;
}
`;

const GPUJS_ENTRY = `
import { createGpujsBackend } from 'sttn/backends/gpujs';
import * as gpujs from 'gpu.js';
export async function run(input) {
  const B = await createGpujsBackend({ mode: 'webgl2', gpujs });
  const y = B.matmul({ shape: [input.m, input.k], data: Float32Array.from(input.a) }, { shape: [input.k, input.n], data: Float32Array.from(input.b) });
  return { device: B.device, matmul: Array.from(y.data) };
}
`;

const CPU_ENTRY = `
import { cpu32 } from 'sttn/backends/cpu';
export async function run() {
  try { cpu32.unary('sign', { shape: [2], data: new Float32Array([1, -1]) }); return 'ran'; }
  catch (e) { return e instanceof EvalError ? 'EvalError' : String(e); }
}
`;

const MAIN = `
const violations = [];
document.addEventListener('securitypolicyviolation', (e) => violations.push(e.violatedDirective + ' ' + (e.sourceFile || '') + ':' + e.lineNumber));
const call = async (file, input) => {
  try { return { ok: await (await import(file)).run(input) }; }
  catch (e) { return { error: String(e && e.stack || e) }; }
};
globalThis.sttnCore = { violations, call };
`;

const work = mkdtempSync(join(tmpdir(), 'sttn-browser-core-'));
let server: Server;
let browser: Browser;
let page: Page;
let cspHeader: string | null = null;
const pageErrors: string[] = [];

// Inputs, and what Node computes from them.
const w1 = [0.3, -0.6, 0.1, 0.25, -0.05];
const w2 = [0.5, 0.2, -0.4, -0.25, 0.05];
const [m, k, n] = [5, 7, 3];
const a = Array.from({ length: m * k }, (_, i) => Math.fround(Math.sin(i + 1)));
const b = Array.from({ length: k * n }, (_, i) => Math.fround(Math.cos(i * 0.7)));
let modelBytes: Uint8Array;
const test = loadEmbeddedMnist().test;
const DIGITS = 4;
const pixels = Array.from(test.images.data.subarray(0, DIGITS * 784));

before(async () => {
  const site = join(work, 'site');
  mkdirSync(join(site, 'wasm'), { recursive: true });
  mkdirSync(join(site, 'data'), { recursive: true });
  for (const f of ['sttn-simd.wasm', 'sttn-ternary.wasm']) copyFileSync(join(root, 'build', 'wasm', f), join(site, 'wasm', f));
  for (const f of ['mnist-embedded-images.idx3-ubyte.gz', 'mnist-embedded-labels.idx1-ubyte.gz']) copyFileSync(join(root, 'build', 'data', f), join(site, 'data', f));
  modelBytes = await cnnSmallModel();
  writeFileSync(join(site, 'model.sttn'), modelBytes);
  for (const [file, source] of [['core.js', ENTRY], ['gpujs.js', GPUJS_ENTRY], ['cpu.js', CPU_ENTRY]] as const) {
    writeFileSync(join(site, file), (await bundle({ name: file, source })).code);
  }
  writeFileSync(join(site, 'main.js'), MAIN);
  writeFileSync(join(site, 'index.html'), '<!doctype html><html><head><meta charset="utf-8"><title>sttn core</title><script type="module" src="./main.js"></script></head><body></body></html>');
  server = await listen(site, 0, '127.0.0.1');
  const port = (server.address() as AddressInfo).port;
  browser = await launchChromium();
  page = await browser.newPage();
  page.on('pageerror', (e) => pageErrors.push(String((e as Error).message ?? e)));
  const res = await page.goto(`http://127.0.0.1:${port}/`, { waitUntil: 'load' });
  cspHeader = res?.headers()['content-security-policy'] ?? null;
  await page.waitForFunction(() => 'sttnCore' in globalThis);
});

after(async () => {
  await browser?.close();
  server?.close();
  rmSync(work, { recursive: true, force: true });
});

type Outcome<T> = { ok?: T; error?: string };
const call = <T>(file: string, input?: unknown): Promise<Outcome<T>> =>
  page.evaluate((f, i) => (globalThis as unknown as { sttnCore: { call(f: string, i: unknown): Promise<Outcome<unknown>> } }).sttnCore.call(f, i), file, input) as Promise<Outcome<T>>;
/** The control's violations are reported from cpu.js; every other one is the page's. */
const fromControl = (v: string): boolean => v.includes('/cpu.js:');
const violations = (): Promise<string[]> => page.evaluate(() => [...(globalThis as unknown as { sttnCore: { violations: string[] } }).sttnCore.violations]);
const sameBits = (x: ArrayLike<number>, y: ArrayLike<number>): boolean => x.length === y.length && Array.from(x).every((v, i) => Object.is(v, y[i]));

example('the strict policy is in force: sttn/backends/cpu (code generation) throws an EvalError in the page', async () => {
  const r = await call<string>('./cpu.js');
  // the report is an event, later on a loaded machine: wait for it (a timeout leaves none, and fails)
  await page
    .waitForFunction(() => (globalThis as unknown as { sttnCore: { violations: string[] } }).sttnCore.violations.some((x) => x.includes('/cpu.js:')), { timeout: 10_000 })
    .catch(() => undefined);
  const v = await violations();
  console.log(`CSP: ${cspHeader}\ncontrol: ${(r.ok ?? r.error ?? '').split('\n')[0]}; violations ${JSON.stringify(v)}`);
  // ndarray-ops compiles its ops as the module loads: the import itself fails, or the first call
  const evalError = r.ok === 'EvalError' || (r.error ?? '').startsWith('EvalError');
  return cspHeader === CSP && !/unsafe-eval'/.test(CSP.replace("'wasm-unsafe-eval'", '')) && evalError && v.length > 0 && v.every((x) => x.startsWith('script-src') && fromControl(x));
});

interface CoreResult {
  neutral: { merged: number[]; alpha: number[] };
  matmul: number[];
  probabilities: number[];
  digits: { train: number; test: number[] };
}
let core: Outcome<CoreResult> | undefined;
const coreResult = async (): Promise<Outcome<CoreResult>> => (core ??= await call<CoreResult>('./core.js', { w1, w2, m, k, n, a, b, digits: DIGITS, pixels }));

example('sttn/neutral in the page quantizes as in Node, bit for bit', async () => {
  const r = await coreResult();
  if (r.error) console.error(r.error);
  const want = neutral.sttn.forward({ w1: { shape: [5], data: Float32Array.from(w1) }, w2: { shape: [5], data: Float32Array.from(w2) } });
  if (r.ok !== undefined && !(sameBits(r.ok.neutral.merged, want.merged.data) && sameBits(r.ok.neutral.alpha, want.alpha.data))) {
    console.error(`page ${JSON.stringify(r.ok.neutral)}, Node ${JSON.stringify({ merged: Array.from(want.merged.data), alpha: Array.from(want.alpha.data) })}`);
  }
  return r.ok !== undefined && sameBits(r.ok.neutral.merged, want.merged.data) && sameBits(r.ok.neutral.alpha, want.alpha.data);
});

example('sttn/backends/wasm in the page (module from a URL) multiplies as in Node, bit for bit', async () => {
  const r = await coreResult();
  const W = await createWasmBackend();
  const want = W.matmul({ shape: [m, k], data: Float32Array.from(a) }, { shape: [k, n], data: Float32Array.from(b) });
  return r.ok !== undefined && sameBits(r.ok.matmul, want.data);
});

example('a .sttn model fetched as bytes, the wasm ternary kernels from a URL and the engine give the Node engine\'s probabilities, bit for bit', async () => {
  const r = await coreResult();
  const parsed = parseDeployed(modelBytes, 'model.sttn');
  if (E.isLeft(parsed)) return false;
  const { createWasmTernaryKernels } = await import('../backends/ternary.js');
  const engine = createEngine(parsed.right, { backend: await createWasmBackend(), kernels: await createWasmTernaryKernels() });
  const want = engine.run({ shape: [DIGITS, 28, 28, 1], data: Float32Array.from(pixels) }).data;
  return r.ok !== undefined && r.ok.probabilities.length === DIGITS * 10 && sameBits(r.ok.probabilities, want);
});

example('sttn/data in the page loads the embedded digits from a URL as loadEmbeddedMnist does', async () => {
  const r = await coreResult();
  const want = loadEmbeddedMnist({ testPerClass: 3, trainPerClass: 2 });
  return r.ok !== undefined && r.ok.digits.train === want.train.labels.length && sameBits(r.ok.digits.test, want.test.images.data.subarray(0, 784 * 3));
});

example('gpu.js webgl2 (sttn/backends/gpujs, gpu.js browser build) multiplies under the strict policy, within float32 tolerance of js32', async () => {
  const r = await call<{ device: string; matmul: number[] }>('./gpujs.js', { m, k, n, a, b });
  console.log(`gpu.js webgl2: ${r.error ? `error ${r.error.split('\n')[0]}` : r.ok?.device}`);
  if (r.ok === undefined) return false;
  const want = js32.matmul({ shape: [m, k], data: Float32Array.from(a) }, { shape: [k, n], data: Float32Array.from(b) }).data;
  return r.ok.matmul.length === want.length && r.ok.matmul.every((v, i) => Math.abs(v - want[i]) <= k * 2 ** -22 * (1 + Math.abs(want[i])));
});

example('no CSP violation and no page error beyond the control', async () => {
  await coreResult();
  // the control's reports may still arrive late; any other is a violation of the page's own
  const v = (await violations()).filter((x) => !fromControl(x));
  if (v.length > 0 || pageErrors.length > 0) console.error({ violations: v, pageErrors });
  return v.length === 0 && pageErrors.length === 0;
});
