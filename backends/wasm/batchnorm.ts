/**
 * The wasm backend's fused batch-norm passes (src/backend.ts `batchNormMoments`, …) over the
 * kernels of assembly/batchnorm.ts: each lays out its outputs and operands through the backend's
 * arena (`mapped`, so resident operands are read in place and, inside a resident scope, outputs
 * stay in wasm memory), runs one pass, and returns what the composition of the backend's own
 * primitives returns, bit for bit. Passes of STREAM_SPLIT_MIN elements or more run on the pool:
 * the sums split by channels (one part per thread, as the backend's strided reductions), the maps
 * by rows. With one channel (`reduce` then sums a contiguous run in two interleaved partial sums,
 * another order) or no rows, the sums run the composition itself.
 *
 * The `…Relu` passes are a batchNorm → relu pair's (src/models/fuse.ts): relu applied as y is
 * written, dy multiplied by step(y) as it is read, split as their unmasked neighbours.
 *
 * Law (laws/fused-batchnorm.test.ts): the fused batch-norm layer equals the composed one bit for
 * bit on this backend, resident and copying, at 1 and 2 threads; laws/fused-layers.test.ts: the
 * same for the `…Relu` passes and a model whose pairs run through them.
 */
import type { Backend } from '../../src/backend.js';
import { ShapeError } from '../../src/errors.js';
import type { Tensor } from '../../src/tensor.js';

/** The exports these passes need (every build of backends/wasm/assembly has them). */
export interface BatchNormExports {
  readonly memory: WebAssembly.Memory;
  bnMoments(s1: number, s2: number, x: number, m: number, c: number, c0: number, c1: number, acc: number): void;
  bnGradMoments(s1: number, s2: number, dy: number, x: number, m: number, c: number, c0: number, c1: number, acc: number): void;
  bnAffine(y: number, x: number, a: number, b: number, c: number, r0: number, r1: number): void;
  bnGradAffine(dx: number, dy: number, x: number, g: number, k: number, d: number, c: number, r0: number, r1: number): void;
  bnAffineRelu(y: number, x: number, a: number, b: number, c: number, r0: number, r1: number): void;
  bnGradMomentsRelu(s1: number, s2: number, dy: number, x: number, y: number, m: number, c: number, c0: number, c1: number, acc: number): void;
  bnGradAffineRelu(dx: number, dy: number, x: number, y: number, g: number, k: number, d: number, c: number, r0: number, r1: number): void;
  bnMomentsOfRelu(s1: number, s2: number, z: number, m: number, c: number, c0: number, c1: number, acc: number): void;
  bnAffineOfRelu(y: number, z: number, a: number, b: number, c: number, r0: number, r1: number): void;
  bnGradMomentsOfRelu(s1: number, s2: number, dy: number, z: number, m: number, c: number, c0: number, c1: number, acc: number): void;
  bnGradAffineOfRelu(dx: number, dy: number, z: number, g: number, k: number, d: number, c: number, r0: number, r1: number): void;
}

/** What the backend lends these passes (backends/wasm.ts). */
export interface BatchNormHooks {
  /** The backend's `mapped`: lays out the output, the operands and `extra` work bytes, runs `k`. */
  mapped(shape: readonly number[], inputs: readonly Tensor[], extra: number, k: (p: number[], out: number, work: number) => void): Tensor;
  /** Whether a pass over `n` elements is split over the pool's threads. */
  split(n: number): boolean;
  /** Parts of a map over `n` elements split by rows; `threads`, one per thread, for the sums. */
  mapParts(n: number): number;
  readonly threads: number;
  /** Runs `bnPart` on the pool with the record at `desc`, in `parts` parts. */
  run(desc: number, parts: number): void;
  /** The backend's own primitives, for the cases the kernels leave to the composition. */
  readonly reduce: Backend['reduce'];
  readonly binary: Backend['binary'];
  readonly unary: Backend['unary'];
}

/** Bytes of the record `bnPart` reads (11 i32), rounded up. */
const DESC = 48;
const ALIGN = 64;
const alignUp = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;

type Fused = Required<Pick<Backend, 'batchNormMoments' | 'batchNormAffine' | 'batchNormGradMoments' | 'batchNormGradAffine'>>;
type FusedRelu = Required<Pick<Backend, 'batchNormAffineRelu' | 'batchNormGradMomentsRelu' | 'batchNormGradAffineRelu' | 'batchNormMomentsOfRelu' | 'batchNormAffineOfRelu' | 'batchNormGradMomentsOfRelu' | 'batchNormGradAffineOfRelu'>>;

