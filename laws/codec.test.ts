/**
 * Laws of the codec helpers (src/codec.ts), through the quantizer configs built with them (sign,
 * twn, ttq, sttn, ternary and ste_sign) and directly (`strict`, `refinedString`, `JsonValue`):
 *
 * - every valid config round-trips, `decode(encode(c)) = Right(c)`, also through JSON (what a
 *   checkpoint does to it);
 * - a partial config is completed with the documented defaults, and `{}`/`undefined` give exactly
 *   the defaults (sttn's granularity follows its gradient: `channel` under `official`);
 * - a wrong type, an out-of-domain number, an unknown enum value, an unknown key or a non-object is
 *   a `Left` whose ConfigError `field` names the path (`sttn.clip`) or, for an unknown key or a
 *   non-object, the record (`sttn`);
 * - with several fields wrong, `formatErrors` (and the ConfigError's message) names every one;
 * - `strict` records require every key and refuse unknown ones, naming them; `JsonValue` accepts
 *   exactly what JSON holds unchanged and names the first place that it does not.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { isDeepStrictEqual } from 'node:util';
import { decodeWith, formatErrors, JsonValue, NonNegativeInt, PositiveInt, refinedString, strict } from '../src/codec.js';
import { ConfigError } from '../src/errors.js';
import * as activation from '../src/quantizers/activation.js';
import * as sign from '../src/quantizers/sign.js';
import * as sttn from '../src/quantizers/sttn.js';
import * as ttq from '../src/quantizers/ttq.js';
import * as twn from '../src/quantizers/twn.js';
import { example, law } from './law.js';

type Rec = Record<string, unknown>;

/** One config codec with what the laws need to know about it. */
interface Case {
  /** The name the codec reports paths under. */
  readonly what: string;
  readonly codec: t.Type<Rec, Rec, unknown>;
  readonly decode: (raw: unknown) => E.Either<ConfigError, Rec>;
  /** Arbitrary valid values of each key (a full config draws one of each). */
  readonly fields: Readonly<Record<string, fc.Arbitrary<unknown>>>;
  /** The documented defaults, as a function of the raw input (only sttn's depend on it). */
  readonly defaults: (raw: Rec) => Rec;
  /** Out-of-domain values of each key: wrong types, numbers outside the domain, unknown enum values. */
  readonly bad: Readonly<Record<string, readonly unknown[]>>;
}

// ---- arbitraries of valid values ---------------------------------------------------------------

const positive = fc.double({ min: Number.MIN_VALUE, max: 1e9, noNaN: true, noDefaultInfinity: true });
const unitOpen = fc.double({ min: Number.MIN_VALUE, max: 1, maxExcluded: true, noNaN: true });
const clipArb = fc.oneof(fc.constant(null), positive);
const granularityArb = fc.constantFrom('tensor', 'channel');

// ---- out-of-domain values ----------------------------------------------------------------------

const notANumber = ['1', true, {}, [], null];
const badClip = [0, -0, -1, NaN, Infinity, -Infinity, 'one', true, {}, []];
const badPositive = [0, -0.5, NaN, Infinity, ...notANumber];
const badEnum = (near: string) => [near.toUpperCase(), `${near} `, '', 5, null, true, {}];

