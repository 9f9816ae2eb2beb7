/**
 * Laws of checkpoints (src/checkpoint/checkpoint.ts, src/checkpoint/checksum.ts): bit-exact round
 * trips through a file, a `Left` naming the file and the field for every kind of bad content
 * (never a throw); integrity: a flipped bit or a replaced character in any tensor payload is
 * refused as corrupt, a version-2 file needs its checksum, a version-1 file (from before
 * checksums) still loads and is upgraded when saved again; and atomic saves through
 * src/files.ts: a writer SIGKILLed mid-save or a failing write leaves the previous checkpoint
 * loadable, and no temp file passes for a checkpoint.
 *
 * The crash laws spawn this very file as a child process (with STTN_CHECKPOINT_CHILD set), so the
 * writer runs the real module in a real process that is really killed.
 */
import { spawn } from 'node:child_process';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync as fs_writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { checkpoint, CheckpointError, decodeCheckpoint, encodeCheckpoint, loadCheckpoint, saveCheckpoint, type Checkpoint } from '../src/checkpoint/checkpoint.js';
import { documentChecksum } from '../src/checkpoint/checksum.js';
import { ConfigError, NonFiniteError } from '../src/errors.js';
import { gunzipIfGzip, isTempName, removeStaleTemps, type WriteIo } from '../src/files.js';
import { encodeTensor, paramTreeBitEqual } from '../src/tensor-codec.js';
import { storedTensor, storedTree } from './arbitraries.js';
import { example, law, throwsWith } from './law.js';

// ---------------------------------------------------------------------------------------------
// Arbitraries

const rngArb = fc
  .tuple(fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }))
  .filter((s) => s.some((x) => x !== 0));

const ckptArb: fc.Arbitrary<Checkpoint> = fc
  .record({
    model: fc.jsonValue(),
    params: storedTree,
    state: storedTree,
    kind: fc.constantFrom('sgd', 'adam', 'momentum'),
    step: fc.nat(),
    config: fc.jsonValue(),
    slots: fc.dictionary(fc.constantFrom('m', 'v', 'velocity'), storedTree, { maxKeys: 2 }),
    rng: rngArb,
    progress: fc.record({ epoch: fc.nat(), step: fc.nat(), samplesSeen: fc.nat() }),
    meta: fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
    createdAt: fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }).map((d) => d.toISOString()),
  })
  .map((r) =>
    checkpoint({
      createdAt: r.createdAt,
      model: r.model,
      params: r.params,
      state: r.state,
      optimizer: { kind: r.kind, step: r.step, config: r.config, slots: r.slots },
      rng: { s: r.rng },
      progress: r.progress,
      meta: r.meta,
    }),
  );

/** Bit-identical tensors everywhere, deep-equal JSON elsewhere. */
function sameCheckpoint(a: Checkpoint, b: Checkpoint): boolean {
  const slots = Object.keys(a.optimizer.slots);
  return (
    a.format === b.format &&
    a.version === b.version &&
    a.createdAt === b.createdAt &&
    JSON.stringify(a.model) === JSON.stringify(b.model) &&
    isDeepStrictEqual(JSON.parse(JSON.stringify(a.model)), b.model) &&
    paramTreeBitEqual(a.params, b.params) &&
    paramTreeBitEqual(a.state, b.state) &&
    a.optimizer.kind === b.optimizer.kind &&
    a.optimizer.step === b.optimizer.step &&
    JSON.stringify(a.optimizer.config) === JSON.stringify(b.optimizer.config) &&
    slots.length === Object.keys(b.optimizer.slots).length &&
    slots.every((k) => Object.prototype.hasOwnProperty.call(b.optimizer.slots, k) && paramTreeBitEqual(a.optimizer.slots[k], b.optimizer.slots[k])) &&
    isDeepStrictEqual([...a.rng.s], [...b.rng.s]) &&
    isDeepStrictEqual({ ...a.progress }, { ...b.progress }) &&
    JSON.stringify(a.meta) === JSON.stringify(b.meta)
  );
}

