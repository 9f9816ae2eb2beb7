/**
 * Browser training benchmark (issue #16 item 2): sttn's cnn-small STTN 2+2 training step at batch
 * 64 at 2 threads against tfjs-wasm's threaded build at 2 threads, in one cross-origin isolated
 * page of headless Chromium, with each at 1 thread as the reference.
 *
 * Run: `npx tsx bench/browser-train.ts` (after `npm run build:wasm`; Chromium from laws/chromium.ts:
 * Debian's `chromium` or STTN_CHROMIUM). Results: bench/TRAIN.md. `STTN_BENCH_QUICK=1`: a smoke run
 * (tiny step counts, every check but the "tfjs trains" threshold; its timings mean nothing).
 * `STTN_TRAIN_ROUNDS` (default 5) / `STTN_TRAIN_STEPS` (20) / `STTN_TRAIN_WARMUP` (30) override the
 * counts; `STTN_TRAIN_THREADS` (default 2) is the threaded contenders' count.
 *
 * Why a browser: tfjs-backend-wasm picks its threaded build (tfjs-backend-wasm-threaded-simd.wasm,
 * XNNPACK on pthreads) only where SharedArrayBuffer can be posted, i.e. a cross-origin isolated
 * page; in Node it never does (tensorflow/tfjs#3830), so bench/train.ts runs it at one thread.
 *
 * What runs: esbuild bundles bench/web/ (the page script, one worker per contender, and sttn's pool
 * worker backends/wasm/worker.ts) into a temporary folder with sttn's build/wasm/ files, tfjs's
 * .wasm files and the embedded digits; a node:http server sends every file with
 * `Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy: require-corp` (no
 * CSP: tfjs's threaded build starts its pthreads from blob: URLs) and logs what was fetched. Each
 * contender is a dedicated worker of the page (a browser's main thread may not block, so sttn's
 * pool runs its calling thread in a worker; tfjs-wasm's pthreads, too, wait properly only off the
 * main thread): bench/web/tfjs-worker.ts (the faster of bench/train.ts's two tfjs formulations,
 * from bench/tfjs-train-step.ts) and bench/web/sttn-worker.ts (`train()` on
 * `createWasmBackend({ threads, resident: true })`). Both train on the same batches (sttn's
 * pipeline: bench/tfjs-train-step.ts `batchSource`).
 *
 * Checks before timing (the run stops if one fails): the page is cross-origin isolated; tfjs's
 * backend is wasm with SIMD, `getThreadsCount()` equals the asked count, and the worker fetched
 * the threaded build at 2 threads and the plain SIMD build at 1 (and the server served both);
 * tfjs's layer shapes and GEMM FLOPs equal sttn's, its loss and gradients agree with sttn's from
 * sttn 32+32's initial parameters (noise batch: bench/common.ts `randomF32` seed 7, as in
 * bench/train.ts), its loss falls over the warm-up and it leaks no tensors; sttn's backend runs
 * the asked threads, resident, and its 2-thread warm-up losses equal its 1-thread ones bit for bit.
 *
 * Contenders, in round-robin order: tfjs-wasm's threaded build at `THREADS` threads and at 1,
 * tfjs-wasm's plain SIMD build (1 thread: what bench/train.ts runs in Node), sttn at `THREADS`
 * threads and at 1 (resident on the threads build at both). tfjs-wasm caps its pool at
 * `navigator.hardwareConcurrency / 2` (it assumes two hardware threads per core), so on a 2-core
 * machine its worker shows tfjs a doubled count; `getThreadsCount()` checks what it runs.
 *
 * Timing: every contender warms up (`STTN_TRAIN_WARMUP` steps, one contender at a time), then
 * `ROUNDS` rounds in which each contender in turn runs `STEPS` steps; samples/s = 64·STEPS / wall
 * time measured inside the contender's worker, medians over the rounds. A page has no CPU clock:
 * the CPU time beside it is the Chromium renderer process's (every thread: the page, its workers,
 * their thread pools, V8's helpers; read from /proc around each chunk, 10 ms ticks), which sums
 * a threaded contender's threads, so threads compare by wall time; CPU ÷ wall is how many threads
 * were busy on average (on a quiet machine: whether the second thread worked).
 */
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '../laws/chromium.js';
import { fmt, machine, median, randomF32, table } from './common.js';
import { envInt, runPreamble, trainCounts } from './train-env.js';
import type { ContenderSpec, Ready } from './web/train-page.js';

