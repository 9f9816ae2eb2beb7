/**
 * Command-line flags through `node:util` parseArgs, with errors that name the flag and what is
 * allowed (an unknown flag lists the known ones; a bad value names the flag and the domain).
 *
 * Law (laws/cli.test.ts): every documented flag parses; unknown flags and bad values are
 * `UsageError`s whose message names the flag.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { SttnError } from '../../src/errors.js';

export class UsageError extends SttnError {
  override readonly name = 'UsageError';
}

export interface FlagSpec {
  readonly type: 'string' | 'boolean';
  readonly help: string;
  readonly default?: string | boolean;
  /** allowed values of a string flag */
  readonly choices?: readonly string[];
}

export type Flags = Readonly<Record<string, FlagSpec>>;

export interface Parsed {
  readonly values: Readonly<Record<string, string | boolean | undefined>>;
  readonly positionals: readonly string[];
}

export function parseFlags(command: string, flags: Flags, argv: readonly string[], maxPositionals = 0): Parsed {
  const options: ParseArgsConfig['options'] = {};
  for (const [name, f] of Object.entries(flags)) options[name] = { type: f.type };
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
  return { values, positionals: r.positionals };
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
    const left = `  --${n}${f.type === 'string' ? ' <value>' : ''}`;
    const def = f.default !== undefined ? ` (default: ${String(f.default)})` : '';
    const ch = f.choices ? ` [${f.choices.join('|')}]` : '';
    return `${left.padEnd(26)} ${f.help}${ch}${def}`;
  });
  return [`sttn ${command}${usage ? ' ' + usage : ''}`, `  ${summary}`, '', ...rows].join('\n');
}
