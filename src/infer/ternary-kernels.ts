/**
 * The contract between the ternary inference engine and its kernels: ternary × ternary products
 * on bit-packed operands (2+2 layers), the whole ternary layer around them, max pooling, and the
 * float layers around them that a deployed network needs fast: the direct convolution of a first
 * layer with few input channels, and a dense layer with resident weights.
 *
 * Packing of a row of K ternary values t ∈ {−1, 0, +1}: K is padded with zeros to a multiple of
 * 64 lanes, and each group of 64 lanes is two 64-bit words stored as four u32 in this order:
 *   [nz_lo, nz_hi, sign_lo, sign_hi]   (interleaved, so loads have constant offsets)
 * where bit j of nz is 1[t_j ≠ 0] and bit j of sign is 1[t_j < 0] (sign is 0 wherever nz is 0).
 * A row therefore takes `wordsPerRow(K) = 4·ceil(K/64)` u32.
 *
 * For rows x and w: with m = nz_x & nz_w and t = m & (sign_x ^ sign_w),
 *   Σ_j x_j·w_j = popcount(m) − 2·popcount(t) = popcount(m ^ t) − popcount(t).
 *
 * A layer (`TernaryKernels.layer`) is a conv2d (NHWC input, OHWI codes) or dense op on ternary
 * activations: element-wise pre ops on the float input (per-channel affines and relus, in the
 * backend's roundings: float32 after every multiply and add), the activation's codes
 * (sign: v ≥ 0 ↦ +1, else −1; ternary: v > θ (paper) or v ≥ θ (official) ↦ +1, v < −θ ↦ −1,
 * else 0), the exact integer products with the codes, then per output channel
 *   y_o = relu?(a_o·Σ x·c + b_o·Σ x·|c| + bias_o)          (the b term only when `b` is given)
 * in float64, rounded once to the output dtype, then optionally max-pooled.
 *
 * Law (laws/ternary-kernels.test.ts): every implementation's `gemm` equals the plain integer
 * dot product exactly, for every K (including K not a multiple of 64) and every row count; every
 * implementation's `layer`, `maxPool`, `floatConv` and `floatDense` equal the reference's bit
 * for bit (the WebAssembly kernels' opt-in `fma` build: its `floatConv` and `floatDense` within
 * the float32 rounding of fused multiply-adds instead), and so do `runInPlace` results and runs
 * that read them in place. laws/engine.test.ts
 * checks both implementations' layers against the float64 evaluation of the same layer.
 */
import { outSize } from '../backend.js';
import { alloc, type Data, type DType } from '../tensor.js';

/** u32 words of one packed row of K ternary values. */
export const wordsPerRow = (k: number): number => 4 * Math.ceil(k / 64);

