/**
 * Laws of the `sttn` CLI at its edges (app/cli/*), in-process on tiny IDX data: a diverging run
 * is one `TrainingDiverged` line naming the step and the last good checkpoint; empty data is an
 * error naming it before anything is trained; an evaluation that fails at an epoch's end does not
 * lose the epoch; `--out` that cannot be a directory is one line naming it; every numeric flag has
 * a range and a value outside it is a usage error naming the flag (negative numbers included);
 * `--resume --data` uses the data given; an error that is not sttn's is still one line (its stack
 * only under STTN_DEBUG); a resumed epoch records the whole epoch; a run directory is locked for
 * one writer and a dead writer's lock and temp files are cleaned when train starts. From a new
 * user's review: train never replaces a run without --force (which keeps the old checkpoint as
 * .bak); a backend whose optional dependency is missing is a failure, not a usage error; eval
 * reads only the test split; flags of a quantizer the run does not use are usage errors; --data
 * is stored absolute; error messages list what --help lists; --json names the backend as
 * --backend does; predict checks the model's input size from the image header.
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { after } from 'node:test';
import { cpu32 } from '../backends/cpu.js';
import { parseFlags, UsageError } from '../app/cli/args.js';
import { COMMANDS } from '../app/cli/main.js';
import { loadCheckpoint, saveCheckpoint } from '../src/checkpoint/checkpoint.js';
import { ConfigError } from '../src/errors.js';
import { installCommand } from '../backends/gpujs/runner.js';
import type { Backend } from '../src/backend.js';
import type { Env } from '../app/cli/env.js';
import { loadTernaryKernels, ternaryKernelName } from '../backends/index.js';
import { holdsAsync } from './async-law.js';
import { example, law, throwsWith } from './law.js';
import { backendByName, deadPid, runCli, writeIdxDir, type CliResult } from './cli-io.js';

const dir = mkdtempSync(join(tmpdir(), 'sttn-cli-edges-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const lastLine = (s: string): string => s.trimEnd().split('\n').pop() ?? '';
/** A failure as the README promises: exit 1, nothing on stdout, one error line (the last, after any progress) on stderr, no stack. */
const oneLineFailure = (r: CliResult): boolean =>
  r.code === 1 && r.out === '' && /^sttn \w+: /.test(lastLine(r.err)) && r.err.split('\n').filter((l) => /^sttn \w+: /.test(l)).length === 1 && !/^\s+at /m.test(r.err);
/** A usage error: exit 2, nothing on stdout, the error as the last line of stderr. */
const usage = (r: CliResult, ...words: string[]): boolean => r.code === 2 && r.out === '' && words.every((w) => lastLine(r.err).includes(w));

const MLP = ['--model', 'mlp', '--backend', 'cpu'];
const d32 = writeIdxDir(join(dir, 'd32'), 32, 8);
const d8 = writeIdxDir(join(dir, 'd8'), 8, 4);
const checkpointOf = (out: string) => loadCheckpoint(join(out, 'checkpoint.json'));

// ---------------------------------------------------------------------------------------------
// Divergence

example('--lr 1e30 before any save: one TrainingDiverged line naming the step and "none saved yet", exit 1', async () => {
  const out = join(dir, 'diverge-fresh');
  const r = await runCli(['train', ...MLP, '--data', `idx:${d32}`, '--batch', '8', '--epochs', '3', '--lr', '1e30', '--out', out]);
  return oneLineFailure(r) && /^sttn train: TrainingDiverged: training diverged at step [0-3]: .*none saved yet$/.test(lastLine(r.err)) && !existsSync(join(out, 'checkpoint.json'));
});

example('--lr 1e30 after an epoch was saved: the line names that checkpoint, which loads at a step before the divergence', async () => {
  const out = join(dir, 'diverge-saved');
  const r = await runCli(['train', ...MLP, '--data', `idx:${d8}`, '--batch', '8', '--epochs', '4', '--eval-every', '10', '--lr', '1e30', '--out', out]);
  const m = /training diverged at step (\d+): .*last good checkpoint: (\S+)$/m.exec(r.err);
  const ck = checkpointOf(out);
  return oneLineFailure(r) && m !== null && m[2] === join(out, 'checkpoint.json') && E.isRight(ck) && ck.right.progress.step >= 1 && ck.right.progress.step <= Number(m[1]);
});

// ---------------------------------------------------------------------------------------------
// Empty data