/** A small valid checkpoint with a known tensor at params.conv1.kernel. */
const fixed = (step: number, n = 6): Checkpoint =>
  checkpoint({
    createdAt: '2024-01-02T03:04:05.000Z',
    model: { kind: 'mlp', hidden: [8] },
    params: { conv1: { kernel: { shape: [n], data: Float32Array.from({ length: n }, (_, i) => i - 2.5) } }, fc: { bias: { shape: [2], data: new Float64Array([-0, 5e-324]) } } },
    state: { bn: { mean: { shape: [2], data: new Float32Array([0.5, -0.25]) } } },
    optimizer: { kind: 'adam', step, config: { lr: 0.001 }, slots: { m: { conv1: { kernel: { shape: [n], data: new Float32Array(n) } } } } },
    rng: { s: [1, 2, 3, 4] },
    progress: { epoch: 1, step, samplesSeen: step * 32 },
    meta: { dataset: 'mnist' },
  });

const isCkptError = (e: unknown, file: string, kind: CheckpointError['kind'], ...patterns: string[]): boolean =>
  e instanceof CheckpointError && e.kind === kind && e.file === file && e.message.includes(file) && patterns.every((p) => e.message.includes(p));

/** `json` with its checksum recomputed over its current content: what a writer of the format would produce. */
const sealed = (json: Record<string, unknown>): Record<string, unknown> => {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(json)) if (k !== 'checksum') Object.defineProperty(out, k, { value: json[k], enumerable: true, writable: true, configurable: true });
  return { ...out, checksum: documentChecksum(out) };
};

/** A load that never throws and returns the expected Left. */
function loadsLeft(file: string, kind: CheckpointError['kind'], ...patterns: string[]): boolean {
  let r: ReturnType<typeof loadCheckpoint>;
  try {
    r = loadCheckpoint(file);
  } catch {
    return false;
  }
  return E.isLeft(r) && isCkptError(r.left, file, kind, ...patterns);
}

// ---------------------------------------------------------------------------------------------
// The crash child: saves a large checkpoint over `target`, optionally pausing mid-write.

const CHILD = process.env.STTN_CHECKPOINT_CHILD;

function runChild(mode: string, target: string): void {
  const n = 4 * 1024 * 1024; // 16 MiB of float32, ~22 MB of base64
  const big = new Float32Array(n);
  for (let i = 0; i < n; i++) big[i] = Math.random() - 0.5;
  const c = fixed(999);
  const ckpt: Checkpoint = { ...c, params: { ...c.params, big: { w: { shape: [n], data: big } } } };
  let writes = 0;
  const io: Partial<WriteIo> =
    mode === 'pause'
      ? {
          writeSync: (fd, b, off, len) => {
            if (writes++ === 1) {
              // the first chunk is on disk: tell the parent, then wait to be killed
              process.stdout.write('PAUSED\n');
              Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30_000);
            }
            return fs_writeSync(fd, b, off, len);
          },
        }
      : {};
  process.stdout.write('START\n');
  saveCheckpoint(target, ckpt, { chunkBytes: 256 * 1024, io });
  process.stdout.write('SAVED\n');
}

interface Child {
  readonly pid: number;
  readonly waitFor: (line: string) => Promise<void>;
  readonly kill: () => Promise<void>;
  readonly exited: Promise<number | null>;
}