export interface TernaryKernels {
  readonly name: string;
  /**
   * Whether `maxPool`, `floatConv` and `floatDense` beat a backend's float ops: the engine then
   * gives them a network's max-pools (fused into the layer before where it can), its float
   * convolutions with few input channels and its float dense ops. False for the reference, whose
   * float ops are written for clarity.
   */
  readonly fast: boolean;
  /**
   * Pack `rows` rows of K ternary values (each exactly −1, 0 or +1, row-major in `values`) into
   * `rows · wordsPerRow(K)` u32 (written into `out` when given).
   */
  pack(values: ArrayLike<number>, rows: number, k: number, out?: Uint32Array): Uint32Array;
  /**
   * C[i, j] = Σ_k A[i, k]·W[j, k] over packed rows: `a` holds M packed rows, `w` holds N packed rows
   * (a weight matrix stored [N, K], as a dense or OHWI kernel is). Returns M·N int32, row-major.
   */
  gemm(a: Uint32Array, w: Uint32Array, m: number, n: number, k: number, out?: Int32Array): Int32Array;
  /** A ternary layer compiled once (its packed weights kept by the kernels), run on many batches. */
  layer(spec: TernaryLayerSpec): TernaryLayer;
  /**
   * Max pooling of NHWC `x` (`shape` [n, h, w, c], no padding): each window's first maximum in
   * (ky, kx) order, then with `relu` v > 0 ? v : 0. The output has x's dtype.
   */
  maxPool(x: Data, shape: readonly [number, number, number, number], size: readonly [number, number], strides: readonly [number, number], relu: boolean, out?: Data): Data;
  /**
   * A float32 convolution computed directly, without a patch matrix: for the first layer of an
   * image network (few input channels), where im2col rows of kh·kw·cin values are too short for
   * a GEMM to pay. Each output is, in float32 with a rounding after every operation:
   * acc = 0; acc += x·w over the taps inside the image in (ky, kx, ci) order; acc + bias; then
   * with `relu` v > 0 ? v : 0 (then `pool`, as `maxPool` would). Float32 input and output.
   */
  floatConv(spec: FloatConvSpec): TernaryLayer;
  /**
   * A float32 dense layer with its weights kept by the kernels: y = relu?(x·Wᵀ + bias). Each
   * output is, in float32 with a rounding after every operation: four partial sums, lane l taking
   * the terms k ≡ l (mod 4) in order (the lanes past the last term add +0 once), then
   * (s0 + s2) + (s1 + s3), + bias, then with `relu` v > 0 ? v : 0. Float32 input and output.
   */
  floatDense(spec: FloatDenseSpec): TernaryLayer;
}

export interface FloatDenseSpec {
  /** [o, k] */
  readonly weights: Float32Array;
  readonly o: number;
  readonly k: number;
  /** per output, float32 values */
  readonly bias: ArrayLike<number>;
  readonly relu: boolean;
}

export interface FloatConvSpec {
  /** OHWI [o, kh, kw, cin] */
  readonly weights: Float32Array;
  readonly o: number;
  readonly conv: PatchGeometry;
  /** per output channel, float32 values */
  readonly bias: ArrayLike<number>;
  readonly relu: boolean;
  readonly pool: Pool | null;
}

/** A max pooling applied to a layer's output (as `TernaryKernels.maxPool` with these arguments). */
export interface Pool {
  readonly size: readonly [number, number];
  readonly strides: readonly [number, number];
  readonly relu: boolean;
}

/** An element-wise op before the quantization: x·scale + shift over the last axis, or a relu. */
export type PreOp = { readonly kind: 'affine'; readonly scale: Float32Array; readonly shift: Float32Array } | { readonly kind: 'relu' };

/** The activation whose codes a layer multiplies (Eq. 14, or sign). */
export type CodeAct = { readonly kind: 'sign' } | { readonly kind: 'ternary'; readonly threshold: number; readonly boundary: 'paper' | 'official' };

/** A convolution's input size and geometry (stride, padding), for the patch matrix. */
export interface PatchGeometry {
  readonly h: number;
  readonly w: number;
  readonly cin: number;
  readonly kh: number;
  readonly kw: number;
  readonly sh: number;
  readonly sw: number;
  readonly ph: number;
  readonly pw: number;
}

export interface TernaryLayerSpec {
  /** o rows of k codes: a dense kernel [o, k], or an OHWI kernel (k = kh·kw·cin) */
  readonly codes: Int8Array;
  readonly o: number;
  readonly k: number;
  /** the convolution (input NHWC [n, h, w, cin], output [n, oh, ow, o]); null for a dense op (input [n, k]) */
  readonly conv: PatchGeometry | null;
  readonly pre: readonly PreOp[];
  readonly act: CodeAct;
  /** per output channel: y = a·Σx·c + b·Σx·|c| + bias */
  readonly a: Float64Array;
  readonly b: Float64Array | null;
  readonly bias: Float64Array;
  readonly relu: boolean;
  /** the dtype of the input and of the output (float32: the pre ops round to float32) */
  readonly dtype: DType;
  /** about this many codes of the patch matrix are built at a time (scheduling only, not results) */
  readonly chunkValues: number;
  /** a max pooling of the output (conv only), as `TernaryKernels.maxPool` would apply it */
  readonly pool: Pool | null;
}