example('an empty test split or an empty training split: one line naming the data and the split, exit 1, nothing trained or written', async () => {
  const noTest = writeIdxDir(join(dir, 'no-test'), 8, 0);
  const noTrain = writeIdxDir(join(dir, 'no-train'), 0, 4);
  const a = await runCli(['train', ...MLP, '--data', `idx:${noTest}`, '--epochs', '2', '--out', join(dir, 'o-no-test')]);
  const b = await runCli(['train', ...MLP, '--data', `idx:${noTrain}`, '--epochs', '2', '--out', join(dir, 'o-no-train')]);
  return (
    oneLineFailure(a) && a.err.includes(noTest) && a.err.includes('test split') && a.err.includes('empty') &&
    oneLineFailure(b) && b.err.includes(noTrain) && b.err.includes('training split') && b.err.includes('empty') &&
    !existsSync(join(dir, 'o-no-test', 'checkpoint.json')) && !existsSync(join(dir, 'o-no-train', 'checkpoint.json'))
  );
});

example('eval of a checkpoint on an empty test split and predict of an IDX file of 0 images: one line naming the data, exit 1, never NaN', async () => {
  const out = join(dir, 'for-empty');
  const t = await runCli(['train', ...MLP, '--data', `idx:${d8}`, '--epochs', '1', '--out', out]);
  const noTest = writeIdxDir(join(dir, 'no-test-2'), 8, 0);
  const ev = await runCli(['eval', join(out, 'checkpoint.json'), '--backend', 'cpu', '--data', `idx:${noTest}`]);
  const ex = await runCli(['export', join(out, 'checkpoint.json'), '--out', join(out, 'model.sttn')]);
  const empty = join(noTest, 't10k-images-idx3-ubyte');
  const pr = await runCli(['predict', join(out, 'model.sttn'), empty, '--backend', 'cpu']);
  return (
    t.code === 0 && ex.code === 0 &&
    oneLineFailure(ev) && ev.err.includes(noTest) && ev.err.includes('empty') && !ev.err.includes('NaN') &&
    oneLineFailure(pr) && pr.err.includes(empty) && pr.err.includes('0 images')
  );
});

// ---------------------------------------------------------------------------------------------
// An evaluation that fails at an epoch's end

/** `B` whose matrix products fail on `rows` rows: here, only the test split's 5-image batches. */
const failingOn = (B: Backend, rows: number): Backend => ({
  ...B,
  matmul: (a, b, opts) => {
    if (a.shape[0] === rows) throw new Error(`injected fault: a ${rows}-row matrix product`);
    return B.matmul(a, b, opts);
  },
});

example('an evaluation failing at an epoch end (injected into the backend) still saves that epoch first; the failure is one line, exit 1', async () => {
  const d = writeIdxDir(join(dir, 'd32-5'), 32, 5);
  const out = join(dir, 'eval-fails');
  const r = await runCli(['train', ...MLP, '--data', `idx:${d}`, '--batch', '16', '--epochs', '3', '--eval-every', '1', '--out', out], undefined, {
    loadBackend: async (name) => failingOn(await backendByName(name), 5),
  });
  const ck = checkpointOf(out);
  return (
    r.code === 1 && r.out === '' && lastLine(r.err).includes('injected fault') && !/^\s+at /m.test(r.err) &&
    E.isRight(ck) && ck.right.progress.step === 2 && Array.isArray(ck.right.meta.history) && ck.right.meta.history.length === 1
  );
});

// ---------------------------------------------------------------------------------------------
// --out

example('--out naming a file, or a path through a file: one line naming the path, exit 1, the file untouched', async () => {
  const file = join(dir, 'a-file');
  writeFileSync(file, 'keep me');
  const a = await runCli(['train', ...MLP, '--data', `idx:${d8}`, '--epochs', '1', '--out', file]);
  const b = await runCli(['train', ...MLP, '--data', `idx:${d8}`, '--epochs', '1', '--out', join(file, 'sub')]);
  return oneLineFailure(a) && a.err.includes(`--out ${file}`) && oneLineFailure(b) && b.err.includes(join(file, 'sub')) && readdirSync(dir).includes('a-file');
});

// ---------------------------------------------------------------------------------------------
// Commands and flags

example("names of Object.prototype are unknown commands (exit 2), never 'run is not a function'", async () => {
  const names = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];
  const rs = await Promise.all(names.flatMap((n) => [runCli([n]), runCli(['help', n])]));
  return rs.every((r) => usage(r, 'unknown command'));
});

