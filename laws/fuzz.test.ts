/**
 * Laws of the decoders under fuzzing (laws/fuzz.ts builds the seeds, the mutators and the
 * classifier; bench/fuzz.ts runs the same targets at 10,000 mutants each, bench/FUZZ.md):
 * - for a few hundred mutants of each decoder, drawn by fast-check from a fresh seed, no attempt
 *   throws anything but an SttnError naming the file (a Left where the decoder returns Eithers),
 *   none passes its time or memory bound, and every accepted value respects the shapes it
 *   declares; for the checksummed formats (checkpoint, `.sttn`) no mutant the harness did not
 *   reseal, and that decoded as a checked version, is accepted with other content;
 * - the harness itself sees each kind of failure (a decoder that throws a TypeError, accepts a
 *   corrupt file, runs long, allocates, returns a malformed value, or names no file), its reseals
 *   really get past the checksums, and its PNG oracle tells a PNG holding every row it declares
 *   from one holding fewer, so that a law above that passes has tested something.
 */
import * as E from 'fp-ts/lib/Either.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { crc32, deflateSync } from 'node:zlib';
import { parseCheckpoint } from '../src/checkpoint/checkpoint.js';
import { DataFileError } from '../src/data/dataset.js';
import { parseDeployed } from '../src/export/container.js';
import {
  acceptable,
  applyJsonEdit,
  bytesTarget,
  checkpointBytes,
  cliTarget,
  fuzzHolds,
  pngBytes,
  pngShortfall,
  resealCheckpoint,
  resealDeployed,
  resealPng,
  TARGETS,
  type BytesProgram,
  type ByteFormat,
  type Target,
} from './fuzz.js';
import { example } from './law.js';

