/**
 * CRC-32 (IEEE 802.3, the polynomial of zip, gzip and PNG: reflected 0xEDB88320, initial value
 * and final xor 0xFFFFFFFF), written out because Node 20 has no `zlib.crc32`.
 *
 * Table-driven, one byte per step: the container's checksum runs once per load over a few
 * kilobytes to megabytes, so the simple form is fast enough and easy to check.
 *
 * Law (laws/export.test.ts): crc32("123456789") = 0xCBF43926 (the catalogue's check value);
 * updating in pieces equals one pass over the concatenation.
 */

const TABLE: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * Continue a CRC over `bytes`. Start with `crc = 0` (the finished CRC of nothing); the result of
 * one call is the `crc` argument of the next, so `crc32(b, crc32(a)) = crc32(a ++ b)`.
 */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
