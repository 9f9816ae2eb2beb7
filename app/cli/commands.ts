/**
 * The `sttn` commands: `train`, `eval`, `summary`. They take the backend loader as an argument
 * (src/ never imports a backend; app/cli.ts wires the registry in), write progress to stderr
 * and results to stdout, and turn every sttn error into a one-line message and a non-zero exit.
 *
 * Law (laws/cli.test.ts): a short `train` run lowers the loss and leaves a checkpoint that
 * `eval` and `summary` read; `--resume` continues it; bad flags name the flag.
 */
import * as E from 'fp-ts/lib/Either.js';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../../src/backend.js';
import { loadCheckpoint } from '../../src/checkpoint/checkpoint.js';
import { loadCifar10Dir } from '../../src/data/cifar10.js';
import type { Split } from '../../src/data/dataset.js';
import { loadIdxDir } from '../../src/data/idx.js';
import { loadEmbeddedMnist } from '../../src/data/mnist-embedded.js';
import { decodeWith, orThrow } from '../../src/codec.js';
import { ShapeError } from '../../src/errors.js';
import { buildModel, type Model } from '../../src/models/model.js';
import { BITS, preset, PRESETS, type Bits, type PresetName, type TernaryWeights } from '../../src/models/presets.js';
import { fromCheckpoint, toCheckpoint, type RunMeta } from '../../src/checkpoint/run.js';
import { saveCheckpoint } from '../../src/checkpoint/checkpoint.js';
import { formatSummary, summarize } from '../../src/models/summary.js';
import { exportModel } from '../../src/export/export.js';
import { formatSizeReport, sizeReport } from '../../src/export/size.js';
import { evaluate, initTraining, stepsPerEpoch, train, TrainConfig, TrainingDiverged, type TrainState } from '../../src/train/train.js';
import { formatDuration, progressReporter } from './progress.js';
import { helpText, intFlag, numFlag, parseFlags, UsageError, type Flags } from './args.js';
import { sameShape } from '../../src/tensor.js';

export type BackendLoader = (name: string) => Promise<Backend>;

export interface Io {
  readonly out: (s: string) => void;
  readonly err: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** install a SIGINT handler; returns a function that removes it */
  readonly onInterrupt: (f: () => void) => () => void;
}

export const processIo: Io = {
  out: (s) => process.stdout.write(s + '\n'),
  err: process.stderr,
  onInterrupt: (f) => {
    process.on('SIGINT', f);
    return () => process.off('SIGINT', f);
  },
};

/** `embedded`, `idx:DIR` or `cifar10:DIR`. */
export function loadData(spec: string): Split {
  if (spec === 'embedded') return loadEmbeddedMnist();
  if (spec.startsWith('idx:')) return loadIdxDir(spec.slice(4));
  if (spec.startsWith('cifar10:')) return loadCifar10Dir(spec.slice(8));
  throw new UsageError(`--data must be 'embedded', 'idx:DIR' or 'cifar10:DIR'; got '${spec}'`);
}

const common: Flags = {
  backend: { type: 'string', default: 'wasm', help: 'cpu | cpu64 | wasm | gpujs | gpujs:<mode>' },
  data: { type: 'string', default: 'embedded', help: "'embedded' (MNIST digits shipped with sttn), 'idx:DIR' or 'cifar10:DIR'" },
  help: { type: 'boolean', help: 'print this help' },
};