/** The numeric flags every command must range-check (a table without them fails this law). */
const RANGED: Readonly<Record<string, readonly string[]>> = {
  train: ['width', 'epochs', 'batch', 'lr', 'weight-decay', 'latent-clip', 'augment-pad', 'augment-rotate', 'augment-scale', 'label-smoothing', 'seed', 'max-steps', 'log-every', 'eval-every'],
  predict: ['batch'],
  experiment: ['seeds'],
};

/** A value outside the flag's range: below, above, not a number, not an integer when one is needed. */
const outside = (r: { integer: boolean; min: number; max: number; minExclusive?: boolean }): fc.Arbitrary<string> =>
  fc.oneof(
    fc.double({ min: -1e12, max: r.min, noNaN: true }).filter((v) => (r.minExclusive ? v <= r.min : v < r.min)).map(String),
    ...(r.max < Number.MAX_VALUE ? [fc.double({ min: r.max, max: r.max * 1e6 + 1e6, noNaN: true }).filter((v) => v > r.max).map(String)] : []),
    fc.constantFrom('NaN', 'Infinity', '-Infinity', 'abc', '', '1e400', '0x'),
    ...(r.integer ? [fc.double({ min: Math.max(r.min, -1e6), max: Math.min(r.max, 1e6), noNaN: true }).filter((v) => !Number.isInteger(v)).map(String)] : []),
  );

const inside = (r: { integer: boolean; min: number; max: number; minExclusive?: boolean }): fc.Arbitrary<number> =>
  r.integer
    ? fc.integer({ min: Math.max(r.min, -(2 ** 31)), max: Math.min(r.max, 2 ** 31) })
    : fc.double({ min: r.min, max: Math.min(r.max, 1e12), noNaN: true }).filter((v) => (r.minExclusive ? v > r.min : v >= r.min));

const rangedFlags = Object.entries(COMMANDS).flatMap(([c, cmd]) =>
  Object.entries(cmd.flags)
    .filter(([, f]) => f.range !== undefined)
    .map(([name, f]) => ({ command: c, name, flags: cmd.flags, range: f.range! })),
);

example('the numeric flags of train, predict and experiment all declare a range', () =>
  Object.entries(RANGED).every(([c, names]) => names.every((n) => rangedFlags.some((f) => f.command === c && f.name === n))),
);

law(
  'every ranged flag: a value outside its range (negative numbers as a separate argument included) is a UsageError naming the flag and the value; a value inside parses',
  [fc.integer({ min: 0, max: 1000 }).chain((k) => {
    const f = rangedFlags[k % Math.max(1, rangedFlags.length)];
    return fc.tuple(fc.constant(f), outside(f.range), inside(f.range));
  })],
  ([f, bad, good]) => {
    const rejected = throwsWith(() => parseFlags(f.command, f.flags, [`--${f.name}`, bad]), UsageError, `--${f.name}`, `'${bad}'`);
    let accepted = false;
    try {
      accepted = Number(parseFlags(f.command, f.flags, [`--${f.name}`, String(good)]).values[f.name]) === good;
    } catch {
      accepted = false;
    }
    return rejected && accepted;
  },
  { numRuns: 200 },
);

example('the reported cases through the CLI: --width 1e6, --epochs -1, --batch 1e20, --augment-pad 100000 (and 5, over half of 8×8 images) are usage errors naming the flag; nothing is written', async () => {
  const base = ['train', ...MLP, '--data', `idx:${d8}`];
  const rs = await Promise.all([
    runCli([...base, '--width', '1e6', '--out', join(dir, 'w')]),
    runCli([...base, '--epochs', '-1', '--out', join(dir, 'e')]),
    runCli([...base, '--batch', '1e20', '--out', join(dir, 'b')]),
    runCli([...base, '--augment-pad', '100000', '--out', join(dir, 'p')]),
    runCli([...base, '--augment-pad', '5', '--out', join(dir, 'q')]),
  ]);
  return (
    usage(rs[0], '--width', "'1e6'") &&
    usage(rs[1], '--epochs', "'-1'") && !rs[1].err.includes('ambiguous') &&
    usage(rs[2], '--batch', "'1e20'") &&
    usage(rs[3], '--augment-pad', "'100000'") &&
    usage(rs[4], '--augment-pad', "'5'", '8×8') &&
    ['w', 'e', 'b', 'p', 'q'].every((o) => !existsSync(join(dir, o)))
  );
});

// ---------------------------------------------------------------------------------------------
// --resume --data

