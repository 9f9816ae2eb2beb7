/**
 * Reading a data file as bytes, gunzipped when it starts with the gzip magic bytes 1f 8b (the
 * name is not trusted: `x.gz` may be plain and `x` may be gzipped). The reading and the sniffing
 * are src/files.ts's; this module names the file in a DataFileError when either fails.
 *
 * Law (laws/data.test.ts): for every byte string `b`, `maybeGunzip(gzip(b)) = maybeGunzip(b) = b`
 * whenever `b` does not itself start with 1f 8b — so a plain file and its .gz load equal; a broken
 * gzip stream is a DataFileError naming the file.
 */
import * as E from 'fp-ts/lib/Either.js';
import { gunzipIfGzip, isGzip, readFileClassified } from '../files.js';
import { DataFileError } from './dataset.js';

export { isGzip };

/** `bytes`, or their gunzipped content when they are a gzip stream; a bad stream names `file`. */
export function maybeGunzip(bytes: Uint8Array, file: string): Uint8Array {
  const r = gunzipIfGzip(bytes);
  if (E.isLeft(r)) throw new DataFileError(file, 'gzip stream', `cannot be decompressed: ${r.left.message}`);
  return r.right;
}

/** The content of `file`, gunzipped when needed; a missing or unreadable file is a DataFileError naming it. */
export function readBytes(file: string): Uint8Array {
  const r = readFileClassified(file);
  if (E.isLeft(r)) throw new DataFileError(file, 'file', r.left.message);
  const b = r.right;
  return maybeGunzip(new Uint8Array(b.buffer, b.byteOffset, b.byteLength), file);
}
