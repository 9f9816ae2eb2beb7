/**
 * sttn/data in browsers (the package's `browser` export condition): everything of index.ts that
 * needs no file system — datasets as plain data, the IDX format from bytes, `gunzip` with
 * `DecompressionStream`, the embedded digits from a URL or bytes (`loadEmbeddedMnistFrom`), the
 * augmentation and batching. The file loaders (`loadIdxDir`, `loadCifar10Dir`, `readBytes`,
 * `loadEmbeddedMnist`…) are Node's only.
 *
 * Law (laws/browser-bundle.test.ts): it bundles for the browser with no Node built-in;
 * laws/api.test.ts: its names are a subset of index.ts's; laws/data.test.ts checks the loaders.
 */
export { checkDataset, DataFileError, bytesToUnit, type Dataset, type Split } from './dataset.js';
export { DATA_FILE_LIMIT, gunzip, startsGzip as isGzip, type ByteLimits, type DeclaredSize } from './gunzip.js';
export { IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, IDX_MAX_BYTES, idxDeclared, parseIdxImages, parseIdxLabels, type IdxImages } from './idx-format.js';
export {
  EMBEDDED_MNIST_COUNTS,
  EMBEDDED_MNIST_FILES,
  MNIST_SIDE,
  loadEmbeddedMnistFrom,
  type EmbeddedMnistOptions,
  type EmbeddedMnistSource,
} from './mnist-split.js';
export { augment, type AugmentOptions } from './augment.js';
export { batches, epochIndices, gather, type Batch, type EpochOptions } from './batches.js';
