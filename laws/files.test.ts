/**
 * Laws of the files module (src/files.ts), on plain bytes: an atomic write reads back as written
 * (bytes or text, over an existing file, in any chunk size) and leaves nothing else behind; a
 * write failing at any step throws an AtomicWriteFailure naming the step, and leaves the previous
 * file and no temp; temp names are recognised and never look like a target; stale temps of dead
 * writers are swept, those of live writers kept; a missing file and an unreadable one are told
 * apart; gzip is recognised by content and inflates back to the bytes; every read and every
 * inflate stops at its limit (a file, a FIFO, a gzip bomb) with a Left saying "exceeds N bytes",
 * and a device (/dev/zero) is refused before anything is read; `makeDirs` makes every missing
 * level of a path, names a file in the way, and under /proc (where a recursive mkdir never
 * returns) fails at once, and so does a write with `{ mkdir: true }`.
 *
 * The same writer killed mid-write by a real SIGKILL: laws/checkpoint.test.ts.
 */
import { spawn, spawnSync } from 'node:child_process';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync as fs_writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { gzipSync } from 'node:zlib';
import { AtomicWriteFailure, DirectoryError, gunzipHead, gunzipIfGzip, isGzip, isTempName, LimitExceeded, makeDirs, readFileClassified, removeStaleTemps, tempPathFor, writeFileAtomic, type WriteIo } from '../src/files.js';
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

const segment = fc.stringMatching(/^[a-z0-9]{1,6}$/);

law('makeDirs: makes every missing level of a nested path (again: nothing to do); a file at any level is a DirectoryError naming it, and nothing is made past it', [
  fc.array(segment, { minLength: 1, maxLength: 5 }),
  fc.nat(),
  fc.boolean(),
], (segs, k, blocked) => {
  const dir = freshDir();
  const target = join(dir, ...segs);
  if (!blocked) {
    makeDirs(target);
    makeDirs(target);
    return statSync(target).isDirectory();
  }
  // a file where level `at` of the path should be a directory
  const at = join(dir, ...segs.slice(0, 1 + (k % segs.length)));
  mkdirSync(dirname(at), { recursive: true });
  writeFileSync(at, 'keep me');
  try {
    makeDirs(target);
    return false;
  } catch (e) {
    return e instanceof DirectoryError && e.dir === target && e.message.includes(at) && e.message.includes('is a file') && readFileSync(at, 'utf8') === 'keep me';
  }
}, { numRuns: 40 });

example('makeDirs, and writeFileAtomic with { mkdir: true }, under /proc (where a recursive mkdir never returns): an error naming the directory within seconds (in a child process)', () => {
  if (!existsSync('/proc/self')) return true;
  const code = `import { makeDirs, writeFileAtomic } from ${JSON.stringify(new URL('../src/files.ts', import.meta.url).href)};
    const said = [];
    try { makeDirs('/proc/sttn-law/a/b'); said.push('made'); } catch (e) { said.push(e.name + ': ' + e.message); }
    try { writeFileAtomic('/proc/sttn-law/c/f.bin', 'x', { mkdir: true }); said.push('written'); } catch (e) { said.push(e.name + ' [' + e.stage + ']: ' + e.message); }
    console.log(JSON.stringify(said));`;
  const t0 = Date.now();
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 30_000 });
  let said: unknown;
  try {
    said = JSON.parse(child.stdout);
  } catch {
    return false;
  }
  const [made, written] = said as string[];
  return (
    child.status === 0 && Date.now() - t0 < 30_000 &&
    made.startsWith('DirectoryError: /proc/sttn-law/a/b: ') && made.includes('cannot create') &&
    written.startsWith('AtomicWriteFailure [create directory]: ') && written.includes('/proc/sttn-law/c')
  );
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

// ---- limits -----------------------------------------------------------------------------------------

const exceeds = (r: E.Either<{ message: string; cause?: unknown }, unknown>, limit: number, what: 'read' | 'decompressed'): boolean =>
  E.isLeft(r) && r.left.message.includes(`exceeds ${limit} bytes`) && (r.left instanceof LimitExceeded ? r.left : r.left.cause) instanceof LimitExceeded &&
  ((r.left instanceof LimitExceeded ? r.left : r.left.cause) as LimitExceeded).what === what;

