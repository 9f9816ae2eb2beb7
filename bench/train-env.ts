/**
 * The training benchmarks' counts from the environment, read alike by bench/train.ts (Node) and
 * bench/browser-train.ts (a browser page): `STTN_BENCH_QUICK=1` (a smoke run: tiny counts),
 * `STTN_TRAIN_STEPS` (steps per timed chunk, default 20), `STTN_TRAIN_ROUNDS` (round-robin
 * rounds, the program's default), `STTN_TRAIN_WARMUP` (checked warm-up steps, default 30, at
 * least 10), and `envInt` for a program's own positive-integer variables; `runPreamble`, the
 * lines both print above their tables.
 */

/** The positive integer in environment variable `name`, else `dflt`; anything else is an error naming it. */
export function envInt(name: string, dflt: number): number {
  const v = process.env[name];
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${v}`);
  return n;
}

/** The counts of a training benchmark whose default is `rounds` rounds. */
export function trainCounts(rounds: number): { readonly quick: boolean; readonly steps: number; readonly rounds: number; readonly warm: number } {
  const quick = process.env.STTN_BENCH_QUICK === '1';
  return {
    quick,
    steps: envInt('STTN_TRAIN_STEPS', quick ? 2 : 20),
    rounds: envInt('STTN_TRAIN_ROUNDS', quick ? 1 : rounds),
    warm: quick ? 7 : Math.max(10, envInt('STTN_TRAIN_WARMUP', 30)),
  };
}

/** The lines both programs print above their tables: the load around the timed rounds, the counts and the checks that passed. */
export function runPreamble(loadBefore: readonly number[], loadAfter: readonly number[], batch: number, c: { readonly steps: number; readonly rounds: number; readonly warm: number }, checks: readonly string[]): string {
  const load = (l: readonly number[]): string => l.map((x) => x.toFixed(2)).join(' ');
  return [
    `load average (1, 5, 15 min) before the timed rounds ${load(loadBefore)}, after ${load(loadAfter)}`,
    `cnn-small, batch ${batch}; ${c.warm} warm-up steps per contender, then ${c.rounds} round-robin rounds of ${c.steps} steps per contender; medians over rounds\n`,
    ...checks.map((x) => `- ${x}`),
    '',
  ].join('\n');
}
