/**
 * Laws of the image readers of `sttn predict` (src/infer/images.ts) under their limits:
 * - within the limits, a PGM, a PNG (plain or interlaced) and an IDX file (plain or gzipped) read
 *   back the pixels written, v/255;
 * - a header declaring another size than the model's input, or more pixels than the limit, is a
 *   DataFileError naming the file and the declared size, raised from the header: before the
 *   pixels are decoded or inflated, so with no large allocation (a 65-byte PNG declaring
 *   50000×50000 included);
 * - a PNG whose image data inflates past what its declared size holds, a gzipped IDX file
 *   inflating past the size its header declares, and a file past the byte limit are refused.
 * The engine's own image laws (same pixels in every format, a wrong size at batching):
 * laws/engine.test.ts.
 */
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { crc32, deflateSync, gzipSync } from 'node:zlib';
import pngjs from 'pngjs';
import { DataFileError } from '../src/data/dataset.js';
import { readImages, type ImageLimits } from '../src/infer/images.js';
import { example, law } from './law.js';

const dir = mkdtempSync(join(tmpdir(), 'sttn-images-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let counter = 0;
const fresh = (name: string): string => join(dir, `${counter++}-${name}`);

type Format = 'pgm' | 'png' | 'png-interlaced' | 'idx' | 'idx-gz';
const FORMATS: readonly Format[] = ['pgm', 'png', 'png-interlaced', 'idx', 'idx-gz'];

const idxHead = (n: number, rows: number, cols: number): Buffer => {
  const head = Buffer.alloc(16);
  head.writeUInt32BE(0x803, 0);
  head.writeUInt32BE(n, 4);
  head.writeUInt32BE(rows, 8);
  head.writeUInt32BE(cols, 12);
  return head;
};

/** A chunk of a PNG: length, type, data, CRC-32 of type and data. */
const chunk = (type: string, data: Uint8Array): Buffer => {
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const out = Buffer.alloc(8 + data.length + 4);
  out.writeUInt32BE(data.length, 0);
  td.copy(out, 4);
  out.writeUInt32BE(crc32(td), 8 + data.length);
  return out;
};

/** A grey 8-bit PNG declaring `width`×`height` whose image data is `raw` (filter bytes included), deflated. */
function pngDeclaring(width: number, height: number, raw: Uint8Array, interlace = 0): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 0, 0, 0, interlace], 8);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0))]);
}

/** The bytes of a `w`×`h` grey image of pixels `px` in `format`. */
function encode(format: Format, w: number, h: number, px: Uint8Array): Buffer {
  switch (format) {
    case 'pgm':
      return Buffer.concat([Buffer.from(`P5\n${w} ${h}\n255\n`), px]);
    case 'png':
    case 'png-interlaced': {
      const img = new pngjs.PNG({ width: w, height: h });
      for (let i = 0; i < w * h; i++) img.data.set([px[i], px[i], px[i], 255], 4 * i);
      if (format === 'png') return pngjs.PNG.sync.write(img, { colorType: 0 });
      // pngjs writes no interlaced PNG: filter type 0 per row of each Adam7 pass
      const rows: number[] = [];
      for (const [x0, y0, dx, dy] of [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]]) {
        if (x0 >= w) continue;
        for (let y = y0; y < h; y += dy) {
          rows.push(0);
          for (let x = x0; x < w; x += dx) rows.push(px[y * w + x]);
        }
      }
      return pngDeclaring(w, h, Uint8Array.from(rows), 1);
    }
    case 'idx':
      return Buffer.concat([idxHead(1, h, w), px]);
    case 'idx-gz':
      return gzipSync(Buffer.concat([idxHead(1, h, w), px]));
  }
}

const imageArb = fc
  .tuple(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 12 }))
  .chain(([w, h]) => fc.tuple(fc.constant(w), fc.constant(h), fc.uint8Array({ minLength: w * h, maxLength: w * h })));

/** True when `f` rejects with a DataFileError whose message holds every part. */
async function rejects(f: () => Promise<unknown>, ...parts: string[]): Promise<boolean> {
  try {
    await f();
  } catch (e) {
    return e instanceof DataFileError && parts.every((p) => e.message.includes(p));
  }
  return false;
}

/** fast-check's async form of `law`: the predicate returns a promise of a boolean. */
function asyncLaw<Ts extends [unknown, ...unknown[]]>(name: string, arbs: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> }, predicate: (...a: Ts) => Promise<boolean>, numRuns = 60): void {
  example(name, async () => {
    await fc.assert(fc.asyncProperty(...(arbs as unknown as [fc.Arbitrary<unknown>]), (...a: unknown[]) => predicate(...(a as Ts))), { numRuns });
    return true;
  });
}

asyncLaw('images: within the limits every format reads back its pixels as v/255, with the model\'s size given or not', [fc.constantFrom(...FORMATS), imageArb, fc.boolean()], async (format, [w, h, px], withShape) => {
  const file = fresh(format);
  writeFileSync(file, encode(format, w, h, px));
  const limits: ImageLimits = withShape ? { inputShape: [h, w, 1] } : { maxPixels: w * h };
  const [img, ...rest] = await readImages(file, limits);
  return rest.length === 0 && img.width === w && img.height === h && img.channels === 1 && img.data.every((v, i) => v === Math.fround(px[i] / 255));
});

asyncLaw('images: a header declaring another size than the model\'s input is refused from the header, naming the file and both sizes', [fc.constantFrom(...FORMATS), imageArb, fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 12 })], async (format, [w, h, px], mw, mh) => {
  const file = fresh(format);
  writeFileSync(file, encode(format, w, h, px));
  const read = () => readImages(file, { inputShape: [mh, mw, 1] });
  if (w === mw && h === mh) return (await read()).length === 1;
  return rejects(read, file, `size is ${w}×${h} (width×height)`, `takes exactly ${mw}×${mh}×1`);
});

