/**
 * The demo page in a real browser (`npm run test:browser`; `.ci/run` runs it): headless Chromium
 * (Debian's `chromium`, driven by puppeteer-core, which downloads no browser) loads the page built
 * by scripts/build-web.ts, served by `sttn serve`'s server (app/cli/serve.ts) with the strict CSP
 * (`script-src 'self' 'wasm-unsafe-eval'`, no 'unsafe-eval'), and checks that:
 * - the policy is in force (generated JavaScript is refused) and the page meets no violation;
 * - a stroke drawn with the mouse is classified live (a vertical one as a 1);
 * - 100 test digits get the same classes in the page (engine + WebAssembly ternary kernels on the
 *   packed model) as from `sttn predict` on the same model file and digits;
 * - training in the page lowers the loss's moving average, on wasm and on gpu.js WebGL2
 *   (SwiftShader: `--use-angle=swiftshader --enable-unsafe-swiftshader`); in the cross-origin
 *   isolated page the wasm training step runs resident (the demo gives the threads build);
 * - gpu.js WebGL2's backend agreement laws (laws/backend-agreement.ts) hold in the page.
 * It saves a screenshot (to $STTN_SCREENSHOT, e.g. docs/browser-demo.png, else a temp file).
 *
 * A missing Chromium is a failure naming how to install it, never a skip. STTN_CHROMIUM names
 * another binary. The page's model is build-web's default (the model zoo's cnn-small 2+2), or
 * STTN_WEB_MODEL.
 */
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before } from 'node:test';
import type { Browser, Page } from 'puppeteer-core';
import { CSP, listen } from '../app/cli/serve.js';
import { loadEmbeddedMnist } from '../src/data/mnist-embedded.js';
import { buildWeb } from '../scripts/build-web.js';
import { launchChromium } from './chromium.js';
import { runCli } from './cli-io.js';
import { example } from './law.js';

const work = mkdtempSync(join(tmpdir(), 'sttn-browser-'));
const site = join(work, 'site');
let server: Server;
let browser: Browser;
let page: Page;
let model: string;
const pageErrors: string[] = [];
let cspHeader: string | null = null;

before(async () => {
  model = await buildWeb({ out: site, model: process.env.STTN_WEB_MODEL || undefined });
  server = await listen(site, 0, '127.0.0.1');
  const port = (server.address() as AddressInfo).port;
  browser = await launchChromium(1000, 1100);
  page = await browser.newPage();
  page.on('pageerror', (e) => pageErrors.push(String((e as Error).message ?? e)));
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`);
  });
  const res = await page.goto(`http://127.0.0.1:${port}/`, { waitUntil: 'load' });
  cspHeader = res?.headers()['content-security-policy'] ?? null;
  await page.evaluate(() => (globalThis as unknown as { sttnDemo: { ready: Promise<void> } }).sttnDemo.ready);
});

after(async () => {
  await browser?.close();
  server?.close();
  rmSync(work, { recursive: true, force: true });
});

const report = (what: string, detail: unknown): void => console.log(`# ${what}: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`);

/** The violations the first law provokes on purpose; the last law checks that the page met no other. */
let provoked: string[] = [];
const violationsNow = (): Promise<string[]> => page.evaluate(() => [...(globalThis as unknown as { sttnDemo: { violations: string[] } }).sttnDemo.violations]);

