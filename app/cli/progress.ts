/**
 * Training progress for the command line: on a terminal, one live line redrawn at most every
 * `minIntervalMs` (default 100 ms, ~10×/s) —
 *   epoch 2/10 [######------] 48% step 48/100 loss 0.3121 acc 91.40% 5120 samples/s ETA 0:03:07
 * — and elsewhere (a pipe, a log file) plain lines with the same fields, one every `logEvery`
 * steps or one per epoch. The formatting is pure (a snapshot and a width in, a string out); only
 * `progressReporter` holds a clock and a stream.
 *
 * Law (laws/progress.test.ts): `formatDuration` writes h:mm:ss with minutes and seconds in
 * 00..59 and parses back to the rounded input; a bar line never exceeds the given columns and
 * always shows every field that fits; a log line holds every known field; a reporter draws at
 * most once per interval on a TTY and writes exactly the configured lines elsewhere.
 */

/** What the trainer knows after a step. Epoch and step are 1-based and count completed work. */
export interface ProgressUpdate {
  readonly epoch: number;
  readonly epochs: number;
  /** Step within the epoch. */
  readonly step: number;
  /** Steps per epoch. */
  readonly steps: number;
  /** Samples processed by this step (the batch size). */
  readonly samples: number;
  readonly loss?: number;
  /** In [0, 1]. */
  readonly accuracy?: number;
}

/** An update plus what the reporter derives from its clock. */
export interface ProgressView extends Omit<ProgressUpdate, 'samples'> {
  /** Undefined until measurable. */
  readonly samplesPerSec?: number;
  /** Seconds left, undefined until measurable. */
  readonly etaSec?: number;
}

// ---------------------------------------------------------------------------------------------
// Pure formatting

/** `h:mm:ss` (hours unbounded), rounded to the second; `--:--:--` when unknown or negative. */
export function formatDuration(sec: number | undefined): string {
  if (sec === undefined || !Number.isFinite(sec) || sec < 0) return '--:--:--';
  const s = Math.round(sec);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return `${h}:${String(m).padStart(2, '0')}:${String(r).padStart(2, '0')}`;
}

/** A loss with 4 decimals, or 4 significant digits in exponent form when very large or small. */
export function formatLoss(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  return a !== 0 && (a >= 1e4 || a < 1e-3) ? x.toExponential(3) : x.toFixed(4);
}

export const formatAccuracy = (a: number): string => (Number.isFinite(a) ? `${(a * 100).toFixed(2)}%` : String(a));

export function formatRate(r: number | undefined): string {
  if (r === undefined || !Number.isFinite(r) || r < 0) return '-';
  return r < 10 ? r.toFixed(1) : String(Math.round(r));
}

/** Seconds left, from the steps done and the time they took (undefined before the first step). */
export function etaSeconds(done: number, total: number, elapsedSec: number): number | undefined {
  if (!(done > 0) || !(elapsedSec >= 0) || !Number.isFinite(elapsedSec)) return undefined;
  return (Math.max(0, total - done) * elapsedSec) / done;
}

/** Steps completed across epochs, and the total. */
export const globalSteps = (v: Pick<ProgressUpdate, 'epoch' | 'epochs' | 'step' | 'steps'>): { done: number; total: number } => ({
  done: (v.epoch - 1) * v.steps + v.step,
  total: v.epochs * v.steps,
});

/** The fields of a line, in order; loss and accuracy only when known. */
export function formatFields(v: ProgressView): string[] {
  const f = [`epoch ${v.epoch}/${v.epochs}`, `step ${v.step}/${v.steps}`];
  if (v.loss !== undefined) f.push(`loss ${formatLoss(v.loss)}`);
  if (v.accuracy !== undefined) f.push(`acc ${formatAccuracy(v.accuracy)}`);
  f.push(`${formatRate(v.samplesPerSec)} samples/s`, `ETA ${formatDuration(v.etaSec)}`);
  return f;
}

/** A plain log line (no control characters). */
export const formatLogLine = (v: ProgressView): string => formatFields(v).join('  ');

/** Cut `s` to at most `columns` characters (code points), marking a cut with `…`. */
export function truncate(s: string, columns: number): string {
  const cps = Array.from(s);
  if (cps.length <= columns) return s;
  if (columns <= 0) return '';
  return cps.slice(0, columns - 1).join('') + '…';
}

/** `[####----]` of `width` characters in all (brackets included) for a fraction in [0, 1]. */
export function formatBarGlyphs(fraction: number, width: number): string {
  const inner = Math.max(0, width - 2);
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const full = Math.floor(f * inner);
  return `[${'#'.repeat(full)}${'-'.repeat(inner - full)}]`;
}

export interface BarOptions {
  /** Widest bar, brackets included (default 30). */
  readonly maxBar?: number;
  /** Narrowest bar worth drawing; below it the bar is dropped (default 8). */
  readonly minBar?: number;
}

