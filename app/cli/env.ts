/**
 * What every `sttn` command receives and what a command is. A command gets one environment
 * record — the backend and ternary-kernel registries (src/ never imports a backend: app/cli.ts
 * passes backends/index.ts's), the two output streams, and an `AbortSignal` that app/cli.ts
 * aborts on the first Ctrl-C — so no command touches `process` and laws drive them in-process
 * (laws/cli-io.ts). A command is data (summary, positionals, flags) plus `run`; app/cli/main.ts
 * parses the flags, answers `--help` and turns errors into exit codes, the same way for all.
 *
 * Exit codes: 0 ok, 1 failure (an sttn error, one line on stderr), 2 usage, 130 interrupted.
 *
 * Law (laws/cli.test.ts): `--json` prints exactly one JSON document on stdout; an aborted signal
 * ends `train` with a checkpoint and 130; a `--backend`/`--kernels` name that does not exist is
 * a usage error naming the flag.
 */
import type { Backend } from '../../src/backend.js';
import { ConfigError } from '../../src/errors.js';
import type { TernaryKernels } from '../../src/infer/ternary-kernels.js';
import { UsageError, type Flags, type Parsed } from './args.js';

export type BackendLoader = (name: string) => Promise<Backend>;

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
  /** aborted on the first SIGINT: long commands stop at their next safe point and return 130 */
  readonly signal: AbortSignal;
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

export const EXIT = { ok: 0, failure: 1, usage: 2, interrupted: 130 } as const;

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
 * error of `--flag` it is. Other failures (a WebAssembly module that does not compile) stay.
 */
export async function fromFlag<T>(command: string, flag: string, field: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (e) {
    if (e instanceof ConfigError && e.field === field) throw new UsageError(`sttn ${command}: --${flag}: ${e.message.slice(field.length + 2)}`);
    throw e;
  }
}
