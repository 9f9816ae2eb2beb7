/**
 * `sttn <command> [flags]`: dispatch to a command, and turn an sttn error into one clear line on
 * stderr and a non-zero exit (2 for usage errors, 1 otherwise), never a stack trace for bad input.
 */
import { SttnError } from '../../src/errors.js';
import { UsageError } from './args.js';
import { evalCommand, processIo, summaryCommand, trainCommand, type BackendLoader, type Io } from './commands.js';
import { experimentCommand } from './experiment.js';
import { exportCommand, predictCommand, predictCommandWith, referenceKernelsOnly, type KernelsLoader } from './deploy.js';

export const COMMANDS: Readonly<Record<string, { summary: string; run: (argv: readonly string[], load: BackendLoader, io: Io) => Promise<number> }>> = {
  train: { summary: 'train a ternary network (default: STTN 2+2 cnn-small on the embedded MNIST)', run: trainCommand },
  eval: { summary: 'accuracy of a checkpoint on a dataset', run: evalCommand },
  summary: { summary: 'per-layer bits, bytes, MACs, sparsity and α of a checkpoint', run: summaryCommand },
  experiment: { summary: "reproduce the paper's measures on a grid of small trainings; writes a report with verdicts", run: experimentCommand },
  export: { summary: 'write the deployed model of a checkpoint: merged ternary kernels, packed 2-bit or base-3 codes', run: exportCommand },
  predict: { summary: 'class and probabilities of PGM/PNG/IDX images under a deployed model', run: predictCommand },
};

export function usage(): string {
  return ['usage: sttn <command> [flags]   (sttn <command> --help for its flags)', '', ...Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(10)} ${c.summary}`)].join('\n');
}

/**
 * Run a command. `loadKernels` supplies the ternary × ternary kernels of `predict` (src/ cannot
 * import the WebAssembly ones; app/cli.ts passes them in). Without it, the reference kernels.
 */
export async function main(argv: readonly string[], loadBackend: BackendLoader, io: Io = processIo, loadKernels: KernelsLoader = referenceKernelsOnly): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === 'help') {
    io.out(usage());
    return command === undefined ? 2 : 0;
  }
  const c = COMMANDS[command];
  try {
    if (!c) throw new UsageError(`sttn: unknown command '${command}' (commands: ${Object.keys(COMMANDS).join(', ')})`);
    const run = command === 'predict' ? predictCommandWith(loadKernels) : c.run;
    return await run(rest, loadBackend, io);
  } catch (e) {
    if (e instanceof SttnError) {
      // usage errors already say `sttn <command>: …`
      io.err.write(e instanceof UsageError ? `${e.message}\n` : `sttn ${command}: ${e.name}: ${e.message}\n`);
      return e instanceof UsageError ? 2 : 1;
    }
    throw e;
  }
}
