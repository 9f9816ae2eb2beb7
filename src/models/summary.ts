/**
 * The model summary (as Larq's): per layer, parameter counts by bit-width, memory in bits and bytes,
 * multiply-accumulates, weight sparsity (the paper's Figure 4) and α statistics; totals and the
 * compression ratio against float32. Also the latent and the effective (quantized) weights of every
 * layer — the two are what a user most often needs to tell apart.
 *
 * Storage model: a float parameter is 32 bits; a binary weight 1 bit; a ternary weight 2 bits; each
 * scale (α, Wp, Wn) is a 32-bit float. For an STTN pair the deployable kernel is the merged
 * ternary one (Eq. 6–7): 2 bits per weight, not 2 × 1 bit of latent kernels.
 *
 * Layers nested in residual blocks get their own rows, named by their place in the block
 * (`l04_residual.1` is layer 1 of block `l04_residual`, whose parameters are its `1.`-prefixed
 * entries), so quantized convolutions inside blocks are counted at their bit-width.
 *
 * Law (laws/summary.test.ts, laws/residual.test.ts): counts add up to the parameter trees' sizes;
 * the STTN merged kernel has the pair's sparsity; MACs match the layer geometry.
 */
import type { Backend } from '../backend.js';
import { leafLayers, paramsUnder, type PlainLayerSpec } from '../layers/index.js';
import type { Model } from './model.js';
import type { Tree } from '../train/optim.js';
import type { Params } from '../quantizers/common.js';
import { kernelQuantizer, type KernelCodes } from '../quantizers/index.js';
import { size, type Tensor } from '../tensor.js';
import * as E from 'fp-ts/lib/Either.js';

export interface LayerSummary {
  readonly name: string;
  readonly type: string;
  readonly outShape: readonly number[];
  readonly quantizer: string;
  /** parameters stored at each bit-width: 32 (float), 2 (ternary), 1 (binary) */
  readonly paramsByBits: Readonly<Record<'32' | '2' | '1', number>>;
  readonly bits: number;
  readonly bytes: number;
  readonly macs: number;
  /** fraction of zero weights in the effective kernel (null when the layer has no kernel) */
  readonly sparsity: number | null;
  /** α (or the scales) of the effective kernel: min, mean, max */
  readonly alpha: { readonly min: number; readonly mean: number; readonly max: number } | null;
}

export interface ModelSummary {
  readonly layers: readonly LayerSummary[];
  readonly totalParams: number;
  readonly totalBits: number;
  readonly totalBytes: number;
  readonly float32Bytes: number;
  readonly compression: number;
  readonly totalMacs: number;
}

const stats = (xs: ArrayLike<number>) => {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (let i = 0; i < xs.length; i++) {
    min = Math.min(min, xs[i]);
    max = Math.max(max, xs[i]);
    sum += xs[i];
  }
  return { min, mean: sum / xs.length, max };
};

/** A layer that holds no other layers, with its row name, its parameters and its shapes. */
interface Leaf {
  readonly name: string;
  readonly spec: PlainLayerSpec;
  readonly params: Params;
  readonly inShape: readonly number[];
  readonly outShape: readonly number[];
}

/** Every layer of the model, residual blocks opened (depth first). */
function leaves(model: Model, params: Tree): Leaf[] {
  return model.spec.layers.flatMap((spec, i) => {
    const name = model.names[i];
    const p = params[name] ?? {};
    return leafLayers(spec, model.shapes[i]).map((l) => ({
      name: l.path.length === 0 ? name : `${name}.${l.path.join('.')}`,
      spec: l.spec,
      params: l.prefix === '' ? p : paramsUnder(p, l.prefix),
      inShape: l.inShape,
      outShape: l.outShape,
    }));
  });
}

/** The deployable form of each quantized layer's kernel, by layer name. */
export function kernelCodes(B: Backend, model: Model, params: Tree): Record<string, KernelCodes> {
  const out: Record<string, KernelCodes> = {};
  for (const { name, spec, params: p } of leaves(model, params)) {
    if (!('kernelQuantizer' in spec)) continue;
    const q = kernelQuantizer(spec.kernelQuantizer);
    if (E.isLeft(q)) throw q.left;
    const { b: _b, ...kp } = p;
    out[name] = q.right.codes(B, kp);
  }
  return out;
}

