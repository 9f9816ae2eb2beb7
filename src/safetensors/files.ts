/**
 * Safetensors files on disk: read (through `readFileClassified`, so a missing or unreadable file
 * is one SafetensorsError naming it) and written atomically (`writeFileAtomic`).
 *
 * Law (laws/safetensors.test.ts): a file written by `saveSafetensors` loads back bit for bit; a
 * missing file is a SafetensorsError naming it.
 */
import * as E from 'fp-ts/lib/Either.js';
import { readFileClassified, writeFileAtomic } from '../files.js';
import type { Tensor } from '../tensor.js';
import { parseSafetensors, SafetensorsError, serializeSafetensors, type SafetensorsFile } from './format.js';

export function loadSafetensors(file: string): SafetensorsFile {
  const r = readFileClassified(file);
  if (E.isLeft(r)) throw new SafetensorsError(file, 'file', r.left.message);
  return parseSafetensors(r.right, file);
}

export function saveSafetensors(file: string, tensors: Readonly<Record<string, Tensor>>, metadata: Readonly<Record<string, string>> = {}): void {
  writeFileAtomic(file, serializeSafetensors(tensors, metadata));
}
