/**
 * ONNX export: a `DeployedModel` (src/export/deployed.ts) as a standard ONNX model (opset 13),
 * written with protobufjs from the subset of onnx.proto declared below (`ONNX_SCHEMA`).
 *
 * Graph conventions:
 * - input `input`: float32 `[N, ...inputShape]` (NHWC `[N, h, w, c]` for images, pixels in
 *   [0, 1]), batch dim symbolic (`N`) — what `createEngine(...).run` takes;
 * - outputs `logits` float32 `[N, classes]` and, unless `probabilities: false`, `probabilities`
 *   = Softmax(logits, axis 1) (the engine's `predict(...).probabilities`).
 * Spatial activations are transposed once to NCHW (`Transpose` perm 0,3,1,2) and stay NCHW; a
 * `flatten` transposes back to NHWC first, since sttn flattens channels innermost.
 *
 * Ops, per deployed op:
 * - quantized weights (binary, ternary) are INT8 codes (OIHW for conv, `[out, in]` for dense) Cast
 *   to float, with float32 scales per output channel (or per tensor). With float activations
 *   (2+32) they are dequantized, w = Mul(c, s) (TTQ's asymmetric scales: sp·Relu(c) − sn·Relu(−c),
 *   exact), and run as one Conv/Gemm with the bias, as the engine's float path does. With ternary
 *   or sign activations (2+2) Conv/Gemm runs on the codes (exact integers in float32, as in the
 *   engine's kernels), then Mul by the scale and Add the bias: y = s_o·Σx·c + b_o (Eq. 6–7, the
 *   engine's epilogue); TTQ: y = sp_o·Σx·c⁺ − sn_o·Σx·c⁻ + b_o, two products.
 * - float weights: Conv (OIHW) / Gemm (transB) with the bias as their third input.
 * - activations (`input` of a weighted op, or `quantize`), Eq. 14: ternary `paper`
 *   Cast(x > θ) − Cast(x < −θ); `official` Cast(x ≥ θ) − Cast(x < −θ); sign Where(x ≥ 0, 1, −1).
 *   θ is rounded to the float32 that gives the same comparisons on float32 x as the double θ.
 * - affine: Mul, Add (per channel); relu: Relu; prelu: PRelu; maxPool: MaxPool; globalAvgPool:
 *   ReduceMean over h, w; flatten: Flatten axis 1; residual: body + shortcut, the shortcut MaxPool'd
 *   when the block downsamples and its channels zero-padded (Pad) up to the body's.
 *
 * Law (laws/onnx.test.ts): onnxruntime-web on the exported cnn-small and vgg7 at 2+2, 2+32 and
 * 32+32 gives the engine's probabilities within 1e-5 and its classes on test digits; quantized
 * initializers are ≥ 3.5× smaller than float32; the bytes decode back to the same graph.
 */
import * as E from 'fp-ts/lib/Either.js';
import protobuf from 'protobufjs';
import { ConfigError } from '../errors.js';
import { chainShapes, opShapes, type Act, type DeployedModel, type DeployedOp, type WeightedOp } from './deployed.js';

// ---------------------------------------------------------------------------------------------
// the subset of onnx.proto (github.com/onnx/onnx, onnx/onnx.proto) that a model needs; field
// numbers as there