export const TRAIN_FLAGS: Flags = {
  model: { type: 'string', default: 'cnn-small', choices: PRESETS, help: 'model preset' },
  bits: { type: 'string', default: '2+2', choices: BITS, help: 'weights+activations bit widths, as the paper writes them' },
  weights: { type: 'string', default: 'sttn', choices: ['sttn', 'twn', 'ttq'], help: '2-bit weight quantizer' },
  gradient: { type: 'string', choices: ['exact', 'paper', 'official'], help: 'STTN gradient rule (default exact)' },
  granularity: { type: 'string', choices: ['tensor', 'channel'], help: 'scale per tensor or per output channel' },
  width: { type: 'string', help: 'width multiplier (vgg7 default 0.125, mlp 1)' },
  epochs: { type: 'string', default: '15', help: 'epochs' },
  batch: { type: 'string', default: '64', help: 'batch size' },
  lr: { type: 'string', default: '0.005', help: 'learning rate (cosine decay to 0)' },
  optimizer: { type: 'string', default: 'adam', choices: ['adam', 'sgd'], help: 'optimizer' },
  'weight-decay': { type: 'string', default: '1e-6', help: 'L2 weight decay' },
  'latent-clip': { type: 'string', help: 'clip latent quantized weights to [-c, c] after each step (official code: 1)' },
  'augment-pad': { type: 'string', default: '2', help: 'pad-and-random-crop padding (0 = off)' },
  flip: { type: 'boolean', default: false, help: 'random horizontal flips (off for digits)' },
  seed: { type: 'string', default: '1', help: 'seed of every random choice' },
  out: { type: 'string', help: 'output directory (default runs/<model>-<bits>)' },
  resume: { type: 'boolean', default: false, help: 'continue the run in --out from its checkpoint' },
  'max-steps': { type: 'string', help: 'stop after this many steps (a smoke run); the checkpoint is saved' },
  'log-every': { type: 'string', help: 'without a terminal: a log line every N steps (default: each epoch)' },
  'eval-every': { type: 'string', default: '5', help: 'test accuracy every N epochs (and after the last)' },
  ...common,
};

const dataMismatch = (model: Model, data: Split): void => {
  const shape = data.train.images.shape.slice(1);
  if (!sameShape(shape, model.spec.inputShape)) throw new ShapeError(`data images vs model '${model.spec.name}' input`, model.spec.inputShape, shape);
  if (data.train.classes > model.spec.classes) throw new ShapeError(`data classes vs model '${model.spec.name}' classes`, [model.spec.classes], [data.train.classes]);
};

