/**
 * Laws of the package's shape, read from the tree itself:
 *   - the README's API table lists exactly the subpaths package.json exports, and its "runs in"
 *     column says "browsers" exactly for the subpaths whose browser target (the `browser` export
 *     condition where there is one, else `default`) has an import graph (static imports and
 *     literal dynamic ones) that reaches no `node:` built-in; a `browser` target exports a subset
 *     of the `default` target's names; no module of a browser graph reaches Node's built-ins at run
 *     time through `process.getBuiltinModule` but a short list of run-time capability checks;
 *   - src/ is the library: no module in it reads process.argv, exits, writes to stdout/stderr,
 *     installs process handlers or logs to the console; and it never imports app/ or backends/;
 *   - nothing in src/ or backends/ imports the composition root app/;
 *   - every module's header names the law file that checks it, and every `laws/….test.ts` that a
 *     module's comments cite exists;
 *   - the README's layout table names only paths that exist and every folder of src/, backends/, app/.
 */
import { readdirSync, readFileSync, existsSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { example } from './law.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (p: string): string => readFileSync(join(root, p), 'utf8');

/** Every .ts module under `dir` (relative paths), AssemblyScript sources excluded. */
function modules(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(join(root, p)).isDirectory()) return n === 'assembly' ? [] : modules(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

/**
 * What a module imports: static imports and re-exports (type-only ones excluded) and dynamic
 * `import('…')` of a literal specifier (a lazily loaded module still has to load in a browser).
 */
function imports(file: string): string[] {
  const src = read(file);
  const out: string[] = [];
  for (const m of src.matchAll(/^(?:import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm)) if (!m[1]) out.push(m[2]);
  for (const m of src.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]);
  return out;
}

/** The modules reachable from `entry` through its imports (itself included), and the `node:` built-ins they import. */
function importGraph(entry: string): { modules: Set<string>; builtins: Set<string> } {
  const modules = new Set<string>();
  const builtins = new Set<string>();
  const visit = (file: string): void => {
    if (modules.has(file)) return;
    modules.add(file);
    for (const spec of imports(file)) {
      if (spec.startsWith('node:')) builtins.add(`${spec} (${file})`);
      else if (spec.startsWith('.')) visit(normalize(join(dirname(file), spec.replace(/\.js$/, '.ts'))));
    }
  };
  visit(entry);
  return { modules, builtins };
}

/** The `node:` built-ins reachable from `entry` through its imports. */
const nodeBuiltinsReachable = (entry: string): Set<string> => importGraph(entry).builtins;

/**
 * The modules of a browser graph that may reach Node's built-ins at run time through
 * `process.getBuiltinModule` (invisible to the import graph), each behind a check that it runs
 * in Node, with a browser path besides: reading a `file:` URL (src/assets.ts), Node's worker
 * threads and core count (backends/wasm/threads.ts), the quantizer kernels' file
 * (backends/wasm/quantize.ts). A new one is a review: add it here only with its browser path.
 */
const RUNTIME_BUILTIN_USERS: ReadonlySet<string> = new Set(['src/assets.ts', 'backends/wasm/threads.ts', 'backends/wasm/quantize.ts']);

/** The code of a module without its comments (roughly: block comments and whole-line `//` ones). */
const code = (file: string): string => read(file).replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');

const pkg = JSON.parse(read('package.json')) as { exports: Record<string, string | { default: string; browser?: string }> };
const subpaths = Object.keys(pkg.exports).filter((s) => s !== './package.json');
/** The source module of a subpath's target: `default`, or the `browser` condition's when it has one. */
const sourceOf = (subpath: string, condition: 'default' | 'browser' = 'default'): string => {
  const target = pkg.exports[subpath];
  const js = typeof target === 'string' ? target : condition === 'browser' ? (target.browser ?? target.default) : target.default;
  return js.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts');
};
const importName = (subpath: string): string => (subpath === '.' ? 'sttn' : `sttn/${subpath.slice(2)}`);

/** Rows of the README's API table: `| \`sttn/…\` | what | runs in |`. */
function readmeApiRows(): Map<string, string> {
  const rows = new Map<string, string>();
  const section = read('README.md').split(/^## /m).find((s) => s.startsWith('The public API'));
  if (section === undefined) return rows;
  for (const m of section.matchAll(/^\| `(sttn[^`]*)` \|[^|]*\| ([^|]+) \|$/gm)) rows.set(m[1], m[2].trim());
  return rows;
}

example("the README's API table lists exactly the exported subpaths", () => {
  const rows = readmeApiRows();
  const want = subpaths.map(importName).sort();
  const got = [...rows.keys()].sort();
  return JSON.stringify(want) === JSON.stringify(got);
});

example('"browsers" in the API table iff no node: built-in is reachable from the subpath', () => {
  const rows = readmeApiRows();
  const wrong = subpaths.filter((s) => {
    const claimsBrowser = /browser/i.test(rows.get(importName(s)) ?? '');
    const reach = nodeBuiltinsReachable(sourceOf(s, 'browser'));
    return claimsBrowser !== (reach.size === 0);
  });
  if (wrong.length > 0) console.error(wrong.map((s) => `${importName(s)}: ${[...nodeBuiltinsReachable(sourceOf(s, 'browser'))].slice(0, 3).join(', ') || 'no node: imports'}`).join('\n'));
  return wrong.length === 0 && subpaths.length > 0;
});

example('no module of a browser subpath reaches Node through process.getBuiltinModule, but the listed run-time checks', () => {
  const browserSubpaths = subpaths.filter((s) => nodeBuiltinsReachable(sourceOf(s, 'browser')).size === 0);
  const users = new Map<string, string>();
  for (const s of browserSubpaths) {
    for (const m of importGraph(sourceOf(s, 'browser')).modules) if (/\bgetBuiltinModule\b/.test(code(m))) users.set(m, importName(s));
  }
  const unlisted = [...users].filter(([m]) => !RUNTIME_BUILTIN_USERS.has(m));
  // the list stays honest: each entry is a browser module that does use it
  const stale = [...RUNTIME_BUILTIN_USERS].filter((m) => !users.has(m));
  if (unlisted.length > 0) console.error(`getBuiltinModule in a browser module outside the list: ${unlisted.map(([m, s]) => `${m} (from ${s})`).join(', ')}`);
  if (stale.length > 0) console.error(`listed but not a browser module using getBuiltinModule: ${stale.join(', ')}`);
  return browserSubpaths.length > 0 && unlisted.length === 0 && stale.length === 0;
});

example("a subpath's `browser` target exports a subset of its `default` target's names", async () => {
  const split = subpaths.filter((s) => sourceOf(s, 'browser') !== sourceOf(s));
  const bad: string[] = [];
  for (const s of split) {
    const names = async (c: 'default' | 'browser') => Object.keys(await import(`../${sourceOf(s, c)}`));
    const all = new Set(await names('default'));
    const extra = (await names('browser')).filter((n) => !all.has(n));
    if (extra.length > 0) bad.push(`${importName(s)}: ${extra.join(', ')}`);
  }
  if (bad.length > 0) console.error(`browser targets export names their default target lacks: ${bad.join('; ')}`);
  return bad.length === 0 && split.length > 0;
});

example('src/ holds no program code: no argv, exit, stdout/stderr, process handlers or console', () => {
  const bad = modules('src').filter((f) => /process\.(argv|exit|stdout|stderr|on\(|once\()|console\.\w+\(/.test(read(f).replace(/^\s*(\*|\/\/).*$/gm, '')));
  if (bad.length > 0) console.error(`program code in src/: ${bad.join(', ')}`);
  return bad.length === 0;
});

example('layering: src/ imports neither backends/ nor app/; backends/ does not import app/', () => {
  const escapes = (from: string, dirs: string[]) =>
    modules(from).filter((f) =>
      [...read(f).matchAll(/(?:from\s+|import\s*\(\s*)['"](\.[^'"]+)['"]/g)].some((m) => dirs.some((d) => relative(root, join(root, dirname(f), m[1])).startsWith(`${d}/`))),
    );
  const bad = [...escapes('src', ['backends', 'app']), ...escapes('backends', ['app'])];
  if (bad.length > 0) console.error(`layering broken by: ${bad.join(', ')}`);
  return bad.length === 0;
});

example("every module's header names a law file (src/, backends/ with its AssemblyScript, app/, scripts/)", () => {
  const all = (dir: string): string[] =>
    readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? all(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
  const headerless = ['src', 'backends', 'app', 'scripts'].flatMap(all).filter((f) => {
    const header = /^\s*(?:#![^\n]*\n\s*)?\/\*\*([\s\S]*?)\*\//.exec(read(f));
    return header === null || !/laws\/[\w.-]+\.test\.ts/.test(header[1]);
  });
  if (headerless.length > 0) console.error(`modules whose header names no law: ${headerless.join(', ')}`);
  return headerless.length === 0;
});

example('every law file a module cites exists', () => {
  const files = [...modules('src'), ...modules('backends'), ...modules('app'), ...modules('laws'), ...modules('examples'), ...modules('scripts')];
  const missing = files.flatMap((f) => [...read(f).matchAll(/laws\/([\w.-]+\.test\.ts)/g)].filter((m) => !existsSync(join(root, 'laws', m[1]))).map((m) => `${f} → laws/${m[1]}`));
  if (missing.length > 0) console.error(`cited law files that do not exist:\n${missing.join('\n')}`);
  return missing.length === 0;
});

/** The rows of the README's Layout section, each as the paths it names in backticks (folders end in `/`, files in .ts/.md/.json). */
function layoutRows(): string[][] {
  const section = read('README.md').split(/^## /m).find((s) => s.startsWith('Layout')) ?? '';
  return section
    .split('\n')
    .filter((l) => l.startsWith('| `'))
    .map((row) => [...row.matchAll(/`([\w./-]+)`/g)].map((m) => m[1]).filter((p) => p.endsWith('/') || /\.(ts|md|json)$/.test(p)));
}

example("the README's layout table names only paths that exist, and every folder of src/, backends/ and app/", () => {
  const rows = layoutRows();
  // a bare file name stands for a file in a folder named on the same row (or the folder of the row's first path)
  const exists = (p: string, row: string[]): boolean =>
    existsSync(join(root, p)) || row.some((q) => existsSync(join(root, q.endsWith('/') ? q : dirname(q), p)));
  const missing = rows.flatMap((row) => row.filter((p) => !exists(p, row)));
  const named = rows.flat();
  const folders = ['src', 'backends', 'app'].flatMap((top) =>
    readdirSync(join(root, top), { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => `${top}/${e.name}/`),
  );
  const unlisted = folders.filter((f) => !named.some((p) => p.startsWith(f)));
  if (missing.length + unlisted.length > 0) console.error(`layout table: missing paths ${missing.join(', ')}; folders not listed ${unlisted.join(', ')}`);
  return missing.length === 0 && unlisted.length === 0 && named.length > 0;
});

example('registry names are typed: a misspelt backend or kernel name does not compile, and from untyped code it is a ConfigError naming it', async () => {
  const { loadBackend, loadTernaryKernels } = await import('../backends/index.js');
  const { ConfigError } = await import('../src/errors.js');
  const calls = [
    // @ts-expect-error a misspelt backend
    () => loadBackend('wsam'),
    // @ts-expect-error a gpu.js mode that does not exist
    () => loadBackend('gpujs:cuda'),
    // @ts-expect-error a misspelt kernel name
    () => loadTernaryKernels('wasn'),
  ];
  const named = ['wsam', 'cuda', 'wasn'];
  const outcomes = await Promise.all(calls.map((f) => f().then(() => undefined, (e: unknown) => e)));
  return outcomes.every((e, i) => e instanceof ConfigError && e.message.includes(named[i]));
});