const ONNX_SCHEMA = {
  nested: {
    onnx: {
      nested: {
        ModelProto: {
          fields: {
            irVersion: { type: 'int64', id: 1 },
            producerName: { type: 'string', id: 2 },
            producerVersion: { type: 'string', id: 3 },
            domain: { type: 'string', id: 4 },
            modelVersion: { type: 'int64', id: 5 },
            docString: { type: 'string', id: 6 },
            graph: { type: 'GraphProto', id: 7 },
            opsetImport: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 },
            metadataProps: { rule: 'repeated', type: 'StringStringEntryProto', id: 14 },
          },
        },
        OperatorSetIdProto: { fields: { domain: { type: 'string', id: 1 }, version: { type: 'int64', id: 2 } } },
        StringStringEntryProto: { fields: { key: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } } },
        GraphProto: {
          fields: {
            node: { rule: 'repeated', type: 'NodeProto', id: 1 },
            name: { type: 'string', id: 2 },
            initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
            docString: { type: 'string', id: 10 },
            input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
            output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
            valueInfo: { rule: 'repeated', type: 'ValueInfoProto', id: 13 },
          },
        },
        NodeProto: {
          fields: {
            input: { rule: 'repeated', type: 'string', id: 1 },
            output: { rule: 'repeated', type: 'string', id: 2 },
            name: { type: 'string', id: 3 },
            opType: { type: 'string', id: 4 },
            attribute: { rule: 'repeated', type: 'AttributeProto', id: 5 },
            docString: { type: 'string', id: 6 },
            domain: { type: 'string', id: 7 },
          },
        },
        AttributeProto: {
          fields: {
            name: { type: 'string', id: 1 },
            f: { type: 'float', id: 2 },
            i: { type: 'int64', id: 3 },
            s: { type: 'bytes', id: 4 },
            t: { type: 'TensorProto', id: 5 },
            floats: { rule: 'repeated', type: 'float', id: 7 },
            ints: { rule: 'repeated', type: 'int64', id: 8 },
            type: { type: 'int32', id: 20 },
          },
        },
        TensorProto: {
          fields: {
            dims: { rule: 'repeated', type: 'int64', id: 1 },
            dataType: { type: 'int32', id: 2 },
            name: { type: 'string', id: 8 },
            rawData: { type: 'bytes', id: 9 },
            docString: { type: 'string', id: 12 },
          },
        },
        ValueInfoProto: { fields: { name: { type: 'string', id: 1 }, type: { type: 'TypeProto', id: 2 }, docString: { type: 'string', id: 3 } } },
        TypeProto: {
          fields: { tensorType: { type: 'TypeProtoTensor', id: 1 } },
        },
        TypeProtoTensor: { fields: { elemType: { type: 'int32', id: 1 }, shape: { type: 'TensorShapeProto', id: 2 } } },
        TensorShapeProto: { fields: { dim: { rule: 'repeated', type: 'Dimension', id: 1 } } },
        Dimension: { fields: { dimValue: { type: 'int64', id: 1 }, dimParam: { type: 'string', id: 2 } } },
      },
    },
  },
};

const root = protobuf.Root.fromJSON(ONNX_SCHEMA);
const ModelProto = root.lookupType('onnx.ModelProto');

/** TensorProto.DataType values used here. */
export const ONNX_DTYPE = { FLOAT: 1, INT8: 3, INT64: 7 } as const;
/** AttributeProto.AttributeType values used here. */
const ATTR = { FLOAT: 1, INT: 2, INTS: 7 } as const;

export const ONNX_OPSET = 13;
export const ONNX_INPUT = 'input';
export const ONNX_LOGITS = 'logits';
export const ONNX_PROBABILITIES = 'probabilities';

// ---------------------------------------------------------------------------------------------
// plain-object mirror of the messages (what protobufjs encodes and `decodeOnnx` returns)

export interface OnnxTensor {
  readonly name: string;
  readonly dims: readonly number[];
  readonly dataType: number;
  readonly rawData: Uint8Array;
}
export interface OnnxAttribute {
  readonly name: string;
  readonly type: number;
  readonly i?: number;
  readonly f?: number;
  readonly ints?: readonly number[];
}
export interface OnnxNode {
  readonly name: string;
  readonly opType: string;
  readonly input: readonly string[];
  readonly output: readonly string[];
  readonly attribute?: readonly OnnxAttribute[];
}
export interface OnnxValueInfo {
  readonly name: string;
  readonly type: { readonly tensorType: { readonly elemType: number; readonly shape: { readonly dim: readonly ({ dimValue: number } | { dimParam: string })[] } } };
}
export interface OnnxModel {
  readonly irVersion: number;
  readonly producerName: string;
  readonly docString?: string;
  readonly opsetImport: readonly { readonly domain: string; readonly version: number }[];
  readonly graph: {
    readonly name: string;
    readonly node: readonly OnnxNode[];
    readonly initializer: readonly OnnxTensor[];
    readonly input: readonly OnnxValueInfo[];
    readonly output: readonly OnnxValueInfo[];
  };
}

export interface OnnxExportOptions {
  /** Add the `probabilities` output (Softmax of the logits; default true). */
  readonly probabilities?: boolean;
}

/** The model's bytes decoded back into plain objects (int64 fields as numbers). */
export function decodeOnnx(bytes: Uint8Array): OnnxModel {
  const m = ModelProto.decode(bytes);
  return ModelProto.toObject(m, { longs: Number, defaults: true, arrays: true }) as OnnxModel;
}

// ---------------------------------------------------------------------------------------------
// the builder