const cases: readonly Case[] = [
  {
    what: 'sign',
    codec: sign.SignConfig as unknown as t.Type<Rec, Rec, unknown>,
    decode: sign.decodeConfig,
    fields: { granularity: granularityArb, clip: clipArb, gradient: fc.constantFrom('exact', 'xnor') },
    defaults: () => ({ granularity: 'tensor', clip: 1, gradient: 'exact' }),
    bad: { granularity: [...badEnum('tensor'), 'layer'], clip: badClip, gradient: [...badEnum('exact'), 'ste'] },
  },
  {
    what: 'twn',
    codec: twn.TwnConfig as unknown as t.Type<Rec, Rec, unknown>,
    decode: twn.decodeConfig,
    fields: { granularity: granularityArb, delta: positive, clip: clipArb, gradient: fc.constantFrom('ste', 'exact') },
    defaults: () => ({ granularity: 'tensor', delta: 0.7, clip: 1, gradient: 'ste' }),
    bad: { granularity: badEnum('channel'), delta: badPositive, clip: badClip, gradient: [...badEnum('ste'), 'paper'] },
  },
  {
    what: 'ttq',
    codec: ttq.TtqConfig as unknown as t.Type<Rec, Rec, unknown>,
    decode: ttq.decodeConfig,
    fields: { threshold: unitOpen, granularity: granularityArb },
    defaults: () => ({ threshold: 0.05, granularity: 'tensor' }),
    bad: { threshold: [0, 1, 1.5, -0.1, NaN, Infinity, ...notANumber], granularity: badEnum('tensor') },
  },
  {
    what: 'sttn',
    codec: sttn.SttnConfig as unknown as t.Type<Rec, Rec, unknown>,
    decode: sttn.decodeConfig,
    // signOfZero 0 is valid only with gradient 'official' (an example below); the generic laws draw 1
    fields: { granularity: granularityArb, clip: clipArb, gradient: fc.constantFrom('exact', 'paper', 'official'), signOfZero: fc.constant(1) },
    defaults: (raw) => ({ granularity: raw.gradient === 'official' ? 'channel' : 'tensor', clip: 1, gradient: 'exact', signOfZero: 1 }),
    bad: { granularity: badEnum('tensor'), clip: badClip, gradient: [...badEnum('exact'), 'chain'], signOfZero: [2, -1, '0', null, true, 0.5] },
  },
  {
    what: 'ternary',
    codec: activation.TernaryConfig as unknown as t.Type<Rec, Rec, unknown>,
    decode: activation.decodeTernaryConfig,
    fields: { threshold: positive, clip: clipArb, boundary: fc.constantFrom('paper', 'official') },
    defaults: () => ({ threshold: 0.5, clip: 1, boundary: 'paper' }),
    bad: { threshold: badPositive, clip: badClip, boundary: [...badEnum('paper'), 'cuda'] },
  },
  {
    what: 'ste_sign',
    codec: activation.SteSignConfig as unknown as t.Type<Rec, Rec, unknown>,
    decode: activation.decodeSteSignConfig,
    fields: { clip: clipArb },
    defaults: () => ({ clip: 1 }),
    bad: { clip: badClip },
  },
];

/** A full valid config of `c`. */
const fullConfig = (c: Case): fc.Arbitrary<Rec> => fc.record(c.fields as Record<string, fc.Arbitrary<unknown>>, { noNullPrototype: true });
/** A valid config with any subset of its keys. */
const partialConfig = (c: Case): fc.Arbitrary<Rec> => fc.record(c.fields as Record<string, fc.Arbitrary<unknown>>, { requiredKeys: [], noNullPrototype: true });

/** One key of `c` and one of its bad values. */
const badField = (c: Case): fc.Arbitrary<[string, unknown]> =>
  fc.constantFrom(...Object.keys(c.bad)).chain((k) => fc.constantFrom(...c.bad[k]).map((v): [string, unknown] => [k, v]));

const rightEquals = (e: E.Either<ConfigError, Rec>, want: Rec): boolean => E.isRight(e) && isDeepStrictEqual(e.right, want);
const leftField = (e: E.Either<ConfigError, Rec>): string | undefined => (E.isLeft(e) && e.left instanceof ConfigError ? e.left.field : undefined);