example('--resume --data DIR trains on DIR (the data moved) and records it; data of another image size is a ShapeError', async () => {
  const before = writeIdxDir(join(dir, 'moving-a'), 32, 8);
  const moved = join(dir, 'moving-b');
  const out = join(dir, 'resume-data');
  const a = await runCli(['train', ...MLP, '--data', `idx:${before}`, '--batch', '8', '--max-steps', '2', '--out', out]);
  renameSync(before, moved);
  const b = await runCli(['train', '--resume', '--backend', 'cpu', '--data', `idx:${moved}`, '--max-steps', '2', '--out', out]);
  const ck = checkpointOf(out);
  const other = writeIdxDir(join(dir, 'side-10'), 32, 8, 10);
  const c = await runCli(['train', '--resume', '--backend', 'cpu', '--data', `idx:${other}`, '--max-steps', '2', '--out', out]);
  return a.code === 0 && b.code === 0 && E.isRight(ck) && ck.right.progress.step === 4 && ck.right.meta.data === `idx:${moved}` && oneLineFailure(c) && c.err.includes('ShapeError');
});

// ---------------------------------------------------------------------------------------------
// Errors that are not sttn's

example('an error that is not an sttn error is one line and exit 1; its stack is printed only with debug (STTN_DEBUG=1)', async () => {
  const boom = async (): Promise<Backend> => {
    throw new TypeError('something unforeseen');
  };
  const quiet = await runCli(['train', '--out', join(dir, 'boom')], undefined, { loadBackend: boom });
  const loud = await runCli(['train', '--out', join(dir, 'boom')], undefined, { loadBackend: boom, debug: true });
  return (
    oneLineFailure(quiet) && quiet.err.includes('TypeError: something unforeseen') && quiet.err.includes('STTN_DEBUG') &&
    loud.code === 1 && loud.err.includes('TypeError: something unforeseen') && /^\s+at /m.test(loud.err)
  );
});

// ---------------------------------------------------------------------------------------------
// A resumed epoch

type History = { epoch: number; loss: number; trainAccuracy: number; testAccuracy: number | null }[];

example('an epoch interrupted at any step and resumed records the same loss and accuracy as the uninterrupted epoch, bit for bit', async () => {
  const flags = [...MLP, '--data', `idx:${d32}`, '--batch', '8', '--epochs', '2', '--eval-every', '1'];
  // --eval-every is not the checkpoint's: given again on each resume
  const resume = ['--resume', '--backend', 'cpu', '--eval-every', '1'];
  const straight = join(dir, 'epoch-straight');
  await runCli(['train', ...flags, '--out', straight]);
  const ref = checkpointOf(straight);
  if (E.isLeft(ref)) return false;
  const want = ref.right.meta.history as History;
  let ok = want.length === 2;
  // 8 steps in all, 4 per epoch: stop inside either epoch, once or twice
  for (const stops of [[1], [2], [3], [5], [7], [2, 5], [1, 3]]) {
    const out = join(dir, `epoch-${stops.join('-')}`);
    let done = 0;
    let last: CliResult | undefined;
    for (const s of stops) {
      last = await runCli(['train', ...(done === 0 ? flags : resume), '--max-steps', String(s - done), '--out', out]);
      done = s;
    }
    const r = await runCli(['train', ...resume, '--out', out]);
    const ck = checkpointOf(out);
    if (last?.code !== 0 || r.code !== 0 || E.isLeft(ck)) return false;
    const got = ck.right.meta.history as History;
    ok &&= got.length === 2 && got.every((h, i) => h.epoch === want[i].epoch && Object.is(h.loss, want[i].loss) && Object.is(h.trainAccuracy, want[i].trainAccuracy) && h.testAccuracy === want[i].testAccuracy);
  }
  return ok;
});

// ---------------------------------------------------------------------------------------------
// The run directory: one writer, dead writers' leftovers cleaned

const LOCK = '.sttn-train.lock';

example("a run directory locked by a live process is refused: one line naming the directory and the holder's pid, exit 1, nothing changed", async () => {
  const out = join(dir, 'locked');
  const a = await runCli(['train', ...MLP, '--data', `idx:${d8}`, '--epochs', '1', '--out', out]);
  const before = loadCheckpoint(join(out, 'checkpoint.json'));
  // the test runner that started this file: a live process that is not this one
  writeFileSync(join(out, LOCK), `${process.ppid}\n`);
  // --force too: a held directory is left alone, its checkpoint not even moved aside
  const b = await runCli(['train', ...MLP, '--data', `idx:${d8}`, '--epochs', '2', '--out', out, '--force']);
  const c = await runCli(['train', '--resume', '--backend', 'cpu', '--out', out]);
  const after = loadCheckpoint(join(out, 'checkpoint.json'));
  return (
    a.code === 0 && E.isRight(before) && E.isRight(after) && after.right.createdAt === before.right.createdAt && !existsSync(join(out, 'checkpoint.json.bak')) &&
    [b, c].every((r) => oneLineFailure(r) && r.err.includes(out) && r.err.includes(`pid ${process.ppid}`))
  );
});

