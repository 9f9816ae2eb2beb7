/**
 * The browser bundles of sttn's browser-safe core, made with esbuild (`platform: 'browser'`,
 * ESM, minified) from the package's own `exports` (the `browser` condition first), and what is
 * in them: the input modules (metafile), the Node built-ins and code generation they would need,
 * and their sizes, raw and gzipped.
 *
 *   npx tsx scripts/bundle-sizes.ts          # from the sources (no build needed)
 *   npx tsx scripts/bundle-sizes.ts --dist   # from dist/ (`npm run build` first): the README's numbers
 *
 * prints one table row per bundle. `bundleCore()` is what laws/browser-bundle.test.ts checks.
 */
import { build, type Metafile, type Plugin } from 'esbuild';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = fileURLToPath(new URL('..', import.meta.url));

/** What a bundle is made of, and what it would need that a browser under a strict CSP lacks. */
export interface Bundle {
  readonly name: string;
  readonly bytes: number;
  readonly gzipBytes: number;
  /** extra gzipped bytes that ship beside the script (wasm modules, a model file) */
  readonly assetGzipBytes: number;
  /** input files with code in the output (relative to the repository), from the metafile */
  readonly inputs: readonly string[];
  /** Node built-ins that something in it imports (node:x), or that a package's browser map disabled */
  readonly builtins: readonly string[];
  /** `new Function(`, `Function(`, `eval(` in the output: code generation a strict CSP forbids */
  readonly codegen: readonly string[];
  /** the distinct directories fp-ts was bundled from (`fp-ts/es6`, `fp-ts/lib`) */
  readonly fpTs: readonly string[];
  readonly code: string;
}

export interface Entry {
  readonly name: string;
  /** the entry's source, importing the package by name (`sttn/…`) */
  readonly source: string;
  /** files shipped beside it, counted gzipped in the total (relative to the repository) */
  readonly assets?: readonly string[];
  /** extra bytes shipped beside it, counted gzipped (e.g. a model file made in memory) */
  readonly extra?: Uint8Array;
}

const BUILTINS = new Set([
  'assert', 'buffer', 'child_process', 'crypto', 'events', 'fs', 'fs/promises', 'http', 'https', 'module', 'net', 'os',
  'path', 'process', 'stream', 'url', 'util', 'v8', 'vm', 'worker_threads', 'zlib',
]);

type Exports = Record<string, string | { types?: string; browser?: string; default: string }>;

/**
 * Resolves `sttn/…` through package.json's exports with the browser condition, to dist/ or (from
 * the sources) to the .ts module the dist file is compiled from; records Node built-ins instead
 * of failing on them, so the law can name them.
 */
function sttnPlugin(from: 'source' | 'dist', builtins: Set<string>): Plugin {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Exports };
  return {
    name: 'sttn-self',
    setup(b) {
      b.onResolve({ filter: /^sttn(\/|$)/ }, (args) => {
        const sub = args.path === 'sttn' ? '.' : `./${args.path.slice('sttn/'.length)}`;
        const t = pkg.exports[sub];
        if (t === undefined) return { errors: [{ text: `sttn does not export ${sub}` }] };
        const file = typeof t === 'string' ? t : (t.browser ?? t.default);
        const path = from === 'dist' ? join(root, file) : join(root, file.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts'));
        return { path };
      });
      // node:x is recorded and left out; a bare built-in name goes to esbuild's resolver, which
      // honours a package's `browser` map (`"fs": false`) and fails on the rest.
      b.onResolve({ filter: /^node:/ }, (args) => {
        builtins.add(`${args.path} (from ${args.importer.replace(root, '')})`);
        return { path: args.path, external: true };
      });
    },
  };
}

const rel = (p: string): string => p.replace(/^(\.\.\/)+/, '');

