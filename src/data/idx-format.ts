/**
 * The IDX format from bytes (no file system, browser-safe): a big-endian header (magic
 * `0x000008dd` — unsigned bytes, `dd` dimensions — then one uint32 per dimension) followed by the
 * bytes in row-major order. Images are `0x00000803` (n, rows, cols), labels `0x00000801` (n).
 * idx.ts reads files and directories with it (Node); the browser gunzips with gunzip.ts first.
 *
 * Law (laws/data.test.ts): every malformed file (magic, header, size) throws a DataFileError
 * naming file and field; laws/fuzz.test.ts fuzzes both parsers.
 */
import { DataFileError } from './dataset.js';
import type { DeclaredSize } from './gunzip.js';

export const IDX_IMAGES_MAGIC = 0x00000803;
export const IDX_LABELS_MAGIC = 0x00000801;

export interface IdxImages {
  readonly n: number;
  readonly rows: number;
  readonly cols: number;
  /** n·rows·cols bytes, row-major; a view into the file's bytes (no copy). */
  readonly pixels: Uint8Array;
}

const hex = (m: number): string => `0x${m.toString(16).padStart(8, '0')}`;

/** The most bytes an IDX file may declare (header + data) unless told otherwise: 1 GiB (EMNIST ByClass, the largest of the family, is 0.55 GB). */
export const IDX_MAX_BYTES = 2 ** 30;

interface IdxHeader {
  readonly header: number;
  readonly dims: number[];
  /** header + the product of the dimensions: the file's size as its header declares it */
  readonly size: number;
}

/** The header at the start of `bytes` (only its first 4 + 4·rank bytes are read); throws naming the field. */
function idxHeader(bytes: Uint8Array, file: string, magic: number, what: string): IdxHeader {
  const rank = magic & 0xff;
  const header = 4 + 4 * rank;
  if (bytes.length < 4) {
    throw new DataFileError(file, 'magic number', `missing: the file is ${bytes.length} bytes, shorter than the 4-byte magic number`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const found = view.getUint32(0, false);
  if (found !== magic) throw new DataFileError(file, 'magic number', `${hex(found)}, expected ${hex(magic)} (${what})`);
  if (bytes.length < header) {
    throw new DataFileError(file, 'header', `truncated: the file is ${bytes.length} bytes, the ${what} header needs ${header}`);
  }
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i, false));
  return { header, dims, size: header + dims.reduce((a, b) => a * b, 1) };
}

/**
 * What an IDX file of `magic` declares, for `readBytes` / `maybeGunzip`: its size is checked
 * against the limit from the first 4 + 4·rank bytes, before the rest is inflated. `check` may
 * reject the dimensions first (a reader that knows the image size it wants).
 */
export function idxDeclared(file: string, magic: number, what: string, check?: (dims: readonly number[]) => void): DeclaredSize {
  return {
    headBytes: 4 + 4 * (magic & 0xff),
    size: (head) => {
      const h = idxHeader(head, file, magic, what);
      check?.(h.dims);
      return h.size;
    },
  };
}

/** The dimensions and the payload of an IDX file with the given magic and rank. */
function parseIdx(bytes: Uint8Array, file: string, magic: number, what: string): { dims: number[]; payload: Uint8Array } {
  const { header, dims, size } = idxHeader(bytes, file, magic, what);
  if (bytes.length !== size) {
    throw new DataFileError(
      file,
      'size',
      `${bytes.length} bytes, expected ${size} (${header}-byte header + ${dims.join('·')} bytes of ${what})` +
        (bytes.length < size ? ': truncated' : ': trailing bytes'),
    );
  }
  return { dims, payload: bytes.subarray(header) };
}

export function parseIdxImages(bytes: Uint8Array, file: string): IdxImages {
  const { dims, payload } = parseIdx(bytes, file, IDX_IMAGES_MAGIC, 'images');
  const [n, rows, cols] = dims;
  if (rows === 0 || cols === 0) throw new DataFileError(file, 'dimensions', `${rows}×${cols}: an image needs at least one pixel`);
  return { n, rows, cols, pixels: payload };
}

/** The label bytes (a view into `bytes`, no copy). */
export function parseIdxLabels(bytes: Uint8Array, file: string): Uint8Array {
  return parseIdx(bytes, file, IDX_LABELS_MAGIC, 'labels').payload;
}