example('a lock and temp files left by dead writers are removed when train starts (even a run that saves nothing); a live writer’s temp is kept', async () => {
  const out = join(dir, 'stale');
  mkdirSync(out, { recursive: true });
  const dead = deadPid();
  const deadTemp = `.checkpoint.json.${dead}.k3j2.tmp`;
  const liveTemp = `.checkpoint.json.${process.ppid}.x9y8.tmp`;
  writeFileSync(join(out, LOCK), `${dead}\n`);
  writeFileSync(join(out, deadTemp), '{"half": ');
  writeFileSync(join(out, liveTemp), '{"half": ');
  // an aborted signal: train starts, takes the directory, saves nothing and exits 130
  const c = new AbortController();
  c.abort();
  const r = await runCli(['train', ...MLP, '--data', `idx:${d8}`, '--epochs', '1', '--out', out], c.signal);
  const names = readdirSync(out);
  return r.code === 130 && !names.includes(deadTemp) && names.includes(liveTemp) && !names.includes(LOCK);
});

// ---------------------------------------------------------------------------------------------
// A new user's review of the installed package

/** Train mlp on `data` for `steps` steps into DIR/`name`; the checkpoint's path. */
async function trained(name: string, steps = 1, data = d8): Promise<string> {
  const out = join(dir, name);
  const r = await runCli(['train', ...MLP, '--data', `idx:${data}`, '--max-steps', String(steps), '--out', out]);
  if (r.code !== 0) throw new Error(`fixture ${name}: ${r.err}`);
  return join(out, 'checkpoint.json');
}

/** A trained mlp of 8×8 inputs exported to a .sttn file in DIR/`name`. */
async function deployed(name: string): Promise<string> {
  const ck = await trained(name);
  const file = join(dir, name, 'model.sttn');
  const x = await runCli(['export', ck, '--out', file]);
  if (x.code !== 0) throw new Error(`fixture ${name}: ${x.err}`);
  return file;
}

const stepOf = (file: string): number | null => {
  const c = loadCheckpoint(file);
  return E.isRight(c) ? c.right.progress.step : null;
};

example('train into a directory holding a checkpoint, without --resume or --force: a usage error naming the directory, its step and the ways out; the checkpoint untouched', async () => {
  const ck = await trained('no-overwrite', 3);
  const out = dirname(ck);
  const before = readFileSync(ck);
  const again = await runCli(['train', ...MLP, '--data', `idx:${d8}`, '--max-steps', '1', '--out', out]);
  const byDefault = await runCli(['train', ...MLP, '--data', `idx:${d8}`, '--max-steps', '1', '--out', out, '--json']);
  return (
    [again, byDefault].every((r) => usage(r, out, 'step 3', 'use --resume to continue it, --force to replace it, or another --out')) &&
    readFileSync(ck).equals(before) && !existsSync(`${ck}.bak`)
  );
});

example('train --force over a run: the previous checkpoint becomes checkpoint.json.bak (an older .bak replaced) and the new run is saved; --force with --resume is a usage error', async () => {
  const ck = await trained('force', 3);
  const out = dirname(ck);
  const a = await runCli(['train', ...MLP, '--data', `idx:${d8}`, '--max-steps', '1', '--out', out, '--force']);
  const afterA = [stepOf(ck), stepOf(`${ck}.bak`)];
  const b = await runCli(['train', ...MLP, '--data', `idx:${d8}`, '--max-steps', '2', '--out', out, '--force']);
  const afterB = [stepOf(ck), stepOf(`${ck}.bak`)];
  const c = await runCli(['train', '--resume', '--force', '--backend', 'cpu', '--out', out]);
  return (
    a.code === 0 && afterA[0] === 1 && afterA[1] === 3 &&
    b.code === 0 && afterB[0] === 2 && afterB[1] === 1 &&
    usage(c, '--resume', '--force') && stepOf(ck) === 2 && stepOf(`${ck}.bak`) === 1
  );
});

/** The registry with gpu.js missing: the ConfigError backends/gpujs/runner.ts throws then. */
const withoutGpuJs = async (name: string): Promise<Backend> => {
  if (name === 'gpujs' || name.startsWith('gpujs:')) {
    const mode = name === 'gpujs' ? 'webgpu' : name.slice('gpujs:'.length);
    throw new ConfigError('backend', `gpujs:${mode} needs the optional peer dependency gpu.js, which is not installed; install it with \`${installCommand(mode)}\``);
  }
  return backendByName(name);
};

