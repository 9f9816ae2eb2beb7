/**
 * Mini-batches for one epoch. The order is drawn once, eagerly, from the explicit rng (one
 * `permutation` of n when shuffling; no draw otherwise), so what the caller does with the rng
 * afterwards cannot change the epoch. Index batches are views into that one permutation (no
 * copies); `gather` copies the selected examples, into a caller's buffer when given.
 *
 * The last partial batch: with `dropLast: false` (default) the epoch ends with one smaller batch
 * of n mod batchSize examples, so every example is seen exactly once; with `dropLast: true` it is
 * left out, so every batch has exactly batchSize examples.
 *
 * Law (laws/data.test.ts): the index batches of an epoch, concatenated, are a permutation of
 * 0…n−1 (of its first batchSize·⌊n/batchSize⌋ positions with dropLast); the same rng state gives
 * the same epoch; without shuffle the order is 0…n−1 and the rng is not advanced.
 */
import { ConfigError, ShapeError } from '../errors.js';
import { permutation, type Rng } from '../random.js';
import type { Tensor } from '../tensor.js';
import type { Dataset } from './dataset.js';

export interface EpochOptions {
  /** Draw a random order (default true). */
  readonly shuffle?: boolean;
  /** Leave out the last batch when it is smaller than batchSize (default false). */
  readonly dropLast?: boolean;
}

/** The index batches of one epoch over n examples (subarray views of one Int32Array). */
export function epochIndices(n: number, batchSize: number, rng: Rng, opts: EpochOptions = {}): Int32Array[] {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new ConfigError('batchSize', `must be a positive integer, got ${batchSize}`);
  if (!Number.isInteger(n) || n < 0) throw new ConfigError('n', `must be a non-negative integer, got ${n}`);
  let order: Int32Array;
  if (opts.shuffle ?? true) {
    order = permutation(rng, n);
  } else {
    order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
  }
  const end = opts.dropLast ?? false ? n - (n % batchSize) : n;
  const out: Int32Array[] = [];
  for (let a = 0; a < end; a += batchSize) out.push(order.subarray(a, Math.min(a + batchSize, end)));
  return out;
}

export interface Batch {
  /** [b, h, w, c], same dtype as the dataset's images. */
  readonly images: Tensor;
  readonly labels: Uint8Array;
  /** Positions in the dataset of the examples, in batch order. */
  readonly indices: Int32Array;
}

/**
 * The examples at `indices`. With `out`, writes into its buffers (they must hold at least
 * indices.length examples; the returned batch views the first indices.length of them).
 */
export function gather(ds: Dataset, indices: Int32Array, out?: { images: Tensor; labels: Uint8Array }): Batch {
  const [n, h, w, c] = ds.images.shape;
  const per = h * w * c;
  const b = indices.length;
  const src = ds.images.data;
  let data = out?.images.data;
  let labels = out?.labels;
  if (data === undefined || labels === undefined) {
    data = src instanceof Float64Array ? new Float64Array(b * per) : new Float32Array(b * per);
    labels = new Uint8Array(b);
  } else {
    if (data.length < b * per || labels.length < b) {
      throw new ShapeError('gather: out', [b, h, w, c], [Math.min(Math.floor(data.length / per), labels.length), h, w, c]);
    }
    data = data.subarray(0, b * per);
    labels = labels.subarray(0, b);
  }
  for (let i = 0; i < b; i++) {
    const k = indices[i];
    if (!(k >= 0 && k < n)) throw new ConfigError(`indices[${i}]`, `is ${k}, outside [0, ${n})`);
    data.set(src.subarray(k * per, (k + 1) * per), i * per);
    labels[i] = ds.labels[k];
  }
  return { images: { shape: [b, h, w, c], data }, labels, indices };
}

/**
 * The batches of one epoch, gathered lazily (one batch in memory at a time, each a fresh copy
 * the caller may keep). The order is drawn when this is called, not when iteration starts.
 */
export function batches(ds: Dataset, batchSize: number, rng: Rng, opts: EpochOptions = {}): IterableIterator<Batch> {
  const idx = epochIndices(ds.labels.length, batchSize, rng, opts);
  return (function* () {
    for (const ix of idx) yield gather(ds, ix);
  })();
}
