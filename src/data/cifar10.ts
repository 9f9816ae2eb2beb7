/**
 * CIFAR-10 binary version (`data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin`): records of
 * one label byte followed by 3·32·32 pixel bytes, channel-planar (all R, then all G, then all B,
 * each 32×32 row-major). Loaded as NHWC [n, 32, 32, 3] float32, byte / 255.
 *
 * Law (laws/data.test.ts): for every record bytes written as a file, the loaded pixel
 * (k, y, x, c) equals byte[k·3073 + 1 + c·1024 + y·32 + x] / 255 and the label equals
 * byte[k·3073]; a size that is not a positive multiple of 3073, or a label ≥ 10, throws a
 * DataFileError naming the file and the field; a file larger than the limit (60,000 records by
 * default) is a DataFileError saying "exceeds N bytes".
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { readBytes } from './bytes.js';
import { DataFileError, type Dataset, type Split } from './dataset.js';

export const CIFAR10_SIDE = 32;
export const CIFAR10_PLANE = CIFAR10_SIDE * CIFAR10_SIDE;
export const CIFAR10_RECORD = 1 + 3 * CIFAR10_PLANE;
export const CIFAR10_CLASSES = 10;
export const CIFAR10_LABELS = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'] as const;
/**
 * The most bytes a batch file (or its gunzipped content) may have unless told otherwise: 60,000
 * records, all of CIFAR-10 in one file (184,380,000 bytes; a real batch file holds 10,000).
 */
export const CIFAR10_MAX_BYTES = 60_000 * CIFAR10_RECORD;

/** Number of records in a CIFAR-10 batch file; throws unless the size is a positive multiple of 3073. */
export function cifar10Records(bytes: Uint8Array, file: string): number {
  if (bytes.length === 0 || bytes.length % CIFAR10_RECORD !== 0) {
    throw new DataFileError(
      file,
      'size',
      `${bytes.length} bytes is not a positive multiple of the ${CIFAR10_RECORD}-byte record (1 label + 3·32·32 pixels)` +
        (bytes.length > 0 ? `: ${Math.floor(bytes.length / CIFAR10_RECORD)} records and ${bytes.length % CIFAR10_RECORD} bytes left over` : ''),
    );
  }
  return bytes.length / CIFAR10_RECORD;
}

/**
 * Decodes every record of `bytes` into `images` (NHWC) and `labels`, starting at record `at`
 * (destination-passing, so several batch files fill one allocation). Returns the record count.
 */
export function decodeCifar10Into(bytes: Uint8Array, file: string, images: Float32Array, labels: Uint8Array, at: number): number {
  const n = cifar10Records(bytes, file);
  if ((at + n) * CIFAR10_PLANE * 3 > images.length || at + n > labels.length) {
    throw new ConfigError('at', `records ${at}…${at + n - 1} of ${file} do not fit a destination of ${labels.length} records`);
  }
  for (let k = 0; k < n; k++) {
    const src = k * CIFAR10_RECORD;
    const label = bytes[src];
    if (label >= CIFAR10_CLASSES) throw new DataFileError(file, `label of record ${k}`, `is ${label}, expected < ${CIFAR10_CLASSES}`);
    labels[at + k] = label;
    const dst = (at + k) * CIFAR10_PLANE * 3;
    for (let c = 0; c < 3; c++) {
      const plane = src + 1 + c * CIFAR10_PLANE;
      for (let p = 0; p < CIFAR10_PLANE; p++) images[dst + p * 3 + c] = bytes[plane + p] / 255;
    }
  }
  return n;
}

export interface Cifar10FileOptions {
  /** The most bytes each file, and its content once gunzipped, may have (default CIFAR10_MAX_BYTES). */
  readonly maxBytes?: number;
}

/**
 * One or more CIFAR-10 batch files, concatenated in the given order, as one Dataset. Limit: each
 * file at most `opts.maxBytes` bytes (default CIFAR10_MAX_BYTES, 60,000 records), gunzipped or not.
 */
export function loadCifar10Files(files: readonly string[], name: string, opts: Cifar10FileOptions = {}): Dataset {
  const maxBytes = opts.maxBytes ?? CIFAR10_MAX_BYTES;
  const contents = files.map((f) => {
    if (!existsSync(f)) throw new ConfigError('file', `${f} does not exist`);
    return readBytes(f, { maxBytes });
  });
  const n = contents.reduce((s, b, i) => s + cifar10Records(b, files[i]), 0);
  const images = new Float32Array(n * CIFAR10_PLANE * 3);
  const labels = new Uint8Array(n);
  let at = 0;
  for (let i = 0; i < files.length; i++) at += decodeCifar10Into(contents[i], files[i], images, labels, at);
  return { name, images: { shape: [n, CIFAR10_SIDE, CIFAR10_SIDE, 3], data: images }, labels, classes: CIFAR10_CLASSES };
}

export interface Cifar10DirOptions extends Cifar10FileOptions {
  /** How many of data_batch_1 … data_batch_5 make the training set (default 5, all of them). */
  readonly trainBatches?: number;
  readonly name?: string;
}

/**
 * The train set (data_batch_1.bin … data_batch_5.bin, in order) and the test set
 * (test_batch.bin) of a CIFAR-10 binary directory, or of its `cifar-10-batches-bin` child.
 */
export function loadCifar10Dir(dir: string, opts: Cifar10DirOptions = {}): Split {
  const nested = join(dir, 'cifar-10-batches-bin');
  const root = existsSync(nested) && statSync(nested).isDirectory() ? nested : dir;
  const k = opts.trainBatches ?? 5;
  if (!Number.isInteger(k) || k < 1 || k > 5) throw new ConfigError('trainBatches', `must be an integer in [1, 5], got ${k}`);
  const trainFiles = Array.from({ length: k }, (_, i) => join(root, `data_batch_${i + 1}.bin`));
  const name = opts.name ?? 'cifar10';
  return {
    train: loadCifar10Files(trainFiles, `${name}/train`, opts),
    test: loadCifar10Files([join(root, 'test_batch.bin')], `${name}/test`, opts),
  };
}
