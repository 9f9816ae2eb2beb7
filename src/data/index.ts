/**
 * sttn/data: datasets as plain data (NHWC float32 images in [0, 1], label bytes) — the embedded
 * MNIST digits, IDX and CIFAR-10 binary loaders, the paper's pad-and-crop augmentation and
 * deterministic batching. Every source of randomness is an explicit `Rng`.
 *
 * Law (laws/data.test.ts): loaders round-trip the bytes they read (byte / 255), malformed files
 * throw a DataFileError naming file and field, and everything random is a function of the rng state.
 *
 * Node only: the loaders read files with node:fs and node:zlib. Browsers get browser.ts through the
 * package's `browser` export condition: the same names minus the file loaders, plus
 * `loadEmbeddedMnistFrom` (a URL or bytes) and `gunzip` (DecompressionStream), which Node has too.
 */
export { checkDataset, DataFileError, bytesToUnit, type Dataset, type Split } from './dataset.js';
export { DATA_FILE_LIMIT, isGzip, maybeGunzip, readBytes, type ByteLimits, type DeclaredSize } from './bytes.js';
export {
  IDX_IMAGES_MAGIC,
  IDX_LABELS_MAGIC,
  IDX_MAX_BYTES,
  findIdxFiles,
  idxDeclared,
  loadIdxDir,
  loadIdxPair,
  loadIdxSplit,
  parseIdxImages,
  parseIdxLabels,
  type IdxDirOptions,
  type IdxImages,
  type IdxOptions,
  type IdxSplit,
} from './idx.js';
export {
  CIFAR10_CLASSES,
  CIFAR10_LABELS,
  CIFAR10_MAX_BYTES,
  CIFAR10_RECORD,
  cifar10Records,
  decodeCifar10Into,
  loadCifar10Dir,
  loadCifar10Files,
  type Cifar10DirOptions,
  type Cifar10FileOptions,
} from './cifar10.js';
export {
  EMBEDDED_MNIST_COUNTS,
  EMBEDDED_MNIST_FILES,
  MNIST_SIDE,
  embeddedMnistCounts,
  loadEmbeddedMnist,
  loadEmbeddedMnistFrom,
  type EmbeddedMnistOptions,
  type EmbeddedMnistSource,
} from './mnist-embedded.js';
export { gunzip } from './gunzip.js';
export { augment, type AugmentOptions } from './augment.js';
export { batches, epochIndices, gather, type Batch, type EpochOptions } from './batches.js';
