/**
 * Packed storage of deployed weights: ternary codes in 2 bits or in base 3, binary codes in 1 bit,
 * float32 little-endian. These are storage layouts of the container (src/export/container.ts);
 * the inference engine decodes them once at load (its GEMM layouts are its own business).
 *
 * - `ternary2` (the `2bit` encoding): four codes per byte, code i in bits 2·(i mod 4)…2·(i mod 4)+1
 *   of byte ⌊i/4⌋ (the first code in the low bits). The two bits are (nonzero, negative):
 *     0 ↦ 0b00,  +1 ↦ 0b01,  −1 ↦ 0b11;   0b10 is invalid.
 *   These are the (nz, sign) planes of the ternary kernels' packing (src/infer/ternary-kernels.ts)
 *   interleaved per code, so a decoder into those bitplanes is a shift and a mask.
 *   Unused slots of the last byte are 0b00. ⌈n/4⌉ bytes.
 * - `ternary3` (the `base3` encoding): five codes per byte, byte = Σⱼ dⱼ·3ʲ over the codes
 *   5k … 5k+4 (the first code is the least significant digit) with digits 0 ↦ 0, +1 ↦ 1, −1 ↦ 2,
 *   3⁵ = 243 ≤ 256, so 1.6 bits per weight; a byte ≥ 243 is invalid; the last byte holds the
 *   r = n − 5⌊(n−1)/5⌋ remaining codes and must be < 3ʳ (missing digits are 0). ⌈n/5⌉ bytes.
 * - `binary1`: eight codes per byte, code i at bit i mod 8 of byte ⌊i/8⌋ (first code in the low
 *   bit), bit 1 ↦ −1 and bit 0 ↦ +1 (as `sign(0) = +1`); unused bits are 0. ⌈n/8⌉ bytes.
 * - `float32`: IEEE-754 binary32, little-endian, 4n bytes (NaN payloads and −0 kept).
 *
 * Every decoder checks its input and reports the first bad element, so a corrupt tensor that
 * slipped past the checksum still never decodes to a wrong weight silently.
 *
 * Law (laws/pack.test.ts): unpack(pack(codes)) = codes for every length (including lengths that
 * are not multiples of 4, 5 or 8) and every encoding; the byte counts are the ones above;
 * invalid bytes are Lefts naming the element.
 */
import * as E from 'fp-ts/lib/Either.js';

export type TensorEncoding = 'float32' | 'ternary2' | 'ternary3' | 'binary1';
export const TENSOR_ENCODINGS: readonly TensorEncoding[] = ['float32', 'ternary2', 'ternary3', 'binary1'];

/** Bytes of `n` values in `enc`. */
export function packedBytes(enc: TensorEncoding, n: number): number {
  switch (enc) {
    case 'float32':
      return 4 * n;
    case 'ternary2':
      return Math.ceil(n / 4);
    case 'ternary3':
      return Math.ceil(n / 5);
    case 'binary1':
      return Math.ceil(n / 8);
  }
}

/** Bits per value of `enc` (for reports): 32, 2, 1.6 or 1. */
export const bitsPerValue = (enc: TensorEncoding): number => ({ float32: 32, ternary2: 2, ternary3: 1.6, binary1: 1 })[enc];

function badCode(what: string, i: number, v: number): never {
  throw new RangeError(`${what}: value ${v} at element ${i} is not ${what === 'binary1' ? '−1 or +1' : '−1, 0 or +1'}`);
}

/** Four ternary codes per byte. Throws a RangeError naming the element that is not −1, 0 or +1. */
export function packTernary2(codes: ArrayLike<number>): Uint8Array {
  const n = codes.length;
  const out = new Uint8Array(packedBytes('ternary2', n));
  for (let i = 0; i < n; i++) {
    const v = codes[i];
    const c = v === 0 ? 0 : v === 1 ? 1 : v === -1 ? 3 : badCode('ternary2', i, v);
    out[i >>> 2] |= c << ((i & 3) << 1);
  }
  return out;
}

export function unpackTernary2(bytes: Uint8Array, n: number): E.Either<string, Int8Array> {
  if (bytes.length !== packedBytes('ternary2', n)) return E.left(`expected ${packedBytes('ternary2', n)} bytes for ${n} codes, got ${bytes.length}`);
  const out = new Int8Array(n);
  for (let i = 0; i < n; i++) {
    const c = (bytes[i >>> 2] >>> ((i & 3) << 1)) & 3;
    if (c === 2) return E.left(`invalid 2-bit code 0b10 at element ${i}`);
    out[i] = c === 0 ? 0 : c === 1 ? 1 : -1;
  }
  for (let i = n; i < 4 * bytes.length; i++) {
    if (((bytes[i >>> 2] >>> ((i & 3) << 1)) & 3) !== 0) return E.left(`padding bits after the last of ${n} codes are not zero`);
  }
  return E.right(out);
}

