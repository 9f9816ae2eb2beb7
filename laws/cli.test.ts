/**
 * Laws of the `sttn` CLI (app/cli.ts, app/cli/*): the CI smoke version of the main job — a few
 * training steps on the embedded MNIST lower the loss and leave a checkpoint that `eval` and
 * `summary` read back; a run stopped and resumed through the CLI equals the uninterrupted run bit
 * for bit; SIGINT saves and exits 130. The conventions: `--version` is package.json's; help goes
 * to stdout with exit 0; usage errors go to stderr (help, then the error) with exit 2 and nothing
 * on stdout; an sttn error is one line and exit 1; `--json` prints exactly one JSON document whose
 * figures are the text output's.
 */
import * as E from 'fp-ts/lib/Either.js';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { cpu32 } from '../backends/cpu.js';
import { COMMANDS } from '../app/cli/main.js';
import { loadCheckpoint, saveCheckpoint } from '../src/checkpoint/checkpoint.js';
import { fromCheckpoint, toCheckpoint } from '../src/checkpoint/run.js';
import { decodeWith, orThrow } from '../src/codec.js';
import { buildModel } from '../src/models/model.js';
import { preset } from '../src/models/presets.js';
import { paramTreeBitEqual } from '../src/tensor-codec.js';
import { initTraining, TrainConfig } from '../src/train/train.js';
import { example } from './law.js';
import { runCli, type CliResult } from './cli-io.js';

