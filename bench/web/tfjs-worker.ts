/**
 * bench/browser-train.ts's tfjs contender, a module Web Worker of the cross-origin isolated page:
 * @tensorflow/tfjs-core on @tensorflow/tfjs-backend-wasm training cnn-small with the faster of
 * bench/train.ts's two formulations (dX of conv2 as a forward conv2d of the flipped kernel), from
 * bench/tfjs-train-step.ts. Build `threaded`: tfjs-wasm's threaded SIMD build (XNNPACK's pool on
 * pthreads over a shared memory, which it picks only where SharedArrayBuffer can be posted: a
 * cross-origin isolated page) with `setThreadsCount(threads)`; build `plain`: its plain SIMD
 * build (`WASM_HAS_MULTITHREAD_SUPPORT` forced false; one thread), the build bench/train.ts runs
 * in Node. Checked
 * before timing: the backend is wasm with SIMD, `getThreadsCount()` is `threads`, which .wasm file
 * it fetched; then bench/tfjs-train-step.ts's checks (shapes and FLOPs equal sttn's, loss and
 * gradients agree with sttn's from the same parameters, the loss falls over the warm-up, no
 * tensor leaks), sttn's side computed here on a copying 1-thread sttn wasm backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createWasmBackend } from '../../backends/wasm.js';
import { orThrow } from '../../src/codec.js';
import { buildModel } from '../../src/models/model.js';
import { preset } from '../../src/models/presets.js';
import { initTraining } from '../../src/train/train.js';
import { checkAgreement, checkShapesAndFlops, tfjsCnnSmall, warmUpTfjs, type TfjsTrainer } from '../tfjs-train-step.js';
import { BATCH, loadSetup, pageBase, serve } from './setup.js';

let trainer: TfjsTrainer | undefined;

serve(
  async (m) => {
    if (m.noise === undefined) throw new Error('the tfjs worker needs the noise batch');
    const threaded = m.build === 'threaded';
    if (!threaded && m.threads !== 1) throw new Error(`tfjs's plain SIMD build runs one thread, asked for ${m.threads}`);
    const cores = navigator.hardwareConcurrency;
    if (threaded) {
      // tfjs-wasm caps its pool at hardwareConcurrency / 2 (backend.cc: it assumes two hardware
      // threads per core), so on a 2-core machine setThreadsCount(2) would give 1 thread: tell it
      // 2·threads, read once when its module starts (getThreadsCount() below checks the result)
      if (cores < 2 * m.threads) Object.defineProperty(self.navigator, 'hardwareConcurrency', { value: 2 * m.threads, configurable: true });
      setThreadsCount(m.threads);
    } else {
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    }
    setWasmPaths(new URL('tfjs/', pageBase()).href);
    if (!(await tf.setBackend('wasm'))) throw new Error('tfjs wasm backend failed to initialise');
    await tf.ready();
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    const mt = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
    const fetched = performance.getEntriesByType('resource').map((e) => e.name.split('/').pop() ?? '').filter((f) => f.endsWith('.wasm'));
    const want = threaded ? 'tfjs-backend-wasm-threaded-simd.wasm' : 'tfjs-backend-wasm-simd.wasm';
    if (tf.getBackend() !== 'wasm' || simd !== true || getThreadsCount() !== m.threads || fetched.join() !== want) {
      throw new Error(`tfjs: backend ${tf.getBackend()}, SIMD ${String(simd)}, threads ${getThreadsCount()} (asked ${m.threads}), multithread support ${String(mt)}, fetched ${fetched.join(', ') || 'no .wasm'} (want ${want})`);
    }
    const { data, cfg, batchAt } = await loadSetup();
    void data;
    // sttn's side of the agreement check: the float 32+32 network's initial parameters, on a copying 1-thread backend
    const wasm = (f: string): URL => new URL(`wasm/${f}`, pageBase());
    const B = await createWasmBackend({ resident: false, source: { plain: wasm('sttn-simd.wasm'), relaxed: wasm('sttn-relaxed-simd.wasm') } });
    const model = orThrow(buildModel(preset('cnn-small', { bits: '32+32' })));
    const s0 = initTraining(B, model, cfg);
    const t = tfjsCnnSmall(tf, cfg, batchAt).trainer('conv2d of flipped kernel', s0.params);
    const checks = checkShapesAndFlops([t], model, BATCH).checks;
    checks.push(...checkAgreement(tf, [t], { B, model, s0, cfg }, batchAt(0), m.noise));
    const w = warmUpTfjs(tf, t, m.warm, m.quick);
    checks.push(w.check);
    trainer = t;
    return {
      name: `tfjs-wasm ${threaded ? 'threaded' : 'plain SIMD'} build, ${m.threads} thread${m.threads > 1 ? 's' : ''}`,
      threads: getThreadsCount(),
      info: [
        `tfjs ${tf.version_core}: backend ${tf.getBackend()}, SIMD ${String(simd)}, multithread support ${String(mt)}, getThreadsCount() ${getThreadsCount()}, fetched ${fetched.join(', ')}` +
          `; navigator.hardwareConcurrency ${cores}${navigator.hardwareConcurrency !== cores ? `, shown to tfjs as ${navigator.hardwareConcurrency}` : ''}`,
      ],
      checks: checks.map((c) => `[${threaded ? 'threaded' : 'plain SIMD'} build, ${m.threads} thread${m.threads > 1 ? 's' : ''}] ${c}`),
      warmLosses: w.losses,
    };
  },
  (k) => {
    if (trainer === undefined) throw new Error('run before init');
    return trainer.steps(k);
  },
);
