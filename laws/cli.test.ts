/**
 * Laws of the `sttn` CLI (app/cli/*): the CI smoke version of the main job — a few training steps
 * on the embedded MNIST lower the loss and leave a checkpoint that `eval` and `summary` read back;
 * a run stopped and resumed through the CLI equals the uninterrupted run bit for bit; SIGINT saves
 * and exits 130; bad flags and bad files are one-line errors naming the flag or the file.
 */
import * as E from 'fp-ts/lib/Either.js';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { loadCheckpoint } from '../src/checkpoint/checkpoint.js';
import { paramTreeBitEqual } from '../src/tensor-codec.js';
import { example } from './law.js';
import { runCli } from './cli-io.js';

const dir = mkdtempSync(join(tmpdir(), 'sttn-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));


const run = runCli;

/** The per-N-step plain log lines' running losses. */
const losses = (err: string): number[] => [...err.matchAll(/loss (\d+\.\d+)/g)].map((m) => Number(m[1]));

example('smoke: 24 steps of STTN 2+2 cnn-small lower the loss; the checkpoint loads; eval reproduces the accuracy', async () => {
  const out = join(dir, 'smoke');
  const r = await run(['train', '--max-steps', '24', '--log-every', '4', '--out', out, '--backend', 'wasm']);
  const ls = losses(r.err);
  const acc = /test accuracy (\d+\.\d+)%/.exec(r.out);
  const ck = loadCheckpoint(join(out, 'checkpoint.json'));
  const ev = await run(['eval', join(out, 'checkpoint.json'), '--backend', 'wasm']);
  const sm = await run(['summary', join(out, 'checkpoint.json'), '--backend', 'cpu']);
  return (
    r.code === 0 &&
    ls.length >= 5 &&
    ls[ls.length - 1] < 0.8 * ls[0] &&
    acc !== null &&
    E.isRight(ck) &&
    ck.right.progress.step === 24 &&
    ev.code === 0 &&
    ev.out.includes(`test accuracy ${acc[1]}%`) &&
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

example('SIGINT: the CLI saves a checkpoint at the current step and exits 130', async () => {
  const out = join(dir, 'sigint');
  const child = spawn(process.execPath, ['--import', 'tsx', 'app/cli.ts', 'train', '--model', 'mlp', '--backend', 'cpu', '--log-every', '1', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  const code = await new Promise<number | null>((resolve) => {
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (/step 3\//.test(err) && !child.killed) child.kill('SIGINT');
    });
    child.on('exit', (c) => resolve(c));
  });
  const ck = loadCheckpoint(join(out, 'checkpoint.json'));
  return code === 130 && /interrupted at step \d+/.test(err) && E.isRight(ck) && ck.right.progress.step >= 3;
});

example('bad flags and bad files: one line naming the flag or file, exit 2 (usage) or 1', async () => {
  const unknown = await run(['train', '--epoch', '3']);
  const badValue = await run(['train', '--batch', 'many']);
  const badChoice = await run(['train', '--model', 'resnet-huge']);
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, '{"format":"something-else"}');
  const foreign = await run(['eval', bad]);
  const missing = await run(['eval', join(dir, 'nope.json')]);
  return (
    unknown.code === 2 && unknown.err.includes('--epoch') && unknown.err.includes('--epochs') &&
    badValue.code === 2 && badValue.err.includes('--batch') &&
    badChoice.code === 2 && badChoice.err.includes('--model') && badChoice.err.includes('cnn-small') &&
    foreign.code === 1 && foreign.err.includes('bad.json') && foreign.err.includes('format') &&
    missing.code === 1 && missing.err.includes('nope.json') &&
    [unknown, badValue, badChoice, foreign, missing].every((r) => r.err.trim().split('\n').length === 1)
  );
});

export { readFileSync };
