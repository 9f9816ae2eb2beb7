/**
 * Laws of the `sttn` process (app/cli.ts) that need a real process: SIGTERM saves and exits 143
 * like Ctrl-C (130, laws/cli.test.ts); a second `train` on a run directory in use is refused
 * naming the holder's pid; a reader that closes stdout early (`| head`) ends the process quietly
 * with 141; `train --out` and `export --out` under /proc (where mkdir -p never returns) are one
 * line each; and the fault
 * injection: SIGKILL at a moment drawn by fast-check (mid-save included) always leaves a
 * checkpoint that loads (or none yet), and `--resume` from it ends with the parameters of an
 * uninterrupted run, bit for bit, with the dead writer's lock and temp files gone.
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { loadCheckpoint, type Checkpoint } from '../src/checkpoint/checkpoint.js';
import { fromCheckpoint } from '../src/checkpoint/run.js';
import { paramTreeBitEqual } from '../src/tensor-codec.js';
import { example } from './law.js';
import { holdsAsync } from './async-law.js';
import { runCli, spawnCli, writeIdxDir } from './cli-io.js';

const dir = mkdtempSync(join(tmpdir(), 'sttn-signals-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const noStack = (err: string): boolean => !/^\s+at /m.test(err) && !err.includes('node:internal');
const checkpointOf = (out: string) => loadCheckpoint(join(out, 'checkpoint.json'));
/** A long run (tiny data, 10,000 epochs of 32 steps): the law always stops it. */
const LONG = ['train', '--model', 'mlp', '--backend', 'cpu', '--data', `idx:${writeIdxDir(join(dir, 'long-data'), 256, 8)}`, '--batch', '8', '--epochs', '10000', '--log-every', '1'];