/** The largest float32 ≤ v, and the smallest ≥ v (so that float32 comparisons with them equal comparisons with v). */
function f32Down(v: number): number {
  const f = Math.fround(v);
  if (f <= v) return f;
  if (f === 0) return -(2 ** -149);
  // one float32 step toward −∞: a smaller magnitude when positive, a larger one when negative
  const b = Float32Array.of(f);
  new Int32Array(b.buffer)[0] += f > 0 ? -1 : 1;
  return b[0];
}
const f32Up = (v: number): number => -f32Down(-v);

/** How the current activation is laid out: `nchw` (spatial, after the input transpose) or `flat`. */
interface Value {
  readonly name: string;
  readonly nchw: boolean;
}

class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly inits: OnnxTensor[] = [];
  private readonly used = new Set<string>();

  fresh(base: string): string {
    let name = base;
    for (let k = 1; this.used.has(name); k++) name = `${base}_${k}`;
    this.used.add(name);
    return name;
  }

  init(base: string, dims: readonly number[], data: Float32Array | Int8Array | BigInt64Array): string {
    const name = this.fresh(base);
    const dataType = data instanceof Float32Array ? ONNX_DTYPE.FLOAT : data instanceof Int8Array ? ONNX_DTYPE.INT8 : ONNX_DTYPE.INT64;
    // copy: raw data is little-endian, as typed arrays are on every platform Node runs on
    this.inits.push({ name, dims: [...dims], dataType, rawData: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) });
    return name;
  }

  scalar(base: string, v: number): string {
    return this.init(base, [], Float32Array.of(v));
  }

  node(opType: string, input: readonly string[], base: string, attribute: OnnxAttribute[] = [], output?: string): string {
    const out = output ?? this.fresh(`${base}/${opType}`);
    if (output !== undefined) this.used.add(output);
    this.nodes.push({ name: out, opType, input: [...input], output: [out], attribute });
    return out;
  }
}

const ints = (name: string, xs: readonly number[]): OnnxAttribute => ({ name, type: ATTR.INTS, ints: [...xs] });
const int = (name: string, i: number): OnnxAttribute => ({ name, type: ATTR.INT, i });

function quantize(g: GraphBuilder, x: string, act: Act, base: string): string {
  if (act.kind === 'fp') return x;
  const cast = (b: string) => g.node('Cast', [b], base, [int('to', ONNX_DTYPE.FLOAT)]);
  if (act.kind === 'sign') return g.node('Where', [g.node('GreaterOrEqual', [x, g.scalar(`${base}.zero`, 0)], base), g.scalar(`${base}.one`, 1), g.scalar(`${base}.minus_one`, -1)], base);
  const th = act.threshold;
  // x > θ ⟺ x > down(θ); x ≥ θ ⟺ x ≥ up(θ); x < −θ ⟺ x < −down(θ), for float32 x
  const pos =
    act.boundary === 'paper'
      ? g.node('Greater', [x, g.scalar(`${base}.threshold`, f32Down(th))], base)
      : g.node('GreaterOrEqual', [x, g.scalar(`${base}.threshold`, f32Up(th))], base);
  const neg = g.node('Less', [x, g.scalar(`${base}.minus_threshold`, -f32Down(th))], base);
  return g.node('Sub', [cast(pos), cast(neg)], base);
}

/** Per-channel parameter shape: `[c, 1, 1]` against NCHW, `[c]` against `[N, c]`. */
const chanDims = (v: Value, c: number): number[] => (v.nchw ? [c, 1, 1] : [c]);

/** OHWI → OIHW (codes or floats). */
function toOihw<T extends Float32Array | Int8Array>(w: T, [o, kh, kw, c]: readonly [number, number, number, number]): T {
  const out = new (w.constructor as new (n: number) => T)(w.length);
  for (let a = 0; a < o; a++) for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) for (let k = 0; k < c; k++) out[((a * c + k) * kh + i) * kw + j] = w[((a * kh + i) * kw + j) * c + k];
  return out;
}

