/**
 * XML text escaping, and a small well-formedness checker that parses a document back into a tree.
 *
 * The SVG writer (svg.ts) produces XML by string building; this module is what keeps that honest:
 * every label goes through `escapeXml`, and the laws parse the output back with `parseXml`, which
 * accepts exactly the subset the writer emits and rejects what a real XML parser would reject
 * (unbalanced or crossed tags, an unescaped `<` or `&`, an unknown entity, a duplicate attribute,
 * an unquoted attribute value, text or a second element after the root, characters XML forbids).
 * Supported: an optional `<?xml …?>` declaration, comments, elements with quoted attributes, text,
 * CDATA sections, the five predefined entities and numeric character references. Not supported
 * (rejected): DOCTYPE, processing instructions other than the declaration.
 *
 * Law (laws/svg.test.ts): parseXml(escape-wrapped text) returns the text unchanged; malformed
 * documents are rejected with the position of the fault.
 */

export interface XmlElement {
  readonly name: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: readonly (XmlElement | string)[];
}

export type XmlResult = { readonly ok: true; readonly root: XmlElement } | { readonly ok: false; readonly error: string; readonly at: number };

/** Code points XML 1.0 allows in a document (Char production). */
const isXmlChar = (cp: number): boolean =>
  cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);

/**
 * Text safe inside an element or a double- or single-quoted attribute: `& < > " '` become
 * entities, and characters XML cannot hold at all (control characters, lone surrogates) become
 * U+FFFD, so any JavaScript string can be a label.
 */
export function escapeXml(s: string): string {
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (!isXmlChar(cp)) out += '\uFFFD';
    else if (ch === '&') out += '&amp;';
    else if (ch === '<') out += '&lt;';
    else if (ch === '>') out += '&gt;';
    else if (ch === '"') out += '&quot;';
    else if (ch === "'") out += '&apos;';
    else out += ch;
  }
  return out;
}

const NAME = /[A-Za-z_:][-A-Za-z0-9_:.]*/y;
const ENTITIES: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

class Fault extends Error {
  constructor(
    message: string,
    readonly at: number,
  ) {
    super(message);
  }
}

