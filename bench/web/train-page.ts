/**
 * bench/browser-train.ts's page script (cross-origin isolated): one dedicated worker per contender
 * (bench/web/tfjs-worker.ts, bench/web/sttn-worker.ts), set up and warmed up one after another,
 * then timed round-robin from Node through `window.sttnBench`: each `run` asks one worker for
 * `steps` training steps and returns the wall milliseconds the worker measured around them
 * (`performance.now()`; a page has no CPU clock, Node reads the renderer's from /proc).
 */
import type { InitMessage, WorkerReply } from './setup.js';

export interface ContenderSpec {
  readonly contender: 'tfjs' | 'sttn';
  readonly threads: number;
  /** tfjs only: which of its builds */
  readonly build?: 'threaded' | 'plain';
}
export interface Ready {
  readonly name: string;
  readonly threads: number;
  readonly info: string[];
  readonly checks: string[];
  readonly warmLosses: number[];
}

interface Running {
  readonly worker: Worker;
  readonly spec: ContenderSpec;
  readonly label: string;
}
const running: Running[] = [];

/** The next `ready`/`ran` reply of `w` (log lines go to the console, which Node prints). */
function reply(w: Worker, label: string): Promise<Extract<WorkerReply, { type: 'ready' | 'ran' }>> {
  return new Promise((resolve, reject) => {
    w.onmessage = (e: MessageEvent<WorkerReply>) => {
      const r = e.data;
      if (r.type === 'log') console.log(`${label}: ${r.text}`);
      else if (r.type === 'error') reject(new Error(`${label}: ${r.message}`));
      else resolve(r);
    };
    w.onerror = (e) => reject(new Error(`${label}: worker failed: ${e.message}`));
  });
}

const bench = {
  isolated: (): boolean => self.crossOriginIsolated,
  /** Starts and warms up one contender; returns what it checked. */
  async add(spec: ContenderSpec, warm: number, quick: boolean, noise: number[]): Promise<Ready> {
    const worker = new Worker(`./${spec.contender}-worker.js`, { type: 'module' });
    const label = `${spec.contender}${spec.build ? ` ${spec.build}` : ''} ${spec.threads}t`;
    const msg: InitMessage = { type: 'init', contender: spec.contender, threads: spec.threads, build: spec.build, warm, quick, noise: spec.contender === 'tfjs' ? Float32Array.from(noise) : undefined };
    const done = reply(worker, label);
    worker.postMessage(msg);
    const r = await done;
    if (r.type !== 'ready') throw new Error(`${label}: expected ready`);
    running.push({ worker, spec, label });
    return { name: r.name, threads: r.threads, info: r.info, checks: r.checks, warmLosses: r.warmLosses };
  },
  /** `steps` steps of contender `i` (in the order added): the wall ms its worker measured, and whether every loss was finite. */
  async run(i: number, steps: number): Promise<{ ms: number; finite: boolean }> {
    const { worker, label } = running[i];
    const done = reply(worker, label);
    worker.postMessage({ type: 'run', steps });
    const r = await done;
    if (r.type !== 'ran') throw new Error(`${label}: expected ran`);
    return { ms: r.ms, finite: r.losses.length === steps && r.losses.every(Number.isFinite) };
  },
};

(globalThis as unknown as { sttnBench: typeof bench }).sttnBench = bench;
