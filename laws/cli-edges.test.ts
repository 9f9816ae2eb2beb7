/**
 * Laws of the `sttn` CLI at its edges (app/cli/*), in-process on tiny IDX data: a diverging run
 * is one `TrainingDiverged` line naming the step and the last good checkpoint; empty data is an
 * error naming it before anything is trained; an evaluation that fails at an epoch's end does not
 * lose the epoch; `--out` that cannot be a directory is one line naming it; every numeric flag has
 * a range and a value outside it is a usage error naming the flag (negative numbers included);
 * `--resume --data` uses the data given; an error that is not sttn's is still one line (its stack
 * only under STTN_DEBUG); a resumed epoch records the whole epoch; a run directory is locked for
 * one writer and a dead writer's lock and temp files are cleaned when train starts.
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { cpu32 } from '../backends/cpu.js';
import { loadBackend } from '../backends/index.js';
import { parseFlags, UsageError } from '../app/cli/args.js';
import { COMMANDS } from '../app/cli/main.js';
import { loadCheckpoint } from '../src/checkpoint/checkpoint.js';
import type { Backend } from '../src/backend.js';
import { example, law, throwsWith } from './law.js';
import { deadPid, runCli, writeIdxDir, type CliResult } from './cli-io.js';

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
    loadBackend: async (name) => failingOn(await loadBackend(name), 5),
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
  train: ['width', 'epochs', 'batch', 'lr', 'weight-decay', 'latent-clip', 'augment-pad', 'seed', 'max-steps', 'log-every', 'eval-every'],
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
  const b = await runCli(['train', ...MLP, '--data', `idx:${d8}`, '--epochs', '2', '--out', out]);
  const c = await runCli(['train', '--resume', '--backend', 'cpu', '--out', out]);
  const after = loadCheckpoint(join(out, 'checkpoint.json'));
  return (
    a.code === 0 && E.isRight(before) && E.isRight(after) && after.right.createdAt === before.right.createdAt &&
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