function weighted(g: GraphBuilder, x: Value, op: WeightedOp): Value {
  const b = op.name;
  const xin = quantize(g, x.name, op.input, b);
  const conv = op.op === 'conv2d';
  const o = op.shape[0];
  const wDims = conv ? [o, op.shape[3], op.shape[1], op.shape[2]] : [...op.shape];
  const attrs = conv
    ? [ints('kernel_shape', [op.shape[1], op.shape[2]]), ints('strides', op.strides), ints('pads', [op.pads[0], op.pads[1], op.pads[0], op.pads[1]])]
    : [int('transB', 1)];
  const product = (w: string, bias: string | null) => g.node(conv ? 'Conv' : 'Gemm', bias === null ? [xin, w] : [xin, w, bias], b, attrs);
  const out: Value = { name: '', nchw: conv };
  const w = op.weights;
  if (w.kind === 'float') {
    const bias = op.bias === null ? null : g.init(`${b}.bias`, [o], op.bias);
    return { ...out, name: product(g.init(`${b}.weight`, wDims, conv ? toOihw(w.w, op.shape) : w.w), bias) };
  }
  const codes = g.node('Cast', [g.init(`${b}.codes`, wDims, conv ? toOihw(w.codes, op.shape) : w.codes)], b, [int('to', ONNX_DTYPE.FLOAT)]);
  const pos = w.kind === 'binary' ? w.scale : w.scalePos;
  const neg = w.kind === 'binary' ? w.scale : w.scaleNeg;
  const symmetric = pos === neg || (pos.length === neg.length && pos.every((v, i) => Object.is(v, neg[i])));
  if (op.input.kind === 'fp') {
    // float activations: the weights dequantized (exactly: w = s·c, or sp·c⁺ − sn·c⁻), one float product
    const wDq = (s: Float32Array) => (s.length === 1 ? [1] : conv ? [o, 1, 1, 1] : [o, 1]);
    const wf = symmetric
      ? g.node('Mul', [codes, g.init(`${b}.scale`, wDq(pos), pos)], b)
      : g.node('Sub', [g.node('Mul', [g.node('Relu', [codes], b), g.init(`${b}.scale_pos`, wDq(pos), pos)], b), g.node('Mul', [g.node('Relu', [g.node('Neg', [codes], b)], b), g.init(`${b}.scale_neg`, wDq(neg), neg)], b)], b);
    return { ...out, name: product(wf, op.bias === null ? null : g.init(`${b}.bias`, [o], op.bias)) };
  }
  // ternary or sign activations: products on the codes (exact integers), then scaled per output channel
  const sDims = (s: Float32Array) => (s.length === 1 ? [1] : chanDims(out, o));
  let y: string;
  if (symmetric) {
    y = g.node('Mul', [product(codes, null), g.init(`${b}.scale`, sDims(pos), pos)], b);
  } else {
    const cp = g.node('Relu', [codes], b);
    const cn = g.node('Relu', [g.node('Neg', [codes], b)], b);
    const yp = g.node('Mul', [product(cp, null), g.init(`${b}.scale_pos`, sDims(pos), pos)], b);
    const yn = g.node('Mul', [product(cn, null), g.init(`${b}.scale_neg`, sDims(neg), neg)], b);
    y = g.node('Sub', [yp, yn], b);
  }
  if (op.bias !== null) y = g.node('Add', [y, g.init(`${b}.bias`, chanDims(out, o), op.bias)], b);
  return { ...out, name: y };
}

