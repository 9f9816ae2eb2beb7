/**
 * Law of the browser core (issue #14): sttn's browser-safe subpaths bundle for the browser with
 * esbuild (`platform: 'browser'`, resolved through package.json's `browser` export conditions,
 * from the sources; scripts/bundle-sizes.ts), and each bundle
 *   - imports no Node built-in (no `node:x`, nothing a package's browser map had to disable);
 *   - generates no code (`new Function(`, `Function(`, `eval(`): it runs under
 *     `Content-Security-Policy: script-src 'self' 'wasm-unsafe-eval'`;
 *   - holds fp-ts once (sttn's `fp-ts/lib` imports map to io-ts's `fp-ts/es6` through the
 *     package's `browser` field);
 *   - the neutral quantizers and the wasm backend hold no ndarray / ndarray-ops;
 *   - stays within its size: neutral ≤ 30 kB gzipped, the wasm backend with its module ≤ 36 kB
 *     (25 kB until issue #16's fused batch-norm, im2col, pooling and finiteness kernels and their
 *     glue took it to 25.6 kB, 30 kB until its fused layer pairs and the convolution's and
 *     pooling's fused passes took it to 31.4 kB), engine + wasm ternary kernels + the cnn-small model ≤ 250 kB (the
 *     sizes are printed).
 * The detectors are shown to fire: `sttn/backends/cpu` (ndarray-ops compiles its loops) is found
 * to hold ndarray and code generation, and a module importing `node:fs` is found to need it.
 * The pure CRC-32 of `.sttn` files (src/export/crc32.ts) equals node:zlib's.
 */
import fc from 'fast-check';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { crc32 } from '../src/export/crc32.js';
import { bundle, bundleCore, table, type Bundle } from '../scripts/bundle-sizes.js';
import { example, law } from './law.js';

const bundles = await bundleCore('source');
console.log(`browser bundles (from the sources):\n${table(bundles)}`);
const byName = (prefix: string): Bundle => {
  const b = bundles.find((x) => x.name.startsWith(prefix));
  if (b === undefined) throw new Error(`no bundle named ${prefix}`);
  return b;
};
const holdsNdarray = (b: Bundle): boolean => b.inputs.some((i) => /node_modules\/ndarray(-ops)?\//.test(i));
const report = (b: Bundle, what: string, items: readonly string[]): boolean => {
  if (items.length > 0) console.error(`${b.name}: ${what}: ${items.slice(0, 5).join(' | ')}`);
  return items.length === 0;
};

example('the core bundles import no Node built-in', () => bundles.length >= 4 && bundles.every((b) => report(b, 'Node built-ins', b.builtins)));

example('the core bundles generate no code (no new Function, Function(, eval()', () => bundles.every((b) => report(b, 'code generation', b.codegen)));

example('fp-ts is bundled from one path only', () => bundles.every((b) => report(b, 'fp-ts from several paths', b.fpTs.length > 1 ? b.fpTs : [])));

example('the neutral quantizers and the wasm backend hold no ndarray or ndarray-ops', () =>
  [byName('neutral'), byName('wasm backend')].every((b) => report(b, 'ndarray', holdsNdarray(b) ? b.inputs.filter((i) => i.includes('ndarray')) : [])),
);

example('sizes: neutral ≤ 30 kB gz, wasm backend + module ≤ 36 kB, engine + ternary kernels + cnn-small ≤ 250 kB', () => {
  const total = (b: Bundle): number => b.gzipBytes + b.assetGzipBytes;
  const limits: [Bundle, number][] = [
    [byName('neutral'), 30_000],
    [byName('wasm backend'), 36_000],
    [byName('engine'), 250_000],
  ];
  return limits.every(([b, max]) => report(b, `total gzipped ${total(b)} > ${max}`, total(b) > max ? ['over'] : [])) && byName('engine').assetGzipBytes > 0;
});

example('the detectors fire: sttn/backends/cpu holds ndarray and code generation; node:fs is found', async () => {
  const cpu = await bundle({ name: 'cpu (control)', source: "export * from 'sttn/backends/cpu';" });
  const fs = await bundle({ name: 'node:fs (control)', source: "export { readFileSync } from 'node:fs';" });
  return holdsNdarray(cpu) && cpu.codegen.length > 0 && fs.builtins.some((b) => b.startsWith('node:fs'));
});

law(
  'crc32 (pure TypeScript) equals node:zlib crc32',
  [fc.uint8Array({ maxLength: 2000 })],
  (bytes) => crc32(bytes) === zlibCrc32(bytes),
);