asyncLaw('images: without the model, a header declaring more than maxPixels is refused from the header, naming the file, the size and the limit', [fc.constantFrom(...FORMATS), imageArb, fc.integer({ min: 1, max: 150 })], async (format, [w, h, px], maxPixels) => {
  const file = fresh(format);
  writeFileSync(file, encode(format, w, h, px));
  const read = () => readImages(file, { maxPixels });
  if (w * h <= maxPixels) return (await read()).length === 1;
  return rejects(read, file, `size is ${w}×${h} (width×height): ${w * h} pixels exceed ${maxPixels}`);
});

/** Files that declare 50000×50000 pixels and hold almost nothing. */
const HUGE: Record<'png' | 'pgm' | 'idx-gz', () => Buffer> = {
  png: () => pngDeclaring(50000, 50000, new Uint8Array(0)),
  pgm: () => Buffer.from('P5 50000 50000 255\n\x00\x01'),
  'idx-gz': () => gzipSync(Buffer.concat([idxHead(1, 50000, 50000), Buffer.alloc(1 << 20)])),
};

example('images: a 65-byte PNG, a PGM and a gzipped IDX declaring 50000×50000 are refused from the header with the default limits, allocating next to nothing', async () => {
  let ok = true;
  for (const [format, bytes] of Object.entries(HUGE)) {
    const file = fresh(format);
    const b = bytes();
    writeFileSync(file, b);
    const before = process.memoryUsage().arrayBuffers;
    const refused = await rejects(() => readImages(file), file, 'size is 50000×50000 (width×height): 2500000000 pixels exceed 4194304');
    const grown = process.memoryUsage().arrayBuffers - before;
    ok &&= refused && grown < 8_000_000 && (format !== 'png' || b.length < 100);
  }
  return ok;
});

example('images: with the model\'s size, the same files are refused as "not 28×28" from the header alone', async () => {
  const results = await Promise.all(
    Object.entries(HUGE).map(async ([format, bytes]) => {
      const file = fresh(format);
      writeFileSync(file, bytes());
      return rejects(() => readImages(file, { inputShape: [28, 28, 1] }), file, 'size is 50000×50000', 'takes exactly 28×28×1');
    }),
  );
  return results.every(Boolean);
});

asyncLaw('images: a PNG whose image data inflates past what its declared size holds (a bomb behind a small header) is refused, plain or interlaced', [fc.integer({ min: 1, max: 28 }), fc.integer({ min: 1, max: 28 }), fc.integer({ min: 1, max: 4_000_000 }), fc.constantFrom(0, 1)], async (w, h, extra, interlace) => {
  const file = fresh('bomb.png');
  // 2h(w + 1) bytes are more than either layout holds (w·h samples, at most 2h filter bytes)
  writeFileSync(file, pngDeclaring(w, h, new Uint8Array(2 * h * (w + 1) + extra), interlace));
  return rejects(() => readImages(file, { inputShape: [h, w, 1] }), file, 'png image data: decompressed size exceeds');
}, 20);

asyncLaw('images: a gzipped IDX file inflating past the size its header declares, and a file past maxBytes, are refused naming the file and the limit', [imageArb, fc.integer({ min: 1, max: 2_000_000 }), fc.integer({ min: 0, max: 400 })], async ([w, h, px], extra, maxBytes) => {
  const bomb = fresh('bomb-idx.gz');
  writeFileSync(bomb, gzipSync(Buffer.concat([idxHead(1, h, w), px, Buffer.alloc(extra)])));
  const plain = fresh('x.pgm');
  const pgm = encode('pgm', w, h, px);
  writeFileSync(plain, pgm);
  const big = pgm.length <= maxBytes ? (await readImages(plain, { maxBytes })).length === 1 : await rejects(() => readImages(plain, { maxBytes }), plain, `exceeds ${maxBytes} bytes`);
  return big && (await rejects(() => readImages(bomb), bomb, `decompressed size exceeds ${16 + w * h} bytes, the size its header declares`));
}, 30);

asyncLaw(
  'images: a PNG whose image data holds fewer (or more) rows than IHDR declares, or with two IHDR chunks, is refused (pngjs would fill the gap from uninitialised memory)',
  [imageArb, fc.integer({ min: -3, max: 3 }).filter((d) => d !== 0), fc.boolean()],
  async ([w, h, px], rowsOff, twoHeaders) => {
    const rows = Math.max(0, h + rowsOff);
    // the image data of `rows` rows (filter byte 0, then the row's pixels; missing pixels repeat)
    const raw = new Uint8Array(rows * (w + 1));
    for (let r = 0; r < rows; r++) for (let c = 0; c < w; c++) raw[r * (w + 1) + 1 + c] = px[(r * w + c) % px.length];
    let png = pngDeclaring(w, h, raw);
    if (twoHeaders) {
      const good = pngDeclaring(w, h, Uint8Array.from({ length: h * (w + 1) }, (_, i) => (i % (w + 1) === 0 ? 0 : px[(i - Math.floor(i / (w + 1)) - 1) % px.length])));
      // a second IHDR right after the first (33 = signature + IHDR chunk)
      png = Buffer.concat([good.subarray(0, 33), good.subarray(8, 33), good.subarray(33)]);
    }
    const file = fresh('short.png');
    writeFileSync(file, png);
    return twoHeaders ? rejects(() => readImages(file), file, 'IHDR') : rejects(() => readImages(file), file, 'image data');
  },
);
