/**
 * Files on disk, for every module that reads or writes one (checkpoints, deployed models, data
 * loaders, image readers, experiment cells). Node only: node:fs and node:zlib.
 *
 * - `writeFileAtomic`: the bytes go to a temp file in the target's directory
 *   (`.<name>.<pid>.<random>.tmp`), written in chunks, fsynced, then renamed over the target; the
 *   directory is fsynced where the platform allows. A reader sees the old file or the whole new
 *   one, never a mix; a writer killed at any moment leaves at most a temp file, which the next
 *   write of the same target removes once its writer is dead.
 * - `makeDirs`: a directory and its missing parents, made one level at a time (a recursive mkdir
 *   never returns under /proc); `writeFileAtomic({ mkdir: true })` and the CLI's output
 *   directories use it. A file in the way, or a refusal, is a DirectoryError naming the path.
 * - `readFileClassified`: the bytes, or why not: `missing` or `unreadable` (with the system's code),
 *   at most a stated number of bytes (default 512 MiB), also from a pipe; a device is refused.
 * - `isGzip` / `gunzipIfGzip` / `gunzipHead`: gzip is told by its magic bytes 1f 8b, never by the
 *   file's name; inflating stops at a stated size (default 512 MiB), and a header can be read
 *   before the rest is inflated. Every input of unknown size has a limit, and passing it is a
 *   `LimitExceeded` ("… size exceeds N bytes"), found before anything that large is allocated.
 *
 * Law (laws/files.test.ts): read(write(b)) = b, also over an existing file; a write failing at any
 * step throws an AtomicWriteFailure naming the step and leaves the previous file and no temp;
 * temps of dead writers are swept, a live writer's are kept; a missing file and a directory are
 * told apart; gunzipIfGzip(gzip(b)) = b and gunzipHead(gzip(b), n) = b[0, n); a file or a FIFO
 * longer than the read limit, and a gzip stream inflating past its limit, are Lefts that say
 * "exceeds N bytes"; /dev/zero is refused as a device before anything is read; makeDirs makes
 * every missing level and names a file in the way; under /proc it, and a write with
 * `{ mkdir: true }`, fail within seconds.
 * (laws/checkpoint.test.ts): a writer SIGKILLed mid-write, or at any moment, leaves the previous
 * file or the whole new one.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as buffer from 'node:buffer';
import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { constants as zlibConstants, gunzipSync } from 'node:zlib';
import { startsGzip } from './data/gunzip.js';

// ---------------------------------------------------------------------------------------------
// Reading

/**
 * The most bytes `readFileClassified` reads when the caller states no limit: 512 MiB. The readers
 * that rely on it hold JSON (checkpoints, experiment cells), and V8 holds no string longer than
 * 2^29 − 24 characters, so a larger file could not be parsed anyway. Readers of binary formats
 * pass their own limit (data files, images, deployed models).
 */
export const READ_LIMIT = 2 ** 29;

/** Bytes per read call for a file of unknown size (a pipe): 64 KiB. */
const STREAM_CHUNK = 64 * 1024;

/**
 * A size limit was reached: `what` is `read` (the file holds more than `limit` bytes) or
 * `decompressed` (a gzip stream inflates to more than `limit` bytes). Its message says
 * "… exceeds `limit` bytes"; the reader stopped there, so nothing larger was allocated.
 */
export class LimitExceeded extends Error {
  override readonly name = 'LimitExceeded';
  constructor(
    readonly what: 'read' | 'decompressed',
    readonly limit: number,
    message: string,
  ) {
    super(message);
  }
}

/** Why a file could not be read: it is not there, or the system refused (the message says how). */
export interface ReadFailure {
  readonly kind: 'missing' | 'unreadable';
  readonly message: string;
  /** the system's error, or a LimitExceeded when the file is larger than the limit */
  readonly cause: unknown;
}

export interface ReadOptions {
  /** The most bytes read (default READ_LIMIT, 512 MiB); a larger file is a Left whose message says "exceeds N bytes". */
  readonly maxBytes?: number;
}

const checkLimit = (name: string, n: number, max: number): number => {
  if (!Number.isSafeInteger(n) || n < 0 || n > max) throw new RangeError(`${name} must be an integer in [0, ${max}], got ${n}`);
  return n;
};

