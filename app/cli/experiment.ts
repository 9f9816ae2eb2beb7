/**
 * `sttn experiment`: run (or resume) a grid of small trainings and write `DIR/report.md`, its SVG
 * figures and one `DIR/cells/<id>.json` per finished cell (app/experiment). Progress over the
 * whole grid goes to stderr (a live bar on a terminal, a line per cell elsewhere); the report's
 * path and the verdicts go to stdout. When the environment's signal is aborted (Ctrl-C), it
 * abandons the cell in progress, writes the report of the finished cells and exits 130 (143 for
 * SIGTERM); the same command resumes. `--out` is made first, with an error naming it.
 *
 * `--tiny` (hidden: neither in --help nor in the list an unknown flag's error gives) swaps in a
 * 3-cell grid of a few steps, for tests and CI.
 *
 * Law (laws/experiment.test.ts): the tiny grid runs end to end and a second run retrains nothing.
 */
import * as os from 'node:os';
import { join } from 'node:path';
import type { Split } from '../../src/data/dataset.js';
import { cellsOf, gridPreset, selectCells, shellQuote, type GridPresetName } from '../experiment/grid.js';
import { renderReport, type Machine } from '../experiment/report.js';
import { buildRowModel, estimate, findFinished, finishedIn, macsOf, runGrid, subsetSplit, writeReport, type CellProgress } from '../experiment/run.js';
import { intFlag, ints, UsageError, type Flags, type Parsed } from './args.js';
import { backendFlag, loadData } from './commands.js';
import { stopCode, type Command, type Env, type Io } from './env.js';
import { makeDir } from './rundir.js';
import { formatAccuracy, formatBarGlyphs, formatDuration, formatLoss, redrawDue, truncate } from './progress.js';

const DOCUMENTED: Flags = {
  preset: { type: 'string', default: 'quick', choices: ['quick', 'full'], help: 'grid: quick (cnn-small, 3 seeds, ≈10 min) or full (cnn-small and vgg7, 5 seeds, hours)' },
  data: { type: 'string', default: 'embedded', help: "'embedded' (MNIST digits shipped with sttn), 'idx:DIR' or 'cifar10:DIR'" },
  out: { type: 'string', help: 'output directory (default runs/experiment-<preset>); rerunning into it resumes' },
  backend: { type: 'string', default: 'wasm', help: 'cpu | cpu64 | wasm | gpujs | gpujs:<mode>' },
  seeds: { type: 'string', range: ints(1, 1000), help: 'seeds per row, 1..N (default: the preset’s, 3 for quick, 5 for full)' },
  cells: { type: 'string', help: 'only these comma-separated cell or row ids (as the report names them)' },
};

const HIDDEN: Flags = {
  tiny: { type: 'boolean', default: false, help: 'a 3-cell grid of a few steps (tests, CI)' },
};

export function machine(): Machine {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model?.trim() || 'unknown CPU',
    cores: typeof os.availableParallelism === 'function' ? os.availableParallelism() : cpus.length,
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
  };
}

/** The grid's progress: one live line on a terminal, one line per finished cell elsewhere. */
function gridReporter(io: Io, weights: readonly number[]) {
  const tty = io.err.isTTY === true;
  const total = weights.reduce((a, b) => a + b, 0) || 1;
  const before = weights.map((_, k) => weights.slice(0, k).reduce((a, b) => a + b, 0));
  const t0 = performance.now();
  let lastDraw: number | undefined;
  let live = false;
  let fraction = 0;
  let lossSum = 0;
  let seen = 0;
  const eta = () => {
    const el = (performance.now() - t0) / 1000;
    return fraction > 0 ? (el * (1 - fraction)) / fraction : undefined;
  };
  return {
    step(p: CellProgress) {
      const s = p.step;
      fraction = (before[p.index] + (weights[p.index] * s.step) / s.totalSteps) / total;
      if (s.stepInEpoch === 1) lossSum = seen = 0;
      lossSum += s.loss * s.batchSize;
      seen += s.batchSize;
      if (!tty) return;
      const now = performance.now();
      if (!redrawDue(lastDraw, now, 200, s.step === s.totalSteps)) return;
      lastDraw = now;
      const columns = io.err.columns || 80;
      const head = `[${p.index + 1}/${p.count}] ${p.cell.id} e${s.epoch + 1}/${Math.round(s.totalSteps / s.stepsPerEpoch)}`;
      const tail = `${String(Math.floor(fraction * 100)).padStart(3)}% loss ${formatLoss(lossSum / seen)} ETA ${formatDuration(eta())}`;
      const room = columns - 1 - head.length - tail.length - 2;
      const bar = room >= 8 ? ` ${formatBarGlyphs(fraction, Math.min(30, room))} ` : ' ';
      io.err.write(`\r${truncate(head + bar + tail, columns - 1)}\x1b[K`);
      live = true;
    },
    cell(index: number, count: number, id: string, acc: number, wall: number) {
      fraction = (before[index] + weights[index]) / total;
      if (live) io.err.write('\r\x1b[K');
      live = false;
      io.err.write(`[${index + 1}/${count}] ${id}: test acc ${formatAccuracy(acc)} · ${wall.toFixed(1)} s · grid ${Math.floor(fraction * 100)}% · ETA ${formatDuration(eta())}\n`);
    },
    done() {
      if (live) io.err.write('\n');
      live = false;
    },
  };
}