example('a backend whose optional dependency is missing is a failure (exit 1, one line naming --backend and how to install it, no help); an unknown backend or gpu.js mode stays a usage error', async () => {
  const out = join(dir, 'no-gpujs');
  const t = await runCli(['train', ...MLP, '--backend', 'gpujs:cpu', '--data', `idx:${d8}`, '--out', out], undefined, { loadBackend: withoutGpuJs });
  const e = await runCli(['eval', join(dir, 'nope.json'), '--backend', 'gpujs'], undefined, { loadBackend: withoutGpuJs });
  const s = await runCli(['summary', join(dir, 'nope.json'), '--backend', 'gpujs:cpu'], undefined, { loadBackend: withoutGpuJs });
  const mode = await runCli(['train', ...MLP, '--backend', 'gpujs:quantum', '--data', `idx:${d8}`, '--out', out]);
  const name = await runCli(['train', ...MLP, '--backend', 'abacus', '--data', `idx:${d8}`, '--out', out]);
  return (
    [t, e, s].every((r) => oneLineFailure(r) && r.err.includes('--backend') && r.err.includes('npm install gpu.js') && !r.err.includes('[flags]')) &&
    usage(mode, '--backend', 'quantum') && usage(name, '--backend', 'abacus') && !existsSync(out)
  );
});

example('eval --data idx:DIR reads only the test split: a directory holding only the t10k files gives the accuracy and loss of the whole directory', async () => {
  const ck = await trained('test-only');
  const only = writeIdxDir(join(dir, 't10k-only'), 8, 4);
  for (const f of readdirSync(only)) if (f.startsWith('train-')) rmSync(join(only, f));
  const whole = await runCli(['eval', ck, '--backend', 'cpu', '--data', `idx:${d8}`, '--json']);
  const part = await runCli(['eval', ck, '--backend', 'cpu', '--data', `idx:${only}`, '--json']);
  if (whole.code !== 0 || part.code !== 0) return false;
  const [a, b] = [whole, part].map((r) => JSON.parse(r.out) as { accuracy: number; loss: number; count: number });
  return a.count === 4 && b.count === 4 && a.accuracy === b.accuracy && a.loss === b.loss;
});

example('flags for a quantizer the run does not use are usage errors naming both flags (--gradient: --weights sttn; --weights: 2-bit weights; --granularity, --latent-clip: quantized weights); nothing is written', async () => {
  const base = ['train', ...MLP, '--data', `idx:${d8}`, '--max-steps', '1'];
  const cases: [string[], string[]][] = [
    [['--weights', 'twn', '--gradient', 'paper'], ['--gradient', '--weights twn']],
    [['--weights', 'ttq', '--gradient', 'exact'], ['--gradient', '--weights ttq']],
    [['--bits', '1+1', '--gradient', 'paper'], ['--gradient', '--bits 1+1']],
    [['--bits', '1+32', '--weights', 'twn'], ['--weights', '--bits 1+32']],
    [['--bits', '32+32', '--weights', 'twn'], ['--weights', '--bits 32+32']],
    [['--bits', '32+32', '--granularity', 'channel'], ['--granularity', '--bits 32+32']],
    [['--bits', '32+32', '--latent-clip', '1'], ['--latent-clip', '--bits 32+32']],
  ];
  let ok = true;
  for (const [k, [flags, words]] of cases.entries()) {
    const out = join(dir, `combo-${k}`);
    const r = await runCli([...base, ...flags, '--out', out]);
    ok &&= usage(r, ...words) && !existsSync(out);
  }
  // what the rule allows still trains
  const fine = [['--bits', '2+32', '--weights', 'twn', '--granularity', 'channel'], ['--bits', '1+32', '--granularity', 'channel', '--latent-clip', '1'], ['--gradient', 'official']];
  for (const [k, flags] of fine.entries()) ok &&= (await runCli([...base, ...flags, '--out', join(dir, `combo-fine-${k}`)])).code === 0;
  return ok;
});

