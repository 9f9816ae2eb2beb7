/**
 * An sttn run's parameters and batch-norm state ⇄ tensors named and laid out as a PyTorch
 * `state_dict` (for weights trained in PyTorch, e.g. with the official STTN code).
 *
 * Names: `features.<i>.<sub>.<tensor>` — `i` is the model's top-level layer index (every layer
 * counts, parameter-free ones too, as in an `nn.Sequential`), `<sub>.` the sub-layer path inside a
 * residual block (its main path's index, e.g. `features.3.1.weight1`; absent for a plain layer).
 * Per layer type:
 *   conv2d / dense: `w` → `weight`, `b` → `bias`; an STTN pair `w1`, `w2` → `weight1`, `weight2`
 *     (our names: the two binary kernels W1, W2 of Eq. 6–7); TTQ `wp`, `wn` → `wp`, `wn`
 *   batchNorm: `gamma` → `weight`, `beta` → `bias`, state `mean` → `running_mean`, `variance` →
 *     `running_var`; `*.num_batches_tracked` is ignored on import and not written
 *   prelu: `alpha` → `weight`; any other tensor keeps its sttn name.
 * `map` (`{ pytorchName: sttnPath }`, sttnPath as `l00_conv2d.w`) renames any of them.
 *
 * Layouts: conv kernels OHWI (sttn) ⇄ OIHW (PyTorch); dense `[out, in]` in both. A dense layer
 * fed by a flatten of an `[h, w, c]` tensor (through parameter-free layers) takes its inputs in
 * NHWC order in sttn and NCHW order in PyTorch (`nn.Flatten` after a conv), so its columns — and
 * the vectors of a batch norm or PReLU in between — are permuted (h, w, c) ⇄ (c, h, w).
 *
 * Law (laws/safetensors.test.ts): sttn → safetensors → sttn is bit-exact for every preset; a
 * PyTorch-layout fixture imports to the logits its generator computed; missing, extra and
 * misshapen tensors are all listed in one error.
 */
import { ModelSpec, initModel, type Model } from '../models/model.js';
import { leafLayers } from '../layers/index.js';
import { rng } from '../random.js';
import { size, type DType, type Tensor } from '../tensor.js';
import type { Tree } from '../train/optim.js';
import type { TrainState } from '../train/train.js';
import { SafetensorsError, serializeSafetensors } from './format.js';

/** A name of PyTorch's → an sttn tensor path (`l00_conv2d.w`, `l03_residual.1.w1`, `l01_batchNorm.mean`). */
export type NameMap = Readonly<Record<string, string>>;

/** One tensor of the model: its PyTorch name, where it lives in sttn, both shapes, the permutation. */
export interface TorchEntry {
  readonly torch: string;
  /** `l00_conv2d.w` */
  readonly path: string;
  readonly tree: 'params' | 'state';
  readonly layer: string;
  readonly key: string;
  readonly shape: readonly number[];
  readonly torchShape: readonly number[];
  /** torch index of each sttn index within a row of `inner` values; null when the layouts agree */
  readonly perm: Int32Array | null;
}

const RENAME: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  conv2d: { w: 'weight', w1: 'weight1', w2: 'weight2', b: 'bias' },
  dense: { w: 'weight', w1: 'weight1', w2: 'weight2', b: 'bias' },
  batchNorm: { gamma: 'weight', beta: 'bias', mean: 'running_mean', variance: 'running_var' },
  prelu: { alpha: 'weight' },
};
const KERNELS = new Set(['w', 'w1', 'w2']);
const PASS_THROUGH = new Set(['relu', 'dropout', 'quantize']);
const IGNORED = /(^|\.)num_batches_tracked$/;

/** For (h, w, c) flattened in that order: the index in (c, h, w) order of each index. */
function hwcToChw(h: number, w: number, c: number): Int32Array {
  const p = new Int32Array(h * w * c);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) p[(y * w + x) * c + k] = (k * h + y) * w + x;
  return p;
}

