/**
 * A dataset as plain data: NHWC float32 images in [0, 1], one label byte per image, and the
 * number of classes. Loaders build it; augmentation and batching read it; nothing mutates it.
 *
 * Law (laws/data.test.ts): every loader returns a dataset that `checkDataset` accepts —
 * `images.shape = [n, h, w, c]`, `labels.length = n`, every label `< classes`, pixels in [0, 1].
 */
import { ConfigError, ShapeError, SttnError } from '../errors.js';
import type { Tensor } from '../tensor.js';

export interface Dataset {
  readonly name: string;
  /** NHWC, float32, values in [0, 1]. */
  readonly images: Tensor;
  readonly labels: Uint8Array;
  readonly classes: number;
}

export interface Split {
  readonly train: Dataset;
  readonly test: Dataset;
}

/**
 * A data file whose content is wrong. The message names the file and the field
 * (`train-images-idx3-ubyte.gz: magic number 0x00000802, expected 0x00000803 (images)`),
 * and both are kept as properties so callers can branch on them.
 */
export class DataFileError extends SttnError {
  override readonly name = 'DataFileError';
  constructor(
    readonly file: string,
    readonly field: string,
    detail: string,
  ) {
    super(`${file}: ${field} ${detail}`);
  }
}

/** Throws ShapeError / ConfigError unless `ds` is a well-formed dataset (see the module law). */
export function checkDataset(ds: Dataset): Dataset {
  const s = ds.images.shape;
  if (s.length !== 4) throw new ShapeError(`${ds.name}: images`, '[n, h, w, c]', s);
  if (!(ds.images.data instanceof Float32Array)) throw new ConfigError(`${ds.name}: images`, 'must be float32');
  if (ds.labels.length !== s[0]) throw new ShapeError(`${ds.name}: labels`, [s[0]], [ds.labels.length]);
  if (!Number.isInteger(ds.classes) || ds.classes < 1 || ds.classes > 256) {
    throw new ConfigError(`${ds.name}: classes`, `must be an integer in [1, 256], got ${ds.classes}`);
  }
  for (let i = 0; i < ds.labels.length; i++) {
    if (ds.labels[i] >= ds.classes) {
      throw new ConfigError(`${ds.name}: labels[${i}]`, `is ${ds.labels[i]}, expected < ${ds.classes}`);
    }
  }
  const d = ds.images.data;
  for (let i = 0; i < d.length; i++) {
    if (!(d[i] >= 0 && d[i] <= 1)) throw new ConfigError(`${ds.name}: images`, `value ${d[i]} at flat index ${i} is outside [0, 1]`);
  }
  return ds;
}

/** The byte → [0, 1] scaling every binary loader uses (exact in float32: k/255 rounded once). */
export function bytesToUnit(src: Uint8Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  for (let i = 0; i < src.length; i++) dst[i] = src[i] / 255;
  return dst;
}
