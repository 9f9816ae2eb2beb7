/**
 * The `sttn` commands `train`, `eval` and `summary`, as `Command` records (app/cli/env.ts): they
 * get the backend registry, the streams and the interrupt signal from the environment, write
 * progress to stderr and results to stdout (text, or one JSON document with `--json`).
 * `train` stops at the next step when the signal is aborted, saves its checkpoint and returns 130
 * (143 for SIGTERM); `eval` checks the signal between batches.
 *
 * `train`, in order: flags (every number in its range; flags of a quantizer the run does not use
 * are usage errors naming both flags), an --out that already holds a checkpoint (a usage error
 * naming its step, unless --resume continues it or --force moves it to checkpoint.json.bak once
 * the directory is held), data (an empty split is an error naming `--data`; `--augment-pad` at
 * most half the shorter image side), then the run directory (app/cli/rundir.ts: made, proved
 * writable, locked for one writer; a dead writer's temp files removed), then the loop. A
 * non-finite value in a step, or in an epoch's test evaluation, is `TrainingDiverged` naming the
 * step and the last checkpoint saved ("none saved yet"); the diverged state is not saved over
 * it. Any other failure of an epoch's test evaluation comes after that epoch's checkpoint is
 * saved. A run stopped inside an epoch keeps the epoch's running
 * sums in the checkpoint's `meta.epochInProgress`, so after `--resume` the epoch's recorded loss
 * and accuracy cover the whole epoch, bit for bit as without the stop. `--resume --data DIR`
 * trains on DIR (data that moved) and records it; images of another size are a ShapeError. The
 * checkpoint records `--data` with its directory made absolute, so `eval` finds it from anywhere;
 * `eval` reads only the test split. Reports name the backend as `--backend` does.
 *
 * `--wasm-kernel` picks the wasm backend's GEMM build; only the default, `plain`, gives the same
 * bits on every CPU (laws/reproducible.test.ts); `--threads N` (default: the machine's cores, with
 * the plain build) runs its products and convolutions on N threads, the same bits for any N
 * (laws/threads.test.ts); `eval zoo:NAME` is app/cli/zoo.ts's.
 *
 * Law (laws/cli.test.ts, laws/cli-edges.test.ts, laws/signals.test.ts): a short `train` run lowers
 * the loss and leaves a checkpoint that `eval` and `summary` read; `--resume` continues it, the
 * interrupted epoch's history included; `--json` holds the text's figures; an interrupted `train`
 * exits 130 with a checkpoint that loads; bad flags name the flag; divergence, empty data, a
 * failing evaluation, a bad `--out` and a locked directory are one line each; a run is never
 * replaced without --force, which keeps it as .bak.
 */
