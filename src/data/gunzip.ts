/**
 * Gunzip without Node: a data file's bytes, inflated by the platform's `DecompressionStream('gzip')`
 * (browsers, Node ≥ 18) when they start with the gzip magic bytes 1f 8b, with the limits of
 * bytes.ts (Node's synchronous twin, which inflates with node:zlib): the content has at most
 * `maxBytes` bytes (default DATA_FILE_LIMIT, 1 GiB), and a format that declares its size in a
 * header (`declared`, e.g. IDX) has that size checked from the first bytes that come out, before
 * the rest is inflated; inflating stops at the declared size.
 *
 * Law (laws/assets.test.ts): `gunzip` equals bytes.ts's `maybeGunzip` on plain and gzipped bytes,
 * and a stream past its limit is the same DataFileError; a broken stream is a DataFileError naming
 * the file.
 */
import { DataFileError } from './dataset.js';

/** The most bytes a data file, and its content once gunzipped, may have unless told otherwise: 1 GiB. */
export const DATA_FILE_LIMIT = 2 ** 30;

/** A format whose first `headBytes` bytes declare the size of the whole content. */
export interface DeclaredSize {
  readonly headBytes: number;
  /**
   * The content's size in bytes as `head` (the first `headBytes` bytes, fewer when the content is
   * shorter) declares it; may throw a DataFileError naming a bad header field.
   */
  readonly size: (head: Uint8Array) => number;
}

export interface ByteLimits {
  /** The most bytes the file, and its content, may have (default DATA_FILE_LIMIT, 1 GiB). */
  readonly maxBytes?: number;
  /** The size the format declares; checked against `maxBytes` before inflating, and then the inflate limit. */
  readonly declared?: DeclaredSize;
}

/** Whether `b` starts with the gzip magic bytes 1f 8b (the name of a file is never trusted). */
export const startsGzip = (b: Uint8Array): boolean => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

function checkDeclared(file: string, limits: ByteLimits, head: Uint8Array, max: number): number {
  const size = limits.declared!.size(head);
  if (!(size <= max)) throw new DataFileError(file, 'header', `declares ${size} bytes of content, which exceeds ${max} bytes, the limit for this file`);
  return Math.max(size, head.length);
}

/**
 * `bytes`, or their gunzipped content when they are a gzip stream; `file` names them in errors.
 * Limits as in bytes.ts's `maybeGunzip`.
 */
export async function gunzip(bytes: Uint8Array, file: string, limits: ByteLimits = {}): Promise<Uint8Array> {
  const max = limits.maxBytes ?? DATA_FILE_LIMIT;
  if (!startsGzip(bytes)) {
    if (bytes.length > max) throw new DataFileError(file, 'file', `size exceeds ${max} bytes, the limit for this file`);
    if (limits.declared !== undefined) checkDeclared(file, limits, bytes.subarray(0, limits.declared.headBytes), max);
    return bytes;
  }
  if (typeof DecompressionStream === 'undefined') {
    throw new DataFileError(file, 'gzip stream', 'this platform has no DecompressionStream: give the bytes gunzipped');
  }
  const headBytes = limits.declared?.headBytes;
  let limit = headBytes === undefined ? max : Infinity;
  const chunks: Uint8Array[] = [];
  let total = 0;
  const input = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip'));
  const reader = input.getReader();
  const concat = (n: number): Uint8Array => {
    const out = new Uint8Array(n);
    let at = 0;
    for (const c of chunks) {
      if (at >= n) break;
      const part = c.subarray(0, n - at);
      out.set(part, at);
      at += part.length;
    }
    return out;
  };
  try {
    for (;;) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (e) {
        throw new DataFileError(file, 'gzip stream', `cannot be decompressed: ${(e as Error).message}`);
      }
      if (r.done) break;
      chunks.push(r.value);
      total += r.value.length;
      if (limit === Infinity && headBytes !== undefined && total >= headBytes) limit = checkDeclared(file, limits, concat(headBytes), max);
      if (total > limit) {
        throw new DataFileError(file, 'gzip stream', `decompressed size exceeds ${limit} bytes, ${headBytes !== undefined ? 'the size its header declares' : 'the limit for this file'}`);
      }
    }
  } catch (e) {
    await reader.cancel().catch(() => undefined);
    throw e;
  }
  if (limit === Infinity) checkDeclared(file, limits, concat(total), max); // content shorter than the header
  return concat(total);
}
