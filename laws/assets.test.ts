/**
 * Laws of loading without a file system (src/assets.ts, src/data/gunzip.ts, src/data/mnist-split.ts):
 *   - the wasm backend and the ternary kernels load from every kind of source — bytes, an
 *     ArrayBuffer, a compiled module, a URL object, a URL string, a fetch Response served as
 *     `application/wasm` (compiled while streaming) or with a wrong MIME type (compiled from its
 *     bytes) — and compute what the packaged default computes; a single given build is the build
 *     (`kernel` reports which);
 *   - a missing file and an HTTP error are ConfigErrors naming the URL (and the status; a packaged
 *     file's also says `npm run build:wasm`); bytes that
 *     are not WebAssembly, or another sttn module, are ConfigErrors naming the option;
 *   - `gunzip` (DecompressionStream) equals bytes.ts's `maybeGunzip` (node:zlib) on plain and
 *     gzipped bytes, and fails the same way past a limit or on a broken stream;
 *   - `loadEmbeddedMnistFrom` (the packaged URL, bytes, a directory URL) equals `loadEmbeddedMnist`.
 */
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { createWasmBackend } from '../backends/wasm.js';
import { createWasmTernaryKernels } from '../backends/ternary.js';
import { maybeGunzip } from '../src/data/bytes.js';
import { DataFileError } from '../src/data/dataset.js';
import { gunzip } from '../src/data/gunzip.js';
import { loadEmbeddedMnist } from '../src/data/mnist-embedded.js';
import { loadEmbeddedMnistFrom } from '../src/data/mnist-split.js';
import { compilePackaged, packagedBytesOrModule } from '../src/assets.js';
import { ConfigError } from '../src/errors.js';
import type { Dataset } from '../src/data/dataset.js';
import { holdsAsync } from './async-law.js';
import { example } from './law.js';

const wasmUrl = (name: string): URL => new URL(`../build/wasm/${name}`, import.meta.url);
const bytesOf = (name: string): Uint8Array<ArrayBuffer> => new Uint8Array(readFileSync(wasmUrl(name)));

const rejectsWith = async (p: Promise<unknown>, cls: new (...a: never[]) => Error, ...patterns: (string | RegExp)[]): Promise<boolean> => {
  try {
    await p;
    return false;
  } catch (e) {
    const ok = e instanceof cls && patterns.every((q) => (typeof q === 'string' ? (e as Error).message.includes(q) : q.test((e as Error).message)));
    if (!ok) console.error(`unexpected error: ${(e as Error).message}`);
    return ok;
  }
};

const A = { shape: [3, 4], data: Float32Array.from({ length: 12 }, (_, i) => (i % 5) - 2.5) };
const B = { shape: [4, 2], data: Float32Array.from({ length: 8 }, (_, i) => 0.25 * i - 1) };
const sameData = (x: ArrayLike<number>, y: ArrayLike<number>): boolean => x.length === y.length && Array.from(x).every((v, i) => Object.is(v, y[i]));

example('the wasm backend loads from bytes, an ArrayBuffer, a module, a URL, a URL string and Responses, computing as the default', async () => {
  const plain = bytesOf('sttn-simd.wasm');
  const want = (await createWasmBackend()).matmul(A, B);
  const sources = [
    plain,
    plain.slice().buffer,
    await WebAssembly.compile(plain),
    wasmUrl('sttn-simd.wasm'),
    wasmUrl('sttn-simd.wasm').href,
    new Response(plain, { headers: { 'content-type': 'application/wasm' } }),
    new Response(plain, { headers: { 'content-type': 'application/octet-stream' } }),
  ];
  for (const source of sources) {
    const W = await createWasmBackend({ source });
    if (W.kernel !== 'plain' || !sameData(W.matmul(A, B).data, want.data)) return false;
  }
  return true;
});

example('a single given build is the build: the relaxed file gives kernel relaxed, and kernel: plain beside it is a ConfigError', async () => {
  const relaxed = bytesOf('sttn-relaxed-simd.wasm');
  const W = await createWasmBackend({ source: relaxed });
  return W.kernel === 'relaxed' && (await rejectsWith(createWasmBackend({ source: relaxed, kernel: 'plain' }), ConfigError, 'createWasmBackend.kernel', 'relaxed build'));
});

example('the ternary kernels load from bytes, a URL and a Response, and pack as the default', async () => {
  const t = bytesOf('sttn-ternary.wasm');
  const rows = Int8Array.from({ length: 2 * 70 }, (_, i) => ((i * 7) % 3) - 1);
  const want = (await createWasmTernaryKernels()).pack(rows, 2, 70);
  for (const source of [t, wasmUrl('sttn-ternary.wasm'), new Response(t, { headers: { 'content-type': 'application/wasm' } })]) {
    const got = (await createWasmTernaryKernels({ source })).pack(rows, 2, 70);
    if (!sameData(new Uint8Array(got.buffer, got.byteOffset, got.byteLength), new Uint8Array(want.buffer, want.byteOffset, want.byteLength))) return false;
  }
  return true;
});

