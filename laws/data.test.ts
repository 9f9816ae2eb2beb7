/**
 * Laws of src/data: loaders round-trip the bytes they read, malformed files throw a
 * DataFileError naming the file and the field, the embedded MNIST split is stratified, disjoint,
 * deterministic and of the documented size, and augmentation and batching are functions of the
 * rng state; every file is held to a size limit (a header declaring too much, a gzip bomb, a file
 * past the limit are DataFileErrors saying so, before anything that large is allocated). Every
 * file is written here, in a temporary directory, from drawn bytes.
 */
import fc from 'fast-check';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { gzipSync } from 'node:zlib';
import { ConfigError, ShapeError } from '../src/errors.js';
import { int, restore, rng, snapshot, uniform, type Rng } from '../src/random.js';
import { tensorEqual, type Tensor } from '../src/tensor.js';
import {
  augment,
  batches,
  checkDataset,
  CIFAR10_RECORD,
  DataFileError,
  EMBEDDED_MNIST_COUNTS,
  embeddedMnistCounts,
  epochIndices,
  gather,
  loadCifar10Dir,
  loadEmbeddedMnist,
  loadIdxDir,
  loadCifar10Files,
  loadIdxPair,
  maybeGunzip,
  readBytes,
  type Dataset,
} from '../src/data/index.js';
import { loadIdxSplit } from '../src/data/idx.js';
import { example, law, throwsWith } from './law.js';

// ---------------------------------------------------------------------------------------------
// Fixtures: a temp dir per case, IDX and CIFAR writers.

const root = mkdtempSync(join(tmpdir(), 'sttn-data-'));
after(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const freshDir = (): string => {
  const d = join(root, `case-${counter++}`);
  mkdirSync(d);
  return d;
};

function idx(magic: number, dims: readonly number[], body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + body.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, magic, false);
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
  out.set(body, 4 + 4 * dims.length);
  return out;
}

interface Digits {
  readonly n: number;
  readonly rows: number;
  readonly cols: number;
  readonly pixels: Uint8Array;
  readonly labels: Uint8Array;
}

const digitsOf = (rows: number, cols: number): fc.Arbitrary<Digits> =>
  fc.integer({ min: 0, max: 6 }).chain((n) =>
    fc.record({
      n: fc.constant(n),
      rows: fc.constant(rows),
      cols: fc.constant(cols),
      pixels: fc.uint8Array({ minLength: n * rows * cols, maxLength: n * rows * cols }),
      labels: fc.uint8Array({ minLength: n, maxLength: n, max: 9 }),
    }),
  );

const sideArb = fc.integer({ min: 1, max: 5 });

const digitsArb = (): fc.Arbitrary<Digits> => fc.tuple(sideArb, sideArb).chain(([r, c]) => digitsOf(r, c));

/** A train set and a test set of the same image size. */
const splitArb: fc.Arbitrary<[Digits, Digits]> = fc.tuple(sideArb, sideArb).chain(([r, c]) => fc.tuple(digitsOf(r, c), digitsOf(r, c)));

const imagesFile = (d: Digits): Uint8Array => idx(0x803, [d.n, d.rows, d.cols], d.pixels);
const labelsFile = (d: Digits): Uint8Array => idx(0x801, [d.n], d.labels);

/** Writes the four MNIST files; `gz[i]` picks gzip for file i. */
function writeIdxDir(dir: string, train: Digits, test: Digits, gz: readonly boolean[] = [false, false, false, false], testPrefix = 't10k'): void {
  const files: [string, Uint8Array][] = [
    ['train-images-idx3-ubyte', imagesFile(train)],
    ['train-labels-idx1-ubyte', labelsFile(train)],
    [`${testPrefix}-images-idx3-ubyte`, imagesFile(test)],
    [`${testPrefix}-labels-idx1-ubyte`, labelsFile(test)],
  ];
  files.forEach(([name, bytes], i) => writeFileSync(join(dir, gz[i] ? `${name}.gz` : name), gz[i] ? gzipSync(bytes) : bytes));
}

