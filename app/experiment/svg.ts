/**
 * A small SVG writer for the experiment's figures: bar charts (with optional error bars) and
 * stacked histograms, each with axes, ticks, axis labels, a title and a legend. Plain strings out,
 * no dependency: the figures are a handful of rectangles, and a charting library would be the
 * largest dependency of the package.
 *
 * Geometry: a bar of value v is `v · plotHeight / yMax` tall (the y axis starts at 0), so heights
 * are proportional to values; a stacked histogram stacks the series of each bin in the order given.
 * Every bar carries `class="bar"` and `data-value` (and `data-series`, `data-bin` in histograms), so
 * tests and readers can recover the numbers from the picture. All text is escaped (xml.ts).
 *
 * Law (laws/svg.test.ts): the output is well-formed XML (parsed back by xml.ts), labels round-trip
 * through escaping, and bar heights are proportional to the values.
 */
import { escapeXml } from './xml.js';

export interface LegendEntry {
  readonly label: string;
  readonly color: string;
}

export interface Bar {
  readonly label: string;
  readonly value: number;
  /** half-length of an error bar (e.g. one standard deviation); none when undefined */
  readonly error?: number;
  readonly color?: string;
}

export interface ChartText {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly width?: number;
  readonly height?: number;
  readonly legend?: readonly LegendEntry[];
}

export interface BarChartOptions extends ChartText {
  readonly bars: readonly Bar[];
  /** top of the y axis (default: a round number above the largest value + error) */
  readonly yMax?: number;
  /** how a value prints above its bar (default: 3 significant digits); null prints nothing */
  readonly valueLabel?: ((v: number) => string) | null;
}

export interface HistogramSeries {
  readonly label: string;
  readonly color: string;
  /** one count per bin */
  readonly counts: readonly number[];
}

export interface HistogramOptions extends ChartText {
  /** bin edges, ascending: bins + 1 numbers */
  readonly edges: readonly number[];
  /** stacked bottom to top in this order */
  readonly series: readonly HistogramSeries[];
  readonly yMax?: number;
}

export const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'] as const;

/** A number in SVG coordinates: at most 2 decimals, no `-0`. */
export const num = (x: number): string => {
  const r = Math.round(x * 100) / 100;
  return Object.is(r, -0) ? '0' : String(r);
};

type Attrs = Readonly<Record<string, string | number | undefined>>;

export function el(tag: string, attrs: Attrs, body?: string): string {
  const a = Object.entries(attrs)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${escapeXml(typeof v === 'number' ? num(v) : (v as string))}"`)
    .join('');
  return body === undefined ? `<${tag}${a}/>` : `<${tag}${a}>${body}</${tag}>`;
}

const text = (x: number, y: number, s: string, attrs: Attrs = {}): string => el('text', { x, y, ...attrs }, escapeXml(s));

