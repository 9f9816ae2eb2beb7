/**
 * io-ts helpers shared by every codec (configs, specs, checkpoints, the deployed container): exact
 * records (`strict`) and exact records with defaults (`withDefaults`), refined numbers and strings,
 * string enums (`oneOf`), JSON values, and error messages that name the path of the bad field.
 *
 * Law (laws/codec.test.ts): `decode(encode(c)) = Right(c)` for every valid config; an unknown key,
 * a wrong type or an out-of-domain value is a `Left` whose message names the field's path.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { ConfigError } from './errors.js';

/**
 * A value as an error message quotes it: JSON, at most 80 characters (a bad tensor or a whole
 * document must not become the message), and never a throw (deep nesting, BigInt, cycles).
 * Every decoder quotes rejected values through this.
 */
export const quote = (u: unknown): string => {
  let s: string;
  try {
    s = JSON.stringify(u) ?? String(u);
  } catch {
    s = Array.isArray(u) ? 'an array' : typeof u === 'object' && u !== null ? 'an object' : typeof u;
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
};

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
    const got = cut >= 0 ? `got ${quote(last?.actual)}` : (e.message ?? `got ${quote(e.value)}`);
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

/** `got unknown key(s) …` when `u` has a key that `props` does not declare. */
function unknownKeys(u: object, props: t.Props): string | undefined {
  const extra = Object.keys(u).filter((k) => !Object.hasOwn(props, k));
  return extra.length === 0 ? undefined : `got unknown key(s) ${extra.join(', ')} (allowed: ${Object.keys(props).join(', ')})`;
}

/**
 * An exact record: every key of `props` is required and an unknown key is an error (a misspelt
 * field in a writer is a bug, and a newer writer must bump its format's version).
 */
export function strict<P extends t.Props>(name: string, props: P): t.Type<t.TypeOf<t.TypeC<P>>, t.OutputOf<t.TypeC<P>>, unknown> {
  const full = t.type(props);
  return new t.Type<t.TypeOf<t.TypeC<P>>, t.OutputOf<t.TypeC<P>>, unknown>(
    name,
    full.is,
    (u, c) => {
      if (typeof u !== 'object' || u === null || Array.isArray(u)) return t.failure(u, c, `got ${quote(u)}`);
      const extra = unknownKeys(u, props);
      return extra === undefined ? full.validate(u, c) : t.failure(u, c, extra);
    },
    full.encode,
  );
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
      const extra = unknownKeys(input, props);
      if (extra !== undefined) return t.failure(u, c, extra);
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

/** A value of type `A` satisfying `is`, named for messages; a failure says what it got. */
function refined<A>(name: string, is: (u: unknown) => u is A): t.Type<A, A, unknown> {
  return new t.Type<A, A, unknown>(name, is, (u, c) => (is(u) ? t.success(u) : t.failure(u, c, `got ${quote(u)}`)), (a) => a);
}

/** A finite number satisfying `pred`, named for messages (e.g. "positive number"). */
export const refinedNumber = (name: string, pred: (n: number) => boolean): t.Type<number, number, unknown> =>
  refined(name, (u): u is number => typeof u === 'number' && Number.isFinite(u) && pred(u));

/** A string satisfying `pred`, named for messages (e.g. "non-empty string"). */
export const refinedString = (name: string, pred: (s: string) => boolean): t.Type<string, string, unknown> =>
  refined(name, (u): u is string => typeof u === 'string' && pred(u));

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
        : t.failure(u, c, `got ${quote(u)} (allowed: ${values.join(', ')})`),
    (l) => l,
  );
}

/** The first place where `v` is not a JSON value (NaN, undefined, a function, a typed array…). */
function nonJson(v: unknown, path: string, depth = 0): { path: string; why: string } | undefined {
  if (depth > 256) return { path, why: 'nested too deeply (a cycle?)' };
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return undefined;
  if (typeof v === 'number') return Number.isFinite(v) ? undefined : { path, why: `got ${v}, which JSON cannot hold` };
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const bad = nonJson(v[i], `${path}.${i}`, depth + 1);
      if (bad) return bad;
    }
    return undefined;
  }
  if (typeof v === 'object') {
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) return { path, why: `got a ${proto?.constructor?.name ?? 'non-plain'} object, not plain JSON` };
    for (const [k, x] of Object.entries(v)) {
      const bad = nonJson(x, `${path}.${k}`, depth + 1);
      if (bad) return bad;
    }
    return undefined;
  }
  return { path, why: `got ${typeof v}, which JSON cannot hold` };
}

/** A value that JSON holds as it is (finite numbers, plain objects and arrays); a failure names the place. */
export const JsonValue = new t.Type<unknown>(
  'JSON value',
  (u): u is unknown => nonJson(u, '') === undefined,
  (u, c) => {
    const bad = nonJson(u, '');
    return bad === undefined ? t.success(u) : t.failure(u, c, bad.path === '' ? bad.why : `at ${bad.path.slice(1)}: ${bad.why}`);
  },
  (a) => a,
);

/** A JSON value that is an object (not an array, not null). */
export const JsonObject = new t.Type<Readonly<Record<string, unknown>>>(
  'JSON object',
  (u): u is Readonly<Record<string, unknown>> => typeof u === 'object' && u !== null && !Array.isArray(u) && JsonValue.is(u),
  (u, c) => (typeof u === 'object' && u !== null && !Array.isArray(u) ? (JsonValue.validate(u, c) as t.Validation<Readonly<Record<string, unknown>>>) : t.failure(u, c, `got ${quote(u)}`)),
  (a) => a,
);