/** The dataset the law says these bytes must load as. */
function expectedIdx(d: Digits): { images: Tensor; labels: Uint8Array } {
  return { images: { shape: [d.n, d.rows, d.cols, 1], data: Float32Array.from(d.pixels, (b) => b / 255) }, labels: d.labels };
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((v, i) => v === b[i]);
const dsEqual = (a: Dataset, b: { images: Tensor; labels: Uint8Array }): boolean =>
  a.images.data instanceof Float32Array && tensorEqual(a.images, b.images) && sameBytes(a.labels, b.labels);

const smallDigits: Digits = {
  n: 3,
  rows: 2,
  cols: 2,
  pixels: Uint8Array.from({ length: 12 }, (_, i) => i * 20),
  labels: Uint8Array.from([0, 9, 4]),
};

// ---------------------------------------------------------------------------------------------
// IDX

law(
  'idx: written bytes load as bytes / 255 in [n, rows, cols, 1], plain or gzipped, test named t10k- or test-',
  [splitArb, fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), fc.constantFrom('t10k', 'test')],
  ([train, test], gz, prefix) => {
    const dir = freshDir();
    writeIdxDir(dir, train, test, gz, prefix);
    const s = loadIdxDir(dir, { classes: 10 });
    return dsEqual(s.train, expectedIdx(train)) && dsEqual(s.test, expectedIdx(test)) && s.train.classes === 10 && checkDataset(s.test) === s.test;
  },
  { numRuns: 40 },
);

law(
  'idx: a plain directory and its gzipped copy load equal',
  [splitArb],
  ([train, test]) => {
    const a = freshDir();
    const b = freshDir();
    writeIdxDir(a, train, test);
    writeIdxDir(b, train, test, [true, true, true, true]);
    const x = loadIdxDir(a);
    const y = loadIdxDir(b);
    return dsEqual(x.train, y.train) && dsEqual(x.test, y.test) && x.train.classes === y.train.classes;
  },
  { numRuns: 25 },
);

law(
  'idx: loadIdxSplit(dir, split) reads only that split: the same images and labels as loadIdxDir, and a directory holding only that split (the other one missing) loads',
  [splitArb, fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), fc.constantFrom('t10k', 'test'), fc.constantFrom('train' as const, 'test' as const)],
  ([train, test], gz, prefix, split) => {
    const whole = freshDir();
    writeIdxDir(whole, train, test, gz, prefix);
    const both = loadIdxDir(whole, { classes: 10 });
    // the same directory without the other split's two files
    const alone = freshDir();
    writeIdxDir(alone, train, test, gz, prefix);
    for (const f of readdirSync(alone)) if ((split === 'test') === f.startsWith('train-')) rmSync(join(alone, f));
    const a = loadIdxSplit(whole, split, { classes: 10 });
    const b = loadIdxSplit(alone, split, { classes: 10 });
    const want = split === 'train' ? train : test;
    return dsEqual(a, expectedIdx(want)) && dsEqual(b, expectedIdx(want)) && dsEqual(both[split], expectedIdx(want)) && a.name.endsWith(`/${split}`) && b.classes === 10;
  },
  { numRuns: 30 },
);

example('idx: loadIdxSplit of a directory without that split is a ConfigError naming the directory and the expected name; its classes default to its own largest label + 1', () => {
  const dir = freshDir();
  writeFileSync(join(dir, 't10k-images-idx3-ubyte'), imagesFile(smallDigits));
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), labelsFile(smallDigits));
  return throwsWith(() => loadIdxSplit(dir, 'train'), ConfigError, dir, 'train images', 'train-images-idx3-ubyte') && loadIdxSplit(dir, 'test').classes === 10;
});

law('gzip is detected by content: maybeGunzip(gzip(b)) = b', [fc.uint8Array({ maxLength: 64 })], (b) => {
  const plain = b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b ? b : maybeGunzip(b, 'x');
  return sameBytes(maybeGunzip(gzipSync(b), 'x.gz'), b) && sameBytes(plain, b);
});

example('idx: classes default to the largest label + 1 over train and test', () => {
  const dir = freshDir();
  writeIdxDir(dir, { ...smallDigits, labels: Uint8Array.from([0, 3, 1]) }, { ...smallDigits, labels: Uint8Array.from([0, 1, 5]) });
  const s = loadIdxDir(dir);
  return s.train.classes === 6 && s.test.classes === 6 && s.train.name.endsWith('/train');
});

example('idx: the dotted name train-images.idx3-ubyte and a .gz-named plain file are found and read', () => {
  const dir = freshDir();
  writeFileSync(join(dir, 'train-images.idx3-ubyte'), imagesFile(smallDigits));
  writeFileSync(join(dir, 'train-labels.idx1-ubyte.gz'), labelsFile(smallDigits));
  writeFileSync(join(dir, 't10k-images-idx3-ubyte.gz'), gzipSync(imagesFile(smallDigits)));
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), labelsFile(smallDigits));
  const s = loadIdxDir(dir);
  return dsEqual(s.train, expectedIdx(smallDigits)) && dsEqual(s.test, expectedIdx(smallDigits));
});

