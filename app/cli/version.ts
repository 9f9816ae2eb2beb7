/**
 * sttn's version, for `sttn --version`: read from sttn's own package.json, found by walking up
 * from this module's location to the first directory whose package.json is named "sttn". The
 * walk finds it from app/cli/ under tsx (the repository root) and from dist/app/cli/ in an
 * installed package (node_modules/sttn/) alike, and skips a package.json of another name.
 *
 * Law (laws/cli.test.ts): `sttn --version` prints the version of the repository's package.json.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SttnError } from '../../src/errors.js';

export function packageVersion(from: string = import.meta.url): string {
  const start = dirname(fileURLToPath(from));
  for (let dir = start; ; dir = dirname(dir)) {
    let pkg: { name?: unknown; version?: unknown } | null = null;
    try {
      pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    } catch {
      // no (readable) package.json here: keep walking
    }
    if (pkg !== null && pkg.name === 'sttn' && typeof pkg.version === 'string') return pkg.version;
    if (dirname(dir) === dir) throw new SttnError(`package.json of sttn not found in ${start} or any directory above it`);
  }
}
