/**
 * Files on disk, for every module that reads or writes one (checkpoints, deployed models, data
 * loaders, image readers, experiment cells). Node only: node:fs and node:zlib.
 *
 * - `writeFileAtomic`: the bytes go to a temp file in the target's directory
 *   (`.<name>.<pid>.<random>.tmp`), written in chunks, fsynced, then renamed over the target; the
 *   directory is fsynced where the platform allows. A reader sees the old file or the whole new
 *   one, never a mix; a writer killed at any moment leaves at most a temp file, which the next
 *   write of the same target removes once its writer is dead.
 * - `readFileClassified`: the bytes, or why not: `missing` or `unreadable` (with the system's code).
 * - `isGzip` / `gunzipIfGzip`: gzip is told by its magic bytes 1f 8b, never by the file's name.
 *
 * Law (laws/files.test.ts): read(write(b)) = b, also over an existing file; a write failing at any
 * step throws an AtomicWriteFailure naming the step and leaves the previous file and no temp;
 * temps of dead writers are swept, a live writer's are kept; a missing file and a directory are
 * told apart; gunzipIfGzip(gzip(b)) = b. (laws/checkpoint.test.ts): a writer SIGKILLed mid-write,
 * or at any moment, leaves the previous file or the whole new one.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';

// ---------------------------------------------------------------------------------------------
// Reading

/** Why a file could not be read: it is not there, or the system refused (the message says how). */
export interface ReadFailure {
  readonly kind: 'missing' | 'unreadable';
  readonly message: string;
  readonly cause: unknown;
}

/** The bytes of `file`, or why they cannot be read; each caller wraps the failure in its own error. */
export function readFileClassified(file: string): E.Either<ReadFailure, Buffer> {
  try {
    return E.right(fs.readFileSync(file));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return E.left({ kind: 'missing', message: 'does not exist', cause: e });
    return E.left({ kind: 'unreadable', message: `cannot be read (${code ?? (e as Error).message})`, cause: e });
  }
}

// ---------------------------------------------------------------------------------------------
// Gzip

/** True when `b` starts with the gzip magic bytes 1f 8b. */
export const isGzip = (b: Uint8Array): boolean => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

/** `bytes`, or their inflated content when they are a gzip stream; a broken stream is a Left with zlib's error. */
export function gunzipIfGzip(bytes: Uint8Array): E.Either<Error, Uint8Array> {
  if (!isGzip(bytes)) return E.right(bytes);
  try {
    const out = gunzipSync(bytes);
    return E.right(new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
  } catch (e) {
    return E.left(e as Error);
  }
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
  /** Create the target's directory (and its parents) first (default false). */
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
    if (opts.mkdir === true) fs.mkdirSync(dirname(target), { recursive: true });
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