example('idx: EMNIST prefixes are chosen with { prefix }, ambiguity is a ConfigError, transpose swaps axes', () => {
  const dir = freshDir();
  const digits = { ...smallDigits, rows: 2, cols: 3, n: 2, pixels: Uint8Array.from({ length: 12 }, (_, i) => i), labels: Uint8Array.from([1, 2]) };
  for (const p of ['emnist-digits-', 'emnist-letters-']) {
    writeFileSync(join(dir, `${p}train-images-idx3-ubyte`), imagesFile(digits));
    writeFileSync(join(dir, `${p}train-labels-idx1-ubyte`), labelsFile(digits));
    writeFileSync(join(dir, `${p}test-images-idx3-ubyte`), imagesFile(digits));
    writeFileSync(join(dir, `${p}test-labels-idx1-ubyte`), labelsFile(digits));
  }
  const ambiguous = throwsWith(() => loadIdxDir(dir), ConfigError, 'ambiguous', 'emnist-digits-train-images-idx3-ubyte', 'prefix');
  const s = loadIdxDir(dir, { prefix: 'emnist-letters-', transpose: true });
  const t = s.train.images;
  // Image 0 stored row-major 2×3 as 0..5; transposed it is 3×2 with (r, c) = stored (c, r).
  const transposed = t.shape.join() === '2,3,2,1' && [0, 3, 1, 4, 2, 5].every((v, i) => t.data[i] === Math.fround(v / 255));
  return ambiguous && transposed && s.train.classes === 3;
});

example('idx: a missing file is a ConfigError naming the directory and the expected name', () => {
  const dir = freshDir();
  writeFileSync(join(dir, 'train-images-idx3-ubyte'), imagesFile(smallDigits));
  return throwsWith(() => loadIdxDir(dir), ConfigError, dir, 'train labels', 'train-labels-idx1-ubyte');
});

/** Writes a valid directory with one file replaced, then loads it. */
function loadWith(name: string, bytes: Uint8Array, gz = false): () => unknown {
  const dir = freshDir();
  writeIdxDir(dir, smallDigits, smallDigits, [gz, gz, gz, gz]);
  const file = gz ? `${name}.gz` : name;
  writeFileSync(join(dir, file), gz ? gzipSync(bytes) : bytes);
  return () => loadIdxDir(dir, { classes: 10 });
}

example('idx corruption: bad images magic names file, field and both values', () =>
  throwsWith(
    loadWith('train-images-idx3-ubyte', idx(0x802, [3, 2, 2], smallDigits.pixels), true),
    DataFileError,
    'train-images-idx3-ubyte.gz: magic number 0x00000802, expected 0x00000803 (images)',
  ),
);

example('idx corruption: bad labels magic', () =>
  throwsWith(
    loadWith('t10k-labels-idx1-ubyte', idx(0x803, [3, 1, 1], smallDigits.labels)),
    DataFileError,
    't10k-labels-idx1-ubyte: magic number 0x00000803, expected 0x00000801 (labels)',
  ),
);

law(
  'idx corruption: every truncation of a valid file throws a DataFileError naming that file',
  [digitsArb(), fc.boolean(), fc.nat(), fc.boolean()],
  (d, images, cut, gz) => {
    const full = images ? imagesFile(d) : labelsFile(d);
    const len = cut % full.length;
    const name = images ? 'train-images-idx3-ubyte' : 'train-labels-idx1-ubyte';
    const field = len < 4 ? 'magic number' : len < (images ? 16 : 8) ? 'header' : 'size';
    return throwsWith(loadWith(name, full.subarray(0, len), gz), DataFileError, name, field);
  },
  { numRuns: 40 },
);

example('idx corruption: a truncated body and trailing bytes are size errors with both sizes', () => {
  const body = imagesFile(smallDigits);
  const short = throwsWith(loadWith('t10k-images-idx3-ubyte', body.subarray(0, body.length - 1)), DataFileError, 't10k-images-idx3-ubyte: size 27 bytes, expected 28', 'truncated');
  const long = throwsWith(loadWith('t10k-images-idx3-ubyte', Uint8Array.from([...body, 0])), DataFileError, 'size 29 bytes, expected 28', 'trailing');
  return short && long;
});

example('idx corruption: images and labels counts disagree', () =>
  throwsWith(
    loadWith('train-labels-idx1-ubyte', idx(0x801, [2], Uint8Array.from([1, 2]))),
    DataFileError,
    'train-labels-idx1-ubyte: count 2 labels',
    'train-images-idx3-ubyte holds 3 images',
  ),
);

