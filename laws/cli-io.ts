/**
 * Running `sttn` commands inside a law: an `Io` that captures stdout and stderr, and `runCli`,
 * which runs `main` with the real backend registry and returns the exit code and both streams.
 */
import { loadBackend } from '../backends/index.js';
import type { Io } from '../app/cli/commands.js';
import { main } from '../app/cli/main.js';

export function captureIo(): Io & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    out: (s) => stdout.push(s),
    err: Object.assign(Object.create(process.stderr), { write: (s: string) => (stderr.push(s), true), isTTY: false }),
    onInterrupt: () => () => {},
  };
}

export async function runCli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = captureIo();
  const code = await main(argv, loadBackend, io);
  return { code, out: io.stdout.join('\n'), err: io.stderr.join('') };
}