const DIGIT = (v: number, i: number): number => (v === 0 ? 0 : v === 1 ? 1 : v === -1 ? 2 : badCode('ternary3', i, v));

/** Five ternary codes per byte (base 3). Throws a RangeError naming the element that is not ternary. */
export function packTernary3(codes: ArrayLike<number>): Uint8Array {
  const n = codes.length;
  const out = new Uint8Array(packedBytes('ternary3', n));
  for (let b = 0, i = 0; i < n; b++, i += 5) {
    let byte = 0;
    for (let j = Math.min(4, n - 1 - i); j >= 0; j--) byte = byte * 3 + DIGIT(codes[i + j], i + j);
    out[b] = byte;
  }
  return out;
}

// byte → its five codes (one table of 243·5 entries; the decoder is a lookup per byte)
const BASE3: Int8Array = (() => {
  const t = new Int8Array(243 * 5);
  const val = [0, 1, -1];
  for (let b = 0; b < 243; b++) for (let j = 0, x = b; j < 5; j++, x = Math.floor(x / 3)) t[b * 5 + j] = val[x % 3];
  return t;
})();

export function unpackTernary3(bytes: Uint8Array, n: number): E.Either<string, Int8Array> {
  if (bytes.length !== packedBytes('ternary3', n)) return E.left(`expected ${packedBytes('ternary3', n)} bytes for ${n} codes, got ${bytes.length}`);
  const out = new Int8Array(n);
  for (let b = 0, i = 0; i < n; b++, i += 5) {
    const byte = bytes[b];
    const r = Math.min(5, n - i);
    if (byte >= 3 ** r) return E.left(r === 5 ? `invalid base-3 byte ${byte} (≥ 243) at byte ${b}` : `last byte ${byte} holds digits beyond the ${n} codes (must be < ${3 ** r})`);
    for (let j = 0; j < r; j++) out[i + j] = BASE3[byte * 5 + j];
  }
  return E.right(out);
}

/** Eight binary codes per byte (bit 1 = −1). Throws a RangeError naming the element that is not ±1. */
export function packBinary1(codes: ArrayLike<number>): Uint8Array {
  const n = codes.length;
  const out = new Uint8Array(packedBytes('binary1', n));
  for (let i = 0; i < n; i++) {
    const v = codes[i];
    if (v === -1) out[i >>> 3] |= 1 << (i & 7);
    else if (v !== 1) badCode('binary1', i, v);
  }
  return out;
}

export function unpackBinary1(bytes: Uint8Array, n: number): E.Either<string, Int8Array> {
  if (bytes.length !== packedBytes('binary1', n)) return E.left(`expected ${packedBytes('binary1', n)} bytes for ${n} codes, got ${bytes.length}`);
  const out = new Int8Array(n);
  for (let i = 0; i < n; i++) out[i] = (bytes[i >>> 3] >>> (i & 7)) & 1 ? -1 : 1;
  if (n % 8 !== 0 && bytes[bytes.length - 1] >>> n % 8 !== 0) return E.left(`padding bits after the last of ${n} codes are not zero`);
  return E.right(out);
}

/** float32 little-endian, whatever the host's byte order. */
export function packFloat32(values: Float32Array): Uint8Array {
  const out = new Uint8Array(4 * values.length);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(4 * i, values[i], true);
  return out;
}

export function unpackFloat32(bytes: Uint8Array, n: number): E.Either<string, Float32Array> {
  if (bytes.length !== 4 * n) return E.left(`expected ${4 * n} bytes for ${n} float32 values, got ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
  return E.right(out);
}

/** Pack codes (ternary or binary encodings) into their bytes. */
export function packCodes(enc: Exclude<TensorEncoding, 'float32'>, codes: ArrayLike<number>): Uint8Array {
  return enc === 'ternary2' ? packTernary2(codes) : enc === 'ternary3' ? packTernary3(codes) : packBinary1(codes);
}

export function unpackCodes(enc: Exclude<TensorEncoding, 'float32'>, bytes: Uint8Array, n: number): E.Either<string, Int8Array> {
  return enc === 'ternary2' ? unpackTernary2(bytes, n) : enc === 'ternary3' ? unpackTernary3(bytes, n) : unpackBinary1(bytes, n);
}
