/**
 * What every `sttn` command receives and what a command is. A command gets one environment
 * record — the backend and ternary-kernel registries (src/ never imports a backend: app/cli.ts
 * passes backends/index.ts's), the two output streams, an `AbortSignal` that app/cli.ts aborts
 * on the first SIGINT or SIGTERM or when a reader closes stdout/stderr (the reason says which),
 * this process's pid and a liveness probe (the run directory's lock), and whether to print the
 * stacks of unexpected errors (STTN_DEBUG=1) — so no command touches `process` and laws drive
 * them in-process (laws/cli-io.ts). A command is data (summary, positionals, flags) plus `run`;
 * app/cli/main.ts parses the flags, answers `--help` and turns errors into exit codes, the same
 * way for all.
 *
 * Exit codes: 0 ok, 1 failure (one line on stderr), 2 usage, 130 interrupted (SIGINT),
 * 141 output closed by its reader (EPIPE, the code of a process killed by SIGPIPE),
 * 143 terminated (SIGTERM).
 *
 * Law (laws/cli.test.ts, laws/cli-edges.test.ts, laws/signals.test.ts): `--json` prints exactly
 * one JSON document on stdout; an aborted signal ends `train` with a checkpoint and 130 (143 for
 * SIGTERM); a `--backend`/`--kernels` name that does not exist is a usage error naming the flag,
 * one whose optional dependency is missing a one-line failure naming it.
 */
import type { Backend } from '../../src/backend.js';
import { ConfigError } from '../../src/errors.js';
import { referenceTernaryKernels, type TernaryKernels } from '../../src/infer/ternary-kernels.js';
import { UsageError, type Flags, type Parsed } from './args.js';

/** A backend by name; `wasm` takes its GEMM build and thread count (backends/wasm.ts). */
export type BackendLoader = (name: string, wasm?: { readonly kernel: 'plain' | 'relaxed' | 'auto'; readonly threads: number }) => Promise<Backend>;

/** Ternary × ternary kernels by name (`reference`, `wasm`). */
export type KernelsLoader = (name: string) => Promise<TernaryKernels>;

export interface Io {
  /** one line of results on stdout */
  readonly out: (s: string) => void;
  /** progress, messages and errors */
  readonly err: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

export interface Env {
  readonly loadBackend: BackendLoader;
  readonly loadKernels: KernelsLoader;
  readonly io: Io;
  /**
   * aborted on the first SIGINT or SIGTERM, or when stdout/stderr's reader goes away (the reason
   * is a `StopReason`): long commands stop at their next safe point and return `stopCode(signal)`
   */
  readonly signal: AbortSignal;
  /** this process's id, written into the lock of a run directory */
  readonly pid: number;
  /** whether process `pid` exists (a stale lock's holder does not) */
  readonly isAlive: (pid: number) => boolean;
  /** print the stack of an unexpected error after its one line (app/cli.ts: STTN_DEBUG=1) */
  readonly debug: boolean;
}

export interface Command {
  /** one line of `sttn --help` */
  readonly summary: string;
  /** the paragraph under the usage line of `sttn <command> --help` */
  readonly about: string;
  /** positional arguments in order; a name ending in `…` takes one or more */
  readonly positionals: readonly string[];
  /** documented flags (`--help` is added to every command) */
  readonly flags: Flags;
  /** accepted but left out of `--help` */
  readonly hidden?: Flags;
  run(p: Parsed, env: Env): Promise<number>;
}

export const EXIT = { ok: 0, failure: 1, usage: 2, interrupted: 130, brokenPipe: 141, terminated: 143 } as const;

/** Why app/cli.ts aborted the signal: the signal received, or a closed stdout/stderr. */
export type StopReason = 'SIGINT' | 'SIGTERM' | 'EPIPE';

/** The exit code of a command stopped by `signal`: 143 for SIGTERM, 141 for a closed output, else 130. */
export const stopCode = (signal: AbortSignal): number =>
  signal.reason === 'SIGTERM' ? EXIT.terminated : signal.reason === 'EPIPE' ? EXIT.brokenPipe : EXIT.interrupted;

/** The command was stopped by the environment's signal before it had a result. */
export class Interrupted extends Error {
  override readonly name = 'Interrupted';
  constructor() {
    super('interrupted');
  }
}

/** Let a pending SIGINT handler run, then stop if the signal is aborted. */
export async function pollInterrupt(signal: AbortSignal): Promise<void> {
  await new Promise<void>((r) => setImmediate(r));
  if (signal.aborted) throw new Interrupted();
}

export const JSON_FLAG: Flags = {
  json: { type: 'boolean', default: false, help: 'print one JSON document (one line) on stdout instead of the text; messages stay on stderr' },
};

/** The one JSON document of a `--json` run, on one line. */
export const printJson = (io: Io, doc: Readonly<Record<string, unknown>>): void => io.out(JSON.stringify(doc));

/**
 * `load()` with a registry's "unknown name" (a `ConfigError` on `field`) reported as the usage
 * error of `--flag` it is. A name that exists but whose optional dependency is missing (the
 * registry's message says how to install it) is a failure, one line naming `--flag`: the command
 * line was right. Other failures (a WebAssembly module that does not compile) stay as they are.
 */
export async function fromFlag<T>(command: string, flag: string, field: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (e) {
    if (!(e instanceof ConfigError) || e.field !== field) throw e;
    const detail = e.message.slice(field.length + 2);
    if (/\binstall/.test(detail)) throw new ConfigError(`--${flag}`, detail);
    throw new UsageError(`sttn ${command}: --${flag}: ${detail}`);
  }
}

/**
 * `--kernels auto`: the wasm ternary kernels on the table-lookup GEMM where the engine has relaxed
 * SIMD, else the popcount ones (the same bits either way, laws/engine-threads.test.ts), else the
 * reference kernels (the same results, slower), each fallback said on stderr with its reason.
 */
export async function autoKernels(env: Env, command: string): Promise<TernaryKernels> {
  try {
    return await env.loadKernels('wasm-lookup');
  } catch (e) {
    env.io.err.write(`sttn ${command}: the lookup build of the wasm ternary kernels did not load (${e instanceof Error ? e.message : String(e)}); using the popcount build (the same results)\n`);
  }
  try {
    return await env.loadKernels('wasm');
  } catch (e) {
    env.io.err.write(`sttn ${command}: the wasm ternary kernels did not load (${e instanceof Error ? e.message : String(e)}); using the reference kernels\n`);
    return referenceTernaryKernels;
  }
}