export interface TernaryLayer {
  /**
   * The output of a batch of n inputs, of the spec's dtype: written into `out` (whose length
   * must be the output's) and returned, or a fresh array.
   */
  run(x: Data, n: number, out?: Data): Data;
  /**
   * Optional (kernels with memory of their own): the output left where the kernels computed it,
   * as a view that a run of the same kernels taking it as its input reads in place, without a
   * copy. The view is valid until this layer runs again, and only until the kernels' memory
   * grows, which any later call on the same kernels may do (the view is then empty): for an
   * output that the next step reads at once.
   */
  runInPlace?(x: Data, n: number): Data;
}

/** `y` as the result of a run: copied into `out` when given. */
const deliver = (y: Data, out: Data | undefined): Data => {
  if (out === undefined) return y;
  if (out.length !== y.length) throw new RangeError(`out holds ${out.length} values, the output has ${y.length}`);
  out.set(y);
  return out;
};


const popcount32 = (x: number): number => {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
};

function pack(values: ArrayLike<number>, rows: number, k: number, out?: Uint32Array): Uint32Array {
  const wpr = wordsPerRow(k);
  const o = out ?? new Uint32Array(rows * wpr);
  o.fill(0, 0, rows * wpr);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < k; j++) {
      const v = values[r * k + j];
      if (v === 0) continue;
      if (v !== 1 && v !== -1) throw new RangeError(`pack: value ${v} at row ${r}, column ${j} is not ternary`);
      const base = r * wpr + 4 * (j >>> 6);
      const bit = j & 63;
      const half = bit >>> 5;
      o[base + half] |= 1 << (bit & 31);
      if (v < 0) o[base + 2 + half] |= 1 << (bit & 31);
    }
  }
  return o;
}

function gemm(a: Uint32Array, w: Uint32Array, m: number, n: number, k: number, out?: Int32Array): Int32Array {
  const wpr = wordsPerRow(k);
  const c = out ?? new Int32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let q = 0; q < wpr; q += 4) {
        const ai = i * wpr + q;
        const wj = j * wpr + q;
        for (let h = 0; h < 2; h++) {
          const mm = a[ai + h] & w[wj + h];
          const t = mm & (a[ai + 2 + h] ^ w[wj + 2 + h]);
          s += popcount32(mm ^ t) - popcount32(t);
        }
      }
      c[i * n + j] = s;
    }
  }
  return c;
}

/**
 * Codes of the activation of x after the pre ops, one Int8 per element (channel = index along
 * the last axis, C channels). One loop per common case, so that each stays monomorphic.
 */
export function quantizeCodes(x: ArrayLike<number>, C: number, pre: readonly PreOp[], act: CodeAct, f32: boolean, out: Int8Array): Int8Array {
  const n = x.length;
  const th = act.kind === 'ternary' ? act.threshold : 0;
  const mode = act.kind === 'sign' ? 0 : act.boundary === 'paper' ? 1 : 2;
  const code = (v: number): number => (mode === 0 ? (v >= 0 ? 1 : -1) : mode === 1 ? (v > th ? 1 : v < -th ? -1 : 0) : v >= th ? 1 : v < -th ? -1 : 0);
  if (pre.length === 0) {
    if (mode === 0) for (let i = 0; i < n; i++) out[i] = x[i] >= 0 ? 1 : -1;
    else if (mode === 1) for (let i = 0; i < n; i++) out[i] = x[i] > th ? 1 : x[i] < -th ? -1 : 0;
    else for (let i = 0; i < n; i++) out[i] = x[i] >= th ? 1 : x[i] < -th ? -1 : 0;
    return out;
  }
  if (pre.length === 1 && pre[0].kind === 'affine' && f32) {
    const { scale, shift } = pre[0];
    for (let i = 0, c = 0; i < n; i++) {
      out[i] = code(Math.fround(Math.fround(x[i] * scale[c]) + shift[c]));
      if (++c === C) c = 0;
    }
    return out;
  }
  // the general chain: float32 (or float64) roundings after every operation, as the backend's ops
  for (let i = 0, c = 0; i < n; i++) {
    let v = x[i];
    for (const op of pre) {
      if (op.kind === 'relu') v = v > 0 ? v : 0;
      else v = f32 ? Math.fround(Math.fround(v * op.scale[c]) + op.shift[c]) : v * op.scale[c] + op.shift[c];
    }
    out[i] = code(v);
    if (++c === C) c = 0;
  }
  return out;
}