function spawnChild(mode: string, target: string): Child {
  const self = fileURLToPath(import.meta.url);
  const p = spawn(process.execPath, ['--import', 'tsx', self, target], {
    env: { ...process.env, STTN_CHECKPOINT_CHILD: mode },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const waiters: { line: string; resolve: () => void }[] = [];
  p.stdout.setEncoding('utf8');
  p.stdout.on('data', (s: string) => {
    out += s;
    for (const w of waiters) if (out.includes(`${w.line}\n`)) w.resolve();
  });
  const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
  return {
    pid: p.pid ?? -1,
    waitFor: (line) =>
      new Promise<void>((resolve, reject) => {
        if (out.includes(`${line}\n`)) return resolve();
        waiters.push({ line, resolve });
        void exited.then((code) => reject(new Error(`child exited (${code}) before printing ${line}; output: ${out}`)));
      }),
    kill: async () => {
      p.kill('SIGKILL');
      await exited;
    },
    exited,
  };
}

// ---------------------------------------------------------------------------------------------

if (CHILD !== undefined) {
  runChild(CHILD, process.argv[2]);
} else {
  defineLaws();
}

function defineLaws(): void {
  const root = mkdtempSync(join(tmpdir(), 'sttn-ckpt-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  let counter = 0;
  const freshDir = (): string => mkdtempSync(join(root, `c${counter++}-`));
  const nonTemp = (dir: string): string[] => readdirSync(dir).filter((n) => !isTempName(n)).sort();

  // ----- round trip through a file

  law('checkpoint: load(save(c)) is bit-identical to c (plain and gzipped)', [ckptArb, fc.boolean()], (c, gzip) => {
    const file = join(freshDir(), gzip ? 'model.ckpt' : 'model.json');
    saveCheckpoint(file, c, { gzip });
    const bytes = readFileSync(file);
    const r = loadCheckpoint(file);
    return E.isRight(r) && sameCheckpoint(c, r.right) && (bytes[0] === 0x1f) === gzip && nonTemp(dirname(file)).length === 1 && readdirSync(dirname(file)).length === 1;
  }, { numRuns: 40 });

  law('checkpoint: decode(encode(c)) holds in memory too, and a save over an existing checkpoint replaces it', [ckptArb, ckptArb], (a, b) => {
    const dec = decodeCheckpoint(JSON.parse(JSON.stringify(encodeCheckpoint(a))));
    const file = join(freshDir(), 'ckpt.json');
    saveCheckpoint(file, a);
    saveCheckpoint(file, b);
    const r = loadCheckpoint(file);
    return E.isRight(dec) && sameCheckpoint(a, dec.right) && E.isRight(r) && sameCheckpoint(b, r.right);
  }, { numRuns: 20 });

  // ----- bad content: a Left naming the file and the field, never a throw

  const truncDir = freshDir();
  const saved = (gzip: boolean): Buffer => {
    const file = join(truncDir, gzip ? 'full.ckpt.gz' : 'full.ckpt');
    if (readdirSync(truncDir).every((n) => n !== basename(file))) saveCheckpoint(file, fixed(3, 40), { gzip });
    return readFileSync(file);
  };
  law('checkpoint: a file truncated at any byte offset is a Left naming the file', [fc.boolean(), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })], (gzip, at) => {
    const bytes = saved(gzip);
    const cut = join(truncDir, `cut-${counter++}.ckpt`);
    writeFileSync(cut, bytes.subarray(0, Math.floor(at * bytes.length)));
    return loadsLeft(cut, gzip && at * bytes.length >= 2 ? 'gzip' : 'json', 'truncated');
  });

  law('checkpoint: a foreign JSON document is a Left naming `format`', [fc.jsonValue()], (v) => {
    const file = join(freshDir(), 'foreign.json');
    writeFileSync(file, JSON.stringify(v) ?? 'null');
    const isOurs = typeof v === 'object' && v !== null && (v as { format?: unknown }).format === 'sttn-checkpoint';
    return isOurs || loadsLeft(file, 'format', 'format', 'not an sttn checkpoint');
  });

  example('checkpoint: package.json-like JSON, a missing file and a directory are Lefts naming the file', () => {
    const dir = freshDir();
    const file = join(dir, 'package.json');
    writeFileSync(file, JSON.stringify({ name: 'x', version: 1 }));
    return loadsLeft(file, 'format', 'checkpoint.format', 'got no format field') && loadsLeft(join(dir, 'nope.json'), 'missing', 'does not exist') && loadsLeft(dir, 'unreadable');
  });

  law('checkpoint: a version other than 1 and 2 is a Left naming `version` (a newer one says it is unsupported)', [fc.oneof(fc.integer(), fc.jsonValue()).filter((v) => v !== 1 && v !== 2)], (version) => {
    const file = join(freshDir(), 'v.json');
    writeFileSync(file, JSON.stringify({ ...encodeCheckpoint(fixed(1)), version }));
    const newer = typeof version === 'number' && Number.isInteger(version) && version > 2;
    return loadsLeft(file, 'version', 'checkpoint.version', newer ? `unsupported version ${version}` : 'expected 2 (or 1');
  });

  // a writer that recomputes the checksum over bad content gets past the checksum, not past the codec
  law('checkpoint: a corrupted tensor (wrong base64 length) under a recomputed checksum is a Left naming the tensor path and both byte counts', [fc.constantFrom('params.conv1.kernel', 'params.fc.bias', 'state.bn.mean', 'optimizer.slots.m.conv1.kernel'), fc.integer({ min: 1, max: 3 })], (path, quartets) => {
    const json = JSON.parse(JSON.stringify(encodeCheckpoint(fixed(1)))) as Record<string, unknown>;
    const keys = path.split('.');
    let node = json as Record<string, unknown>;
    for (const k of keys) node = node[k] as Record<string, unknown>;
    const before = Buffer.from(node.data as string, 'base64').length;
    node.data = 'AAAA'.repeat(quartets) + (node.data as string);
    const file = join(freshDir(), 'corrupt.json');
    writeFileSync(file, JSON.stringify(sealed(json)));
    return loadsLeft(file, 'field', `checkpoint.${path}.data`, `${before} bytes`, `got ${before + 3 * quartets} bytes`);
  }, { numRuns: 30 });

  example('checkpoint: bad counters, rng and unknown keys are Lefts naming their field (under a recomputed checksum, and in version 1)', () => {
    const base = JSON.parse(JSON.stringify(encodeCheckpoint(fixed(1)))) as Record<string, unknown>;
    const v1: Record<string, unknown> = { ...base, version: 1 };
    delete v1.checksum;
    const fieldOf = (patch: Record<string, unknown>): string | undefined => {
      const r = decodeCheckpoint(sealed({ ...base, ...patch }));
      const r1 = decodeCheckpoint({ ...v1, ...patch });
      const f = E.isLeft(r) ? r.left.field : undefined;
      const f1 = E.isLeft(r1) ? r1.left.field : undefined;
      return f === f1 ? f : `${f} in version 2, ${f1} in version 1`;
    };
    // a version-2 file relabelled as version 1 still carries its checksum: named, not taken as an old file
    const relabelled = decodeCheckpoint({ ...base, version: 1 });
    return (
      fieldOf({}) === undefined &&
      E.isLeft(relabelled) &&
      relabelled.left.field === 'checkpoint.checksum' &&
      fieldOf({ progress: { epoch: -1, step: 0, samplesSeen: 0 } }) === 'checkpoint.progress.epoch' &&
      fieldOf({ rng: { s: [0, 0, 0, 0] } }) === 'checkpoint.rng' &&
      fieldOf({ rng: { s: [1, 2, 3] } }) === 'checkpoint.rng.s.3' &&
      fieldOf({ createdAt: 'yesterday' }) === 'checkpoint.createdAt' &&
      fieldOf({ extra: true }) === 'checkpoint' &&
      fieldOf({ toString: 1 }) === 'checkpoint' &&
      fieldOf({ params: { l: { w: { dtype: 'float32', shape: [1], data: 'AAAA', x: 0 } } } }) === 'checkpoint.params.l.w'
    );
  });

  example('checkpoint: encoding refuses what could not load back (NaN in a tensor, a non-JSON model spec), before any write', () => {
    const c = fixed(1);
    const nan: Checkpoint = { ...c, state: { bn: { mean: { shape: [2], data: new Float32Array([0, NaN]) } } } };
    const file = join(freshDir(), 'never.json');
    return (
      throwsWith(() => saveCheckpoint(file, nan), NonFiniteError, 'checkpoint.state.bn.mean', 'flat index 1') &&
      throwsWith(() => encodeCheckpoint({ ...c, model: { lr: NaN } }), ConfigError, 'checkpoint.model', 'lr') &&
      throwsWith(() => encodeCheckpoint({ ...c, meta: { when: new Date() } }), ConfigError, 'checkpoint.meta') &&
      readdirSync(dirname(file)).length === 0 &&
      E.isRight(decodeCheckpoint(JSON.parse(JSON.stringify(encodeCheckpoint(nan, { allowNonFinite: true }))), { allowNonFinite: true }))
    );
  });

  // ----- integrity: a changed byte is refused, an old file still loads

  /** A checkpoint with at least one non-empty tensor, so that there is a payload to damage. */
  const damageable: fc.Arbitrary<Checkpoint> = fc
    .tuple(ckptArb, storedTensor.filter((x) => x.data.length > 0))
    .map(([c, x]) => ({ ...c, params: { ...c.params, planted: { w: x } } }));

  /** The byte ranges [start, end) of every tensor's base64 payload in the saved (compact, plain) file. */
  function payloadRanges(bytes: Buffer, c: Checkpoint): [number, number][] {
    const trees = [c.params, c.state, ...Object.values(c.optimizer.slots)];
    const out = new Map<number, number>();
    for (const tree of trees) {
      for (const layer of Object.keys(tree)) {
        for (const name of Object.keys(tree[layer])) {
          const b64 = encodeTensor(tree[layer][name]).data;
          if (b64.length === 0) continue;
          const at = bytes.indexOf(`"data":"${b64}"`);
          if (at >= 0) out.set(at + 8, at + 8 + b64.length);
        }
      }
    }
    return [...out.entries()];
  }

  /** Save `c`, hand its bytes to `damage`, write the result to a new file and load that. */
  function damaged(c: Checkpoint, damage: (bytes: Buffer, ranges: [number, number][]) => void): { file: string; r: ReturnType<typeof loadCheckpoint> } {
    const dir = freshDir();
    const good = join(dir, 'good.json');
    saveCheckpoint(good, c);
    const bytes = readFileSync(good);
    damage(bytes, payloadRanges(bytes, c));
    const file = join(dir, 'damaged.json');
    writeFileSync(file, bytes);
    let r: ReturnType<typeof loadCheckpoint>;
    try {
      r = loadCheckpoint(file);
    } catch (e) {
      r = E.left(e as CheckpointError);
    }
    return { file, r };
  }

  law('checkpoint: one flipped bit anywhere in a tensor payload is refused: a Left naming the file (corrupt checksum, or broken JSON)', [damageable, fc.nat(), fc.integer({ min: 0, max: 7 })], (c, pos, bit) => {
    let where = -1;
    const { file, r } = damaged(c, (bytes, ranges) => {
      const flat = ranges.flatMap(([a, b]) => Array.from({ length: b - a }, (_, i) => a + i));
      where = flat[pos % flat.length];
      bytes[where] ^= 1 << bit;
    });
    return where >= 0 && E.isLeft(r) && (isCkptError(r.left, file, 'checksum', 'corrupt', 'edited') || isCkptError(r.left, file, 'json', 'not valid JSON'));
  }, { numRuns: 60 });

  law('checkpoint: a tensor payload character replaced by another base64 character (still well-formed) is a checksum Left naming the file', [damageable, fc.nat(), fc.nat({ max: 62 })], (c, pos, shift) => {
    const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    let changed = false;
    const { file, r } = damaged(c, (bytes, ranges) => {
      // characters before the padding only, so that the string stays canonical base64
      const flat = ranges.flatMap(([a, b]) => Array.from({ length: b - a }, (_, i) => a + i)).filter((i) => bytes[i] !== 0x3d);
      const at = flat[pos % flat.length];
      const k = ALPHABET.indexOf(String.fromCharCode(bytes[at]));
      bytes[at] = ALPHABET.charCodeAt((k + 1 + shift) % 64);
      changed = k >= 0;
    });
    return changed && E.isLeft(r) && isCkptError(r.left, file, 'checksum', 'checkpoint.checksum', 'corrupt', 'edited');
  }, { numRuns: 60 });

  law('checkpoint: a saved file is version 2 and carries a sha256 checksum; a version-1 file (written before checksums) still loads, and saving it again upgrades it', [ckptArb, fc.boolean()], (c, gzip) => {
    const dir = freshDir();
    const file = join(dir, 'new.json');
    saveCheckpoint(file, c);
    const doc = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    const { checksum, ...rest } = doc;
    const old = join(dir, 'v1.json');
    writeFileSync(old, JSON.stringify({ ...rest, version: 1 }));
    const r1 = loadCheckpoint(old);
    if (E.isLeft(r1)) return false;
    const again = join(dir, 'again.json');
    saveCheckpoint(again, r1.right, { gzip });
    const r2 = loadCheckpoint(again);
    const inflated = gunzipIfGzip(readFileSync(again));
    if (E.isLeft(inflated)) return false;
    const doc2 = JSON.parse(Buffer.from(inflated.right).toString('utf8')) as Record<string, unknown>;
    return (
      doc.version === 2 &&
      typeof checksum === 'string' &&
      /^sha256:[0-9a-f]{64}$/.test(checksum) &&
      r1.right.version === 1 &&
      sameCheckpoint({ ...c, version: 1 } as unknown as Checkpoint, r1.right) &&
      doc2.version === 2 &&
      doc2.checksum === checksum &&
      E.isRight(r2) &&
      sameCheckpoint(c, r2.right)
    );
  }, { numRuns: 30 });

  example('checkpoint: a version-2 file without its checksum, or with a malformed one, is a Left naming checkpoint.checksum', () => {
    const dir = freshDir();
    const json = JSON.parse(JSON.stringify(encodeCheckpoint(fixed(1)))) as Record<string, unknown>;
    const { checksum, ...rest } = json;
    const missing = join(dir, 'missing.json');
    writeFileSync(missing, JSON.stringify(rest));
    const upper = join(dir, 'upper.json');
    writeFileSync(upper, JSON.stringify({ ...json, checksum: String(checksum).toUpperCase() }));
    const crc = join(dir, 'crc.json');
    writeFileSync(crc, JSON.stringify({ ...json, checksum: 'crc32:cbf43926' }));
    return (
      loadsLeft(missing, 'checksum', 'checkpoint.checksum', 'missing') &&
      loadsLeft(upper, 'checksum', 'checkpoint.checksum', 'sha256:') &&
      loadsLeft(crc, 'checksum', 'checkpoint.checksum', 'sha256:')
    );
  });

  // ----- atomic saves

  const stages = ['openSync', 'writeSync', 'fsyncSync', 'closeSync', 'renameSync'] as const;
  law('checkpoint: a save failing at any step throws, leaves the previous checkpoint and no temp file', [fc.constantFrom(...stages), fc.nat({ max: 5 }), fc.boolean()], (stage, nth, gzip) => {
    const file = join(freshDir(), 'ckpt.json');
    const good = fixed(1, 64);
    saveCheckpoint(file, good);
    let calls = 0;
    const boom = (): never => {
      throw Object.assign(new Error('EIO: simulated failure'), { code: 'EIO' });
    };
    const io: Partial<WriteIo> =
      stage === 'writeSync'
        ? { writeSync: (fd, b, off, len) => (calls++ === nth ? boom() : fs_writeSync(fd, b, off, len)) }
        : { [stage]: boom };
    const newer = fixed(2, 4096);
    const failed = throwsWith(() => saveCheckpoint(file, newer, { gzip, io, chunkBytes: 1024 }), CheckpointError, file, 'simulated failure', 'untouched');
    const r = loadCheckpoint(file);
    const wrote = stage !== 'writeSync' || calls > nth;
    return wrote && failed && E.isRight(r) && sameCheckpoint(good, r.right) && isDeepStrictEqual(readdirSync(dirname(file)), [basename(file)]);
  }, { numRuns: 25 });

  /** The writer pauses after two chunks and is killed there: the old target, a partial temp. */
  async function killedWhilePaused(): Promise<void> {
    const dir = freshDir();
    const file = join(dir, 'ckpt.json');
    const good = fixed(1);
    saveCheckpoint(file, good);
    const child = spawnChild('pause', file);
    let temps: string[] = [];
    let liveKept = false;
    try {
      await child.waitFor('PAUSED');
      temps = readdirSync(dir).filter(isTempName);
      liveKept = removeStaleTemps(file).length === 0; // the writer is alive: its temp stays
    } finally {
      await child.kill();
    }
    const r = loadCheckpoint(file);
    const tmp = join(dir, temps[0] ?? 'none');
    const partial = temps.length === 1 && statSync(tmp).size > 0 && loadsLeft(tmp, 'json', 'truncated');
    const swept = isDeepStrictEqual(removeStaleTemps(file), [tmp]);
    if (!(liveKept && partial && swept && E.isRight(r) && sameCheckpoint(good, r.right) && isDeepStrictEqual(readdirSync(dir), ['ckpt.json']))) {
      throw new Error(`after the kill: temps ${temps.join(', ')}, files ${readdirSync(dir).join(', ')}, load ${E.isLeft(r) ? r.left.message : 'ok'}`);
    }
  }

  /** The writer runs freely and is killed at a drawn moment once its temp file exists: old or new, never a mix. */
  async function killedAnywhere(): Promise<void> {
    const dir = freshDir();
    const file = join(dir, 'ckpt.json');
    const good = fixed(1);
    saveCheckpoint(file, good);
    const child = spawnChild('run', file);
    try {
      await child.waitFor('START');
      const delay = Math.floor(Math.random() * 30);
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline && !readdirSync(dir).some(isTempName) && statSync(file).size < 1e6) await new Promise((r) => setImmediate(r));
      await new Promise((r) => setTimeout(r, delay));
    } finally {
      await child.kill();
    }
    const r = loadCheckpoint(file);
    removeStaleTemps(file);
    if (process.env.STTN_CHECKPOINT_DEBUG) console.log(`# killed run: target ${E.isRight(r) ? `step ${r.right.progress.step}` : 'unloadable'}`);
    const ok = E.isRight(r) && (sameCheckpoint(good, r.right) || r.right.progress.step === 999) && isDeepStrictEqual(readdirSync(dir), ['ckpt.json']);
    if (!ok) throw new Error(`load after kill: ${E.isLeft(r) ? r.left.message : `step ${r.right.progress.step}`}; files ${readdirSync(dir).join(', ')}`);
  }

  // each crash law starts a child process: run the two side by side
  test('checkpoint: crashes during a save', { concurrency: true }, async (t) => {
    await Promise.all([
      t.test('a writer SIGKILLed mid-write leaves the previous checkpoint; its temp file never passes for one', killedWhilePaused),
      t.test('a writer killed at an arbitrary moment leaves the old or the new checkpoint, never a mix', killedAnywhere),
    ]);
  });
}