/** Latent parameters and the effective kernel (what the layer multiplies with) of each quantized layer. */
export function effectiveWeights(B: Backend, model: Model, params: Tree): Record<string, { latent: Readonly<Record<string, Tensor>>; effective: Tensor }> {
  const out: Record<string, { latent: Readonly<Record<string, Tensor>>; effective: Tensor }> = {};
  for (const { name, spec, params: p } of leaves(model, params)) {
    if (!('kernelQuantizer' in spec)) continue;
    const q = kernelQuantizer(spec.kernelQuantizer);
    if (E.isLeft(q)) throw q.left;
    const { b: _b, ...kp } = p;
    out[name] = { latent: kp, effective: q.right.forward(B, kp).w };
  }
  return out;
}

export function summarize(B: Backend, model: Model, params: Tree): ModelSummary {
  const codes = kernelCodes(B, model, params);
  const layers: LayerSummary[] = leaves(model, params).map(({ name, spec, params: p, inShape, outShape }) => {
    const c = codes[name];
    const by = { '32': 0, '2': 0, '1': 0 };
    let sparsity: number | null = null;
    let alpha: LayerSummary['alpha'] = null;
    for (const [k, v] of Object.entries(p)) if (!c || k === 'b') by['32'] += size(v.shape);
    if (c) {
      if (c.kind === 'float') {
        by['32'] += size(c.w.shape);
        sparsity = zeros(c.w) / size(c.w.shape);
      } else if (c.kind === 'binary') {
        by['1'] += size(c.codes.shape);
        by['32'] += size(c.scale.shape);
        sparsity = zeros(c.codes) / size(c.codes.shape);
        alpha = stats(c.scale.data);
      } else {
        by['2'] += size(c.codes.shape);
        by['32'] += size(c.scalePos.shape) + (c.scaleNeg === c.scalePos ? 0 : size(c.scaleNeg.shape));
        sparsity = zeros(c.codes) / size(c.codes.shape);
        alpha = stats(c.scalePos.data);
      }
    }
    const bits = 32 * by['32'] + 2 * by['2'] + by['1'];
    let macs = 0;
    if (spec.type === 'dense') macs = spec.units * inShape[0];
    if (spec.type === 'conv2d') macs = size(outShape) * spec.kernelSize[0] * spec.kernelSize[1] * inShape[2];
    return {
      name,
      type: spec.type,
      outShape,
      quantizer: 'kernelQuantizer' in spec ? `${spec.kernelQuantizer.id}/${spec.inputQuantizer.id}` : '',
      paramsByBits: by,
      bits,
      bytes: Math.ceil(bits / 8),
      macs,
      sparsity,
      alpha,
    };
  });
  const totalParams = layers.reduce((s, l) => s + l.paramsByBits['32'] + l.paramsByBits['2'] + l.paramsByBits['1'], 0);
  const totalBits = layers.reduce((s, l) => s + l.bits, 0);
  const totalBytes = layers.reduce((s, l) => s + l.bytes, 0);
  return {
    layers,
    totalParams,
    totalBits,
    totalBytes,
    float32Bytes: totalParams * 4,
    compression: (totalParams * 4) / Math.max(totalBytes, 1),
    totalMacs: layers.reduce((s, l) => s + l.macs, 0),
  };
}

function zeros(t: Tensor): number {
  let z = 0;
  for (let i = 0; i < t.data.length; i++) if (t.data[i] === 0) z++;
  return z;
}

/** The summary as a fixed-width text table. */
export function formatSummary(s: ModelSummary): string {
  const head = ['layer', 'output', 'quantizer', '#32b', '#2b', '#1b', 'bytes', 'MACs', 'sparsity', 'α min/mean/max'];
  const rows = s.layers.map((l) => [
    l.name,
    `[${l.outShape.join(',')}]`,
    l.quantizer,
    String(l.paramsByBits['32']),
    String(l.paramsByBits['2']),
    String(l.paramsByBits['1']),
    String(l.bytes),
    String(l.macs),
    l.sparsity === null ? '' : `${(l.sparsity * 100).toFixed(1)}%`,
    l.alpha === null ? '' : `${l.alpha.min.toPrecision(3)}/${l.alpha.mean.toPrecision(3)}/${l.alpha.max.toPrecision(3)}`,
  ]);
  const widths = head.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j].length)));
  const line = (r: string[]) => r.map((c, j) => c.padEnd(widths[j])).join('  ').trimEnd();
  return [
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    '',
    `total parameters: ${s.totalParams}   MACs per example: ${s.totalMacs}`,
    `memory: ${s.totalBits} bits = ${s.totalBytes} bytes   (float32: ${s.float32Bytes} bytes, compression ${s.compression.toFixed(2)}×)`,
  ].join('\n');
}
