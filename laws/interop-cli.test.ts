/**
 * Laws of `sttn export --format onnx|safetensors` (app/cli/deploy.ts): the CLI writes exactly the
 * bytes of the library's exporters (`exportOnnx` of the deployed model, `exportSafetensors` of the
 * run), `--json` reports them, and a safetensors export imports back (`sttn import`) to a run whose
 * `sttn eval` gives the identical accuracy and loss.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpu32 } from '../backends/cpu.js';
import { fromCheckpoint, loadCheckpoint } from '../src/checkpoint/index.js';
import { orThrow } from '../src/codec.js';
import { exportModel } from '../src/export/export.js';
import { exportOnnx } from '../src/export/onnx.js';
import { exportSafetensors } from '../src/safetensors/pytorch.js';
import { runCli, writeIdxDir } from './cli-io.js';
import { example } from './law.js';

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

example('sttn export --format onnx / safetensors write the exporters\' bytes; safetensors imports back to the same eval', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sttn-interop-cli-'));
  try {
    const data = writeIdxDir(join(dir, 'data'), 8, 6);
    const run = join(dir, 'run');
    const trained = await runCli(['train', '--model', 'mlp', '--data', `idx:${data}`, '--epochs', '1', '--batch', '4', '--backend', 'cpu', '--out', run]);
    if (trained.code !== 0) return false;
    const ckFile = join(run, 'checkpoint.json');
    const r = orThrow(fromCheckpoint(orThrow(loadCheckpoint(ckFile))));
    const onnx = await runCli(['export', ckFile, '--format', 'onnx', '--json']);
    const st = await runCli(['export', ckFile, '--format', 'safetensors', '--out', join(dir, 'w.safetensors')]);
    const onnxReport = JSON.parse(onnx.out) as { output: string; bytes: number; format: string };
    const onnxBytes = readFileSync(onnxReport.output);
    const stBytes = readFileSync(join(dir, 'w.safetensors'));
    const okBytes =
      onnx.code === 0 && st.code === 0 && onnxReport.format === 'onnx' && onnxReport.bytes === onnxBytes.length && onnxReport.output === join(run, 'model.onnx') &&
      sameBytes(onnxBytes, exportOnnx(exportModel(cpu32, r))) &&
      sameBytes(stBytes, exportSafetensors({ model: r.model, state: r.state }));
    const imp = await runCli(['import', join(dir, 'w.safetensors'), '--out', join(dir, 'back'), '--model', 'mlp', '--data', `idx:${data}`]);
    const a = JSON.parse((await runCli(['eval', ckFile, '--backend', 'cpu', '--json'])).out) as { accuracy: number; loss: number };
    const b = JSON.parse((await runCli(['eval', join(dir, 'back', 'checkpoint.json'), '--backend', 'cpu', '--json'])).out) as { accuracy: number; loss: number };
    return okBytes && imp.code === 0 && a.accuracy === b.accuracy && a.loss === b.loss;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