export function createBatchNormOps(wasm: BatchNormExports, h: BatchNormHooks): Fused & FusedRelu {
  const rows = (what: string, x: Tensor): [number, number] => {
    if (x.shape.length !== 2) throw new ShapeError(what, '[m, c]', x.shape);
    return [x.shape[0], x.shape[1]];
  };
  const vector = (what: string, v: Tensor, c: number): void => {
    if (v.shape.length !== 1 || v.shape[0] !== c) throw new ShapeError(what, [c], v.shape);
  };
  const same = (what: string, a: Tensor, m: number, c: number): void => {
    if (a.shape.length !== 2 || a.shape[0] !== m || a.shape[1] !== c) throw new ShapeError(what, [m, c], a.shape);
  };
  const desc = (p: number, kind: number, out: number, out2: number, in0: number, in1: number, v0: number, v1: number, v2: number, m: number, c: number, acc: number): void => {
    new Int32Array(wasm.memory.buffer, p, 11).set([kind, out, out2, in0, in1, v0, v1, v2, m, c, acc]);
  };

  /**
   * Both per-channel sums of kind 0 (x, x²), 2 (dy, dy·x), 5 (the same of dy·step(y)), 7 (kind 0
   * of relu(x)) or 9 (kind 2 of relu(x)) as two [c] tensors.
   */
  function sums(kind: 0 | 2 | 5 | 7 | 9, inputs: readonly Tensor[], m: number, c: number): [Tensor, Tensor] {
    const accBytes = alignUp(c * 16);
    const both = h.mapped([2, c], inputs, accBytes + DESC, ([p0, p1, p2], po, acc) => {
      const o2 = po + c * 4;
      const in1 = kind === 0 || kind === 7 ? p0 : p1;
      if (h.split(m * c) && c >= 4) {
        desc(acc + accBytes, kind, po, o2, p0, in1, kind === 5 ? p2 : 0, 0, 0, m, c, acc);
        h.run(acc + accBytes, h.threads);
      } else if (kind === 0) wasm.bnMoments(po, o2, p0, m, c, 0, c, acc);
      else if (kind === 2) wasm.bnGradMoments(po, o2, p0, in1, m, c, 0, c, acc);
      else if (kind === 5) wasm.bnGradMomentsRelu(po, o2, p0, in1, p2, m, c, 0, c, acc);
      else if (kind === 7) wasm.bnMomentsOfRelu(po, o2, p0, m, c, 0, c, acc);
      else wasm.bnGradMomentsOfRelu(po, o2, p0, in1, m, c, 0, c, acc);
    });
    const d = both.data as Float32Array;
    return [
      { shape: [c], data: d.subarray(0, c) },
      { shape: [c], data: d.subarray(c, 2 * c) },
    ];
  }

  /** `binary('mul', dy, unary('step', y))`: the relu's gradient, for the cases left to the composition. */
  const masked = (dy: Tensor, y: Tensor): Tensor => h.binary('mul', dy, h.unary('step', y));
  const gradAffine = (kind: 3 | 10, what: string, dy: Tensor, x: Tensor, g: Tensor, k: Tensor, d: Tensor): Tensor => {
    const [m, c] = rows(`${what} dy`, dy);
    same(`${what} ${kind === 10 ? 'z' : 'x'}`, x, m, c);
    vector(`${what} g`, g, c);
    vector(`${what} k`, k, c);
    vector(`${what} d`, d, c);
    return h.mapped(dy.shape, [dy, x, g, k, d], DESC, ([pdy, px, pg, pk, pd], po, work) => {
      if (h.split(m * c) && m >= 2) {
        desc(work, kind, po, 0, pdy, px, pg, pk, pd, m, c, 0);
        h.run(work, Math.min(m, h.mapParts(m * c)));
      } else if (kind === 3) wasm.bnGradAffine(po, pdy, px, pg, pk, pd, c, 0, m);
      else wasm.bnGradAffineOfRelu(po, pdy, px, pg, pk, pd, c, 0, m);
    });
  };
  const affine = (kind: 1 | 4 | 8, what: string, x: Tensor, a: Tensor, b: Tensor): Tensor => {
    const [m, c] = rows(`${what} x`, x);
    vector(`${what} a`, a, c);
    vector(`${what} b`, b, c);
    return h.mapped(x.shape, [x, a, b], DESC, ([px, pa, pb], po, work) => {
      if (h.split(m * c) && m >= 2) {
        desc(work, kind, po, 0, px, 0, pa, pb, 0, m, c, 0);
        h.run(work, Math.min(m, h.mapParts(m * c)));
      } else if (kind === 1) wasm.bnAffine(po, px, pa, pb, c, 0, m);
      else if (kind === 4) wasm.bnAffineRelu(po, px, pa, pb, c, 0, m);
      else wasm.bnAffineOfRelu(po, px, pa, pb, c, 0, m);
    });
  };

  return {
    batchNormMoments(x) {
      const [m, c] = rows('batchNormMoments x', x);
      if (c < 2 || m === 0) return [h.reduce('sum', x, 0), h.reduce('sumSquares', x, 0)];
      return sums(0, [x], m, c);
    },
    batchNormGradMoments(dy, x) {
      const [m, c] = rows('batchNormGradMoments dy', dy);
      same('batchNormGradMoments x', x, m, c);
      if (c < 2 || m === 0) return [h.reduce('sum', dy, 0), h.reduce('sum', h.binary('mul', dy, x), 0)];
      return sums(2, [dy, x], m, c);
    },
    batchNormAffine: (x, a, b) => affine(1, 'batchNormAffine', x, a, b),
    batchNormAffineRelu: (x, a, b) => affine(4, 'batchNormAffineRelu', x, a, b),
    batchNormGradMomentsRelu(dy, x, y) {
      const [m, c] = rows('batchNormGradMomentsRelu dy', dy);
      same('batchNormGradMomentsRelu x', x, m, c);
      same('batchNormGradMomentsRelu y', y, m, c);
      if (c < 2 || m === 0) {
        const d = masked(dy, y);
        return [h.reduce('sum', d, 0), h.reduce('sum', h.binary('mul', d, x), 0)];
      }
      return sums(5, [dy, x, y], m, c);
    },
    batchNormGradAffineRelu(dy, x, y, g, k, d) {
      const [m, c] = rows('batchNormGradAffineRelu dy', dy);
      same('batchNormGradAffineRelu x', x, m, c);
      same('batchNormGradAffineRelu y', y, m, c);
      vector('batchNormGradAffineRelu g', g, c);
      vector('batchNormGradAffineRelu k', k, c);
      vector('batchNormGradAffineRelu d', d, c);
      return h.mapped(dy.shape, [dy, x, y, g, k, d], DESC, ([pdy, px, py, pg, pk, pd], po, work) => {
        if (h.split(m * c) && m >= 2) {
          desc(work, 6, po, py, pdy, px, pg, pk, pd, m, c, 0);
          h.run(work, Math.min(m, h.mapParts(m * c)));
        } else wasm.bnGradAffineRelu(po, pdy, px, py, pg, pk, pd, c, 0, m);
      });
    },
    batchNormGradAffine: (dy, x, g, k, d) => gradAffine(3, 'batchNormGradAffine', dy, x, g, k, d),
    batchNormGradAffineOfRelu: (dy, z, g, k, d) => gradAffine(10, 'batchNormGradAffineOfRelu', dy, z, g, k, d),
    batchNormAffineOfRelu: (z, a, b) => affine(8, 'batchNormAffineOfRelu', z, a, b),
    batchNormMomentsOfRelu(z) {
      const [m, c] = rows('batchNormMomentsOfRelu z', z);
      if (c < 2 || m === 0) {
        const x = h.unary('relu', z);
        return [h.reduce('sum', x, 0), h.reduce('sumSquares', x, 0)];
      }
      return sums(7, [z], m, c);
    },
    batchNormGradMomentsOfRelu(dy, z) {
      const [m, c] = rows('batchNormGradMomentsOfRelu dy', dy);
      same('batchNormGradMomentsOfRelu z', z, m, c);
      if (c < 2 || m === 0) return [h.reduce('sum', dy, 0), h.reduce('sum', h.binary('mul', dy, h.unary('relu', z)), 0)];
      return sums(9, [dy, z], m, c);
    },
  };
}