const dir = mkdtempSync(join(tmpdir(), 'sttn-fuzz-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Mutants per decoder: the whole file stays within ~30 s on one core. The checkpoint, with the
 * most structure behind its parser (checksum, versions, the model check), gets twice as many.
 */
const RUNS: Readonly<Record<string, number>> = { checkpoint: 2000 };
const DEFAULT_RUNS = 1000;

// ---------------------------------------------------------------------------------------------
// One law per decoder

const about: Readonly<Record<string, string>> = {
  checkpoint: 'parseCheckpoint + fromCheckpoint: never throws, no timeout or runaway allocation, and no unsealed corruption of a version-2 file is accepted',
  sttn: 'parseDeployed: never throws, no timeout or runaway allocation, and no unsealed corruption is accepted (CRC-32)',
  'idx-images': 'IDX images (declared size checked, then parseIdxImages): DataFileErrors only, and accepted images have the dimensions the header declares',
  'idx-labels': 'IDX labels: DataFileErrors only, and accepted labels are as many as the header declares',
  cifar10: 'CIFAR-10 batches: DataFileErrors only, and accepted records have 3·32·32 pixels in [0, 1] and labels < 10',
  pgm: 'parsePgm: DataFileErrors only, and accepted images hold width·height pixels in [0, 1]',
  png: 'parsePng (chunk CRCs sometimes resealed): DataFileErrors only, and accepted images hold width·height·channels values in [0, 1]',
  images: 'readImages (PGM, PNG, IDX, gzipped IDX, told by content): DataFileErrors only, and every accepted image is well formed',
  cli: 'sttn <argv> in-process (bad commands, flags, values, files): exit 1 or 2 with a one-line message, never a throw or a stack trace',
};

for (const [name, make] of Object.entries(TARGETS)) {
  const runs = RUNS[name] ?? DEFAULT_RUNS;
  example(`fuzz ${name}: ${runs} mutants — ${about[name]}`, async () => fuzzHolds(await make(dir), runs));
}

// ---------------------------------------------------------------------------------------------
// The harness sees failures

const FILE = 'toy.bin';
/** A byte format around `decode`: one 8-byte seed, decoded as the bytes themselves. */
const toy = (decode: ByteFormat<Uint8Array>['decode'], over: Partial<ByteFormat<Uint8Array>> = {}): Promise<Target<BytesProgram>> =>
  bytesTarget<Uint8Array>({
    name: 'toy',
    integrity: false,
    neverThrows: false,
    seeds: [{ name: 'eight', bytes: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8) }],
    file: FILE,
    decode,
    same: (a, b) => a.length === b.length && a.every((x, i) => x === b[i]),
    wellFormed: () => undefined,
    ...over,
  });

/** Change byte 0 to 9. */
const SET0: BytesProgram = { seed: 0, edits: [{ op: 'set', at: 0, byte: 9 }], reseal: 'none' };
const refuse = (b: Uint8Array, file: string): Uint8Array => {
  if (b[0] !== 1) throw new DataFileError(file, 'byte 0', `is ${b[0]}`);
  return b;
};

example('the classifier: a DataFileError naming the file is clean, a TypeError or an error naming no file is uncaught', async () => {
  const clean = await (await toy(refuse)).run(SET0);
  const typeError = await (
    await toy((b) => {
      if (b[0] !== 1) throw new TypeError('cannot read properties of undefined');
      return b;
    })
  ).run(SET0);
  const unnamed = await (await toy((b) => refuse(b, 'another-file'))).run(SET0);
  return clean.outcome === 'clean-error' && typeError.outcome === 'uncaught' && unnamed.outcome === 'uncaught';
});

example('the classifier: a decoder documented never to throw that throws is uncaught, even with an SttnError; its Left is clean', async () => {
  const threw = await (await toy(refuse, { neverThrows: true })).run(SET0);
  const left = await (
    await toy((b, file) => {
      try {
        return E.right(refuse(b, file));
      } catch (e) {
        return E.left(e);
      }
    }, { neverThrows: true })
  ).run(SET0);
  return threw.outcome === 'uncaught' && left.outcome === 'clean-error';
});

example('the classifier: an accepted change fails a checked format unless resealed; a malformed value always fails', async () => {
  const changed = await (await toy((b) => b, { integrity: true })).run(SET0);
  const t = await toy((b) => b, { integrity: true });
  const malformed = await (await toy((b) => b, { wellFormed: (b) => (b[0] === 1 ? undefined : 'byte 0 is not 1') })).run(SET0);
  return (
    changed.outcome === 'accepted-changed' &&
    !acceptable(t, changed) &&
    acceptable(t, { ...changed, sealed: true }) &&
    acceptable({ integrity: false }, changed) &&
    malformed.outcome === 'malformed' &&
    !acceptable({ integrity: false }, malformed)
  );
});

example('the classifier: a slow case is a timeout, a case that allocates past the bound is memory', async () => {
  const slow = await (
    await toy(
      (b) => {
        const t0 = performance.now();
        while (performance.now() - t0 < 40);
        return b;
      },
      { limits: { ms: 10, mib: 256 } },
    )
  ).run(SET0);
  let keep: Float64Array | undefined;
  const big = await (
    await toy(
      (b) => {
        if (b[0] !== 1) keep = new Float64Array(12 * 2 ** 20).fill(1);
        return b;
      },
      { limits: { ms: 10_000, mib: 48 } },
    )
  ).run(SET0);
  keep = undefined;
  return slow.outcome === 'timeout' && big.outcome === 'memory' && keep === undefined && !acceptable({ integrity: false }, slow) && !acceptable({ integrity: false }, big);
});

example('fuzzHolds fails when some mutant throws a TypeError (a law built on it can fail)', async () => {
  const t = await toy((b) => {
    if (b.length !== 8) throw new TypeError('length');
    return b;
  });
  const err = console.error;
  console.error = () => undefined;
  try {
    return !(await fuzzHolds(t, 200));
  } finally {
    console.error = err;
  }
});

// ---------------------------------------------------------------------------------------------
// The harness reaches behind the checks

const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');
const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));

