/**
 * Build step (the last of `npm run build`): copies build/wasm and build/data into dist/build/, so
 * that a module finds its assets at the same URL relative to itself in the checkout
 * (`backends/wasm.ts` → `../build/wasm/…`) and in the package (`dist/backends/wasm.js` →
 * `dist/build/wasm/…`); see src/assets.ts. The package ships dist/ only, so the files are not
 * packed twice.
 *
 * Law (laws/package.test.ts): the installed package loads its wasm kernels and embedded digits
 * from these copies; laws/browser-bundle.test.ts bundles them.
 */
import { cpSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
for (const dir of ['wasm', 'data']) {
  const from = join(root, 'build', dir);
  const to = join(root, 'dist', 'build', dir);
  if (!existsSync(from)) throw new Error(`${from} is missing: run \`npm run build:${dir}\` first`);
  rmSync(to, { recursive: true, force: true });
  mkdirSync(dirname(to), { recursive: true });
  cpSync(from, to, { recursive: true });
}