example('idx corruption: train and test images of different sizes name the test file and both sizes', () =>
  throwsWith(loadWith('t10k-images-idx3-ubyte', idx(0x803, [3, 2, 1], new Uint8Array(6))), DataFileError, 't10k-images-idx3-ubyte: dimensions 2×1', 'has 2×2'),
);

example('idx corruption: a label ≥ classes names the file and the label index', () =>
  throwsWith(loadWith('t10k-labels-idx1-ubyte', idx(0x801, [3], Uint8Array.from([1, 2, 10]))), DataFileError, 't10k-labels-idx1-ubyte: label[2] is 10, expected < 10'),
);

example('idx corruption: a broken gzip stream names the file', () => {
  const dir = freshDir();
  writeIdxDir(dir, smallDigits, smallDigits, [true, true, true, true]);
  const z = gzipSync(imagesFile(smallDigits));
  writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), z.subarray(0, z.length - 6));
  return throwsWith(() => loadIdxDir(dir), DataFileError, 'train-images-idx3-ubyte.gz: gzip stream');
});

example('idx: loadIdxPair reads one pair and names the dataset after the images file', () => {
  const dir = freshDir();
  writeIdxDir(dir, smallDigits, smallDigits);
  const ds = loadIdxPair(join(dir, 'train-images-idx3-ubyte'), join(dir, 'train-labels-idx1-ubyte'));
  return dsEqual(ds, expectedIdx(smallDigits)) && ds.classes === 10 && ds.name === 'train-images-idx3-ubyte';
});

// ---------------------------------------------------------------------------------------------
// Size limits: a header declaring more than the limit is refused before the rest is inflated, a
// gzip stream stops inflating at its bound, and a file past its limit is refused.

/** `len` bytes of zeros after `head`, gzipped: a small file that inflates to `head.length + len`. */
const bombAfter = (head: Uint8Array, len: number): Uint8Array => {
  const out = new Uint8Array(head.length + len);
  out.set(head);
  return gzipSync(out);
};

law(
  'idx limits: a header declaring more than maxBytes (header + n·rows·cols) is a DataFileError saying so, plain or gzipped, whatever follows it',
  [fc.tuple(fc.integer({ min: 1, max: 1000 }), sideArb, sideArb), fc.nat({ max: 5000 }), fc.boolean(), fc.nat({ max: 2_000_000 })],
  ([n, rows, cols], maxBytes, gz, tail) => {
    const dir = freshDir();
    const declared = 16 + n * rows * cols;
    const head = idx(0x803, [n, rows, cols], new Uint8Array(0));
    const content = 16 + (gz ? tail : Math.min(tail, declared - 16));
    const bytes = gz ? bombAfter(head, tail) : Uint8Array.from([...head, ...new Uint8Array(content - 16)]);
    writeFileSync(join(dir, 'i'), bytes);
    writeFileSync(join(dir, 'l'), idx(0x801, [n], new Uint8Array(n)));
    const load = () => loadIdxPair(join(dir, 'i'), join(dir, 'l'), { maxBytes });
    // a file larger than the limit is refused from its size, before it is read
    if (bytes.length > maxBytes) return throwsWith(load, DataFileError, `${join(dir, 'i')}: file is ${bytes.length} bytes: its size exceeds ${maxBytes} bytes`);
    if (declared > maxBytes) return throwsWith(load, DataFileError, `${join(dir, 'i')}: header declares ${declared} bytes`, `exceeds ${maxBytes} bytes`);
    // within the limit: the file loads when it holds exactly what it declares
    if (content === declared) return load().images.shape.join() === `${n},${rows},${cols},1`;
    return throwsWith(load, DataFileError, join(dir, 'i'));
  },
  { numRuns: 60 },
);

law(
  'idx limits: a gzipped file whose content goes on past the size its header declares stops inflating there, with "decompressed size exceeds N bytes"',
  [fc.tuple(fc.integer({ min: 0, max: 6 }), sideArb, sideArb), fc.integer({ min: 1, max: 3_000_000 })],
  ([n, rows, cols], extra) => {
    const dir = freshDir();
    const declared = 16 + n * rows * cols;
    writeFileSync(join(dir, 'i'), bombAfter(idx(0x803, [n, rows, cols], new Uint8Array(0)), declared - 16 + extra));
    writeFileSync(join(dir, 'l'), idx(0x801, [n], new Uint8Array(n)));
    return throwsWith(() => loadIdxPair(join(dir, 'i'), join(dir, 'l')), DataFileError, `${join(dir, 'i')}: gzip stream decompressed size exceeds ${declared} bytes, the size its header declares`);
  },
  { numRuns: 30 },
);