function emit(g: GraphBuilder, ops: readonly DeployedOp[], x: Value, shapes: readonly (readonly number[])[]): Value {
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    const b = op.name;
    switch (op.op) {
      case 'conv2d':
      case 'dense':
        x = weighted(g, x, op);
        break;
      case 'affine':
        x = { ...x, name: g.node('Add', [g.node('Mul', [x.name, g.init(`${b}.scale`, chanDims(x, op.scale.length), op.scale)], b), g.init(`${b}.shift`, chanDims(x, op.shift.length), op.shift)], b) };
        break;
      case 'quantize':
        x = { ...x, name: quantize(g, x.name, op.act, b) };
        break;
      case 'relu':
        x = { ...x, name: g.node('Relu', [x.name], b) };
        break;
      case 'prelu':
        x = { ...x, name: g.node('PRelu', [x.name, g.init(`${b}.alpha`, chanDims(x, op.alpha.length), op.alpha)], b) };
        break;
      case 'maxPool':
        x = { ...x, name: g.node('MaxPool', [x.name], b, [ints('kernel_shape', op.size), ints('strides', op.strides)]) };
        break;
      case 'globalAvgPool':
        x = { nchw: false, name: g.node('ReduceMean', [x.name], b, [ints('axes', [2, 3]), int('keepdims', 0)]) };
        break;
      case 'flatten': {
        // sttn flattens NHWC (channels innermost): back to NHWC first
        const nhwc = x.nchw ? g.node('Transpose', [x.name], b, [ints('perm', [0, 2, 3, 1])]) : x.name;
        x = { nchw: false, name: g.node('Flatten', [nhwc], b, [int('axis', 1)]) };
        break;
      }
      case 'residual': {
        const inner = bodyShapes(op.body, shapes[i]);
        const body = emit(g, op.body, x, inner);
        let sc = x;
        if (op.pool !== null) sc = { ...sc, name: g.node('MaxPool', [sc.name], `${b}.shortcut`, [ints('kernel_shape', op.pool), ints('strides', op.pool)]) };
        const cin = shapes[i][shapes[i].length - 1];
        const out = shapes[i + 1];
        const cout = out[out.length - 1];
        if (cout > cin) {
          const rank = out.length + 1;
          const pads = new BigInt64Array(2 * rank);
          pads[rank + (sc.nchw ? 1 : rank - 1)] = BigInt(cout - cin);
          sc = { ...sc, name: g.node('Pad', [sc.name, g.init(`${b}.pads`, [2 * rank], pads)], `${b}.shortcut`) };
        }
        let y = body;
        if (y.nchw !== sc.nchw) y = { nchw: sc.nchw, name: g.node('Transpose', [y.name], b, [ints('perm', sc.nchw ? [0, 3, 1, 2] : [0, 2, 3, 1])]) };
        x = { ...sc, name: g.node('Add', [y.name, sc.name], b) };
        break;
      }
    }
  }
  return x;
}

/** The per-example shapes along a residual body (its chain was checked with the whole model's). */
function bodyShapes(ops: readonly DeployedOp[], inShape: readonly number[]): number[][] {
  const r = chainShapes(ops, inShape);
  if (E.isLeft(r)) throw new ConfigError('onnx', r.left);
  return r.right;
}

const valueInfo = (name: string, dims: readonly (number | string)[]): OnnxValueInfo => ({
  name,
  type: { tensorType: { elemType: ONNX_DTYPE.FLOAT, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
});

/** The ONNX graph of `deployed` as plain objects (what `exportOnnx` encodes). Throws a ConfigError naming the op when the shapes do not chain. */
export function onnxGraph(deployed: DeployedModel, opts: OnnxExportOptions = {}): OnnxModel {
  const shapes = opShapes(deployed);
  if (E.isLeft(shapes)) throw new ConfigError('onnx', shapes.left);
  const g = new GraphBuilder();
  g.fresh(ONNX_INPUT);
  g.fresh(ONNX_LOGITS);
  g.fresh(ONNX_PROBABILITIES);
  let x: Value = { name: ONNX_INPUT, nchw: false };
  if (deployed.inputShape.length === 3) x = { nchw: true, name: g.node('Transpose', [ONNX_INPUT], 'input', [ints('perm', [0, 3, 1, 2])]) };
  const y = emit(g, deployed.ops, x, shapes.right);
  g.node('Identity', [y.name], 'output', [], ONNX_LOGITS);
  const outputs = [valueInfo(ONNX_LOGITS, ['N', deployed.classes])];
  if (opts.probabilities ?? true) {
    g.node('Softmax', [ONNX_LOGITS], 'output', [int('axis', 1)], ONNX_PROBABILITIES);
    outputs.push(valueInfo(ONNX_PROBABILITIES, ['N', deployed.classes]));
  }
  return {
    irVersion: 7,
    producerName: 'sttn',
    docString: `sttn ${deployed.name}: input NHWC float32 in [0, 1]; outputs logits${opts.probabilities ?? true ? ' and probabilities (softmax)' : ''}`,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    graph: { name: deployed.name, node: g.nodes, initializer: g.inits, input: [valueInfo(ONNX_INPUT, ['N', ...deployed.inputShape])], output: outputs },
  };
}

/**
 * `deployed` as ONNX bytes (opset 13): input `input` `[N, ...inputShape]` float32 (NHWC images),
 * outputs `logits` `[N, classes]` and `probabilities` (softmax; left out with `probabilities: false`).
 */
export function exportOnnx(deployed: DeployedModel, opts: OnnxExportOptions = {}): Uint8Array {
  const m = onnxGraph(deployed, opts);
  const err = ModelProto.verify(m);
  if (err !== null) throw new ConfigError('onnx', err);
  return ModelProto.encode(ModelProto.fromObject(m)).finish();
}
