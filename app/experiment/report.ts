/**
 * The experiment's report: rows aggregated over seeds, the paper's claims checked against those
 * numbers, the Markdown report and its SVG figures. Everything here is a pure function of the
 * cell results (and a context describing the run), so the verdicts are computed, never written.
 *
 * A claim's verdict is `held` or `did not hold` by comparing means over seeds, or `not measured`
 * when the grid lacks a row it needs. Each comparison also says whether the difference is larger
 * than twice its standard error (sample std over seeds); otherwise it is "within seed noise".
 *
 * Law (laws/experiment.test.ts): the verdicts follow the numbers: swapping synthetic results
 * turns `held` into `did not hold`, and a missing row gives `not measured`.
 */
import { BITS, type Bits } from '../../src/models/presets.js';
import type { CellResult } from './cell.js';
import { commandFor, modelLabel, rowLabel, type GridPresetName, type Row, type Schedule, type WeightQuantizer } from './grid.js';
import { barChart, histogram, PALETTE } from './svg.js';

// ---------------------------------------------------------------------------------------------
// Aggregation

export interface Stat {
  readonly n: number;
  readonly mean: number;
  /** sample standard deviation; null with fewer than 2 values */
  readonly std: number | null;
}

export function stat(xs: readonly number[]): Stat {
  const n = xs.length;
  if (n === 0) return { n, mean: NaN, std: null };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { n, mean, std: null };
  const v = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
  return { n, mean, std: Math.sqrt(v) };
}

export interface RowAgg {
  readonly rowId: string;
  readonly row: Row;
  readonly modelKey: string;
  readonly seeds: readonly number[];
  readonly accuracy: Stat;
  readonly distance: Stat;
  readonly relative: Stat;
  /** STTN: Σ over layers of Eq. 8's pair form ‖W1 − αB1‖² + ‖W2 − αB2‖²; n = 0 otherwise */
  readonly pairDistance: Stat;
  /** per quantized layer, in layer order */
  readonly layers: readonly { readonly name: string; readonly sparsity: Stat; readonly violations: Stat }[];
  readonly wallSeconds: Stat;
  /** the cell of the lowest seed (for histograms) */
  readonly first: CellResult;
}

export const modelKey = (r: Pick<Row, 'model' | 'width'>): string => (r.width === null ? r.model : `${r.model}@${r.width}`);

const WEIGHT_ORDER: readonly WeightQuantizer[] = ['fp', 'sign', 'twn', 'ttq', 'sttn'];
const GRADIENT_ORDER = [null, 'exact', 'paper', 'official'];

function rowOrder(a: Row, b: Row): number {
  return (
    BITS.indexOf(a.bits) - BITS.indexOf(b.bits) ||
    WEIGHT_ORDER.indexOf(a.weights) - WEIGHT_ORDER.indexOf(b.weights) ||
    GRADIENT_ORDER.indexOf(a.gradient) - GRADIENT_ORDER.indexOf(b.gradient) ||
    (a.granularity === b.granularity ? 0 : a.granularity === 'tensor' ? -1 : 1)
  );
}

/** A row of the paper's tables (STTN with its exact gradient, α per tensor) rather than an ablation. */
export const isMainRow = (r: Row): boolean => r.granularity === 'tensor' && (r.weights !== 'sttn' || r.gradient === 'exact');

/** Rows over seeds, grouped by model (in first-seen order), rows in table order. */
export function aggregate(cells: readonly CellResult[]): RowAgg[] {
  const byRow = new Map<string, CellResult[]>();
  const models: string[] = [];
  for (const c of cells) {
    const mk = modelKey(c.plan.row as Row);
    if (!models.includes(mk)) models.push(mk);
    const list = byRow.get(c.rowId) ?? [];
    list.push(c);
    byRow.set(c.rowId, list);
  }
  const rows = [...byRow.entries()].map(([rowId, cs]): RowAgg => {
    const sorted = [...cs].sort((a, b) => a.plan.seed - b.plan.seed);
    const row = sorted[0].plan.row as Row;
    const names = sorted[0].layers.map((l) => l.name);
    return {
      rowId,
      row,
      modelKey: modelKey(row),
      seeds: sorted.map((c) => c.plan.seed),
      accuracy: stat(sorted.map((c) => c.testAccuracy)),
      distance: stat(sorted.map((c) => c.table1.distance)),
      relative: stat(sorted.map((c) => c.table1.relative)),
      pairDistance: stat(sorted.flatMap((c) => (c.layers.length > 0 && c.layers.every((l) => l.pairDistance !== null) ? [c.layers.reduce((a, l) => a + (l.pairDistance ?? 0), 0)] : []))),
      layers: names.map((name, k) => ({
        name,
        sparsity: stat(sorted.map((c) => c.layers[k]?.sparsity ?? NaN)),
        violations: stat(sorted.map((c) => c.layers[k]?.thresholdViolations ?? NaN)),
      })),
      wallSeconds: stat(sorted.map((c) => c.wallSeconds)),
      first: sorted[0],
    };
  });
  return rows.sort((a, b) => models.indexOf(a.modelKey) - models.indexOf(b.modelKey) || rowOrder(a.row, b.row));
}

