/**
 * The backend agreement laws in a browser page: bundled by `npm run build:web` into the demo
 * page's dist/laws.js, loaded into the page by laws/browser-page.test.ts under the page's strict
 * CSP, where it checks gpu.js's WebGL2 (or WebGL) backend against the float64 reference — the
 * `js` backend, which generates no code (cpu64's ndarray-ops compiles with `new Function`, which
 * the CSP forbids; the two compute the same bits, laws/backend-agreement.test.ts). The laws are
 * laws/backend-agreement.ts's, the very predicates Node runs.
 *
 * `globalThis.sttnLaws.run({ mode, runsScale })` resolves to one result per law, never throws
 * for a failing law (its message, with fast-check's counterexample and seed, is in the result).
 */
import type { Backend } from '../src/backend.js';
import { createGpujsBackend, type GpujsMode } from '../backends/gpujs.js';
import { createJsBackend } from '../backends/js.js';
import { agreementLaws, checkLaw } from './backend-agreement.js';

export interface LawResult {
  readonly name: string;
  readonly ok: boolean;
  readonly ms: number;
  readonly runs: number;
  readonly error?: string;
}

export interface PageLawOptions {
  readonly mode?: GpujsMode;
  /** multiplies each law's number of runs (at least 1 each): software WebGL compiles a shader per new shape */
  readonly runsScale?: number;
  /** only the laws whose name contains this */
  readonly filter?: string;
}

/** Every agreement law on the gpu.js backend of `mode` in this page. */
export async function runPageLaws(opts: PageLawOptions = {}): Promise<{ backend: string; results: LawResult[] }> {
  const reference = createJsBackend('float64');
  const b: Backend = await createGpujsBackend({ mode: opts.mode ?? 'webgl2', gpujs: await import('gpu.js') });
  const results: LawResult[] = [];
  for (const l of agreementLaws(reference)) {
    if (opts.filter !== undefined && !l.name.includes(opts.filter)) continue;
    const runs = l.arbs.length === 0 ? 1 : Math.max(1, Math.round(l.numRuns * (opts.runsScale ?? 1)));
    const t0 = performance.now();
    try {
      checkLaw(l, b, runs);
      results.push({ name: l.name, ok: true, ms: performance.now() - t0, runs });
    } catch (e) {
      results.push({ name: l.name, ok: false, ms: performance.now() - t0, runs, error: (e as Error).message.slice(0, 50_000) });
    }
    // let the page breathe between laws
    await new Promise((r) => setTimeout(r, 0));
  }
  return { backend: b.name, results };
}

(globalThis as unknown as { sttnLaws: { run: typeof runPageLaws } }).sttnLaws = { run: runPageLaws };
