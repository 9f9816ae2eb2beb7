#!/usr/bin/env node
/**
 * The `sttn` executable: app/cli/main.ts bound to the process. The one place that touches
 * `process`: the arguments, stdout and stderr, the exit code, and SIGINT. The first Ctrl-C
 * aborts the commands' signal (train stops at the next step, saves its checkpoint and exits 130;
 * eval, predict and experiment stop at their next batch or cell with 130); a second exits 130 at
 * once. The registries of backends/index.ts come in here: `loadBackend` and `loadTernaryKernels`.
 *
 * Law (laws/cli.test.ts): spawned as a child, SIGINT during `train` exits 130 and leaves a
 * checkpoint that loads; `--version` prints package.json's version.
 */
import { loadBackend, loadTernaryKernels } from '../backends/index.js';
import { EXIT, type Io } from './cli/env.js';
import { main } from './cli/main.js';

const interrupt = new AbortController();
process.on('SIGINT', () => {
  if (interrupt.signal.aborted) process.exit(EXIT.interrupted);
  process.stderr.write('\ninterrupting… (Ctrl-C again to quit at once)\n');
  interrupt.abort();
});

const io: Io = { out: (s) => process.stdout.write(s + '\n'), err: process.stderr };

process.exitCode = await main(process.argv.slice(2), { loadBackend, loadKernels: loadTernaryKernels, io, signal: interrupt.signal });
