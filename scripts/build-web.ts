/**
 * `npm run build:web [-- --model FILE.sttn]`: builds the browser demo page into
 * examples/web/dist/, everything it loads from its own origin (no CDN):
 *   app.js (+ chunks)  examples/web/app.ts bundled by esbuild for browsers; `sttn/…` imports
 *                      resolve through the package's exports to this checkout's dist/ (run
 *                      `npm run build` first); gpu.js is a lazily loaded chunk. A Node built-in
 *                      reached from the page fails the build.
 *   laws.js            the backend agreement laws (laws/agreement-page.ts) for the browser law
 *   index.html, style.css
 *   wasm/              the compiled kernels (build/wasm/)
 *   data/              the embedded digits as gzipped IDX and their notice (build/data/)
 *   model.sttn         the packed model the page classifies with: --model, else $STTN_WEB_MODEL,
 *                      else the model zoo's cnn-small STTN 2+2 entry (zoo/manifest.json), else
 *                      an error saying how to make one
 * Minified (esbuild), gpu.js and its kernels included: gpu.js compiles a kernel from its function's
 * source text, and the minified text still compiles (the browser law trains and runs the agreement
 * laws on gpu.js WebGL2 from this build).
 *
 * Law (laws/browser-page.test.ts): the built page loads under the strict CSP and classifies,
 * trains and runs the agreement laws in headless Chromium.
 */
import { build, type BuildOptions } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const page = join(root, 'examples', 'web');
/** Where `npm run build:web` writes the page (gitignored), and where `sttn serve` looks by default. */
export const WEB_DIST = join(page, 'dist');

/** The model zoo's manifest (zoo/manifest.json, `npm run zoo`): the page takes its cnn-small STTN 2+2 entry. */
const ZOO_MANIFEST = join(root, 'zoo', 'manifest.json');
const ZOO_PICK = { preset: 'cnn-small', bits: '2+2', weights: 'sttn' } as const;

class BuildError extends Error {
  override readonly name = 'BuildError';
}

function fail(msg: string): never {
  throw new BuildError(`build:web: ${msg}`);
}

/** --model, else STTN_WEB_MODEL, else the zoo's cnn-small STTN 2+2 file. */
function pickModel(given: string | undefined): string {
  if (given !== undefined) {
    const f = resolve(given);
    if (!existsSync(f)) fail(`--model ${given}: no such file`);
    return f;
  }
  const env = process.env.STTN_WEB_MODEL;
  if (env) {
    if (!existsSync(env)) fail(`STTN_WEB_MODEL=${env}: no such file`);
    return resolve(env);
  }
  const how = 'give one with --model FILE.sttn (e.g. `npm run train && npm run sttn -- export runs/cnn-small-2p2-sttn/checkpoint.json`)';
  if (!existsSync(ZOO_MANIFEST)) fail(`no model for the page: ${relative(root, ZOO_MANIFEST)} does not exist; ${how}`);
  let models: { file?: unknown; preset?: unknown; bits?: unknown; weights?: unknown }[];
  try {
    models = (JSON.parse(readFileSync(ZOO_MANIFEST, 'utf8')) as { models: typeof models }).models;
    if (!Array.isArray(models)) throw new Error('models is not a list');
  } catch (e) {
    fail(`${relative(root, ZOO_MANIFEST)}: ${(e as Error).message}`);
  }
  const entry = models.find((m) => m.preset === ZOO_PICK.preset && m.bits === ZOO_PICK.bits && m.weights === ZOO_PICK.weights && typeof m.file === 'string');
  if (entry === undefined) fail(`${relative(root, ZOO_MANIFEST)} has no ${ZOO_PICK.preset} ${ZOO_PICK.bits} ${ZOO_PICK.weights} model; ${how}`);
  const file = join(root, 'zoo', entry.file as string);
  if (!existsSync(file)) fail(`${relative(root, ZOO_MANIFEST)} names ${relative(root, file)}, which does not exist`);
  return file;
}

const options = (out: string): BuildOptions => ({
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome111', 'firefox115', 'safari16.4'],
  splitting: true,
  outdir: out,
  sourcemap: 'linked',
  minify: true,
  legalComments: 'linked',
  logLevel: 'warning',
  absWorkingDir: root,
});

/** Builds the page into `out` (default WEB_DIST) with the model `model` (default: see pickModel); returns the model file used. */
export async function buildWeb(opts: { readonly model?: string; readonly out?: string } = {}): Promise<string> {
  const out = resolve(opts.out ?? WEB_DIST);
  const modelArg = opts.model;
  if (!existsSync(join(root, 'dist', 'src', 'index.js'))) fail('dist/ is missing: run `npm run build` first (the page imports sttn/… from it)');
  const model = pickModel(modelArg);
  // never wipe a folder that is not a built page
  if (out !== WEB_DIST && existsSync(out) && readdirSync(out).length > 0 && !existsSync(join(out, 'app.js'))) fail(`--out ${out} is not empty and holds no built page: refusing to replace it`);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, 'wasm'), { recursive: true });
  mkdirSync(join(out, 'data'), { recursive: true });
  try {
    await build({ ...options(out), entryPoints: { app: join(page, 'app.ts'), laws: join(root, 'laws', 'agreement-page.ts') } });
  } catch (e) {
    fail(`esbuild failed: ${(e as Error).message.split('\n').filter(Boolean).slice(0, 8).join(' | ')}`);
  }
  for (const f of ['index.html', 'style.css']) copyFileSync(join(page, f), join(out, f));
  for (const f of readdirSync(join(root, 'build', 'wasm')).filter((f) => f.endsWith('.wasm'))) copyFileSync(join(root, 'build', 'wasm', f), join(out, 'wasm', f));
  for (const f of readdirSync(join(root, 'build', 'data'))) copyFileSync(join(root, 'build', 'data', f), join(out, 'data', f));
  copyFileSync(model, join(out, 'model.sttn'));
  const bytes = (dir: string): number => readdirSync(dir).reduce((s, f) => s + (statSync(join(dir, f)).isDirectory() ? bytes(join(dir, f)) : statSync(join(dir, f)).size), 0);
  process.stdout.write(`build:web: ${relative(root, out) || out}/ (${(bytes(out) / 1e6).toFixed(1)} MB; model ${relative(root, model)}); serve it with \`npm run sttn -- serve\`\n`);
  return model;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const { values } = parseArgs({ options: { model: { type: 'string' }, out: { type: 'string' } }, strict: true });
    await buildWeb({ model: values.model, out: values.out });
  } catch (e) {
    process.stderr.write(`${e instanceof BuildError ? e.message : `build:web: ${(e as Error).message}`}\n`);
    process.exitCode = 1;
  }
}