example('train --data idx:RELATIVE stores the absolute directory (checkpoint and --json); a checkpoint holding a relative path missing from here: eval and --resume say so and suggest --data', async () => {
  const rel = relative(process.cwd(), d8);
  const out = join(dir, 'relative');
  const t = await runCli(['train', ...MLP, '--data', `idx:${rel}`, '--max-steps', '1', '--out', out, '--json']);
  const ck = checkpointOf(out);
  if (t.code !== 0 || E.isLeft(ck)) return false;
  const doc = JSON.parse(t.out) as { data: string };
  // a checkpoint written before: the path as typed, relative to a directory that is not this one
  const old = join(dir, 'relative-old', 'checkpoint.json');
  mkdirSync(dirname(old), { recursive: true });
  saveCheckpoint(old, { ...ck.right, meta: { ...ck.right.meta, data: 'idx:no/such/data' } });
  const ev = await runCli(['eval', old, '--backend', 'cpu']);
  const given = await runCli(['eval', old, '--backend', 'cpu', '--data', `idx:${d8}`]);
  const resumed = await runCli(['train', '--resume', '--backend', 'cpu', '--max-steps', '1', '--out', dirname(old)]);
  return (
    !isAbsolute(rel) && ck.right.meta.data === `idx:${d8}` && doc.data === `idx:${d8}` &&
    [ev, resumed].every((r) => oneLineFailure(r) && r.err.includes('idx:no/such/data') && r.err.includes('relative') && r.err.includes('--data')) &&
    given.code === 0
  );
});

example('predict --kernels foo: a usage error listing every value --help lists (auto, reference, wasm, wasm-lookup)', async () => {
  const model = await deployed('kernels');
  const img = join(dir, 'kernels', 'a.pgm');
  writeFileSync(img, Buffer.concat([Buffer.from('P5\n8 8\n255\n'), Buffer.alloc(64, 9)]));
  const r = await runCli(['predict', model, img, '--kernels', 'foo', '--backend', 'cpu']);
  return usage(r, '--kernels', "'foo'", 'auto', 'reference', 'wasm', 'wasm-lookup');
});

example('predict --kernels auto where the wasm kernels fail to load: the reference kernels give the same classes, and stderr says why', async () => {
  const model = await deployed('kernels-auto');
  const img = join(dir, 'kernels-auto', 'b.pgm');
  writeFileSync(img, Buffer.concat([Buffer.from('P5\n8 8\n255\n'), Buffer.alloc(64, 200)]));
  const broken = { loadKernels: () => Promise.reject(new Error('no wasm here')) };
  const fallback = await runCli(['predict', model, img, '--backend', 'cpu', '--json'], undefined, broken);
  const ref = await runCli(['predict', model, img, '--backend', 'cpu', '--kernels', 'reference', '--json']);
  const predictions = (out: string): string => JSON.stringify((JSON.parse(out) as { predictions: unknown }).predictions);
  return fallback.code === 0 && ref.code === 0 && predictions(fallback.out) === predictions(ref.out) && /wasm ternary kernels did not load \(no wasm here\); using the reference kernels/.test(fallback.err);
});

example('predict --kernels auto: the lookup build where relaxed SIMD loads (Node: always), else the popcount build, saying so on stderr: the probabilities of --kernels wasm bit for bit, the classes of --kernels reference', async () => {
  const model = await deployed('kernels-lookup');
  const img = join(dir, 'kernels-lookup', 'c.pgm');
  return holdsAsync(fc.uint8Array({ minLength: 64, maxLength: 64 }), async (pixels) => {
    writeFileSync(img, Buffer.concat([Buffer.from('P5\n8 8\n255\n'), Buffer.from(pixels)]));
    const run = (kernels: string, over?: Parameters<typeof runCli>[2]) => runCli(['predict', model, img, '--backend', 'cpu', '--kernels', kernels, '--json'], undefined, over);
    const noLookup = { loadKernels: (n: string) => (n === 'wasm-lookup' ? Promise.reject(new Error('no relaxed SIMD')) : loadTernaryKernels(ternaryKernelName(n))) };
    const [auto, lookup, plain, ref, fallback] = await Promise.all([run('auto'), run('wasm-lookup'), run('wasm'), run('reference'), run('auto', noLookup)]);
    type Doc = { kernels: string; predictions: { class: number; probabilities: number[] }[] };
    const doc = (o: { out: string }) => JSON.parse(o.out) as Doc;
    // the wasm builds' probabilities are the same bits; the reference kernels (the engine's other
    // route, float32 sums in another order: probabilities ~1e-7 apart) give the same class
    // wherever the two highest probabilities are more than 1e-4 apart
    const gap = (p: number[]) => {
      const [a, b] = [...p].sort((x, y) => y - x);
      return a - b;
    };
    const sameClasses = (o: { out: string }) => doc(o).predictions.every((p, i) => gap(doc(ref).predictions[i].probabilities) <= 1e-4 || p.class === doc(ref).predictions[i].class);
    const same = [auto, lookup, plain, fallback].every((o) => o.code === 0 && JSON.stringify(doc(o).predictions) === JSON.stringify(doc(plain).predictions) && sameClasses(o));
    return (
      same && ref.code === 0 && auto.err === '' &&
      doc(auto).kernels === 'wasm-lookup' && doc(lookup).kernels === 'wasm-lookup' && doc(plain).kernels === 'wasm' && doc(fallback).kernels === 'wasm' &&
      /the lookup build of the wasm ternary kernels did not load \(no relaxed SIMD\); using the popcount build/.test(fallback.err)
    );
  }, 2);
});

