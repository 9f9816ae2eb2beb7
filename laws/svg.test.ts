/**
 * Laws of the SVG writer (app/experiment/svg.ts) and of the XML checker it is held to
 * (app/experiment/xml.ts): every chart is well-formed XML whatever its labels; labels come back
 * unchanged through escaping; bar heights are proportional to the values they draw; the checker
 * rejects the usual faults.
 */
import fc from 'fast-check';
import { barChart, histogram, niceTicks } from '../app/experiment/svg.js';
import { descendants, escapeXml, parseXml, textOf, type XmlElement } from '../app/experiment/xml.js';
import { example, law } from './law.js';

/** Strings of characters XML can hold, with the ones that need escaping drawn often. */
const xmlText = fc.string({
  unit: fc.oneof(
    fc.constantFrom('<', '>', '&', '"', "'", ']]>', '&amp;', ' ', '\n', 'é', '∑', '😀'),
    fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }),
  ),
  maxLength: 30,
});
/** Any JavaScript string, lone surrogates and control characters included. */
const anyText = fc.string({ unit: 'binary', maxLength: 30 });

const bars = (root: XmlElement) => descendants(root).filter((e) => e.name === 'rect' && e.attrs.class === 'bar');

/** height / value is one constant for every bar (to the writer's 0.01 rounding). */
function proportional(rs: readonly XmlElement[]): boolean {
  const pairs = rs.map((r) => ({ h: Number(r.attrs.height), v: Number(r.attrs['data-value']) }));
  const ref = pairs.reduce((a, p) => (p.v > a.v ? p : a), { h: 0, v: 0 });
  if (ref.v === 0) return pairs.every((p) => p.h === 0);
  const k = ref.h / ref.v;
  return pairs.every((p) => Number.isFinite(p.h) && Math.abs(p.h - k * p.v) <= 0.011 + 1e-9 * p.v);
}

law('xml: escaped text and attributes parse back to the original string', [xmlText, xmlText], (a, b) => {
  const r = parseXml(`<?xml version="1.0" encoding="UTF-8"?>\n<t x="${escapeXml(a)}" y='${escapeXml(b)}'>${escapeXml(b)}<u/>${escapeXml(a)}</t>`);
  return r.ok && r.root.attrs.x === a && r.root.attrs.y === b && textOf(r.root) === b + a;
});

law('xml: any string, once escaped, makes a well-formed document', [anyText], (s) => parseXml(`<t a="${escapeXml(s)}">${escapeXml(s)}</t>`).ok);

example('xml: the checker rejects malformed documents and names the fault', () => {
  const bad: [string, RegExp][] = [
    ['<a><b></a></b>', /closes/],
    ['<a>', /never closed/],
    ['<a x="1<2"/>', /'<' inside an attribute/],
    ['<a>&nbsp;</a>', /unknown entity/],
    ['<a>AT&T</a>', /entity/],
    ['<a x="1" x="2"/>', /duplicate attribute/],
    ['<a/><b/>', /after the root/],
    ['<a x=1/>', /not quoted/],
    ['<a>\u0001</a>', /not allowed/],
    ['text', /expected '<'/],
    ['', /no root/],
    ['<a><!-- a -- b --></a>', /'--'/],
  ];
  const good = ['<a/>', '<?xml version="1.0"?><a b="&lt;&#60;&#x3C;">x<![CDATA[<&>]]><!-- c --></a>', '<a>\n  <b c=\'d\' />\n</a>\n'];
  return bad.every(([doc, msg]) => {
    const r = parseXml(doc);
    return !r.ok && msg.test(r.error);
  }) && good.every((doc) => parseXml(doc).ok);
});

const value = fc.double({ min: 0, max: 1e6, noNaN: true });