example('SIGTERM: train stops at the next step, saves a checkpoint that loads, prints no JSON and exits 143', async () => {
  const out = join(dir, 'sigterm');
  const c = spawnCli([...LONG, '--out', out, '--json']);
  if (await c.waitErr(/step 3\//)) c.child.kill('SIGTERM');
  const r = await c.done;
  const ck = checkpointOf(out);
  const step = /interrupted at step (\d+)/.exec(r.err);
  return r.code === 143 && r.out === '' && step !== null && E.isRight(ck) && ck.right.progress.step === Number(step[1]) && E.isRight(fromCheckpoint(ck.right)) && noStack(r.err);
});

example("two train runs on one --out: the second is refused (exit 1, one line naming the directory and the first's pid); the first goes on and saves", async () => {
  const out = join(dir, 'two-writers');
  const a = spawnCli([...LONG, '--out', out]);
  const started = await a.waitErr(/step 1\//);
  // --force: the refusal is the lock's, whether or not the first run has saved yet
  const b = await runCli([...LONG, '--max-steps', '1', '--out', out, '--force']);
  const c = await runCli(['train', '--resume', '--backend', 'cpu', '--out', out]);
  a.child.kill('SIGINT');
  const ra = await a.done;
  const ck = checkpointOf(out);
  return (
    started &&
    [b, c].every((r) => r.code === 1 && r.out === '' && r.err.trim().split('\n').length === 1 && r.err.includes(out) && r.err.includes(`pid ${a.child.pid}`)) &&
    ra.code === 130 && E.isRight(ck) && ck.right.progress.step >= 1 &&
    !readdirSync(out).includes('.sttn-train.lock')
  );
});

example('stdout closed by its reader (| head): predict ends quietly, exit 141, no stack and no error on stderr', async () => {
  const data = writeIdxDir(join(dir, 'pipe-data'), 8, 4);
  const out = join(dir, 'pipe');
  const t = await runCli(['train', '--model', 'mlp', '--backend', 'cpu', '--data', `idx:${data}`, '--epochs', '1', '--out', out]);
  const x = await runCli(['export', join(out, 'checkpoint.json'), '--out', join(out, 'm.sttn')]);
  // 3,000 images of 8×8: far more lines than one pipe buffer holds
  const n = 3000;
  const head = Buffer.alloc(16);
  head.writeUInt32BE(0x803, 0);
  head.writeUInt32BE(n, 4);
  head.writeUInt32BE(8, 8);
  head.writeUInt32BE(8, 12);
  const many = join(out, 'many-idx3-ubyte');
  writeFileSync(many, Buffer.concat([head, Buffer.alloc(n * 64, 7)]));
  const c = spawnCli(['predict', join(out, 'm.sttn'), many, '--backend', 'cpu', '--batch', '100']);
  c.child.stdout?.once('data', () => c.child.stdout?.destroy());
  const r = await c.done;
  return t.code === 0 && x.code === 0 && r.code === 141 && noStack(r.err) && !/error/i.test(r.err);
});

example('--out under /proc (where a recursive mkdir never returns): one line naming it, exit 1, within seconds', async () => {
  // Linux only: elsewhere there is no /proc to misbehave
  if (!existsSync('/proc/self')) return true;
  const c = spawnCli([...LONG, '--max-steps', '1', '--out', '/proc/sttn-law/run']);
  const timer = setTimeout(() => c.child.kill('SIGKILL'), 30_000);
  const r = await c.done;
  clearTimeout(timer);
  return r.code === 1 && r.out === '' && r.err.trim().split('\n').pop()!.includes('--out /proc/sttn-law/run') && noStack(r.err);
});

example('export --out under /proc (where a recursive mkdir never returns): one line naming the file, exit 1, within seconds', async () => {
  if (!existsSync('/proc/self')) return true;
  const data = writeIdxDir(join(dir, 'proc-export-data'), 8, 4);
  const out = join(dir, 'proc-export');
  const t = await runCli(['train', '--model', 'mlp', '--backend', 'cpu', '--data', `idx:${data}`, '--epochs', '1', '--out', out]);
  const target = '/proc/sttn-law/x/y.sttn';
  const c = spawnCli(['export', join(out, 'checkpoint.json'), '--out', target]);
  const timer = setTimeout(() => c.child.kill('SIGKILL'), 30_000);
  const r = await c.done;
  clearTimeout(timer);
  const lines = r.err.trim().split('\n');
  return t.code === 0 && r.code === 1 && r.out === '' && lines.length === 1 && lines[0].startsWith('sttn export: ') && lines[0].includes(target) && noStack(r.err);
});

// ---------------------------------------------------------------------------------------------
// Fault injection

const sameRun = (a: Checkpoint, b: Checkpoint): boolean => {
  type H = { loss: number; trainAccuracy: number; testAccuracy: number | null }[];
  const ha = a.meta.history as H;
  const hb = b.meta.history as H;
  return (
    a.progress.step === b.progress.step &&
    paramTreeBitEqual(a.params, b.params) &&
    paramTreeBitEqual(a.state, b.state) &&
    Object.keys(a.optimizer.slots).every((k) => paramTreeBitEqual(a.optimizer.slots[k], b.optimizer.slots[k])) &&
    ha.length === hb.length &&
    ha.every((h, i) => Object.is(h.loss, hb[i].loss) && Object.is(h.trainAccuracy, hb[i].trainAccuracy) && h.testAccuracy === hb[i].testAccuracy)
  );
};

/** When to SIGKILL the writer: `ms` after its first step begins, or `ms` after its k-th checkpoint temp file appears (mid-save). */
type Moment = { readonly at: 'run'; readonly ms: number } | { readonly at: 'save'; readonly k: number; readonly ms: number };

const moments: fc.Arbitrary<Moment> = fc.oneof(
  fc.record({ at: fc.constant('run' as const), ms: fc.integer({ min: 0, max: 500 }) }),
  fc.record({ at: fc.constant('save' as const), k: fc.integer({ min: 1, max: 3 }), ms: fc.integer({ min: 0, max: 3 }) }),
);

example('SIGKILL at a moment drawn by fast-check (mid-save included) leaves a checkpoint that loads, and --resume reaches the uninterrupted parameters bit for bit', async () => {
  const data = writeIdxDir(join(dir, 'kill-data'), 32, 8);
  // 3 epochs × 4 steps, a checkpoint of a few MB saved at each epoch's end
  const flags = ['--model', 'mlp', '--backend', 'cpu', '--data', `idx:${data}`, '--batch', '8', '--epochs', '3', '--eval-every', '1', '--log-every', '1'];
  const straight = join(dir, 'kill-straight');
  const s = await runCli(['train', ...flags, '--out', straight]);
  const ref = checkpointOf(straight);
  if (s.code !== 0 || E.isLeft(ref)) return false;
  let n = 0;
  return holdsAsync(
    moments,
    async (m) => {
      const out = join(dir, `kill-${n++}`);
      mkdirSync(out);
      const c = spawnCli(['train', ...flags, '--out', out]);
      const kill = () => c.child.kill('SIGKILL');
      let temps = 0;
      // inotify (fs.watch) sees the writer's temp file the moment it is created
      const watcher = watch(out, (event, name) => {
        if (m.at === 'save' && event === 'rename' && name !== null && /^\.checkpoint\.json\..*\.tmp$/.test(name) && existsSync(join(out, name)) && ++temps === m.k) setTimeout(kill, m.ms);
      });
      if (m.at === 'run' && (await c.waitErr(/ training \/ /))) setTimeout(kill, m.ms);
      const r = await c.done;
      watcher.close();
      const left = checkpointOf(out);
      // killed before its first save: there is nothing to resume, and nothing that fails to load
      const noneYet = !existsSync(join(out, 'checkpoint.json'));
      if (!noneYet && E.isLeft(left)) return false;
      // --eval-every is not the checkpoint's: given again on resume
      const resumed = await runCli(noneYet ? ['train', ...flags, '--out', out] : ['train', '--resume', '--backend', 'cpu', '--eval-every', '1', '--out', out]);
      const end = checkpointOf(out);
      const names = readdirSync(out);
      return (r.signal === 'SIGKILL' || r.code === 0) && resumed.code === 0 && E.isRight(end) && sameRun(end.right, ref.right) && !names.some((x) => x.endsWith('.tmp') || x.endsWith('.lock'));
    },
    6,
  );
});