example('a missing file and an HTTP error name the URL (and the status); foreign bytes and modules name the option', async () => {
  const missing = new URL('file:///nonexistent/sttn-simd.wasm');
  return (
    (await rejectsWith(createWasmBackend({ source: missing }), ConfigError, 'createWasmBackend.source', missing.href)) &&
    (await rejectsWith(createWasmBackend({ source: new Response('nope', { status: 404, statusText: 'Not Found' }) }), ConfigError, '404')) &&
    (await rejectsWith(createWasmBackend({ source: new Uint8Array([0, 1, 2, 3]) }), ConfigError, 'createWasmBackend.source', 'does not validate')) &&
    (await rejectsWith(createWasmTernaryKernels({ source: bytesOf('sttn-simd.wasm') }), ConfigError, 'createWasmTernaryKernels.source', 'not sttn')) &&
    (await rejectsWith(createWasmBackend({ source: bytesOf('sttn-ternary.wasm') }), ConfigError, 'createWasmBackend.source', 'not sttn')) &&
    (await rejectsWith(createWasmTernaryKernels({ source: 'not a url' }), ConfigError, 'not a URL'))
  );
});

example('a packaged file that is missing names the option, the URL and `npm run build:wasm`; a given one names no build step', async () => {
  const missing = new URL('file:///nonexistent/sttn-simd-threads.wasm');
  const given = await createWasmBackend({ threads: 2, source: { threads: missing } }).then(
    () => false,
    (e: unknown) => e instanceof ConfigError && e.message.includes(missing.href) && !e.message.includes('build:wasm'),
  );
  return (
    given &&
    (await rejectsWith(compilePackaged(missing, 'createWasmTernaryKernels.source'), ConfigError, /^createWasmTernaryKernels\.source: cannot read /, missing.href, 'run `npm run build:wasm`')) &&
    (await rejectsWith(packagedBytesOrModule(missing, 'createWasmBackend.source.threads'), ConfigError, /^createWasmBackend\.source\.threads: cannot read /, missing.href, 'run `npm run build:wasm`'))
  );
});

/** The outcome of a gunzip as comparable data: the bytes, or the error's class and message. */
const outcome = async (f: () => Uint8Array | Promise<Uint8Array>): Promise<string> => {
  try {
    return `ok ${Buffer.from(await f()).toString('hex')}`;
  } catch (e) {
    return `${(e as Error).constructor.name} ${(e as Error).message}`;
  }
};

example('gunzip equals maybeGunzip on plain and gzipped bytes, within and past a limit', async () =>
  holdsAsync(
    fc.tuple(fc.uint8Array({ maxLength: 3000 }), fc.boolean(), fc.option(fc.integer({ min: 0, max: 3000 }), { nil: undefined })),
    async ([raw, zip, maxBytes]) => {
      const bytes = zip ? new Uint8Array(gzipSync(raw)) : raw;
      const limits = { maxBytes };
      const a = await outcome(() => gunzip(bytes, 'f.gz', limits));
      const b = await outcome(() => maybeGunzip(bytes, 'f.gz', limits));
      if (a !== b) console.error(`gunzip: ${a.slice(0, 120)}\nmaybeGunzip: ${b.slice(0, 120)}`);
      return a === b;
    },
    60,
  ),
);

example('a broken gzip stream is a DataFileError naming the file', async () => {
  const z = new Uint8Array(gzipSync(new Uint8Array(5000).fill(7)));
  const cut = z.subarray(0, z.length - 12);
  return rejectsWith(gunzip(cut, 'cut.gz'), DataFileError, 'cut.gz', 'gzip stream');
});

const equalSets = (x: Dataset, y: Dataset): boolean => sameData(x.images.data, y.images.data) && sameData(x.labels, y.labels) && x.images.shape.join() === y.images.shape.join();

example('loadEmbeddedMnistFrom (default URL, bytes, a directory URL string) equals loadEmbeddedMnist', async () => {
  const want = loadEmbeddedMnist({ testPerClass: 20, trainPerClass: 30 });
  const dir = new URL('../build/data/', import.meta.url);
  const images = new Uint8Array(readFileSync(new URL('mnist-embedded-images.idx3-ubyte.gz', dir)));
  const labels = new Uint8Array(readFileSync(new URL('mnist-embedded-labels.idx1-ubyte.gz', dir)));
  const opts = { testPerClass: 20, trainPerClass: 30 };
  const got = [await loadEmbeddedMnistFrom(undefined, opts), await loadEmbeddedMnistFrom({ images, labels }, opts), await loadEmbeddedMnistFrom(dir.href.slice(0, -1), opts)];
  return got.every((g) => equalSets(g.train, want.train) && equalSets(g.test, want.test)) &&
    (await rejectsWith(loadEmbeddedMnistFrom('file:///nonexistent/'), ConfigError, 'file:///nonexistent/mnist-embedded-images'));
});
