/**
 * Laws of the training progress reporter (app/cli/progress.ts): the pure formatting (h:mm:ss,
 * the bar's width, the fields of a line) and the writer's schedule (at most one redraw per
 * interval on a TTY, exactly the configured log lines elsewhere), driven by a fake clock and a
 * fake stream.
 */
import fc from 'fast-check';
import {
  etaSeconds,
  formatBar,
  formatBarGlyphs,
  formatDuration,
  formatFields,
  formatLogLine,
  globalSteps,
  progressReporter,
  truncate,
  type ProgressView,
} from '../app/cli/progress.js';
import { example, law } from './law.js';

const viewArb: fc.Arbitrary<ProgressView> = fc
  .record({ epochs: fc.integer({ min: 1, max: 1000 }), steps: fc.integer({ min: 1, max: 100_000 }) })
  .chain(({ epochs, steps }) =>
    fc.record({
      epoch: fc.integer({ min: 1, max: epochs }),
      epochs: fc.constant(epochs),
      step: fc.integer({ min: 1, max: steps }),
      steps: fc.constant(steps),
      loss: fc.option(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { nil: undefined }),
      accuracy: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
      samplesPerSec: fc.option(fc.double({ min: 0, max: 1e7, noNaN: true }), { nil: undefined }),
      etaSec: fc.option(fc.double({ min: 0, max: 1e7, noNaN: true }), { nil: undefined }),
    }),
  );

const len = (s: string): number => Array.from(s).length;
// eslint-disable-next-line no-control-regex
const hasControl = (s: string): boolean => /[\u0000-\u001f\u007f]/.test(s);

// ----- durations

law('formatDuration: h:mm:ss with mm, ss in 00..59, reading back to the rounded seconds', [fc.double({ min: 0, max: 1e8, noNaN: true })], (sec) => {
  const m = /^(\d+):([0-5]\d):([0-5]\d)$/.exec(formatDuration(sec));
  return m !== null && Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) === Math.round(sec);
});

example('formatDuration: golden values, and unknown for NaN, ±Infinity, negatives and undefined', () =>
  formatDuration(0) === '0:00:00' &&
  formatDuration(59.4) === '0:00:59' &&
  formatDuration(59.5) === '0:01:00' &&
  formatDuration(3661) === '1:01:01' &&
  formatDuration(360_000) === '100:00:00' &&
  [NaN, Infinity, -Infinity, -1, undefined].every((x) => formatDuration(x) === '--:--:--'),
);

law('etaSeconds: zero when done, proportional to the remaining steps, unknown before the first step', [fc.integer({ min: 1, max: 1e6 }), fc.integer({ min: 0, max: 1e6 }), fc.double({ min: 0, max: 1e5, noNaN: true })], (done, left, elapsed) => {
  const eta = etaSeconds(done, done + left, elapsed);
  return etaSeconds(done, done, elapsed) === 0 && eta !== undefined && Math.abs(eta - (left * elapsed) / done) <= 1e-9 * (1 + eta) && etaSeconds(0, 10, elapsed) === undefined;
});

// ----- lines

law('formatFields / formatLogLine: every known field is present, in order, without control characters', [viewArb], (v) => {
  const line = formatLogLine(v);
  const want = [`epoch ${v.epoch}/${v.epochs}`, `step ${v.step}/${v.steps}`, ...(v.loss === undefined ? [] : ['loss ']), ...(v.accuracy === undefined ? [] : ['acc ']), ' samples/s', `ETA ${formatDuration(v.etaSec)}`];
  let at = 0;
  for (const w of want) {
    const i = line.indexOf(w, at);
    if (i < 0) return false;
    at = i + w.length;
  }
  return !hasControl(line) && formatFields(v).length === want.length;
});

example('formatLogLine: a golden line', () =>
  formatLogLine({ epoch: 2, epochs: 10, step: 48, steps: 100, loss: 0.31214, accuracy: 0.914, samplesPerSec: 5120.4, etaSec: 187 }) ===
  'epoch 2/10  step 48/100  loss 0.3121  acc 91.40%  5120 samples/s  ETA 0:03:07',
);

