/**
 * Command-line flags through `node:util` parseArgs, with errors that name the flag and what is
 * allowed (an unknown flag lists the known ones; a bad value names the flag and the domain), and
 * the help text written from the same flag table.
 *
 * Law (laws/cli.test.ts): unknown flags, bad values and missing arguments are `UsageError`s whose
 * message names the flag; `sttn` turns them into the help on stderr and exit 2.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { SttnError } from '../../src/errors.js';

export class UsageError extends SttnError {
  override readonly name = 'UsageError';
}

export interface FlagSpec {
  readonly type: 'string' | 'boolean';
  readonly help: string;
  /** one-letter alias (`-h`) */
  readonly short?: string;
  readonly default?: string | boolean;
  /** allowed values of a string flag */
  readonly choices?: readonly string[];
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

export function parseFlags(command: string, flags: Flags, argv: readonly string[], maxPositionals = 0): Parsed {
  const options: ParseArgsConfig['options'] = {};
  for (const [name, f] of Object.entries(flags)) options[name] = f.short === undefined ? { type: f.type } : { type: f.type, short: f.short };
  let r;
  try {
    r = parseArgs({ args: [...argv], options, strict: true, allowPositionals: true });
  } catch (e) {
    const msg = (e as Error).message;
    const m = /Unknown option '([^']+)'/.exec(msg);
    if (m) throw new UsageError(`sttn ${command}: unknown flag ${m[1]} (allowed: ${Object.keys(flags).map((f) => '--' + f).join(', ')})`);
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
    values[name] = v;
  }
  return { values, positionals: r.positionals, given: new Set(Object.keys(r.values)), argv };
}

/** A positive integer flag (or its default). */
export function intFlag(command: string, p: Parsed, name: string, min = 1): number | undefined {
  const v = p.values[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`sttn ${command}: --${name} must be an integer ≥ ${min}; got '${String(v)}'`);
  return n;
}

/** A positive number flag (or its default). */
export function numFlag(command: string, p: Parsed, name: string): number | undefined {
  const v = p.values[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`sttn ${command}: --${name} must be a positive number; got '${String(v)}'`);
  return n;
}

export function helpText(command: string, summary: string, flags: Flags, usage = ''): string {
  const rows = Object.entries(flags).map(([n, f]) => {
    const left = `  ${f.short === undefined ? '' : `-${f.short}, `}--${n}${f.type === 'string' ? ' <value>' : ''}`;
    const def = f.default !== undefined && f.default !== false ? ` (default: ${String(f.default)})` : '';
    const ch = f.choices ? ` [${f.choices.join('|')}]` : '';
    return `${left.padEnd(26)} ${f.help}${ch}${def}`;
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