export const experimentCommand: Command = {
  summary: "reproduce the paper's measures on a grid of small trainings; writes a report with verdicts",
  about:
    "Reproduce the paper's measures on a grid of small trainings; writes DIR/report.md, SVG figures and DIR/cells/*.json. Ctrl-C abandons the cell in progress, writes the report of the finished cells and exits 130; the same command resumes.",
  positionals: [],
  flags: DOCUMENTED,
  hidden: HIDDEN,
  run: (p, env) => runExperiment(p, env),
};

async function runExperiment(p: Parsed, env: Env): Promise<number> {
  const { io, signal } = env;
  const t0 = performance.now();
  const tiny = p.values.tiny === true;
  const presetName: GridPresetName = tiny ? 'tiny' : (p.values.preset as GridPresetName);
  const preset = gridPreset(presetName);
  const seeds = intFlag('experiment', p, 'seeds');
  const list = typeof p.values.cells === 'string' ? p.values.cells.split(',').filter((s) => s.trim() !== '') : null;
  if (list !== null && list.length === 0) throw new UsageError('sttn experiment: --cells needs at least one cell or row id');
  let cells;
  try {
    cells = list === null ? cellsOf(preset, seeds) : selectCells(preset, list, seeds);
  } catch (e) {
    throw new UsageError(`sttn experiment: --${(e as Error).message}`);
  }
  const dir = (p.values.out as string | undefined) ?? join('runs', `experiment-${presetName}`);
  const dataSpec = p.values.data as string;
  const backendName = p.values.backend as string;
  const spec = { preset, cells, dir, data: dataSpec, backend: backendName, ...(seeds !== undefined ? { seeds } : {}) };
  const finished = findFinished(spec);
  const split: Split = loadData(dataSpec);
  const todo = cells.filter((c) => !finished.has(c.id));
  const B = await backendFlag('experiment', env, backendName);
  const sub = subsetSplit(split, preset.schedule);
  const costs = new Map<string, number>();
  const weights = todo.map((c) => {
    const key = `${c.row.model}@${c.row.width}`;
    if (!costs.has(key)) costs.set(key, macsOf(buildRowModel(c.row, sub.train)));
    return costs.get(key)!;
  });
  const est = (rate: number) => formatDuration(estimate(todo, split, preset.schedule, rate).seconds);
  io.err.write(
    `experiment ${presetName}: ${cells.length} cell${cells.length === 1 ? '' : 's'} (${finished.size} finished in ${dir}, ${todo.length} to train) · ${sub.train.labels.length} training / ${sub.test.labels.length} test examples · ${preset.schedule.epochs} epoch${preset.schedule.epochs === 1 ? '' : 's'} · backend ${backendName}\n` +
      (todo.length > 0 ? `estimated ${est(400)} at 400 samples/s, ${est(600)} at 600 samples/s (cnn-small-equivalent throughput)\n` : ''),
  );
  // made here, with an error naming --out (a recursive mkdir under /proc never returns)
  makeDir(dir);
  const bar = gridReporter(io, weights);
  let outcome;
  try {
    outcome = await runGrid(B, split, spec, {
      onStep: (s) => bar.step(s),
      onCell: (r, reused) => {
        if (!reused) bar.cell(todo.findIndex((c) => c.id === r.id), todo.length, r.id, r.testAccuracy, r.wallSeconds);
      },
      shouldStop: () => signal.aborted,
    });
  } finally {
    bar.done();
  }
  const wall = (performance.now() - t0) / 1000;
  // the report covers every finished cell of this grid in DIR, not only this run's selection
  const all = finishedIn(spec);
  const report = renderReport(all, {
    preset: presetName,
    schedule: preset.schedule,
    dir,
    data: dataSpec,
    backend: backendName,
    ...(seeds !== undefined ? { seeds } : {}),
    machine: machine(),
    runWallSeconds: wall,
    trained: outcome.trained.length,
    reused: outcome.reused.length,
    missing: outcome.missing,
    generatedAt: new Date().toISOString(),
    invocation: ['sttn', 'experiment', ...p.argv].map(shellQuote).join(' '),
  });
  const paths = writeReport(dir, report);
  const shown = report.claims.filter((c) => c.applicable);
  const count = (v: string) => shown.filter((c) => c.verdict === v).length;
  io.out(
    [
      `report ${paths[0]} · ${outcome.results.length}/${cells.length} cells of this run (trained ${outcome.trained.length}, reused ${outcome.reused.length}), ${all.length} in the report · ${paths.length - 1} figures · wall ${formatDuration(wall)} (${wall.toFixed(1)} s)`,
      `claims: ${count('held')} held, ${count('did not hold')} did not hold, ${count('not measured')} not measured`,
      ...shown.map((c) => `  [${c.verdict}] ${c.model}: ${c.statement}`),
    ].join('\n'),
  );
  if (outcome.stopped) {
    io.err.write(`${signal.aborted ? 'interrupted' : 'stopped'}: ${outcome.missing.length} cell(s) left; rerun the same command to resume\n`);
    return stopCode(signal);
  }
  return 0;
}
