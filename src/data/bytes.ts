/**
 * Reading a data file as bytes, gunzipped when it starts with the gzip magic bytes 1f 8b (the
 * name is not trusted: `x.gz` may be plain and `x` may be gzipped). The reading and the sniffing
 * are src/files.ts's (Node; gunzip.ts is the asynchronous, browser-safe twin); this module names the file in a DataFileError when either fails, and holds
 * every data file to a size limit: the file on disk and its content each have at most `maxBytes`
 * bytes (default DATA_FILE_LIMIT, 1 GiB), and a format that declares its size in a header
 * (`declared`, e.g. IDX) has that size checked against the limit from the first bytes, before
 * the rest is inflated — the content may then inflate to exactly the declared size, no further.
 *
 * Law (laws/data.test.ts): for every byte string `b`, `maybeGunzip(gzip(b)) = maybeGunzip(b) = b`
 * whenever `b` does not itself start with 1f 8b — so a plain file and its .gz load equal; a broken
 * gzip stream is a DataFileError naming the file; a file or a gzip stream past its limit, and a
 * header declaring more than the limit, are DataFileErrors saying "exceeds N bytes" / "declares".
 */
import * as E from 'fp-ts/lib/Either.js';
import { gunzipHead, gunzipIfGzip, isGzip, LimitExceeded, readFileClassified } from '../files.js';
import { DataFileError } from './dataset.js';
import { DATA_FILE_LIMIT, type ByteLimits, type DeclaredSize } from './gunzip.js';

export { isGzip };

export { DATA_FILE_LIMIT, type ByteLimits, type DeclaredSize };

/**
 * `bytes`, or their gunzipped content when they are a gzip stream; a bad stream names `file`.
 * Limit: the content has at most `limits.maxBytes` bytes (default 1 GiB), or exactly what
 * `limits.declared` reads from its head, whichever is smaller; inflating stops there.
 */
export function maybeGunzip(bytes: Uint8Array, file: string, limits: ByteLimits = {}): Uint8Array {
  const max = limits.maxBytes ?? DATA_FILE_LIMIT;
  let limit = max;
  if (limits.declared !== undefined) {
    const head = gunzipHead(bytes, limits.declared.headBytes);
    if (E.isLeft(head)) throw new DataFileError(file, 'gzip stream', `cannot be decompressed: ${head.left.message}`);
    const size = limits.declared.size(head.right);
    if (!(size <= max)) throw new DataFileError(file, 'header', `declares ${size} bytes of content, which exceeds ${max} bytes, the limit for this file`);
    limit = Math.max(size, head.right.length);
  }
  if (!isGzip(bytes) && bytes.length > max) {
    throw new DataFileError(file, 'file', `size exceeds ${max} bytes, the limit for this file`);
  }
  const r = gunzipIfGzip(bytes, limit);
  if (E.isLeft(r)) {
    if (!(r.left instanceof LimitExceeded)) throw new DataFileError(file, 'gzip stream', `cannot be decompressed: ${r.left.message}`);
    throw new DataFileError(file, 'gzip stream', `${r.left.message}, ${limits.declared !== undefined ? 'the size its header declares' : 'the limit for this file'}`);
  }
  return r.right;
}

/**
 * The content of `file`, gunzipped when needed; a missing or unreadable file is a DataFileError
 * naming it. Limit: `limits` as in `maybeGunzip` (default 1 GiB), for the file read from disk
 * (or a pipe; a device is refused) and for its content.
 */
export function readBytes(file: string, limits: ByteLimits = {}): Uint8Array {
  const r = readFileClassified(file, { maxBytes: limits.maxBytes ?? DATA_FILE_LIMIT });
  if (E.isLeft(r)) throw new DataFileError(file, 'file', r.left.message);
  const b = r.right;
  return maybeGunzip(new Uint8Array(b.buffer, b.byteOffset, b.byteLength), file, limits);
}
