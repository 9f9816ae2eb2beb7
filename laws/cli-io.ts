/**
 * Running `sttn` commands inside a law: an `Io` that captures stdout and stderr, `cliEnv`, the
 * environment app/cli.ts builds (the real backend and kernel registries, this process for the
 * run directory's lock) around it, and `runCli`, which runs `main` in it and returns the exit
 * code and both streams. For the laws that need a real process (signals, locks, a broken pipe):
 * `spawnCli` starts app/cli.ts as a child. `writeIdxDir` writes a tiny IDX dataset, so a
 * training law runs in a fraction of a second through the CLI's own `--data idx:DIR`.
 * `holdsAsync` is `law()` for an async predicate (fast-check draws, a fresh seed each run, the
 * counterexample printed on failure).
 */
import fc from 'fast-check';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { backendName, loadBackend, loadTernaryKernels, ternaryKernelName } from '../backends/index.js';
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

/** True when process `pid` exists (a signal-0 probe; EPERM means it exists but is not ours). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The registries by untyped name, as app/cli.ts binds them for flags. */
export const backendByName: Env['loadBackend'] = (name, wasm) => loadBackend(backendName(name), wasm);
export const kernelsByName = (name: string) => loadTernaryKernels(ternaryKernelName(name));

/** The environment of app/cli.ts with `io` for the streams and `signal` (never aborted by default). */
export const cliEnv = (io: Io, signal: AbortSignal = new AbortController().signal, over: Partial<Env> = {}): Env => ({
  loadBackend: backendByName,
  loadKernels: kernelsByName,
  io,
  signal,
  pid: process.pid,
  isAlive,
  debug: false,
  ...over,
});

export interface CliResult {
  readonly code: number;
  /** stdout, the lines joined by newlines */
  readonly out: string;
  readonly err: string;
}

export async function runCli(argv: readonly string[], signal?: AbortSignal, over: Partial<Env> = {}): Promise<CliResult> {
  const io = captureIo();
  const code = await main(argv, cliEnv(io, signal, over));
  return { code, out: io.stdout.join('\n'), err: io.stderr.join('') };
}

// ---------------------------------------------------------------------------------------------
// A real process

export interface Spawned {
  readonly child: ChildProcess;
  /** stderr so far */
  readonly err: () => string;
  /** resolves once stderr matches `pattern` (false if the child exits first) */
  readonly waitErr: (pattern: RegExp) => Promise<boolean>;
  /** the exit: code (null when killed by a signal), signal, both streams */
  readonly done: Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }>;
}

/** `sttn …` as a child process (node --import tsx app/cli.ts), stdout and stderr piped. */
export function spawnCli(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Spawned {
  const child = spawn(process.execPath, ['--import', 'tsx', 'app/cli.ts', ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  let err = '';
  const waiters: { pattern: RegExp; resolve: (b: boolean) => void }[] = [];
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
    for (const w of waiters.splice(0)) {
      if (w.pattern.test(err)) w.resolve(true);
      else waiters.push(w);
    }
  });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }>((resolve) =>
    child.on('close', (code, signal) => {
      for (const w of waiters.splice(0)) w.resolve(w.pattern.test(err));
      resolve({ code, signal, out, err });
    }),
  );
  return {
    child,
    err: () => err,
    waitErr: (pattern) => (pattern.test(err) ? Promise.resolve(true) : new Promise((resolve) => waiters.push({ pattern, resolve }))),
    done,
  };
}

/** The pid of a process that has exited (so no process has it, short of pid reuse). */
export const deadPid = (): number => spawnSync(process.execPath, ['-e', '']).pid!;

// ---------------------------------------------------------------------------------------------
// Tiny data

/**
 * An IDX directory (`--data idx:DIR`): `train` and `test` images of side × side pixels, labels
 * cycling through `classes` classes, pixels a fixed pattern (different per image).
 */
export function writeIdxDir(dir: string, train: number, test: number, side = 8, classes = 3): string {
  mkdirSync(dir, { recursive: true });
  const images = (n: number, salt: number) => {
    const h = Buffer.alloc(16);
    h.writeUInt32BE(0x803, 0);
    h.writeUInt32BE(n, 4);
    h.writeUInt32BE(side, 8);
    h.writeUInt32BE(side, 12);
    const px = Uint8Array.from({ length: n * side * side }, (_, i) => (i * 37 + Math.floor(i / (side * side)) * 91 + salt) % 256);
    return Buffer.concat([h, px]);
  };
  const labels = (n: number) => {
    const h = Buffer.alloc(8);
    h.writeUInt32BE(0x801, 0);
    h.writeUInt32BE(n, 4);
    return Buffer.concat([h, Uint8Array.from({ length: n }, (_, i) => i % classes)]);
  };
  writeFileSync(join(dir, 'train-images-idx3-ubyte'), images(train, 0));
  writeFileSync(join(dir, 'train-labels-idx1-ubyte'), labels(train));
  writeFileSync(join(dir, 't10k-images-idx3-ubyte'), images(test, 11));
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), labels(test));
  return dir;
}
