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
 * Limits, all checked before pixels are decoded or inflated: the file (and a gzipped IDX file's
 * content) at most IMAGE_FILE_LIMIT bytes (128 MiB); each image's width and height as its header
 * declares them (PNG IHDR, PGM header, IDX dimensions) equal to the model's input size when the
 * reader is given it (`inputShape`), else at most MAX_IMAGE_PIXELS pixels (2048×2048); a PNG's
 * image data inflates to at most what its declared size and colour type hold.
 *
 * Law (laws/engine.test.ts): a PGM, a PNG and an IDX file of the same pixels give the same input
 * tensor; a wrong size or a malformed file is a DataFileError naming the file and the field.
 * (laws/images.test.ts): each format read back equal within the limits; a header declaring
 * another size than the model's, or more pixels than the limit, is refused before any large
 * allocation; a PNG whose data inflates past its declared size, and a gzip bomb, are refused.
 */
import * as E from 'fp-ts/lib/Either.js';
import { inflateSync } from 'node:zlib';
import { maybeGunzip } from '../data/bytes.js';
import { DataFileError } from '../data/dataset.js';
import { IDX_IMAGES_MAGIC, idxDeclared, parseIdxImages } from '../data/idx.js';
import { gunzipHead, readFileClassified } from '../files.js';
import type { Tensor } from '../tensor.js';

/** The most bytes an image file, and a gzipped IDX file's content, may have unless told otherwise: 128 MiB. */
export const IMAGE_FILE_LIMIT = 2 ** 27;

/** The most pixels (width·height) an image may have when the model's input size is not given: 2^22 (2048×2048). */
export const MAX_IMAGE_PIXELS = 2 ** 22;

/** How large an image may be; every check is made from the header, before the pixels are decoded. */
export interface ImageLimits {
  /** The model's input `[h, w, c]`: every image must be h×w. */
  readonly inputShape?: readonly number[];
  /** Without `inputShape`: the most pixels (width·height) an image may have (default MAX_IMAGE_PIXELS). */
  readonly maxPixels?: number;
  /** The most bytes the file, and a gzipped IDX file's content, may have (default IMAGE_FILE_LIMIT). */
  readonly maxBytes?: number;
}

const notAnImageInput = (label: string, inputShape: readonly number[]): DataFileError =>
  new DataFileError(label, 'size', `the model takes input [${inputShape.join(', ')}], not an image [height, width, channels]`);

const wrongSize = (label: string, width: number, height: number, inputShape: readonly number[]): DataFileError => {
  const [h, w, c] = inputShape;
  return new DataFileError(label, 'size', `is ${width}×${height} (width×height), but the model takes exactly ${w}×${h}×${c}: sttn does not resize, resize the image first`);
};

/** Throws unless a `width`×`height` image, as its header declares it, is within `limits`. */
function checkDeclaredSize(label: string, width: number, height: number, limits: ImageLimits): void {
  const shape = limits.inputShape;
  if (shape !== undefined) {
    if (shape.length !== 3) throw notAnImageInput(label, shape);
    if (width !== shape[1] || height !== shape[0]) throw wrongSize(label, width, height, shape);
    return;
  }
  const max = limits.maxPixels ?? MAX_IMAGE_PIXELS;
  if (!(width * height <= max)) {
    throw new DataFileError(label, 'size', `is ${width}×${height} (width×height): ${width * height} pixels exceed ${max}, the limit for an image`);
  }
}

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

/**
 * A binary greymap (P5): `P5 width height maxval` then one (maxval < 256) or two (big-endian) bytes
 * per pixel. Limit: the declared width×height within `limits`, checked before the pixels are read.
 */
export function parsePgm(b: Uint8Array, file: string, limits: ImageLimits = {}): Image {
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
  checkDeclaredSize(file, width, height, limits);
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

/** Samples per pixel of each PNG colour type (grey, RGB, palette index, grey + alpha, RGBA). */
const PNG_CHANNELS: Readonly<Record<number, number>> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** Adam7: x start, y start, x step, y step of each of the seven passes. */
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]];

/** The bytes the image data of a PNG inflates to: filter byte + packed samples per row (per pass when interlaced). */
function pngDataBytes(width: number, height: number, bitsPerPixel: number, interlaced: boolean): number {
  const rows = (w: number, h: number) => (w > 0 && h > 0 ? h * (Math.ceil((w * bitsPerPixel) / 8) + 1) : 0);
  if (!interlaced) return rows(width, height);
  return ADAM7.reduce((sum, [x0, y0, dx, dy]) => sum + rows(Math.ceil((width - x0) / dx), Math.ceil((height - y0) / dy)), 0);
}

/**
 * A PNG of any colour type and depth, as grey (1 channel) or RGB (3) or RGBA (4), 8 bits per
 * sample. Checked before pngjs decodes anything: exactly one IHDR, the size it declares within
 * `limits`, and image data (IDAT) that inflates to exactly the bytes that size, colour type and
 * depth hold (no more: a bomb; no less: pngjs would fill the rest from uninitialised memory).
 */
