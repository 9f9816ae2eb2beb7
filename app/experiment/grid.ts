/**
 * The experiment grid: rows (model preset, bit-width pair, weight quantizer, STTN gradient
 * variant, granularity of α) × seeds, all trained with one schedule per grid preset.
 *
 * Ids are stable and readable, and name files: a row id is `<model>-<bits>-<weights>`, e.g.
 * `cnn-small-2p2-sttn`, with `-<gradient>` when an STTN gradient is not `exact` and `-channel` when
 * α is per output channel (`cnn-small-2p2-sttn-official-channel`); a cell id appends `-s<seed>`.
 *
 * Presets, sized for the embedded MNIST digits and the wasm backend (see `estimateSeconds`):
 * - `quick`: cnn-small, 12 rows × 3 seeds, and one seed of vgg7 (width 1/8) STTN 2+2 for Figure 4's
 *   layer trend; 4 epochs over 2,000 training digits (200 a class), 1,000 test digits (100 a
 *   class): 37 cells, 296,000 training samples. At the 400–600 samples/s cnn-small trains at on a
 *   2-core machine (vgg7 at 1/8 runs at about 0.8× that) that is 8–13 minutes, evaluation
 *   included: inside the 15 minutes asked. The run prints its own estimate before it starts.
 * - `full`: cnn-small and vgg7 (width 1/8), 13 rows × 5 seeds each, 10 epochs over 5,000 training
 *   digits, 1,500 test digits; meant for a quiet machine (hours; the run prints its estimate).
 * - `tiny`: 3 cells of the mlp, one seed, 2 steps each on 60 digits: the CI and test grid.
 *
 * Law (laws/experiment.test.ts): ids parse back to their rows; `--cells` selects by cell or row id.
 */
import type { SttnGradient } from '../../src/quantizers/sttn.js';
import { preset, type Bits, type PresetName } from '../../src/models/presets.js';
import type { ModelSpec } from '../../src/models/model.js';
import { ConfigError } from '../../src/errors.js';

export type WeightQuantizer = 'fp' | 'sign' | 'twn' | 'ttq' | 'sttn';
export type Granularity = 'tensor' | 'channel';

export interface Row {
  readonly model: PresetName;
  /** width multiplier passed to the preset (null: the preset's default) */
  readonly width: number | null;
  readonly bits: Bits;
  readonly weights: WeightQuantizer;
  /** STTN's gradient rule; null for other quantizers */
  readonly gradient: SttnGradient | null;
  readonly granularity: Granularity;
}

export interface Cell {
  readonly id: string;
  readonly rowId: string;
  readonly row: Row;
  readonly seed: number;
}

export type GridPresetName = 'quick' | 'full' | 'tiny';
export const GRID_PRESETS: readonly GridPresetName[] = ['quick', 'full', 'tiny'];

/** What every cell of a grid shares. */
export interface Schedule {
  readonly epochs: number;
  readonly batchSize: number;
  /** Adam, cosine decay to 0 (the paper's optimizer and schedule) */
  readonly lr: number;
  readonly weightDecay: number;
  readonly augmentPad: number;
  /** at most this many training / test examples of each class (the first ones, in file order) */
  readonly trainPerClass: number;
  readonly testPerClass: number;
  /** histogram bins */
  readonly bins: number;
}

export interface GridPreset {
  readonly name: GridPresetName;
  readonly rows: readonly Row[];
  readonly seeds: number;
  /** row id → at most this many seeds (whatever --seeds says), for rows that only feed one figure */
  readonly seedCaps?: Readonly<Record<string, number>>;
  readonly schedule: Schedule;
}

/** The seeds 1..n a row gets when `seeds` are asked for. */
export const seedsOf = (p: GridPreset, r: Row, seeds = p.seeds): number => Math.min(seeds, p.seedCaps?.[rowId(r)] ?? Infinity);

