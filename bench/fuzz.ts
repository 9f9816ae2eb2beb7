/**
 * Fuzzing campaign over every decoder of laws/fuzz.ts (the checkpoint with its model check, the
 * `.sttn` container, IDX images and labels, CIFAR-10, PGM, PNG, `readImages`, the CLI's
 * arguments): N mutants each (default 10,000), drawn by fast-check from one seed, and a markdown
 * table of outcomes per decoder — clean errors, accepted-unchanged, accepted-changed (raw, and
 * those the harness resealed or that decoded as an unchecked version), malformed, uncaught
 * exceptions, time-outs, memory — with the machine, wall and CPU time, written to bench/FUZZ.md
 * together with every failure, deduplicated, and the command that replays it.
 *
 * Run: `npx tsx bench/fuzz.ts [N] [--only checkpoint,sttn,…] [--seed S] [--no-write]`;
 * replay one mutant: `npx tsx bench/fuzz.ts --replay NAME --seed S --index I`.
 *
 * Each decoder runs in a child process, so that a hang or a runaway allocation cannot take the
 * campaign down: the parent kills a child that reports no case for HARD_TIMEOUT_S seconds (the
 * case in flight counts as a time-out) or whose resident set passes RSS_CAP_GIB (a memory
 * failure), and a child that dies counts its case as uncaught; a fresh child resumes after that
 * case. Inside the child every case also has laws/fuzz.ts's per-case bounds (time, peak RSS).
 */
import fc from 'fast-check';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { acceptable, OUTCOMES, TARGETS, type Outcome, type Target, type Verdict } from '../laws/fuzz.js';

const HARD_TIMEOUT_S = 30;
/** The first case may wait for the child to start and build its seeds. */
const STARTUP_S = 180;
const RSS_CAP_GIB = 4;

const SELF = fileURLToPath(import.meta.url);

// ---------------------------------------------------------------------------------------------
// Messages between the parent and a child

interface CaseMsg {
  readonly i: number;
  readonly v: Verdict;
  /** a failure: the program's description (kept only for cases a report shows) */
  readonly what?: string;
  /** the child's CPU time so far, seconds */
  readonly cpu: number;
}
interface DoneMsg {
  readonly done: true;
  readonly cpu: number;
}

/** The cases worth a line in the report: failures, and accepted-changed of a checked format. */
const reportable = (t: Pick<Target, 'integrity'>, v: Verdict): boolean => !acceptable(t, v) || (t.integrity && v.outcome === 'accepted-changed');

async function child(name: string, n: number, seed: number, from: number, dir: string): Promise<void> {
  const t = await TARGETS[name](dir);
  const programs = fc.sample(t.arb, { seed, numRuns: n });
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  for (let i = from; i < n; i++) {
    const v = await t.run(programs[i]);
    const msg: CaseMsg = reportable(t, v) ? { i, v, what: t.describe(programs[i]), cpu: cpu() } : { i, v: { ...v, detail: '' }, cpu: cpu() };
    await new Promise<void>((r) => process.send!(msg, () => r()));
  }
  const done: DoneMsg = { done: true, cpu: cpu() };
  await new Promise<void>((r) => process.send!(done, () => r()));
}

// ---------------------------------------------------------------------------------------------
// The parent

interface Failure {
  readonly index: number;
  readonly outcome: Outcome;
  readonly sealed: boolean;
  readonly unverified: boolean;
  readonly what: string;
  readonly detail: string;
  readonly ms: number;
  readonly peakMiB: number;
}

interface Campaign {
  readonly name: string;
  readonly integrity: boolean;
  readonly n: number;
  readonly counts: Record<Outcome, number>;
  /** accepted-changed that were resealed or decoded unverified */
  changedSealed: number;
  changedUnverified: number;
  readonly failures: Failure[];
  maxMs: number;
  wall: number;
  cpu: number;
  restarts: number;
}

const rssOf = (pid: number): number => {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? 0 : Number(m[1]) * 1024;
  } catch {
    return 0;
  }
};

