/**
 * Running the grid: each cell trains a fresh model with the grid's schedule (deterministic given
 * its seed, src/train/train.ts), is evaluated on the test subset, measured (measures.ts) and written to
 * `DIR/cells/<id>.json` atomically. Cells already on disk with the same plan are reused, so an
 * interrupted run resumes where it stopped; an interruption abandons only the cell in progress.
 *
 * Data: every cell sees the same subsets: the first `trainPerClass` training and `testPerClass`
 * test examples of each class, in file order (no randomness, so every row trains on the same data).
 *
 * Law (laws/experiment.test.ts): a tiny grid runs end to end; a second run reuses every cell.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { Backend } from '../../src/backend.js';
import { decodeWith, orThrow } from '../../src/codec.js';
import { ConfigError } from '../../src/errors.js';
import { writeFileAtomic } from '../../src/files.js';
import { gather } from '../../src/data/batches.js';
import type { Dataset, Split } from '../../src/data/dataset.js';
import { buildModel, type Model } from '../../src/models/model.js';
import { size } from '../../src/tensor.js';
import { evaluate, initTraining, stepsPerEpoch, train, TrainConfig, type StepInfo } from '../../src/train/train.js';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CELL_FORMAT, CELL_VERSION, cellPath, planDifference, planOf, readCell, writeCell, type CellResult } from './cell.js';
import { commandFor, modelSpecOf, rowId, type Cell, type GridPreset, type Row, type Schedule } from './grid.js';
import { measureLayers, table1 } from './measures.js';

/** The first `perClass` examples of each class, in file order. */
export function firstPerClass(ds: Dataset, perClass: number): Dataset {
  const seen = new Array<number>(ds.classes).fill(0);
  const idx: number[] = [];
  for (let i = 0; i < ds.labels.length; i++) {
    const c = ds.labels[i];
    if (seen[c] < perClass) {
      seen[c]++;
      idx.push(i);
    }
  }
  const b = gather(ds, Int32Array.from(idx));
  return { name: `${ds.name}[first ${perClass} per class]`, images: b.images, labels: b.labels, classes: ds.classes };
}

export function subsetSplit(split: Split, s: Pick<Schedule, 'trainPerClass' | 'testPerClass'>): Split {
  return { train: firstPerClass(split.train, s.trainPerClass), test: firstPerClass(split.test, s.testPerClass) };
}

/** Multiply-accumulates per example of a model's dense and conv layers (top level). */
export function macsOf(model: Model): number {
  let macs = 0;
  model.spec.layers.forEach((spec, i) => {
    if (spec.type === 'dense') macs += spec.units * model.shapes[i][0];
    if (spec.type === 'conv2d') macs += size(model.shapes[i + 1]) * spec.kernelSize[0] * spec.kernelSize[1] * model.shapes[i][2];
  });
  return macs;
}

export function buildRowModel(r: Row, data: Dataset): Model {
  return orThrow(buildModel(modelSpecOf(r, data.images.shape.slice(1), data.classes)));
}

export function trainConfigOf(s: Schedule, seed: number): TrainConfig {
  return orThrow(
    decodeWith(
      TrainConfig,
      { epochs: s.epochs, batchSize: s.batchSize, seed, augmentPad: s.augmentPad, augmentFlip: false, optimizer: { kind: 'adam', lr: s.lr, weightDecay: s.weightDecay, schedule: 'cosine' } },
      'train',
    ),
  );
}

export interface GridSpec {
  readonly preset: GridPreset;
  readonly cells: readonly Cell[];
  readonly dir: string;
  /** the --data spec, recorded in plans and commands */
  readonly data: string;
  readonly backend: string;
  /** the --seeds value given, if any (for the commands) */
  readonly seeds?: number;
}

export interface CellProgress {
  /** 0-based position among the cells this run trains, and their number */
  readonly index: number;
  readonly count: number;
  readonly cell: Cell;
  readonly step: StepInfo;
}

