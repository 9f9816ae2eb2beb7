/**
 * A browser worker of the wasm backend's thread pool (./threads.ts; Node's workers run the same
 * loop as evaluated code there): a module Web Worker that instantiates the threaded build on the
 * shared memory of its first message, says it is ready, and claims and runs parts of every task
 * until told to exit. It never allocates in the shared memory.
 *
 * Law (laws/threads.test.ts): this module, run in Node workers with a Web Worker's globals
 * shimmed, computes a pool's parts exactly and reports a trap in its part as a ThreadTaskError
 * (the same control block as Node's evaluated workers, which give results at 2 and 3 threads equal
 * to those at 1); dispose ends the workers.
 */
import { generation, workerLoop, type PartExports } from './threads.js';

interface Init {
  readonly module: WebAssembly.Module;
  readonly memory: WebAssembly.Memory;
  readonly ctrl: Int32Array;
  readonly part: number;
}

const self = globalThis as unknown as { onmessage: ((e: { data: Init }) => void) | null; postMessage(m: unknown): void; close(): void };
self.onmessage = (e) => {
  self.onmessage = null;
  const { module, memory, ctrl } = e.data;
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  const seen = generation(ctrl);
  self.postMessage('ready');
  workerLoop(instance.exports as unknown as PartExports, ctrl, seen);
  self.close();
};