const bitsTag = (b: Bits): string => b.replace('+', 'p');

export function rowId(r: Row): string {
  const parts: string[] = [r.model + (r.width === null ? '' : `@${r.width}`), bitsTag(r.bits), r.weights];
  if (r.weights === 'sttn' && r.gradient !== null && r.gradient !== 'exact') parts.push(r.gradient);
  if (r.granularity === 'channel') parts.push('channel');
  return parts.join('-');
}

export const cellId = (r: Row, seed: number): string => `${rowId(r)}-s${seed}`;

const NAMES: Readonly<Record<WeightQuantizer, string>> = { fp: 'float', sign: 'sign (BWN)', twn: 'TWN', ttq: 'TTQ', sttn: 'STTN' };

/** `2+2 STTN (gradient paper, α per channel)`: how tables name a row. */
export function rowLabel(r: Row): string {
  const notes: string[] = [];
  if (r.weights === 'sttn' && r.gradient !== null && r.gradient !== 'exact') notes.push(`gradient ${r.gradient}`);
  if (r.granularity === 'channel') notes.push('α per channel');
  return `${r.bits} ${NAMES[r.weights]}${notes.length > 0 ? ` (${notes.join(', ')})` : ''}`;
}

export const modelLabel = (r: Pick<Row, 'model' | 'width'>): string => (r.width === null ? r.model : `${r.model} (width ${r.width})`);

export const weightsFor = (bits: Bits, ternary: 'twn' | 'ttq' | 'sttn'): WeightQuantizer =>
  bits === '32+32' ? 'fp' : bits.startsWith('1+') ? 'sign' : ternary;

const row = (model: PresetName, width: number | null, bits: Bits, weights: WeightQuantizer, gradient: SttnGradient | null = null, granularity: Granularity = 'tensor'): Row => ({
  model,
  width,
  bits,
  weights,
  gradient: weights === 'sttn' ? (gradient ?? 'exact') : null,
  granularity,
});

/** The rows of the paper's tables in miniature, then the STTN ablations, for one model. */
function modelRows(model: PresetName, width: number | null, extended: boolean): Row[] {
  const main: Row[] = [
    row(model, width, '32+32', 'fp'),
    row(model, width, '1+32', 'sign'),
    row(model, width, '2+32', 'twn'),
    row(model, width, '2+32', 'ttq'),
    row(model, width, '2+32', 'sttn'),
    row(model, width, '1+1', 'sign'),
    row(model, width, '2+2', 'twn'),
    row(model, width, '2+2', 'ttq'),
    row(model, width, '2+2', 'sttn'),
  ];
  const ablation: Row[] = [
    row(model, width, '2+2', 'sttn', 'paper'),
    row(model, width, '2+2', 'sttn', 'official'),
    row(model, width, '2+2', 'sttn', 'exact', 'channel'),
  ];
  if (extended) ablation.push(row(model, width, '2+2', 'sttn', 'official', 'channel'));
  return [...main, ...ablation];
}

export function gridPreset(name: GridPresetName): GridPreset {
  switch (name) {
    case 'quick': {
      // one seed of STTN 2+2 on vgg7 (6 quantized layers): the only way to see Figure 4's
      // layer-to-layer trend, since cnn-small has a single quantized layer
      const vgg = row('vgg7', 0.125, '2+2', 'sttn');
      return {
        name,
        rows: [...modelRows('cnn-small', null, false), vgg],
        seeds: 3,
        seedCaps: { [rowId(vgg)]: 1 },
        schedule: { epochs: 4, batchSize: 64, lr: 0.005, weightDecay: 1e-6, augmentPad: 2, trainPerClass: 200, testPerClass: 100, bins: 40 },
      };
    }
    case 'full':
      return {
        name,
        rows: [...modelRows('cnn-small', null, true), ...modelRows('vgg7', 0.125, true)],
        seeds: 5,
        schedule: { epochs: 10, batchSize: 64, lr: 0.005, weightDecay: 1e-6, augmentPad: 2, trainPerClass: 500, testPerClass: 150, bins: 40 },
      };
    case 'tiny':
      return {
        name,
        rows: [row('mlp', 0.125, '2+2', 'twn'), row('mlp', 0.125, '2+2', 'ttq'), row('mlp', 0.125, '2+2', 'sttn')],
        seeds: 1,
        schedule: { epochs: 1, batchSize: 32, lr: 0.005, weightDecay: 1e-6, augmentPad: 0, trainPerClass: 6, testPerClass: 5, bins: 16 },
      };
  }
}