law('readFileClassified: a file of at most maxBytes bytes reads back whole; a larger one is a Left that says "size exceeds maxBytes bytes", read or not', [
  fc.uint8Array({ maxLength: 300 }),
  fc.nat({ max: 400 }),
], (bytes, maxBytes) => {
  const file = join(freshDir(), 'f.bin');
  writeFileSync(file, bytes);
  const r = readFileClassified(file, { maxBytes });
  return bytes.length <= maxBytes ? E.isRight(r) && sameBytes(r.right, bytes) : E.isLeft(r) && exceeds(r, maxBytes, 'read') && r.left.kind === 'unreadable';
});

/** A FIFO in a fresh directory, with `n` bytes written into it by another process. */
function fifoWith(n: number): string | null {
  const fifo = join(freshDir(), 'pipe');
  if (spawnSync('mkfifo', [fifo]).status !== 0) return null;
  // the writer blocks until the read end opens; it gets EPIPE if the reader stops early
  spawn('sh', ['-c', 'head -c "$1" /dev/urandom > "$2" 2>/dev/null', 'sh', String(n), fifo], { stdio: 'ignore' }).unref();
  return fifo;
}

law('readFileClassified: a FIFO (its size unknown) reads back whole up to maxBytes, and reading stops at the first byte past it', [
  fc.nat({ max: 200_000 }),
  fc.nat({ max: 200_000 }),
], (n, maxBytes) => {
  const fifo = fifoWith(n);
  if (fifo === null) return true; // no mkfifo on this platform
  const r = readFileClassified(fifo, { maxBytes });
  return n <= maxBytes ? E.isRight(r) && r.right.length === n : E.isLeft(r) && exceeds(r, maxBytes, 'read') && r.left.message.includes('is a pipe, and reading stopped');
}, { numRuns: 12 });

example('readFileClassified: /dev/zero, endless, is refused as a device before anything is read (in a child process, so that a regression cannot take this one down)', () => {
  if (!existsSync('/dev/zero')) return true;
  const code = `import { readFileClassified } from ${JSON.stringify(new URL('../src/files.ts', import.meta.url).href)};
    const r = readFileClassified('/dev/zero', { maxBytes: 1 << 20 });
    console.log(r._tag === 'Left' ? r.left.kind + ': ' + r.left.message : 'read ' + r.right.length);`;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 60_000 });
  return child.status === 0 && child.stdout.trim() === 'unreadable: cannot be read: it is a character device, not a file or a pipe';
});

law('gzip: gunzipIfGzip inflates a stream of at most maxBytes bytes of content; a larger one (a bomb) is a Left that says "decompressed size exceeds maxBytes bytes"', [
  fc.nat({ max: 200_000 }),
  fc.nat({ max: 200_000 }),
  fc.integer({ min: 0, max: 255 }),
], (n, maxBytes, fill) => {
  const r = gunzipIfGzip(gzipSync(new Uint8Array(n).fill(fill)), maxBytes);
  return n <= maxBytes ? E.isRight(r) && r.right.length === n && r.right.every((x) => x === fill) : exceeds(r, maxBytes, 'decompressed');
}, { numRuns: 40 });

example('gzip: 10 MB of zeros gzipped (10 kB) with a 1 MB limit is a Left naming the limit, and inflating stopped near it', () => {
  const bomb = gzipSync(new Uint8Array(10_000_000));
  const before = process.memoryUsage().arrayBuffers;
  const r = gunzipIfGzip(bomb, 1_000_000);
  return bomb.length < 20_000 && exceeds(r, 1_000_000, 'decompressed') && process.memoryUsage().arrayBuffers - before < 4_000_000;
});

law('gzip: gunzipHead(gzip(b), n) = b[0, n), and gunzipHead(b, n) = b[0, n) for plain bytes, even when the rest of b is a bomb', [
  fc.uint8Array({ maxLength: 64 }),
  fc.nat({ max: 80 }),
  fc.nat({ max: 5_000_000 }),
], (b, n, zeros) => {
  const whole = new Uint8Array(b.length + zeros);
  whole.set(b);
  const head = gunzipHead(gzipSync(whole), n);
  const expect = whole.subarray(0, n);
  const plain = isGzip(b) || (() => {
    const r = gunzipHead(b, n);
    return E.isRight(r) && sameBytes(r.right, b.subarray(0, n));
  })();
  return E.isRight(head) && sameBytes(head.right, expect) && head.right.buffer.byteLength <= 2 * 1024 * 1024 && plain;
}, { numRuns: 30 });
