/**
 * What every contender's worker of bench/browser-train.ts sets up alike: the embedded digits'
 * train split fetched from the page's data/ folder (the same 8,000 digits as Node's
 * `loadEmbeddedMnist().train`), the default training config at batch 64, and the batches of
 * bench/tfjs-train-step.ts's `batchSource` (sttn's own order, gather and augmentation), plus the
 * messages the page and its workers exchange.
 */
import { orThrow, decodeWith } from '../../src/codec.js';
import type { Dataset } from '../../src/data/dataset.js';
import { loadEmbeddedMnistFrom } from '../../src/data/mnist-split.js';
import { TrainConfig } from '../../src/train/train.js';
import { batchSource, type Batch } from '../tfjs-train-step.js';

export const BATCH = 64;

/** What the page asks a worker to become. */
export interface InitMessage {
  readonly type: 'init';
  readonly contender: 'tfjs' | 'sttn';
  readonly threads: number;
  /** tfjs only: its threaded build (pthreads; any thread count) or its plain SIMD build (one thread) */
  readonly build?: 'threaded' | 'plain';
  /** warm-up steps, checked */
  readonly warm: number;
  /** smoke run: the "tfjs trains" threshold is not checked */
  readonly quick: boolean;
  /** uniform-noise images for the gradient check (bench/common.ts randomF32 with seed 7, mapped to [0, 1)) */
  readonly noise?: Float32Array;
}
export interface RunMessage {
  readonly type: 'run';
  readonly steps: number;
}
/** A worker's answers: ready (with what it checked), ran (wall ms inside the worker), a log line, or an error. */
export type WorkerReply =
  | { readonly type: 'ready'; readonly name: string; readonly threads: number; readonly info: string[]; readonly checks: string[]; readonly warmLosses: number[] }
  | { readonly type: 'ran'; readonly ms: number; readonly losses: number[] }
  | { readonly type: 'log'; readonly text: string }
  | { readonly type: 'error'; readonly message: string };

/** The folder the page is served from (workers live beside the page). */
export const pageBase = (): string => new URL('./', self.location.href).href;

export async function loadSetup(): Promise<{ data: Dataset; cfg: TrainConfig; batchAt: (step: number) => Batch }> {
  const data = (await loadEmbeddedMnistFrom(new URL('data/', pageBase()))).train;
  const cfg = orThrow(decodeWith(TrainConfig, { epochs: 1000, batchSize: BATCH }, 'train'));
  if (cfg.optimizer.kind !== 'adam' || cfg.augmentPad !== 2) throw new Error('the default TrainConfig changed: update this benchmark');
  return { data, cfg, batchAt: batchSource(data, cfg) };
}

/** A worker's message loop: `init` once, then `run` any number of times; every failure becomes an `error` reply. */
export function serve(init: (m: InitMessage, log: (text: string) => void) => Promise<Omit<Extract<WorkerReply, { type: 'ready' }>, 'type'>>, run: (steps: number) => number[] | Promise<number[]>): void {
  const post = (r: WorkerReply): void => (self as unknown as { postMessage(m: unknown): void }).postMessage(r);
  const log = (text: string): void => post({ type: 'log', text });
  self.onmessage = async (e: MessageEvent<InitMessage | RunMessage>) => {
    try {
      if (e.data.type === 'init') {
        post({ type: 'ready', ...(await init(e.data, log)) });
      } else {
        const t0 = performance.now();
        const losses = await run(e.data.steps);
        post({ type: 'ran', ms: performance.now() - t0, losses });
      }
    } catch (err) {
      post({ type: 'error', message: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
    }
  };
}