export interface RunHooks {
  /** after every training step */
  onStep?(p: CellProgress): void;
  /** after a cell is written (or found on disk: `reused`) */
  onCell?(r: CellResult, reused: boolean): void;
  /** asked after every step: true abandons the cell in progress and ends the run */
  shouldStop?(): boolean;
}

export interface GridOutcome {
  /** every finished cell of the selection, in selection order */
  readonly results: readonly CellResult[];
  readonly trained: readonly string[];
  readonly reused: readonly string[];
  /** ids not finished (the run was stopped) */
  readonly missing: readonly string[];
  readonly stopped: boolean;
}

/** Look for finished cells; a file with a different plan is a ConfigError naming it and the field. */
export function findFinished(spec: GridSpec): Map<string, CellResult> {
  const found = new Map<string, CellResult>();
  for (const c of spec.cells) {
    const file = cellPath(spec.dir, c.id);
    const r = readCell(file);
    if (E.isLeft(r)) throw r.left;
    if (r.right === null) continue;
    const d = planDifference(r.right.plan, planOf(spec.preset.name, c, spec.preset.schedule, spec.data, spec.backend));
    if (d !== null) throw new ConfigError(file, `was made with another plan (${d}); use another --out, or delete the file to retrain it`);
    found.set(c.id, r.right);
  }
  return found;
}

/** Train, evaluate and measure one cell; null when stopped before its end. */
export async function runCell(B: Backend, spec: GridSpec, cell: Cell, data: Split, hooks: RunHooks = {}, index = 0, count = 1): Promise<CellResult | null> {
  const t0 = performance.now();
  const s = spec.preset.schedule;
  const model = buildRowModel(cell.row, data.train);
  const cfg = trainConfigOf(s, cell.seed);
  let lossSum = 0;
  let correct = 0;
  let seen = 0;
  let trained = 0;
  const tTrain = performance.now();
  const r = await train(B, model, data.train, cfg, initTraining(B, model, cfg), {
    onStep: (info) => {
      if (info.stepInEpoch === 1) lossSum = correct = seen = 0;
      lossSum += info.loss * info.batchSize;
      correct += info.correct;
      seen += info.batchSize;
      trained += info.batchSize;
      hooks.onStep?.({ index, count, cell, step: info });
    },
    shouldStop: () => hooks.shouldStop?.() ?? false,
  });
  const trainSeconds = (performance.now() - tTrain) / 1000;
  if (r.stopped && r.state.step < cfg.epochs * stepsPerEpoch(data.train.labels.length, cfg.batchSize)) return null;
  const test = evaluate(B, model, r.state, data.test, cfg.evalBatchSize);
  const layers = measureLayers(B, model, r.state.params, s.bins);
  return {
    format: CELL_FORMAT,
    version: CELL_VERSION,
    id: cell.id,
    rowId: cell.rowId,
    plan: planOf(spec.preset.name, cell, s, spec.data, spec.backend),
    command: commandFor({ preset: spec.preset.name, data: spec.data, backend: spec.backend, out: spec.dir }, [cell.id]),
    modelName: model.spec.name,
    trainExamples: data.train.labels.length,
    testExamples: data.test.labels.length,
    steps: r.state.step,
    testAccuracy: test.accuracy,
    testLoss: test.loss,
    trainLoss: seen > 0 ? lossSum / seen : NaN,
    trainAccuracy: seen > 0 ? correct / seen : NaN,
    wallSeconds: (performance.now() - t0) / 1000,
    trainSamplesPerSec: trainSeconds > 0 ? trained / trainSeconds : 0,
    finishedAt: new Date().toISOString(),
    layers,
    table1: table1(layers),
  };
}

/**
 * Every finished cell in `DIR/cells` made with this preset, schedule, data and backend, whatever
 * its row or seed (so a report after a `--cells` run still covers the whole directory); files of
 * another plan or that do not decode are left out. Ordered as the preset's rows, then by seed.
 */
