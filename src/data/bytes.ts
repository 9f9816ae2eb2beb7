/**
 * Reading a data file as bytes, gunzipping it when it starts with the gzip magic bytes 1f 8b
 * (the name is not trusted: `x.gz` may be plain and `x` may be gzipped).
 *
 * Law (laws/data.test.ts): for every byte string `b`, `maybeGunzip(gzip(b)) = maybeGunzip(b) = b`
 * whenever `b` does not itself start with 1f 8b — so a plain file and its .gz load equal.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { DataFileError } from './dataset.js';

export const isGzip = (b: Uint8Array): boolean => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

/** `bytes`, or their gunzipped content when they are a gzip stream; a bad stream names `file`. */
export function maybeGunzip(bytes: Uint8Array, file: string): Uint8Array {
  if (!isGzip(bytes)) return bytes;
  try {
    const out = gunzipSync(bytes);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (e) {
    throw new DataFileError(file, 'gzip stream', `cannot be decompressed: ${(e as Error).message}`);
  }
}

/** The content of `file`, gunzipped when needed. */
export function readBytes(file: string): Uint8Array {
  const b = readFileSync(file);
  return maybeGunzip(new Uint8Array(b.buffer, b.byteOffset, b.byteLength), file);
}
