/**
 * `sttn export` and `sttn predict`: from a training checkpoint to a deployed `.sttn` file, and
 * from a `.sttn` file and images to classes.
 *
 *   sttn export CHECKPOINT [--format sttn|onnx|safetensors] [--encoding 2bit|base3] [--out FILE] [--json]
 *     merges every STTN pair into one ternary kernel, folds batch norm where exact, packs the
 *     codes (src/export/) and writes the container atomically; prints the written size next to
 *     the predicted one and the float32 comparison. `--format onnx` writes the same deployed
 *     model as a standard ONNX model (src/export/onnx.ts), `--format safetensors` the latent
 *     weights in PyTorch's names and layouts (src/safetensors/pytorch.ts).
 *   sttn predict MODEL IMAGE… [--backend wasm] [--kernels auto|reference|wasm|wasm-lookup] [--json]
 *     runs the inference engine (src/infer/engine.ts) on PGM (P5), PNG and IDX images of exactly
 *     the model's input size (checked from each image's header, before its pixels are decoded)
 *     and prints, per image, the class and every class's probability.
 *
 * Both are `Command` records (app/cli/env.ts): the backend and the ternary × ternary kernels come
 * from the environment's registries (app/cli.ts passes backends/index.ts's, WebAssembly kernels
 * included); predict checks the interrupt signal between batches.
 *
 * Laws (laws/export.test.ts, laws/cli.test.ts, laws/cli-edges.test.ts, laws/interop-cli.test.ts): `sttn summary` predicts
 * the exact size of the file `sttn export` writes; predict's classes are the engine's; `--json`
 * holds the text's figures; bad files, an IDX file of 0 images included, are one-line errors
 * naming the file; an image of another size than the model's is one, found from its header;
 * `export --out` under /proc is one line (laws/signals.test.ts).
 */
import { dirname, join } from 'node:path';
import { ENCODINGS, exportedSize, saveDeployed, type Encoding } from '../../src/export/container.js';
import { exportModel } from '../../src/export/export.js';
import { exportOnnx } from '../../src/export/onnx.js';
import { writeFileAtomic } from '../../src/files.js';
import { exportSafetensors } from '../../src/safetensors/pytorch.js';
import { formatSizeReport, sizeReport } from '../../src/export/size.js';
import { createEngine } from '../../src/infer/engine.js';
import { batchOf, readImages, type Image } from '../../src/infer/images.js';
import type { TernaryKernels } from '../../src/infer/ternary-kernels.js';
import { DataFileError } from '../../src/data/dataset.js';
import { TERNARY_KERNEL_NAMES } from '../../backends/index.js';
import { intFlag, ints, type Flags } from './args.js';
import { backendFlag, loadRun, WASM_KERNEL_FLAG } from './commands.js';
import { deployedArg } from './zoo.js';
import { autoKernels, fromFlag, JSON_FLAG, pollInterrupt, printJson, type Command, type Env } from './env.js';

const FORMATS = ['sttn', 'onnx', 'safetensors'] as const;
type Format = (typeof FORMATS)[number];
const EXTENSION: Record<Format, string> = { sttn: 'model.sttn', onnx: 'model.onnx', safetensors: 'model.safetensors' };

const EXPORT_FLAGS: Flags = {
  format: {
    type: 'string',
    default: 'sttn',
    choices: FORMATS,
    help: "sttn: the packed .sttn container for sttn's engine; onnx: a standard ONNX model (opset 13, int8 ternary codes, input `input` NHWC in [0, 1], outputs `logits` and `probabilities`); safetensors: the latent weights in PyTorch's names and layouts",
  },
  encoding: { type: 'string', default: '2bit', choices: ENCODINGS, help: 'ternary codes of the .sttn format: 2 bits (4 per byte) or base 3 (5 per byte, 1.6 bits)' },
  out: { type: 'string', help: 'output file (default: model.sttn, model.onnx or model.safetensors next to the checkpoint)' },
  backend: { type: 'string', help: "backend computing the codes (default: 'cpu', or 'cpu64' for a float64 run)" },
  ...JSON_FLAG,
};

/** The report of an ONNX or safetensors export: one JSON document, or one line. */
function reportOther(env: Env, json: boolean, r: { command: string; checkpoint: string; output: string; format: string; model: string; step: number; bytes: number; wallSeconds: number }): number {
  if (json) printJson(env.io, r);
  else env.io.out(`wrote ${r.output}: ${r.bytes} bytes (${r.format}) · ${r.model} · step ${r.step}`);
  return 0;
}

