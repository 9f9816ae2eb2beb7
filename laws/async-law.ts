/**
 * `holdsAsync`: law.ts's `law` for an async predicate (a training run, a spawned process). It
 * draws `numRuns` inputs with fast-check (a fresh seed each run, never a pinned one) and returns
 * the verdict, so that an `example` returns it; a failure prints fast-check's report (the seed and
 * the shrunk counterexample) to stderr. (law.ts binds only synchronous predicates.)
 */
import fc from 'fast-check';

/**
 * `predicate` holds for `numRuns` inputs drawn from `arb`. A predicate may reject a draw with
 * `fc.pre`; more than `maxSkipsPerRun`·`numRuns` rejections fail the law (fast-check's default is
 * 100 per run).
 */
export async function holdsAsync<T>(arb: fc.Arbitrary<T>, predicate: (t: T) => Promise<boolean>, numRuns: number, maxSkipsPerRun?: number): Promise<boolean> {
  const r = await fc.check(fc.asyncProperty(arb, predicate), { numRuns, ...(maxSkipsPerRun === undefined ? {} : { maxSkipsPerRun }) });
  if (r.failed) console.error(fc.defaultReportMessage(r));
  return !r.failed;
}
