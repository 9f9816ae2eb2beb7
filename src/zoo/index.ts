/**
 * `sttn/zoo`: trained ternary networks shipped inside the package, no network access needed.
 * `listZoo()` gives the manifest's entries (src/zoo/manifest.ts), `loadZooModel(name)` a
 * deployed model ready for `createEngine` (its bytes checked against the recorded size and
 * SHA-256, then parsed as any `.sttn` file), `zooModelFromBytes` the same from bytes in hand.
 * `engineAccuracy` counts an engine's correct classes on a dataset: how the manifest's accuracy
 * was measured, and how the law and `sttn eval zoo:NAME` measure it again.
 *
 * Node only for now: the files are found through the package root (src/package-files.ts).
 *
 * Law (laws/zoo.test.ts): every shipped model loads, matches its manifest entry and reaches the
 * recorded accuracy on the embedded test split; an unknown name is a ConfigError listing the
 * available ones; altered bytes are an error naming the file.
 */
import { readFile } from 'node:fs/promises';
import { orThrow } from '../codec.js';
import { ConfigError } from '../errors.js';
import type { Dataset } from '../data/dataset.js';
import { parseDeployed } from '../export/container.js';
import { allOps, isWeighted, type DeployedModel } from '../export/deployed.js';
import { sizeReport } from '../export/size.js';
import type { Engine } from '../infer/engine.js';
import { packageFile } from '../package-files.js';
import { decodeZooManifest, type ZooEntry, type ZooManifest } from './manifest.js';

export { decodeZooManifest, ternaryShare, ZooEntry, ZooManifest, ZOO_FORMAT, ZOO_VERSION } from './manifest.js';

/** The path of a file in the package's zoo/ folder. */
export const zooFile = (file: string): string => packageFile('zoo', file);

let cached: Promise<ZooManifest> | undefined;

/** The shipped manifest, decoded (read once). */
export function zooManifest(): Promise<ZooManifest> {
  cached ??= (async () => {
    const path = zooFile('manifest.json');
    let json: unknown;
    try {
      json = JSON.parse(await readFile(path, 'utf8'));
    } catch (e) {
      throw new ConfigError(path, `cannot read the zoo's manifest: ${(e as Error).message}`);
    }
    return orThrow(decodeZooManifest(json, path));
  })();
  return cached;
}

/** The zoo's entries, in the manifest's order. */
export const listZoo = async (): Promise<readonly ZooEntry[]> => (await zooManifest()).models;

/** The entry called `name`; an unknown name is a ConfigError listing the available ones. */
export async function zooEntry(name: string): Promise<ZooEntry> {
  const models = await listZoo();
  const e = models.find((m) => m.name === name);
  if (e === undefined) throw new ConfigError('zoo', `no model ${JSON.stringify(name)} in the zoo (available: ${models.map((m) => m.name).join(', ')})`);
  return e;
}

/** Lowercase hex SHA-256 of `bytes` (WebCrypto, as in browsers). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const copy = new Uint8Array(bytes); // digest wants an ArrayBuffer-backed view of its own
  const d = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', copy));
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * The deployed model in `bytes`, which must be the entry's file: a wrong size or SHA-256 is a
 * ConfigError naming the file (a damaged or replaced install), before the container is parsed.
 */
export async function zooModelFromBytes(bytes: Uint8Array, entry: ZooEntry): Promise<DeployedModel> {
  const what = `zoo/${entry.file}`;
  if (bytes.length !== entry.bytes) throw new ConfigError(what, `is ${bytes.length} bytes, the manifest records ${entry.bytes}`);
  const sha = await sha256Hex(bytes);
  if (sha !== entry.sha256) throw new ConfigError(what, `has SHA-256 ${sha}, the manifest records ${entry.sha256}`);
  return orThrow(parseDeployed(bytes, what));
}

/** The zoo's model `name` (see `listZoo`), read from the package. */
export async function loadZooModel(name: string): Promise<DeployedModel> {
  const entry = await zooEntry(name);
  const path = zooFile(entry.file);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (e) {
    throw new ConfigError(path, `cannot read the zoo model ${name}: ${(e as Error).message}`);
  }
  return zooModelFromBytes(bytes, entry);
}

/** What the manifest records about a file's weights: ternary ones, all of them, the float32 file's size. */
export function weightFigures(m: DeployedModel): { ternaryWeights: number; weightCount: number; float32Bytes: number } {
  const weightCount = allOps(m.ops).reduce((s, op) => s + (isWeighted(op) ? op.shape.reduce((a, b) => a * b, 1) : 0), 0);
  const r = sizeReport(m);
  return { ternaryWeights: r.quantized.ternary, weightCount, float32Bytes: r.fileBytes.float32 };
}

/**
 * Correct classes of `engine` on `ds`, `batch` images per call, and the mean cross-entropy of its
 * probabilities. `poll` runs between batches (the CLI's interrupt check).
 */
export async function engineAccuracy(
  engine: Engine,
  ds: Dataset,
  batch = 256,
  poll: () => Promise<void> | void = () => {},
): Promise<{ correct: number; count: number; accuracy: number; loss: number }> {
  const [n, ...per] = ds.images.shape;
  const size = per.reduce((a, b) => a * b, 1);
  const k = engine.model.classes;
  let correct = 0;
  let loss = 0;
  for (let a = 0; a < n; a += batch) {
    await poll();
    const b = Math.min(batch, n - a);
    const x = { shape: [b, ...per], data: ds.images.data.subarray(a * size, (a + b) * size) };
    const r = engine.predict(x);
    for (let i = 0; i < b; i++) {
      const label = ds.labels[a + i];
      if (r.classes[i] === label) correct++;
      loss -= Math.log(Math.max(r.probabilities[i * k + label], Number.MIN_VALUE));
    }
  }
  return { correct, count: n, accuracy: n === 0 ? 0 : correct / n, loss: n === 0 ? 0 : loss / n };
}