/**
 * The live line for a terminal `columns` wide. It uses at most `columns - 1` characters, so the
 * cursor never wraps to the next line (which would break the `\r` redraw). The bar takes the room
 * the fields leave, within [minBar, maxBar]; when the fields alone do not fit, they are cut.
 */
export function formatBar(v: ProgressView, columns: number, opts: BarOptions = {}): string {
  const maxBar = opts.maxBar ?? 30;
  const minBar = opts.minBar ?? 8;
  const room = Math.max(0, Math.floor(columns) - 1);
  const fraction = v.steps > 0 ? v.step / v.steps : 0;
  const [epoch, ...rest] = formatFields(v);
  const pct = `${String(Math.floor(fraction * 100)).padStart(3)}%`;
  const tail = rest.join(' ');
  const fixed = epoch.length + pct.length + tail.length + 3; // the three separating spaces
  const barWidth = Math.min(maxBar, room - fixed);
  const line = barWidth >= minBar ? `${epoch} ${formatBarGlyphs(fraction, barWidth)} ${pct} ${tail}` : `${epoch} ${pct} ${tail}`;
  return truncate(line, room);
}

/** Whether a TTY redraw is due: the first draw, a forced one, or `minIntervalMs` since the last. */
export const redrawDue = (lastMs: number | undefined, nowMs: number, minIntervalMs: number, force = false): boolean =>
  force || lastMs === undefined || nowMs - lastMs >= minIntervalMs;

/** Whether a plain log line is due after this step: every `logEvery` steps, and at each epoch's end. */
export const logDue = (step: number, steps: number, logEvery: number | 'epoch'): boolean =>
  step === steps || (logEvery !== 'epoch' && logEvery > 0 && step % logEvery === 0);

// ---------------------------------------------------------------------------------------------
// The writer

/** The part of a stream the reporter uses (process.stderr satisfies it). */
export interface ProgressStream {
  write(s: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export interface ReporterOptions {
  /** Default `process.stderr`. */
  readonly stream?: ProgressStream;
  /** Live bar or plain lines; default `stream.isTTY === true`. */
  readonly tty?: boolean;
  /** Terminal width; default `stream.columns`, else 80. Read at every draw (terminals resize). */
  readonly columns?: number;
  /** TTY: least time between redraws (default 100 ms). */
  readonly minIntervalMs?: number;
  /** Plain output: a line every N steps, or only at each epoch's end (default 'epoch'). */
  readonly logEvery?: number | 'epoch';
  /** Milliseconds clock (default `performance.now`). */
  readonly now?: () => number;
  readonly bar?: BarOptions;
}

export interface ProgressReporter {
  /** Report a completed step. */
  update(u: ProgressUpdate): void;
  /** End the live line (TTY) so that later output starts on a fresh line. */
  done(): void;
  /** The view the last update produced (for tests and summaries). */
  readonly last: () => ProgressView | undefined;
}

/**
 * A reporter. Throughput and ETA come from the wall time since the first update and the samples
 * and steps reported since (the first step's own time is unknown, so it is not counted). On a
 * TTY each epoch's final state stays on screen as its own line.
 */
export function progressReporter(opts: ReporterOptions = {}): ProgressReporter {
  const stream = opts.stream ?? process.stderr;
  const tty = opts.tty ?? stream.isTTY === true;
  const minIntervalMs = opts.minIntervalMs ?? 100;
  const logEvery = opts.logEvery ?? 'epoch';
  const now = opts.now ?? (() => performance.now());
  let t0: number | undefined;
  let doneAt0 = 0;
  let samplesSince = 0;
  let lastDraw: number | undefined;
  let live = false;
  let lastView: ProgressView | undefined;

  return {
    update(u) {
      const t = now();
      const { done, total } = globalSteps(u);
      let samplesPerSec: number | undefined;
      let etaSec: number | undefined;
      if (t0 === undefined) {
        t0 = t;
        doneAt0 = done;
      } else {
        samplesSince += u.samples;
        const elapsed = (t - t0) / 1000;
        if (elapsed > 0) samplesPerSec = samplesSince / elapsed;
        const eta = etaSeconds(done - doneAt0, total - doneAt0, elapsed);
        if (eta !== undefined) etaSec = eta;
      }
      const view: ProgressView = { epoch: u.epoch, epochs: u.epochs, step: u.step, steps: u.steps, loss: u.loss, accuracy: u.accuracy, samplesPerSec, etaSec };
      lastView = view;
      const epochEnd = u.step === u.steps;
      if (tty) {
        if (!redrawDue(lastDraw, t, minIntervalMs, epochEnd)) return;
        lastDraw = t;
        const columns = opts.columns ?? stream.columns ?? 80;
        stream.write(`\r${formatBar(view, columns, opts.bar)}\x1b[K${epochEnd ? '\n' : ''}`);
        live = !epochEnd;
      } else if (logDue(u.step, u.steps, logEvery)) {
        stream.write(`${formatLogLine(view)}\n`);
      }
    },
    done() {
      if (tty && live) stream.write('\n');
      live = false;
    },
    last: () => lastView,
  };
}
