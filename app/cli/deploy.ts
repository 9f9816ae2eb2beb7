/**
 * `sttn export` and `sttn predict`: from a training checkpoint to a deployed `.sttn` file, and
 * from a `.sttn` file and images to classes.
 *
 *   sttn export CHECKPOINT [--encoding 2bit|base3] [--out FILE]
 *     merges every STTN pair into one ternary kernel, folds batch norm where exact, packs the
 *     codes (src/export/) and writes the container atomically; prints the written size next to
 *     the predicted one and the float32 comparison.
 *   sttn predict MODEL IMAGE… [--backend wasm] [--kernels auto|reference|wasm]
 *     runs the inference engine (src/infer/engine.ts) on PGM (P5), PNG and IDX images of exactly
 *     the model's input size and prints, per image, the class and every class's probability.
 *
 * The commands receive the backend loader (src/ never imports a backend). The ternary × ternary
 * kernels come through a `KernelsLoader`: `predictCommandWith(load)` binds one; `predictCommand`
 * (what `COMMANDS` registers) knows only the reference kernels until backends/ passes the
 * WebAssembly ones (backends/ternary.ts, `createWasmTernaryKernels`) through
 * `predictCommandWith`.
 *
 * Law (laws/export.test.ts): `sttn summary` predicts the exact size of the file `sttn export`
 * writes; predict's classes are the engine's; bad files are one-line errors naming the file.
 */
import * as E from 'fp-ts/lib/Either.js';
import { dirname, join } from 'node:path';
import { loadCheckpoint } from '../../src/checkpoint/checkpoint.js';
import { orThrow } from '../../src/codec.js';
import { ENCODINGS, exportedSize, loadDeployed, saveDeployed, type Encoding } from '../../src/export/container.js';
import { exportModel } from '../../src/export/export.js';
import { formatSizeReport, sizeReport } from '../../src/export/size.js';
import { createEngine } from '../../src/infer/engine.js';
import { batchOf, readImages, type Image } from '../../src/infer/images.js';
import { referenceTernaryKernels, type TernaryKernels } from '../../src/infer/ternary-kernels.js';
import { fromCheckpoint } from '../../src/checkpoint/run.js';
import { helpText, intFlag, parseFlags, UsageError, type Flags } from './args.js';
import type { BackendLoader, Io } from './commands.js';

/** Ternary × ternary kernels by name (`reference`, `wasm`). */
export type KernelsLoader = (name: string) => Promise<TernaryKernels>;

/** Only the reference kernels: what src/ can offer without importing backends/. */
export const referenceKernelsOnly: KernelsLoader = async (name) => {
  if (name === 'reference') return referenceTernaryKernels;
  throw new UsageError(`sttn predict: --kernels ${name} is not available in this build (only 'reference'; the WebAssembly kernels are passed in by backends/)`);
};

const EXPORT_FLAGS: Flags = {
  encoding: { type: 'string', default: '2bit', choices: ENCODINGS, help: 'ternary codes: 2 bits (4 per byte) or base 3 (5 per byte, 1.6 bits)' },
  out: { type: 'string', help: 'output file (default: model.sttn next to the checkpoint)' },
  backend: { type: 'string', help: "backend computing the codes (default: 'cpu', or 'cpu64' for a float64 run)" },
  help: { type: 'boolean', help: 'print this help' },
};

export async function exportCommand(argv: readonly string[], loadBackend: BackendLoader, io: Io): Promise<number> {
  const p = parseFlags('export', EXPORT_FLAGS, argv, 1);
  const file = p.positionals[0];
  if (p.values.help || file === undefined) {
    io.out(helpText('export', 'Write the deployed form of a checkpoint: merged ternary kernels, packed codes, folded batch norm.', EXPORT_FLAGS, 'CHECKPOINT'));
    return file === undefined && !p.values.help ? 2 : 0;
  }
  const ck = loadCheckpoint(file);
  if (E.isLeft(ck)) throw ck.left;
  const run = orThrow(fromCheckpoint(ck.right));
  const B = await loadBackend((p.values.backend as string | undefined) ?? (run.config.dtype === 'float64' ? 'cpu64' : 'cpu'));
  const encoding = p.values.encoding as Encoding;
  const out = (p.values.out as string | undefined) ?? join(dirname(file), 'model.sttn');
  const m = exportModel(B, run);
  const predicted = exportedSize(m, encoding);
  const written = saveDeployed(out, m, encoding);
  io.out(`wrote ${out}: ${written} bytes (${encoding}; predicted ${predicted}) · ${m.name} · step ${run.state.step}`);
  io.out(formatSizeReport(sizeReport(m)));
  return 0;
}

const PREDICT_FLAGS: Flags = {
  backend: { type: 'string', default: 'wasm', help: 'backend of the float layers: cpu | cpu64 | wasm | gpujs…' },
  kernels: { type: 'string', default: 'auto', help: "ternary × ternary kernels: 'auto' (wasm when available, else reference), 'reference' or 'wasm'" },
  batch: { type: 'string', default: '64', help: 'images per engine call' },
  plan: { type: 'boolean', default: false, help: 'print how each layer runs (to stderr)' },
  help: { type: 'boolean', help: 'print this help' },
};

/** `sttn predict` with `loadKernels` as the source of ternary × ternary kernels. */
export function predictCommandWith(loadKernels: KernelsLoader) {
  return async (argv: readonly string[], loadBackend: BackendLoader, io: Io): Promise<number> => {
    const p = parseFlags('predict', PREDICT_FLAGS, argv, Number.MAX_SAFE_INTEGER);
    const [file, ...images] = p.positionals;
    if (p.values.help || file === undefined || images.length === 0) {
      io.out(
        helpText(
          'predict',
          'Class and probabilities of each image under a deployed model. Images: binary PGM (P5), PNG, or IDX image files (plain or gzipped), of exactly the model input size (no resizing).',
          PREDICT_FLAGS,
          'MODEL.sttn IMAGE…',
        ),
      );
      return p.values.help ? 0 : 2;
    }
    const m = loadDeployed(file);
    if (E.isLeft(m)) throw m.left;
    const model = m.right;
    const batch = intFlag('predict', p, 'batch') ?? 64;
    const want = p.values.kernels as string;
    let kernels: TernaryKernels;
    if (want === 'auto') {
      try {
        kernels = await loadKernels('wasm');
      } catch {
        kernels = referenceTernaryKernels;
      }
    } else kernels = await loadKernels(want);
    const B = await loadBackend(p.values.backend as string);
    const engine = createEngine(model, { backend: B, kernels });
    if (p.values.plan) io.err.write(engine.plan.join('\n') + '\n');
    const all: Image[] = [];
    for (const f of images) all.push(...(await readImages(f)));
    const k = model.classes;
    for (let a = 0; a < all.length; a += batch) {
      const chunk = all.slice(a, a + batch);
      const r = engine.predict(batchOf(chunk, model.inputShape));
      chunk.forEach((img, i) => {
        const probs = Array.from(r.probabilities.subarray(i * k, (i + 1) * k), (v) => v.toFixed(4));
        io.out(`${img.label}\tclass ${r.classes[i]}\tp ${probs[r.classes[i]]}\t[${probs.join(' ')}]`);
      });
    }
    return 0;
  };
}

export const predictCommand = predictCommandWith(referenceKernelsOnly);
