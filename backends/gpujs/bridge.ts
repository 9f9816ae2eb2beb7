/**
 * A synchronous call into an asynchronous GPU: the main-thread half of the webgpu mode.
 *
 * WebGPU reads results back only asynchronously, while every `Backend` primitive returns its
 * tensor. So gpu.js's webgpu kernels run in a worker thread (./worker.ts), and the main thread
 * posts a request on a private `MessagePort`, blocks in `Atomics.wait` on a shared counter that
 * the worker bumps after each reply, and takes the reply with `receiveMessageOnPort`. That port
 * is never started, so no reply can be delivered to an event listener instead. `close()` asks
 * the worker to release Dawn and end by itself rather than terminating it mid-work.
 *
 * Law (laws/gpujs.test.ts): a kernel error inside the worker is thrown by the call that caused
 * it, and a call never waits longer than `timeoutMs`.
 */
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type { DawnBackend } from './dawn.js';
import type { KernelName } from './kernels.js';
import type { Arg } from './runner.js';

/** What the worker is started with. */
export interface WorkerInit {
  readonly port: MessagePort;
  /** One Int32: the count of replies posted so far. */
  readonly signal: SharedArrayBuffer;
  readonly dawnBackend: DawnBackend;
}

export interface Request {
  readonly id: number;
  readonly name: KernelName;
  readonly outLen: number;
  readonly args: readonly Arg[];
}

/** What the worker's port carries: kernel requests, then one `close`. */
export type Message = Request | { readonly close: true };

export type Reply = { readonly id: number; readonly data: Float32Array } | { readonly id: number; readonly error: string };

/** The worker's first message, on `parentPort`. */
export type Ready = { readonly device: string } | { readonly error: string };

export interface Bridge {
  readonly device: string;
  run(name: KernelName, outLen: number, args: readonly Arg[]): Float32Array;
  close(): Promise<void>;
}

/**
 * The worker beside this module. Compiled, it is worker.js. Run from the TypeScript sources (the
 * tests), it is worker.ts, and a worker thread does not inherit the main thread's `--import tsx`
 * hooks, so a two-line bootstrap loads it through tsx's API instead.
 */
function spawnWorker(init: WorkerInit): Worker {
  const options = { workerData: init, transferList: [init.port] };
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./worker.js', import.meta.url), options);
  const entry = new URL('./worker.ts', import.meta.url).href;
  const api = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(api)}).then((m) => m.tsImport(${JSON.stringify(entry)}, ${JSON.stringify(entry)}));`;
  return new Worker(boot, { ...options, eval: true });
}

/** How long `close()` lets the worker release the GPU and end before terminating it. */
const CLOSE_GRACE_MS = 10_000;

export async function startBridge(dawnBackend: DawnBackend, timeoutMs: number): Promise<Bridge> {
  const { port1, port2 } = new MessageChannel();
  const signal = new SharedArrayBuffer(4);
  const counter = new Int32Array(signal);
  const init: WorkerInit = { port: port2, signal, dawnBackend };
  const worker = spawnWorker(init);
  let exited: string | null = null;
  const gone = new Promise<void>((resolve) => {
    worker.on('exit', (code) => {
      exited ??= `the webgpu worker exited (code ${code})`;
      resolve();
    });
  });
  const ready = await new Promise<Ready>((resolve) => {
    worker.once('message', (m: Ready) => resolve(m));
    worker.once('error', (e) => resolve({ error: e.stack ?? e.message }));
    worker.once('exit', (code) => resolve({ error: `the webgpu worker exited (code ${code}) before it was ready` }));
  });
  if ('error' in ready) {
    await worker.terminate();
    throw new Error(ready.error);
  }
  worker.on('error', (e) => {
    exited ??= `the webgpu worker failed: ${e.message}`;
  });
  // Neither the worker nor its port keeps the process alive once the caller is done.
  worker.unref();
  port1.unref();

  let nextId = 0;
  function run(name: KernelName, outLen: number, args: readonly Arg[]): Float32Array {
    if (exited) throw new Error(`webgpu kernel ${name}: ${exited}`);
    const id = nextId++;
    // A view into a larger buffer would be cloned with all of that buffer: send its own copy.
    const sent = args.map((a) => (typeof a !== 'number' && a.byteLength !== a.buffer.byteLength ? a.slice() : a));
    const req: Message = { id, name, outLen, args: sent };
    port1.postMessage(req);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const seen = Atomics.load(counter, 0);
      const got = receiveMessageOnPort(port1);
      if (got) {
        const reply = got.message as Reply;
        // A reply to an earlier call that timed out: its caller has already thrown.
        if (reply.id < id) continue;
        if ('error' in reply) throw new Error(reply.error);
        return reply.data;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`webgpu kernel ${name} gave no result within ${timeoutMs} ms`);
      Atomics.wait(counter, 0, seen, left);
    }
  }

  return {
    device: ready.device,
    run,
    close: async () => {
      if (exited) return;
      exited = 'the backend was disposed';
      // The worker releases Dawn and ends by itself (see ./worker.ts); terminate only a worker
      // that has not ended within CLOSE_GRACE_MS.
      port1.postMessage({ close: true } satisfies Message);
      worker.ref(); // the caller awaits the worker's end: it must keep the process alive till then
      let timer: NodeJS.Timeout | undefined;
      const late = await Promise.race([
        gone.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), CLOSE_GRACE_MS);
        }),
      ]);
      clearTimeout(timer);
      port1.close();
      if (late) await worker.terminate();
    },
  };
}