/**
 * The reference layer. im2col runs on codes. When cin is a multiple of 16, it runs on packed
 * words instead: each input pixel's cin codes are packed once (rows of K = cin), and a patch row
 * is assembled from 16- or 32-lane pieces of the packed pixels, bit for bit the row that packing
 * the patch's codes would give (lane j of a row is bit j mod 32 of word 4⌊j/64⌋ + ⌊j/32⌋ mod 2,
 * its sign bit two words later), at 1/8 to 1/16 of the memory traffic. Otherwise the patch rows
 * are built as codes and packed.
 */
function layer(spec: TernaryLayerSpec): TernaryLayer {
  const { o, k, codes: wCodes, act, pre, a: sa, b: sb, bias, relu } = spec;
  const wPacked = pack(wCodes, o, k);
  const wAbsPacked = sb === null ? null : pack(Int8Array.from(wCodes, Math.abs), o, k);
  const wpr = wordsPerRow(k);
  const rowsPerChunk = Math.max(1, Math.floor(spec.chunkValues / Math.max(1, k)));
  const f32 = spec.dtype === 'float32';
  const C = spec.conv === null ? k : spec.conv.cin;
  // scratch, grown on demand and reused across calls
  let q = new Int8Array(0);
  let rows = new Int8Array(0);
  let pixels = new Uint32Array(0);
  const packed = new Uint32Array(rowsPerChunk * wpr);
  const acc = new Int32Array(rowsPerChunk * o);
  const acc2 = sb === null ? null : new Int32Array(rowsPerChunk * o);
  const codesOf = (x: Data): Int8Array => {
    if (q.length < x.length) q = new Int8Array(x.length);
    return quantizeCodes(x, C, pre, act, f32, q.subarray(0, x.length));
  };

  /** y[r0 … r0+count−1, :] from `count` packed rows in `packed`: the products, scaled and biased. */
  const finish = (count: number, r0: number, y: Data) => {
    const c1 = gemm(packed, wPacked, count, o, k, acc);
    const end = count * o;
    const base = r0 * o;
    // flat loops with a channel counter: one pass over the outputs
    if (acc2 === null) {
      if (relu) {
        for (let i = 0, c = 0; i < end; i++) {
          const v = c1[i] * sa[c] + bias[c];
          y[base + i] = v > 0 ? v : 0;
          if (++c === o) c = 0;
        }
      } else {
        for (let i = 0, c = 0; i < end; i++) {
          y[base + i] = c1[i] * sa[c] + bias[c];
          if (++c === o) c = 0;
        }
      }
    } else {
      const c2 = gemm(packed, wAbsPacked!, count, o, k, acc2);
      const b1 = sb!;
      for (let i = 0, c = 0; i < end; i++) {
        const v = c1[i] * sa[c] + c2[i] * b1[c] + bias[c];
        y[base + i] = relu && !(v > 0) ? 0 : v;
        if (++c === o) c = 0;
      }
    }
  };

  const g = spec.conv;
  if (g === null) {
    return {
      run(x, n, out) {
        const codes = codesOf(x);
        const y = alloc(spec.dtype, n * o);
        for (let r0 = 0; r0 < n; r0 += rowsPerChunk) {
          const count = Math.min(rowsPerChunk, n - r0);
          pack(codes.subarray(r0 * k, (r0 + count) * k), count, k, packed);
          finish(count, r0, y);
        }
        return deliver(y, out);
      },
    };
  }

  const { h: H, w: W, cin, kh, kw, sh, sw, ph, pw } = g;
  const oh = outSize(H, kh, sh, ph);
  const ow = outSize(W, kw, sw, pw);
  // lanes per piece of the packed-word im2col (0: build code rows and pack them)
  const piece = cin % 32 === 0 ? 32 : cin % 16 === 0 ? 16 : 0;
  const ppw = wordsPerRow(cin);

  return {
    run(x, n, out) {
      const codes = codesOf(x);
      const M = n * oh * ow;
      const y = alloc(spec.dtype, M * o);
      if (piece > 0) {
        const need = n * H * W * ppw;
        if (pixels.length < need) pixels = new Uint32Array(need);
        pack(codes, n * H * W, cin, pixels);
      } else if (rows.length < rowsPerChunk * k) {
        rows = new Int8Array(rowsPerChunk * k);
      }
      // output pixel (b, oy, ox) of the next row, advanced row by row (no divisions in the loop)
      let ox = 0;
      let oy = 0;
      let b = 0;
      for (let r0 = 0; r0 < M; r0 += rowsPerChunk) {
        const count = Math.min(rowsPerChunk, M - r0);
        if (piece > 0) packed.fill(0, 0, count * wpr);
        let dst = 0;
        for (let r = 0; r < count; r++) {
          for (let ky = 0; ky < kh; ky++) {
            const iy = oy * sh - ph + ky;
            const rowOk = iy >= 0 && iy < H;
            for (let kx = 0; kx < kw; kx++) {
              const ix = ox * sw - pw + kx;
              const inside = rowOk && ix >= 0 && ix < W;
              const pix = (b * H + iy) * W + ix; // meaningful only when inside
              if (piece === 32) {
                // piece j of the pixel: word 4⌊j/2⌋ + j mod 2 (nz), +2 (sign); lane L of the row likewise
                if (inside) {
                  const src = pix * ppw;
                  const lane0 = (ky * kw + kx) * cin;
                  for (let j = 0; j < cin; j += 32) {
                    const sw0 = src + 4 * (j >> 6) + ((j >> 5) & 1);
                    const L = lane0 + j;
                    const dw = dst + 4 * (L >> 6) + ((L >> 5) & 1);
                    packed[dw] = pixels[sw0];
                    packed[dw + 2] = pixels[sw0 + 2];
                  }
                }
              } else if (piece === 16) {
                if (inside) {
                  const src = pix * ppw;
                  const lane0 = (ky * kw + kx) * cin;
                  for (let j = 0; j < cin; j += 16) {
                    const sw0 = src + 4 * (j >> 6) + ((j >> 5) & 1);
                    const sShift = j & 31;
                    const L = lane0 + j;
                    const dw = dst + 4 * (L >> 6) + ((L >> 5) & 1);
                    const dShift = L & 31;
                    packed[dw] |= ((pixels[sw0] >>> sShift) & 0xffff) << dShift;
                    packed[dw + 2] |= ((pixels[sw0 + 2] >>> sShift) & 0xffff) << dShift;
                  }
                }
              } else {
                const d0 = r * k + (ky * kw + kx) * cin;
                if (inside) for (let c = 0, src = pix * cin; c < cin; c++) rows[d0 + c] = codes[src + c];
                else rows.fill(0, d0, d0 + cin);
              }
            }
          }
          dst += wpr;
          if (++ox === ow) {
            ox = 0;
            if (++oy === oh) {
              oy = 0;
              b++;
            }
          }
        }
        if (piece === 0) pack(rows.subarray(0, count * k), count, k, packed);
        finish(count, r0, y);
      }
      const p = spec.pool;
      return p === null ? deliver(y, out) : maxPool(y, [n, oh, ow, o], p.size, p.strides, p.relu, out);
    },
  };
}

