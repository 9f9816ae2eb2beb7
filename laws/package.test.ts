/**
 * Law of the published package: what `npm pack` makes is a library a new user can install and use.
 * The tarball is installed into a fresh temporary app (no access to this checkout's sources), and:
 *   - the install is light: ≤ 25 MB on disk and ≤ 12 packages (gpu.js and webgpu are optional
 *     peers, the digits ship once as gzipped IDX); the figures are printed;
 *   - every documented subpath imports (ESM), and `require('sttn')` works on the engines' range;
 *     the tfjs subpaths fail naming their optional peer until it is installed, then import;
 *   - the zoo ships: `sttn zoo list`, `sttn eval zoo:NAME` (the manifest's accuracy) and
 *     `loadZooModel` from `sttn/zoo` work offline from the installed package;
 *   - the `sttn` bin answers `--version` with package.json's version, and trains, exports to ONNX
 *     and safetensors, imports the safetensors back and evaluates it identically;
 *   - every example in examples/ typechecks against the installed types (strict, NodeNext) and
 *     runs from the installed package, importing it by name; the gpu.js examples first without
 *     gpu.js (a clear error naming the install command), then with it installed.
 * The package's dist/ is used as `npm ci` built it, the wasm kernels and digits copied into
 * dist/build/ by scripts/copy-assets.ts (`npm pack --ignore-scripts`):
 * run `npm run build` after changing sources. Needs the npm registry (or its cache) for the
 * package's dependencies; the toolchain (tsx, TypeScript) is this checkout's own.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string; exports: Record<string, unknown> };
const tsxLoader = import.meta.resolve('tsx');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

const MAX_BYTES = 25 * 1024 * 1024;
const MAX_PACKAGES = 12;

let app = '';
let tarball = '';

function run(cmd: string, args: readonly string[], opts: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd: opts.cwd ?? app, encoding: 'utf8', timeout: opts.timeoutMs ?? 300_000, env: opts.env ?? process.env, maxBuffer: 64 * 1024 * 1024 });
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  assert.equal(r.status, 0, `${what} failed (status ${r.status}, signal ${r.signal}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** Bytes on disk of a tree (files' sizes; links not followed). */
function treeBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    n += e.isDirectory() ? treeBytes(p) : lstatSync(p).size;
  }
  return n;
}

/** Installed packages: every directory holding a package.json directly under some node_modules. */
function installedPackages(nodeModules: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(nodeModules, { withFileTypes: true })) {
    if (!e.isDirectory() || e.name.startsWith('.')) continue;
    const dirs = e.name.startsWith('@') ? readdirSync(join(nodeModules, e.name)).map((n) => join(e.name, n)) : [e.name];
    for (const d of dirs) {
      out.push(d);
      const nested = join(nodeModules, d, 'node_modules');
      if (readdirSync(join(nodeModules, d)).includes('node_modules')) out.push(...installedPackages(nested).map((x) => `${d}>${x}`));
    }
  }
  return out;
}

/** Runs an example from the app with this checkout's tsx, as `npx tsx examples/NAME.ts ARGS` would. */
const example = (name: string, ...args: string[]) => run(process.execPath, ['--import', tsxLoader, join('examples', `${name}.ts`), ...args], { timeoutMs: 240_000 });

before(() => {
  app = mkdtempSync(join(tmpdir(), 'sttn-consumer-'));
  const packed = ok(run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', app], { cwd: root }), 'npm pack');
  tarball = join(app, (JSON.parse(packed) as { filename: string }[])[0].filename);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2));
  ok(run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', tarball]), 'npm install of the tarball');
});

after(() => {
  if (app) rmSync(app, { recursive: true, force: true });
});

test(`the consumer install is light: ≤ ${MAX_BYTES / 2 ** 20} MB and ≤ ${MAX_PACKAGES} packages`, (t) => {
  const nm = join(app, 'node_modules');
  const bytes = treeBytes(nm);
  const pkgs = installedPackages(nm);
  const sttnBytes = treeBytes(join(nm, 'sttn'));
  const line = `consumer install: ${(bytes / 2 ** 20).toFixed(1)} MB on disk in ${pkgs.length} packages (sttn itself ${(sttnBytes / 2 ** 20).toFixed(1)} MB): ${pkgs.join(', ')}`;
  t.diagnostic(line);
  assert.ok(bytes <= MAX_BYTES, line);
  assert.ok(pkgs.length <= MAX_PACKAGES, line);
  assert.ok(!pkgs.some((p) => /(^|>)(gpu\.js|webgpu|mnist)$/.test(p)), `optional or build-time packages were installed: ${line}`);
});