export function finishedIn(spec: Pick<GridSpec, 'dir' | 'preset' | 'data' | 'backend'>): CellResult[] {
  let names: string[];
  try {
    names = readdirSync(join(spec.dir, 'cells')).filter((n) => n.endsWith('.json') && !n.startsWith('.'));
  } catch {
    return [];
  }
  const rows = spec.preset.rows.map(rowId);
  const same = (r: CellResult) =>
    r.plan.preset === spec.preset.name && r.plan.data === spec.data && r.plan.backend === spec.backend && planDifference(r.plan.schedule, spec.preset.schedule) === null && rows.includes(r.rowId);
  return names
    .map((n) => readCell(join(spec.dir, 'cells', n)))
    .flatMap((e) => (E.isRight(e) && e.right !== null && same(e.right) ? [e.right] : []))
    .sort((a, b) => rows.indexOf(a.rowId) - rows.indexOf(b.rowId) || a.plan.seed - b.plan.seed);
}

/** Run (or resume) the grid `spec` on the full split `split` (subsets are taken here). */
export async function runGrid(B: Backend, split: Split, spec: GridSpec, hooks: RunHooks = {}): Promise<GridOutcome> {
  const finished = findFinished(spec);
  const data = subsetSplit(split, spec.preset.schedule);
  const todo = spec.cells.filter((c) => !finished.has(c.id));
  for (const c of spec.cells) {
    const f = finished.get(c.id);
    if (f !== undefined) hooks.onCell?.(f, true);
  }
  const trained: string[] = [];
  let stopped = false;
  for (let k = 0; k < todo.length; k++) {
    const r = await runCell(B, spec, todo[k], data, hooks, k, todo.length);
    if (r === null) {
      stopped = true;
      break;
    }
    writeCell(spec.dir, r);
    finished.set(r.id, r);
    trained.push(r.id);
    hooks.onCell?.(r, false);
    if (hooks.shouldStop?.()) {
      stopped = k + 1 < todo.length;
      break;
    }
  }
  const results = spec.cells.map((c) => finished.get(c.id)).filter((r): r is CellResult => r !== undefined);
  return {
    results,
    trained,
    reused: spec.cells.filter((c) => !trained.includes(c.id) && finished.has(c.id)).map((c) => c.id),
    missing: spec.cells.filter((c) => !finished.has(c.id)).map((c) => c.id),
    stopped,
  };
}

/** Training samples and a rough wall-time estimate of the cells in `cells`. */
export function estimate(cells: readonly Cell[], split: Split, s: Schedule, samplesPerSec: number): { trainSamples: number; evalSamples: number; seconds: number } {
  const data = subsetSplit(split, s);
  const ref = macsOf(buildRowModel({ model: 'cnn-small', width: null, bits: '32+32', weights: 'fp', gradient: null, granularity: 'tensor' }, data.train));
  const n = data.train.labels.length;
  const m = data.test.labels.length;
  let seconds = 0;
  const cost = new Map<string, number>();
  for (const c of cells) {
    const key = `${c.row.model}@${c.row.width}`;
    if (!cost.has(key)) cost.set(key, macsOf(buildRowModel(c.row, data.train)) / ref);
    // evaluation (forward only) runs at roughly 2.5× the training throughput
    seconds += (cost.get(key)! * (s.epochs * n + m / 2.5)) / samplesPerSec;
  }
  return { trainSamples: cells.length * s.epochs * n, evalSamples: cells.length * m, seconds };
}

/** Write `DIR/report.md` and its figures (each atomically); returns the paths written. */
export function writeReport(dir: string, r: { markdown: string; figures: readonly { file: string; svg: string }[] }): string[] {
  const paths = [join(dir, 'report.md'), ...r.figures.map((f) => join(dir, f.file))];
  writeFileAtomic(paths[0], r.markdown, { mkdir: true });
  r.figures.forEach((f, k) => writeFileAtomic(paths[k + 1], f.svg, { mkdir: true }));
  return paths;
}