function maxPool(x: Data, shape: readonly [number, number, number, number], size: readonly [number, number], strides: readonly [number, number], relu: boolean, out?: Data): Data {
  const [n, h, w, c] = shape;
  const [kh, kw] = size;
  const [sh, sw] = strides;
  const oh = outSize(h, kh, sh, 0);
  const ow = outSize(w, kw, sw, 0);
  const len = n * oh * ow * c;
  if (out !== undefined && out.length !== len) throw new RangeError(`maxPool: out holds ${out.length} values, the output has ${len}`);
  const y = out ?? (x instanceof Float64Array ? new Float64Array(len) : new Float32Array(len));
  let q = 0;
  for (let b = 0; b < n; b++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++) {
        const corner = ((b * h + oy * sh) * w + ox * sw) * c;
        for (let ch = 0; ch < c; ch++) {
          let best = x[corner + ch];
          for (let ky = 0; ky < kh; ky++)
            for (let kx = 0; kx < kw; kx++) {
              const v = x[corner + (ky * w + kx) * c + ch];
              if (v > best) best = v;
            }
          y[q++] = relu ? (best > 0 ? best : 0) : best;
        }
      }
  return y;
}

function floatConv(spec: FloatConvSpec): TernaryLayer {
  const { weights: wt, o, relu } = spec;
  const { h, w, cin, kh, kw, sh, sw, ph, pw } = spec.conv;
  const oh = outSize(h, kh, sh, ph);
  const ow = outSize(w, kw, sw, pw);
  const bias = Float32Array.from(spec.bias);
  return {
    run(x, n, out) {
      const y = new Float32Array(n * oh * ow * o);
      let q = 0;
      for (let b = 0; b < n; b++)
        for (let oy = 0; oy < oh; oy++)
          for (let ox = 0; ox < ow; ox++)
            for (let c = 0; c < o; c++) {
              let acc = 0;
              for (let ky = 0; ky < kh; ky++) {
                const iy = oy * sh - ph + ky;
                if (iy < 0 || iy >= h) continue;
                for (let kx = 0; kx < kw; kx++) {
                  const ix = ox * sw - pw + kx;
                  if (ix < 0 || ix >= w) continue;
                  const xp = ((b * h + iy) * w + ix) * cin;
                  const wp = ((c * kh + ky) * kw + kx) * cin;
                  for (let ci = 0; ci < cin; ci++) acc = Math.fround(acc + Math.fround(x[xp + ci] * wt[wp + ci]));
                }
              }
              const v = Math.fround(acc + bias[c]);
              y[q++] = relu && !(v > 0) ? 0 : v;
            }
      const p = spec.pool;
      return p === null ? deliver(y, out) : maxPool(y, [n, oh, ow, o], p.size, p.strides, p.relu, out);
    },
  };
}

