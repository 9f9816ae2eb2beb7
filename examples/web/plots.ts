/**
 * The demo page's two live plots, drawn on canvases: loss and batch accuracy per training step
 * (with the loss's moving average), and the histogram of an STTN layer's latent W1 + W2 stacked
 * by ternary code (the paper's Figure 1).
 *
 * Law (laws/browser-page.test.ts): the page draws them while it trains, with no CSP violation;
 * the screenshot shows them.
 */
import type { Histogram } from './demo.js';

const COLORS = { loss: '#9ecae1', lossAvg: '#08519c', acc: '#f28e2b', axis: '#888', text: '#333', neg: '#d1495b', zero: '#8d99ae', pos: '#2e86ab' };

/** The mean of the last `k` values up to each index. */
export function movingAverage(xs: readonly number[], k: number): number[] {
  const out: number[] = [];
  let sum = 0;
  for (let i = 0; i < xs.length; i++) {
    sum += xs[i];
    if (i >= k) sum -= xs[i - k];
    out.push(sum / Math.min(i + 1, k));
  }
  return out;
}

function frame(canvas: HTMLCanvasElement): { ctx: CanvasRenderingContext2D; x0: number; y0: number; w: number; h: number } {
  const ctx = canvas.getContext('2d')!;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const x0 = 36;
  const y0 = 10;
  const w = canvas.width - x0 - 36;
  const h = canvas.height - y0 - 24;
  ctx.strokeStyle = COLORS.axis;
  ctx.lineWidth = 1;
  ctx.strokeRect(x0 + 0.5, y0 + 0.5, w, h);
  ctx.font = '11px system-ui, sans-serif';
  return { ctx, x0, y0, w, h };
}

/** Loss (left axis, 0 to its maximum) and accuracy (right axis, 0–1) against the step. */
export function drawLoss(canvas: HTMLCanvasElement, losses: readonly number[], accuracies: readonly number[]): void {
  const { ctx, x0, y0, w, h } = frame(canvas);
  const n = losses.length;
  const top = Math.max(2.5, ...losses);
  const sx = (i: number) => x0 + (n <= 1 ? 0 : (i / (n - 1)) * w);
  const line = (ys: readonly number[], max: number, color: string, width: number) => {
    if (ys.length === 0) return;
    ctx.strokeStyle = color;
    ctx.lineWidth = width;
    ctx.beginPath();
    ys.forEach((v, i) => (i === 0 ? ctx.moveTo(sx(i), y0 + h - (v / max) * h) : ctx.lineTo(sx(i), y0 + h - (v / max) * h)));
    ctx.stroke();
  };
  line(losses, top, COLORS.loss, 1);
  line(movingAverage(losses, 10), top, COLORS.lossAvg, 2);
  line(accuracies, 1, COLORS.acc, 1.5);
  ctx.fillStyle = COLORS.text;
  ctx.fillText(top.toFixed(1), 4, y0 + 10);
  ctx.fillText('0', 4, y0 + h);
  ctx.fillText('100%', x0 + w + 4, y0 + 10);
  ctx.fillText(`step ${n}`, x0 + w - 40, y0 + h + 16);
}

/** Stacked bars per bin: code −1, 0, +1. */
export function drawHistogram(canvas: HTMLCanvasElement, hist: Histogram | undefined): void {
  const { ctx, x0, y0, w, h } = frame(canvas);
  if (hist === undefined) return;
  const bins = hist.counts[0].length;
  const totals = Array.from({ length: bins }, (_, b) => hist.counts[0][b] + hist.counts[1][b] + hist.counts[2][b]);
  const max = Math.max(1, ...totals);
  const bw = w / bins;
  for (let b = 0; b < bins; b++) {
    let y = y0 + h;
    ([0, 1, 2] as const).forEach((k) => {
      const hh = (hist.counts[k][b] / max) * h;
      ctx.fillStyle = [COLORS.neg, COLORS.zero, COLORS.pos][k];
      ctx.fillRect(x0 + b * bw + 0.5, y - hh, Math.max(1, bw - 1), hh);
      y -= hh;
    });
  }
  ctx.fillStyle = COLORS.text;
  ctx.fillText(hist.lo.toFixed(2), x0, y0 + h + 16);
  ctx.fillText(hist.hi.toFixed(2), x0 + w - 28, y0 + h + 16);
  ctx.fillText('W1 + W2', x0 + w / 2 - 20, y0 + h + 16);
  ctx.fillText(String(max), 4, y0 + 10);
}
