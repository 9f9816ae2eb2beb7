/**
 * The `.sttn` container's files (Node): `saveDeployed` writes one atomically, `loadDeployed` reads
 * and decodes one; the format itself, on bytes and browser-safe, is container-format.ts, re-exported
 * here so that Node code finds everything of the container in one module.
 *
 * Law (laws/export.test.ts): load(save(m)) is bit-equal to m for both encodings; a missing or
 * unreadable file and a failed write are DeployFileErrors naming the file.
 */
import * as E from 'fp-ts/lib/Either.js';
import { AtomicWriteFailure, readFileClassified, writeFileAtomic } from '../files.js';
import { DEPLOY_MAX_BYTES, DeployFileError, parseDeployed, serializeDeployed, type Encoding, type ParseOptions } from './container-format.js';
import type { DeployedModel } from './deployed.js';

export * from './container-format.js';

export interface LoadOptions extends ParseOptions {
  readonly maxBytes?: number;
}

/**
 * Write `m` to `file` atomically (temp file in the same directory, fsync, rename). Returns the
 * number of bytes written; throws a DeployFileError (kind `write`) naming the file on failure.
 */
export function saveDeployed(file: string, m: DeployedModel, encoding: Encoding): number {
  const bytes = serializeDeployed(m, encoding);
  try {
    writeFileAtomic(file, bytes, { mkdir: true });
  } catch (e) {
    const reason = e instanceof AtomicWriteFailure ? e.reason : (e as Error);
    throw new DeployFileError(file, 'write', 'file', `cannot be written: ${reason.message}`, { cause: reason });
  }
  return bytes.length;
}

/**
 * Read and decode the `.sttn` file at `file` (synchronous). Never throws: every failure is a
 * `Left`. Limits: the file at most `opts.maxBytes` (DEPLOY_MAX_BYTES, 1 GiB), refused from its
 * size or, for a pipe, where reading passes it; then those of `parseDeployed`.
 */
export function loadDeployed(file: string, opts: LoadOptions = {}): E.Either<DeployFileError, DeployedModel> {
  const r = readFileClassified(file, { maxBytes: opts.maxBytes ?? DEPLOY_MAX_BYTES });
  if (E.isLeft(r)) return E.left(new DeployFileError(file, r.left.kind, 'file', r.left.message, { cause: r.left.cause }));
  const bytes = r.right;
  return parseDeployed(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), file, opts);
}