/** 1, 2 or 5 times a power of ten, the smallest not below `x`. */
export function niceStep(x: number): number {
  if (!(x > 1e-300) || !Number.isFinite(x)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  const m = x / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/** Round tick positions covering [lo, hi], about `n` of them. */
export function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const step = niceStep((hi - lo) / n);
  const out: number[] = [];
  // k·step rather than a running sum, so rounding errors do not accumulate
  for (let k = Math.ceil(lo / step - 1e-9), last = Math.floor(hi / step + 1e-9); k <= last; k++) out.push(k === 0 ? 0 : k * step);
  return out;
}

/** A round axis top above `max` (1 when max ≤ 0). */
export function niceMax(max: number): number {
  if (!(max > 1e-300) || !Number.isFinite(max)) return 1;
  const step = niceStep(max / 5);
  return Math.ceil(max / step - 1e-9) * step;
}

const tickLabel = (v: number): string => {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e5 || a < 1e-3 ? v.toExponential(1) : String(Number(v.toPrecision(4)));
};

interface Frame {
  readonly width: number;
  readonly height: number;
  readonly left: number;
  readonly top: number;
  readonly plotW: number;
  readonly plotH: number;
}

function frame(o: ChartText, bottomRoom: number): Frame {
  const width = o.width ?? 640;
  const height = o.height ?? 400;
  const left = 70;
  const top = 48 + (o.legend && o.legend.length > 0 ? 22 * Math.ceil(o.legend.length / 4) : 0);
  const bottom = bottomRoom;
  return { width, height, left, top, plotW: width - left - 20, plotH: height - top - bottom };
}

/** Title, axis labels, the y axis with ticks and grid lines, the legend. */
function chrome(o: ChartText, f: Frame, yMax: number): string {
  const parts: string[] = [];
  parts.push(text(f.width / 2, 24, o.title, { 'text-anchor': 'middle', 'font-size': 16, 'font-weight': 'bold', class: 'title' }));
  const ticks = niceTicks(0, yMax, 5);
  for (const t of ticks) {
    const y = f.top + f.plotH - (t / yMax) * f.plotH;
    parts.push(el('line', { x1: f.left, y1: y, x2: f.left + f.plotW, y2: y, stroke: '#e0e0e0', class: 'grid' }));
    parts.push(el('line', { x1: f.left - 5, y1: y, x2: f.left, y2: y, stroke: '#000' }));
    parts.push(text(f.left - 8, y + 4, tickLabel(t), { 'text-anchor': 'end', 'font-size': 11, class: 'tick' }));
  }
  parts.push(el('line', { x1: f.left, y1: f.top, x2: f.left, y2: f.top + f.plotH, stroke: '#000', class: 'axis' }));
  parts.push(el('line', { x1: f.left, y1: f.top + f.plotH, x2: f.left + f.plotW, y2: f.top + f.plotH, stroke: '#000', class: 'axis' }));
  const cy = f.top + f.plotH / 2;
  parts.push(text(18, cy, o.yLabel, { 'text-anchor': 'middle', 'font-size': 12, transform: `rotate(-90 18 ${num(cy)})`, class: 'ylabel' }));
  parts.push(text(f.left + f.plotW / 2, f.height - 8, o.xLabel, { 'text-anchor': 'middle', 'font-size': 12, class: 'xlabel' }));
  (o.legend ?? []).forEach((e, k) => {
    const x = f.left + (k % 4) * (f.plotW / 4);
    const y = 40 + 22 * Math.floor(k / 4);
    parts.push(
      el(
        'g',
        { class: 'legend-entry' },
        el('rect', { x, y: y - 10, width: 12, height: 12, fill: e.color }) + text(x + 18, y, e.label, { 'font-size': 12 }),
      ),
    );
  });
  return parts.join('\n');
}

function document(f: Frame, title: string, body: string): string {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${f.width}" height="${f.height}" viewBox="0 0 ${f.width} ${f.height}" font-family="sans-serif">`,
    el('title', {}, escapeXml(title)),
    el('rect', { x: 0, y: 0, width: f.width, height: f.height, fill: '#fff', class: 'background' }),
    body,
    '</svg>',
    '',
  ].join('\n');
}

const finiteNonNeg = (what: string, v: number): number => {
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`svg: ${what} must be a finite number ≥ 0, got ${v}`);
  return v;
};