example('idx limits: 10 MB of zeros gzipped, read with a 1 MB limit, is a DataFileError naming the limit, inflated no further than the limit', () => {
  const file = join(freshDir(), 'bomb.gz');
  writeFileSync(file, gzipSync(new Uint8Array(10_000_000)));
  const before = process.memoryUsage().arrayBuffers;
  const refused = throwsWith(() => readBytes(file, { maxBytes: 1_000_000 }), DataFileError, `${file}: gzip stream decompressed size exceeds 1000000 bytes, the limit for this file`);
  return refused && process.memoryUsage().arrayBuffers - before < 4_000_000;
});

law(
  'data limits: readBytes returns a plain or gzipped file of at most maxBytes bytes of content, and refuses a larger one naming the file and the limit',
  [fc.uint8Array({ maxLength: 2000 }), fc.nat({ max: 2500 }), fc.boolean()],
  (b, maxBytes, gz) => {
    if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return true;
    const file = join(freshDir(), 'f');
    writeFileSync(file, gz ? gzipSync(b) : b);
    if (b.length <= maxBytes && (!gz || gzipSync(b).length <= maxBytes)) return sameBytes(readBytes(file, { maxBytes }), b);
    return throwsWith(() => readBytes(file, { maxBytes }), DataFileError, file, `exceeds ${maxBytes} bytes`);
  },
);

// ---------------------------------------------------------------------------------------------
// CIFAR-10

/** n random records with labels < 10. */
const cifarArb = (maxRecords: number): fc.Arbitrary<Uint8Array> =>
  fc.integer({ min: 1, max: maxRecords }).chain((n) =>
    fc.tuple(fc.uint8Array({ minLength: n, maxLength: n, max: 9 }), fc.uint8Array({ minLength: n * (CIFAR10_RECORD - 1), maxLength: n * (CIFAR10_RECORD - 1) })).map(([labels, px]) => {
      const out = new Uint8Array(n * CIFAR10_RECORD);
      for (let k = 0; k < n; k++) {
        out[k * CIFAR10_RECORD] = labels[k];
        out.set(px.subarray(k * 3072, (k + 1) * 3072), k * CIFAR10_RECORD + 1);
      }
      return out;
    }),
  );

/** The law's reference: pixel (k, y, x, c) = byte[k·3073 + 1 + c·1024 + y·32 + x] / 255. */
function cifarMatches(ds: Dataset, files: readonly Uint8Array[]): boolean {
  const recs = files.flatMap((f) => Array.from({ length: f.length / CIFAR10_RECORD }, (_, k) => f.subarray(k * CIFAR10_RECORD, (k + 1) * CIFAR10_RECORD)));
  if (ds.images.shape.join() !== `${recs.length},32,32,3` || ds.labels.length !== recs.length || ds.classes !== 10) return false;
  return recs.every((r, k) => {
    if (ds.labels[k] !== r[0]) return false;
    for (let y = 0; y < 32; y++)
      for (let x = 0; x < 32; x++)
        for (let c = 0; c < 3; c++) {
          if (ds.images.data[((k * 32 + y) * 32 + x) * 3 + c] !== Math.fround(r[1 + c * 1024 + y * 32 + x] / 255)) return false;
        }
    return true;
  });
}

function writeCifarDir(dir: string, batchesBytes: readonly Uint8Array[], test: Uint8Array): void {
  batchesBytes.forEach((b, i) => writeFileSync(join(dir, `data_batch_${i + 1}.bin`), b));
  writeFileSync(join(dir, 'test_batch.bin'), test);
}

law(
  'cifar10: records load as NHWC bytes / 255 with their labels, batches concatenated in order',
  [fc.array(cifarArb(2), { minLength: 5, maxLength: 5 }), cifarArb(2), fc.boolean()],
  (train, test, nested) => {
    const top = freshDir();
    const dir = nested ? join(top, 'cifar-10-batches-bin') : top;
    if (nested) mkdirSync(dir);
    writeCifarDir(dir, train, test);
    const s = loadCifar10Dir(top);
    const two = loadCifar10Dir(top, { trainBatches: 2 });
    return cifarMatches(s.train, train) && cifarMatches(s.test, [test]) && cifarMatches(two.train, train.slice(0, 2));
  },
  { numRuns: 15 },
);