law(
  'svg: a bar chart is well-formed, keeps every label, and its bar heights are proportional to the values',
  [fc.array(fc.record({ label: anyText, value, error: fc.option(fc.double({ min: 0, max: 1e3, noNaN: true }), { nil: undefined }) }), { minLength: 1, maxLength: 12 }), xmlText],
  (bs, title) => {
    const doc = barChart({ title, xLabel: 'x <&>', yLabel: 'y "\'', bars: bs, legend: [{ label: title, color: '#123456' }] });
    const r = parseXml(doc);
    if (!r.ok || r.root.name !== 'svg') return false;
    const rs = bars(r.root);
    const cats = descendants(r.root).filter((e) => e.name === 'text' && e.attrs.class === 'category').map(textOf);
    const safe = (s: string) => parseXml(`<t>${escapeXml(s)}</t>`);
    return (
      rs.length === bs.length &&
      rs.every((b, k) => Number(b.attrs['data-value']) === bs[k].value) &&
      proportional(rs) &&
      cats.length === bs.length &&
      cats.every((c, k) => {
        const e = safe(bs[k].label);
        return e.ok && c === textOf(e.root);
      }) &&
      descendants(r.root).some((e) => e.name === 'text' && e.attrs.class === 'title' && textOf(e) === title)
    );
  },
  { numRuns: 60 },
);

law(
  'svg: a stacked histogram is well-formed, its segments are proportional to the counts, and each stack sums its bin',
  [fc.integer({ min: 1, max: 30 }).chain((bins) => fc.tuple(fc.constant(bins), fc.array(fc.array(fc.nat(500), { minLength: bins, maxLength: bins }), { minLength: 1, maxLength: 3 }), fc.double({ min: -5, max: 5, noNaN: true }), fc.double({ min: 1e-3, max: 10, noNaN: true })))],
  ([bins, series, lo, width]) => {
    const edges = Array.from({ length: bins + 1 }, (_, k) => lo + k * width);
    const doc = histogram({ title: 'h', xLabel: 'w', yLabel: 'n', edges, series: series.map((counts, j) => ({ label: `s${j} <${j}>`, color: '#000', counts })) });
    const r = parseXml(doc);
    if (!r.ok) return false;
    const rs = bars(r.root);
    const nonzero = series.flat().filter((c) => c > 0).length;
    const big = rs.reduce<XmlElement | undefined>((a, e) => (a === undefined || Number(e.attrs['data-value']) > Number(a.attrs['data-value']) ? e : a), undefined);
    const k = big === undefined ? 0 : Number(big.attrs.height) / Number(big.attrs['data-value']);
    const stacksOk = Array.from({ length: bins }, (_, b) => {
      const seg = rs.filter((e) => Number(e.attrs['data-bin']) === b);
      const total = series.reduce((a, s) => a + s[b], 0);
      return Math.abs(seg.reduce((a, e) => a + Number(e.attrs.height), 0) - k * total) <= 0.011 * Math.max(1, seg.length);
    }).every(Boolean);
    return rs.length === nonzero && proportional(rs) && stacksOk && rs.every((e) => e.attrs['data-series'].startsWith('s'));
  },
  { numRuns: 60 },
);

law('svg: axis ticks are ascending and lie in [lo, hi]', [fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.double({ min: 1e-6, max: 1e6, noNaN: true })], (lo, span) => {
  const hi = lo + span;
  const t = niceTicks(lo, hi, 5);
  const eps = span * 1e-6;
  return t.length >= 1 && t.length <= 12 && t.every((v, k) => v >= lo - eps && v <= hi + eps && (k === 0 || v > t[k - 1]));
});

example('svg: invalid input is a RangeError, not a broken picture', () => {
  const throws = (f: () => unknown) => {
    try {
      f();
      return false;
    } catch (e) {
      return e instanceof RangeError;
    }
  };
  return (
    throws(() => barChart({ title: '', xLabel: '', yLabel: '', bars: [{ label: 'a', value: NaN }] })) &&
    throws(() => barChart({ title: '', xLabel: '', yLabel: '', bars: [{ label: 'a', value: -1 }] })) &&
    throws(() => histogram({ title: '', xLabel: '', yLabel: '', edges: [0, 0], series: [] })) &&
    throws(() => histogram({ title: '', xLabel: '', yLabel: '', edges: [0, 1, 2], series: [{ label: 'a', color: '#000', counts: [1] }] }))
  );
});
