/**
 * The worker-thread half of the webgpu mode (see ./bridge.ts): sets up Dawn, compiles the
 * kernels on a gpu.js `GPU` in webgpu mode, and answers one request at a time on its port,
 * bumping the shared counter after every reply so the blocked main thread wakes.
 *
 * Law (laws/gpujs.test.ts): every request gets exactly one reply, a result or an error.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Ready, Reply, Request, WorkerInit } from './bridge.js';
import { installDawn } from './dawn.js';
import { createRunner, loadGpuJs } from './runner.js';

const { port, signal, dawnBackend } = workerData as WorkerInit;
const counter = new Int32Array(signal);

function reply(r: Reply): void {
  // The result was made by this worker alone: hand its buffer over rather than copy it.
  port.postMessage(r, 'data' in r ? [r.data.buffer as ArrayBuffer] : []);
  Atomics.add(counter, 0, 1);
  Atomics.notify(counter, 0);
}

async function main(): Promise<Ready> {
  const device = await installDawn(dawnBackend);
  const GPU = await loadGpuJs();
  const run = createRunner(new GPU({ mode: 'webgpu' }), 'webgpu');
  // Requests come one at a time (the caller is blocked until it has its reply).
  port.on('message', (req: Request) => {
    Promise.resolve()
      .then(() => run(req.name, req.outLen, req.args))
      .then(
        (data) => reply({ id: req.id, data }),
        (e: unknown) => reply({ id: req.id, error: `webgpu kernel ${req.name}: ${e instanceof Error ? e.message : String(e)}` }),
      );
  });
  return { device };
}

main().then(
  (ready) => parentPort?.postMessage(ready),
  (e: unknown) => parentPort?.postMessage({ error: e instanceof Error ? e.message : String(e) } satisfies Ready),
);