function floatDense(spec: FloatDenseSpec): TernaryLayer {
  const { weights: wt, o, k, relu } = spec;
  const bias = Float32Array.from(spec.bias);
  const k4 = k - (k % 4);
  const s = new Float64Array(4);
  return {
    run(x, n, out) {
      const y = new Float32Array(n * o);
      for (let i = 0; i < n; i++)
        for (let j = 0; j < o; j++) {
          s.fill(0);
          const xr = i * k;
          const wr = j * k;
          for (let q = 0; q < k4; q++) s[q & 3] = Math.fround(s[q & 3] + Math.fround(x[xr + q] * wt[wr + q]));
          if (k4 < k) for (let l = 0; l < 4; l++) s[l] = Math.fround(s[l] + (k4 + l < k ? Math.fround(x[xr + k4 + l] * wt[wr + k4 + l]) : 0));
          const v = Math.fround(Math.fround(Math.fround(s[0] + s[2]) + Math.fround(s[1] + s[3])) + bias[j]);
          y[i * o + j] = relu && !(v > 0) ? 0 : v;
        }
      return deliver(y, out);
    },
  };
}

/** The readable reference implementation in plain TypeScript (what the wasm kernels are checked against). */
export const referenceTernaryKernels: TernaryKernels = { name: 'reference', fast: false, pack, gemm, layer, maxPool, floatConv, floatDense };