example('a checkpoint edit resealed with its checksum, or as version 1, is accepted with the edit; unsealed it is a checksum Left', () => {
  const doc = JSON.parse(text(checkpointBytes('adam', 'idx:/nonexistent'))) as { meta: { history: { loss: number }[] } };
  doc.meta.history[0].loss = 2.5;
  const edited = bytes(JSON.stringify(doc));
  const unsealed = parseCheckpoint(edited, 'c.json');
  const sealed = parseCheckpoint(resealCheckpoint(edited, 'checksum')!, 'c.json');
  const v1 = parseCheckpoint(resealCheckpoint(edited, 'v1')!, 'c.json');
  const loss = (r: typeof sealed) => E.isRight(r) && (r.right.meta.history as { loss: number }[])[0].loss === 2.5;
  return E.isLeft(unsealed) && unsealed.left.kind === 'checksum' && loss(sealed) && E.isRight(sealed) && sealed.right.version === 2 && loss(v1) && E.isRight(v1) && v1.right.version === 1;
});

example('a .sttn file with a changed payload byte, resealed, gets past the CRC; a PNG with zeroed chunk CRCs resealed is the original', async () => {
  const t = await TARGETS.sttn(dir);
  const seed = t.input({ seed: 0, edits: [], reseal: 'none' } as BytesProgram as never) as Uint8Array;
  const changed = seed.slice();
  changed[changed.length - 8] ^= 0x01;
  const before = parseDeployed(changed, 'm.sttn');
  const after_ = parseDeployed(resealDeployed(changed)!, 'm.sttn');
  const png = pngBytes(3, 2, 2);
  const zeroed = png.slice();
  const v = new DataView(zeroed.buffer);
  for (let i = 8; i + 12 <= zeroed.length; i += 12 + v.getUint32(i)) v.setUint32(i + 8 + v.getUint32(i), 0);
  const resealed = resealPng(zeroed)!;
  return (
    E.isLeft(before) &&
    before.left.kind === 'checksum' &&
    !(E.isLeft(after_) && after_.left.kind === 'checksum') &&
    crc32(resealed) === crc32(png) &&
    resealed.length === png.length
  );
});

example('a JSON edit adds `__proto__` as an own key, and nests deeply without recursing', () => {
  const added = applyJsonEdit('{"a":1}', { kind: 'add', pick: 0, key: '__proto__', value: '{"polluted":true}', scope: 'all' });
  const nested = applyJsonEdit('{"a":1}', { kind: 'nest', pick: 0, depth: 100_000, objects: false, scope: 'all' });
  return added === '{"a":1,"__proto__":{"polluted":true}}' && nested !== undefined && nested.length === 100_000 * 2 + 6 && ({} as { polluted?: boolean }).polluted === undefined;
});

example('the CLI target: --version is accepted, eval of a missing file is a clean exit 1, an unknown flag a clean exit 2', async () => {
  const t = cliTarget(join(dir, 'cli-check'));
  const version = await t.run({ command: '--version', tokens: [] });
  const missing = await t.run({ command: 'eval', tokens: [{ t: 'file', which: 5 }] });
  const unknown = await t.run({ command: 'summary', tokens: [{ t: 'bad-flag', which: 0 }] });
  return version.outcome === 'accepted-unchanged' && missing.outcome === 'clean-error' && /^exit 1/.test(missing.detail) && unknown.outcome === 'clean-error' && /^exit 2/.test(unknown.detail);
});

/** A PNG from its chunks: signature, IHDR (8-bit grey, `width`×`height`), one IDAT of `rows` deflated, IEND. */
function pngOf(width: number, height: number, rows: Uint8Array): Uint8Array {
  const chunk = (type: string, data: Uint8Array): Buffer => {
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    out.write(type, 4, 'latin1');
    Buffer.from(data).copy(out, 8);
    out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return new Uint8Array(Buffer.concat([signature, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(rows)), chunk('IEND', new Uint8Array(0))]));
}

example('the PNG oracle: every seed PNG holds the rows it declares; a 4×4 PNG whose data holds 2 rows does not', () => {
  const two = Uint8Array.of(0, 200, 200, 200, 200, 0, 100, 100, 100, 100);
  const four = Uint8Array.of(...two, ...two);
  const seeds = [pngBytes(4, 4, 0), pngBytes(3, 3, 2), pngBytes(2, 2, 6), pngBytes(2, 3, 4, 16)];
  return seeds.every((b) => pngShortfall(b) === undefined) && pngShortfall(pngOf(4, 4, four)) === undefined && /inflates to 10 bytes.*: 20 bytes/.test(pngShortfall(pngOf(4, 4, two)) ?? '');
});
