/**
 * Command-line flags through `node:util` parseArgs, with errors that name the flag and what is
 * allowed (an unknown flag lists the known ones; a bad value names the flag and the domain), and
 * the help text written from the same flag table. A numeric flag declares its range in the table
 * (`ints(1, 10000)`, `reals(0, 4, true)`): every value, default included, is checked when the
 * flags are parsed, before a command reads a file, so no out-of-range number reaches an
 * allocation or a loop. A negative number after a flag is that flag's value (`--epochs -1` is a
 * range error, not parseArgs' "argument is ambiguous").
 *
 * A command's hidden flags are parsed but listed nowhere: an unknown flag's error lists exactly the
 * flags --help lists.
 *
 * Law (laws/cli.test.ts, laws/cli-edges.test.ts): unknown flags, bad values and missing arguments
 * are `UsageError`s whose message names the flag (an unknown one: with the flags --help lists); a
 * value outside a flag's range, negative or not a number, names the flag and the value; `sttn`
 * turns them into the help on stderr and exit 2.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { SttnError } from '../../src/errors.js';

export class UsageError extends SttnError {
  override readonly name = 'UsageError';
}

/** The domain of a numeric flag: integers or numbers in [min, max]; `minExclusive` leaves `min` out. */
export interface NumericRange {
  readonly integer: boolean;
  readonly min: number;
  readonly max: number;
  readonly minExclusive?: boolean;
}

/** Integers in [min, max] (default max: the largest safe integer). */
export const ints = (min: number, max = Number.MAX_SAFE_INTEGER): NumericRange => ({ integer: true, min, max });

/** Finite numbers in [min, max], or (min, max] when `minExclusive` (default max: any finite number). */
export const reals = (min: number, max = Number.MAX_VALUE, minExclusive = false): NumericRange => ({ integer: false, min, max, minExclusive });

/** `an integer in [1, 10000]`, `a number > 0`, `a number in (0, 4]`… */
export function describeRange(r: NumericRange): string {
  if (r.integer) return r.max >= Number.MAX_SAFE_INTEGER ? `an integer ≥ ${r.min}` : `an integer in [${r.min}, ${r.max}]`;
  if (r.max >= Number.MAX_VALUE) return `a number ${r.minExclusive ? '>' : '≥'} ${r.min}`;
  return `a number in ${r.minExclusive ? '(' : '['}${r.min}, ${r.max}]`;
}

/** The value of `raw` when it lies in `r`, else undefined ('', 'abc', '1e400', 2.5 for an integer…). */
export function inRange(raw: string, r: NumericRange): number | undefined {
  const n = raw.trim() === '' ? NaN : Number(raw);
  if (!Number.isFinite(n) || (r.integer && !Number.isInteger(n)) || n < r.min || (r.minExclusive === true && n <= r.min) || n > r.max) return undefined;
  return n;
}

export interface FlagSpec {
  readonly type: 'string' | 'boolean';
  readonly help: string;
  /** one-letter alias (`-h`) */
  readonly short?: string;
  readonly default?: string | boolean;
  /** allowed values of a string flag */
  readonly choices?: readonly string[];
  /** a numeric flag's domain, checked by `parseFlags` */
  readonly range?: NumericRange;
}

export type Flags = Readonly<Record<string, FlagSpec>>;

export interface Parsed {
  /** every flag of the table: the value given, else its default */
  readonly values: Readonly<Record<string, string | boolean | undefined>>;
  readonly positionals: readonly string[];
  /** the flags given on the command line (not filled in from defaults) */
  readonly given: ReadonlySet<string>;
  /** the arguments as typed, after the command name */
  readonly argv: readonly string[];
}

/**
 * `argv` parsed by the `documented` flags and the `hidden` ones (accepted, but left out of --help
 * and so out of the list an unknown flag's error gives).
 */