const { quick: QUICK, steps: STEPS, rounds: ROUNDS, warm: WARM } = trainCounts(5);
const BATCH = 64;
const THREADS = envInt('STTN_TRAIN_THREADS', 2);
if (THREADS < 2) throw new Error('STTN_TRAIN_THREADS must be at least 2: the 1-thread contenders run anyway');

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const wasmDir = join(root, 'build', 'wasm');
for (const f of ['sttn-simd.wasm', 'sttn-relaxed-simd.wasm', 'sttn-simd-threads.wasm']) {
  if (!existsSync(join(wasmDir, f))) throw new Error(`build/wasm/${f} is missing: run \`npm run build:wasm\` first`);
}
const tfjsDist = join(dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');

// ---------------------------------------------------------------------------------------------
// The page: bundles, wasm files, digits

const out = mkdtempSync(join(tmpdir(), 'sttn-browser-train-'));
process.on('exit', () => rmSync(out, { recursive: true, force: true }));
const common = { bundle: true, platform: 'browser', target: 'chrome111', outdir: out, absWorkingDir: root, logLevel: 'warning', sourcemap: false } as const;
await build({
  ...common,
  format: 'esm',
  entryPoints: { 'train-page': 'bench/web/train-page.ts', 'tfjs-worker': 'bench/web/tfjs-worker.ts', 'sttn-worker': 'bench/web/sttn-worker.ts', worker: 'backends/wasm/worker.ts' },
});
writeFileSync(
  join(out, 'index.html'),
  '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>sttn browser training benchmark</title><script type="module" src="./train-page.js"></script>\n',
);
for (const [from, to, pick] of [
  [wasmDir, 'wasm', (f: string) => f.endsWith('.wasm')],
  [tfjsDist, 'tfjs', (f: string) => f.endsWith('.wasm')],
  [join(root, 'build', 'data'), 'data', () => true],
] as const) {
  mkdirSync(join(out, to));
  for (const f of readdirSync(from).filter(pick)) copyFileSync(join(from, f), join(out, to, f));
}

// ---------------------------------------------------------------------------------------------
// The server: cross-origin isolation on every response; what was fetched, logged

const MIME: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.wasm': 'application/wasm', '.gz': 'application/gzip', '.md': 'text/plain; charset=utf-8' };
const served: string[] = [];
const server = createServer((req, res) => {
  const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  const file = join(out, path === '/' ? 'index.html' : path);
  const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp', 'Cross-Origin-Resource-Policy': 'same-origin', 'Cache-Control': 'no-store' };
  if (!file.startsWith(out + '/') || !existsSync(file)) {
    res.writeHead(404, headers).end();
    return;
  }
  served.push(path);
  res.writeHead(200, { ...headers, 'Content-Type': MIME[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
});
await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;

// ---------------------------------------------------------------------------------------------
// CPU time: a page has no CPU clock, but its workers are threads of Chromium's renderer process

/** The renderer processes descending from Chromium's browser process `browserPid` (Linux /proc). */
function rendererPids(browserPid: number | undefined): number[] {
  if (browserPid === undefined) return [];
  const parent = (pid: number): number => {
    try {
      // the command name (2nd field) may hold spaces: the fields after its closing parenthesis
      return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').pop()!.split(' ')[1]);
    } catch {
      return 0;
    }
  };
  const descends = (pid: number): boolean => {
    for (let p = pid, n = 0; p > 1 && n < 16; p = parent(p), n++) if (p === browserPid) return true;
    return false;
  };
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--type=renderer') && descends(pid);
      } catch {
        return false;
      }
    });
}

/** User + system CPU milliseconds of processes `pids`, every thread (10 ms ticks). */
const cpuMs = (pids: readonly number[]): number =>
  pids.reduce((sum, pid) => {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').pop()!.split(' ');
    // utime and stime: fields 14 and 15 of the line, 12 and 13 after the command name
    return sum + ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
  }, 0);
/** Linux's clock ticks per second of /proc's CPU times (USER_HZ) */
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

// ---------------------------------------------------------------------------------------------
// Run

const browser = await launchChromium();
const version = await browser.version();
interface Bench {
  isolated(): boolean;
  add(spec: ContenderSpec, warm: number, quick: boolean, noise: number[]): Promise<Ready>;
  run(i: number, steps: number): Promise<{ ms: number; finite: boolean }>;
}
try {
  const page = await browser.newPage();
  page.on('console', (m) => console.error(`page: ${m.text()}`));
  page.on('pageerror', (e) => console.error(`page error: ${(e as Error).message}`));
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForFunction(() => 'sttnBench' in globalThis);
  if (!(await page.evaluate(() => (globalThis as unknown as { sttnBench: Bench }).sttnBench.isolated()))) throw new Error('the page is not cross-origin isolated');

  const specs: ContenderSpec[] = [
    { contender: 'tfjs', build: 'threaded', threads: THREADS },
    { contender: 'tfjs', build: 'threaded', threads: 1 },
    { contender: 'tfjs', build: 'plain', threads: 1 },
    { contender: 'sttn', threads: THREADS },
    { contender: 'sttn', threads: 1 },
  ];
  const noise = Array.from(randomF32(BATCH * 28 * 28, 7).map((v) => (v + 1) / 2));
  const ready: Ready[] = [];
  for (const spec of specs) {
    console.error(`warming up ${spec.contender}${spec.build ? ` (${spec.build} build)` : ''} at ${spec.threads} thread(s) (${WARM} steps, checked)…`);
    ready.push(await page.evaluate((s, w, q, n) => (globalThis as unknown as { sttnBench: Bench }).sttnBench.add(s, w, q, n), spec, WARM, QUICK, noise));
  }
  const [tf2, tf1t, tf1, st2, st1] = ready;
  const checks: string[] = ['the page is cross-origin isolated (COOP same-origin, COEP require-corp)', ...ready.flatMap((r) => r.info)];
  for (const f of ['/tfjs/tfjs-backend-wasm-threaded-simd.wasm', '/tfjs/tfjs-backend-wasm-simd.wasm', '/wasm/sttn-simd-threads.wasm', '/worker.js']) {
    if (!served.includes(f)) throw new Error(`the server never served ${f}: served ${[...new Set(served)].join(', ')}`);
  }
  checks.push(`served to the workers: ${[...new Set(served.filter((p) => p.endsWith('.wasm') || p.endsWith('worker.js')))].join(', ')}`);
  checks.push(...ready.flatMap((r) => r.checks));
  const at = st2.warmLosses.length === st1.warmLosses.length ? st2.warmLosses.findIndex((x, i) => !Object.is(x, st1.warmLosses[i])) : 0;
  if (at >= 0) throw new Error(`${st2.name}: warm-up loss of step ${at + 1} is ${st2.warmLosses[at]}, ${st1.name}'s ${st1.warmLosses[at]}: they must be the same bits`);
  checks.push(`${st2.name}: its ${WARM} warm-up losses equal ${st1.name}'s bit for bit (Object.is)`);
  for (const t of [tf2, tf1t]) {
    const d = Math.max(...t.warmLosses.map((x, i) => Math.abs(x - tf1.warmLosses[i]) / Math.abs(tf1.warmLosses[i])));
    checks.push(`${t.name} vs ${tf1.name}: warm-up losses differ by at most ${d.toExponential(1)} relative (not required to be equal)`);
  }

  const renderers = rendererPids(browser.process()?.pid);
  if (renderers.length === 0) throw new Error("no renderer process of this Chromium found under /proc: its CPU time cannot be read");
  const ms: number[][] = ready.map(() => []);
  const cpu: number[][] = ready.map(() => []);
  const loadBefore = loadavg();
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < ready.length; i++) {
      const c0 = cpuMs(renderers);
      const g = await page.evaluate((j, k) => (globalThis as unknown as { sttnBench: Bench }).sttnBench.run(j, k), i, STEPS);
      const c1 = cpuMs(renderers);
      if (!g.finite) throw new Error(`${ready[i].name}: a loss of round ${r + 1} is not finite`);
      ms[i].push(g.ms);
      cpu[i].push(c1 - c0);
      console.error(`round ${r + 1}/${ROUNDS} ${ready[i].name}: ${fmt((STEPS * BATCH) / (g.ms / 1000))} samples/s wall, ${fmt((STEPS * BATCH) / ((c1 - c0) / 1000))} CPU`);
    }
  }
  const loadAfter = loadavg();

  const rate = (t: number): number => (STEPS * BATCH) / (t / 1000);
  const med = ms.map((t) => rate(median(t)));
  const medCpu = cpu.map((t) => rate(median(t)));
  const mTf2 = med[0];
  console.log(`\n${machine().replace(/; clock: .*$/, '')}; clock: wall time inside each contender's worker; CPU time: the Chromium renderer process's (/proc, every thread: the page, its workers, their pools, V8's helpers), around each chunk`);
  console.log(`${version} (headless, --no-sandbox), one cross-origin isolated page, one dedicated worker per contender`);
  console.log(runPreamble(loadBefore, loadAfter, BATCH, { steps: STEPS, rounds: ROUNDS, warm: WARM }, checks));
  console.log(
    table(
      ['contender', 'threads', 'samples/s (median, wall time)', 'range over rounds', 'ms / step', 'samples/s (median, renderer CPU time)', 'renderer CPU ÷ wall (busy threads, median)', `ratio to tfjs-wasm threaded build, ${THREADS} threads (wall)`],
      ready.map((c, i) => {
        const all = ms[i].map(rate);
        return [c.name, String(c.threads), fmt(med[i]), `${fmt(Math.min(...all))}–${fmt(Math.max(...all))}`, fmt((1000 * BATCH) / med[i]), fmt(medCpu[i]), fmt(median(cpu[i].map((c, r) => c / ms[i][r])), 2), `${fmt(med[i] / mTf2, 2)}×`];
      }),
    ),
  );
  console.log('');
  // each ratio: of the medians (wall), of the same round's chunks (median and range over rounds:
  // adjacent chunks share the machine's state, which helps under load), and of the CPU-time medians
  const ratio = (x: number, y: number, what: string, target?: [number, string]): string => {
    const per = ms[x].map((t, r) => ms[y][r] / t);
    const m = med[x] / med[y];
    const verdict = target ? ` (issue #16 target ≥ ${target[0]}×${target[1]}: ${m >= target[0] ? 'met' : 'missed'} by the medians)` : '';
    return `- ${what}: ${fmt(m, 2)}× wall${verdict}; per round ${fmt(median(per), 2)}× (${fmt(Math.min(...per), 2)}–${fmt(Math.max(...per), 2)}); renderer CPU time ${fmt(medCpu[x] / medCpu[y], 2)}×`;
  };
  const [iTf2, iTf1t, iTf1, iSt2, iSt1] = [0, 1, 2, 3, 4];
  console.log(ratio(iSt2, iTf2, `sttn ${THREADS} threads / tfjs-wasm threaded build ${THREADS} threads`, [1.5, '']));
  console.log(ratio(iSt2, iSt1, `sttn ${THREADS} threads / sttn 1 thread`, [1.7, ' wall']));
  console.log(ratio(iTf2, iTf1, `tfjs-wasm threaded build ${THREADS} threads / plain SIMD build 1 thread`));
  console.log(ratio(iTf2, iTf1t, `tfjs-wasm threaded build ${THREADS} threads / threaded build 1 thread`));
  console.log(ratio(iSt1, iTf1, 'sttn 1 thread / tfjs-wasm plain SIMD build 1 thread'));
} finally {
  await browser.close();
  server.close();
}
