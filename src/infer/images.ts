/**
 * Images for `sttn predict`: binary PGM (P5), PNG (through the `pngjs` package, loaded only when
 * a PNG is read) and IDX image files (MNIST's format, plain or gzipped; one file holds many
 * images). The format is told by the content, not the name.
 *
 * Pixels become float32 in [0, 1] as the training loaders make them (an 8-bit value v ↦ v/255,
 * a PGM with maxval M ↦ v/M), HWC. Images are never resized: a model takes exactly its input
 * size, and an image of another size is an error that says both sizes. Channels are converted
 * when the model asks for other ones: colour to grey by Rec. 601 luma (0.299 R + 0.587 G +
 * 0.114 B), grey to colour by repetition; alpha is dropped.
 *
 * Law (laws/engine.test.ts): a PGM, a PNG and an IDX file of the same pixels give the same input
 * tensor; a wrong size or a malformed file is a DataFileError naming the file and the field.
 */
import * as E from 'fp-ts/lib/Either.js';
import { maybeGunzip } from '../data/bytes.js';
import { DataFileError } from '../data/dataset.js';
import { IDX_IMAGES_MAGIC, parseIdxImages } from '../data/idx.js';
import { readFileClassified } from '../files.js';
import type { Tensor } from '../tensor.js';

export interface Image {
  /** the file, with `#i` for the i-th image of an IDX file */
  readonly label: string;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  /** HWC, values in [0, 1] */
  readonly data: Float32Array;
}

function skipSpaceAndComments(b: Uint8Array, i: number): number {
  for (;;) {
    while (i < b.length && (b[i] === 0x20 || b[i] === 0x09 || b[i] === 0x0a || b[i] === 0x0d)) i++;
    if (b[i] !== 0x23) return i; // '#': a comment to the end of the line
    while (i < b.length && b[i] !== 0x0a && b[i] !== 0x0d) i++;
  }
}

/** A binary greymap (P5): `P5 width height maxval` then one (maxval < 256) or two (big-endian) bytes per pixel. */
export function parsePgm(b: Uint8Array, file: string): Image {
  if (!(b[0] === 0x50 && b[1] === 0x35)) throw new DataFileError(file, 'magic', 'is not "P5" (a binary PGM)');
  let i = 2;
  const fields: number[] = [];
  const names = ['width', 'height', 'maxval'];
  for (const name of names) {
    const start = skipSpaceAndComments(b, i);
    if (start === i && i !== 2) throw new DataFileError(file, name, 'is missing (no whitespace before it)');
    i = start;
    let v = 0;
    let digits = 0;
    while (i < b.length && b[i] >= 0x30 && b[i] <= 0x39) v = v * 10 + (b[i++] - 0x30), digits++;
    if (digits === 0) throw new DataFileError(file, name, `is not a number (header truncated at byte ${i}?)`);
    fields.push(v);
  }
  const [width, height, maxval] = fields;
  if (width < 1 || height < 1) throw new DataFileError(file, 'size', `${width}×${height} has no pixels`);
  if (maxval < 1 || maxval > 65535) throw new DataFileError(file, 'maxval', `${maxval} is outside 1…65535`);
  if (!(b[i] === 0x20 || b[i] === 0x09 || b[i] === 0x0a || b[i] === 0x0d)) throw new DataFileError(file, 'header', 'needs one whitespace byte after maxval');
  i++;
  const bpp = maxval < 256 ? 1 : 2;
  const n = width * height;
  if (b.length - i < n * bpp) throw new DataFileError(file, 'pixels', `truncated: ${b.length - i} bytes, ${width}×${height} pixels need ${n * bpp}`);
  const data = new Float32Array(n);
  for (let p = 0; p < n; p++) {
    const v = bpp === 1 ? b[i + p] : (b[i + 2 * p] << 8) | b[i + 2 * p + 1];
    if (v > maxval) throw new DataFileError(file, 'pixels', `value ${v} at pixel ${p} exceeds maxval ${maxval}`);
    data[p] = v / maxval;
  }
  return { label: file, height, width, channels: 1, data };
}