law(
  'cifar10 corruption: a size that is not a positive multiple of 3073 names the file and "size"',
  [cifarArb(2), fc.integer({ min: 1, max: CIFAR10_RECORD - 1 }), fc.boolean()],
  (good, delta, shorter) => {
    const dir = freshDir();
    writeCifarDir(dir, [good, good, good, good, good], good);
    const bad = shorter ? good.subarray(0, good.length - delta) : Uint8Array.from([...good, ...new Uint8Array(delta)]);
    writeFileSync(join(dir, 'data_batch_3.bin'), bad);
    return throwsWith(() => loadCifar10Dir(dir), DataFileError, 'data_batch_3.bin: size', `${bad.length} bytes`, 'multiple of the 3073-byte record');
  },
  { numRuns: 15 },
);

example('cifar10 corruption: an empty file, a label ≥ 10 and a missing file are named', () => {
  const dir = freshDir();
  const rec = new Uint8Array(CIFAR10_RECORD * 2);
  writeCifarDir(dir, [rec, rec, rec, rec, rec], new Uint8Array(0));
  const empty = throwsWith(() => loadCifar10Dir(dir), DataFileError, 'test_batch.bin: size 0 bytes');
  const badLabel = rec.slice();
  badLabel[CIFAR10_RECORD] = 10;
  writeCifarDir(dir, [rec, rec, rec, badLabel, rec], rec);
  const label = throwsWith(() => loadCifar10Dir(dir), DataFileError, 'data_batch_4.bin: label of record 1 is 10, expected < 10');
  rmSync(join(dir, 'data_batch_5.bin'));
  const missing = throwsWith(() => loadCifar10Dir(dir), ConfigError, 'data_batch_5.bin does not exist');
  const partial = loadCifar10Dir(join(dir), { trainBatches: 3 }).train.labels.length === 6;
  return empty && label && missing && partial;
});

law(
  'cifar10 limits: a batch file of more than maxBytes bytes is refused before it is decoded, naming the file and the limit',
  [cifarArb(3), fc.integer({ min: 1, max: 3 }), fc.boolean()],
  (recs, maxRecords, gz) => {
    const file = join(freshDir(), 'data_batch_1.bin');
    writeFileSync(file, gz ? gzipSync(recs) : recs);
    const maxBytes = maxRecords * CIFAR10_RECORD;
    const load = () => loadCifar10Files([file], 'c', { maxBytes });
    return recs.length <= maxBytes ? cifarMatches(load(), [recs]) : throwsWith(load, DataFileError, file, `exceeds ${maxBytes} bytes`);
  },
  { numRuns: 15 },
);

// ---------------------------------------------------------------------------------------------
// Embedded MNIST

const DEFAULT_TEST = [200, 225, 198, 206, 196, 173, 203, 214, 189, 196];
const DEFAULT_TRAIN = EMBEDDED_MNIST_COUNTS.map((k, c) => k - DEFAULT_TEST[c]);

const classCounts = (ds: Dataset): number[] => {
  const out = new Array<number>(ds.classes).fill(0);
  for (const l of ds.labels) out[l]++;
  return out;
};

/** One image as its MNIST bytes, as a string key. */
const imageKey = (ds: Dataset, k: number): string => Buffer.from(Array.from(ds.images.data.subarray(k * 784, (k + 1) * 784), (v) => Math.round(v * 255))).toString('base64');

const keysOf = (ds: Dataset): string[] => Array.from({ length: ds.labels.length }, (_, k) => imageKey(ds, k));

example('embedded mnist: the package holds the documented counts per class (10,000 digits)', () => {
  const counts = embeddedMnistCounts();
  return counts.join() === EMBEDDED_MNIST_COUNTS.join() && counts.reduce((a, b) => a + b, 0) === 10000;
});

example('embedded mnist: the default split is 8,000 / 2,000, stratified, disjoint, deterministic, valid', () => {
  const a = loadEmbeddedMnist();
  const b = loadEmbeddedMnist();
  const sizes = a.train.labels.length === 8000 && a.test.labels.length === 2000;
  const shapes = a.train.images.shape.join() === '8000,28,28,1' && a.test.images.shape.join() === '2000,28,28,1';
  const strat = classCounts(a.train).join() === DEFAULT_TRAIN.join() && classCounts(a.test).join() === DEFAULT_TEST.join();
  const det = dsEqual(a.train, b.train) && dsEqual(a.test, b.test);
  const train = new Set(keysOf(a.train));
  const disjoint = keysOf(a.test).every((k) => !train.has(k));
  // Every value is an MNIST byte / 255 (the package's 3-decimal values, restored).
  const bytes = [a.train, a.test].every((ds) => ds.images.data.every((v) => v === Math.fround(Math.round(v * 255) / 255)));
  checkDataset(a.train);
  checkDataset(a.test);
  return sizes && shapes && strat && det && disjoint && bytes && a.train.classes === 10;
});

