/**
 * Laws of the model zoo (src/zoo/, zoo/, app/cli/zoo.ts, scripts/zoo.ts's output):
 * - the shipped manifest decodes; every file has the recorded size and SHA-256, parses, and its
 *   ternary weight count, weight count and float32 size are the recorded ones; the command's
 *   flags name the recorded preset, bits, quantizer and seed;
 * - each shipped model's accuracy on the embedded test split, counted by the inference engine
 *   (wasm backend, wasm ternary kernels), equals the manifest's — for every entry;
 * - the mostly-ternary digits network (issue #15): ≥ 90% of its weights ternary, its file ≥ 10×
 *   smaller than its float32 file, ≥ 99.0% test accuracy at 2+2 STTN;
 * - through the CLI: `zoo list` names every entry, `eval zoo:NAME` gives the manifest's accuracy,
 *   `predict zoo:NAME` the engine's classes; an unknown name is one line listing the available
 *   ones (and a ConfigError from `loadZooModel`); any altered byte is refused naming the file;
 *   a manifest with a wrong field is a ConfigError naming its path.
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { loadBackend, loadTernaryKernels } from '../backends/index.js';
import { loadEmbeddedMnist } from '../src/data/mnist-embedded.js';
import { ConfigError } from '../src/errors.js';
import { createEngine } from '../src/infer/engine.js';
import { decodeZooManifest, engineAccuracy, listZoo, loadZooModel, sha256Hex, ternaryShare, weightFigures, zooFile, zooModelFromBytes, type ZooEntry } from '../src/zoo/index.js';
import { holdsAsync } from './async-law.js';
import { runCli } from './cli-io.js';
import { example } from './law.js';

const dir = mkdtempSync(join(tmpdir(), 'sttn-zoo-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const models = await listZoo();
const test = loadEmbeddedMnist().test;
const B = await loadBackend('wasm');
const kernels = await loadTernaryKernels('wasm');
const bytesOf = (e: ZooEntry): Uint8Array => new Uint8Array(readFileSync(zooFile(e.file)));

/** The value after `--flag` in the entry's train command (undefined when absent). */
const flag = (e: ZooEntry, f: string): string | undefined => {
  const argv = e.command.split(' && ')[0].split(/\s+/);
  const i = argv.indexOf(`--${f}`);
  return i < 0 ? undefined : argv[i + 1];
};

example('zoo: the manifest decodes and holds the three issue #15 entries (cnn-ternary 2+2 and 2+32, cnn-small 2+2)', () =>
  models.length >= 3 &&
  new Set(models.map((m) => m.name)).size === models.length &&
  models.some((m) => m.preset === 'cnn-ternary' && m.bits === '2+2') &&
  models.some((m) => m.preset === 'cnn-ternary' && m.bits === '2+32') &&
  models.some((m) => m.preset === 'cnn-small' && m.bits === '2+2'),
);

for (const e of models) {
  example(`zoo ${e.name}: the file has the recorded size, SHA-256 and weight figures; the command names its preset, bits, quantizer and seed`, async () => {
    const bytes = bytesOf(e);
    const m = await loadZooModel(e.name);
    const f = weightFigures(m);
    return (
      bytes.length === e.bytes &&
      (await sha256Hex(bytes)) === e.sha256 &&
      f.ternaryWeights === e.ternaryWeights && f.weightCount === e.weightCount && f.float32Bytes === e.float32Bytes &&
      flag(e, 'model') === e.preset && (flag(e, 'bits') ?? '2+2') === e.bits && (flag(e, 'weights') ?? 'sttn') === e.weights && Number(flag(e, 'seed') ?? 1) === e.seed &&
      e.command.endsWith(`--out zoo/${e.file}`) && e.command.includes(`--encoding ${e.encoding}`)
    );
  });

  example(`zoo ${e.name}: the engine's accuracy on the embedded test split is the manifest's ${e.accuracy.correct}/${e.accuracy.count}`, async () => {
    const r = await engineAccuracy(createEngine(await loadZooModel(e.name), { backend: B, kernels }), test);
    return r.correct === e.accuracy.correct && r.count === e.accuracy.count;
  });
}

// the accuracies compared here are the manifest's, which the law above recounts with the engine
example('zoo: the mostly-ternary digits network keeps ≥ 90% of its weights ternary, its file ≥ 10× below float32, and reaches ≥ 99.0% at 2+2 STTN', () => {
  const ct = models.filter((m) => m.preset === 'cnn-ternary');
  const twoTwo = ct.filter((m) => m.bits === '2+2' && m.weights === 'sttn');
  return (
    ct.length > 0 && ct.every((m) => ternaryShare(m) >= 0.9 && m.float32Bytes / m.bytes >= 10) &&
    twoTwo.length > 0 && twoTwo.every((m) => m.accuracy.correct / m.accuracy.count >= 0.99)
  );
});