/** Subpaths that need an optional peer dependency, and the peers. */
const TFJS_SUBPATHS = ['sttn/tfjs', 'sttn/tfjs/layers'];
const TFJS_PEERS = ['@tensorflow/tfjs-core@^4.22.0', '@tensorflow/tfjs-layers@^4.22.0', '@tensorflow/tfjs-backend-cpu@^4.22.0'];
const importsAll = (specs: readonly string[]) =>
  `for (const s of ${JSON.stringify(specs)}) { const m = await import(s); if (Object.keys(m).length === 0) throw new Error(s + ' exports nothing'); } console.log('ok');`;

test('every documented subpath imports from the installed package, and require() works', () => {
  const subpaths = Object.keys(pkg.exports).filter((s) => s !== './package.json');
  const specs = subpaths.map((s) => (s === '.' ? 'sttn' : `sttn/${s.slice(2)}`));
  assert.equal(ok(run(process.execPath, ['--input-type=module', '-e', importsAll(specs.filter((s) => !TFJS_SUBPATHS.includes(s)))]), 'import of every subpath').trim(), 'ok');
  // without the optional peer, the tfjs subpaths fail naming it
  for (const s of TFJS_SUBPATHS) {
    const r = run(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(s)})`]);
    assert.ok(r.status !== 0 && r.stderr.includes('@tensorflow/tfjs-'), `${s} without tfjs: ${r.stderr}`);
  }
  const cjs = `const s = require('sttn'); if (typeof s.quantizers.kernelQuantizer !== 'function' && typeof s.kernelQuantizer !== 'function') throw new Error('no quantizers'); console.log('ok');`;
  assert.equal(ok(run(process.execPath, ['-e', cjs]), "require('sttn')").trim(), 'ok');
});

test('the installed bin: `sttn --version` prints the package version', () => {
  const out = ok(run(join(app, 'node_modules', '.bin', 'sttn'), ['--version']), 'sttn --version');
  assert.equal(out.trim().replace(/^sttn\s+/, ''), pkg.version);
});

test('the installed package ships the zoo: `sttn zoo list` names every model, `sttn eval zoo:NAME` gives its manifest accuracy, `loadZooModel` loads it', () => {
  const bin = join(app, 'node_modules', '.bin', 'sttn');
  const manifest = JSON.parse(readFileSync(join(root, 'zoo', 'manifest.json'), 'utf8')) as { models: { name: string; bytes: number; accuracy: { correct: number; count: number } }[] };
  const list = ok(run(bin, ['zoo', 'list']), 'sttn zoo list');
  for (const m of manifest.models) assert.ok(list.includes(m.name), `sttn zoo list names ${m.name}: ${list}`);
  const small = [...manifest.models].sort((a, b) => a.bytes - b.bytes)[0];
  const ev = JSON.parse(ok(run(bin, ['eval', `zoo:${small.name}`, '--json']), `sttn eval zoo:${small.name}`)) as { correct: number; count: number };
  assert.deepEqual([ev.correct, ev.count], [small.accuracy.correct, small.accuracy.count]);
  const code = `import { loadZooModel } from 'sttn/zoo'; const m = await loadZooModel(${JSON.stringify(small.name)}); console.log(m.classes);`;
  assert.equal(ok(run(process.execPath, ['--input-type=module', '-e', code]), 'loadZooModel from sttn/zoo').trim(), '10');
});

test('the installed bin trains, exports to ONNX and safetensors, imports the safetensors back and evaluates it identically', () => {
  const bin = join(app, 'node_modules', '.bin', 'sttn');
  const dir = join(app, 'interop');
  ok(run(bin, ['train', '--model', 'mlp', '--epochs', '1', '--out', join(dir, 'a'), '--json']), 'sttn train');
  const ck = join(dir, 'a', 'checkpoint.json');
  const onnx = JSON.parse(ok(run(bin, ['export', ck, '--format', 'onnx', '--json']), 'sttn export --format onnx')) as { output: string; bytes: number };
  const st = JSON.parse(ok(run(bin, ['export', ck, '--format', 'safetensors', '--json']), 'sttn export --format safetensors')) as { output: string; bytes: number };
  assert.ok(onnx.bytes > 0 && onnx.output.endsWith('model.onnx') && st.bytes > 0 && st.output.endsWith('model.safetensors'));
  ok(run(bin, ['import', st.output, '--model', 'mlp', '--out', join(dir, 'b')]), 'sttn import');
  const a = JSON.parse(ok(run(bin, ['eval', ck, '--json']), 'sttn eval')) as { accuracy: number; loss: number };
  const b = JSON.parse(ok(run(bin, ['eval', join(dir, 'b', 'checkpoint.json'), '--json']), 'sttn eval of the import')) as { accuracy: number; loss: number };
  assert.deepEqual([b.accuracy, b.loss], [a.accuracy, a.loss]);
});

test('every example typechecks against the installed package (strict, NodeNext)', () => {
  // the tfjs example needs TensorFlow.js, an optional peer: installed here, after the size check
  ok(run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...TFJS_PEERS]), 'npm install of the tfjs peers');
  assert.equal(ok(run(process.execPath, ['--input-type=module', '-e', importsAll(TFJS_SUBPATHS)]), 'import of the tfjs subpaths').trim(), 'ok');
  cpSync(join(root, 'examples'), join(app, 'examples'), { recursive: true });
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'], typeRoots: [join(root, 'node_modules', '@types')] },
      include: ['examples'],
    }),
  );
  ok(run(process.execPath, [tsc, '-p', 'tsconfig.json']), 'tsc on the examples');
});

test('examples/quantizers.ts runs from the installed package', () => {
  const out = ok(example('quantizers'), 'examples/quantizers.ts');
  assert.match(out, /alpha|α/);
});

test('examples/train.ts trains, checkpoints, resumes bit for bit; examples/deploy.ts exports it and runs the engine', () => {
  const dir = join(app, 'run');
  mkdirSync(dir);
  const trained = ok(example('train', dir), 'examples/train.ts');
  assert.match(trained, /never stopped, bit for bit: true/);
  const deployed = ok(example('deploy', join(dir, 'checkpoint.json')), 'examples/deploy.ts');
  const m = /engine test accuracy ([\d.]+)%, training-time evaluate ([\d.]+)%/.exec(deployed);
  assert.ok(m !== null && m[1] === m[2], `engine and training-time accuracy differ:\n${deployed}`);
});

test('examples/tfjs.ts and examples/tfjs-layers.ts train TensorFlow.js models with STTN kernels and layers from the installed package', () => {
  assert.match(ok(example('tfjs'), 'examples/tfjs.ts'), /test accuracy/);
  assert.match(ok(example('tfjs-layers'), 'examples/tfjs-layers.ts'), /same test accuracy: true/);
});

test('without gpu.js, the gpu.js examples report the install command instead of failing', () => {
  const b = ok(example('backends'), 'examples/backends.ts');
  assert.match(b, /^wasm .*test accuracy/m);
  assert.match(b, /gpujs:cpu\s+unavailable: .*npm install gpu\.js/);
  const g = ok(example('gpujs-modes', 'cpu', 'webgpu'), 'examples/gpujs-modes.ts');
  assert.match(g, /cpu: unavailable here .*npm install gpu\.js/);
  assert.match(g, /webgpu: unavailable here .*npm install gpu\.js@\S+ webgpu@/);
});

test('with gpu.js installed (the optional peer), the gpu.js examples run', () => {
  // the app pins webgpu to one version, as the README advises (gpu.js 2.24 depends on an older one)
  const manifest = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(app, 'package.json'), JSON.stringify({ ...manifest, overrides: { webgpu: '$webgpu' } }, null, 2));
  ok(run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', '--omit=optional', 'gpu.js@~2.24.1', 'webgpu@0.6.2']), 'npm install gpu.js webgpu');
  const b = ok(example('backends'), 'examples/backends.ts');
  assert.match(b, /^gpujs-cpu .*test accuracy/m);
  const g = ok(example('gpujs-modes', 'cpu'), 'examples/gpujs-modes.ts');
  assert.match(g, /max \|Δ\| vs cpu64/);
});