/** Every tensor of `model` with its PyTorch name (see the module header), in model order. */
export function pytorchEntries(model: Model, map: NameMap = {}): TorchEntry[] {
  const shapes = initModel(model, rng(1), 'float32');
  const out: TorchEntry[] = [];
  let flat: readonly number[] | null = null;
  model.spec.layers.forEach((spec, i) => {
    const layer = model.names[i];
    for (const leaf of leafLayers(spec, model.shapes[i])) {
      const type = leaf.spec.type;
      const flatIn = flat !== null && leaf.inShape.length === 1 && leaf.inShape[0] === size(flat) ? flat : null;
      for (const tree of ['params', 'state'] as const) {
        const rec = (tree === 'params' ? shapes.params : shapes.state)[layer];
        for (const k of Object.keys(rec)) {
          if (!k.startsWith(leaf.prefix) || k.slice(leaf.prefix.length).includes('.')) continue;
          const name = k.slice(leaf.prefix.length);
          const shape = rec[k].shape;
          let perm: Int32Array | null = null;
          let torchShape = [...shape];
          if ((type === 'conv2d') && KERNELS.has(name)) {
            const [o, kh, kw, ci] = shape;
            perm = hwcToChw(kh, kw, ci);
            torchShape = [o, ci, kh, kw];
          } else if (flatIn !== null && ((type === 'dense' && KERNELS.has(name)) || ((type === 'batchNorm' || type === 'prelu') && shape.length === 1))) {
            perm = hwcToChw(flatIn[0], flatIn[1], flatIn[2]);
          }
          out.push({ torch: `features.${i}.${leaf.prefix}${RENAME[type]?.[name] ?? name}`, path: `${layer}.${k}`, tree, layer, key: k, shape, torchShape, perm });
        }
      }
      if (type === 'flatten' && leaf.inShape.length === 3) flat = leaf.inShape;
      else if (!(PASS_THROUGH.has(type) || ((type === 'batchNorm' || type === 'prelu') && flatIn !== null))) flat = null;
    }
  });
  return applyMap(out, map);
}

function applyMap(entries: TorchEntry[], map: NameMap): TorchEntry[] {
  const byPath = new Map(entries.map((e) => [e.path, e]));
  const bad = Object.entries(map).filter(([, p]) => !byPath.has(p));
  if (bad.length > 0) {
    throw new SafetensorsError('--map', 'sttn paths', `${bad.map(([t, p]) => `${t} → ${p}`).join(', ')}: no such tensor; the model has ${entries.map((e) => e.path).join(', ')}`);
  }
  const seen = new Map<string, string>();
  for (const [t, p] of Object.entries(map)) {
    const prev = seen.get(p);
    if (prev !== undefined) throw new SafetensorsError('--map', p, `named twice, by ${prev} and ${t}`);
    seen.set(p, t);
  }
  const renamed = entries.map((e) => (seen.has(e.path) ? { ...e, torch: seen.get(e.path)! } : e));
  const names = new Map<string, string>();
  for (const e of renamed) {
    const prev = names.get(e.torch);
    if (prev !== undefined) throw new SafetensorsError('--map', e.torch, `names both ${prev} and ${e.path}`);
    names.set(e.torch, e.path);
  }
  return renamed;
}

/** sttn layout → PyTorch layout (or back with `inverse`), in the data's own dtype. */
function permute(t: Tensor, perm: Int32Array, shape: readonly number[], inverse: boolean): Tensor {
  const inner = perm.length;
  const rows = t.data.length / inner;
  const out = new (t.data.constructor as Float32ArrayConstructor | Float64ArrayConstructor)(t.data.length);
  for (let r = 0; r < rows; r++) {
    const o = r * inner;
    if (inverse) for (let s = 0; s < inner; s++) out[o + s] = t.data[o + perm[s]];
    else for (let s = 0; s < inner; s++) out[o + perm[s]] = t.data[o + s];
  }
  return { shape: [...shape], data: out };
}

