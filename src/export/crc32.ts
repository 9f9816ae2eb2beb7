/**
 * CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, initial and final XOR 0xFFFFFFFF): the
 * checksum of `.sttn` files, as zlib's `crc32` computes it, in plain TypeScript (one 256-entry
 * table) so that parsing a container needs no Node built-in.
 *
 * Law (laws/browser-bundle.test.ts): equals node:zlib's `crc32` on arbitrary bytes, and every single-byte
 * change of a container is caught as a checksum error (laws/export.test.ts).
 */

const TABLE = ((): Uint32Array => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** The CRC-32 of `bytes`, an unsigned 32-bit integer. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