example("the page is served with the strict CSP, which refuses generated JavaScript (new Function) while WebAssembly compiles", async () => {
  // from a task of the page's own: code evaluated through DevTools may generate code under any CSP
  const refused = await page.evaluate(
    () =>
      new Promise<boolean>((done) =>
        setTimeout(() => {
          try {
            done(typeof new Function('return 1') !== 'function');
          } catch (e) {
            done(e instanceof EvalError);
          }
        }, 0),
      ),
  );
  const isolated = await page.evaluate(() => self.crossOriginIsolated);
  // each policy reports the refusal, the header's and the <meta>'s: both are in force. Reports
  // arrive as events, later on a loaded machine: wait for both (a timeout leaves fewer, and fails)
  await page
    .waitForFunction(() => (globalThis as unknown as { sttnDemo: { violations: string[] } }).sttnDemo.violations.length >= 2, { timeout: 10_000 })
    .catch(() => undefined);
  provoked = await violationsNow();
  report('CSP header', cspHeader ?? 'none');
  report('new Function refused', { refused, violations: provoked });
  return cspHeader === CSP && refused && isolated && provoked.length === 2 && provoked.every((v) => v === 'script-src: eval');
});

example('100 test digits: the page (engine + WebAssembly ternary kernels) gives the classes `sttn predict` gives on the same model and digits', async () => {
  const test = loadEmbeddedMnist().test;
  const n = 100;
  const total = test.labels.length;
  // spread over the split, so every class is in
  const picks = Array.from({ length: n }, (_, i) => Math.floor((i * total) / n));
  const pixels = new Float32Array(n * 784);
  picks.forEach((p, i) => pixels.set(test.images.data.subarray(p * 784, (p + 1) * 784), i * 784));
  // the same digits as an IDX file for `sttn predict` (bytes = round(pixel·255), the shipped bytes)
  const header = Buffer.alloc(16);
  header.writeUInt32BE(0x803, 0);
  header.writeUInt32BE(n, 4);
  header.writeUInt32BE(28, 8);
  header.writeUInt32BE(28, 12);
  const bytes = Uint8Array.from(pixels, (v) => Math.round(v * 255));
  const idx = join(work, 'digits-100.idx');
  writeFileSync(idx, Buffer.concat([header, bytes]));
  const unit = Array.from(bytes, (b) => b / 255);
  const cli = await runCli(['predict', model, idx, '--json', '--kernels', 'wasm', '--backend', 'wasm']);
  if (cli.code !== 0) return report('sttn predict failed', cli.err), false;
  const expected = (JSON.parse(cli.out) as { predictions: { class: number }[] }).predictions.map((p) => p.class);
  const got = await page.evaluate((px: number[], k: number) => (globalThis as unknown as { sttnDemo: { classify(p: number[], n: number): { classes: number[]; msPerImage: number } } }).sttnDemo.classify(px, k), unit, n);
  const correct = got.classes.filter((c, i) => c === test.labels[picks[i]]).length;
  const differ = got.classes.map((c, i) => (c === expected[i] ? -1 : i)).filter((i) => i >= 0);
  report('page vs sttn predict', { differ, correct, msPerImage: got.msPerImage });
  // the digits span every class: a model that said one class for all would make the comparison weak
  return got.classes.length === n && expected.length === n && differ.length === 0 && new Set(expected).size >= 5;
});

interface TrainResult {
  backend: string;
  losses: number[];
  samplesPerSecond: number;
  testAccuracy: number;
}