async function campaign(name: string, n: number, seed: number, dir: string): Promise<Campaign> {
  const probe = await TARGETS[name](dir);
  const c: Campaign = {
    name: probe.name,
    integrity: probe.integrity,
    n,
    counts: Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>,
    changedSealed: 0,
    changedUnverified: 0,
    failures: [],
    maxMs: 0,
    wall: 0,
    cpu: 0,
    restarts: 0,
  };
  const programs = fc.sample(probe.arb, { seed, numRuns: n });
  const t0 = performance.now();
  let from = 0;
  while (from < n) {
    let last = from - 1;
    let cpu = 0;
    let finished = false;
    let lastTick = performance.now();
    let killed: { outcome: Outcome; why: string } | undefined;
    const proc: ChildProcess = fork(SELF, ['--child', name, '--n', String(n), '--seed', String(seed), '--from', String(from), '--dir', dir], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    proc.on('message', (m: CaseMsg | DoneMsg) => {
      lastTick = performance.now();
      cpu = m.cpu;
      if ('done' in m) {
        finished = true;
        return;
      }
      const v = m.v;
      last = m.i;
      c.counts[v.outcome]++;
      c.maxMs = Math.max(c.maxMs, v.ms);
      if (v.outcome === 'accepted-changed' && v.sealed) c.changedSealed++;
      else if (v.outcome === 'accepted-changed' && v.unverified) c.changedUnverified++;
      if (m.what !== undefined) c.failures.push({ index: m.i, outcome: v.outcome, sealed: v.sealed, unverified: v.unverified, what: m.what, detail: v.detail, ms: v.ms, peakMiB: v.peakMiB });
    });
    const watchdog = setInterval(() => {
      const quiet = (performance.now() - lastTick) / 1000;
      const rss = proc.pid === undefined ? 0 : rssOf(proc.pid);
      if (quiet > (last < from ? STARTUP_S : HARD_TIMEOUT_S)) killed = { outcome: 'timeout', why: `no result after ${quiet.toFixed(0)} s: killed` };
      else if (rss > RSS_CAP_GIB * 2 ** 30) killed = { outcome: 'memory', why: `resident set ${(rss / 2 ** 30).toFixed(1)} GiB > ${RSS_CAP_GIB} GiB: killed` };
      if (killed !== undefined) proc.kill('SIGKILL');
    }, 100);
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.on('exit', (code, signal) => r({ code, signal })));
    clearInterval(watchdog);
    c.cpu += cpu;
    if (finished) break;
    // the case in flight took the child down (or was killed): it counts, and a new child goes on after it
    const i = last + 1;
    if (i >= n) break;
    const outcome = killed?.outcome ?? 'uncaught';
    const why = killed?.why ?? `the child process died (exit code ${exit.code}, signal ${exit.signal})`;
    c.counts[outcome]++;
    c.failures.push({ index: i, outcome, sealed: false, unverified: false, what: probe.describe(programs[i]), detail: why, ms: NaN, peakMiB: NaN });
    c.restarts++;
    from = i + 1;
  }
  c.wall = (performance.now() - t0) / 1000;
  return c;
}

// ---------------------------------------------------------------------------------------------
// The report

const MACHINE = (): string => {
  const cpus = os.cpus();
  return `${cpus[0]?.model?.trim() ?? 'unknown CPU'}, ${os.availableParallelism()} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB; Node ${process.version}, ${os.platform()} ${os.arch()}`;
};

/** bench/common.ts loads tfjs: only the parent, which writes the table, imports it. */
async function outcomeTable(cs: readonly Campaign[]): Promise<string> {
  const { table } = await import('./common.js');
  const rows = cs.map((c) => [
    c.name,
    String(c.n),
    String(c.counts['clean-error']),
    String(c.counts['accepted-unchanged']),
    c.integrity
      ? `${c.counts['accepted-changed'] - c.changedSealed - c.changedUnverified} (+${c.changedSealed} resealed, +${c.changedUnverified} version 1)`
      : `${c.counts['accepted-changed']} (no check: ${c.changedSealed} resealed)`,
    String(c.counts.malformed),
    String(c.counts.uncaught),
    String(c.counts.timeout),
    String(c.counts.memory),
    c.maxMs.toFixed(0),
    c.wall.toFixed(1),
    c.cpu.toFixed(1),
  ]);
  return table(['decoder', 'mutants', 'clean errors', 'accepted-unchanged', 'accepted-changed', 'malformed', 'uncaught', 'time-outs', 'memory', 'slowest case (ms)', 'wall (s)', 'CPU (s)'], rows);
}

/** The failures of a campaign, one line per kind (same outcome, same message up to its numbers), with a replay. */
function failureList(c: Campaign, seed: number, replay: (name: string, i: number) => string, key: string): string[] {
  const shown = c.failures.filter((f) => f.outcome !== 'accepted-changed' || (!f.sealed && !f.unverified));
  const groups = new Map<string, Failure[]>();
  for (const f of shown) {
    const k = `${f.outcome} ${f.detail.replace(/\d+(\.\d+)?/g, 'N').replace(/\/tmp\/\S+/g, 'FILE').slice(0, 160)}`;
    groups.set(k, [...(groups.get(k) ?? []), f]);
  }
  if (groups.size === 0) return [`- ${c.name}: none.`];
  return [...groups.values()].map((fs) => {
    const f = fs[0];
    const cost = Number.isNaN(f.ms) ? '' : ` (${f.ms.toFixed(0)} ms, +${f.peakMiB.toFixed(0)} MiB)`;
    return `- ${c.name}, **${f.outcome}** ×${fs.length}${cost}: ${f.detail.replace(/\|/g, '\\|')}\n  - mutant #${f.index} (seed ${seed}): ${f.what.replace(/\|/g, '\\|')}\n  - replay: \`${replay(key, f.index)}\``;
  });
}

// ---------------------------------------------------------------------------------------------
// Command line

function arg(argv: readonly string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
}