/**
 * The bytes of `file`, or why they cannot be read; each caller wraps the failure in its own error.
 * Limit: at most `opts.maxBytes` bytes (default READ_LIMIT, 512 MiB). A regular file larger than
 * that is refused from its size before anything is read; a pipe (a FIFO, `<(…)`), whose size is
 * not known in advance, and a file that grows while it is read, are read in chunks and refused at
 * the first byte past the limit — never read to their end just to be rejected. A device
 * (`/dev/zero`) or a socket is refused before anything is read: no model or data file is one.
 */
export function readFileClassified(file: string, opts: ReadOptions = {}): E.Either<ReadFailure, Buffer> {
  const limit = checkLimit('maxBytes', opts.maxBytes ?? READ_LIMIT, buffer.constants.MAX_LENGTH - 1);
  const tooLarge = (what: string): E.Either<ReadFailure, Buffer> => {
    const e = new LimitExceeded('read', limit, `${what} size exceeds ${limit} bytes, the read limit`);
    return E.left({ kind: 'unreadable', message: e.message, cause: e });
  };
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const st = fs.fstatSync(fd);
    const device = st.isCharacterDevice() ? 'a character device' : st.isBlockDevice() ? 'a block device' : st.isSocket() ? 'a socket' : null;
    if (device !== null) return E.left({ kind: 'unreadable', message: `cannot be read: it is ${device}, not a file or a pipe`, cause: new Error(`${file} is ${device}`) });
    if (st.isFile() && st.size > limit) return tooLarge(`is ${st.size} bytes: its`);
    // a regular file is read into one buffer of its size (+1 byte to notice growth); anything
    // else, and a file that grew, in chunks
    const chunks: Buffer[] = [];
    let total = 0;
    let size = st.isFile() ? Math.min(st.size, limit) + 1 : Math.min(STREAM_CHUNK, limit + 1);
    for (;;) {
      const buf = Buffer.alloc(size);
      let got = 0;
      while (got < size) {
        const n = fs.readSync(fd, buf, got, size - got, null);
        if (n === 0) break;
        got += n;
      }
      total += got;
      if (total > limit) return tooLarge(st.isFile() ? 'grew while being read: its' : 'is a pipe, and reading stopped where its');
      chunks.push(got === size ? buf : buf.subarray(0, got));
      if (got < size) break;
      size = Math.min(STREAM_CHUNK, limit + 1 - total);
    }
    return E.right(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return E.left({ kind: 'missing', message: 'does not exist', cause: e });
    return E.left({ kind: 'unreadable', message: `cannot be read (${code ?? (e as Error).message})`, cause: e });
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------
// Gzip

/**
 * The most bytes `gunzipIfGzip` inflates to when the caller states no limit: 512 MiB. The readers
 * that rely on it hold JSON (checkpoints), and V8 holds no string longer than 2^29 − 24
 * characters, so a larger content could not be parsed anyway. Readers of formats that declare
 * their size pass that size instead (IDX, src/data/bytes.ts).
 */
export const GUNZIP_LIMIT = 2 ** 29;

/** True when `b` starts with the gzip magic bytes 1f 8b (the one sniffer, shared with the browser path). */
export const isGzip = startsGzip;

const bufferTooLarge = (e: unknown): boolean => (e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
const view = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/**
 * `bytes`, or their inflated content when they are a gzip stream; a broken stream is a Left with
 * zlib's error. Limit: the content may have at most `maxBytes` bytes (default GUNZIP_LIMIT,
 * 512 MiB); inflating stops at the first chunk past it (zlib's `maxOutputLength`) with a Left
 * LimitExceeded: "decompressed size exceeds `maxBytes` bytes".
 */
export function gunzipIfGzip(bytes: Uint8Array, maxBytes: number = GUNZIP_LIMIT): E.Either<Error, Uint8Array> {
  checkLimit('maxBytes', maxBytes, buffer.constants.MAX_LENGTH);
  if (!isGzip(bytes)) return E.right(bytes);
  try {
    const out = gunzipSync(bytes, { maxOutputLength: Math.max(1, maxBytes) });
    if (out.length <= maxBytes) return E.right(view(out));
  } catch (e) {
    if (!bufferTooLarge(e)) return E.left(e as Error);
  }
  return E.left(new LimitExceeded('decompressed', maxBytes, `decompressed size exceeds ${maxBytes} bytes`));
}

/** Prefixes of a gzip stream tried by `gunzipHead`, and the most one of them may inflate to. */
const HEAD_PREFIXES = [64, 256, 1024, 4096, 16384, 65536];
const HEAD_OUTPUT_LIMIT = 4 * 1024 * 1024;

/**
 * The first `n` bytes of the content of `bytes` (inflated when they are a gzip stream), or fewer
 * when the content is shorter: what a format's header declares can be checked before the rest is
 * inflated. Limit: only a prefix of the stream is inflated, at most 64 KiB of it, to at most
 * 4 MiB; a stream whose first `n` bytes do not come out of that (a gzip header padded with a huge
 * name, say) is a Left.
 */
export function gunzipHead(bytes: Uint8Array, n: number): E.Either<Error, Uint8Array> {
  if (!isGzip(bytes)) return E.right(bytes.subarray(0, n));
  for (const p of HEAD_PREFIXES) {
    const whole = p >= bytes.length;
    try {
      // Z_SYNC_FLUSH: a cut stream yields what its prefix holds instead of an error
      const out = gunzipSync(bytes.subarray(0, p), { finishFlush: zlibConstants.Z_SYNC_FLUSH, maxOutputLength: HEAD_OUTPUT_LIMIT });
      if (out.length >= n || whole) return E.right(view(out).subarray(0, n));
    } catch (e) {
      if (!bufferTooLarge(e)) return E.left(e as Error);
      break;
    }
  }
  return E.left(new LimitExceeded('decompressed', HEAD_OUTPUT_LIMIT, `the first ${n} bytes of the content do not come out of the first ${HEAD_PREFIXES[HEAD_PREFIXES.length - 1]} bytes of the gzip stream`));
}

// ---------------------------------------------------------------------------------------------
// Directories

/**
 * A directory could not be made: `at` (the directory itself or one of its parents) is a file, or
 * the system refused. The message names `dir` first, then what went wrong (`detail`).
 */
export class DirectoryError extends Error {
  override readonly name = 'DirectoryError';
  constructor(
    readonly dir: string,
    readonly at: string,
    readonly detail: string,
    options?: ErrorOptions,
  ) {
    super(`${dir}: ${detail}`, options);
  }
}

const errCode = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | undefined)?.code;

const isDirectory = (d: string): boolean => {
  try {
    return fs.statSync(d).isDirectory();
  } catch {
    return false;
  }
};

/**
 * Make `dir` and its missing parents, one level at a time: `mkdirSync(dir, { recursive: true })`
 * never returns for a path under /proc (the kernel answers ENOENT, and Node retries forever), so
 * every writer that makes directories goes through here. The walk up the path is bounded by its
 * length, and a second ENOENT at a level whose parent exists is final. Throws a DirectoryError
 * naming `dir`, and the level that is a file when one is in the way.
 */
export function makeDirs(dir: string): void {
  const cannot = (d: string, e: unknown) =>
    new DirectoryError(dir, d, `cannot create the directory${d === dir ? '' : ` ${d}`} (${(e as Error).message})`, { cause: e });
  const fileInTheWay = (d: string) => new DirectoryError(dir, d, d === dir ? 'is a file, not a directory' : `${d} is a file, not a directory`);
  const make = (d: string): void => {
    try {
      fs.mkdirSync(d);
      return;
    } catch (e) {
      const code = errCode(e);
      if (code === 'EEXIST') {
        if (!isDirectory(d)) throw fileInTheWay(d);
        return;
      }
      // ENOTDIR: some parent is a file; the walk up finds which
      const parent = dirname(d);
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || parent === d) throw cannot(d, e);
      make(parent);
    }
    // the parents exist now; a second failure is final (under /proc an ENOENT always is)
    try {
      fs.mkdirSync(d);
    } catch (e) {
      if (errCode(e) === 'EEXIST' && isDirectory(d)) return;
      if (errCode(e) === 'EEXIST') throw fileInTheWay(d);
      throw cannot(d, e);
    }
  };
  make(dir);
}

// ---------------------------------------------------------------------------------------------
// Atomic writing

/** The file-system calls a write makes; a test may replace any of them to inject a failure. */
export interface WriteIo {
  readonly openSync: (path: string, flags: string) => number;
  readonly writeSync: (fd: number, buffer: Uint8Array, offset: number, length: number) => number;
  readonly fsyncSync: (fd: number) => void;
  readonly closeSync: (fd: number) => void;
  readonly renameSync: (from: string, to: string) => void;
  readonly unlinkSync: (path: string) => void;
}

const nodeIo: WriteIo = {
  openSync: (p, flags) => fs.openSync(p, flags),
  writeSync: (fd, b, off, len) => fs.writeSync(fd, b, off, len),
  fsyncSync: (fd) => fs.fsyncSync(fd),
  closeSync: (fd) => fs.closeSync(fd),
  renameSync: (a, b) => fs.renameSync(a, b),
  unlinkSync: (p) => fs.unlinkSync(p),
};

export interface WriteOptions {
  /** Bytes per write call (default 4 MiB). */
  readonly chunkBytes?: number;
  /** Create the target's directory (and its parents) first, with `makeDirs` (default false). */
  readonly mkdir?: boolean;
  /** Test seam: replaces some of the file-system calls. */
  readonly io?: Partial<WriteIo>;
}

// `.` prefix hides temps from `ls` and from globs such as `*.json`; the `.tmp` suffix is never a
// name sttn writes. Group 1 is the target's base name, group 2 the writer's pid.
const TEMP_NAME = /^\.(.+)\.(\d+)\.[0-9a-z]+\.tmp$/;

/** True when `name` (a base name) is a temp file of some atomic write, never a target. */
export const isTempName = (name: string): boolean => TEMP_NAME.test(name);

/** A fresh temp path next to `target`, for this process. */
export function tempPathFor(target: string): string {
  const rand = Math.floor(Math.random() * 2 ** 32).toString(36);
  return join(dirname(target), `.${basename(target)}.${process.pid}.${rand}.tmp`);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Delete temp files left next to `target` by writers whose process has died (killed mid-write).
 * Temps of live processes (a write in progress) are kept. Returns the removed paths.
 */
export function removeStaleTemps(target: string): string[] {
  const dir = dirname(target);
  const base = basename(target);
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = TEMP_NAME.exec(name);
    if (m === null || m[1] !== base) continue;
    const pid = Number(m[2]);
    if (pid === process.pid || pidAlive(pid)) continue;
    try {
      fs.unlinkSync(join(dir, name));
      removed.push(join(dir, name));
    } catch {
      // already gone, or not ours to remove: leave it
    }
  }
  return removed;
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // not possible on every platform (Windows cannot open a directory): the rename is still atomic
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Why an atomic write failed: the stage, the temp file, and the underlying error. */
export class AtomicWriteFailure extends Error {
  override readonly name = 'AtomicWriteFailure';
  constructor(
    readonly stage: string,
    readonly tmp: string,
    readonly reason: Error,
  ) {
    super(`atomic write failed at "${stage}" (${tmp}): ${reason.message}`, { cause: reason });
  }
}

/**
 * Write `data` (bytes, or text as UTF-8) to `target` so that a reader sees either the old file or
 * the whole new one (see the module header); then temps left by dead writers of the same target
 * are removed. Throws an `AtomicWriteFailure` naming the stage that failed; the temp is removed
 * and `target` is untouched.
 */
export function writeFileAtomic(target: string, data: Uint8Array | string, opts: WriteOptions = {}): void {
  const io: WriteIo = { ...nodeIo, ...opts.io };
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const chunk = Math.max(1, opts.chunkBytes ?? 4 * 1024 * 1024);
  const tmp = tempPathFor(target);
  let stage = 'create directory';
  let fd: number | undefined;
  try {
    if (opts.mkdir === true) makeDirs(dirname(target));
    stage = 'open temp file';
    fd = io.openSync(tmp, 'wx');
    stage = 'write temp file';
    let off = 0;
    while (off < bytes.length) off += io.writeSync(fd, bytes, off, Math.min(chunk, bytes.length - off));
    stage = 'fsync temp file';
    io.fsyncSync(fd);
    stage = 'close temp file';
    const f = fd;
    fd = undefined;
    io.closeSync(f);
    stage = 'rename temp file over target';
    io.renameSync(tmp, target);
  } catch (e) {
    if (fd !== undefined) {
      try {
        io.closeSync(fd);
      } catch {
        // the write already failed; report that
      }
    }
    try {
      io.unlinkSync(tmp);
    } catch {
      // never created, or already gone
    }
    throw new AtomicWriteFailure(stage, tmp, e as Error);
  }
  fsyncDir(dirname(target));
  removeStaleTemps(target);
}

