/**
 * The checksum of a checkpoint document: `sha256:<64 lowercase hex digits>`, the SHA-256 of the
 * document's canonical JSON with its own `checksum` member left out. Canonical JSON: every
 * object's keys sorted (by UTF-16 code units, JavaScript's default sort), no whitespace, strings
 * and numbers as `JSON.stringify` writes them. Key order, indentation and number spelling
 * (`1e-7` / `1E-07`) are not content, so re-indenting a file keeps it valid; any change to a value
 * (a base64 character, a layer size, a counter) does not.
 *
 * Why SHA-256 and not CRC-32 (which the `.sttn` container uses for its binary payload): a
 * checkpoint is a text document that people open and edit, and the audit's failure was an edited
 * weight that loaded silently. CRC-32 is linear, so an edit can be compensated by four chosen
 * bytes elsewhere, and one change in 2^32 passes by chance; to get past SHA-256 a writer must
 * recompute it over the canonical form. It is an integrity check, not a signature: it proves the
 * content is what a writer of this format produced, not who wrote it. Its cost is a fraction of
 * a save or a load (tensor payloads go to OpenSSL's SHA-256 without a copy).
 *
 * Law (laws/checkpoint.test.ts): a flipped bit or a replaced character in any tensor payload of a
 * saved file is refused; load(save(c)) still round-trips bit for bit.
 */
import { createHash, type Hash } from 'node:crypto';

/** The form of a checksum field: the algorithm, a colon, the digest in lowercase hex. */
export const CHECKSUM_PATTERN = /^sha256:[0-9a-f]{64}$/;

/** Nesting beyond this is not a document this library wrote (the JSON codec stops at 256 too). */
const MAX_DEPTH = 512;

/** Characters JSON.stringify writes as they are (a subset: the base64 alphabet). */
const BASE64_CHARS = /^[A-Za-z0-9+/=]*$/;

/** Buffers small pieces so that the hash is fed in large updates; big strings go through at once. */
class Feeder {
  private buf = '';
  constructor(private readonly hash: Hash) {}
  put(s: string): void {
    this.buf += s;
    if (this.buf.length >= 1 << 16) this.flush();
  }
  /** `s` straight to the hash, uncopied: a long base64 payload, ASCII, so its latin1 bytes are its UTF-8 bytes. */
  putLarge(s: string): void {
    this.flush();
    this.hash.update(s, 'latin1');
  }
  flush(): void {
    if (this.buf.length > 0) this.hash.update(this.buf, 'utf8');
    this.buf = '';
  }
}

/** Feed the canonical JSON of `v`; false when `v` holds something JSON cannot (NaN, undefined, a typed array, a cycle…). */
function feed(v: unknown, out: Feeder, depth: number, skip?: string): boolean {
  if (depth > MAX_DEPTH) return false;
  if (typeof v === 'string') {
    // tensor payloads: JSON.stringify of a long base64 string is a costly copy that adds only the quotes
    if (v.length > 256 && BASE64_CHARS.test(v)) {
      out.put('"');
      out.putLarge(v);
      out.put('"');
    } else {
      out.put(JSON.stringify(v));
    }
    return true;
  }
  if (v === null || typeof v === 'boolean') {
    out.put(JSON.stringify(v));
    return true;
  }
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return false;
    out.put(JSON.stringify(v));
    return true;
  }
  if (Array.isArray(v)) {
    out.put('[');
    for (let i = 0; i < v.length; i++) {
      if (i > 0) out.put(',');
      if (!feed(v[i], out, depth + 1)) return false;
    }
    out.put(']');
    return true;
  }
  if (typeof v === 'object') {
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) return false;
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o)
      .filter((k) => k !== skip)
      .sort();
    out.put('{');
    for (let i = 0; i < keys.length; i++) {
      out.put(`${i > 0 ? ',' : ''}${JSON.stringify(keys[i])}:`);
      if (!feed(o[keys[i]], out, depth + 1)) return false;
    }
    out.put('}');
    return true;
  }
  return false;
}

/**
 * `sha256:<hex>` of the canonical JSON of `doc` without its top-level `checksum` member, or
 * undefined when `doc` holds something JSON cannot (so it cannot be a document that was written).
 */
export function documentChecksum(doc: Readonly<Record<string, unknown>>): string | undefined {
  const hash = createHash('sha256');
  const out = new Feeder(hash);
  if (!feed(doc, out, 0, 'checksum')) return undefined;
  out.flush();
  return `sha256:${hash.digest('hex')}`;
}
