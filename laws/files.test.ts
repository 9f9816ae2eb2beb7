/**
 * Laws of the files module (src/files.ts), on plain bytes: an atomic write reads back as written
 * (bytes or text, over an existing file, in any chunk size) and leaves nothing else behind; a
 * write failing at any step throws an AtomicWriteFailure naming the step, and leaves the previous
 * file and no temp; temp names are recognised and never look like a target; stale temps of dead
 * writers are swept, those of live writers kept; a missing file and an unreadable one are told
 * apart; gzip is recognised by content and inflates back to the bytes.
 *
 * The same writer killed mid-write by a real SIGKILL: laws/checkpoint.test.ts.
 */
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync as fs_writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { gzipSync } from 'node:zlib';
import { AtomicWriteFailure, gunzipIfGzip, isGzip, isTempName, readFileClassified, removeStaleTemps, tempPathFor, writeFileAtomic, type WriteIo } from '../src/files.js';
import { example, law } from './law.js';

const root = mkdtempSync(join(tmpdir(), 'sttn-files-'));
after(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const freshDir = (): string => mkdtempSync(join(root, `d${counter++}-`));

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

// ---- atomic writes --------------------------------------------------------------------------------

law('writeFileAtomic: the file reads back as written (bytes, then text over it), in any chunk size, and nothing else is left', [
  fc.uint8Array({ maxLength: 3000 }),
  fc.string({ unit: 'grapheme', maxLength: 200 }),
  fc.integer({ min: 1, max: 1024 }),
], (bytes, text, chunkBytes) => {
  const dir = freshDir();
  const file = join(dir, 'f.bin');
  writeFileAtomic(file, bytes, { chunkBytes });
  const first = sameBytes(readFileSync(file), bytes);
  writeFileAtomic(file, text, { chunkBytes });
  return first && readFileSync(file, 'utf8') === text && isDeepStrictEqual(readdirSync(dir), ['f.bin']);
}, { numRuns: 40 });

example('writeFileAtomic: { mkdir: true } creates the missing directories; without it the write fails at "open temp file" and creates nothing', () => {
  const dir = freshDir();
  const nested = join(dir, 'a', 'b', 'f.txt');
  let failure: unknown;
  try {
    writeFileAtomic(nested, 'x');
  } catch (e) {
    failure = e;
  }
  const refused = failure instanceof AtomicWriteFailure && failure.stage === 'open temp file' && readdirSync(dir).length === 0;
  writeFileAtomic(nested, 'hello', { mkdir: true });
  return refused && readFileSync(nested, 'utf8') === 'hello' && isDeepStrictEqual(readdirSync(dirname(nested)), ['f.txt']);
});

const STAGES = { openSync: 'open temp file', writeSync: 'write temp file', fsyncSync: 'fsync temp file', closeSync: 'close temp file', renameSync: 'rename temp file over target' } as const;

law('writeFileAtomic: a write failing at any step throws an AtomicWriteFailure naming the step, leaves the previous file and no temp', [
  fc.constantFrom(...(Object.keys(STAGES) as (keyof typeof STAGES)[])),
  fc.nat({ max: 5 }),
  fc.uint8Array({ minLength: 1, maxLength: 64 }),
], (stage, nth, previous) => {
  const dir = freshDir();
  const file = join(dir, 'f.bin');
  writeFileSync(file, previous);
  let calls = 0;
  const boom = (): never => {
    throw Object.assign(new Error('EIO: simulated failure'), { code: 'EIO' });
  };
  const io: Partial<WriteIo> =
    stage === 'writeSync' ? { writeSync: (fd, b, off, len) => (calls++ === nth ? boom() : fs_writeSync(fd, b, off, len)) } : { [stage]: boom };
  let failure: unknown;
  try {
    writeFileAtomic(file, new Uint8Array(4096).fill(7), { io, chunkBytes: 512 });
  } catch (e) {
    failure = e;
  }
  return (
    failure instanceof AtomicWriteFailure &&
    failure.stage === STAGES[stage] &&
    failure.reason.message.includes('simulated failure') &&
    isTempName(basename(failure.tmp)) &&
    sameBytes(readFileSync(file), previous) &&
    isDeepStrictEqual(readdirSync(dir), ['f.bin'])
  );
}, { numRuns: 30 });

example('temp names: tempPathFor puts a temp beside its target that isTempName recognises; targets and other hidden files are not temps', () => {
  const tmp = tempPathFor(join('/data', 'run', 'ckpt.json'));
  return (
    dirname(tmp) === join('/data', 'run') &&
    basename(tmp).startsWith(`.ckpt.json.${process.pid}.`) &&
    isTempName(basename(tmp)) &&
    isTempName('.ckpt.json.1234.k3j9.tmp') &&
    !isTempName('ckpt.json') &&
    !isTempName('.hidden.json') &&
    !isTempName('ckpt.json.tmp')
  );
});

example('removeStaleTemps: removes the temps of dead writers of this target only; keeps those of live writers and of other targets', () => {
  const dir = freshDir();
  const target = join(dir, 'f.bin');
  const dead = spawnSync(process.execPath, ['-e', '']).pid;
  const names = {
    dead: `.f.bin.${dead}.aaa.tmp`,
    parent: `.f.bin.${process.ppid}.bbb.tmp`,
    self: `.f.bin.${process.pid}.ccc.tmp`,
    other: `.g.bin.${dead}.ddd.tmp`,
  };
  for (const n of [...Object.values(names), 'f.bin']) writeFileSync(join(dir, n), 'x');
  const removed = removeStaleTemps(target);
  return isDeepStrictEqual(removed, [join(dir, names.dead)]) && isDeepStrictEqual(readdirSync(dir).sort(), [names.parent, names.self, names.other, 'f.bin'].sort());
});

// ---- reading ----------------------------------------------------------------------------------------

example('readFileClassified: the bytes of a file; a missing file and a directory are Lefts of different kinds', () => {
  const dir = freshDir();
  const file = join(dir, 'f.bin');
  writeFileSync(file, Uint8Array.of(1, 2, 3));
  const ok = readFileClassified(file);
  const missing = readFileClassified(join(dir, 'nope.bin'));
  const directory = readFileClassified(dir);
  return (
    E.isRight(ok) && sameBytes(ok.right, Uint8Array.of(1, 2, 3)) &&
    E.isLeft(missing) && missing.left.kind === 'missing' && missing.left.message === 'does not exist' &&
    E.isLeft(directory) && directory.left.kind === 'unreadable' && directory.left.message.includes('EISDIR')
  );
});

// ---- gzip -----------------------------------------------------------------------------------------------

law('gzip: gunzipIfGzip(gzip(b)) = b, and gunzipIfGzip(b) = b when b does not start with 1f 8b; isGzip tells the two apart', [fc.uint8Array({ maxLength: 256 })], (b) => {
  const z = gzipSync(b);
  const inflated = gunzipIfGzip(z);
  const plain = isGzip(b) || (() => {
    const r = gunzipIfGzip(b);
    return E.isRight(r) && r.right === b;
  })();
  return isGzip(z) && E.isRight(inflated) && sameBytes(inflated.right, b) && plain;
});

example('gzip: a truncated stream and a bare magic number are Lefts carrying zlib\'s error, never a throw', () => {
  const z = gzipSync(new Uint8Array(1000).fill(3));
  const cut = gunzipIfGzip(z.subarray(0, z.length - 6));
  const bare = gunzipIfGzip(Uint8Array.of(0x1f, 0x8b));
  return E.isLeft(cut) && cut.left.message.length > 0 && E.isLeft(bare) && !isGzip(Uint8Array.of(0x1f)) && !isGzip(new Uint8Array(0));
});