law('formatBar: never wider than columns - 1, no control characters, a full line when the terminal is wide', [viewArb, fc.integer({ min: 0, max: 300 })], (v, columns) => {
  const line = formatBar(v, columns);
  const fields = formatFields(v);
  const wideEnough = columns > fields.join(' ').length + 40;
  return len(line) <= Math.max(0, columns - 1) && !hasControl(line) && (!wideEnough || (fields.every((f) => line.includes(f)) && /\[[#-]+\]/.test(line)));
});

law('formatBar: the bar is maxBar wide on a wide terminal, and its fill follows step/steps', [viewArb, fc.integer({ min: 10, max: 40 })], (v, maxBar) => {
  const m = /\[([#-]*)\]/.exec(formatBar(v, 400, { maxBar }));
  return m !== null && m[0].length === maxBar && m[1].split('#').length - 1 === Math.floor((v.step / v.steps) * (maxBar - 2));
});

law('formatBarGlyphs: width fixed, fill monotone in the fraction and clamped to [0, 1]', [fc.double({ min: -1, max: 2, noNaN: true }), fc.double({ min: -1, max: 2, noNaN: true }), fc.integer({ min: 2, max: 80 })], (a, b, w) => {
  const fill = (f: number): number => formatBarGlyphs(f, w).split('#').length - 1;
  const [lo, hi] = a <= b ? [a, b] : [b, a];
  return formatBarGlyphs(a, w).length === w && fill(lo) <= fill(hi) && fill(-1) === 0 && fill(2) === w - 2;
});

law('truncate: at most `columns` code points, a prefix of the input, untouched when it fits', [fc.string({ unit: 'grapheme', maxLength: 60 }), fc.integer({ min: 0, max: 80 })], (s, columns) => {
  const out = truncate(s, columns);
  const cps = Array.from(s);
  return cps.length <= columns ? out === s : len(out) === columns && (columns === 0 || (out.endsWith('…') && s.startsWith(out.slice(0, -1))));
});

// ----- the writer

interface Run {
  readonly writes: string[];
  readonly times: number[];
}

/** Drive a reporter through `epochs × steps` updates with clock gaps `dts` (ms, cycled). */
function drive(tty: boolean, epochs: number, steps: number, dts: number[], logEvery: number | 'epoch', columns = 100): Run {
  const writes: string[] = [];
  const times: number[] = [];
  let clock = 0;
  const r = progressReporter({ stream: { write: (s) => writes.push(s), isTTY: tty, columns }, tty, logEvery, now: () => clock, minIntervalMs: 100 });
  let k = 0;
  for (let e = 1; e <= epochs; e++) {
    for (let s = 1; s <= steps; s++) {
      clock += dts[k++ % dts.length];
      const before = writes.length;
      r.update({ epoch: e, epochs, step: s, steps, samples: 32, loss: 1 / (k + 1), accuracy: k / (k + 1) });
      if (writes.length > before) times.push(clock);
    }
  }
  r.done();
  return { writes, times };
}

const driveArb = fc.record({
  epochs: fc.integer({ min: 1, max: 4 }),
  steps: fc.integer({ min: 1, max: 60 }),
  dts: fc.array(fc.integer({ min: 0, max: 250 }), { minLength: 1, maxLength: 10 }),
  logEvery: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.constant('epoch' as const)),
});

law('reporter (plain): one line per logEvery steps and at each epoch end, each a full log line', [driveArb], ({ epochs, steps, dts, logEvery }) => {
  const { writes } = drive(false, epochs, steps, dts, logEvery);
  let expected = 0;
  for (let s = 1; s <= steps; s++) if (s === steps || (logEvery !== 'epoch' && s % logEvery === 0)) expected++;
  return (
    writes.length === expected * epochs &&
    writes.every((w) => w.endsWith('\n') && !hasControl(w.slice(0, -1)) && /^epoch \d+\/\d+ {2}step \d+\/\d+ {2}loss \S+ {2}acc \S+% {2}\S+ samples\/s {2}ETA \S+$/.test(w.slice(0, -1)))
  );
});

law('reporter (TTY): redraws at most once per 100 ms except at epoch ends, which each leave a line; never wider than the terminal', [driveArb, fc.integer({ min: 20, max: 200 })], ({ epochs, steps, dts }, columns) => {
  const { writes, times } = drive(true, epochs, steps, dts, 'epoch', columns);
  const ends = writes.filter((w) => w.endsWith('\n')).length;
  const shape = writes.every((w) => {
    const body = w.replace(/^\r/, '').replace(/\x1b\[K\n?$/, '');
    return w.startsWith('\r') && len(body) <= columns - 1 && !hasControl(body);
  });
  let spaced = true;
  for (let i = 1; i < writes.length; i++) {
    if (!writes[i].endsWith('\n') && !writes[i - 1].endsWith('\n') && times[i] - times[i - 1] < 100) spaced = false;
  }
  return ends === epochs && shape && spaced;
});

example('reporter: throughput and ETA come from the clock (10 steps of 32 samples, 0.5 s apart)', () => {
  let clock = 0;
  const lines: string[] = [];
  const r = progressReporter({ stream: { write: (s) => lines.push(s) }, tty: false, now: () => clock, logEvery: 5 });
  for (let s = 1; s <= 10; s++) {
    clock += 500;
    r.update({ epoch: 1, epochs: 2, step: s, steps: 10, samples: 32 });
  }
  const v = r.last();
  const { done, total } = globalSteps({ epoch: 1, epochs: 2, step: 10, steps: 10 });
  // 9 steps (288 samples) in 4.5 s after the first: 64 samples/s; 10 steps left at 0.5 s each
  return v !== undefined && v.samplesPerSec === 64 && v.etaSec === 5 && done === 10 && total === 20 && lines.length === 2 && lines[1].includes('ETA 0:00:05');
});