/** Parse `src` as an XML document; a fault gives its message and character offset. */
export function parseXml(src: string): XmlResult {
  let i = 0;
  const fail = (msg: string, at = i): never => {
    throw new Fault(msg, at);
  };
  const skipSpace = () => {
    while (i < src.length && ' \t\r\n'.includes(src[i])) i++;
  };
  const name = (): string => {
    NAME.lastIndex = i;
    const m = NAME.exec(src);
    if (m === null) return fail('expected a name');
    i += m[0].length;
    return m[0];
  };
  const comment = () => {
    const end = src.indexOf('-->', i + 4);
    if (end < 0) fail('unterminated comment');
    if (src.slice(i + 4, end).includes('--')) fail("'--' inside a comment");
    i = end + 3;
  };
  /** Decode text up to `stop` (exclusive), checking `&` references and stray `<`. */
  const decode = (from: number, to: number, inAttr: boolean): string => {
    let out = '';
    for (let k = from; k < to; k++) {
      const c = src[k];
      if (c === '<') fail(inAttr ? "'<' inside an attribute value" : "unescaped '<'", k);
      if (c === '&') {
        const semi = src.indexOf(';', k);
        if (semi < 0 || semi > to) fail("'&' that does not start an entity reference", k);
        const ref = src.slice(k + 1, semi);
        let v: string | undefined;
        if (/^#[0-9]+$/.test(ref) || /^#x[0-9a-fA-F]+$/.test(ref)) {
          const cp = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
          if (!isXmlChar(cp)) fail(`character reference &${ref}; names a character XML does not allow`, k);
          v = String.fromCodePoint(cp);
        } else v = ENTITIES[ref];
        if (v === undefined) fail(`unknown entity &${ref};`, k);
        out += v;
        k = semi;
      } else if (!inAttr && c === ']' && src.startsWith(']]>', k)) {
        fail("']]>' in text", k);
      } else out += c;
    }
    return out;
  };
  const element = (): XmlElement => {
    if (src[i] !== '<') fail("expected '<'");
    i++;
    const tag = name();
    const attrs: Record<string, string> = {};
    for (;;) {
      const before = i;
      skipSpace();
      if (src.startsWith('/>', i)) {
        i += 2;
        return { name: tag, attrs, children: [] };
      }
      if (src[i] === '>') {
        i++;
        break;
      }
      if (i === before) fail(`expected whitespace, '>' or '/>' in <${tag}>`);
      const an = name();
      skipSpace();
      if (src[i] !== '=') fail(`attribute ${an} of <${tag}> has no '='`);
      i++;
      skipSpace();
      const q = src[i];
      if (q !== '"' && q !== "'") fail(`attribute ${an} of <${tag}> is not quoted`);
      const end = src.indexOf(q, i + 1);
      if (end < 0) fail(`unterminated value of attribute ${an}`);
      if (Object.hasOwn(attrs, an)) fail(`duplicate attribute ${an} in <${tag}>`);
      attrs[an] = decode(i + 1, end, true);
      i = end + 1;
    }
    const children: (XmlElement | string)[] = [];
    for (;;) {
      if (i >= src.length) fail(`<${tag}> is never closed`);
      if (src.startsWith('</', i)) {
        i += 2;
        const close = name();
        if (close !== tag) fail(`</${close}> closes <${tag}>`);
        skipSpace();
        if (src[i] !== '>') fail(`expected '>' after </${close}`);
        i++;
        return { name: tag, attrs, children };
      }
      if (src.startsWith('<!--', i)) comment();
      else if (src.startsWith('<![CDATA[', i)) {
        const end = src.indexOf(']]>', i + 9);
        if (end < 0) fail('unterminated CDATA section');
        children.push(src.slice(i + 9, end));
        i = end + 3;
      } else if (src[i] === '<') {
        if (src[i + 1] === '!' || src[i + 1] === '?') fail('DOCTYPE and processing instructions are not supported');
        children.push(element());
      } else {
        const next = src.indexOf('<', i);
        const end = next < 0 ? src.length : next;
        children.push(decode(i, end, false));
        i = end;
      }
    }
  };
  try {
    for (let k = 0; k < src.length; ) {
      const cp = src.codePointAt(k)!;
      if (!isXmlChar(cp)) fail(`character U+${cp.toString(16).toUpperCase().padStart(4, '0')} is not allowed in XML`, k);
      k += cp > 0xffff ? 2 : 1;
    }
    if (src.startsWith('<?xml')) {
      const end = src.indexOf('?>');
      if (end < 0) fail('unterminated XML declaration');
      if (!/^<\?xml\s+version=(["'])1\.[0-9]+\1(\s+encoding=(["'])[A-Za-z][-A-Za-z0-9._]*\3)?(\s+standalone=(["'])(yes|no)\5)?\s*\?>$/.test(src.slice(0, end + 2))) {
        fail('malformed XML declaration', 0);
      }
      i = end + 2;
    }
    const misc = () => {
      for (;;) {
        skipSpace();
        if (src.startsWith('<!--', i)) comment();
        else return;
      }
    };
    misc();
    if (i >= src.length) fail('no root element');
    const root = element();
    misc();
    if (i < src.length) fail('content after the root element');
    return { ok: true, root };
  } catch (e) {
    if (e instanceof Fault) return { ok: false, error: e.message, at: e.at };
    throw e;
  }
}

/** Every element of the tree, depth first (the root first). */
export function descendants(e: XmlElement): XmlElement[] {
  const out: XmlElement[] = [e];
  for (const c of e.children) if (typeof c !== 'string') out.push(...descendants(c));
  return out;
}

/** The concatenated text inside an element. */
export const textOf = (e: XmlElement): string => e.children.map((c) => (typeof c === 'string' ? c : textOf(c))).join('');
