/**
 * The `law()` helper: binds a pure predicate to fast-check and to node:test.
 *
 * A law's predicate must return `boolean` (a predicate that returns nothing is a type error, so a
 * law cannot pass by forgetting to assert). Seeds are never pinned: fast-check draws a fresh one
 * each run and prints it on failure, so a failure can be replayed by hand.
 */
import fc from 'fast-check';
import { test } from 'node:test';

type Arbs<Ts extends unknown[]> = { [K in keyof Ts]: fc.Arbitrary<Ts[K]> };

export interface LawOptions {
  /** Number of cases (default 100). */
  readonly numRuns?: number;
}

/** A property law: `predicate` must hold for every drawn input. */
export function law<Ts extends [unknown, ...unknown[]]>(
  name: string,
  arbs: Arbs<Ts>,
  predicate: (...args: Ts) => boolean,
  opts: LawOptions = {},
): void {
  test(name, () => {
    const prop = fc.property(...(arbs as unknown as [fc.Arbitrary<unknown>]), (...args: unknown[]) => {
      const ok: boolean = (predicate as (...a: unknown[]) => boolean)(...args);
      if (typeof ok !== 'boolean') throw new TypeError(`law "${name}": predicate returned ${typeof ok}, not boolean`);
      return ok;
    });
    fc.assert(prop, { numRuns: opts.numRuns ?? 100 });
  });
}

/**
 * A law about one fixed case (a golden value, an error path, a short training run): still a
 * predicate returning boolean, or a promise of one.
 */
export function example(name: string, predicate: () => boolean | Promise<boolean>): void {
  test(name, async () => {
    const ok: boolean = await predicate();
    if (ok !== true) throw new Error(`example "${name}" does not hold`);
  });
}

/** True when `f` throws an error that is an instance of `cls` and whose message matches every pattern. */
export function throwsWith(f: () => unknown, cls: new (...a: never[]) => Error, ...patterns: (string | RegExp)[]): boolean {
  try {
    f();
  } catch (e) {
    if (!(e instanceof cls)) return false;
    return patterns.every((p) => (typeof p === 'string' ? e.message.includes(p) : p.test(e.message)));
  }
  return false;
}