async function replayOne(name: string, seed: number, index: number): Promise<void> {
  const dir = mkdtempSync(join(os.tmpdir(), 'sttn-fuzz-'));
  try {
    const t = await TARGETS[name](dir);
    const p = fc.sample(t.arb, { seed, numRuns: index + 1 })[index];
    const v = await t.run(p);
    console.log(`${t.name} #${index} (seed ${seed}): ${t.describe(p)}`);
    console.log(`→ ${v.outcome} in ${v.ms.toFixed(1)} ms, +${v.peakMiB.toFixed(0)} MiB${v.sealed ? ', resealed' : ''}${v.unverified ? ', unverified' : ''}: ${v.detail}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function mainBench(argv: readonly string[]): Promise<void> {
  if (argv[0] === '--child') {
    await child(argv[1], Number(arg(argv, '--n')), Number(arg(argv, '--seed')), Number(arg(argv, '--from')), arg(argv, '--dir')!);
    return;
  }
  const seed = Number(arg(argv, '--seed') ?? (Date.now() ^ (Math.random() * 2 ** 31)) >>> 0);
  const replayName = arg(argv, '--replay');
  if (replayName !== undefined) return replayOne(replayName, seed, Number(arg(argv, '--index') ?? 0));
  const n = Number(argv.find((a, i) => /^\d+$/.test(a) && (i === 0 || !argv[i - 1].startsWith('--'))) ?? 10_000);
  const only = arg(argv, '--only')?.split(',');
  const names = Object.keys(TARGETS).filter((k) => only === undefined || only.includes(k));
  const unknown = only?.filter((k) => !Object.hasOwn(TARGETS, k)) ?? [];
  if (unknown.length > 0) throw new Error(`unknown decoder(s) ${unknown.join(', ')} (known: ${Object.keys(TARGETS).join(', ')})`);
  const dir = mkdtempSync(join(os.tmpdir(), 'sttn-fuzz-'));
  const machine = MACHINE();
  console.error(`fuzz: ${n} mutants per decoder, seed ${seed}; ${machine}`);
  const started = new Date().toISOString();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const done: Campaign[] = [];
  try {
    for (const name of names) {
      const c = await campaign(name, n, seed, dir);
      done.push(c);
      console.error(`${c.name}: ${OUTCOMES.map((o) => `${o} ${c.counts[o]}`).join(', ')} · ${c.wall.toFixed(1)} s`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const wall = (performance.now() - t0) / 1000;
  const own = process.cpuUsage(cpu0);
  const cpu = done.reduce((s, c) => s + c.cpu, 0) + (own.user + own.system) / 1e6;
  const replay = (name: string, i: number) => `npx tsx bench/fuzz.ts --replay ${name} --seed ${seed} --index ${i}`;
  const command = `npx tsx bench/fuzz.ts ${n}${only ? ` --only ${only.join(',')}` : ''} --seed ${seed}`;
  const tbl = await outcomeTable(done);
  const failures = done.flatMap((c, k) => failureList(c, seed, replay, names[k]));
  console.log(`\n${tbl}\n\nmachine: ${machine}; wall ${wall.toFixed(1)} s, CPU ${cpu.toFixed(1)} s (children included)\n\n${failures.join('\n')}`);
  if (argv.includes('--no-write')) return;
  const md = [
    '# Fuzzing the decoders: results',
    '',
    'bench/fuzz.ts over the decoders of laws/fuzz.ts (which describes the mutators and the outcomes).',
    'Each decoder gets the same number of mutants, drawn by fast-check from one seed: a seed input',
    'built in-process, one to four edits (bit flips, byte and word changes, truncation, extension,',
    'deletion, insertion, splices from any seed, gzip wrapping; JSON-aware edits for the checkpoint',
    'and the `.sttn` header), and for a checked format, a third of the time, a reseal (checksum or',
    'CRC recomputed; for a checkpoint also a rewrite as an unchecked version-1 file). The CLI row',
    'draws argument vectors instead (commands, flags with bad values, garbled and unknown flags,',
    'missing, empty and odd files) that fail before any training starts.',
    '',
    '- accepted-changed is an integrity failure only where the format has a check (checkpoint,',
    '  `.sttn`) and the mutant was not resealed and decoded as a checked version; elsewhere a changed',
    '  pixel is a different image, and the column only counts them.',
    '- malformed: decoded, but the value breaks its declared shapes (CLI: the exit-code and stderr',
    '  conventions). uncaught: any exception that is not an SttnError naming the file, or a throw from',
    '  a decoder documented never to throw. Per case: 1 s (CLI 5 s) and 256 MiB of peak RSS; a child',
    `  silent for ${HARD_TIMEOUT_S} s or above ${RSS_CAP_GIB} GiB is killed and its case counted.`,
    '',
    `Command: \`${command}\` (started ${started}).`,
    `Machine: ${machine}. Wall ${wall.toFixed(1)} s, CPU ${cpu.toFixed(1)} s (every child process included; the decoders run one at a time).`,
    '',
    tbl,
    '',
    '## Failures',
    '',
    'Deduplicated by outcome and message (numbers and temp paths aside); the first mutant of each kind, and how to replay it.',
    '',
    ...failures,
    '',
  ].join('\n');
  writeFileSync(join(fileURLToPath(new URL('.', import.meta.url)), 'FUZZ.md'), md);
  console.error('wrote bench/FUZZ.md');
}

await mainBench(process.argv.slice(2));
