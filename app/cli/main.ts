/**
 * `sttn <command> [flags]`: the command table and the conventions all commands share. Each
 * command's flags are parsed from its table (app/cli/args.ts), `-h`/`--help` prints its help,
 * its positional arguments are counted, and what it throws becomes an exit code:
 *
 *   0    ok
 *   1    failure: an sttn error (or a file the system refused), one line on stderr naming the
 *        file or the field, never a stack trace; any other error is one line too (its name and
 *        message), its stack only when the environment asks (app/cli.ts: STTN_DEBUG=1)
 *   2    usage: the help, then the error as the last line, on stderr; nothing on stdout
 *   130  interrupted: the environment's signal was aborted (app/cli.ts: Ctrl-C)
 *   141  stdout or stderr was closed by its reader (`| head`): stopped quietly
 *   143  terminated: SIGTERM, handled as Ctrl-C
 *
 * Commands are looked up with Object.hasOwn, so `sttn constructor` is an unknown command.
 * `sttn --version`/`-v` prints sttn's version; `sttn`, `sttn -h`/`--help`/`help` the command list
 * (on stdout, exit 0, when asked for; on stderr, exit 2, when no command is given).
 *
 * Law (laws/cli.test.ts, laws/cli-edges.test.ts): the version is package.json's; help goes to
 * stdout with 0; no command, an unknown command (Object.prototype's names included) or flag and
 * a missing argument give 2, the usage on stderr and nothing on stdout; an sttn error is one
 * line and 1, and so is any other error, whose stack only debug prints.
 */
import { SttnError } from '../../src/errors.js';
import { helpText, parseFlags, UsageError, type FlagSpec } from './args.js';
import { evalCommand, summaryCommand, trainCommand } from './commands.js';
import { exportCommand, predictCommand } from './deploy.js';
import { EXIT, Interrupted, stopCode, type Command, type Env } from './env.js';
import { experimentCommand } from './experiment.js';
import { importCommand } from './import.js';
import { serveCommand } from './serve.js';
import { zooCommand } from './zoo.js';
import { packageVersion } from './version.js';

export const COMMANDS: Readonly<Record<string, Command>> = {
  train: trainCommand,
  eval: evalCommand,
  summary: summaryCommand,
  experiment: experimentCommand,
  export: exportCommand,
  predict: predictCommand,
  import: importCommand,
  serve: serveCommand,
  zoo: zooCommand,
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
    'exit codes: 0 ok · 1 failure (a one-line message on stderr) · 2 usage error · 130 interrupted (Ctrl-C) · 141 output closed (| head) · 143 terminated (SIGTERM)',
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
  // backends and kernels with worker threads are ended when the command ends (an in-process
  // caller of main() keeps no blocked workers; the bin would exit anyway: they are unref'd)
  const made: unknown[] = [];
  const keep = <T>(x: T): T => (made.push(x), x);
  const tracked: Env = { ...env, loadBackend: async (n, w) => keep(await env.loadBackend(n, w)), loadKernels: async (n) => keep(await env.loadKernels(n)) };
  try {
    const variadic = c.positionals.some((n) => n.endsWith('…'));
    const p = parseFlags(name, { ...c.flags, help: HELP }, rest, variadic ? Number.MAX_SAFE_INTEGER : c.positionals.length, c.hidden);
    if (p.values.help) {
      io.out(commandHelp(name));
      return EXIT.ok;
    }
    const missing = c.positionals[p.positionals.length];
    if (missing !== undefined) throw new UsageError(`sttn ${name}: missing ${missing} (usage: sttn ${name} ${argsLine(c)})`);
    return await c.run(p, tracked);
  } catch (e) {
    if (e instanceof UsageError) return usageError(env, commandHelp(name), e.message.startsWith('sttn ') ? e.message : `sttn ${name}: ${e.message}`);
    if (e instanceof Interrupted) {
      // a reader that went away (| head) gets no message: it would not read it
      if (env.signal.reason !== 'EPIPE') io.err.write(`sttn ${name}: interrupted\n`);
      return stopCode(env.signal);
    }
    const stack = env.debug && e instanceof Error && e.stack !== undefined ? `${e.stack}\n` : '';
    if (e instanceof SttnError) {
      io.err.write(`sttn ${name}: ${e.name}: ${oneLine(e.message)}\n${stack}`);
      return EXIT.failure;
    }
    if (isSystemError(e)) {
      io.err.write(`sttn ${name}: ${oneLine(e.message)}\n${stack}`);
      return EXIT.failure;
    }
    io.err.write(unexpected(`sttn ${name}`, e, env.debug));
    return EXIT.failure;
  } finally {
    for (const x of made) (x as { dispose?: () => void }).dispose?.();
  }
}

const oneLine = (s: string): string => s.replace(/\s*\n\s*/g, ' ');

/**
 * What reaches the user of an error sttn did not foresee: one line (`prefix: Name: message`),
 * then, only with `debug`, the stack; without it, how to see the stack.
 */
export function unexpected(prefix: string, e: unknown, debug: boolean): string {
  const what = e instanceof Error ? `${e.name}: ${oneLine(e.message)}` : oneLine(String(e));
  if (debug) return `${prefix}: ${what}\n${e instanceof Error && e.stack !== undefined ? e.stack + '\n' : ''}`;
  return `${prefix}: ${what} (an internal error: STTN_DEBUG=1 prints its stack)\n`;
}
