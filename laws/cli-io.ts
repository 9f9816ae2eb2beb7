/**
 * Running `sttn` commands inside a law: an `Io` that captures stdout and stderr, `cliEnv`, the
 * environment app/cli.ts builds (the real backend and kernel registries) around it, and `runCli`,
 * which runs `main` in it and returns the exit code and both streams.
 */
import { loadBackend, loadTernaryKernels } from '../backends/index.js';
import type { Env, Io } from '../app/cli/env.js';
import { main } from '../app/cli/main.js';

export function captureIo(): Io & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    out: (s: string) => stdout.push(s),
    err: Object.assign(Object.create(process.stderr), { write: (s: string) => (stderr.push(s), true), isTTY: false }),
  };
}

/** The environment of app/cli.ts with `io` for the streams and `signal` (never aborted by default). */
export const cliEnv = (io: Io, signal: AbortSignal = new AbortController().signal): Env => ({ loadBackend, loadKernels: loadTernaryKernels, io, signal });

export interface CliResult {
  readonly code: number;
  /** stdout, the lines joined by newlines */
  readonly out: string;
  readonly err: string;
}

export async function runCli(argv: readonly string[], signal?: AbortSignal): Promise<CliResult> {
  const io = captureIo();
  const code = await main(argv, cliEnv(io, signal));
  return { code, out: io.stdout.join('\n'), err: io.stderr.join('') };
}