/** A PNG of any colour type and depth, as grey (1 channel) or RGB (3) or RGBA (4), 8 bits per sample. */
export async function parsePng(b: Uint8Array, file: string): Promise<Image> {
  const { default: pngjs } = await import('pngjs');
  let png;
  try {
    png = pngjs.PNG.sync.read(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  } catch (e) {
    throw new DataFileError(file, 'png', `cannot be decoded: ${(e as Error).message}`);
  }
  const { width, height } = png;
  const channels = png.color ? (png.alpha ? 4 : 3) : png.alpha ? 2 : 1;
  const data = new Float32Array(width * height * channels);
  for (let p = 0; p < width * height; p++) {
    const rgba = png.data.subarray(4 * p, 4 * p + 4);
    if (channels === 1) data[p] = rgba[0] / 255;
    else if (channels === 2) (data[2 * p] = rgba[0] / 255), (data[2 * p + 1] = rgba[3] / 255);
    else for (let c = 0; c < channels; c++) data[p * channels + c] = rgba[c] / 255;
  }
  return { label: file, height, width, channels, data };
}

/** Every image of an IDX image file (magic 0x00000803). */
export function parseIdxImageFile(b: Uint8Array, file: string): Image[] {
  const idx = parseIdxImages(b, file);
  const per = idx.rows * idx.cols;
  return Array.from({ length: idx.n }, (_, k) => ({
    label: idx.n === 1 ? file : `${file}#${k}`,
    height: idx.rows,
    width: idx.cols,
    channels: 1,
    data: Float32Array.from(idx.pixels.subarray(k * per, (k + 1) * per), (v) => v / 255),
  }));
}

/** The images in `file`: PGM (P5), PNG or IDX, told by their first bytes (IDX may be gzipped). */
export async function readImages(file: string): Promise<Image[]> {
  const read = readFileClassified(file);
  if (E.isLeft(read)) throw new DataFileError(file, 'file', read.left.message);
  const raw = new Uint8Array(read.right.buffer, read.right.byteOffset, read.right.byteLength);
  if (raw[0] === 0x50 && raw[1] === 0x35) return [parsePgm(raw, file)];
  if (raw[0] === 0x89 && raw[1] === 0x50 && raw[2] === 0x4e && raw[3] === 0x47) return [await parsePng(raw, file)];
  const b = maybeGunzip(raw, file);
  if (b.length >= 4 && new DataView(b.buffer, b.byteOffset, 4).getUint32(0, false) === IDX_IMAGES_MAGIC) return parseIdxImageFile(b, file);
  const head = Array.from(b.subarray(0, 4), (x) => x.toString(16).padStart(2, '0')).join(' ');
  throw new DataFileError(file, 'format', `is not a binary PGM (P5), a PNG or an IDX image file (first bytes [${head}])`);
}

/** Rec. 601 luma */
const LUMA = [0.299, 0.587, 0.114];

/** One image as a model input `[h, w, c]` (channels converted, never resized). */
export function toInput(img: Image, inputShape: readonly number[]): Float32Array {
  if (inputShape.length !== 3) {
    throw new DataFileError(img.label, 'size', `the model takes input [${inputShape.join(', ')}], not an image [height, width, channels]`);
  }
  const [h, w, c] = inputShape;
  if (img.height !== h || img.width !== w) {
    throw new DataFileError(img.label, 'size', `is ${img.width}×${img.height} (width×height), but the model takes exactly ${w}×${h}×${c}: sttn does not resize, resize the image first`);
  }
  const n = h * w;
  const out = new Float32Array(n * c);
  const src = img.data;
  const ic = img.channels;
  const colour = ic >= 3;
  for (let p = 0; p < n; p++) {
    if (c === 1) out[p] = colour ? Math.fround(LUMA[0] * src[p * ic] + LUMA[1] * src[p * ic + 1] + LUMA[2] * src[p * ic + 2]) : src[p * ic];
    else if (c === 3) for (let k = 0; k < 3; k++) out[p * 3 + k] = colour ? src[p * ic + k] : src[p * ic];
    else throw new DataFileError(img.label, 'channels', `the model takes ${c} channels; only 1 (grey) and 3 (RGB) inputs are supported`);
  }
  return out;
}

/** A batch `[n, ...inputShape]` of images. */
export function batchOf(images: readonly Image[], inputShape: readonly number[]): Tensor {
  const per = inputShape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(images.length * per);
  images.forEach((img, i) => data.set(toInput(img, inputShape), i * per));
  return { shape: [images.length, ...inputShape], data };
}