for (const c of cases) {
  const keys = Object.keys(c.fields);

  // ---- round trips and defaults ----------------------------------------------------------------

  law(`${c.what}: decode(encode(c)) = Right(c) for every valid config`, [fullConfig(c)], (cfg) =>
    rightEquals(c.decode(c.codec.encode(cfg)), cfg) && rightEquals(c.decode(cfg), cfg), { numRuns: 50 });

  law(`${c.what}: a valid config survives JSON (what a checkpoint does to it)`, [fullConfig(c)], (cfg) =>
    rightEquals(c.decode(JSON.parse(JSON.stringify(c.codec.encode(cfg)))), cfg), { numRuns: 30 });

  law(`${c.what}: a partial config is completed with the documented defaults`, [partialConfig(c)], (raw) =>
    rightEquals(c.decode(raw), { ...c.defaults(raw), ...raw }), { numRuns: 50 });

  law(`${c.what}: a key given as undefined counts as absent`, [partialConfig(c), fc.constantFrom(...keys)], (raw, k) => {
    const rest = Object.fromEntries(Object.entries(raw).filter(([j]) => j !== k));
    return rightEquals(c.decode({ ...raw, [k]: undefined }), { ...c.defaults(rest), ...rest });
  }, { numRuns: 30 });

  example(`${c.what}: {} and undefined decode to the documented defaults`, () =>
    rightEquals(c.decode({}), c.defaults({})) && rightEquals(c.decode(undefined), c.defaults({})));

  // ---- Lefts that name the path ----------------------------------------------------------------

  law(`${c.what}: a bad value of a field is a Left whose field is the path of that field`, [fullConfig(c), badField(c)], (cfg, [k, v]) => {
    const f = leftField(c.decode({ ...cfg, [k]: v }));
    // `clip` is a union (number or null); the exact path of a union is a law of its own below.
    return f !== undefined && (k === 'clip' ? f.startsWith(`${c.what}.clip`) : f === `${c.what}.${k}`);
  }, { numRuns: 60 });

  law(`${c.what}: an unknown key is a Left naming the key and the allowed keys`, [
    partialConfig(c),
    // names of Object.prototype members are kept for the example below, so that law fails alone
    fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !Object.hasOwn(c.fields, k) && !(k in Object.prototype)),
    fc.jsonValue(),
  ], (raw, k, v) => {
    const e = c.decode({ ...raw, [k]: v });
    return E.isLeft(e) && e.left.field === c.what && e.left.message.includes(k) && keys.every((key) => e.left.message.includes(key));
  }, { numRuns: 50 });

  example(`${c.what}: non-objects are Lefts naming the record`, () =>
    [null, 5, 'tensor', true, [], [1, 2], () => ({})].every((v) => leftField(c.decode(v)) === c.what));

  if (keys.length > 1) {
    law(`${c.what}: with several fields wrong, formatErrors and the ConfigError name every one`, [
      fullConfig(c),
      fc.subarray(keys, { minLength: 2 }).chain((ks) => fc.tuple(...ks.map((k) => fc.constantFrom(...c.bad[k]).map((v): [string, unknown] => [k, v])))),
    ], (cfg, bads) => {
      const raw = { ...cfg, ...Object.fromEntries(bads) };
      const io = c.codec.decode(raw);
      const e = c.decode(raw);
      if (E.isRight(io) || E.isRight(e)) return false;
      const text = formatErrors(c.what, io.left);
      return bads.every(([k]) => text.includes(`${c.what}.${k}`) && e.left.message.includes(`${c.what}.${k}`));
    }, { numRuns: 40 });
  }
}

// ---- laws that pin the exact shape of a path or a key --------------------------------------------

example('sttn: {gradient: official} defaults granularity to channel; an explicit granularity wins', () =>
  rightEquals(sttn.decodeConfig({ gradient: 'official' }), { granularity: 'channel', clip: 1, gradient: 'official', signOfZero: 1 }) &&
  rightEquals(sttn.decodeConfig({ gradient: 'official', granularity: 'tensor' }), { granularity: 'tensor', clip: 1, gradient: 'official', signOfZero: 1 }) &&
  rightEquals(sttn.decodeConfig({ gradient: 'paper' }), { granularity: 'tensor', clip: 1, gradient: 'paper', signOfZero: 1 }) &&
  rightEquals(sttn.decodeConfig({ gradient: 'official', signOfZero: 0 }), { granularity: 'channel', clip: 1, gradient: 'official', signOfZero: 0 }) &&
  E.isLeft(sttn.decodeConfig({ gradient: 'exact', signOfZero: 0 })));

example('clip: null (no STE window) is a valid value and round-trips', () =>
  cases.filter((c) => 'clip' in c.fields).every((c) => {
    const d = c.decode({ clip: null });
    return E.isRight(d) && d.right.clip === null && rightEquals(c.decode(c.codec.encode(d.right)), d.right);
  }));