example('every command: the flags an unknown-flag error lists are exactly those its --help lists', async () => {
  const flagsOf = (s: string): string[] => [...s.matchAll(/--([a-z][a-z0-9-]*)/g)].map((m) => m[1]).sort();
  let ok = true;
  for (const c of Object.keys(COMMANDS)) {
    const help = await runCli([c, '--help']);
    const listed = help.out.split('\n').filter((l) => /^\s+(-\w, )?--[a-z]/.test(l)).map((l) => /--([a-z][a-z0-9-]*)/.exec(l)![1]).sort();
    const bad = await runCli([c, '--no-such-flag']);
    const allowed = /\(allowed: (.*)\)$/.exec(lastLine(bad.err));
    ok &&= allowed !== null && listed.join() === flagsOf(allowed[1]).join();
  }
  return ok;
});

example('--json and the progress name the backend as --backend does (what the flag accepts), never its internal name', async () => {
  const internal = async (name: string): Promise<Backend> => ({ ...(await backendByName(name)), name: `internal-${name}` });
  const over = { loadBackend: internal };
  const out = join(dir, 'backend-name');
  const t = await runCli(['train', ...MLP, '--data', `idx:${d8}`, '--max-steps', '1', '--out', out, '--json'], undefined, over);
  const ck = join(out, 'checkpoint.json');
  const model = join(out, 'model.sttn');
  const x = await runCli(['export', ck, '--out', model]);
  const img = join(out, 'a.pgm');
  writeFileSync(img, Buffer.concat([Buffer.from('P5\n8 8\n255\n'), Buffer.alloc(64, 9)]));
  const rs = [
    t,
    await runCli(['eval', ck, '--backend', 'cpu', '--json'], undefined, over),
    await runCli(['summary', ck, '--backend', 'cpu', '--json'], undefined, over),
    await runCli(['predict', model, img, '--backend', 'cpu', '--json'], undefined, over),
    await runCli(['predict', model, img, '--backend', 'cpu'], undefined, over),
  ];
  return x.code === 0 && rs.every((r) => r.code === 0 && !r.err.includes('internal-') && !r.out.includes('internal-')) && rs.slice(0, 4).every((r) => (JSON.parse(r.out) as { backend: string }).backend === 'cpu');
});

example('the backends and kernels a command loads are disposed when it ends (a 2-thread wasm backend ends its workers), on success and on failure', async () => {
  let made = 0;
  let disposed = 0;
  const over: Partial<Env> = {
    loadBackend: async (n, w) => {
      const b = (await backendByName(n, w)) as Backend & { dispose?: () => void };
      made++;
      return { ...b, dispose: () => (disposed++, b.dispose?.()) };
    },
  };
  const out = join(dir, 'disposed');
  const t = await runCli(['train', ...MLP, '--data', `idx:${d8}`, '--max-steps', '1', '--out', out, '--backend', 'wasm', '--threads', '2'], undefined, over);
  const e = await runCli(['eval', join(out, 'checkpoint.json'), '--backend', 'wasm', '--threads', '2', '--data', `idx:${d8}`], undefined, over);
  const bad = await runCli(['eval', join(out, 'no-such.json'), '--backend', 'wasm', '--threads', '2'], undefined, over);
  return t.code === 0 && e.code === 0 && bad.code === 1 && made >= 2 && disposed === made;
});

example("predict checks an image's declared size against the model's input before decoding it: a 3000×3000 PGM header is an error naming the file and the model's 8×8", async () => {
  const model = await deployed('exact-size');
  const img = join(dir, 'exact-size', 'big.pgm');
  writeFileSync(img, 'P5\n3000 3000\n255\n');
  const r = await runCli(['predict', model, img, '--backend', 'cpu']);
  return oneLineFailure(r) && r.err.includes(img) && r.err.includes('takes exactly 8×8×1');
});
