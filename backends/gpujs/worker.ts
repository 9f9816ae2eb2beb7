/**
 * The worker-thread half of the webgpu mode (see ./bridge.ts): sets up Dawn, compiles the
 * kernels on a gpu.js `GPU` in webgpu mode, and answers its port's messages strictly one after
 * another, bumping the shared counter after every reply so the blocked main thread wakes. A
 * `close` message, queued behind any request still running, releases gpu.js's kernels and the
 * WebGPU device and lets the thread end by itself: a worker terminated while Dawn is mid-work
 * can take the whole process down with it.
 *
 * Law (laws/gpujs.test.ts): every request gets exactly one reply, a result or an error.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Message, Ready, Reply, WorkerInit } from './bridge.js';
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
  const lib = await loadGpuJs('webgpu');
  const gpu = new lib.GPU({ mode: 'webgpu' });
  const run = createRunner(gpu, 'webgpu');

  async function handle(m: Message): Promise<void> {
    if ('close' in m) {
      await Promise.resolve(gpu.destroy()).catch(() => undefined);
      await lib.WebGPUContext?.destroy().catch(() => undefined);
      port.close();
      return;
    }
    try {
      reply({ id: m.id, data: await run(m.name, m.outLen, m.args) });
    } catch (e) {
      reply({ id: m.id, error: `webgpu kernel ${m.name}: ${e instanceof Error ? e.message : String(e)}` });
    }
  }

  let queue = Promise.resolve();
  port.on('message', (m: Message) => {
    queue = queue.then(() => handle(m));
  });
  return { device };
}

main().then(
  (ready) => parentPort?.postMessage(ready),
  (e: unknown) => parentPort?.postMessage({ error: e instanceof Error ? e.message : String(e) } satisfies Ready),
);
