/**
 * `sttn import FILE.safetensors --out DIR`: weights trained elsewhere (PyTorch, named and laid out
 * as src/safetensors/pytorch.ts documents) into a run directory that `eval`, `summary`, `export`
 * and `train --resume` read.
 *
 * The model comes from the same flags as `train` (`--model`, `--bits`, `--weights`, `--gradient`,
 * `--granularity`, `--width`, `--sign-of-zero` for the official rule's torch.sign) with the input
 * shape and classes of `--data`, or from `--spec SPEC.json` (a model spec, as a checkpoint's
 * `model` field); `--map MAP.json` renames tensors (`{ pytorchName: sttnPath }`). The checkpoint is
 * a fresh run at step 0: train's default config (Adam, zero moments, seed 1) and `--data` recorded,
 * so `--resume` fine-tunes from the imported weights. Every tensor is checked against the model
 * before anything is written (one error lists all missing, extra and misshapen ones); an `--out`
 * holding a checkpoint needs `--force` (the old one becomes checkpoint.json.bak).
 *
 * Law (laws/safetensors.test.ts): an exported run imports to a checkpoint with the same tensors
 * that `eval` reads; an existing checkpoint without --force, a missing --out and a model that
 * does not fit the file are errors naming the flag or every tensor.
 */
import * as E from 'fp-ts/lib/Either.js';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { fromCheckpoint, toCheckpoint } from '../../src/checkpoint/run.js';
import { saveCheckpoint } from '../../src/checkpoint/checkpoint.js';
import { decodeWith, orThrow } from '../../src/codec.js';
import { ConfigError } from '../../src/errors.js';
import { initOptimizer } from '../../src/train/optim.js';
import { buildModel } from '../../src/models/model.js';
import { preset, type Bits, type PresetName, type TernaryWeights } from '../../src/models/presets.js';
import { fromSafetensors, loadSafetensors, type NameMap } from '../../src/safetensors/index.js';
import { TrainConfig } from '../../src/train/train.js';
import { cpu32 } from '../../backends/cpu.js';
import { numFlag, UsageError, type Flags } from './args.js';
import { absoluteData, loadTestData, TRAIN_FLAGS } from './commands.js';
import { JSON_FLAG, printJson, type Command } from './env.js';
import { lockRunDir } from './rundir.js';

const MODEL_FLAGS = ['model', 'bits', 'weights', 'gradient', 'granularity', 'width'] as const;

export const IMPORT_FLAGS: Flags = {
  ...Object.fromEntries(MODEL_FLAGS.map((f) => [f, TRAIN_FLAGS[f]])),
  'sign-of-zero': { type: 'string', choices: ['0', '1'], help: "STTN with --gradient official: sign(0) of the codes; 0 is torch.sign, as the official code (default 1)" },
  spec: { type: 'string', help: 'a model spec JSON file instead of the model flags' },
  map: { type: 'string', help: 'JSON file { pytorchName: sttnPath } renaming tensors (sttnPath as l00_conv2d.w)' },
  data: { type: 'string', default: 'embedded', help: "the data the run is for: its input shape and classes shape the model, and eval uses it ('embedded', 'idx:DIR', 'cifar10:DIR')" },
  out: { type: 'string', help: 'run directory to write checkpoint.json in (required)' },
  force: { type: 'boolean', default: false, help: 'replace a checkpoint in --out (it becomes checkpoint.json.bak)' },
  ...JSON_FLAG,
};

function readJson(file: string, flag: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`--${flag} ${file}`, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`--${flag} ${file}`, `is not JSON (${(e as Error).message})`);
  }
}

function readMap(file: string): NameMap {
  const raw = readJson(file, 'map');
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(`--map ${file}`, 'must be a JSON object { pytorchName: sttnPath }');
  for (const [k, v] of Object.entries(raw)) if (typeof v !== 'string') throw new ConfigError(`--map ${file}: ${k}`, `must be an sttn path string, got ${JSON.stringify(v)}`);
  return raw as NameMap;
}

export const importCommand: Command = {
  summary: 'import safetensors weights (PyTorch layout) into a run directory',
  about:
    'Read FILE.safetensors (PyTorch names and layouts: conv OIHW, dense [out, in], batch norm running_*; see src/safetensors/pytorch.ts) into --out/checkpoint.json for the model of the train flags or --spec, at step 0 with a fresh optimizer, so eval, summary, export and train --resume work on it.',
  positionals: ['FILE.safetensors'],
  flags: IMPORT_FLAGS,
  async run(p, env) {
    const file = p.positionals[0];
    const out = p.values.out as string | undefined;
    if (out === undefined) throw new UsageError('sttn import: --out DIR is required (the run directory to write checkpoint.json in)');
    const specFile = p.values.spec as string | undefined;
    if (specFile !== undefined) {
      const clash = MODEL_FLAGS.find((f) => p.given.has(f)) ?? (p.given.has('sign-of-zero') ? 'sign-of-zero' : undefined);
      if (clash) throw new UsageError(`sttn import: --${clash} and --spec exclude each other: the spec defines the model`);
    }
    const ckptPath = join(out, 'checkpoint.json');
    if (existsSync(ckptPath) && p.values.force !== true) throw new UsageError(`sttn import: --out ${out} already holds a checkpoint: use --force to replace it, or another --out`);
    const dataSpec = p.values.data as string;
    let modelSpec: unknown;
    if (specFile !== undefined) modelSpec = readJson(specFile, 'spec');
    else {
      const test = loadTestData(dataSpec);
      const kernelConfig: Record<string, unknown> = {};
      if (p.values.gradient !== undefined) kernelConfig.gradient = p.values.gradient;
      if (p.values.granularity !== undefined) kernelConfig.granularity = p.values.granularity;
      if (p.values['sign-of-zero'] !== undefined) kernelConfig.signOfZero = Number(p.values['sign-of-zero']);
      modelSpec = preset(p.values.model as PresetName, {
        bits: p.values.bits as Bits,
        ternary: p.values.weights as TernaryWeights,
        kernelConfig,
        width: numFlag('import', p, 'width'),
        inputShape: test.images.shape.slice(1),
        classes: test.classes,
      });
    }
    const model = orThrow(buildModel(modelSpec));
    const map = p.values.map === undefined ? {} : readMap(p.values.map as string);
    const st = loadSafetensors(file);
    const cfg = orThrow(decodeWith(TrainConfig, {}, 'train'));
    const { params, state } = fromSafetensors(model, st.tensors, map, { dtype: cfg.dtype, file });
    const run = { params, state, optimizer: initOptimizer(cpu32, cfg.optimizer, params), step: 0 };
    const ckpt = toCheckpoint(model, cfg, run, 1, { data: absoluteData(dataSpec), history: [], importedFrom: file });
    // the checks a later load makes (domains: batch-norm variances ≥ 0), before anything is written
    const check = fromCheckpoint(ckpt);
    if (E.isLeft(check)) throw new ConfigError(file, check.left.message);
    const lock = lockRunDir(out, env);
    try {
      if (existsSync(ckptPath)) renameSync(ckptPath, `${ckptPath}.bak`);
      saveCheckpoint(ckptPath, ckpt);
    } finally {
      lock.release();
    }
    const count = Object.keys(st.tensors).length;
    if (p.values.json) printJson(env.io, { command: 'import', file, checkpoint: ckptPath, model: model.spec.name, tensors: count });
    else env.io.out(`imported ${count} tensors from ${file} into ${ckptPath} (${model.spec.name}, step 0)`);
    return 0;
  },
};