const findRow = (rows: readonly RowAgg[], mk: string, bits: Bits, weights: WeightQuantizer): RowAgg | undefined =>
  rows.find((r) => r.modelKey === mk && r.row.bits === bits && r.row.weights === weights && isMainRow(r.row));

// ---------------------------------------------------------------------------------------------
// Claims

export type Verdict = 'held' | 'did not hold' | 'not measured';

export interface Claim {
  readonly model: string;
  /** where in the paper */
  readonly source: string;
  readonly statement: string;
  readonly verdict: Verdict;
  /** the numbers behind the verdict, and whether the differences exceed seed noise */
  readonly evidence: string;
  /**
   * false when the grid has none of the rows the claim compares against for this model (e.g. a
   * model run only as STTN): the report lists such claims in one line instead of the table
   */
  readonly applicable: boolean;
}

/** a − b, and whether it exceeds twice its standard error (printed with `fmt`, the values' unit). */
function compare(a: Stat, b: Stat, fmt: (x: number) => string = fmtSig): { diff: number; note: string; clear: boolean } {
  const diff = a.mean - b.mean;
  if (a.std === null || b.std === null) return { diff, note: 'one seed: no noise estimate', clear: false };
  const se = Math.sqrt(a.std ** 2 / a.n + b.std ** 2 / b.n);
  const clear = Math.abs(diff) > 2 * se;
  return { diff, note: clear ? `|Δ| = ${fmt(Math.abs(diff))} > 2 SE (SE ${fmt(se)})` : `within seed noise, |Δ| = ${fmt(Math.abs(diff))} ≤ 2 SE (SE ${fmt(se)})`, clear };
}

export const fmtPct = (x: number): string => (Number.isFinite(x) ? (100 * x).toFixed(2) : '—');
export const fmtSig = (x: number): string => (Number.isFinite(x) ? (Math.abs(x) >= 1e5 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(3) : String(Number(x.toPrecision(4)))) : '—');
const pm = (s: Stat, f: (x: number) => string): string => (s.n === 0 ? '—' : s.std === null ? f(s.mean) : `${f(s.mean)} ± ${f(s.std)}`);

const notMeasured = (model: string, source: string, statement: string, missing: string, applicable = true): Claim => ({
  model,
  source,
  statement,
  verdict: 'not measured',
  evidence: `no ${missing} row in this grid`,
  applicable,
});

/** `a` beats each of `others` (higher when `higher`, else lower), on `pick`. */
function beatsAll(
  model: string,
  source: string,
  statement: string,
  a: [string, RowAgg | undefined],
  others: [string, RowAgg | undefined][],
  pick: (r: RowAgg) => Stat,
  higher: boolean,
  fmt: (x: number) => string,
  /** what to take of `a` (default `pick`) */
  pickA: (r: RowAgg) => Stat = pick,
): Claim {
  const missing = [a, ...others].filter(([, r]) => r === undefined).map(([n]) => n);
  if (missing.length > 0 || a[1] === undefined) return notMeasured(model, source, statement, missing.join(', '), others.some(([, r]) => r !== undefined));
  const sa = pickA(a[1]);
  let held = true;
  const parts = [`${a[0]} ${pm(sa, fmt)}`];
  const notes: string[] = [];
  for (const [n, r] of others) {
    const sb = pick(r!);
    const c = compare(sa, sb, fmt);
    if (higher ? !(c.diff > 0) : !(c.diff < 0)) held = false;
    parts.push(`${n} ${pm(sb, fmt)}`);
    notes.push(`vs ${n}: ${c.note}`);
  }
  return { model, source, statement, verdict: held ? 'held' : 'did not hold', evidence: `${parts.join('; ')} (${notes.join('; ')})`, applicable: true };
}