export async function trainCommand(argv: readonly string[], loadBackend: BackendLoader, io: Io): Promise<number> {
  const p = parseFlags('train', TRAIN_FLAGS, argv);
  if (p.values.help) {
    io.out(helpText('train', 'Train a (ternary) network; prints progress to stderr and the final test accuracy to stdout.', TRAIN_FLAGS));
    return 0;
  }
  const t0 = performance.now();
  const name = p.values.model as PresetName;
  const bits = p.values.bits as Bits;
  const out = (p.values.out as string | undefined) ?? join('runs', `${name}-${bits.replace('+', 'p')}${bits.startsWith('2') ? '-' + String(p.values.weights) : ''}`);
  const ckptPath = join(out, 'checkpoint.json');
  const B = await loadBackend(p.values.backend as string);
  let model: Model;
  let cfg: TrainConfig;
  let state: TrainState;
  let meta: RunMeta;
  if (p.values.resume) {
    const allowed = new Set(['resume', 'out', 'backend', 'data', 'log-every', 'max-steps', 'eval-every']);
    const given = argv.filter((a) => a.startsWith('--')).map((a) => a.slice(2).split('=')[0]);
    const clash = given.find((f) => !allowed.has(f));
    if (clash) throw new UsageError(`sttn train: --${clash} cannot change on --resume (the run continues with its checkpoint's settings)`);
    const ck = loadCheckpoint(ckptPath);
    if (E.isLeft(ck)) throw ck.left;
    const run = orThrow(fromCheckpoint(ck.right));
    ({ model, config: cfg, state, meta } = run);
    io.err.write(`resuming ${model.spec.name} from step ${state.step} (${ckptPath})\n`);
  } else {
    const data0 = loadData(p.values.data as string);
    const kernelConfig: Record<string, unknown> = {};
    if (p.values.gradient !== undefined) kernelConfig.gradient = p.values.gradient;
    if (p.values.granularity !== undefined) kernelConfig.granularity = p.values.granularity;
    const spec = preset(name, {
      bits,
      ternary: p.values.weights as TernaryWeights,
      kernelConfig,
      width: numFlag('train', p, 'width'),
      inputShape: data0.train.images.shape.slice(1),
      classes: data0.train.classes,
    });
    model = orThrow(buildModel(spec));
    const latentClip = numFlag('train', p, 'latent-clip') ?? null;
    cfg = orThrow(
      decodeWith(
        TrainConfig,
        {
          epochs: intFlag('train', p, 'epochs'),
          batchSize: intFlag('train', p, 'batch'),
          seed: intFlag('train', p, 'seed', 0),
          augmentPad: intFlag('train', p, 'augment-pad', 0),
          augmentFlip: p.values.flip,
          optimizer: { kind: p.values.optimizer, lr: numFlag('train', p, 'lr'), weightDecay: Number(p.values['weight-decay']), latentClip },
        },
        'train',
      ),
    );
    state = initTraining(B, model, cfg);
    meta = { data: p.values.data as string, history: [] };
  }
  const data = loadData(meta.data);
  dataMismatch(model, data);
  mkdirSync(out, { recursive: true });
  const spe = stepsPerEpoch(data.train.images.shape[0], cfg.batchSize);
  const maxSteps = intFlag('train', p, 'max-steps');
  const logEvery = intFlag('train', p, 'log-every');
  const evalEvery = intFlag('train', p, 'eval-every') ?? 5;
  const reporter = progressReporter({ stream: io.err, logEvery: logEvery ?? 'epoch' });
  io.err.write(`${model.spec.name}: ${data.train.images.shape[0]} training / ${data.test.images.shape[0]} test examples (${meta.data}), backend ${B.name}, ${cfg.epochs} epochs × ${spe} steps of ${cfg.batchSize}\n`);
  let interrupted = false;
  const off = io.onInterrupt(() => {
    interrupted = true;
  });
  let history = [...meta.history];
  let lastSaved: string | null = existsSync(ckptPath) ? ckptPath : null;
  let epochLoss = 0;
  let epochCorrect = 0;
  let epochSeen = 0;
  let epochStart = performance.now();
  let stepsThisRun = 0;
  // the latest test evaluation (set inside the epoch hook)
  const evals: { step: number; accuracy: number }[] = [];
  const save = (s: TrainState) => {
    saveCheckpoint(ckptPath, toCheckpoint(model, cfg, s, spe, { ...meta, history }));
    lastSaved = ckptPath;
  };
  let result: { state: TrainState; stopped: boolean };
  try {
    result = await train(B, model, data.train, cfg, state, {
      onStep: (i) => {
        stepsThisRun++;
        epochLoss += i.loss * i.batchSize;
        epochCorrect += i.correct;
        epochSeen += i.batchSize;
        reporter.update({ epoch: i.epoch + 1, epochs: cfg.epochs, step: i.stepInEpoch, steps: i.stepsPerEpoch, samples: i.batchSize, loss: epochLoss / epochSeen, accuracy: epochCorrect / epochSeen });
      },
      onEpoch: (epoch, s) => {
        const due = (epoch + 1) % evalEvery === 0 || epoch + 1 === cfg.epochs;
        const test = due ? evaluate(B, model, s, data.test, cfg.evalBatchSize).accuracy : null;
        if (test !== null) evals.push({ step: s.step, accuracy: test });
        history = [...history, { epoch: epoch + 1, loss: epochLoss / epochSeen, trainAccuracy: epochCorrect / epochSeen, testAccuracy: test, seconds: (performance.now() - epochStart) / 1000 }];
        reporter.done();
        io.err.write(`epoch ${epoch + 1}/${cfg.epochs}: train loss ${(epochLoss / epochSeen).toFixed(4)}, train acc ${((100 * epochCorrect) / epochSeen).toFixed(2)}%${test === null ? '' : `, test acc ${(100 * test).toFixed(2)}%`}\n`);
        save(s);
        epochLoss = epochCorrect = epochSeen = 0;
        epochStart = performance.now();
      },
      shouldStop: () => interrupted || (maxSteps !== undefined && stepsThisRun >= maxSteps),
    });
  } catch (e) {
    reporter.done();
    off();
    if (e instanceof TrainingDiverged) {
      throw new TrainingDiverged(e.step, `${e.what}; the last good checkpoint is ${lastSaved ?? '(none yet)'}`);
    }
    throw e;
  }
  reporter.done();
  off();
  if (result.stopped) {
    save(result.state);
    io.err.write(`${interrupted ? 'interrupted' : 'stopped'} at step ${result.state.step}; checkpoint saved to ${ckptPath} (continue with: sttn train --resume --out ${out})\n`);
    if (interrupted) return 130;
  }
  const lastEval = evals[evals.length - 1];
  const accuracy = lastEval !== undefined && lastEval.step === result.state.step ? lastEval.accuracy : evaluate(B, model, result.state, data.test, cfg.evalBatchSize).accuracy;
  const test = { accuracy };
  const wall = (performance.now() - t0) / 1000;
  const correct = Math.round(test.accuracy * data.test.images.shape[0]);
  io.out(`test accuracy ${(100 * test.accuracy).toFixed(2)}% (${correct}/${data.test.images.shape[0]}) · ${model.spec.name} · step ${result.state.step} · wall ${formatDuration(wall)} (${wall.toFixed(1)} s) · checkpoint ${ckptPath}`);
  return 0;
}

