/**
 * io-ts helpers shared by every codec: strict partial records with defaults, and error messages
 * that name the path of the bad field.
 *
 * Law (laws/codec.test.ts): `decode(encode(c)) = Right(c)` for every valid config; an unknown key,
 * a wrong type or an out-of-domain value is a `Left` whose message names the field's path.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { ConfigError } from './errors.js';

interface ErrorLine {
  readonly path: string;
  readonly text: string;
}

function errorLines(what: string, errors: t.Errors): ErrorLine[] {
  const seen = new Set<string>();
  const out: ErrorLine[] = [];
  for (const e of errors) {
    // A union reports one error per member, keyed by the member's index; the field is the union
    // itself, so cut the context there and report what the union accepts.
    const cut = e.context.findIndex((c) => c.type instanceof t.UnionType);
    const ctx = cut >= 0 ? e.context.slice(0, cut + 1) : e.context;
    const keys = ctx.map((c) => c.key).filter((k) => k !== '');
    const path = [what, ...keys].join('.');
    const last = ctx.length > 0 ? ctx[ctx.length - 1] : undefined;
    const expected = last ? last.type.name : 'value';
    const got = cut >= 0 ? `got ${JSON.stringify(last?.actual) ?? String(last?.actual)}` : (e.message ?? `got ${JSON.stringify(e.value) ?? String(e.value)}`);
    const text = `expected ${expected}, ${got}`;
    if (!seen.has(path + text)) out.push({ path, text });
    seen.add(path + text);
  }
  return out;
}

/** `path: expected X, got Y` for each io-ts error (deduplicated), joined by `; `. */
export const formatErrors = (what: string, errors: t.Errors): string =>
  errorLines(what, errors)
    .map((l) => `${l.path}: ${l.text}`)
    .join('; ');

/** Decode `input` with `codec`; a `Left` carries a ConfigError whose field is the first bad path. */
export function decodeWith<A, O>(codec: t.Type<A, O, unknown>, input: unknown, what: string): E.Either<ConfigError, A> {
  return E.mapLeft((errs: t.Errors) => {
    const [first, ...rest] = errorLines(what, errs);
    if (first === undefined) return new ConfigError(what, 'invalid');
    return new ConfigError(first.path, [first.text, ...rest.map((l) => `${l.path}: ${l.text}`)].join('; '));
  })(codec.decode(input));
}

/** The Right value, or throw the Left's error. */
export function orThrow<A>(e: E.Either<Error, A>): A {
  if (E.isLeft(e)) throw e.left;
  return e.right;
}

/**
 * A record whose keys are all optional, filled from `defaults`, and which rejects unknown keys
 * (a misspelt option must be an error, not silently ignored). `defaults` may depend on the raw
 * input (one option's default following another's value).
 */
export function withDefaults<P extends t.Props>(
  name: string,
  props: P,
  defaults: t.TypeOf<t.TypeC<P>> | ((input: Readonly<Record<string, unknown>>) => t.TypeOf<t.TypeC<P>>),
): t.Type<t.TypeOf<t.TypeC<P>>, t.OutputOf<t.TypeC<P>>, unknown> {
  const full = t.type(props);
  const partial = t.partial(props);
  return new t.Type<t.TypeOf<t.TypeC<P>>, t.OutputOf<t.TypeC<P>>, unknown>(
    name,
    (u): u is t.TypeOf<t.TypeC<P>> => full.is(u),
    (u, c) => {
      const input = u === undefined ? {} : u;
      if (typeof input !== 'object' || input === null || Array.isArray(input)) return t.failure(u, c, 'got a non-object');
      const unknownKeys = Object.keys(input).filter((k) => !Object.hasOwn(props, k));
      if (unknownKeys.length > 0) {
        return t.failure(u, c, `got unknown key(s) ${unknownKeys.join(', ')} (allowed: ${Object.keys(props).join(', ')})`);
      }
      const p = partial.validate(input, c);
      if (E.isLeft(p)) return p;
      const base = typeof defaults === 'function' ? defaults(input as Record<string, unknown>) : defaults;
      const merged: Record<string, unknown> = { ...base };
      for (const [k, v] of Object.entries(p.right)) if (v !== undefined) merged[k] = v;
      return full.validate(merged, c);
    },
    (a) => full.encode(a),
  );
}

/** A finite number satisfying `pred`, named for messages (e.g. "positive number"). */
export function refinedNumber(name: string, pred: (n: number) => boolean): t.Type<number, number, unknown> {
  return new t.Type<number, number, unknown>(
    name,
    (u): u is number => typeof u === 'number' && Number.isFinite(u) && pred(u),
    (u, c) =>
      typeof u === 'number' && Number.isFinite(u) && pred(u) ? t.success(u) : t.failure(u, c, `got ${JSON.stringify(u) ?? String(u)}`),
    (n) => n,
  );
}

export const PositiveNumber = refinedNumber('positive number', (n) => n > 0);
export const NonNegativeNumber = refinedNumber('non-negative number', (n) => n >= 0);
export const UnitInterval = refinedNumber('number in (0, 1)', (n) => n > 0 && n < 1);
export const PositiveInt = refinedNumber('positive integer', (n) => Number.isInteger(n) && n > 0);
export const NonNegativeInt = refinedNumber('non-negative integer', (n) => Number.isInteger(n) && n >= 0);

/** One of a fixed set of string literals, with a message listing the allowed values. */
export function oneOf<L extends string>(name: string, values: readonly L[]): t.Type<L, L, unknown> {
  return new t.Type<L, L, unknown>(
    name,
    (u): u is L => typeof u === 'string' && (values as readonly string[]).includes(u),
    (u, c) =>
      typeof u === 'string' && (values as readonly string[]).includes(u)
        ? t.success(u as L)
        : t.failure(u, c, `got ${JSON.stringify(u) ?? String(u)} (allowed: ${values.join(', ')})`),
    (l) => l,
  );
}
