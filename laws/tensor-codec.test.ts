/**
 * Laws of the tensor codec (src/tensor-codec.ts), the storage under checkpoints: decode(encode(t))
 * is bit-identical (dtype, shape, bytes: −0, subnormals, extremes, and NaN payloads when allowed);
 * a non-finite value is refused unless allowed; a byte length other than size·bytesPerElement,
 * malformed base64, a bad dtype or shape and an extra key are Lefts naming the tensor's path.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { NonFiniteError } from '../src/errors.js';
import { decodeTensor, encodeTensor, tensorBitEqual } from '../src/tensor-codec.js';
import type { Tensor } from '../src/tensor.js';
import { storedTensor } from './arbitraries.js';
import { example, law, throwsWith } from './law.js';

law('tensor codec: decode(encode(t)) is bit-identical (dtype, shape, bytes; -0, subnormals, extremes)', [storedTensor], (x) => {
  const r = decodeTensor(JSON.parse(JSON.stringify(encodeTensor(x))));
  return E.isRight(r) && tensorBitEqual(r.right, x) && r.right.data.constructor === x.data.constructor;
});

law('tensor codec: NaN payloads and ±Infinity round-trip bit-exactly when allowed, and are refused otherwise', [fc.nat({ max: 0x3fffff }), fc.boolean()], (payload, neg) => {
  const bits = new Uint32Array([(neg ? 0xff800000 : 0x7f800000) | payload | (payload === 0 ? 0 : 0x400000)]);
  const x: Tensor = { shape: [2], data: new Float32Array([new Float32Array(bits.buffer)[0], 1]) };
  const json = encodeTensor(x, 'w', { allowNonFinite: true });
  const ok = decodeTensor(json, 'w', { allowNonFinite: true });
  const refused = decodeTensor(json, 'w');
  return (
    E.isRight(ok) &&
    tensorBitEqual(ok.right, x) &&
    E.isLeft(refused) &&
    refused.left.field === 'w.data' &&
    refused.left.message.includes('flat index 0') &&
    throwsWith(() => encodeTensor(x, 'layer.w'), NonFiniteError, 'layer.w', 'flat index 0')
  );
});

law('tensor codec: a byte length other than size·bytesPerElement names the path and both numbers', [storedTensor, fc.integer({ min: 1, max: 3 }), fc.boolean()], (x, quartets, grow) => {
  const json = encodeTensor(x);
  // whole quartets added or removed at the front, so the string stays canonical base64
  const data = grow ? 'AAAA'.repeat(quartets) + json.data : json.data.slice(4 * quartets);
  if (data === json.data) return true; // an empty tensor has nothing to cut
  const want = x.data.byteLength;
  const got = Buffer.from(data, 'base64').length;
  const r = decodeTensor({ ...json, data }, 'params.conv1.kernel');
  return E.isLeft(r) && r.left.field === 'params.conv1.kernel.data' && r.left.message.includes(`${want} bytes`) && r.left.message.includes(`got ${got} bytes`);
});

example('tensor codec: malformed base64, a bad dtype, a bad shape entry or an extra key name their path', () => {
  const good = encodeTensor({ shape: [2], data: new Float32Array([1, 2]) });
  const field = (u: unknown): string | undefined => {
    const r = decodeTensor(u, 't');
    return E.isLeft(r) ? r.left.field : undefined;
  };
  return (
    field({ ...good, data: good.data.slice(0, -1) + '!' }) === 't.data' &&
    field({ ...good, data: 'AAAA=AAA' }) === 't.data' &&
    field({ ...good, dtype: 'int8' }) === 't.dtype' &&
    field({ ...good, shape: [2, -1] }) === 't.shape.1' &&
    field({ ...good, shape: [1.5] }) === 't.shape.0' &&
    field({ ...good, shape: '2' }) === 't.shape' &&
    field({ ...good, extra: 1 }) === 't' &&
    field([1, 2]) === 't' &&
    field(good) === undefined
  );
});
