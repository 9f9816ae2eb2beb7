/**
 * Headless Chromium for the browser laws (laws/browser-page.test.ts): Debian's `chromium` (or
 * STTN_CHROMIUM), driven by puppeteer-core, which downloads no browser. A missing binary is an
 * error naming how to install it: the browser laws fail, never skip.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import puppeteer, { type Browser } from 'puppeteer-core';

/** Chromium's binary: STTN_CHROMIUM, else the first of Debian's names on the PATH. */
export function findChromium(): string {
  const given = process.env.STTN_CHROMIUM;
  if (given) {
    if (!existsSync(given)) throw new Error(`STTN_CHROMIUM=${given} does not exist`);
    return given;
  }
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim() !== '') return r.stdout.trim();
  }
  throw new Error("Chromium not found: the browser laws need it. Install Debian's package (`apt-get install -y chromium`; .ci/run does) or set STTN_CHROMIUM to a Chromium binary");
}

/**
 * Flags: no sandbox (CI runs as root, where Chromium's sandbox cannot start); WebGL2 on
 * SwiftShader, the CPU rasterizer, so gpu.js's webgl2 mode runs without a GPU.
 */
export const CHROMIUM_ARGS = ['--no-sandbox', '--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--ignore-gpu-blocklist'] as const;

/** Headless Chromium with CHROMIUM_ARGS (plus `extra`), viewport `width`×`height`. */
export const launchChromium = (width = 1000, height = 1100, extra: readonly string[] = []): Promise<Browser> =>
  puppeteer.launch({
    executablePath: findChromium(),
    headless: true,
    args: [...CHROMIUM_ARGS, `--window-size=${width},${height}`, ...extra],
    defaultViewport: { width, height },
    // a law may run long inside one page.evaluate (training on software WebGL)
    protocolTimeout: 600_000,
  });
