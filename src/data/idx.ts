/**
 * IDX files, the format of MNIST, Fashion-MNIST, KMNIST and EMNIST: a big-endian header
 * (magic `0x000008dd` — unsigned bytes, `dd` dimensions — then one uint32 per dimension) followed
 * by the bytes in row-major order. Images are `0x00000803` (n, rows, cols), labels `0x00000801` (n).
 * This module reads IDX files and directories (Node: node:fs); the format itself, from bytes, is
 * idx-format.ts (browser-safe). Files may be plain or gzipped (detected by content, see bytes.ts). Limit: a file may declare at
 * most IDX_MAX_BYTES (1 GiB, or `maxBytes`); the declaration is checked from the header before a
 * gzipped file is inflated, and inflating stops at the declared size.
 *
 * Law (laws/data.test.ts): writing bytes as IDX and loading them gives the tensor `bytes / 255`
 * with shape [n, rows, cols, 1] and the same labels; a plain file and its gzip load equal; every
 * malformed file (magic, header, size, count, label) throws a DataFileError naming file and field;
 * a header declaring more than the limit, and a gzip stream inflating past the declared size,
 * are DataFileErrors that say so; `loadIdxSplit` reads one split as `loadIdxDir` does, from a
 * directory that may hold only that split.
 */
import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ConfigError } from '../errors.js';
import { readBytes } from './bytes.js';
import { bytesToUnit, DataFileError, type Dataset, type Split } from './dataset.js';
import { IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, IDX_MAX_BYTES, idxDeclared, parseIdxImages, parseIdxLabels, type IdxImages } from './idx-format.js';

export { IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, IDX_MAX_BYTES, idxDeclared, parseIdxImages, parseIdxLabels, type IdxImages };

export interface IdxOptions {
  /**
   * Number of classes; every label must be below it. Default: the largest label + 1 (over train
   * and test together in `loadIdxDir`), which is 10 for MNIST, Fashion-MNIST and KMNIST.
   */
  readonly classes?: number;
  /** Swap rows and columns of every image: EMNIST stores its images transposed. Default false. */
  readonly transpose?: boolean;
  /** Dataset name; default the directory's (or the images file's) base name. */
  readonly name?: string;
  /**
   * The most bytes each file may declare (header + data; default IDX_MAX_BYTES, 1 GiB): checked
   * from the header before a gzipped file is inflated, which then stops at the declared size.
   */
  readonly maxBytes?: number;
}

interface RawPair {
  readonly images: IdxImages;
  readonly labels: Uint8Array;
  readonly labelsFile: string;
}

/** The content of an IDX file, within `maxBytes` (see IdxOptions.maxBytes). */
function readIdx(file: string, magic: number, what: string, maxBytes: number): Uint8Array {
  return readBytes(file, { maxBytes, declared: idxDeclared(file, magic, what) });
}

function readPair(imagesFile: string, labelsFile: string, maxBytes = IDX_MAX_BYTES): RawPair {
  const images = parseIdxImages(readIdx(imagesFile, IDX_IMAGES_MAGIC, 'images', maxBytes), imagesFile);
  const labels = parseIdxLabels(readIdx(labelsFile, IDX_LABELS_MAGIC, 'labels', maxBytes), labelsFile);
  if (labels.length !== images.n) {
    throw new DataFileError(labelsFile, 'count', `${labels.length} labels, but ${imagesFile} holds ${images.n} images`);
  }
  return { images, labels, labelsFile };
}

const maxLabel = (l: Uint8Array): number => l.reduce((m, v) => (v > m ? v : m), 0);

function toDataset(p: RawPair, name: string, classes: number, transpose: boolean): Dataset {
  const { n, rows, cols, pixels } = p.images;
  for (let i = 0; i < p.labels.length; i++) {
    if (p.labels[i] >= classes) throw new DataFileError(p.labelsFile, `label[${i}]`, `is ${p.labels[i]}, expected < ${classes}`);
  }
  let data: Float32Array;
  if (!transpose) {
    data = bytesToUnit(pixels);
  } else {
    data = new Float32Array(pixels.length);
    const hw = rows * cols;
    for (let k = 0; k < n; k++) {
      const o = k * hw;
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) data[o + c * rows + r] = pixels[o + r * cols + c] / 255;
    }
  }
  const shape = transpose ? [n, cols, rows, 1] : [n, rows, cols, 1];
  return { name, images: { shape, data }, labels: p.labels.slice(), classes };
}

function checkClasses(classes: number): number {
  if (!Number.isInteger(classes) || classes < 1 || classes > 256) {
    throw new ConfigError('classes', `must be an integer in [1, 256], got ${classes}`);
  }
  return classes;
}

/** One images file and its labels file as a Dataset ([n, rows, cols, 1], values byte / 255). */
export function loadIdxPair(imagesFile: string, labelsFile: string, opts: IdxOptions = {}): Dataset {
  const p = readPair(imagesFile, labelsFile, opts.maxBytes);
  const classes = checkClasses(opts.classes ?? maxLabel(p.labels) + 1);
  return toDataset(p, opts.name ?? basename(imagesFile), classes, opts.transpose ?? false);
}