example('a bad clip is a Left whose field is exactly `<codec>.clip` (no io-ts union index in the path)', () =>
  cases.filter((c) => 'clip' in c.fields).every((c) => leftField(c.decode({ clip: -1 })) === `${c.what}.clip` && leftField(c.decode({ clip: 'one' })) === `${c.what}.clip`));

example('a key named like an Object.prototype member (constructor, toString, hasOwnProperty, __proto__) is an unknown key', () =>
  cases.every((c) =>
    ['constructor', 'toString', 'hasOwnProperty', 'valueOf'].every((k) => leftField(c.decode({ [k]: 1 })) === c.what) &&
    leftField(c.decode(JSON.parse('{"__proto__": 1}'))) === c.what));

example('the messages name the allowed values of an enum', () => {
  const e = sttn.decodeConfig({ gradient: 'chain' });
  const b = activation.decodeTernaryConfig({ boundary: 'cuda' });
  return E.isLeft(e) && e.left.message.includes('exact, paper, official') && e.left.message.includes('"chain"') && E.isLeft(b) && b.left.message.includes('paper, official');
});

// ---- strict records and JSON values ------------------------------------------------------------------

const Point = strict('point', { x: NonNegativeInt, label: refinedString('non-empty string', (v) => v.length > 0), inner: strict('inner', { on: t.boolean }) });

law('strict: decode(encode(r)) = r; an unknown key at any depth is a Left naming the record and the key', [
  fc.record({ x: fc.nat(), label: fc.string({ minLength: 1 }), on: fc.boolean() }),
  fc.string({ minLength: 1, maxLength: 8 }).filter((k) => !['x', 'label', 'inner', 'on'].includes(k)),
  fc.boolean(),
], ({ x, label, on }, key, deep) => {
  const r = { x, label, inner: { on } };
  const back = decodeWith(Point, JSON.parse(JSON.stringify(Point.encode(r))), 'p');
  const extra = deep ? { ...r, inner: { on, [key]: 1 } } : { ...r, [key]: 1 };
  const bad = decodeWith(Point, extra, 'p');
  return E.isRight(back) && isDeepStrictEqual(back.right, r) && E.isLeft(bad) && bad.left.field === (deep ? 'p.inner' : 'p') && bad.left.message.includes(`unknown key(s) ${key}`);
});

example('strict: a missing key, a non-object and a refined value out of its domain are Lefts naming the field', () =>
  leftField(decodeWith(Point, { x: 1, inner: { on: true } }, 'p')) === 'p.label' &&
  leftField(decodeWith(Point, [1], 'p')) === 'p' &&
  leftField(decodeWith(Point, null, 'p')) === 'p' &&
  leftField(decodeWith(Point, { x: -1, label: 'a', inner: { on: true } }, 'p')) === 'p.x' &&
  leftField(decodeWith(Point, { x: 1, label: '', inner: { on: true } }, 'p')) === 'p.label');

law('JsonValue: every JSON value decodes to itself', [fc.jsonValue()], (v) => {
  const r = decodeWith(JsonValue, v, 'meta');
  return E.isRight(r) && r.right === v;
});

example('JsonValue: NaN, undefined, a function and a typed array are Lefts naming where they sit', () => {
  const at = (v: unknown): string => {
    const r = decodeWith(JsonValue, v, 'meta');
    return E.isLeft(r) ? r.left.message : 'Right';
  };
  return (
    at({ lr: NaN }).includes('at lr') &&
    at({ a: [1, { b: undefined }] }).includes('at a.1.b') &&
    at([() => 1]).includes('at 0') &&
    at({ w: new Float32Array(2) }).includes('Float32Array')
  );
});

example('a rejected value is quoted in at most 80 characters, and quoting never throws (deep nesting, BigInt, huge arrays)', () => {
  let deep: unknown = 0;
  for (let i = 0; i < 100_000; i++) deep = [deep];
  const huge = Array.from({ length: 100_000 }, (_, i) => i);
  return [deep, huge, 10n].every((bad) => {
    const r = decodeWith(PositiveInt, bad, 'count');
    return E.isLeft(r) && r.left instanceof ConfigError && r.left.field === 'count' && r.left.message.length < 200;
  });
});