export async function parsePng(b: Uint8Array, file: string, limits: ImageLimits = {}): Promise<Image> {
  if (b.length < 33) throw new DataFileError(file, 'png', `is truncated: ${b.length} bytes, shorter than a signature and an IHDR chunk`);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const type = (at: number) => String.fromCharCode(b[at], b[at + 1], b[at + 2], b[at + 3]);
  if (view.getUint32(8) !== 13 || type(12) !== 'IHDR') throw new DataFileError(file, 'png', 'does not start with an IHDR chunk');
  const width = view.getUint32(16);
  const height = view.getUint32(20);
  if (width < 1 || height < 1) throw new DataFileError(file, 'size', `${width}×${height} has no pixels`);
  checkDeclaredSize(file, width, height, limits);
  // pngjs inflates an interlaced image without a bound: inflate the image data here first, with one
  const depth = b[24];
  const bound = pngDataBytes(width, height, (PNG_CHANNELS[b[25]] ?? 4) * (depth >= 1 && depth <= 16 ? depth : 16), b[28] !== 0);
  const idat: Uint8Array[] = [];
  let headers = 0;
  for (let at = 8; at + 12 <= b.length; ) {
    const end = at + 12 + view.getUint32(at);
    if (end > b.length || type(at + 4) === 'IEND') break;
    if (type(at + 4) === 'IHDR') headers++;
    if (type(at + 4) === 'IDAT') idat.push(b.subarray(at + 8, end - 4));
    at = end;
  }
  if (headers !== 1) throw new DataFileError(file, 'png', `has ${headers} IHDR chunks; a PNG has exactly one`);
  // the image data must inflate to exactly what the declared size holds: pngjs fills a shortfall
  // from uninitialised memory (different pixels on every read), so a short image is refused here
  let inflated: number;
  try {
    inflated = inflateSync(Buffer.concat(idat), { maxOutputLength: Math.max(1, bound) }).length;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new DataFileError(file, 'png', `image data: decompressed size exceeds ${bound} bytes, what a ${width}×${height} image of colour type ${b[25]} and depth ${depth} holds`);
    }
    throw new DataFileError(file, 'png', `image data (${idat.length} IDAT chunks) cannot be decompressed: ${(e as Error).message}`);
  }
  if (inflated !== bound) {
    throw new DataFileError(file, 'png', `image data holds ${inflated} bytes, but a ${width}×${height} image of colour type ${b[25]} and depth ${depth} needs exactly ${bound}`);
  }
  const { default: pngjs } = await import('pngjs');
  let png;
  try {
    png = pngjs.PNG.sync.read(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  } catch (e) {
    throw new DataFileError(file, 'png', `cannot be decoded: ${(e as Error).message}`);
  }
  if (png.width !== width || png.height !== height || png.data.length < 4 * width * height) {
    throw new DataFileError(file, 'png', `decoded as ${png.width}×${png.height}, but IHDR declares ${width}×${height}`);
  }
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

/**
 * The images in `file`: PGM (P5), PNG or IDX, told by their first bytes (IDX may be gzipped).
 * Limits (`limits`, see ImageLimits): the file at most 128 MiB, read from disk or a pipe; each
 * image's declared size equal to `inputShape`'s, or at most 2048×2048 pixels without it; a gzipped
 * IDX file inflates to exactly the size its header declares. Each is checked from the header,
 * before the pixels are decoded, and is a DataFileError naming the file and the field.
 */
export async function readImages(file: string, limits: ImageLimits = {}): Promise<Image[]> {
  const maxBytes = limits.maxBytes ?? IMAGE_FILE_LIMIT;
  const read = readFileClassified(file, { maxBytes });
  if (E.isLeft(read)) throw new DataFileError(file, 'file', read.left.message);
  const raw = new Uint8Array(read.right.buffer, read.right.byteOffset, read.right.byteLength);
  if (raw[0] === 0x50 && raw[1] === 0x35) return [parsePgm(raw, file, limits)];
  if (raw[0] === 0x89 && raw[1] === 0x50 && raw[2] === 0x4e && raw[3] === 0x47) return [await parsePng(raw, file, limits)];
  const head = gunzipHead(raw, 4);
  if (E.isLeft(head)) throw new DataFileError(file, 'gzip stream', `cannot be decompressed: ${head.left.message}`);
  const h = head.right;
  if (h.length >= 4 && new DataView(h.buffer, h.byteOffset, 4).getUint32(0, false) === IDX_IMAGES_MAGIC) {
    const declared = idxDeclared(file, IDX_IMAGES_MAGIC, 'images', ([, rows, cols]) => checkDeclaredSize(file, cols, rows, limits));
    return parseIdxImageFile(maybeGunzip(raw, file, { maxBytes, declared }), file);
  }
  const first = Array.from(h.subarray(0, 4), (x) => x.toString(16).padStart(2, '0')).join(' ');
  throw new DataFileError(file, 'format', `is not a binary PGM (P5), a PNG or an IDX image file (first bytes [${first}])`);
}

/** Rec. 601 luma */
const LUMA = [0.299, 0.587, 0.114];

/** One image as a model input `[h, w, c]` (channels converted, never resized). */
export function toInput(img: Image, inputShape: readonly number[]): Float32Array {
  if (inputShape.length !== 3) throw notAnImageInput(img.label, inputShape);
  const [h, w, c] = inputShape;
  if (img.height !== h || img.width !== w) throw wrongSize(img.label, img.width, img.height, inputShape);
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
