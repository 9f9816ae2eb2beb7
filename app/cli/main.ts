/**
 * `sttn <command> [flags]`: the command table and the conventions all commands share. Each
 * command's flags are parsed from its table (app/cli/args.ts), `-h`/`--help` prints its help,
 * its positional arguments are counted, and what it throws becomes an exit code:
 *
 *   0    ok
 *   1    failure: an sttn error (or a file the system refused), one line on stderr naming the
 *        file or the field, never a stack trace
 *   2    usage: the help, then the error as the last line, on stderr; nothing on stdout
 *   130  interrupted: the environment's signal was aborted (app/cli.ts: Ctrl-C)
 *
 * `sttn --version`/`-v` prints sttn's version; `sttn`, `sttn -h`/`--help`/`help` the command list
 * (on stdout, exit 0, when asked for; on stderr, exit 2, when no command is given).
 *
 * Law (laws/cli.test.ts): the version is package.json's; help goes to stdout with 0; no
 * command, an unknown command or flag and a missing argument give 2, the usage on stderr and
 * nothing on stdout; an sttn error is one line and 1.
 */
import { SttnError } from '../../src/errors.js';
import { helpText, parseFlags, UsageError, type FlagSpec } from './args.js';
import { evalCommand, summaryCommand, trainCommand } from './commands.js';
import { exportCommand, predictCommand } from './deploy.js';
import { EXIT, Interrupted, type Command, type Env } from './env.js';
import { experimentCommand } from './experiment.js';
import { packageVersion } from './version.js';

export const COMMANDS: Readonly<Record<string, Command>> = {
  train: trainCommand,
  eval: evalCommand,
  summary: summaryCommand,
  experiment: experimentCommand,
  export: exportCommand,
  predict: predictCommand,
};

const HELP: FlagSpec = { type: 'boolean', short: 'h', help: 'print this help' };

export function usage(): string {
  return [
    'usage: sttn <command> [arguments] [flags]',
    '       sttn <command> --help     the command and its flags',
    '       sttn --version',
    '',
    'commands:',
    ...Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(10)} ${c.summary}`),
    '',
    'exit codes: 0 ok · 1 failure (a one-line message on stderr) · 2 usage error · 130 interrupted (Ctrl-C)',
  ].join('\n');
}

const argsLine = (c: Command): string => [...c.positionals, '[flags]'].join(' ');

export function commandHelp(name: string): string {
  const c = COMMANDS[name];
  return helpText(name, c.about, { ...c.flags, help: HELP }, argsLine(c));
}

/** A usage error: the help, then the error as the last line, on stderr. */
function usageError(env: Env, help: string, message: string): number {
  env.io.err.write(`${help}\n\n${message}\n`);
  return EXIT.usage;
}

/** An error from the system about a file (ENOENT, EACCES…): its message names the path. */
const isSystemError = (e: unknown): e is NodeJS.ErrnoException =>
  e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && typeof (e as NodeJS.ErrnoException).syscall === 'string';

/** Run `sttn` with `argv` (the arguments after `sttn`) in `env`; returns the exit code. */
export async function main(argv: readonly string[], env: Env): Promise<number> {
  const { io } = env;
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-v') {
    io.out(packageVersion());
    return EXIT.ok;
  }
  if (name === '--help' || name === '-h' || (name === 'help' && rest.length === 0)) {
    io.out(usage());
    return EXIT.ok;
  }
  if (name === 'help') {
    if (rest.length > 1 || !Object.hasOwn(COMMANDS, rest[0])) return usageError(env, usage(), `sttn help: unknown command '${rest.join(' ')}' (commands: ${Object.keys(COMMANDS).join(', ')})`);
    io.out(commandHelp(rest[0]));
    return EXIT.ok;
  }
  if (name === undefined) return usageError(env, usage(), 'sttn: no command given');
  if (!Object.hasOwn(COMMANDS, name)) {
    const what = name.startsWith('-') ? `unknown flag ${name} (flags before a command: --help, --version)` : `unknown command '${name}' (commands: ${Object.keys(COMMANDS).join(', ')})`;
    return usageError(env, usage(), `sttn: ${what}`);
  }
  const c = COMMANDS[name];
  try {
    const variadic = c.positionals.some((n) => n.endsWith('…'));
    const p = parseFlags(name, { ...c.flags, ...c.hidden, help: HELP }, rest, variadic ? Number.MAX_SAFE_INTEGER : c.positionals.length);
    if (p.values.help) {
      io.out(commandHelp(name));
      return EXIT.ok;
    }
    const missing = c.positionals[p.positionals.length];
    if (missing !== undefined) throw new UsageError(`sttn ${name}: missing ${missing} (usage: sttn ${name} ${argsLine(c)})`);
    return await c.run(p, env);
  } catch (e) {
    if (e instanceof UsageError) return usageError(env, commandHelp(name), e.message.startsWith('sttn ') ? e.message : `sttn ${name}: ${e.message}`);
    if (e instanceof Interrupted) {
      io.err.write(`sttn ${name}: interrupted\n`);
      return EXIT.interrupted;
    }
    if (e instanceof SttnError) {
      io.err.write(`sttn ${name}: ${e.name}: ${e.message}\n`);
      return EXIT.failure;
    }
    if (isSystemError(e)) {
      io.err.write(`sttn ${name}: ${e.message}\n`);
      return EXIT.failure;
    }
    throw e;
  }
}