/**
 * `<prefix>(train|t10k|test)-(images|labels)(-|.)idx(3|1)-ubyte[.gz]`: the standard names of
 * MNIST, Fashion-MNIST and KMNIST (no prefix) and EMNIST (`emnist-balanced-` …).
 */
const IDX_NAME = /^(.*?)(train|t10k|test)-(images|labels)[-.](idx3|idx1)-ubyte(\.gz)?$/;

interface Found {
  readonly file: string;
  readonly prefix: string;
}

export interface IdxDirOptions extends IdxOptions {
  /** Only files whose name starts with this prefix (EMNIST: `emnist-digits-`). Default: any, if unambiguous. */
  readonly prefix?: string;
}

export type IdxSplit = 'train' | 'test';

/** The IDX files of `dir` by `<split> <kind>` ('train images', 'test labels'…), each a map from its name without .gz to the file (plain preferred). */
function scanIdxDir(dir: string, prefix?: string): Map<string, Map<string, Found>> {
  if (!existsSync(dir)) throw new ConfigError('dir', `${dir} does not exist`);
  const groups = new Map<string, Map<string, Found>>();
  for (const f of readdirSync(dir).sort()) {
    const m = IDX_NAME.exec(f);
    if (m === null) continue;
    const [, pre, split, kind, idx, gz] = m;
    if ((kind === 'images') !== (idx === 'idx3')) continue;
    if (prefix !== undefined && pre !== prefix) continue;
    const key = `${split === 'train' ? 'train' : 'test'} ${kind}`;
    const base = gz === undefined ? f : f.slice(0, -3);
    const g = groups.get(key) ?? new Map<string, Found>();
    const prev = g.get(base);
    if (prev === undefined || gz === undefined) g.set(base, { file: join(dir, f), prefix: pre });
    groups.set(key, g);
  }
  return groups;
}

/** The images and labels files of `splits` in one scan of `dir`, all of one prefix; throws a ConfigError naming what is missing or ambiguous. */
function pickIdxFiles(dir: string, splits: readonly IdxSplit[], prefix?: string): Found[] {
  const groups = scanIdxDir(dir, prefix);
  const pick = (key: string): Found => {
    const g = groups.get(key);
    const pattern = `${prefix ?? '<prefix>'}${key.startsWith('train') ? 'train' : '(t10k|test)'}-${key.endsWith('images') ? 'images-idx3' : 'labels-idx1'}-ubyte[.gz]`;
    if (g === undefined || g.size === 0) throw new ConfigError(`${dir}: ${key}`, `no file named ${pattern}`);
    if (g.size > 1) {
      throw new ConfigError(`${dir}: ${key}`, `ambiguous, ${[...g.keys()].join(', ')} all match; pass { prefix }`);
    }
    return [...g.values()][0];
  };
  const found = splits.flatMap((s) => [pick(`${s} images`), pick(`${s} labels`)]);
  const prefixes = new Set(found.map((x) => x.prefix));
  if (prefixes.size > 1) {
    throw new ConfigError(`${dir}: prefix`, `the ${found.length} files disagree (${[...prefixes].map((p) => JSON.stringify(p)).join(', ')}); pass { prefix }`);
  }
  return found;
}

/** The four files of an IDX directory; plain is preferred over .gz when both exist. */
export function findIdxFiles(dir: string, prefix?: string): { trainImages: string; trainLabels: string; testImages: string; testLabels: string } {
  const [trainImages, trainLabels, testImages, testLabels] = pickIdxFiles(dir, ['train', 'test'], prefix).map((f) => f.file);
  return { trainImages, trainLabels, testImages, testLabels };
}

/**
 * One split of an IDX directory, the other split's files not read nor needed (`sttn eval` reads
 * only the test split). Its classes default to its own largest label + 1; its name is
 * `<name>/<split>`, as in `loadIdxDir`.
 */
export function loadIdxSplit(dir: string, split: IdxSplit, opts: IdxDirOptions = {}): Dataset {
  const [images, labels] = pickIdxFiles(dir, [split], opts.prefix);
  const p = readPair(images.file, labels.file, opts.maxBytes);
  const classes = checkClasses(opts.classes ?? maxLabel(p.labels) + 1);
  return toDataset(p, `${opts.name ?? basename(dir)}/${split}`, classes, opts.transpose ?? false);
}

/** The train and test sets of an IDX directory (MNIST, Fashion-MNIST, KMNIST, EMNIST). */
export function loadIdxDir(dir: string, opts: IdxDirOptions = {}): Split {
  const f = findIdxFiles(dir, opts.prefix);
  const train = readPair(f.trainImages, f.trainLabels, opts.maxBytes);
  const test = readPair(f.testImages, f.testLabels, opts.maxBytes);
  if (train.images.rows !== test.images.rows || train.images.cols !== test.images.cols) {
    throw new DataFileError(
      f.testImages,
      'dimensions',
      `${test.images.rows}×${test.images.cols}, but ${f.trainImages} has ${train.images.rows}×${train.images.cols}`,
    );
  }
  const classes = checkClasses(opts.classes ?? Math.max(maxLabel(train.labels), maxLabel(test.labels)) + 1);
  const name = opts.name ?? basename(dir);
  const transpose = opts.transpose ?? false;
  return {
    train: toDataset(train, `${name}/train`, classes, transpose),
    test: toDataset(test, `${name}/test`, classes, transpose),
  };
}