export function parseFlags(command: string, documented: Flags, argv: readonly string[], maxPositionals = 0, hidden: Flags = {}): Parsed {
  const flags: Flags = { ...documented, ...hidden };
  const options: ParseArgsConfig['options'] = {};
  for (const [name, f] of Object.entries(flags)) options[name] = f.short === undefined ? { type: f.type } : { type: f.type, short: f.short };
  let r;
  try {
    r = parseArgs({ args: joinNegativeValues(flags, argv), options, strict: true, allowPositionals: true });
  } catch (e) {
    // parseArgs' messages may span lines; a usage error is one
    const msg = (e as Error).message.replace(/\s*\n\s*/g, ' ');
    const m = /Unknown option '([^']+)'/.exec(msg);
    if (m) throw new UsageError(`sttn ${command}: unknown flag ${m[1]} (allowed: ${Object.keys(documented).map((f) => '--' + f).join(', ')})`);
    throw new UsageError(`sttn ${command}: ${msg}`);
  }
  if (r.positionals.length > maxPositionals) {
    throw new UsageError(`sttn ${command}: unexpected argument '${r.positionals[maxPositionals]}'${maxPositionals === 0 ? ' (this command takes only flags)' : ''}`);
  }
  const values: Record<string, string | boolean | undefined> = {};
  for (const [name, f] of Object.entries(flags)) {
    const v = (r.values as Record<string, string | boolean | undefined>)[name] ?? f.default;
    if (typeof v === 'string' && f.choices && !f.choices.includes(v)) {
      throw new UsageError(`sttn ${command}: --${name} must be one of ${f.choices.join(', ')}; got '${v}'`);
    }
    if (typeof v === 'string' && f.range !== undefined && inRange(v, f.range) === undefined) {
      throw new UsageError(`sttn ${command}: --${name} must be ${describeRange(f.range)}; got '${v}'`);
    }
    values[name] = v;
  }
  return { values, positionals: r.positionals, given: new Set(Object.keys(r.values)), argv };
}

/**
 * `--name -1`, `--name -.5`, `--name -Infinity`: parseArgs refuses a value that starts with a dash
 * ("argument is ambiguous"); a string flag followed by a negative number takes it as its value
 * (`--name=-1`), so the range check names the flag and the number.
 */
function joinNegativeValues(flags: Flags, argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const name = a.startsWith('--') && !a.includes('=') ? a.slice(2) : undefined;
    const next = argv[i + 1];
    if (name !== undefined && Object.hasOwn(flags, name) && flags[name].type === 'string' && next !== undefined && /^-(\d|\.\d|Infinity$|NaN$)/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/** An integer flag (or its default); in its table's range when it has one, else ≥ `min`. */
export function intFlag(command: string, p: Parsed, name: string, min = 1): number | undefined {
  const v = p.values[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`sttn ${command}: --${name} must be an integer ≥ ${min}; got '${String(v)}'`);
  return n;
}

/** A positive number flag (or its default); in its table's range when it has one. */
export function numFlag(command: string, p: Parsed, name: string): number | undefined {
  const v = p.values[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`sttn ${command}: --${name} must be a positive number; got '${String(v)}'`);
  return n;
}

/** A number flag in [0, ∞) (or its default). */
export function nonNegativeFlag(command: string, p: Parsed, name: string): number | undefined {
  const v = p.values[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`sttn ${command}: --${name} must be a number ≥ 0; got '${String(v)}'`);
  return n;
}

export function helpText(command: string, summary: string, flags: Flags, usage = ''): string {
  const rows = Object.entries(flags).map(([n, f]) => {
    const left = `  ${f.short === undefined ? '' : `-${f.short}, `}--${n}${f.type === 'string' ? ' <value>' : ''}`;
    const notes = [...(f.range ? [describeRange(f.range)] : []), ...(f.default !== undefined && f.default !== false ? [`default: ${String(f.default)}`] : [])];
    const ch = f.choices ? ` [${f.choices.join('|')}]` : '';
    return `${left.padEnd(26)} ${f.help}${ch}${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`;
  });
  return [`sttn ${command}${usage ? ' ' + usage : ''}`, ...wrap(summary, 96).map((l) => `  ${l}`), '', ...rows].join('\n');
}

/** Words of `s` in lines of at most `width` characters (a longer word gets its own line). */
function wrap(s: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const w of s.split(/\s+/).filter((x) => x !== '')) {
    if (line !== '' && line.length + 1 + w.length > width) {
      lines.push(line);
      line = w;
    } else line = line === '' ? w : `${line} ${w}`;
  }
  return line === '' ? lines : [...lines, line];
}