export const exportCommand: Command = {
  summary: 'write the deployed model of a checkpoint: merged ternary kernels, packed 2-bit or base-3 codes',
  about: 'Write the deployed form of a checkpoint: merged ternary kernels, packed codes, folded batch norm.',
  positionals: ['CHECKPOINT'],
  flags: EXPORT_FLAGS,
  async run(p, env) {
    const t0 = performance.now();
    const file = p.positionals[0];
    const run = loadRun(file);
    const B = await backendFlag('export', env, (p.values.backend as string | undefined) ?? (run.config.dtype === 'float64' ? 'cpu64' : 'cpu'));
    const encoding = p.values.encoding as Encoding;
    const format = p.values.format as Format;
    const out = (p.values.out as string | undefined) ?? join(dirname(file), EXTENSION[format]);
    if (format === 'safetensors') {
      const bytes = exportSafetensors({ model: run.model, state: run.state });
      writeFileAtomic(out, bytes, { mkdir: true });
      return reportOther(env, p.values.json === true, { command: 'export', checkpoint: file, output: out, format, model: run.model.spec.name, step: run.state.step, bytes: bytes.length, wallSeconds: (performance.now() - t0) / 1000 });
    }
    const m = exportModel(B, run);
    if (format === 'onnx') {
      const bytes = exportOnnx(m);
      writeFileAtomic(out, bytes, { mkdir: true });
      return reportOther(env, p.values.json === true, { command: 'export', checkpoint: file, output: out, format, model: m.name, step: run.state.step, bytes: bytes.length, wallSeconds: (performance.now() - t0) / 1000 });
    }
    const predicted = exportedSize(m, encoding);
    const written = saveDeployed(out, m, encoding);
    const size = sizeReport(m);
    if (p.values.json) {
      printJson(env.io, {
        command: 'export',
        checkpoint: file,
        output: out,
        model: m.name,
        step: run.state.step,
        encoding,
        bytes: written,
        predictedBytes: predicted,
        float32Bytes: size.fileBytes.float32,
        compression: size.fileBytes.float32 / written,
        sizes: size,
        wallSeconds: (performance.now() - t0) / 1000,
      });
    } else {
      env.io.out(`wrote ${out}: ${written} bytes (${encoding}; predicted ${predicted}) · ${m.name} · step ${run.state.step}`);
      env.io.out(formatSizeReport(size));
    }
    return 0;
  },
};

/** `auto` and the registry's names (backends/index.ts), so that the error of a bad value lists what --help lists. */
const KERNEL_CHOICES = ['auto', ...TERNARY_KERNEL_NAMES];

const PREDICT_FLAGS: Flags = {
  backend: { type: 'string', default: 'wasm', help: 'backend of the float layers: cpu | cpu64 | wasm | gpujs…' },
  kernels: { type: 'string', default: 'auto', choices: KERNEL_CHOICES, help: 'ternary × ternary kernels: auto is wasm-lookup where relaxed SIMD is available, else wasm, else reference (the same results)' },
  batch: { type: 'string', default: '64', range: ints(1, 65_536), help: 'images per engine call' },
  ...WASM_KERNEL_FLAG,
  plan: { type: 'boolean', default: false, help: 'print how each layer runs (to stderr)' },
  ...JSON_FLAG,
};

export const predictCommand: Command = {
  summary: 'class and probabilities of PGM/PNG/IDX images under a deployed model',
  about:
    'Class and probabilities of each image under a deployed model (a .sttn file, or zoo:NAME for a model shipped with sttn, see `sttn zoo list`), one line per image. Images: binary PGM (P5), PNG, or IDX image files (plain or gzipped), of exactly the model input size (no resizing).',
  positionals: ['MODEL.sttn', 'IMAGE…'],
  flags: PREDICT_FLAGS,
  async run(p, env) {
    const { io } = env;
    const [file, ...images] = p.positionals;
    const model = await deployedArg(file);
    const batch = intFlag('predict', p, 'batch') ?? 64;
    const want = p.values.kernels as string;
    let kernels: TernaryKernels;
    if (want === 'auto') kernels = await autoKernels(env, 'predict');
    else kernels = await fromFlag('predict', 'kernels', 'kernels', () => env.loadKernels(want));
    const backendName = p.values.backend as string;
    const B = await backendFlag('predict', env, backendName, p);
    const engine = createEngine(model, { backend: B, kernels });
    if (p.values.plan) io.err.write(engine.plan.join('\n') + '\n');
    const all: Image[] = [];
    for (const f of images) {
      // the model's input size, checked from each image's header before its pixels are decoded
      const read = await readImages(f, { inputShape: model.inputShape });
      // an IDX file may hold 0 images: say so rather than print nothing
      if (read.length === 0) throw new DataFileError(f, 'count', 'is 0 images: nothing to predict');
      all.push(...read);
    }
    const k = model.classes;
    const json = p.values.json === true;
    const results: { file: string; class: number; probabilities: number[] }[] = [];
    let inferMs = 0;
    for (let a = 0; a < all.length; a += batch) {
      await pollInterrupt(env.signal);
      const chunk = all.slice(a, a + batch);
      const x = batchOf(chunk, model.inputShape);
      const t = performance.now();
      const r = engine.predict(x);
      inferMs += performance.now() - t;
      chunk.forEach((img, i) => {
        const probabilities = Array.from(r.probabilities.subarray(i * k, (i + 1) * k));
        if (json) results.push({ file: img.label, class: r.classes[i], probabilities });
        else {
          // text streams a line per image as its batch finishes
          const probs = probabilities.map((v) => v.toFixed(4));
          io.out(`${img.label}\tclass ${r.classes[i]}\tp ${probs[r.classes[i]]}\t[${probs.join(' ')}]`);
        }
      });
    }
    const msPerImage = all.length > 0 ? inferMs / all.length : 0;
    if (json) {
      printJson(io, { command: 'predict', modelFile: file, model: model.name, backend: backendName, kernels: kernels.name, count: all.length, batch, msPerImage, predictions: results });
    } else {
      io.err.write(`${all.length} image${all.length === 1 ? '' : 's'} · ${msPerImage.toFixed(3)} ms per image (batches of ${batch}, backend ${backendName}, kernels ${kernels.name})\n`);
    }
    return 0;
  },
};
