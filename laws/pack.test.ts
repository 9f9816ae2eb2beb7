/**
 * Laws of packed storage (src/export/pack.ts): every encoding round-trips exactly for every
 * length, takes the bytes it claims, and rejects the bytes no writer produces, naming the element.
 * (The container's checksum: laws/export.test.ts.)
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import {
  packBinary1,
  packedBytes,
  packFloat32,
  packTernary2,
  packTernary3,
  unpackBinary1,
  unpackFloat32,
  unpackTernary2,
  unpackTernary3,
} from '../src/export/pack.js';
import { example, law } from './law.js';

const ternary = fc.array(fc.constantFrom(-1, 0, 1), { maxLength: 300 });
const binary = fc.array(fc.constantFrom(-1, 1), { maxLength: 300 });
const same = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.from(a).every((v, i) => Object.is(v, b[i]));

law('pack: 2-bit ternary round-trips, 4 codes per byte', [ternary], (codes) => {
  const bytes = packTernary2(codes);
  const back = unpackTernary2(bytes, codes.length);
  return bytes.length === Math.ceil(codes.length / 4) && bytes.length === packedBytes('ternary2', codes.length) && E.isRight(back) && same(back.right, codes);
});

law('pack: base-3 ternary round-trips, 5 codes per byte, every byte < 243', [ternary], (codes) => {
  const bytes = packTernary3(codes);
  const back = unpackTernary3(bytes, codes.length);
  return bytes.length === Math.ceil(codes.length / 5) && bytes.every((b) => b < 243) && E.isRight(back) && same(back.right, codes);
});

law('pack: binary round-trips, 8 codes per byte', [binary], (codes) => {
  const bytes = packBinary1(codes);
  const back = unpackBinary1(bytes, codes.length);
  return bytes.length === Math.ceil(codes.length / 8) && E.isRight(back) && same(back.right, codes);
});

law('pack: float32 round-trips bit for bit (−0, subnormals, NaN)', [fc.array(fc.float(), { maxLength: 100 })], (xs) => {
  const f = Float32Array.from(xs);
  const back = unpackFloat32(packFloat32(f), f.length);
  return E.isRight(back) && new Uint8Array(back.right.buffer).every((b, i) => b === new Uint8Array(f.buffer)[i]);
});

law('pack: the base-3 form is never larger than the 2-bit form, and 1.6 bits per code in the limit', [ternary], (codes) => {
  const n = codes.length;
  return packedBytes('ternary3', n) <= packedBytes('ternary2', n) && (n % 20 !== 0 || packedBytes('ternary3', n) * 8 === (n * 8) / 5);
});

law(
  'pack: a 2-bit byte holding the code 0b10 is a Left naming the element',
  [fc.integer({ min: 1, max: 40 }), fc.nat()],
  (n, k) => {
    const bytes = packTernary2(new Array(n).fill(0));
    const i = k % n;
    bytes[i >> 2] |= 2 << ((i & 3) << 1);
    const r = unpackTernary2(bytes, n);
    return E.isLeft(r) && r.left.includes(`element ${i}`);
  },
);

law('pack: a base-3 byte ≥ 243, or a last byte with digits past the end, is a Left', [fc.integer({ min: 1, max: 40 })], (n) => {
  const bytes = packTernary3(new Array(n).fill(1));
  const last = bytes.length - 1;
  const r = n % 5;
  bytes[last] = r === 0 ? 243 : 3 ** r;
  return E.isLeft(unpackTernary3(bytes, n));
});

law('pack: a wrong byte count is a Left that says both counts', [ternary, fc.integer({ min: 1, max: 3 })], (codes, extra) => {
  const r = unpackTernary2(new Uint8Array(packedBytes('ternary2', codes.length) + extra), codes.length);
  return E.isLeft(r) && r.left.includes(String(packedBytes('ternary2', codes.length)));
});

example('pack: a value outside the code set throws a RangeError naming the element', () => {
  try {
    packTernary2([0, 1, 2]);
    return false;
  } catch (e) {
    return e instanceof RangeError && e.message.includes('element 2');
  }
});