import * as E from 'fp-ts/lib/Either.js';
import { existsSync, renameSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { Backend } from '../../src/backend.js';
import type { WasmKernel } from '../../backends/wasm.js';
import { loadCheckpoint } from '../../src/checkpoint/checkpoint.js';
import { loadCifar10Dir } from '../../src/data/cifar10.js';
import type { Dataset, Split } from '../../src/data/dataset.js';
import { loadIdxDir, loadIdxSplit } from '../../src/data/idx.js';
import { loadEmbeddedMnist } from '../../src/data/mnist-embedded.js';
import { decodeWith, orThrow } from '../../src/codec.js';
import { ConfigError, NonFiniteError, OverflowError, ShapeError } from '../../src/errors.js';
import { removeStaleTemps } from '../../src/files.js';
import { buildModel, type Model } from '../../src/models/model.js';
import { BITS, preset, PRESETS, type Bits, type PresetName, type TernaryWeights } from '../../src/models/presets.js';
import { fromCheckpoint, toCheckpoint, type RunMeta } from '../../src/checkpoint/run.js';
import { saveCheckpoint } from '../../src/checkpoint/checkpoint.js';
import { formatSummary, summarize } from '../../src/models/summary.js';
import { exportModel } from '../../src/export/export.js';
import { formatSizeReport, sizeReport } from '../../src/export/size.js';
import { evaluate, initTraining, stepsPerEpoch, train, TrainConfig, TrainingDiverged, type TrainState } from '../../src/train/train.js';
import { formatDuration, formatRate, progressReporter } from './progress.js';
import { intFlag, ints, nonNegativeFlag, numFlag, reals, UsageError, type Flags, type Parsed } from './args.js';
import { fromFlag, Interrupted, JSON_FLAG, pollInterrupt, printJson, stopCode, type Command, type Env } from './env.js';
import { lockRunDir, RunDirError } from './rundir.js';
import { evalZoo, ZOO_PREFIX } from './zoo.js';
import { sameShape } from '../../src/tensor.js';

/** `embedded`, `idx:DIR` or `cifar10:DIR`. */
export function loadData(spec: string): Split {
  if (spec === 'embedded') return loadEmbeddedMnist();
  if (spec.startsWith('idx:')) return loadIdxDir(spec.slice(4));
  if (spec.startsWith('cifar10:')) return loadCifar10Dir(spec.slice(8));
  throw new UsageError(`--data must be 'embedded', 'idx:DIR' or 'cifar10:DIR'; got '${spec}'`);
}

/** The test split of `embedded`, `idx:DIR` or `cifar10:DIR`; an IDX directory needs only its test files. */
export function loadTestData(spec: string): Dataset {
  if (spec.startsWith('idx:')) return loadIdxSplit(spec.slice(4), 'test');
  return loadData(spec).test;
}

const DATA_DIR = /^(idx|cifar10):(.+)$/;

/**
 * `idx:DIR` and `cifar10:DIR` with DIR made absolute (from the working directory): what a
 * checkpoint records, so that `eval` and `--resume` find the data from any directory.
 */
export function absoluteData(spec: string): string {
  const m = DATA_DIR.exec(spec);
  return m === null ? spec : `${m[1]}:${resolve(m[2])}`;
}

/**
 * The data a checkpoint recorded. Checkpoints written before paths were made absolute hold
 * `--data` as typed: a relative path that does not exist from here is an error naming it and
 * `--data`, rather than a missing file somewhere else.
 */
function recordedData(file: string, spec: string): string {
  const m = DATA_DIR.exec(spec);
  if (m !== null && !isAbsolute(m[2]) && !existsSync(m[2])) {
    throw new ConfigError(`${file}: meta.data`, `'${spec}' is relative to the directory the run was trained in, and ${resolve(m[2])} does not exist; give the data with --data ${m[1]}:DIR`);
  }
  return spec;
}

/** `--wasm-kernel`: the wasm backend's GEMM build (backends/wasm.ts). Only `plain` gives the same bits on every CPU. */
export const WASM_KERNEL_FLAG: Flags = {
  'wasm-kernel': { type: 'string', default: 'plain', choices: ['plain', 'relaxed', 'auto'], help: "the wasm backend's GEMM build: plain gives the same bits on every CPU; relaxed (auto: relaxed where the engine runs it) is ~30% faster, but V8 fuses its multiply-add only where the CPU has FMA3, so results depend on the CPU" },
  threads: { type: 'string', range: ints(1, 1024), help: "threads for the wasm backend's products and convolutions (default: this machine's cores with the plain build, else 1); results are the same bits for any count" },
};

const common: Flags = {
  backend: { type: 'string', default: 'wasm', help: 'cpu | cpu64 | wasm | gpujs | gpujs:<mode>' },
  ...WASM_KERNEL_FLAG,
  data: { type: 'string', default: 'embedded', help: "'embedded' (MNIST digits shipped with sttn), 'idx:DIR' or 'cifar10:DIR'" },
};

/**
 * The backend `--backend` names (an unknown name is a usage error naming the flag; one whose
 * optional dependency is missing, a failure). Reports name it as the flag does (`gpujs:cpu`),
 * not by its internal name (`gpujs-cpu`), which `--backend` does not accept.
 */
export const backendFlag = (command: string, env: Env, name: string, p?: Parsed): Promise<Backend> => {
  const kernel = (p?.values['wasm-kernel'] as WasmKernel | undefined) ?? 'plain';
  if (p?.given.has('wasm-kernel') && name !== 'wasm') throw new UsageError(`sttn ${command}: --wasm-kernel applies only to --backend wasm; --backend is ${name}`);
  const given = p ? intFlag(command, p, 'threads') : undefined;
  if (given !== undefined && name !== 'wasm') throw new UsageError(`sttn ${command}: --threads applies only to --backend wasm; --backend is ${name}`);
  // every core by default (bit-identical results for any count); commands without the flag keep one
  const threads = given ?? (p && name === 'wasm' && kernel === 'plain' ? availableParallelism() : 1);
  if (kernel === 'plain' && threads === 1) return fromFlag(command, 'backend', 'backend', () => env.loadBackend(name));
  const flag = given !== undefined ? 'threads' : kernel !== 'plain' ? 'wasm-kernel' : 'backend';
  return fromFlag(command, flag, flag, () => env.loadBackend(name, { kernel, threads }));
};

/** Width multipliers above this allocate layers no machine holds (mlp: 1,024 hidden units; vgg7: 4× the paper's full width). */
const MAX_WIDTH = 4;
const MAX_EPOCHS = 10_000;
/** The largest batch: 2^16 examples (a larger one is a typo, and its sample count leaves 2^53). */
const MAX_BATCH = 65_536;
/** The table's bound on --augment-pad; the image's own (half its shorter side) is checked with the data. */
const MAX_PAD = 1024;

export const TRAIN_FLAGS: Flags = {
  model: { type: 'string', default: 'cnn-small', choices: PRESETS, help: 'model preset' },
  bits: { type: 'string', default: '2+2', choices: BITS, help: 'weights+activations bit widths, as the paper writes them' },
  weights: { type: 'string', default: 'sttn', choices: ['sttn', 'twn', 'ttq'], help: '2-bit weight quantizer' },
  gradient: { type: 'string', choices: ['exact', 'paper', 'official'], help: 'STTN gradient rule (default exact)' },
  granularity: { type: 'string', choices: ['tensor', 'channel'], help: 'scale per tensor or per output channel' },
  width: { type: 'string', range: reals(0, MAX_WIDTH, true), help: 'width multiplier: vgg7 default 0.125, mlp 1' },
  epochs: { type: 'string', default: '15', range: ints(1, MAX_EPOCHS), help: 'epochs' },
  batch: { type: 'string', default: '64', range: ints(1, MAX_BATCH), help: 'batch size' },
  lr: { type: 'string', default: '0.005', range: reals(0, Number.MAX_VALUE, true), help: 'learning rate, cosine decay to 0; a rate that diverges stops the run naming the step' },
  optimizer: { type: 'string', default: 'adam', choices: ['adam', 'sgd'], help: 'optimizer' },
  'weight-decay': { type: 'string', default: '1e-6', range: reals(0, 1), help: 'L2 weight decay' },
  'latent-clip': { type: 'string', range: reals(0, Number.MAX_VALUE, true), help: 'clip latent quantized weights to [-c, c] after each step; the official code: 1' },
  'augment-pad': { type: 'string', default: '2', range: ints(0, MAX_PAD), help: 'pad-and-random-crop padding (0 = off), at most half the shorter image side' },
  'augment-rotate': { type: 'string', default: '0', range: reals(0, 180), help: 'random rotation in [-DEG, DEG] degrees with the crop, bilinear (0 = off)' },
  'augment-scale': { type: 'string', default: '0', range: reals(0, 0.9), help: 'random zoom in [1-S, 1+S] with the crop, bilinear (0 = off)' },
  flip: { type: 'boolean', default: false, help: 'random horizontal flips (off for digits)' },
  'label-smoothing': { type: 'string', default: '0', range: reals(0, 0.9), help: 'label smoothing of the training loss: targets (1-e)·onehot + e/classes (0 = plain cross-entropy)' },
  seed: { type: 'string', default: '1', range: ints(0), help: 'seed of every random choice' },
  out: { type: 'string', help: 'output directory (default runs/<model>-<bits>); one train at a time writes in it; one that holds a checkpoint needs --resume or --force' },
  resume: { type: 'boolean', default: false, help: 'continue the run in --out from its checkpoint (with --data: on that data, e.g. moved)' },
  force: { type: 'boolean', default: false, help: 'start afresh in an --out that holds a run: its checkpoint is renamed checkpoint.json.bak first (replacing an older .bak)' },
  'max-steps': { type: 'string', range: ints(1), help: 'stop after this many steps, a smoke run; the checkpoint is saved' },
  'log-every': { type: 'string', range: ints(1), help: 'without a terminal: a log line every N steps; without it, one each epoch' },
  'eval-every': { type: 'string', default: '5', range: ints(1), help: 'test accuracy every N epochs and after the last' },
  ...common,
  ...JSON_FLAG,
};

/** What `--resume` lets change: where and how the run goes on (and where its data now is), not what it trains. */
const RESUMABLE = new Set(['resume', 'out', 'backend', 'data', 'log-every', 'max-steps', 'eval-every', 'json']);

const dataMismatch = (model: Model, data: Dataset): void => {
  const shape = data.images.shape.slice(1);
  if (!sameShape(shape, model.spec.inputShape)) throw new ShapeError(`data images vs model '${model.spec.name}' input`, model.spec.inputShape, shape);
  if (data.classes > model.spec.classes) throw new ShapeError(`data classes vs model '${model.spec.name}' classes`, [model.spec.classes], [data.classes]);
};

/**
 * Flags of a quantizer the run does not use are usage errors naming both flags, never ignored
 * or failed deep inside a codec: `--weights` picks the 2-bit weight quantizer (`--bits 2+32`,
 * `2+2`); `--gradient` is STTN's (`--weights sttn`); `--granularity` and `--latent-clip` act on
 * quantized weights (any `--bits` but `32+32`).
 */
function checkQuantizerFlags(p: Parsed): void {
  const bits = p.values.bits as Bits;
  const weights = p.values.weights as TernaryWeights;
  const ternary = BITS.filter((b) => b.startsWith('2+'));
  const twoBit = ternary.includes(bits);
  const kind = bits === '32+32' ? 'float' : twoBit ? '2-bit' : '1-bit sign';
  if (p.given.has('weights') && !twoBit) {
    throw new UsageError(`sttn train: --weights applies only to bit widths with 2-bit weights (--bits ${ternary.join(' or ')}); --bits ${bits} has ${kind} weights`);
  }
  if (p.given.has('gradient')) {
    if (!twoBit) throw new UsageError(`sttn train: --gradient applies only to --weights sttn, which --bits ${bits} does not use (it has ${kind} weights; 2-bit: --bits ${ternary.join(' or ')})`);
    if (weights !== 'sttn') throw new UsageError(`sttn train: --gradient applies only to --weights sttn; got --weights ${weights}`);
  }
  for (const f of ['granularity', 'latent-clip']) {
    if (p.given.has(f) && bits === '32+32') throw new UsageError(`sttn train: --${f} applies only to quantized weights; --bits 32+32 has float weights only`);
  }
}

/** `step N` of the checkpoint in `file`, or that it does not load. */
function describeCheckpoint(file: string): string {
  const c = loadCheckpoint(file);
  return E.isRight(c) ? `step ${c.right.progress.step}` : 'which does not load';
}

/** A fresh run never replaces a saved one unasked: a usage error naming `--out`, the checkpoint's step and the ways out. */
function refuseOverwrite(out: string, ckptPath: string): void {
  if (!existsSync(ckptPath)) return;
  throw new UsageError(`sttn train: --out ${out} already holds a checkpoint (${describeCheckpoint(ckptPath)}): use --resume to continue it, --force to replace it, or another --out`);
}

/** An empty split is an error naming the data, found before anything is trained or written. */
export function checkSplits(spec: string, data: Split): void {
  if (data.train.images.shape[0] === 0) throw new ConfigError(`--data ${spec}`, 'the training split is empty (0 examples): nothing to train on');
  checkTestSplit(spec, data.test);
}

/** An empty test split is an error naming the data. */
function checkTestSplit(spec: string, test: Dataset): void {
  if (test.images.shape[0] === 0) throw new ConfigError(`--data ${spec}`, 'the test split is empty (0 examples): no test accuracy to measure');
}

/** A pad of more than half the shorter image side crops mostly padding: a usage error naming the image size. */
function checkAugmentPad(pad: number, data: Split): void {
  const [h, w] = data.train.images.shape.slice(1, 3);
  const max = Math.floor(Math.min(h, w) / 2);
  if (pad > max) throw new UsageError(`sttn train: --augment-pad must be at most ${max} for ${h}×${w} images (half the shorter side; more crops mostly padding); got '${pad}'`);
}

/** The running sums of an epoch a stop cut short, kept in the checkpoint's meta for `--resume`. */
interface EpochInProgress {
  /** the step the sums were saved at: they belong to a checkpoint of that step only */
  readonly step: number;
  readonly lossSum: number;
  readonly correct: number;
  readonly seen: number;
  readonly seconds: number;
}

function epochInProgress(meta: RunMeta, step: number, spe: number): EpochInProgress | null {
  const e = meta.epochInProgress;
  if (step % spe === 0 || typeof e !== 'object' || e === null) return null;
  const r = e as Record<string, unknown>;
  const ok = ['step', 'lossSum', 'correct', 'seen', 'seconds'].every((k) => typeof r[k] === 'number' && Number.isFinite(r[k]));
  return ok && r.step === step ? (r as unknown as EpochInProgress) : null;
}

const isNonFinite = (e: unknown): e is Error => e instanceof NonFiniteError || e instanceof OverflowError;

export const trainCommand: Command = {
  summary: 'train a ternary network (default: STTN 2+2 cnn-small on the embedded MNIST)',
  about:
    'Train a (ternary) network; progress goes to stderr, the final test accuracy to stdout. Ctrl-C (or SIGTERM) stops at the next step, saves the checkpoint (continue with --resume) and exits 130 (143); a second one exits at once. One train at a time writes in --out (a lock file holds its pid).',
  positionals: [],
  flags: TRAIN_FLAGS,
  async run(p, env) {
    const { io, signal } = env;
    const t0 = performance.now();
    const name = p.values.model as PresetName;
    const bits = p.values.bits as Bits;
    const out = (p.values.out as string | undefined) ?? join('runs', `${name}-${bits.replace('+', 'p')}${bits.startsWith('2') ? '-' + String(p.values.weights) : ''}`);
    const ckptPath = join(out, 'checkpoint.json');
    const force = p.values.force === true;
    if (p.values.resume && force) throw new UsageError('sttn train: --resume and --force exclude each other: --resume continues the run in --out, --force replaces it');
    // before the backend and the data are loaded: a run that would be refused costs nothing
    if (!p.values.resume) {
      checkQuantizerFlags(p);
      if (!force) refuseOverwrite(out, ckptPath);
    }
    const B = await backendFlag('train', env, p.values.backend as string, p);
    const maxSteps = intFlag('train', p, 'max-steps');
    const logEvery = intFlag('train', p, 'log-every');
    const evalEvery = intFlag('train', p, 'eval-every') ?? 5;
    // a fresh run: data and model first, so that bad data or flags write nothing
    let fresh: { model: Model; cfg: TrainConfig; data: Split; spec: string } | null = null;
    if (p.values.resume) {
      const clash = [...p.given].find((f) => !RESUMABLE.has(f));
      if (clash) throw new UsageError(`sttn train: --${clash} cannot change on --resume (the run continues with its checkpoint's settings)`);
      if (!existsSync(out)) throw new RunDirError(out, 'does not exist: there is no run to resume');
    } else {
      const spec = p.values.data as string;
      const data = loadData(spec);
      checkSplits(spec, data);
      const pad = intFlag('train', p, 'augment-pad', 0) ?? 2;
      checkAugmentPad(pad, data);
      const kernelConfig: Record<string, unknown> = {};
      if (p.values.gradient !== undefined) kernelConfig.gradient = p.values.gradient;
      if (p.values.granularity !== undefined) kernelConfig.granularity = p.values.granularity;
      const modelSpec = preset(name, {
        bits,
        ternary: p.values.weights as TernaryWeights,
        kernelConfig,
        width: numFlag('train', p, 'width'),
        inputShape: data.train.images.shape.slice(1),
        classes: data.train.classes,
      });
      const model = orThrow(buildModel(modelSpec));
      const latentClip = numFlag('train', p, 'latent-clip') ?? null;
      const cfg = orThrow(
        decodeWith(
          TrainConfig,
          {
            epochs: intFlag('train', p, 'epochs'),
            batchSize: intFlag('train', p, 'batch'),
            seed: intFlag('train', p, 'seed', 0),
            augmentPad: pad,
            augmentFlip: p.values.flip,
            augmentRotate: nonNegativeFlag('train', p, 'augment-rotate'),
            augmentScale: nonNegativeFlag('train', p, 'augment-scale'),
            labelSmoothing: nonNegativeFlag('train', p, 'label-smoothing'),
            optimizer: { kind: p.values.optimizer, lr: numFlag('train', p, 'lr'), weightDecay: nonNegativeFlag('train', p, 'weight-decay'), latentClip },
          },
          'train',
        ),
      );
      fresh = { model, cfg, data, spec };
    }
    const lock = lockRunDir(out, env);
    try {
      // a writer killed mid-save left its temp file: gone before this run writes anything
      removeStaleTemps(ckptPath);
      if (fresh !== null) {
        // again, now that the directory is held: a run may have finished in it meanwhile
        if (!force) refuseOverwrite(out, ckptPath);
        else if (existsSync(ckptPath)) {
          const what = describeCheckpoint(ckptPath);
          renameSync(ckptPath, `${ckptPath}.bak`);
          io.err.write(`--force: the previous checkpoint (${what}) is now ${ckptPath}.bak\n`);
        }
      }
      return await trainIn(p, env, { B, out, ckptPath, maxSteps, logEvery, evalEvery, fresh, t0 });
    } finally {
      lock.release();
    }
  },
};

interface TrainSetup {
  readonly B: Backend;
  readonly out: string;
  readonly ckptPath: string;
  readonly maxSteps: number | undefined;
  readonly logEvery: number | undefined;
  readonly evalEvery: number;
  readonly fresh: { model: Model; cfg: TrainConfig; data: Split; spec: string } | null;
  readonly t0: number;
}

/** The run, once its directory is held: load or start, train, save, report. */
async function trainIn(p: Parsed, env: Env, setup: TrainSetup): Promise<number> {
  const { io, signal } = env;
  const { B, out, ckptPath, maxSteps, logEvery, evalEvery, fresh, t0 } = setup;
  const backendName = p.values.backend as string;
  let model: Model;
  let cfg: TrainConfig;
  let state: TrainState;
  let meta: RunMeta;
  let data: Split;
  // the last checkpoint this run can vouch for: the one it resumes from, then each it saves
  let lastSaved: string | null = null;
  if (fresh === null) {
    const ck = loadCheckpoint(ckptPath);
    if (E.isLeft(ck)) throw ck.left;
    const run = orThrow(fromCheckpoint(ck.right));
    ({ model, config: cfg, state } = run);
    const spec = p.given.has('data') ? (p.values.data as string) : recordedData(ckptPath, run.meta.data);
    const moved = absoluteData(spec) !== absoluteData(run.meta.data);
    io.err.write(`resuming ${model.spec.name} from step ${state.step} (${ckptPath})${moved ? ` on --data ${spec} (it trained on ${run.meta.data})` : ''}\n`);
    data = loadData(spec);
    checkSplits(spec, data);
    meta = { ...run.meta, data: absoluteData(spec) };
    lastSaved = ckptPath;
  } else {
    ({ model, cfg, data } = fresh);
    state = initTraining(B, model, cfg);
    meta = { data: absoluteData(fresh.spec), history: [] };
  }
  dataMismatch(model, data.train);
  const spe = stepsPerEpoch(data.train.images.shape[0], cfg.batchSize);
  const reporter = progressReporter({ stream: io.err, logEvery: logEvery ?? 'epoch' });
  io.err.write(`${model.spec.name}: ${data.train.images.shape[0]} training / ${data.test.images.shape[0]} test examples (${meta.data}), backend ${backendName}, ${cfg.epochs} epochs × ${spe} steps of ${cfg.batchSize}\n`);
  // nothing trained yet, so nothing to save
  if (signal.aborted) throw new Interrupted();
  const { epochInProgress: _previous, ...baseMeta } = meta;
  let history = [...meta.history];
  // an epoch a stop cut short goes on with its sums (the checkpoint's meta.epochInProgress)
  const carried = epochInProgress(meta, state.step, spe);
  let epochLoss = carried?.lossSum ?? 0;
  let epochCorrect = carried?.correct ?? 0;
  let epochSeen = carried?.seen ?? 0;
  let carriedSeconds = carried?.seconds ?? 0;
  let epochStart = performance.now();
  let stepsThisRun = 0;
  let samplesThisRun = 0;
  // the running training loss of the last epoch reached, as the progress line shows it
  let trainLoss: number | null = null;
  // time inside the epoch hook (test evaluations, checkpoint writes), left out of samples/s
  let hookSeconds = 0;
  // the test evaluations made inside the epoch hook
  const evals: { step: number; accuracy: number; loss: number }[] = [];
  const save = (s: TrainState, midEpoch: boolean) => {
    const sums: EpochInProgress = { step: s.step, lossSum: epochLoss, correct: epochCorrect, seen: epochSeen, seconds: carriedSeconds + (performance.now() - epochStart) / 1000 };
    saveCheckpoint(ckptPath, toCheckpoint(model, cfg, s, spe, { ...baseMeta, history, ...(midEpoch && epochSeen > 0 ? { epochInProgress: sums } : {}) }));
    lastSaved = ckptPath;
  };
  /** The test split under `s`; a non-finite value on the way is the run's divergence at `s.step`. */
  const test = (s: TrainState, when: string) => {
    try {
      return evaluate(B, model, s, data.test, cfg.evalBatchSize);
    } catch (e) {
      if (isNonFinite(e)) throw new TrainingDiverged(s.step, `${when}: ${e.message}`);
      throw e;
    }
  };
  let result: { state: TrainState; stopped: boolean };
  const loopStart = performance.now();
  try {
    result = await train(B, model, data.train, cfg, state, {
      onStep: (i) => {
        stepsThisRun++;
        samplesThisRun += i.batchSize;
        epochLoss += i.loss * i.batchSize;
        epochCorrect += i.correct;
        epochSeen += i.batchSize;
        trainLoss = epochLoss / epochSeen;
        reporter.update({ epoch: i.epoch + 1, epochs: cfg.epochs, step: i.stepInEpoch, steps: i.stepsPerEpoch, samples: i.batchSize, loss: epochLoss / epochSeen, accuracy: epochCorrect / epochSeen });
      },
      onEpoch: (epoch, s) => {
        const h0 = performance.now();
        const due = (epoch + 1) % evalEvery === 0 || epoch + 1 === cfg.epochs;
        let t: { accuracy: number; loss: number } | null = null;
        // a failing evaluation must not cost the epoch: it is saved first, the failure reported after
        let failure: { error: unknown } | null = null;
        if (due) {
          try {
            t = test(s, `the test evaluation after epoch ${epoch + 1}`);
          } catch (e) {
            if (e instanceof TrainingDiverged) throw e;
            failure = { error: e };
          }
        }
        if (t !== null) evals.push({ step: s.step, accuracy: t.accuracy, loss: t.loss });
        history = [...history, { epoch: epoch + 1, loss: epochLoss / epochSeen, trainAccuracy: epochCorrect / epochSeen, testAccuracy: t?.accuracy ?? null, seconds: carriedSeconds + (performance.now() - epochStart) / 1000 }];
        reporter.done();
        io.err.write(`epoch ${epoch + 1}/${cfg.epochs}: train loss ${(epochLoss / epochSeen).toFixed(4)}, train acc ${((100 * epochCorrect) / epochSeen).toFixed(2)}%${t === null ? '' : `, test acc ${(100 * t.accuracy).toFixed(2)}%`}\n`);
        save(s, false);
        if (failure !== null) {
          io.err.write(`epoch ${epoch + 1} saved to ${ckptPath} (step ${s.step}); its test evaluation failed:\n`);
          throw failure.error;
        }
        epochLoss = epochCorrect = epochSeen = carriedSeconds = 0;
        epochStart = performance.now();
        hookSeconds += (epochStart - h0) / 1000;
      },
      shouldStop: () => signal.aborted || (maxSteps !== undefined && stepsThisRun >= maxSteps),
    });
  } catch (e) {
    reporter.done();
    if (e instanceof TrainingDiverged) {
      throw new TrainingDiverged(e.step, `${e.what}; last good checkpoint: ${lastSaved ?? 'none saved yet'}`);
    }
    throw e;
  }
  const trainSeconds = (performance.now() - loopStart) / 1000 - hookSeconds;
  reporter.done();
  if (result.stopped) {
    save(result.state, result.state.step % spe !== 0);
    const interrupted = signal.aborted;
    io.err.write(`${interrupted ? 'interrupted' : 'stopped'} at step ${result.state.step}; checkpoint saved to ${ckptPath} (continue with: sttn train --resume --out ${out})\n`);
    if (interrupted) return stopCode(signal);
  }
  const lastEval = evals[evals.length - 1];
  let final: { accuracy: number; loss: number };
  try {
    final = lastEval !== undefined && lastEval.step === result.state.step ? lastEval : test(result.state, 'the final test evaluation');
  } catch (e) {
    if (e instanceof TrainingDiverged) throw new TrainingDiverged(e.step, `${e.what}; last good checkpoint: ${lastSaved ?? 'none saved yet'}`);
    throw e;
  }
  const count = data.test.images.shape[0];
  const correct = Math.round(final.accuracy * count);
  const wall = (performance.now() - t0) / 1000;
  const samplesPerSecond = trainSeconds > 0 ? samplesThisRun / trainSeconds : null;
  if (p.values.json) {
    printJson(io, {
      command: 'train',
      model: model.spec.name,
      checkpoint: ckptPath,
      backend: backendName,
      data: meta.data,
      accuracy: final.accuracy,
      correct,
      count,
      loss: final.loss,
      trainLoss,
      epochs: cfg.epochs,
      epochsDone: result.state.step / spe,
      step: result.state.step,
      stepsPerEpoch: spe,
      stepsThisRun,
      samplesThisRun,
      wallSeconds: wall,
      trainSeconds,
      samplesPerSecond,
    });
  } else {
    io.out(
      `test accuracy ${(100 * final.accuracy).toFixed(2)}% (${correct}/${count}), loss ${final.loss.toFixed(4)} · ${model.spec.name} · step ${result.state.step} · ${formatRate(samplesPerSecond ?? undefined)} samples/s · wall ${formatDuration(wall)} (${wall.toFixed(1)} s) · checkpoint ${ckptPath}`,
    );
  }
  return 0;
}

/**
 * `evaluate` one batch at a time, letting the event loop turn between batches, so that a Ctrl-C
 * during a long evaluation is seen within one batch (`evaluate` itself runs to the end).
 */
async function evaluateInterruptibly(B: Backend, model: Model, s: Pick<TrainState, 'params' | 'state'>, data: Dataset, batchSize: number, signal: AbortSignal): Promise<{ accuracy: number; loss: number; correct: number; count: number }> {
  const n = data.images.shape[0];
  if (n === 0) throw new ConfigError(data.name, 'is empty (0 examples): no accuracy to measure');
  const per = data.images.data.length / n;
  let correct = 0;
  let lossSum = 0;
  for (let a = 0; a < n; a += batchSize) {
    await pollInterrupt(signal);
    const b = Math.min(batchSize, n - a);
    const part: Dataset = { ...data, images: { shape: [b, ...data.images.shape.slice(1)], data: data.images.data.subarray(a * per, (a + b) * per) }, labels: data.labels.subarray(a, a + b) };
    const r = evaluate(B, model, s, part, batchSize);
    correct += Math.round(r.accuracy * b);
    lossSum += r.loss * b;
  }
  return { accuracy: correct / n, loss: lossSum / n, correct, count: n };
}

const CKPT_FLAGS: Flags = { ...common, ...JSON_FLAG };

/** The training run a checkpoint file holds; a bad file throws an error naming it and the field. */
export const loadRun = (file: string) => orThrow(fromCheckpoint(orThrow(loadCheckpoint(file))));

export const evalCommand: Command = {
  summary: 'accuracy of a checkpoint on a dataset',
  about: "Accuracy and loss of a checkpoint on the test split of --data (default: the run's own data). zoo:NAME (see `sttn zoo list`) evaluates a shipped model with the inference engine.",
  positionals: ['CHECKPOINT'],
  flags: CKPT_FLAGS,
  async run(p, env) {
    const t0 = performance.now();
    const file = p.positionals[0];
    if (file.startsWith(ZOO_PREFIX)) return evalZoo(p, env, file);
    // flags first: a usage error is reported before any file is read
    const B = await backendFlag('eval', env, p.values.backend as string, p);
    const run = loadRun(file);
    const dataSpec = p.given.has('data') ? (p.values.data as string) : recordedData(file, run.meta.data);
    // the test split only: a directory without training files will do
    const test = loadTestData(dataSpec);
    checkTestSplit(dataSpec, test);
    dataMismatch(run.model, test);
    const r = await evaluateInterruptibly(B, run.model, run.state, test, run.config.evalBatchSize, env.signal);
    const wall = (performance.now() - t0) / 1000;
    if (p.values.json) {
      printJson(env.io, { command: 'eval', checkpoint: file, model: run.model.spec.name, step: run.state.step, data: absoluteData(dataSpec), backend: p.values.backend as string, accuracy: r.accuracy, correct: r.correct, count: r.count, loss: r.loss, wallSeconds: wall });
    } else {
      env.io.out(`test accuracy ${(100 * r.accuracy).toFixed(2)}% (${r.correct}/${r.count}), loss ${r.loss.toFixed(4)} · ${run.model.spec.name} · ${dataSpec} · wall ${wall.toFixed(1)} s`);
    }
    return 0;
  },
};

export const summaryCommand: Command = {
  summary: 'per-layer bits, bytes, MACs, sparsity and α of a checkpoint',
  about: 'Per-layer parameters by bit-width, memory, MACs, sparsity and α of a checkpoint, and the size of the file `sttn export` would write.',
  positionals: ['CHECKPOINT'],
  flags: { backend: common.backend, ...JSON_FLAG },
  async run(p, env) {
    const t0 = performance.now();
    const file = p.positionals[0];
    const B = await backendFlag('summary', env, p.values.backend as string);
    const run = loadRun(file);
    const s = summarize(B, run.model, run.state.params);
    // what `sttn export` would write, from the writer's own layout (src/export/size.ts)
    const size = sizeReport(exportModel(B, run));
    if (p.values.json) {
      const totals = { params: s.totalParams, bits: s.totalBits, bytes: s.totalBytes, float32Bytes: s.float32Bytes, compression: s.compression, macs: s.totalMacs };
      printJson(env.io, { command: 'summary', checkpoint: file, model: run.model.spec.name, step: run.state.step, backend: p.values.backend as string, layers: s.layers, totals, export: size, wallSeconds: (performance.now() - t0) / 1000 });
    } else {
      env.io.out(`${run.model.spec.name} (step ${run.state.step})`);
      env.io.out(formatSummary(s));
      env.io.out(formatSizeReport(size));
    }
    return 0;
  },
};