const STEPS = 40;
const mean = (xs: readonly number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;

/** The loss's moving average over the last 10 steps ends below 60% of the first 5 steps' mean (ln 10 ≈ 2.3 at the start). */
const lossFalls = (r: TrainResult): boolean => r.losses.length === STEPS && r.losses.every(Number.isFinite) && mean(r.losses.slice(-10)) < 0.6 * mean(r.losses.slice(0, 5));

const trainIn = (backend: string): Promise<TrainResult> =>
  page.evaluate(
    (b: string, steps: number) => (globalThis as unknown as { sttnDemo: { train(b: string, s: number): Promise<TrainResult> } }).sttnDemo.train(b, steps),
    backend,
    STEPS,
  );

example(`training in the page on wasm lowers the loss (${STEPS} steps of batch 32), its step resident in the isolated page`, async () => {
  const r = await trainIn('wasm');
  report('wasm', { backend: r.backend, first5: mean(r.losses.slice(0, 5)), last10: mean(r.losses.slice(-10)), samplesPerSecond: Math.round(r.samplesPerSecond), testAccuracy: r.testAccuracy });
  return r.backend === 'wasm, resident' && lossFalls(r) && r.samplesPerSecond > 0;
});

example(`training in the page on gpu.js WebGL2 (SwiftShader) lowers the loss (${STEPS} steps of batch 32)`, async () => {
  const r = await trainIn('gpujs:webgl2');
  report('gpujs:webgl2', { backend: r.backend, first5: mean(r.losses.slice(0, 5)), last10: mean(r.losses.slice(-10)), samplesPerSecond: Math.round(r.samplesPerSecond), testAccuracy: r.testAccuracy });
  return /webgl2/.test(r.backend) && lossFalls(r) && r.samplesPerSecond > 0;
});

interface LawResult {
  name: string;
  ok: boolean;
  ms: number;
  runs: number;
  error?: string;
}

example('the gpu.js WebGL2 backend agreement laws (laws/backend-agreement.ts) hold in the page, under its CSP', async () => {
  await page.addScriptTag({ url: '/laws.js', type: 'module' });
  await page.waitForFunction(() => 'sttnLaws' in globalThis, { timeout: 60_000 });
  // every law with the number of runs it has in Node, fresh draws each time
  const r = await page.evaluate(() => (globalThis as unknown as { sttnLaws: { run(o: object): Promise<{ backend: string; results: LawResult[] }> } }).sttnLaws.run({ mode: 'webgl2' }));
  const failed = r.results.filter((x) => !x.ok);
  report('laws', { backend: r.backend, count: r.results.length, failed: failed.length, seconds: Math.round(r.results.reduce((t, x) => t + x.ms, 0) / 100) / 10 });
  for (const f of failed) report(`failed: ${f.name}`, f.error ?? '');
  return /webgl2/.test(r.backend) && r.results.length >= 40 && failed.length === 0;
});

example('drawing on the pad: a vertical stroke, drawn with the mouse, is classified live as a 1', async () => {
  await page.click('#clear');
  const box = (await page.$('#pad'))!.boundingBox();
  const b = (await box)!;
  await page.mouse.move(b.x + b.width * 0.52, b.y + b.height * 0.18);
  await page.mouse.down();
  for (let k = 1; k <= 12; k++) await page.mouse.move(b.x + b.width * (0.52 - 0.04 * (k / 12)), b.y + b.height * (0.18 + 0.64 * (k / 12)));
  await page.mouse.up();
  // the prediction is redrawn on the next animation frame
  await page.waitForFunction(() => document.getElementById('pred')?.textContent !== '–', { timeout: 10_000 });
  const shown = await page.evaluate(() => ({ pred: document.getElementById('pred')!.textContent, probs: document.querySelectorAll('#probs li').length, ms: document.getElementById('infer-ms')!.textContent }));
  report('drawn', shown);
  // the time shown is a number (a fast or coarse clock may show 0.000)
  const ms = shown.ms?.trim() ?? '';
  return shown.pred === '1' && shown.probs === 10 && ms !== '' && Number.isFinite(Number(ms)) && Number(ms) >= 0;
});

example('the page met no CSP violation (but the one provoked) and no uncaught error; a screenshot is saved', async () => {
  // a test digit on the pad, so the screenshot shows a classification next to the training plots
  await page.click('#sample');
  const shot = join(work, 'browser-demo.png');
  await page.screenshot({ path: shot as `${string}.png`, fullPage: true });
  const target = process.env.STTN_SCREENSHOT;
  if (target) copyFileSync(shot, resolve(target));
  report('screenshot', target ? resolve(target) : shot);
  const violations = (await violationsNow()).slice(provoked.length);
  report('violations', violations);
  report('page errors', pageErrors);
  return violations.length === 0 && pageErrors.length === 0;
});
