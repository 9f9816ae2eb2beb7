/**
 * Laws of reproducibility across CPUs (issue #15): a training run, its export and the inference
 * engine's outputs are the same bits whatever instructions the CPU offers. The CPU is varied
 * through V8's flags: `--no-enable-fma3` (and AVX/AVX2, SSE4.2, POPCNT, BMI1/2, LZCNT, SAHF) make
 * V8 generate code as for a CPU without them — what a user on another x86-64 machine gets. (V8
 * refuses WebAssembly SIMD below SSE4.1, so that is the floor of any machine sttn's wasm runs on.)
 *
 * - default flags: the same tiny `sttn train` (cnn-small 2+2 through the CLI, with the zoo's
 *   rotation/zoom augmentation and label smoothing, a few steps on a
 *   small IDX set, the default wasm backend), `sttn export` and `sttn predict` under the full CPU
 *   on 3 threads and under the stripped one on 1 give the same parameters, optimizer state, RNG, progress, loss, the
 *   same `.sttn` bytes and the same probabilities;
 * - the law's power: `--wasm-kernel relaxed` (V8 fuses `f32x4.relaxed_madd` only where the CPU
 *   has FMA3) gives different parameters under the same two flag sets on a CPU with FMA3 — the
 *   comparison above does see a CPU-dependent result when there is one.
 *
 * Module under test: app/cli (train, export, predict) over backends/wasm.ts and the engine.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { example } from './law.js';
import { writeIdxDir } from './cli-io.js';

const dir = mkdtempSync(join(tmpdir(), 'sttn-repro-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const data = writeIdxDir(join(dir, 'data'), 96, 48, 16, 4);

/** Every optional x86-64 feature V8 can be told to leave alone (SSE4.1 stays: wasm SIMD needs it). */
const STRIPPED = ['--no-enable-fma3', '--no-enable-avx', '--no-enable-avx2', '--no-enable-sse4-2', '--no-enable-popcnt', '--no-enable-bmi1', '--no-enable-bmi2', '--no-enable-lzcnt', '--no-enable-sahf'];
const CPUS: Record<string, readonly string[]> = { full: [], stripped: STRIPPED };
/** Machines differ in cores too: the plain build's runs use 3 threads on the full CPU and 1 on the stripped one. */
const THREADS: Record<string, string> = { full: '3', stripped: '1' };

/** `sttn argv…` in a child node with V8 `flags`; rejects with its stderr on a non-zero exit. */
function sttn(flags: readonly string[], argv: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...flags, '--import', 'tsx', 'app/cli.ts', ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`sttn ${argv.join(' ')} [${flags.join(' ')}] exited ${code}: ${err}`))));
  });
}

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** What a run computed: the checkpoint without its clock (createdAt, checksum, timings in meta), and train's figures. */
function runDigest(out: string, trainJson: string): string {
  const ck = JSON.parse(readFileSync(join(out, 'checkpoint.json'), 'utf8')) as Record<string, unknown>;
  const t = JSON.parse(trainJson) as Record<string, unknown>;
  return sha(JSON.stringify([ck.model, ck.params, ck.state, ck.optimizer, ck.rng, ck.progress, t.loss, t.trainLoss, t.correct]));
}

const TRAIN = ['train', '--model', 'cnn-small', '--bits', '2+2', '--epochs', '1', '--max-steps', '5', '--batch', '16', '--augment-rotate', '10', '--augment-scale', '0.1', '--label-smoothing', '0.1', '--data', `idx:${data}`, '--json'];

let runs = 0;

/** train → export → predict under one CPU; the digests of the run, the file and the predictions. */
async function pipeline(cpu: string, kernel: 'plain' | 'relaxed', full: boolean): Promise<{ run: string; file?: string; predict?: string }> {
  const flags = CPUS[cpu];
  const out = join(dir, `${cpu}-${kernel}-${++runs}`);
  const threads = kernel === 'plain' ? ['--threads', THREADS[cpu]] : [];
  const trained = await sttn(flags, [...TRAIN, '--out', out, '--wasm-kernel', kernel, ...threads]);
  const run = runDigest(out, trained);
  if (!full) return { run };
  await sttn(flags, ['export', join(out, 'checkpoint.json'), '--out', join(out, 'model.sttn')]);
  const predicted = JSON.parse(await sttn(flags, ['predict', join(out, 'model.sttn'), join(data, 't10k-images-idx3-ubyte'), '--kernels', 'wasm', ...threads, '--json'])) as { predictions: unknown[] };
  return { run, file: sha(readFileSync(join(out, 'model.sttn'))), predict: sha(JSON.stringify(predicted.predictions)) };
}

example('default wasm kernel: train, export and predict give the same bits with and without FMA3, AVX, AVX2, SSE4.2, POPCNT, BMI, LZCNT, on 3 threads and on 1', async () => {
  const [a, b] = await Promise.all([pipeline('full', 'plain', true), pipeline('stripped', 'plain', true)]);
  return a.run === b.run && a.file === b.file && a.predict === b.predict;
});

/** Whether this CPU has FMA3 (Linux's /proc/cpuinfo; elsewhere assumed, as on every x86-64 CPU since 2013). */
function cpuHasFma(): boolean {
  try {
    return /\bfma\b/.test(readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags')) ?? '');
  } catch {
    return true;
  }
}
const hasFma = cpuHasFma();

// the law's power: without it, the law above could pass by comparing nothing that depends on the CPU
test('the comparison sees a CPU-dependent result: --wasm-kernel relaxed trains different bits without FMA3', { skip: hasFma ? false : 'this CPU has no FMA3, so relaxed SIMD does not fuse here either' }, async () => {
  const [a, b] = await Promise.all([pipeline('full', 'relaxed', false), pipeline('stripped', 'relaxed', false)]);
  if (a.run === b.run) throw new Error('relaxed SIMD gave the same bits with and without FMA3: the reproducibility law cannot tell a CPU-dependent run apart');
});
