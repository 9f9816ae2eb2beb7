/**
 * bench/browser-train.ts's sttn contender, a module Web Worker of the cross-origin isolated page
 * (a browser's main thread may not block, so sttn's thread pool runs its calling thread here):
 * `train()` of cnn-small STTN 2+2 at batch 64 on `createWasmBackend({ threads, resident: true })`
 * with the page's threads build, its pool's workers loaded from ./worker.js beside this bundle.
 * Each timed chunk is one `train()` call resumed from the previous state and stopped after the
 * asked steps, as in bench/train.ts.
 */
import { createWasmBackend } from '../../backends/wasm.js';
import { orThrow } from '../../src/codec.js';
import { buildModel } from '../../src/models/model.js';
import { preset } from '../../src/models/presets.js';
import { initTraining, train } from '../../src/train/train.js';
import { loadSetup, pageBase, serve } from './setup.js';

let step: ((k: number) => Promise<number[]>) | undefined;

serve(
  async (m) => {
    const { data, cfg } = await loadSetup();
    const wasm = (f: string): URL => new URL(`wasm/${f}`, pageBase());
    const B = await createWasmBackend({
      threads: m.threads,
      resident: true,
      source: { plain: wasm('sttn-simd.wasm'), relaxed: wasm('sttn-relaxed-simd.wasm'), threads: wasm('sttn-simd-threads.wasm') },
    });
    if (B.threads !== m.threads) throw new Error(`asked for ${m.threads} threads, the backend runs ${B.threads}`);
    if (B.resident === undefined) throw new Error('the backend is not resident');
    const model = orThrow(buildModel(preset('cnn-small', { bits: '2+2' })));
    let state = initTraining(B, model, cfg);
    step = async (k) => {
      const losses: number[] = [];
      const r = await train(B, model, data, cfg, state, { onStep: (info) => void losses.push(info.loss), shouldStop: () => losses.length >= k });
      state = r.state;
      return losses;
    };
    const warmLosses = await step(m.warm);
    if (!warmLosses.every(Number.isFinite)) throw new Error(`a warm-up loss is not finite: ${warmLosses.join(' ')}`);
    return {
      name: `sttn wasm, 2+2 (STTN), resident${m.threads > 1 ? `, ${m.threads} threads` : ''}`,
      threads: B.threads,
      info: [`sttn: createWasmBackend({ threads: ${m.threads}, resident: true }) → kernel ${B.kernel}, threads ${B.threads}, resident; crossOriginIsolated ${String(self.crossOriginIsolated)}`],
      checks: [],
      warmLosses,
    };
  },
  (k) => {
    if (step === undefined) throw new Error('run before init');
    return step(k);
  },
);
