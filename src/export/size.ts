/**
 * What a deployed model costs on disk, from the container's own layout (src/export/container.ts):
 * the file size in each encoding, the same network with every kernel stored as float32, and the
 * quantized kernels alone (codes against float32: 16× for `2bit`, 20× for `base3` up to the
 * rounding of the last byte).
 *
 * Law (laws/export.test.ts): `fileBytes` equals the size of the file `sttn export` writes, for
 * every preset, bit-width pair and encoding; `sttn summary` prints these numbers.
 */
import { allOps, decodeWeights, isWeighted, mapOps, type DeployedModel } from './deployed.js';
import { ENCODINGS, exportedSize, type Encoding } from './container-format.js';
import { packedBytes } from './pack.js';

/** The same network with every binary/ternary kernel decoded into float32 (what a float export stores). */
export function asFloat(m: DeployedModel): DeployedModel {
  return { ...m, ops: mapOps(m.ops, (op) => (isWeighted(op) && op.weights.kind !== 'float' ? { ...op, weights: { kind: 'float', w: decodeWeights(op) } } : op)) };
}

export interface SizeReport {
  /** bytes of the `.sttn` file in each encoding, and of the float32 version of the same network */
  readonly fileBytes: Readonly<Record<Encoding | 'float32', number>>;
  /** binary/ternary kernels only: number of weights and their bytes as codes or as float32 */
  readonly quantized: { readonly weights: number; readonly ternary: number; readonly binary: number; readonly bytes: Readonly<Record<Encoding | 'float32', number>> };
}

export function sizeReport(m: DeployedModel): SizeReport {
  let ternary = 0;
  let binary = 0;
  const ops = allOps(m.ops);
  for (const op of ops) {
    if (!isWeighted(op)) continue;
    if (op.weights.kind === 'ternary') ternary += op.weights.codes.length;
    if (op.weights.kind === 'binary') binary += op.weights.codes.length;
  }
  // per tensor, as the container stores them (each kernel rounds up to whole bytes)
  const codes = (enc: Encoding): number =>
    ops.reduce((s, op) => {
      if (!isWeighted(op) || op.weights.kind === 'float') return s;
      const n = op.weights.codes.length;
      return s + packedBytes(op.weights.kind === 'binary' ? 'binary1' : enc === '2bit' ? 'ternary2' : 'ternary3', n);
    }, 0);
  return {
    fileBytes: { '2bit': exportedSize(m, '2bit'), base3: exportedSize(m, 'base3'), float32: exportedSize(asFloat(m), '2bit') },
    quantized: { weights: ternary + binary, ternary, binary, bytes: { '2bit': codes('2bit'), base3: codes('base3'), float32: 4 * (ternary + binary) } },
  };
}

const n = (x: number): string => x.toLocaleString('en-US');
const ratio = (a: number, b: number): string => (b === 0 ? '–' : `${(a / b).toFixed(2)}×`);

/** Two lines for `sttn summary` and `sttn export`. */
export function formatSizeReport(r: SizeReport): string {
  const f = r.fileBytes;
  const q = r.quantized;
  const lines = [
    `exported file (.sttn, header included): ${ENCODINGS.map((e) => `${e} ${n(f[e])} bytes`).join(' · ')} · all-float32 ${n(f.float32)} bytes` +
      ` (${ENCODINGS.map((e) => `${e} ${ratio(f.float32, f[e])}`).join(', ')} smaller)`,
  ];
  if (q.weights > 0) {
    lines.push(
      `quantized kernels: ${n(q.weights)} weights (${n(q.ternary)} ternary, ${n(q.binary)} binary): ${ENCODINGS.map((e) => `${e} ${n(q.bytes[e])} bytes`).join(' · ')} · float32 ${n(q.bytes.float32)} bytes` +
        ` (${ENCODINGS.map((e) => `${e} ${ratio(q.bytes.float32, q.bytes[e])}`).join(', ')})`,
    );
  }
  return lines.join('\n');
}