/** Every cell of a preset: rows × seeds 1..seeds, row-major. */
export function cellsOf(p: GridPreset, seeds = p.seeds): Cell[] {
  return p.rows.flatMap((r) => Array.from({ length: seedsOf(p, r, seeds) }, (_, k) => ({ id: cellId(r, k + 1), rowId: rowId(r), row: r, seed: k + 1 })));
}

/**
 * The cells a `--cells` list names: each entry is a cell id (`<row id>-s<seed>`, any seed ≥ 1) or
 * a row id (its seeds 1..seeds). Unknown rows are a ConfigError listing the preset's rows.
 */
export function selectCells(p: GridPreset, list: readonly string[], seeds = p.seeds): Cell[] {
  const rows = new Map(p.rows.map((r) => [rowId(r), r]));
  const out = new Map<string, Cell>();
  for (const raw of list) {
    const entry = raw.trim();
    if (entry === '') continue;
    const r = rows.get(entry);
    if (r !== undefined) {
      for (let s = 1; s <= seedsOf(p, r, seeds); s++) out.set(cellId(r, s), { id: cellId(r, s), rowId: entry, row: r, seed: s });
      continue;
    }
    const m = /^(.*)-s([1-9][0-9]*)$/.exec(entry);
    const rc = m ? rows.get(m[1]) : undefined;
    if (!m || rc === undefined) {
      throw new ConfigError('cells', `'${entry}' is neither a row nor a cell of the ${p.name} grid (rows: ${[...rows.keys()].join(', ')}; a cell is <row>-s<seed>)`);
    }
    const seed = Number(m[2]);
    out.set(entry, { id: entry, rowId: m[1], row: rc, seed });
  }
  return [...out.values()];
}

/** The model spec of a row for data of the given shape. */
export function modelSpecOf(r: Row, inputShape: readonly number[], classes: number): ModelSpec {
  const kernelConfig = r.weights === 'sttn' ? { gradient: r.gradient ?? 'exact', granularity: r.granularity } : r.granularity === 'channel' ? { granularity: r.granularity } : {};
  return preset(r.model, {
    bits: r.bits,
    ternary: r.weights === 'twn' || r.weights === 'ttq' || r.weights === 'sttn' ? r.weights : 'sttn',
    kernelConfig,
    ...(r.width === null ? {} : { width: r.width }),
    inputShape,
    classes,
  });
}

/** How a shell must quote one argument (only when needed). */
export const shellQuote = (s: string): string => (/^[A-Za-z0-9_./:=@+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

export interface CommandContext {
  readonly preset: GridPresetName;
  readonly data: string;
  readonly backend: string;
  readonly out: string;
}

/** The `sttn experiment` command that (re)trains exactly `selection` (cell or row ids) in `out`. */
export function commandFor(ctx: CommandContext, selection: readonly string[], seeds?: number): string {
  const args = ['sttn', 'experiment', ...(ctx.preset === 'tiny' ? ['--tiny'] : ['--preset', ctx.preset]), '--data', ctx.data, '--backend', ctx.backend, '--out', ctx.out];
  if (seeds !== undefined) args.push('--seeds', String(seeds));
  args.push('--cells', selection.join(','));
  return args.map(shellQuote).join(' ');
}