/** Vertical bars, one per datum, labelled below (rotated when crowded), with optional error bars. */
export function barChart(o: BarChartOptions): string {
  o.bars.forEach((b, k) => {
    finiteNonNeg(`bars[${k}].value`, b.value);
    if (b.error !== undefined) finiteNonNeg(`bars[${k}].error`, b.error);
  });
  const longest = Math.max(0, ...o.bars.map((b) => b.label.length));
  const rotate = o.bars.length > 4 || longest > 10;
  const f = frame(o, rotate ? 40 + Math.min(longest, 40) * 5.5 : 50);
  const yMax = o.yMax ?? niceMax(Math.max(0, ...o.bars.map((b) => b.value + (b.error ?? 0))));
  const scale = f.plotH / yMax;
  const slot = f.plotW / Math.max(1, o.bars.length);
  const bw = slot * 0.7;
  const valueLabel = o.valueLabel === undefined ? (v: number) => String(Number(v.toPrecision(3))) : o.valueLabel;
  const bars = o.bars.map((b, k) => {
    const x = f.left + k * slot + (slot - bw) / 2;
    const h = Math.min(b.value, yMax) * scale;
    const y = f.top + f.plotH - h;
    const cx = x + bw / 2;
    const parts = [el('rect', { class: 'bar', x, y, width: bw, height: h, fill: b.color ?? PALETTE[0], 'data-label': b.label, 'data-value': String(b.value) })];
    let labelY = y - 4;
    if (b.error !== undefined && b.error > 0) {
      const lo = f.top + f.plotH - Math.max(0, b.value - b.error) * scale;
      const hi = f.top + f.plotH - Math.min(yMax, b.value + b.error) * scale;
      parts.push(el('line', { class: 'errorbar', x1: cx, y1: lo, x2: cx, y2: hi, stroke: '#000' }));
      parts.push(el('line', { x1: cx - 4, y1: hi, x2: cx + 4, y2: hi, stroke: '#000' }));
      parts.push(el('line', { x1: cx - 4, y1: lo, x2: cx + 4, y2: lo, stroke: '#000' }));
      labelY = hi - 4;
    }
    if (valueLabel !== null) parts.push(text(cx, labelY, valueLabel(b.value), { 'text-anchor': 'middle', 'font-size': 10, class: 'value' }));
    const ly = f.top + f.plotH + 14;
    parts.push(
      rotate
        ? text(cx, ly, b.label, { 'text-anchor': 'end', 'font-size': 11, transform: `rotate(-40 ${num(cx)} ${num(ly)})`, class: 'category' })
        : text(cx, ly, b.label, { 'text-anchor': 'middle', 'font-size': 11, class: 'category' }),
    );
    return el('g', {}, parts.join(''));
  });
  return document(f, o.title, `${chrome(o, f, yMax)}\n${bars.join('\n')}`);
}

/** A stacked histogram over the given bin edges, with a numeric x axis. */
export function histogram(o: HistogramOptions): string {
  const bins = o.edges.length - 1;
  if (bins < 1) throw new RangeError(`svg: a histogram needs at least 2 edges, got ${o.edges.length}`);
  for (let k = 0; k < bins; k++) {
    if (!(o.edges[k + 1] > o.edges[k])) throw new RangeError(`svg: edges must increase, got ${o.edges[k]} then ${o.edges[k + 1]}`);
  }
  o.series.forEach((s, j) => {
    if (s.counts.length !== bins) throw new RangeError(`svg: series ${j} (${s.label}) has ${s.counts.length} counts for ${bins} bins`);
    s.counts.forEach((c, k) => finiteNonNeg(`series[${j}].counts[${k}]`, c));
  });
  const f = frame(o, 50);
  const totals = Array.from({ length: bins }, (_, k) => o.series.reduce((a, s) => a + s.counts[k], 0));
  const yMax = o.yMax ?? niceMax(Math.max(0, ...totals));
  const scale = f.plotH / yMax;
  const lo = o.edges[0];
  const hi = o.edges[bins];
  const xOf = (v: number) => f.left + ((v - lo) / (hi - lo)) * f.plotW;
  const parts: string[] = [];
  for (let k = 0; k < bins; k++) {
    let base = f.top + f.plotH;
    const x = xOf(o.edges[k]);
    const w = xOf(o.edges[k + 1]) - x;
    o.series.forEach((s) => {
      const h = s.counts[k] * scale;
      if (s.counts[k] === 0) return;
      base -= h;
      parts.push(el('rect', { class: 'bar', x, y: base, width: w, height: h, fill: s.color, 'data-series': s.label, 'data-bin': k, 'data-value': String(s.counts[k]) }));
    });
  }
  for (const t of niceTicks(lo, hi, 6)) {
    const x = xOf(t);
    parts.push(el('line', { x1: x, y1: f.top + f.plotH, x2: x, y2: f.top + f.plotH + 5, stroke: '#000' }));
    parts.push(text(x, f.top + f.plotH + 18, tickLabel(t), { 'text-anchor': 'middle', 'font-size': 11, class: 'tick' }));
  }
  return document(f, o.title, `${chrome(o, f, yMax)}\n${parts.join('\n')}`);
}