example('zoo: an unknown name is a ConfigError listing every available model', async () => {
  try {
    await loadZooModel('no-such-model');
    return false;
  } catch (err) {
    return err instanceof ConfigError && err.message.includes('no-such-model') && models.every((m) => err.message.includes(m.name));
  }
});

example('zoo: any altered byte of a shipped file is refused before parsing, naming the file and the SHA-256', async () => {
  const e = models[0];
  const bytes = bytesOf(e);
  return holdsAsync(
    fc.record({ at: fc.nat({ max: bytes.length - 1 }), x: fc.integer({ min: 1, max: 255 }) }),
    async ({ at, x }) => {
      const bad = bytes.slice();
      bad[at] ^= x;
      try {
        await zooModelFromBytes(bad, e);
        return false;
      } catch (err) {
        return err instanceof ConfigError && err.message.includes(e.file) && err.message.includes('SHA-256');
      }
    },
    20,
  );
});

example('zoo: a manifest with a wrong field is a ConfigError naming its path', () => {
  const json = JSON.parse(readFileSync(zooFile('manifest.json'), 'utf8')) as { models: Record<string, unknown>[] };
  const cases: [(m: Record<string, unknown>) => void, string][] = [
    [(m) => (m.bytes = -1), 'models.0.bytes'],
    [(m) => (m.sha256 = 'abc'), 'models.0.sha256'],
    [(m) => (m.bits = '3+3'), 'models.0.bits'],
    [(m) => delete m.seed, 'models.0.seed'],
    [(m) => (m.extra = 1), 'extra'],
  ];
  return cases.every(([edit, path]) => {
    const copy = structuredClone(json);
    edit(copy.models[0]);
    const r = decodeZooManifest(copy, 'zoo/manifest.json');
    return E.isLeft(r) && r.left instanceof ConfigError && r.left.message.includes(path);
  }) && E.isRight(decodeZooManifest(json));
});

// ---- through the CLI ------------------------------------------------------------------------

const smallest = [...models].sort((a, b) => a.bytes - b.bytes)[0];

example('sttn zoo list: one line per entry naming it; --json holds every entry', async () => {
  const text = await runCli(['zoo', 'list']);
  const json = await runCli(['zoo', 'list', '--json']);
  const doc = JSON.parse(json.out) as { models: { name: string; sha256: string }[] };
  return (
    text.code === 0 && text.out.split('\n').length === models.length && models.every((m) => text.out.includes(m.name)) &&
    json.code === 0 && doc.models.length === models.length && doc.models.every((m, i) => m.name === models[i].name && m.sha256 === models[i].sha256)
  );
});

example(`sttn eval zoo:${smallest.name} gives the manifest's accuracy; predict zoo:NAME the engine's classes`, async () => {
  const ev = await runCli(['eval', `zoo:${smallest.name}`, '--json']);
  const doc = JSON.parse(ev.out) as { correct: number; count: number };
  // a few test digits as an IDX file
  const n = 12;
  const per = 28 * 28;
  const head = Buffer.alloc(16);
  [0x803, n, 28, 28].forEach((v, i) => head.writeUInt32BE(v, 4 * i));
  const px = Uint8Array.from(test.images.data.subarray(0, n * per), (v) => Math.round(v * 255));
  const file = join(dir, 'digits.idx3-ubyte');
  writeFileSync(file, Buffer.concat([head, px]));
  const pr = await runCli(['predict', `zoo:${smallest.name}`, file, '--json']);
  const preds = (JSON.parse(pr.out) as { predictions: { class: number }[] }).predictions.map((p) => p.class);
  const engine = createEngine(await loadZooModel(smallest.name), { backend: B, kernels });
  const want = Array.from(engine.predict({ shape: [n, 28, 28, 1], data: test.images.data.subarray(0, n * per) }).classes);
  return ev.code === 0 && doc.correct === smallest.accuracy.correct && doc.count === smallest.accuracy.count && pr.code === 0 && preds.length === n && preds.every((c, i) => c === want[i]);
});

example('sttn eval / predict zoo:NAME with an unknown name: exit 1, one line listing the available models', async () => {
  const ev = await runCli(['eval', 'zoo:nope']);
  const pr = await runCli(['predict', 'zoo:nope', join(dir, 'digits.idx3-ubyte')]);
  return [ev, pr].every((r) => r.code === 1 && r.out === '' && r.err.trimEnd().split('\n').length === 1 && r.err.includes('"nope"') && models.every((m) => r.err.includes(m.name)));
});