const CKPT_FLAGS: Flags = { ...common };

function loadRun(command: string, argv: readonly string[]) {
  const p = parseFlags(command, CKPT_FLAGS, argv, 1);
  const file = p.positionals[0];
  return { p, file };
}

export async function evalCommand(argv: readonly string[], loadBackend: BackendLoader, io: Io): Promise<number> {
  const { p, file } = loadRun('eval', argv);
  if (p.values.help || file === undefined) {
    io.out(helpText('eval', 'Accuracy of a checkpoint on a dataset (default: the test split of --data).', CKPT_FLAGS, 'CHECKPOINT'));
    return file === undefined && !p.values.help ? 2 : 0;
  }
  const ck = loadCheckpoint(file);
  if (E.isLeft(ck)) throw ck.left;
  const run = orThrow(fromCheckpoint(ck.right));
  const dataFlag = argv.some((a) => a.startsWith('--data')) ? (p.values.data as string) : run.meta.data;
  const data = loadData(dataFlag);
  dataMismatch(run.model, data);
  const B = await loadBackend(p.values.backend as string);
  const r = evaluate(B, run.model, { params: run.state.params, state: run.state.state }, data.test, run.config.evalBatchSize);
  io.out(`test accuracy ${(100 * r.accuracy).toFixed(2)}% (${Math.round(r.accuracy * data.test.images.shape[0])}/${data.test.images.shape[0]}), loss ${r.loss.toFixed(4)} · ${run.model.spec.name} · ${dataFlag}`);
  return 0;
}

export async function summaryCommand(argv: readonly string[], loadBackend: BackendLoader, io: Io): Promise<number> {
  const { p, file } = loadRun('summary', argv);
  if (p.values.help || file === undefined) {
    io.out(helpText('summary', 'Per-layer parameters by bit-width, memory, MACs, sparsity and α of a checkpoint.', CKPT_FLAGS, 'CHECKPOINT'));
    return file === undefined && !p.values.help ? 2 : 0;
  }
  const ck = loadCheckpoint(file);
  if (E.isLeft(ck)) throw ck.left;
  const run = orThrow(fromCheckpoint(ck.right));
  const B = await loadBackend(p.values.backend as string);
  io.out(`${run.model.spec.name} (step ${run.state.step})`);
  io.out(formatSummary(summarize(B, run.model, run.state.params)));
  // what `sttn export` would write, from the writer's own layout (src/export/size.ts)
  io.out(formatSizeReport(sizeReport(exportModel(B, run))));
  return 0;
}
