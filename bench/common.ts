/**
 * Shared benchmark plumbing: the machine's description, tfjs-wasm set up the way the comparison
 * needs it (SIMD, one thread), and a round-robin timer.
 *
 * Not a test: nothing here asserts. Round-robin (every contender once per round, in turn) keeps a
 * slow drift of the machine (thermal, a neighbour's job) from landing on one contender; medians
 * keep one hiccup from moving a number.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { availableParallelism, loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

export { tf };

/** `nproc`, the CPU model and the node version, for RESULTS.md. */
export function machine(): string {
  let nproc = String(availableParallelism());
  try {
    nproc = execFileSync('nproc', { encoding: 'utf8' }).trim();
  } catch {
    // no coreutils: keep node's count
  }
  let model = 'unknown CPU';
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const name = /^model name\s*:\s*(.*)$/m.exec(info)?.[1];
    const family = /^cpu family\s*:\s*(.*)$/m.exec(info)?.[1];
    const mdl = /^model\s*:\s*(.*)$/m.exec(info)?.[1];
    model = `${name ?? 'unknown'} (family ${family ?? '?'}, model ${mdl ?? '?'})`;
  } catch {
    // not Linux
  }
  const load = loadavg().map((x) => x.toFixed(2)).join(' ');
  return `nproc ${nproc}, ${model}, node ${process.version}; load average ${load}; clock: ${CLOCK === 'cpu' ? 'process CPU time' : 'wall time'}`;
}

/** tfjs-core on its wasm backend: SIMD build, one thread (the comparison is single-threaded). */
export async function tfjsWasm(): Promise<typeof tf> {
  const require = createRequire(import.meta.url);
  // setWasmPaths wants a prefix: the folder holding the .wasm files, with a trailing slash.
  const dist = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/';
  setWasmPaths(dist);
  setThreadsCount(1);
  if (!(await tf.setBackend('wasm'))) throw new Error('tfjs wasm backend failed to initialise');
  await tf.ready();
  if (!tf.env().getBool('WASM_HAS_SIMD_SUPPORT')) throw new Error('tfjs-wasm runs without SIMD: the comparison would be unfair');
  return tf;
}

export interface Contender {
  readonly name: string;
  /** One run; must finish its work (read results back) before returning. */
  readonly run: () => void;
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
};

/**
 * Which clock the medians use. `cpu` (the default) is this process's user + system CPU time: on a
 * machine shared with other jobs it leaves out the time the scheduler gave to them, and for
 * single-threaded work on an idle machine it equals wall time. `STTN_BENCH_CLOCK=wall` switches.
 */
export const CLOCK: 'cpu' | 'wall' = process.env.STTN_BENCH_CLOCK === 'wall' ? 'wall' : 'cpu';

const now = (): number => {
  if (CLOCK === 'wall') return performance.now();
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/**
 * Median milliseconds of each contender: `warmup` untimed runs each (the first calls of a wasm
 * kernel run ~5× slower until V8 tiers it up), then `rounds` rounds of one timed run each, in turn.
 */
export function roundRobin(contenders: readonly Contender[], rounds = 9, warmup = 3): Map<string, number> {
  for (const c of contenders) for (let i = 0; i < warmup; i++) c.run();
  const times = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const c of contenders) {
      const t0 = now();
      c.run();
      times.get(c.name)!.push(now() - t0);
    }
  }
  return new Map([...times].map(([k, v]) => [k, median(v)]));
}

/**
 * A contender that repeats `call` often enough that one run lasts about `targetMs` (so short calls
 * are measured too), with its repeat count. Sized on the clock the medians use, after 5 untimed
 * calls that let V8 tier the kernels up.
 */
export function repeated(name: string, call: () => void, targetMs = 40): { contender: Contender; reps: number } {
  for (let i = 0; i < 5; i++) call();
  const t0 = now();
  let calls = 0;
  while (now() - t0 < 10) {
    call();
    calls++;
  }
  const per = (now() - t0) / calls;
  const reps = Math.max(1, Math.round(targetMs / Math.max(per, 1e-3)));
  return {
    reps,
    contender: {
      name,
      run: () => {
        for (let i = 0; i < reps; i++) call();
      },
    },
  };
}

/** Float32 values uniform in [−1, 1) from a fixed linear congruential stream (data does not matter, only sizes). */
export function randomF32(n: number, seed = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

export const fmt = (x: number, digits = 1): string => x.toFixed(digits);

/** A markdown table. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