law(
  'embedded mnist: per-class counts are exactly the requested ones, and test is the tail of each class',
  [fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 663 })],
  (testPerClass, trainPerClass) => {
    const s = loadEmbeddedMnist({ testPerClass, trainPerClass });
    const full = loadEmbeddedMnist({ testPerClass: 0 }).train;
    const tr = classCounts(s.train).every((k) => k === trainPerClass);
    const te = classCounts(s.test).every((k) => k === testPerClass);
    // The first test digit of each class is the digit at position count − testPerClass of that class.
    let start = 0;
    let tails = true;
    EMBEDDED_MNIST_COUNTS.forEach((k, c) => {
      if (testPerClass > 0) tails &&= imageKey(s.test, c * testPerClass) === imageKey(full, start + k - testPerClass);
      start += k;
    });
    return tr && te && tails;
  },
  { numRuns: 8 },
);

example('embedded mnist: asking for more digits than a class holds is a ConfigError naming the field and the smallest class', () =>
  throwsWith(() => loadEmbeddedMnist({ trainPerClass: 800, testPerClass: 200 }), ConfigError, 'trainPerClass', 'class 2 has 991 digits', 'smallest class has 863') &&
  throwsWith(() => loadEmbeddedMnist({ testFraction: 1.5 }), ConfigError, 'testFraction'),
);

// ---------------------------------------------------------------------------------------------
// Augmentation

const nhwcArb: fc.Arbitrary<Tensor> = fc
  .tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 3 }))
  .chain(([n, h, w, c]) =>
    fc
      .array(fc.integer({ min: 0, max: 255 }), { minLength: n * h * w * c, maxLength: n * h * w * c })
      .map((v) => ({ shape: [n, h, w, c], data: Float32Array.from(v, (b) => b / 255) })),
  );

/** The law's reference: pad with zeros, crop at offsets drawn as documented, then mirror. */
function referenceAugment(x: Tensor, r: Rng, pad: number, flip: boolean): Tensor {
  const [n, h, w, c] = x.shape;
  const out = new Float32Array(x.data.length);
  const ph = h + 2 * pad;
  const pw = w + 2 * pad;
  for (let k = 0; k < n; k++) {
    const padded = new Float32Array(ph * pw * c);
    for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) for (let ch = 0; ch < c; ch++) padded[((y + pad) * pw + xx + pad) * c + ch] = x.data[((k * h + y) * w + xx) * c + ch];
    const oy = pad > 0 ? int(r, 2 * pad + 1) : 0;
    const ox = pad > 0 ? int(r, 2 * pad + 1) : 0;
    const m = flip && uniform(r) < 0.5;
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++) {
        const cx = m ? w - 1 - xx : xx;
        for (let ch = 0; ch < c; ch++) out[((k * h + y) * w + xx) * c + ch] = padded[((y + oy) * pw + cx + ox) * c + ch];
      }
  }
  return { shape: [...x.shape], data: out };
}

law(
  'augment: keeps the shape and equals pad-then-crop-then-mirror with the documented draws',
  [nhwcArb, fc.integer({ min: 0, max: 4 }), fc.boolean(), fc.integer()],
  (x, pad, flip, seed) => {
    const y = augment(x, rng(seed), { pad, flip });
    return y.shape.join() === x.shape.join() && tensorEqual(y, referenceAugment(x, rng(seed), pad, flip));
  },
  { numRuns: 200 },
);

law(
  'augment: deterministic for a given rng state, also when writing into out',
  [nhwcArb, fc.integer({ min: 0, max: 3 }), fc.boolean(), fc.integer()],
  (x, pad, flip, seed) => {
    const r = rng(seed);
    const st = snapshot(r);
    const a = augment(x, r, { pad, flip });
    const after1 = snapshot(r);
    const r2 = restore(st);
    const out: Tensor = { shape: [...x.shape], data: new Float32Array(x.data.length).fill(7) };
    const b = augment(x, r2, { pad, flip }, out);
    return b === out && tensorEqual(a, b) && snapshot(r2).s.join() === after1.s.join();
  },
);