const acc = (r: RowAgg) => r.accuracy;
const dist = (r: RowAgg) => r.distance;

/** The paper's claims, checked on each model of the grid. */
export function claims(rows: readonly RowAgg[]): Claim[] {
  const models = [...new Set(rows.map((r) => r.modelKey))];
  const out: Claim[] = [];
  for (const mk of models) {
    const m = mk;
    const R = (bits: Bits, w: WeightQuantizer) => findRow(rows, mk, bits, w);
    for (const bits of ['2+2', '2+32'] as const) {
      out.push(
        beatsAll(m, 'Table 1', `STTN's Table-1 distance Σ‖W − αT‖² is lower than TWN's and TTQ's (${bits})`, [`STTN ${bits}`, R(bits, 'sttn')], [[`TWN ${bits}`, R(bits, 'twn')], [`TTQ ${bits}`, R(bits, 'ttq')]], dist, false, fmtSig),
      );
    }
    out.push(
      beatsAll(
        m,
        'Table 1, Eq. 8 reading',
        "STTN's pair-form distance ‖W1 − αB1‖² + ‖W2 − αB2‖² is lower than TWN's and TTQ's Σ‖W − αT‖² (2+2; an alternative reading of Table 1)",
        ['STTN 2+2 pair form', R('2+2', 'sttn')],
        [['TWN 2+2', R('2+2', 'twn')], ['TTQ 2+2', R('2+2', 'ttq')]],
        dist,
        false,
        fmtSig,
        (r) => r.pairDistance,
      ),
    );
    out.push(beatsAll(m, 'Tables 4–5', 'STTN 2+2 is more accurate than TWN 2+2 and TTQ 2+2', ['STTN 2+2', R('2+2', 'sttn')], [['TWN 2+2', R('2+2', 'twn')], ['TTQ 2+2', R('2+2', 'ttq')]], acc, true, fmtPct));
    out.push(beatsAll(m, 'Table 5', 'STTN 2+32 is more accurate than TWN 2+32 and TTQ 2+32', ['STTN 2+32', R('2+32', 'sttn')], [['TWN 2+32', R('2+32', 'twn')], ['TTQ 2+32', R('2+32', 'ttq')]], acc, true, fmtPct));
    {
      const statement = 'STTN 2+2 reaches full-precision accuracy (mean ≥ 32+32 mean; Table 2: 7.07% vs 7.12% error)';
      const s = R('2+2', 'sttn');
      const f = R('32+32', 'fp');
      if (!s || !f) out.push(notMeasured(m, 'Table 2', statement, [!s ? 'STTN 2+2' : '', !f ? '32+32' : ''].filter(Boolean).join(', '), f !== undefined));
      else {
        const c = compare(s.accuracy, f.accuracy, fmtPct);
        out.push({ model: m, source: 'Table 2', statement, verdict: c.diff >= 0 ? 'held' : 'did not hold', evidence: `STTN 2+2 ${pm(s.accuracy, fmtPct)}; 32+32 ${pm(f.accuracy, fmtPct)} (${c.note})`, applicable: true });
      }
    }
    out.push(beatsAll(m, 'Table 2', 'ternary STTN 2+2 is more accurate than binary 1+1', ['STTN 2+2', R('2+2', 'sttn')], [['1+1', R('1+1', 'sign')]], acc, true, fmtPct));
    out.push(beatsAll(m, 'Table 2', 'ternary weights (TWN 2+32) are more accurate than binary weights (1+32)', ['TWN 2+32', R('2+32', 'twn')], [['1+32', R('1+32', 'sign')]], acc, true, fmtPct));
    {
      const statement = 'STTN weight sparsity decreases from the first to the last quantized layer (2+2)';
      const s = R('2+2', 'sttn');
      if (!s) out.push(notMeasured(m, 'Figure 4', statement, 'STTN 2+2'));
      else if (s.layers.length < 2) out.push({ model: m, source: 'Figure 4', statement, verdict: 'not measured', evidence: `${mk} has ${s.layers.length} quantized layer(s); a trend needs at least 2`, applicable: true });
      else {
        const sp = s.layers.map((l) => l.sparsity.mean);
        let rises = 0;
        for (let k = 1; k < sp.length; k++) if (sp[k] > sp[k - 1]) rises++;
        const held = sp[sp.length - 1] < sp[0];
        const c = compare(s.layers[0].sparsity, s.layers[s.layers.length - 1].sparsity, fmtPct);
        out.push({
          model: m,
          source: 'Figure 4',
          statement,
          verdict: held ? 'held' : 'did not hold',
          evidence: `first layer ${fmtPct(sp[0])}%, last ${fmtPct(sp[sp.length - 1])}% over ${s.seeds.length} seed(s) (${c.note}); ${rises} of ${sp.length - 1} consecutive steps rise (per layer: ${sp.map((x) => fmtPct(x) + '%').join(', ')})`,
          applicable: true,
        });
      }
    }
    {
      const statement = "STTN's ternary intervals are soft (codes not a threshold function of W1+W2), TWN's hard (2+2)";
      const s = R('2+2', 'sttn');
      const t = R('2+2', 'twn');
      if (!s || !t) out.push(notMeasured(m, 'Figure 1', statement, [!s ? 'STTN 2+2' : '', !t ? 'TWN 2+2' : ''].filter(Boolean).join(', '), t !== undefined));
      else {
        const v = (r: RowAgg) => stat(r.layers.map((l) => l.violations.mean)).mean;
        const vs = v(s);
        const vt = v(t);
        out.push({
          model: m,
          source: 'Figure 1',
          statement,
          verdict: vs > 0 && vt === 0 ? 'held' : 'did not hold',
          evidence: `least fraction of codes to change for a hard threshold to reproduce them: STTN ${fmtPct(vs)}%, TWN ${fmtPct(vt)}%`,
          applicable: true,
        });
      }
    }
    {
      const statement = 'the ternary method with the smallest Table-1 distance is also the most accurate (2+2; Section 4.2)';
      const trio = (['twn', 'ttq', 'sttn'] as const).map((w) => [w, R('2+2', w)] as const);
      const missing = trio.filter(([, r]) => !r).map(([w]) => `${w.toUpperCase()} 2+2`);
      if (missing.length > 0) out.push(notMeasured(m, 'Section 4.2', statement, missing.join(', '), trio.some(([w, r]) => w !== 'sttn' && r !== undefined)));
      else {
        const best = (f: (r: RowAgg) => number, lower: boolean) => trio.reduce((a, b) => ((lower ? f(b[1]!) < f(a[1]!) : f(b[1]!) > f(a[1]!)) ? b : a))[0];
        const bd = best((r) => r.distance.mean, true);
        const ba = best((r) => r.accuracy.mean, false);
        out.push({ model: m, source: 'Section 4.2', statement, verdict: bd === ba ? 'held' : 'did not hold', evidence: `smallest distance: ${bd.toUpperCase()}; highest accuracy: ${ba.toUpperCase()}`, applicable: true });
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Figures

export interface Figure {
  readonly file: string;
  readonly caption: string;
  readonly svg: string;
}

const CODE_COLORS = { neg: '#1f77b4', zero: '#d62728', pos: '#2ca02c' } as const;
const METHOD_COLORS: Readonly<Record<WeightQuantizer, string>> = { fp: PALETTE[7], sign: PALETTE[4], twn: PALETTE[0], ttq: PALETTE[1], sttn: PALETTE[2] };

const fileKey = (mk: string): string => mk.replace(/[^A-Za-z0-9.-]+/g, '_');

function histogramFigure(file: string, title: string, xLabel: string, cell: CellResult, layer: number, caption: string): Figure {
  const l = cell.layers[layer];
  return {
    file,
    caption,
    svg: histogram({
      title,
      xLabel,
      yLabel: 'weights per bin',
      edges: l.histogram.edges,
      series: [
        { label: '−1', color: CODE_COLORS.neg, counts: l.histogram.neg },
        { label: '0', color: CODE_COLORS.zero, counts: l.histogram.zero },
        { label: '+1', color: CODE_COLORS.pos, counts: l.histogram.pos },
      ],
      legend: [
        { label: 'quantized to −1', color: CODE_COLORS.neg },
        { label: 'quantized to 0', color: CODE_COLORS.zero },
        { label: 'quantized to +1', color: CODE_COLORS.pos },
      ],
    }),
  };
}

/** Every figure the rows support. */
export function figures(rows: readonly RowAgg[]): Figure[] {
  const out: Figure[] = [];
  for (const mk of [...new Set(rows.map((r) => r.modelKey))]) {
    const mine = rows.filter((r) => r.modelKey === mk);
    const main = mine.filter((r) => isMainRow(r.row));
    const label = modelLabel(mine[0].row);
    if (main.length > 0) {
      out.push({
        file: `accuracy-${fileKey(mk)}.svg`,
        caption: `Test accuracy by bit-width pair and weight quantizer, ${label} (mean ± std over seeds).`,
        svg: barChart({
          title: `Test accuracy, ${label}`,
          xLabel: 'bit-width pair (weights+activations) and weight quantizer',
          yLabel: 'test accuracy (%)',
          yMax: 100,
          bars: main.map((r) => ({ label: rowLabel(r.row), value: 100 * r.accuracy.mean, error: r.accuracy.std === null ? undefined : 100 * r.accuracy.std, color: METHOD_COLORS[r.row.weights] })),
          valueLabel: (v) => v.toFixed(1),
        }),
      });
    }
    const ternary = main.filter((r) => r.row.weights === 'twn' || r.row.weights === 'ttq' || r.row.weights === 'sttn');
    if (ternary.length > 0) {
      out.push({
        file: `table1-${fileKey(mk)}.svg`,
        caption: `Table 1 in miniature, ${label}: Σ over quantized layers of ‖W − αT‖² (for STTN W = W1 + W2, αT = α(B1 + B2)); mean ± std over seeds.`,
        svg: barChart({
          title: `Σ‖W − αT‖² over quantized layers, ${label}`,
          xLabel: 'row',
          yLabel: 'Σ‖W − αT‖²',
          bars: ternary.map((r) => ({ label: rowLabel(r.row), value: r.distance.mean, error: r.distance.std ?? undefined, color: METHOD_COLORS[r.row.weights] })),
          legend: (['twn', 'ttq', 'sttn'] as const).map((w) => ({ label: w.toUpperCase(), color: METHOD_COLORS[w] })),
        }),
      });
    }
    const sttn = main.find((r) => r.row.weights === 'sttn' && r.row.bits === '2+2') ?? main.find((r) => r.row.weights === 'sttn');
    if (sttn) {
      out.push({
        file: `fig4-sparsity-${fileKey(mk)}.svg`,
        caption: `Figure 4 in miniature: weight sparsity (share of zero codes) per quantized layer of STTN ${sttn.row.bits}, ${label}; mean ± std over seeds.`,
        svg: barChart({
          title: `STTN ${sttn.row.bits} weight sparsity per quantized layer, ${label}`,
          xLabel: 'quantized layer',
          yLabel: 'zero weights (%)',
          yMax: 100,
          bars: sttn.layers.map((l) => ({ label: l.name, value: 100 * l.sparsity.mean, error: l.sparsity.std === null ? undefined : 100 * l.sparsity.std, color: METHOD_COLORS.sttn })),
          valueLabel: (v) => v.toFixed(1),
        }),
      });
    }
    const bitsFor = ['2+2', '2+32'] as const;
    for (const w of ['sttn', 'twn', 'ttq'] as const) {
      const r = bitsFor.map((b) => main.find((x) => x.row.weights === w && x.row.bits === b)).find((x) => x !== undefined);
      if (!r || r.first.layers.length === 0) continue;
      const l = r.first.layers[0];
      const soft = w === 'sttn';
      out.push(
        histogramFigure(
          `fig1-${w}-${fileKey(mk)}.svg`,
          `${w.toUpperCase()} ${r.row.bits} (${soft ? 'soft' : 'hard'} threshold): ${l.name}, seed ${r.first.plan.seed}`,
          soft ? 'latent weight W1 + W2' : 'latent weight W',
          r.first,
          0,
          soft
            ? `Figure 1(a) in miniature: STTN ${r.row.bits}, ${label}, layer ${l.name}, seed ${r.first.plan.seed}: histogram of W1 + W2 coloured by the merged code (B1 + B2)/2; a zero comes from sign(W1) ≠ sign(W2), so zeros are not confined to an interval around 0.`
            : `Figure 1(b) in miniature: ${w.toUpperCase()} ${r.row.bits}, ${label}, layer ${l.name}, seed ${r.first.plan.seed}: histogram of the latent W coloured by its ternary code; a hard threshold splits the axis into three intervals.`,
        ),
      );
    }
    if (sttn && sttn.first.layers.length > 1) {
      sttn.first.layers.forEach((l, k) => {
        out.push(
          histogramFigure(
            `fig2-sttn-${fileKey(mk)}-${l.name}.svg`,
            `STTN ${sttn.row.bits}: ${l.name}, seed ${sttn.first.plan.seed}`,
            'latent weight W1 + W2',
            sttn.first,
            k,
            `Figure 2(a) in miniature: STTN ${sttn.row.bits}, ${label}, layer ${l.name}: W1 + W2 coloured by the merged code.`,
          ),
        );
      });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The Markdown report

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly node: string;
  readonly platform: string;
}

export interface ReportContext {
  readonly preset: GridPresetName;
  readonly schedule: Schedule;
  readonly dir: string;
  readonly data: string;
  readonly backend: string;
  readonly seeds?: number;
  readonly machine: Machine;
  /** this invocation's wall time */
  readonly runWallSeconds: number;
  readonly trained: number;
  readonly reused: number;
  /** cells of the selection not finished */
  readonly missing: readonly string[];
  readonly generatedAt: string;
  /** the command line of this invocation */
  readonly invocation: string;
}

const mdEscape = (s: string): string => s.replace(/\|/g, '\\|');
const code = (s: string): string => '`' + s.replace(/`/g, "'") + '`';

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  return [`| ${head.map(mdEscape).join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(mdEscape).join(' | ')} |`)].join('\n');
}

const fmtSeconds = (s: number): string => {
  if (!Number.isFinite(s)) return '—';
  const r = Math.round(s);
  const h = Math.floor(r / 3600);
  const m = Math.floor((r % 3600) / 60);
  return `${h}:${String(m).padStart(2, '0')}:${String(r % 60).padStart(2, '0')} (${s.toFixed(1)} s)`;
};

/** The report as Markdown, and the figures it links (written next to it by the caller). */
export function renderReport(cells: readonly CellResult[], ctx: ReportContext): { markdown: string; figures: Figure[]; claims: Claim[] } {
  const rows = aggregate(cells);
  const cl = claims(rows);
  const figs = figures(rows);
  const s = ctx.schedule;
  const cmdCtx = { preset: ctx.preset, data: ctx.data, backend: ctx.backend, out: ctx.dir };
  const seedsArg = (r: RowAgg) => (r.seeds.length === (ctx.seeds ?? r.seeds.length) && r.seeds.every((x, k) => x === k + 1) ? r.seeds.length : undefined);
  const rowCommand = (r: RowAgg) => {
    const n = seedsArg(r);
    return n !== undefined ? commandFor(cmdCtx, [r.rowId], n) : commandFor(cmdCtx, r.seeds.map((x) => `${r.rowId}-s${x}`));
  };
  const first = cells[0];
  const sumWall = cells.reduce((a, c) => a + c.wallSeconds, 0);
  const L: string[] = [];
  L.push(`# STTN experiment: preset \`${ctx.preset}\``);
  L.push('');
  L.push(`Generated ${ctx.generatedAt} by ${code(ctx.invocation)}. Every number and every verdict below is computed from the cell files in \`${ctx.dir}/cells/\`.`);
  L.push('');
  L.push('## Setup');
  L.push('');
  L.push(`- Data: \`${ctx.data}\`, the first ${s.trainPerClass} training and the first ${s.testPerClass} test examples of each class${first ? ` (${first.trainExamples} training, ${first.testExamples} test examples)` : ''}; pad-and-crop augmentation with padding ${s.augmentPad}.`);
  L.push(`- Schedule, the same for every cell: ${s.epochs} epoch${s.epochs === 1 ? '' : 's'}, batch ${s.batchSize}, Adam with learning rate ${s.lr} and cosine decay to 0, weight decay ${fmtSig(s.weightDecay)}; first and last layers in full precision (as in the paper).`);
  L.push(`- Seeds: ${[...new Set(cells.map((c) => c.plan.seed))].sort((a, b) => a - b).join(', ') || '—'}; a seed fixes initialisation, data order and augmentation.`);
  L.push(`- Backend: \`${ctx.backend}\`. Machine: ${ctx.machine.cpu}, ${ctx.machine.cores} cores, Node ${ctx.machine.node}, ${ctx.machine.platform}.`);
  L.push(`- Wall time: this invocation ${fmtSeconds(ctx.runWallSeconds)}; all ${cells.length} finished cells together ${fmtSeconds(sumWall)} (${ctx.trained} trained now, ${ctx.reused} reused from earlier runs).`);
  if (ctx.missing.length > 0) L.push(`- **Incomplete**: ${ctx.missing.length} cell(s) of the selection are not finished (${ctx.missing.join(', ')}); rerun the same command to resume.`);
  L.push('');
  L.push("## The paper's claims at this scale");
  L.push('');
  L.push('Verdicts compare means over seeds. "Within seed noise" means the difference of means is at most twice its standard error (sample standard deviation over seeds), so the verdict could flip with other seeds.');
  L.push('');
  const shown = cl.filter((c) => c.applicable);
  const skipped = cl.filter((c) => !c.applicable);
  L.push(shown.length > 0 ? table(['model', 'source', 'claim', 'verdict', 'evidence'], shown.map((c) => [c.model, c.source, c.statement, `**${c.verdict}**`, c.evidence])) : '_No finished cells yet._');
  L.push('');
  const held = shown.filter((c) => c.verdict === 'held').length;
  const failed = shown.filter((c) => c.verdict === 'did not hold').length;
  const nm = shown.filter((c) => c.verdict === 'not measured').length;
  L.push(`In all: ${held} held, ${failed} did not hold, ${nm} not measured.`);
  L.push('');
  for (const v of ['held', 'did not hold', 'not measured'] as const) {
    const these = shown.filter((c) => c.verdict === v);
    if (these.length > 0) L.push(`- **${v[0].toUpperCase() + v.slice(1)}**: ${these.map((c) => `${c.statement} (${c.source}, ${c.model})`).join('; ')}.`);
  }
  if (skipped.length > 0) {
    const byModel = [...new Set(skipped.map((c) => c.model))].map((mk) => `${mk}: ${[...new Set(skipped.filter((c) => c.model === mk).map((c) => c.source))].join(', ')}`);
    L.push(`- Not applicable (the grid has none of the rows these claims compare with): ${byModel.join('; ')}.`);
  }
  L.push('');
  for (const mk of [...new Set(rows.map((r) => r.modelKey))]) {
    const mine = rows.filter((r) => r.modelKey === mk);
    const label = modelLabel(mine[0].row);
    L.push(`## ${label}`);
    L.push('');
    L.push('### Test accuracy (Tables 2–5 in miniature)');
    L.push('');
    const main = mine.filter((r) => isMainRow(r.row));
    const accRows = (rs: readonly RowAgg[]) =>
      rs.map((r) => [rowLabel(r.row), String(r.seeds.length), `${pm(r.accuracy, fmtPct)} %`, r.row.weights === 'fp' ? '—' : pm(r.distance, fmtSig), r.layers.length === 0 ? '—' : r.layers.map((l) => `${fmtPct(l.sparsity.mean)}%`).join(', '), pm(r.wallSeconds, (x) => x.toFixed(1)), code(rowCommand(r))]);
    L.push(table(['row', 'seeds', 'test accuracy', 'Σ‖W − αT‖²', 'sparsity per quantized layer', 'wall s/cell', 'regenerate'], accRows(main)));
    L.push('');
    const abl = mine.filter((r) => r.row.weights === 'sttn' && r.row.bits === '2+2');
    if (abl.length > 1) {
      L.push('### STTN 2+2: gradient rule and granularity of α (ablation; the paper makes no claim here)');
      L.push('');
      L.push(table(['row', 'seeds', 'test accuracy', 'Σ‖W − αT‖²', 'sparsity per quantized layer', 'wall s/cell', 'regenerate'], accRows(abl)));
      L.push('');
      const best = abl.reduce((a, b) => (b.accuracy.mean > a.accuracy.mean ? b : a));
      L.push(`Highest mean accuracy among these: ${rowLabel(best.row)} (${pm(best.accuracy, fmtPct)} %).`);
      L.push('');
    }
    L.push('### Table 1: Σ over quantized layers of ‖W − αT‖²');
    L.push('');
    L.push(
      'W is the trained latent float weight and αT the ternary kernel the layer computes with (TWN: α·T; TTQ: Wp or −Wn at the ±1 codes). For STTN the layer computes conv(x, αB1) + conv(x, αB2) = conv(x, α(B1 + B2)), so its float weight is W = W1 + W2 and its approximation α(B1 + B2). The relative column divides by Σ‖W‖² (our addition, since the methods leave W at different scales: TTQ learns Wp and Wn apart from W).',
    );
    L.push('');
    const t1 = mine
      .filter((r) => r.row.weights === 'twn' || r.row.weights === 'ttq' || r.row.weights === 'sttn')
      .map((r) => [rowLabel(r.row), String(r.seeds.length), pm(r.distance, fmtSig), pm(r.relative, fmtSig), r.pairDistance.n > 0 ? pm(r.pairDistance, fmtSig) : '—']);
    L.push(t1.length > 0 ? table(['row', 'seeds', 'Σ‖W − αT‖²', 'Σ‖W − αT‖² / Σ‖W‖²', 'STTN pair form Σ‖W1 − αB1‖² + ‖W2 − αB2‖² (Eq. 8)'], t1) : '_No ternary rows in this grid._');
    L.push('');
    L.push("The claims use the first column. The paper does not say whether its Table 1 uses the merged form or Eq. 8's pair form, so the pair form is shown for STTN too.");
    L.push('');
    L.push('### Figure 4: weight sparsity per quantized layer');
    L.push('');
    const spRows = main.filter((r) => r.row.weights === 'twn' || r.row.weights === 'ttq' || r.row.weights === 'sttn');
    if (spRows.length > 0) {
      const names = spRows[0].layers.map((l) => l.name);
      L.push(table(['row', ...names], spRows.map((r) => [rowLabel(r.row), ...r.layers.map((l) => `${pm(l.sparsity, fmtPct)} %`)])));
      L.push('');
      L.push('Soft or hard threshold (Figure 1): the least share of weights whose code must change for one pair of thresholds on the plotted weight (W1 + W2 for STTN) to reproduce the coding; 0 means a hard threshold.');
      L.push('');
      L.push(table(['row', ...names], spRows.map((r) => [rowLabel(r.row), ...r.layers.map((l) => `${pm(l.violations, fmtPct)} %`)])));
    } else L.push('_No ternary rows in this grid._');
    L.push('');
  }
  L.push('## Figures');
  L.push('');
  L.push(
    'Histograms (Figures 1–2): for STTN we plot the sum W1 + W2 of the two latent kernels, coloured by the merged code (B1 + B2)/2 = (sign(W1) + sign(W2))/2. This is the float weight whose approximation is α(B1 + B2), the same quantity as in Table 1, and on it the soft threshold is visible: −1 needs both signs negative (so W1 + W2 < 0), +1 both positive, and 0 comes from sign(W1) ≠ sign(W2) whatever the size of the sum, so the zero band overlaps the other two. TWN and TTQ plot their single latent W. "Threshold violations" is the least share of weights whose code would have to change for one pair of thresholds to reproduce the coding: 0 for a hard threshold.',
  );
  L.push('');
  for (const f of figs) {
    L.push(`![${f.caption}](${f.file})`);
    L.push('');
    L.push(`_${f.caption}_`);
    L.push('');
  }
  L.push('## Cells');
  L.push('');
  L.push(`Each cell is \`${ctx.dir}/cells/<id>.json\` (config, command, accuracy, wall time, per-layer sparsity, distance and histogram). A cell's command retrains it in a fresh --out directory; in the same one a finished cell is reused.`);
  L.push('');
  L.push(
    table(
      ['cell', 'test accuracy', 'train loss (last epoch)', 'Σ‖W − αT‖²', 'wall s', 'train samples/s', 'finished'],
      [...cells].map((c) => [c.id, `${fmtPct(c.testAccuracy)} %`, fmtSig(c.trainLoss), c.plan.row.weights === 'fp' ? '—' : fmtSig(c.table1.distance), c.wallSeconds.toFixed(1), c.trainSamplesPerSec.toFixed(0), c.finishedAt]),
    ),
  );
  L.push('');
  L.push('## Caveats');
  L.push('');
  const noisy = shown.filter((c) => c.evidence.includes('within seed noise')).length;
  const oneSeed = shown.filter((c) => c.evidence.includes('no noise estimate')).length;
  L.push(
    `- Scale: ${cells[0] ? `${cells[0].trainExamples} training examples and ${s.epochs} epoch${s.epochs === 1 ? '' : 's'}` : 'a small subset'}, against the paper's CIFAR and ImageNet runs of 100+ epochs. A verdict here is about this scale only. Of the ${shown.length} claims checked, ${noisy} rest on at least one difference within seed noise and ${oneSeed} on a single seed.`,
  );
  L.push('- The claims about ImageNet (Tables 4–5) are checked as the relation they state (STTN above TWN and TTQ), not their values.');
  if (rows.some((r) => r.layers.length === 1)) L.push('- A model with a single quantized layer (cnn-small) cannot show the layer-to-layer trend of Figure 4.');
  L.push('');
  return { markdown: L.join('\n'), figures: figs, claims: cl };
}
