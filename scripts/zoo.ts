/**
 * `npm run zoo [-- NAME…] [-- --update]`: retrains every zoo entry (or the named ones) from the
 * exact command its manifest records, in a fresh temporary directory, and checks that the `.sttn`
 * file it exports has the manifest's size and SHA-256 — training is deterministic and, on the
 * default wasm kernel, bit-identical on every x86-64 CPU, so a mismatch means the code changed
 * what it computes. It also measures the exported model's test accuracy with the inference
 * engine and checks it against the manifest.
 *
 * `--update` (after a deliberate change) rewrites the manifest entries and copies the new files
 * into zoo/: only each entry's `name` and `command` are read, everything else is measured (preset,
 * bits, weights and seed are read back from the command's flags, their defaults filled in).
 *
 * Runs the CLI from this checkout's sources (app/cli.ts under tsx). Law (laws/zoo.test.ts) checks
 * what this script writes: sizes, SHA-256s, figures and accuracies of the shipped files.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadBackend, loadTernaryKernels } from '../backends/index.js';
import { orThrow } from '../src/codec.js';
import { loadEmbeddedMnist } from '../src/data/mnist-embedded.js';
import { parseDeployed } from '../src/export/container.js';
import { createEngine } from '../src/infer/engine.js';
import { decodeZooManifest, engineAccuracy, sha256Hex, weightFigures, ZOO_FORMAT, ZOO_VERSION, type ZooEntry } from '../src/zoo/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const manifestPath = join(root, 'zoo', 'manifest.json');
const cli = join(root, 'app', 'cli.ts');
const tsx = import.meta.resolve('tsx');

const args = process.argv.slice(2);
const update = args.includes('--update');
const only = args.filter((a) => !a.startsWith('--'));

/** The value of `--flag` in a `sttn train …` command, else `fallback` (the CLI's default). */
function flagOf(train: readonly string[], flag: string, fallback: string): string {
  const i = train.indexOf(`--${flag}`);
  return i >= 0 && i + 1 < train.length ? train[i + 1] : fallback;
}

/** `sttn a b && sttn c d` → [['a', 'b'], ['c', 'd']] (the commands hold no quoting). */
function invocations(command: string): string[][] {
  return command.split(' && ').map((part) => {
    const [bin, ...rest] = part.trim().split(/\s+/);
    if (bin !== 'sttn') throw new Error(`${manifestPath}: command part '${part}' does not start with sttn`);
    return rest;
  });
}

/** Runs the entry's command in a fresh directory; returns the bytes of the file it exported. */
function retrain(name: string, command: string, file: string): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), `sttn-zoo-${name}-`));
  try {
    mkdirSync(join(dir, 'zoo'));
    for (const argv of invocations(command)) {
      process.stderr.write(`[${name}] sttn ${argv.join(' ')}\n`);
      const r = spawnSync(process.execPath, ['--import', tsx, cli, ...argv], { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
      if (r.status !== 0) throw new Error(`[${name}] sttn ${argv[0]} exited with ${r.status ?? r.signal}`);
    }
    return new Uint8Array(readFileSync(join(dir, 'zoo', file)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const raw = JSON.parse(readFileSync(manifestPath, 'utf8')) as { models: { name: string; command: string; file?: string }[] };
const entries = update ? raw.models : orThrow(decodeZooManifest(raw, manifestPath)).models;
for (const n of only) if (!entries.some((e) => e.name === n)) throw new Error(`no zoo entry '${n}' (entries: ${entries.map((e) => e.name).join(', ')})`);

const B = await loadBackend('wasm');
const kernels = await loadTernaryKernels('wasm');
const test = loadEmbeddedMnist().test;
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;

let failed = 0;
const out: ZooEntry[] = [];
for (const e of entries) {
  if (only.length > 0 && !only.includes(e.name)) {
    out.push(e as ZooEntry);
    continue;
  }
  const [train, exp] = invocations(e.command);
  const file = flagOf(exp, 'out', '').replace(/^zoo\//, '');
  if (train[0] !== 'train' || exp[0] !== 'export' || file === '') throw new Error(`${manifestPath}: ${e.name}: the command must be 'sttn train … && sttn export … --out zoo/FILE.sttn'`);
  const t0 = performance.now();
  const bytes = retrain(e.name, e.command, file);
  const model = orThrow(parseDeployed(bytes, file));
  const r = await engineAccuracy(createEngine(model, { backend: B, kernels }), test);
  const sha256 = await sha256Hex(bytes);
  const measured: ZooEntry = {
    name: e.name,
    file,
    preset: flagOf(train, 'model', 'cnn-small') as ZooEntry['preset'],
    bits: flagOf(train, 'bits', '2+2') as ZooEntry['bits'],
    weights: flagOf(train, 'weights', 'sttn') as ZooEntry['weights'],
    encoding: flagOf(exp, 'encoding', '2bit') as ZooEntry['encoding'],
    command: e.command,
    seed: Number(flagOf(train, 'seed', '1')),
    sttnVersion: update ? version : (e as ZooEntry).sttnVersion,
    data: 'embedded',
    split: 'test',
    accuracy: { correct: r.correct, count: r.count },
    bytes: bytes.length,
    sha256,
    ...weightFigures(model),
  };
  const secs = ((performance.now() - t0) / 1000).toFixed(0);
  if (update) {
    writeFileSync(join(root, 'zoo', file), bytes);
    out.push(measured);
    process.stderr.write(`[${e.name}] wrote zoo/${file}: ${bytes.length} bytes, sha256 ${sha256}, ${r.correct}/${r.count} (${secs} s)\n`);
  } else {
    const want = e as ZooEntry;
    const same = want.sha256 === sha256 && want.bytes === bytes.length && want.accuracy.correct === r.correct && want.accuracy.count === r.count;
    if (!same) failed++;
    process.stderr.write(
      `[${e.name}] ${same ? 'reproduced' : 'DIFFERS'}: ${bytes.length} bytes, sha256 ${sha256}, ${r.correct}/${r.count}` +
        (same ? '' : ` (manifest: ${want.bytes} bytes, sha256 ${want.sha256}, ${want.accuracy.correct}/${want.accuracy.count})`) +
        ` (${secs} s)\n`,
    );
    out.push(want);
  }
}

if (update) {
  const manifest = { format: ZOO_FORMAT, version: ZOO_VERSION, models: out };
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
  process.stderr.write(`wrote ${manifestPath}\n`);
  // entries left out by name keep what they had: a new one (name and command only) waits for its turn
  const check = decodeZooManifest(manifest, manifestPath);
  if (check._tag === 'Left') {
    process.stderr.write(`the manifest does not decode yet (${check.left.message}): update the remaining entries\n`);
    process.exitCode = 1;
  }
} else if (failed > 0) {
  process.stderr.write(`${failed} zoo entr${failed === 1 ? 'y differs' : 'ies differ'} from the manifest: run \`npm run zoo -- --update\` only if the change was deliberate\n`);
  process.exitCode = 1;
}