const dir = mkdtempSync(join(tmpdir(), 'sttn-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const run = runCli;

/** The per-N-step plain log lines' running losses. */
const losses = (err: string): number[] => [...err.matchAll(/loss (\d+\.\d+)/g)].map((m) => Number(m[1]));

/** stdout is one line holding one JSON object (or null when it is not). */
function jsonDoc(r: CliResult): Record<string, unknown> | null {
  if (r.code !== 0 || r.out.includes('\n')) return null;
  try {
    const d: unknown = JSON.parse(r.out);
    return typeof d === 'object' && d !== null && !Array.isArray(d) ? (d as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

const hasFields = (d: Record<string, unknown>, ...fields: string[]): boolean => fields.every((f) => f in d && d[f] !== undefined);
const lastLine = (s: string): string => s.trimEnd().split('\n').pop() ?? '';
/** A number the text prints with thousands separators (`835,392`). */
const num = (s: string | undefined): number => Number(s?.replace(/,/g, ''));

example('smoke: 24 steps of STTN 2+2 cnn-small lower the loss; train --json names the checkpoint; eval reproduces the accuracy', async () => {
  const out = join(dir, 'smoke');
  const r = await run(['train', '--max-steps', '24', '--log-every', '4', '--out', out, '--backend', 'wasm', '--json']);
  const ls = losses(r.err);
  const doc = jsonDoc(r);
  const ckPath = join(out, 'checkpoint.json');
  const ck = loadCheckpoint(ckPath);
  const ev = await run(['eval', ckPath, '--backend', 'wasm']);
  const sm = await run(['summary', ckPath, '--backend', 'cpu']);
  return (
    r.code === 0 &&
    ls.length >= 5 &&
    ls[ls.length - 1] < 0.8 * ls[0] &&
    doc !== null &&
    hasFields(doc, 'accuracy', 'loss', 'epochs', 'step', 'wallSeconds', 'samplesPerSecond', 'checkpoint', 'backend') &&
    doc.checkpoint === ckPath &&
    doc.step === 24 &&
    doc.backend === 'wasm' &&
    typeof doc.samplesPerSecond === 'number' &&
    doc.samplesPerSecond > 0 &&
    typeof doc.accuracy === 'number' &&
    E.isRight(ck) &&
    ck.right.progress.step === 24 &&
    ev.code === 0 &&
    ev.out.includes(`test accuracy ${(100 * doc.accuracy).toFixed(2)}%`) &&
    sm.code === 0 &&
    /l05_conv2d .* sttn\/ternary/.test(sm.out)
  );
});

example('resume: 6 steps then 6 more through --resume equal 12 uninterrupted steps, bit for bit', async () => {
  const a = join(dir, 'straight');
  const b = join(dir, 'resumed');
  const flags = ['--model', 'mlp', '--bits', '2+2', '--batch', '32', '--backend', 'cpu'];
  await run(['train', ...flags, '--max-steps', '12', '--out', a]);
  await run(['train', ...flags, '--max-steps', '6', '--out', b]);
  const r = await run(['train', '--resume', '--max-steps', '6', '--out', b, '--backend', 'cpu']);
  const ca = loadCheckpoint(join(a, 'checkpoint.json'));
  const cb = loadCheckpoint(join(b, 'checkpoint.json'));
  if (E.isLeft(ca) || E.isLeft(cb) || r.code !== 0) return false;
  return (
    ca.right.progress.step === 12 &&
    cb.right.progress.step === 12 &&
    paramTreeBitEqual(ca.right.params, cb.right.params) &&
    paramTreeBitEqual(ca.right.state, cb.right.state) &&
    Object.keys(ca.right.optimizer.slots).every((k) => paramTreeBitEqual(ca.right.optimizer.slots[k], cb.right.optimizer.slots[k]))
  );
});

example('SIGINT: the sttn process stops train at the next step, saves a checkpoint that loads, prints no JSON and exits 130', async () => {
  const out = join(dir, 'sigint');
  const child = spawn(process.execPath, ['--import', 'tsx', 'app/cli.ts', 'train', '--model', 'mlp', '--backend', 'cpu', '--log-every', '1', '--out', out, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const code = await new Promise<number | null>((resolve) => {
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (/step 3\//.test(err) && !child.killed) child.kill('SIGINT');
    });
    child.on('exit', (c) => resolve(c));
  });
  const ck = loadCheckpoint(join(out, 'checkpoint.json'));
  const step = /interrupted at step (\d+)/.exec(err);
  return (
    code === 130 &&
    stdout === '' &&
    step !== null &&
    E.isRight(ck) &&
    ck.right.progress.step === Number(step[1]) &&
    ck.right.progress.step >= 3 &&
    E.isRight(fromCheckpoint(ck.right))
  );
});

example('--version and -v print the version of package.json; -h, --help and help print the usage on stdout and exit 0', async () => {
  const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  const v = await Promise.all([run(['--version']), run(['-v'])]);
  const h = await Promise.all([run(['-h']), run(['--help']), run(['help'])]);
  return (
    v.every((r) => r.code === 0 && r.out === version && r.err === '') &&
    h.every((r) => r.code === 0 && r.out.startsWith('usage: sttn') && Object.keys(COMMANDS).every((c) => r.out.includes(`  ${c} `)) && r.err === '')
  );
});

example('every command: --help, -h and `sttn help <command>` print its help on stdout and exit 0', async () => {
  let ok = true;
  for (const c of Object.keys(COMMANDS)) {
    for (const argv of [[c, '--help'], [c, '-h'], ['help', c]]) {
      const r = await run(argv);
      ok &&= r.code === 0 && r.out.startsWith(`sttn ${c}`) && r.out.includes('--help') && r.err === '';
    }
  }
  return ok;
});

example('usage errors: no command, unknown command or flag, a bad value, a missing argument: exit 2, nothing on stdout, the usage then the error on stderr', async () => {
  const top = await Promise.all([run([]), run(['bogus']), run(['--bogus'])]);
  const unknown = await run(['train', '--epoch', '3']);
  const badValue = await run(['train', '--batch', 'many']);
  const badChoice = await run(['train', '--model', 'resnet-huge']);
  const badBackend = await run(['eval', join(dir, 'nope.json'), '--backend', 'abacus']);
  const noCheckpoint = await run(['eval']);
  const noImage = await run(['predict', join(dir, 'm.sttn')]);
  const all = [...top, unknown, badValue, badChoice, badBackend, noCheckpoint, noImage];
  return (
    all.every((r) => r.code === 2 && r.out === '') &&
    top.every((r) => r.err.startsWith('usage: sttn')) &&
    lastLine(top[0].err).includes('no command') &&
    lastLine(top[1].err).includes("'bogus'") &&
    lastLine(top[2].err).includes('--bogus') &&
    [unknown, badValue, badChoice].every((r) => r.err.startsWith('sttn train [flags]')) &&
    lastLine(unknown.err).includes('--epoch') && lastLine(unknown.err).includes('--epochs') &&
    lastLine(badValue.err).includes('--batch') &&
    lastLine(badChoice.err).includes('--model') && lastLine(badChoice.err).includes('cnn-small') &&
    lastLine(badBackend.err).includes('--backend') && lastLine(badBackend.err).includes('abacus') &&
    noCheckpoint.err.startsWith('sttn eval CHECKPOINT') && lastLine(noCheckpoint.err).includes('missing CHECKPOINT') &&
    noImage.err.startsWith('sttn predict MODEL.sttn IMAGE…') && lastLine(noImage.err).includes('missing IMAGE')
  );
});

example('failures: a bad or missing file is one line on stderr naming it, exit 1, nothing on stdout (--json included)', async () => {
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, '{"format":"something-else"}');
  const foreign = await run(['eval', bad]);
  const missing = await run(['eval', join(dir, 'nope.json'), '--json']);
  return (
    foreign.code === 1 && foreign.err.includes('bad.json') && foreign.err.includes('format') &&
    missing.code === 1 && missing.err.includes('nope.json') &&
    [foreign, missing].every((r) => r.out === '' && r.err.trim().split('\n').length === 1)
  );
});

// ---------------------------------------------------------------------------------------------
// --json: one document, the text output's figures

/** A 28×28 binary PGM of bytes `(i·k) mod 256`. */
function pgm(file: string, k: number): string {
  writeFileSync(file, Buffer.concat([Buffer.from('P5\n28 28\n255\n'), Buffer.from(Uint8Array.from({ length: 784 }, (_, i) => (i * k) % 256))]));
  return file;
}

/** An untrained mlp 2+2 checkpoint (no training needed to read, size and export it). */
function mlpCheckpoint(sub: string): string {
  const model = orThrow(buildModel(preset('mlp', { bits: '2+2' })));
  const cfg = orThrow(decodeWith(TrainConfig, { epochs: 1 }, 'train'));
  const file = join(dir, sub, 'checkpoint.json');
  mkdirSync(join(dir, sub), { recursive: true });
  saveCheckpoint(file, toCheckpoint(model, cfg, initTraining(cpu32, model, cfg), 1, { data: 'embedded', history: [] }));
  return file;
}

example('--json: eval, summary, export and predict print one JSON document with the documented fields and the text output’s figures', async () => {
  const ck = mlpCheckpoint('json');

  const evText = await run(['eval', ck, '--backend', 'cpu']);
  const ev = jsonDoc(await run(['eval', ck, '--backend', 'cpu', '--json']));
  const evm = /test accuracy (\d+\.\d\d)% \((\d+)\/(\d+)\), loss (\d+\.\d{4})/.exec(evText.out);
  const evalOk =
    ev !== null && evm !== null &&
    hasFields(ev, 'accuracy', 'loss', 'correct', 'count', 'checkpoint', 'wallSeconds') &&
    ev.checkpoint === ck &&
    (100 * (ev.accuracy as number)).toFixed(2) === evm[1] &&
    ev.correct === Number(evm[2]) && ev.count === Number(evm[3]) &&
    (ev.loss as number).toFixed(4) === evm[4];

  const smText = await run(['summary', ck, '--backend', 'cpu']);
  const sm = jsonDoc(await run(['summary', ck, '--backend', 'cpu', '--json']));
  const params = /total parameters: (\d+)\s+MACs per example: (\d+)/.exec(smText.out);
  const memory = /memory: (\d+) bits = (\d+) bytes/.exec(smText.out);
  const files = /2bit ([\d,]+) bytes · base3 ([\d,]+) bytes · all-float32 ([\d,]+) bytes/.exec(smText.out);
  const totals = sm?.totals as Record<string, number> | undefined;
  const layers = sm?.layers as { name: string; quantizer: string; bytes: number }[] | undefined;
  const size = sm?.export as { fileBytes: Record<string, number> } | undefined;
  const summaryOk =
    sm !== null && params !== null && memory !== null && files !== null && totals !== undefined && layers !== undefined && size !== undefined &&
    hasFields(sm, 'layers', 'totals', 'export', 'checkpoint', 'model') &&
    totals.params === Number(params[1]) && totals.macs === Number(params[2]) &&
    totals.bits === Number(memory[1]) && totals.bytes === Number(memory[2]) &&
    size.fileBytes['2bit'] === num(files[1]) && size.fileBytes.base3 === num(files[2]) && size.fileBytes.float32 === num(files[3]) &&
    layers.length > 0 &&
    layers.every((l) => new RegExp(`^${l.name}\\s.*${l.quantizer}.*\\s${l.bytes}\\s`, 'm').test(smText.out));

  const outText = join(dir, 'json', 'text.sttn');
  const outJson = join(dir, 'json', 'json.sttn');
  const exText = await run(['export', ck, '--out', outText]);
  const ex = jsonDoc(await run(['export', ck, '--out', outJson, '--json']));
  const wrote = /wrote .*: (\d+) bytes \((\w+); predicted (\d+)\)/.exec(exText.out);
  const exFloat = /all-float32 ([\d,]+) bytes/.exec(exText.out);
  const exportOk =
    ex !== null && wrote !== null && exFloat !== null &&
    hasFields(ex, 'output', 'encoding', 'bytes', 'predictedBytes', 'float32Bytes') &&
    ex.output === outJson &&
    ex.bytes === statSync(outJson).size &&
    ex.bytes === Number(wrote[1]) && ex.encoding === wrote[2] && ex.predictedBytes === Number(wrote[3]) &&
    ex.float32Bytes === num(exFloat[1]);

  const images = [pgm(join(dir, 'json', 'a.pgm'), 7), pgm(join(dir, 'json', 'b.pgm'), 13)];
  const prText = await run(['predict', outText, ...images, '--backend', 'cpu']);
  const pr = jsonDoc(await run(['predict', outText, ...images, '--backend', 'cpu', '--json']));
  const lines = prText.out.split('\n');
  const preds = pr?.predictions as { file: string; class: number; probabilities: number[] }[] | undefined;
  const predictOk =
    pr !== null && preds !== undefined &&
    hasFields(pr, 'modelFile', 'predictions', 'msPerImage') &&
    pr.modelFile === outText &&
    typeof pr.msPerImage === 'number' &&
    preds.length === 2 && lines.length === 2 &&
    preds.every((p, i) => p.file === images[i] && lines[i] === `${p.file}\tclass ${p.class}\tp ${p.probabilities[p.class].toFixed(4)}\t[${p.probabilities.map((v) => v.toFixed(4)).join(' ')}]`) &&
    preds.every((p) => Math.abs(p.probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-9);

  return evalOk && summaryOk && exportOk && predictOk;
});

example('an aborted signal (what Ctrl-C does) ends eval and predict with 130 and nothing on stdout', async () => {
  const ck = mlpCheckpoint('abort');
  const model = join(dir, 'abort', 'model.sttn');
  const ex = await run(['export', ck, '--out', model]);
  const c = new AbortController();
  c.abort();
  const ev = await run(['eval', ck, '--backend', 'cpu', '--json'], c.signal);
  const pr = await run(['predict', model, pgm(join(dir, 'abort', 'a.pgm'), 7), '--backend', 'cpu'], c.signal);
  return ex.code === 0 && [ev, pr].every((r) => r.code === 130 && r.out === '' && r.err.includes('interrupted'));
});