/** The parameters and state a run holds (a `Run` of src/checkpoint/run.ts fits). */
export interface RunTensors {
  readonly model: Model;
  readonly state: Pick<TrainState, 'params' | 'state'>;
}

/** The run's tensors under their PyTorch names and layouts (data copied, dtype kept). */
export function toSafetensors(run: RunTensors, map: NameMap = {}): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const e of pytorchEntries(run.model, map)) {
    const t = (e.tree === 'params' ? run.state.params : run.state.state)[e.layer][e.key];
    out[e.torch] = e.perm === null ? { shape: [...e.torchShape], data: t.data.slice() } : permute(t, e.perm, e.torchShape, false);
  }
  return out;
}

/**
 * The parameters and state of `model` from PyTorch-named tensors. Every expected tensor must be
 * present with its PyTorch shape and finite values, and nothing else may be there (but
 * `num_batches_tracked`): one SafetensorsError lists every missing, extra, misshapen and
 * non-finite tensor. Values are cast to `dtype` (default float32).
 */
export function fromSafetensors(
  model: Model,
  tensors: Readonly<Record<string, Tensor>>,
  map: NameMap = {},
  opts: { readonly dtype?: DType; readonly file?: string } = {},
): { params: Tree; state: Tree } {
  const file = opts.file ?? 'safetensors';
  const Arr = (opts.dtype ?? 'float32') === 'float64' ? Float64Array : Float32Array;
  const entries = pytorchEntries(model, map);
  const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;
  const problems: string[] = [];
  const missing = entries.filter((e) => !Object.prototype.hasOwnProperty.call(tensors, e.torch));
  if (missing.length > 0) problems.push(`missing: ${missing.map((e) => `${e.torch} ${fmt(e.torchShape)} (${e.path})`).join(', ')}`);
  const expected = new Set(entries.map((e) => e.torch));
  const extra = Object.keys(tensors).filter((n) => !expected.has(n) && !IGNORED.test(n));
  if (extra.length > 0) problems.push(`unexpected: ${extra.map((n) => `${n} ${fmt(tensors[n].shape)}`).join(', ')}`);
  const params: Record<string, Record<string, Tensor>> = {};
  const state: Record<string, Record<string, Tensor>> = {};
  for (const n of model.names) {
    params[n] = {};
    state[n] = {};
  }
  for (const e of entries) {
    const t = tensors[e.torch];
    if (t === undefined) continue;
    if (t.shape.length !== e.torchShape.length || t.shape.some((d, j) => d !== e.torchShape[j])) {
      problems.push(`${e.torch}: expected shape ${fmt(e.torchShape)} (${e.path} ${fmt(e.shape)}), found ${fmt(t.shape)}`);
      continue;
    }
    const bad = t.data.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) {
      problems.push(`${e.torch}: non-finite value ${t.data[bad]} at flat index ${bad}`);
      continue;
    }
    const cast: Tensor = { shape: t.shape, data: Arr.from(t.data) };
    (e.tree === 'params' ? params : state)[e.layer][e.key] = e.perm === null ? { shape: [...e.shape], data: cast.data } : permute(cast, e.perm, e.shape, true);
  }
  if (problems.length > 0) throw new SafetensorsError(file, `tensors for model '${model.spec.name}'`, problems.join('; '));
  return { params, state };
}

/** A safetensors file of the run in PyTorch layout; its metadata holds the model spec (`sttn.model`). */
export function exportSafetensors(run: RunTensors, map: NameMap = {}): Uint8Array {
  return serializeSafetensors(toSafetensors(run, map), { format: 'pt', 'sttn.layout': 'pytorch', 'sttn.model': JSON.stringify(ModelSpec.encode(run.model.spec)) });
}