law('augment: pad 0 without flip is the identity and draws nothing', [nhwcArb, fc.integer()], (x, seed) => {
  const r = rng(seed);
  const before = snapshot(r).s.join();
  const y = augment(x, r, { pad: 0, flip: false });
  return y !== x && tensorEqual(y, x) && snapshot(r).s.join() === before;
});

example('augment: the defaults are pad 2 and no flip; bad arguments are named', () => {
  const x: Tensor = { shape: [4, 5, 5, 1], data: Float32Array.from({ length: 100 }, (_, i) => (i % 7) / 7) };
  const defaults = tensorEqual(augment(x, rng(3)), referenceAugment(x, rng(3), 2, false));
  const rank = throwsWith(() => augment({ shape: [5, 5], data: new Float32Array(25) }, rng(1)), ShapeError, 'augment: images');
  const pad = throwsWith(() => augment(x, rng(1), { pad: -1 }), ConfigError, 'pad');
  const alias = throwsWith(() => augment(x, rng(1), {}, x), ConfigError, 'out');
  return defaults && rank && pad && alias;
});

// ---------------------------------------------------------------------------------------------
// Batching

law(
  'batches: an epoch is a permutation cut into batchSize pieces, the last partial unless dropLast',
  [fc.integer({ min: 0, max: 50 }), fc.integer({ min: 1, max: 12 }), fc.boolean(), fc.boolean(), fc.integer()],
  (n, bs, shuffle, dropLast, seed) => {
    const r = rng(seed);
    const before = snapshot(r).s.join();
    const e = epochIndices(n, bs, r, { shuffle, dropLast });
    const all = e.flatMap((b) => Array.from(b));
    const full = Math.floor(n / bs);
    const sizesOk = e.every((b, i) => b.length === (i < full ? bs : n % bs)) && e.length === (dropLast || n % bs === 0 ? full : full + 1);
    const distinct = new Set(all).size === all.length && all.every((i) => i >= 0 && i < n);
    const complete = dropLast ? all.length === full * bs : all.length === n;
    const plain = shuffle || (all.every((v, i) => v === i) && snapshot(r).s.join() === before);
    const same = epochIndices(n, bs, restore({ s: before.split(',').map(Number) as [number, number, number, number] }), { shuffle, dropLast });
    const det = same.length === e.length && same.every((b, i) => sameBytes(new Uint8Array(b.buffer, b.byteOffset, b.byteLength), new Uint8Array(e[i].buffer, e[i].byteOffset, e[i].byteLength)));
    return sizesOk && distinct && complete && plain && det;
  },
);

law(
  'batches: each batch holds the examples at its indices; the order is drawn when batches() is called',
  [digitsArb(), fc.integer({ min: 1, max: 4 }), fc.integer()],
  (d, bs, seed) => {
    const ds: Dataset = { name: 't', ...expectedIdx(d), classes: 10 };
    const r = rng(seed);
    const it = batches(ds, bs, r, { shuffle: true });
    const expected = epochIndices(d.n, bs, rng(seed));
    uniform(r); // using the rng after the call must not change the epoch
    const got = [...it];
    const per = d.rows * d.cols;
    return (
      got.length === expected.length &&
      got.every(
        (b, i) =>
          sameBytes(new Uint8Array(b.indices.buffer, b.indices.byteOffset, b.indices.byteLength), new Uint8Array(expected[i].buffer, expected[i].byteOffset, expected[i].byteLength)) &&
          b.images.shape.join() === `${b.indices.length},${d.rows},${d.cols},1` &&
          Array.from(b.indices).every(
            (k, j) => b.labels[j] === d.labels[k] && b.images.data.subarray(j * per, (j + 1) * per).every((v, p) => v === ds.images.data[k * per + p]),
          ),
      )
    );
  },
);

example('batches: gather writes into a caller buffer; a bad batchSize or index is named', () => {
  const ds: Dataset = { name: 't', ...expectedIdx(smallDigits), classes: 10 };
  const out = { images: { shape: [4, 2, 2, 1], data: new Float32Array(16) }, labels: new Uint8Array(4) };
  const b = gather(ds, Int32Array.from([2, 0]), out);
  const into = b.images.data.buffer === out.images.data.buffer && b.labels[0] === 4 && b.labels[1] === 0 && b.images.shape.join() === '2,2,2,1';
  const bs = throwsWith(() => epochIndices(5, 0, rng(1)), ConfigError, 'batchSize');
  const ix = throwsWith(() => gather(ds, Int32Array.from([3])), ConfigError, 'indices[0]');
  return into && bs && ix;
});
