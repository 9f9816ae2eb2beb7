/**
 * Digits for the demo page: the embedded MNIST digits fetched from the page's data/ folder
 * (sttn's gzipped IDX files, copied there by `npm run build:web`; gunzipped with
 * `DecompressionStream` by sttn/data) and split as sttn splits them in Node,
 * and a drawing turned into a model input the way MNIST digits were made (the ink's bounding box
 * scaled into 20×20, its centre of mass moved to the centre of 28×28).
 *
 * Law (laws/browser-page.test.ts): the page classifies test digits as `sttn predict` does and
 * trains on these digits in headless Chromium.
 */
import { loadEmbeddedMnistFrom, type Split } from 'sttn/data';

export type Digits = Split;

const SIDE = 28;
const PIXELS = SIDE * SIDE;

/**
 * The embedded digits from the page's data/ folder, split into train and test exactly as
 * `loadEmbeddedMnist()` splits them in Node (the last 20% of each class is the test split).
 */
export const loadDigits = (): Promise<Digits> => loadEmbeddedMnistFrom(new URL('data/', document.baseURI));

/**
 * A drawing (white ink on black, any size) as a 28×28 input in [0, 1]: the ink's bounding box
 * scaled to fit 20×20, then placed so that its centre of mass is at the centre. All zeros when
 * nothing is drawn.
 */
export function toInput(pad: HTMLCanvasElement): Float32Array {
  const ctx = pad.getContext('2d', { willReadFrequently: true })!;
  const { width: w, height: h } = pad;
  const src = ctx.getImageData(0, 0, w, h).data;
  let x0 = w;
  let y0 = h;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (src[(y * w + x) * 4] > 16) {
        x0 = Math.min(x0, x);
        x1 = Math.max(x1, x);
        y0 = Math.min(y0, y);
        y1 = Math.max(y1, y);
      }
    }
  }
  const out = new Float32Array(PIXELS);
  if (x1 < 0) return out;
  const bw = x1 - x0 + 1;
  const bh = y1 - y0 + 1;
  const scale = 20 / Math.max(bw, bh);
  const sw = Math.max(1, Math.round(bw * scale));
  const sh = Math.max(1, Math.round(bh * scale));
  const small = document.createElement('canvas');
  small.width = sw;
  small.height = sh;
  const sctx = small.getContext('2d', { willReadFrequently: true })!;
  sctx.imageSmoothingEnabled = true;
  sctx.imageSmoothingQuality = 'high';
  sctx.drawImage(pad, x0, y0, bw, bh, 0, 0, sw, sh);
  const s = sctx.getImageData(0, 0, sw, sh).data;
  let mass = 0;
  let mx = 0;
  let my = 0;
  for (let y = 0; y < sh; y++) {
    for (let x = 0; x < sw; x++) {
      const v = s[(y * sw + x) * 4] / 255;
      mass += v;
      mx += v * x;
      my += v * y;
    }
  }
  const ox = Math.round(SIDE / 2 - (mass > 0 ? mx / mass : sw / 2) - 0.5);
  const oy = Math.round(SIDE / 2 - (mass > 0 ? my / mass : sh / 2) - 0.5);
  for (let y = 0; y < sh; y++) {
    for (let x = 0; x < sw; x++) {
      const tx = x + ox;
      const ty = y + oy;
      if (tx >= 0 && tx < SIDE && ty >= 0 && ty < SIDE) out[ty * SIDE + tx] = s[(y * sw + x) * 4] / 255;
    }
  }
  return out;
}

/** A 28×28 input drawn onto a canvas of any size (nearest neighbour, white on black). */
export function paint(canvas: HTMLCanvasElement, pixels: Float32Array): void {
  const img = new ImageData(SIDE, SIDE);
  for (let i = 0; i < PIXELS; i++) {
    const v = Math.round(Math.min(1, Math.max(0, pixels[i])) * 255);
    img.data.set([v, v, v, 255], i * 4);
  }
  const tmp = document.createElement('canvas');
  tmp.width = SIDE;
  tmp.height = SIDE;
  tmp.getContext('2d')!.putImageData(img, 0, 0);
  const ctx = canvas.getContext('2d')!;
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(tmp, 0, 0, canvas.width, canvas.height);
}
