/**
 * Files shipped inside the sttn package (compiled WebAssembly, the embedded digits), found from
 * any module of it: under tsx (`src/…`, `backends/…`) and compiled (`dist/src/…`) alike, the
 * closest directory above the calling module whose package.json is named `sttn`.
 *
 * Node only (node:fs, node:url). Law (laws/data.test.ts): the embedded digits load through it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from './errors.js';

let root: string | undefined;

function manifestName(path: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { name?: unknown }).name as string | undefined;
  } catch {
    return undefined;
  }
}

/** sttn's package root (cached after the first call). */
export function packageRoot(): string {
  if (root !== undefined) return root;
  const here = fileURLToPath(import.meta.url);
  for (let dir = dirname(here); ; ) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && manifestName(manifest) === 'sttn') return (root = dir);
    const parent = dirname(dir);
    if (parent === dir) throw new ConfigError('package', `no package.json named sttn above ${here}`);
    dir = parent;
  }
}

/** The absolute path of a file shipped in the package, e.g. `packageFile('build', 'wasm', 'x.wasm')`. */
export const packageFile = (...segments: string[]): string => join(packageRoot(), ...segments);