export async function bundle(entry: Entry, from: 'source' | 'dist' = 'source'): Promise<Bundle> {
  const builtins = new Set<string>();
  const r = await build({
    stdin: { contents: entry.source, resolveDir: root, sourcefile: `${entry.name}.entry.ts`, loader: 'ts' },
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    minify: true,
    metafile: true,
    write: false,
    logLevel: 'silent',
    absWorkingDir: root,
    plugins: [sttnPlugin(from, builtins)],
  });
  const code = r.outputFiles[0].text;
  const meta: Metafile = r.metafile;
  // the modules with code in the output (esbuild parses more than tree shaking keeps)
  const out = Object.values(meta.outputs)[0];
  const inputs = Object.entries(out.inputs).filter(([, v]) => v.bytesInOutput > 0).map(([k]) => rel(k));
  // what a package's browser map disabled (`"fs": false`) shows as `(disabled):…`
  for (const i of Object.keys(out.inputs).map(rel)) {
    const m = /^\(disabled\):(.*)$/.exec(i);
    if (m && BUILTINS.has(m[1].replace(/^node:/, ''))) builtins.add(`${m[1]} (disabled by a browser map)`);
  }
  const fpTs = [...new Set(inputs.flatMap((i) => /node_modules\/fp-ts\/(\w+)\//.exec(i)?.[1] ?? []))].map((d) => `fp-ts/${d}`);
  const codegen = [...code.matchAll(/\bnew Function\(|(?<![\w$.])Function\(|(?<![\w$.])eval\(/g)].map((m) => {
    const at = m.index ?? 0;
    return code.slice(Math.max(0, at - 40), at + 40);
  });
  const assets = (entry.assets ?? []).map((a) => readFileSync(join(root, a)));
  if (entry.extra) assets.push(Buffer.from(entry.extra));
  const assetGzipBytes = assets.reduce((s, a) => s + gzipSync(a, { level: 9 }).length, 0);
  return {
    name: entry.name,
    bytes: Buffer.byteLength(code),
    gzipBytes: gzipSync(code, { level: 9 }).length,
    assetGzipBytes,
    inputs,
    builtins: [...builtins],
    codegen,
    fpTs,
    code,
  };
}

/** The cnn-small model (2+2 STTN, freshly initialised) exported as a `.sttn` file's bytes. */
export async function cnnSmallModel(): Promise<Uint8Array> {
  const { buildModel, initModel, preset } = await import('../src/models/index.js');
  const { exportModel, serializeDeployed } = await import('../src/export/index.js');
  const { orThrow } = await import('../src/codec.js');
  const { rng } = await import('../src/random.js');
  const { cpu32 } = await import('../backends/cpu.js');
  const model = orThrow(buildModel(preset('cnn-small', { bits: '2+2', ternary: 'sttn' })));
  const { params, state } = initModel(model, rng(1), 'float32');
  return serializeDeployed(exportModel(cpu32, { model, state: { params, state } }), '2bit');
}

/** The bundles the README's size table and the bundle law cover. */
export async function coreEntries(): Promise<Entry[]> {
  return [
    { name: 'neutral quantizers', source: "export * from 'sttn/neutral';" },
    { name: 'wasm backend', source: "export * from 'sttn/backends/wasm';", assets: ['build/wasm/sttn-simd.wasm'] },
    {
      name: 'engine + wasm ternary kernels + cnn-small',
      source: "export { createEngine } from 'sttn/infer';\nexport { createWasmTernaryKernels } from 'sttn/backends/ternary';\nexport { parseDeployed } from 'sttn/export';",
      assets: ['build/wasm/sttn-ternary.wasm'],
      extra: await cnnSmallModel(),
    },
    { name: 'data (embedded digits, IDX)', source: "export { loadEmbeddedMnistFrom, parseIdxImages, parseIdxLabels, gunzip } from 'sttn/data';" },
  ];
}

export async function bundleCore(from: 'source' | 'dist' = 'source'): Promise<Bundle[]> {
  const out: Bundle[] = [];
  for (const e of await coreEntries()) out.push(await bundle(e, from));
  return out;
}

const kB = (n: number): string => `${(n / 1000).toFixed(1)} kB`;

export function table(bundles: readonly Bundle[]): string {
  const rows = bundles.map(
    (b) => `| ${b.name} | ${kB(b.bytes)} | ${kB(b.gzipBytes)} | ${b.assetGzipBytes ? kB(b.assetGzipBytes) : '–'} | ${kB(b.gzipBytes + b.assetGzipBytes)} | ${b.fpTs.join(', ') || '–'} |`,
  );
  return ['| bundle | minified | gzipped | + assets gzipped | total gzipped | fp-ts from |', '|---|---|---|---|---|---|', ...rows].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const from = process.argv.includes('--dist') ? 'dist' : 'source';
  const bundles = await bundleCore(from);
  console.log(table(bundles));
  for (const b of bundles) {
    if (b.builtins.length) console.log(`${b.name}: Node built-ins ${b.builtins.join(', ')}`);
    if (b.codegen.length) console.log(`${b.name}: code generation ${b.codegen.length}×, e.g. ${JSON.stringify(b.codegen[0])}`);
  }
}
