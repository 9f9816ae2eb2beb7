/**
 * The output directory of a command (`sttn train --out DIR`, `sttn experiment --out DIR`): made,
 * proved writable and, for `train`, locked for one writer — with errors that name `--out` and the
 * path, never a raw EEXIST or EPERM.
 *
 * - `makeDir`: creates the directory and its missing parents with src/files.ts `makeDirs` (one
 *   level at a time: a recursive mkdir never returns under /proc); a file in the way, or a
 *   refusal, is a RunDirError naming `--out`, the path and the level at fault.
 * - `lockRunDir`: the lock is `DIR/.sttn-train.lock`, holding the writer's pid. It is made by
 *   writing `.sttn-train.lock.<pid>.tmp` (the probe: a directory that cannot take this file
 *   cannot take a checkpoint) and hard-linking it to the lock's name, which fails when the lock
 *   exists — so the lock appears whole or not at all. A lock whose pid is alive refuses the
 *   second writer, naming the directory and the pid; a lock whose pid is dead (a writer killed,
 *   even by SIGKILL) is stale and taken over: renamed aside first, so two starters cannot both
 *   take it, and put back if it turns out to be a live writer's. `release` removes the lock if it
 *   is still this writer's. On a file system without hard links the lock is created with an
 *   exclusive open instead.
 *
 * Law (laws/cli-edges.test.ts, laws/signals.test.ts): `--out` naming a file, a path through a
 * file or a place under /proc is one line naming it; a directory locked by a live process is
 * refused naming it and the pid; a dead writer's lock is taken over; two concurrent `train` runs
 * on one directory: the second is refused.
 */
import { linkSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SttnError } from '../../src/errors.js';
import { DirectoryError, makeDirs } from '../../src/files.js';

/** The output directory cannot be made, written or taken; the message names `--out` and the path. */
export class RunDirError extends SttnError {
  override readonly name = 'RunDirError';
  constructor(
    readonly dir: string,
    detail: string,
  ) {
    super(`--out ${dir}: ${detail}`);
  }
}

const codeOf = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | undefined)?.code;
const reason = (e: unknown): string => `${codeOf(e) ?? 'error'}: ${(e as Error).message}`;

/** Make `dir` and its missing parents (src/files.ts `makeDirs`), or throw a RunDirError naming `--out` and `dir`. */
export function makeDir(dir: string): void {
  try {
    makeDirs(dir);
  } catch (e) {
    if (e instanceof DirectoryError) throw new RunDirError(dir, e.detail);
    throw e;
  }
}

export const LOCK_NAME = '.sttn-train.lock';
const PROBE = /^\.sttn-train\.lock\.(\d+)\.tmp$/;

/** Who holds the run directory: this process's pid and a liveness probe for others. */
export interface LockOwner {
  readonly pid: number;
  readonly isAlive: (pid: number) => boolean;
}

export interface RunLock {
  readonly file: string;
  /** Remove the lock if it is still this writer's (idempotent). */
  release(): void;
}

/** Directories this process holds (so that its own pid in a lock is told from a dead earlier process's). */
const held = new Set<string>();

const holderOf = (file: string): number | null => {
  try {
    const m = /^(\d+)\n?$/.exec(readFileSync(file, 'utf8'));
    return m === null ? null : Number(m[1]);
  } catch {
    return null;
  }
};

/**
 * Make `dir` (see `makeDir`), prove it writable and lock it for `owner` (see the module header);
 * throws a RunDirError naming `dir`, and the holder's pid when a live writer has it.
 */
export function lockRunDir(dir: string, owner: LockOwner): RunLock {
  makeDir(dir);
  const file = join(dir, LOCK_NAME);
  const key = resolve(file);
  const live = (pid: number): boolean => (pid === owner.pid ? held.has(key) : owner.isAlive(pid));
  // probe files of dead writers (killed between writing and linking one)
  try {
    for (const n of readdirSync(dir)) {
      const m = PROBE.exec(n);
      if (m !== null && !live(Number(m[1]))) unlinkSync(join(dir, n));
    }
  } catch {
    // a leftover we cannot remove does no harm
  }
  const probe = join(dir, `${LOCK_NAME}.${owner.pid}.tmp`);
  try {
    writeFileSync(probe, `${owner.pid}\n`);
  } catch (e) {
    throw new RunDirError(dir, `cannot write in the directory (${reason(e)})`);
  }
  try {
    for (let attempt = 0; attempt < 8; attempt++) {
      let taken = false;
      try {
        linkSync(probe, file);
        taken = true;
      } catch (e) {
        if (codeOf(e) !== 'EEXIST') taken = createExclusive(file, owner.pid, dir, e);
      }
      if (taken) {
        held.add(key);
        return { file, release: () => release(file, key, owner.pid) };
      }
      const holder = holderOf(file);
      if (holder !== null && live(holder)) {
        throw new RunDirError(dir, `in use by another sttn train (pid ${holder}); wait for it to end or stop it (if no such process is running, delete ${file})`);
      }
      // stale: move it aside under a name of our own, then look at what was moved
      const aside = join(dir, `${LOCK_NAME}.${owner.pid}.stale`);
      try {
        renameSync(file, aside);
      } catch {
        continue; // gone already: try again
      }
      const moved = holderOf(aside);
      if (moved !== null && moved !== holder && live(moved)) {
        // a live writer took it meanwhile: put it back (unless yet another did)
        try {
          linkSync(aside, file);
        } catch {
          // someone holds the name again; the next attempt reads who
        }
      }
      try {
        unlinkSync(aside);
      } catch {
        // already gone
      }
    }
    throw new RunDirError(dir, `could not take the lock ${file} (other writers keep starting)`);
  } finally {
    try {
      unlinkSync(probe);
    } catch {
      // already gone
    }
  }
}

/** The lock by an exclusive open, where hard links fail; false when the lock exists. */
function createExclusive(file: string, pid: number, dir: string, linkError: unknown): boolean {
  try {
    writeFileSync(file, `${pid}\n`, { flag: 'wx' });
    return true;
  } catch (e) {
    if (codeOf(e) === 'EEXIST') return false;
    throw new RunDirError(dir, `cannot create the lock ${file} (${reason(linkError)})`);
  }
}

function release(file: string, key: string, pid: number): void {
  if (!held.delete(key)) return;
  try {
    if (holderOf(file) === pid) unlinkSync(file);
  } catch {
    // already gone
  }
}
