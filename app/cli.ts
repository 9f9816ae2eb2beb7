#!/usr/bin/env node
/**
 * The `sttn` executable: app/cli/main.ts bound to the process. The one place that touches
 * `process`: the arguments, stdout and stderr, the exit code, the signals, the pid, STTN_DEBUG.
 *
 * - SIGINT and SIGTERM: the first aborts the commands' signal, its reason naming the signal (train
 *   stops at the next step, saves its checkpoint and exits 130 for SIGINT, 143 for SIGTERM; eval,
 *   predict and experiment stop at their next batch or cell); a second exits at once, same code.
 * - A reader that closes stdout or stderr (`sttn predict … | head`) makes the next write fail with
 *   EPIPE: that stream is dropped from then on, the signal is aborted with reason 'EPIPE' (train
 *   still saves), and the process ends quietly with 141 (what a shell reports for a process that
 *   SIGPIPE killed).
 * - Any error that escapes (it should not: main turns every error into a line and an exit code)
 *   is one line on stderr and exit 1; STTN_DEBUG=1 adds the stack.
 * The registries of backends/index.ts come in here: `loadBackend` and `loadTernaryKernels`.
 *
 * Law (laws/cli.test.ts, laws/signals.test.ts): spawned as a child, SIGINT during `train` exits
 * 130 and SIGTERM 143, each leaving a checkpoint that loads; stdout closed early ends `predict`
 * with 141 and no stack; `--version` prints package.json's version.
 */
import { backendName, loadBackend, loadTernaryKernels, ternaryKernelName } from '../backends/index.js';
import { EXIT, type Io, type StopReason } from './cli/env.js';
import { main, unexpected } from './cli/main.js';

const debug = process.env.STTN_DEBUG === '1';
const stop = new AbortController();
// which of stdout and stderr lost their reader
const broken = { out: false, err: false };

const onSignal = (sig: 'SIGINT' | 'SIGTERM') => () => {
  const code = sig === 'SIGTERM' ? EXIT.terminated : EXIT.interrupted;
  if (stop.signal.aborted) process.exit(code);
  if (!broken.err) process.stderr.write(`\n${sig === 'SIGINT' ? 'interrupting' : 'terminating'}… (${sig === 'SIGINT' ? 'Ctrl-C' : 'SIGTERM'} again to quit at once)\n`);
  stop.abort(sig satisfies StopReason);
};
process.on('SIGINT', onSignal('SIGINT'));
process.on('SIGTERM', onSignal('SIGTERM'));

// a stream whose reader went away: stop writing to it, stop the command, exit 141
const onStreamError = (which: 'out' | 'err') => () => {
  broken[which] = true;
  process.exitCode = EXIT.brokenPipe;
  if (!stop.signal.aborted) stop.abort('EPIPE' satisfies StopReason);
};
process.stdout.on('error', onStreamError('out'));
process.stderr.on('error', onStreamError('err'));

const err: Io['err'] = Object.assign(Object.create(process.stderr) as Io['err'], { write: (s: string) => broken.err || process.stderr.write(s) });
const io: Io = { out: (s) => void (broken.out || process.stdout.write(s + '\n')), err };

const lastWords = (e: unknown): void => {
  if (!broken.err) process.stderr.write(unexpected('sttn', e, debug));
  process.exit(EXIT.failure);
};
process.on('uncaughtException', lastWords);
process.on('unhandledRejection', lastWords);

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists, it is not ours
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

const code = await main(process.argv.slice(2), { loadBackend: (n, wasm) => loadBackend(backendName(n), wasm), loadKernels: (n) => loadTernaryKernels(ternaryKernelName(n)), io, signal: stop.signal, pid: process.pid, isAlive, debug }).catch((e: unknown) => {
  lastWords(e);
  return EXIT.failure;
});
process.exitCode = broken.out || broken.err ? EXIT.brokenPipe : code;
