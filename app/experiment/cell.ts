/**
 * One finished cell of the grid as a file: `DIR/cells/<id>.json`, written atomically (src/files.ts:
 * temp file in the same directory, fsync, rename), so a killed run leaves either no file or a
 * whole one, and a rerun reuses every cell whose file exists and whose plan matches.
 *
 * A cell's `plan` is everything that determines its result (row, seed, schedule, data and its
 * subset sizes, backend): a file whose plan differs from the one asked for is an error, never a
 * silent reuse or overwrite.
 *
 * Law (laws/experiment.test.ts): a rerun of a finished grid trains nothing and leaves the cell
 * files untouched; decode(encode(cell)) = cell.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { join } from 'node:path';
import { decodeWith } from '../../src/codec.js';
import { ConfigError } from '../../src/errors.js';
import { readFileClassified, writeFileAtomic } from '../../src/files.js';
import type { Cell, GridPresetName, Row, Schedule } from './grid.js';
import type { LayerMeasure } from './measures.js';

export const CELL_FORMAT = 'sttn-experiment-cell';
export const CELL_VERSION = 1;

export interface CellPlan {
  readonly preset: GridPresetName;
  readonly row: Row;
  readonly seed: number;
  readonly schedule: Schedule;
  readonly data: string;
  readonly backend: string;
}

export interface CellResult {
  readonly format: typeof CELL_FORMAT;
  readonly version: typeof CELL_VERSION;
  readonly id: string;
  readonly rowId: string;
  readonly plan: CellPlan;
  /** the command that regenerates this cell (in a fresh --out; in the same one it is reused) */
  readonly command: string;
  readonly modelName: string;
  readonly trainExamples: number;
  readonly testExamples: number;
  readonly steps: number;
  readonly testAccuracy: number;
  readonly testLoss: number;
  /** over the last epoch */
  readonly trainLoss: number;
  readonly trainAccuracy: number;
  /** training, evaluation and measures of this cell */
  readonly wallSeconds: number;
  readonly trainSamplesPerSec: number;
  readonly finishedAt: string;
  readonly layers: readonly LayerMeasure[];
  /** Σ over quantized layers of ‖W − Ŵ‖², and that over Σ‖W‖² */
  readonly table1: { readonly distance: number; readonly relative: number };
}

const num = t.number;
const nums = t.array(t.number);
const RowC = t.type({
  model: t.string,
  width: t.union([t.number, t.null]),
  bits: t.string,
  weights: t.string,
  gradient: t.union([t.string, t.null]),
  granularity: t.string,
});
const ScheduleC = t.type({ epochs: num, batchSize: num, lr: num, weightDecay: num, augmentPad: num, trainPerClass: num, testPerClass: num, bins: num });
const LayerC = t.type({
  name: t.string,
  quantizer: t.string,
  size: num,
  distance: num,
  floatSumSq: num,
  pairDistance: t.union([num, t.null]),
  sparsity: num,
  codeCounts: t.type({ neg: num, zero: num, pos: num }),
  thresholdViolations: num,
  histogram: t.type({ edges: nums, neg: nums, zero: nums, pos: nums }),
});
const CellResultC = t.type({
  format: t.literal(CELL_FORMAT),
  version: t.literal(CELL_VERSION),
  id: t.string,
  rowId: t.string,
  plan: t.type({ preset: t.string, row: RowC, seed: num, schedule: ScheduleC, data: t.string, backend: t.string }),
  command: t.string,
  modelName: t.string,
  trainExamples: num,
  testExamples: num,
  steps: num,
  testAccuracy: num,
  testLoss: num,
  trainLoss: num,
  trainAccuracy: num,
  wallSeconds: num,
  trainSamplesPerSec: num,
  finishedAt: t.string,
  layers: t.array(LayerC),
  table1: t.type({ distance: num, relative: num }),
});

export const cellPath = (dir: string, id: string): string => join(dir, 'cells', `${id}.json`);

export function planOf(preset: GridPresetName, cell: Cell, schedule: Schedule, data: string, backend: string): CellPlan {
  return { preset, row: cell.row, seed: cell.seed, schedule, data, backend };
}

/** The first field where two plans differ, as `path: a ≠ b`; null when equal. */
export function planDifference(a: unknown, b: unknown, path = 'plan'): string | null {
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) {
      const d = planDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
      if (d !== null) return d;
    }
    return null;
  }
  return Object.is(a, b) ? null : `${path}: ${JSON.stringify(a)} ≠ ${JSON.stringify(b)}`;
}

/** Decode a cell file's JSON; a Left names the file and the field. */
export function decodeCell(json: unknown, file: string): E.Either<ConfigError, CellResult> {
  return decodeWith(CellResultC, json, file) as E.Either<ConfigError, CellResult>;
}

/** The cell stored at `file`, `null` when there is none; a Left when it is unreadable or invalid. */
export function readCell(file: string): E.Either<ConfigError, CellResult | null> {
  const r = readFileClassified(file);
  if (E.isLeft(r)) return r.left.kind === 'missing' ? E.right(null) : E.left(new ConfigError(file, r.left.message));
  let json: unknown;
  try {
    json = JSON.parse(r.right.toString('utf8'));
  } catch (e) {
    return E.left(new ConfigError(file, `not JSON: ${(e as Error).message}`));
  }
  return decodeCell(json, file);
}

export function writeCell(dir: string, r: CellResult): string {
  const file = cellPath(dir, r.id);
  writeFileAtomic(file, JSON.stringify(r, null, 1) + '\n', { mkdir: true });
  return file;
}
