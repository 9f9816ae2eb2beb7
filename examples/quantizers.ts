/**
 * Using sttn's quantizers from another framework (or none): plain `{ shape, data }` tensors in,
 * plain tensors out. Run with `npx tsx examples/quantizers.ts`.
 *
 * Your framework keeps the latent (float) weights and runs the layer; sttn gives it the quantized
 * kernel for the forward pass and the gradient of the latent weights for the backward pass. Copy
 * your weights into a Float32Array (or Float64Array) in row-major order, call `forward`, use the
 * result as the layer's kernel; when your framework hands you dL/d(kernel), call `gradient` and
 * apply the result to the latent weights with your own optimizer.
 *
 * Float32Array in → float32 arithmetic and Float32Array out; Float64Array or a plain number[]
 * in → float64. Configs are plain objects; a misspelt or out-of-range option throws a ConfigError
 * that names it (e.g. `sttn.clip`).
 */
import { sign, steSign, sttn, ternary, ttq, twn } from 'sttn/neutral';
import type { Tensor } from 'sttn';

/** A compact rendering: shape and values to 3 decimals (−0 printed as 0). */
const show = (t: Tensor): string => {
  const vals = Array.from(t.data, (v) => Number(v.toFixed(3)) + 0);
  return t.shape.length === 0 ? String(vals[0]) : `[${vals.join(', ')}]`;
};

// ---- STTN ----------------------------------------------------------------------------------------
// STTN trains two binary kernels W1, W2 of the same shape that share one scale α (Eq. 10):
//   α = (Σ|W1| + Σ|W2|) / (2n),  W̃k = α·sign(Wk).
// At inference they merge into one ternary kernel α·(B1 + B2) with B1 + B2 ∈ {−2, 0, 2} (Eq. 6–7):
// wherever the two signs disagree the weight is 0, so the threshold is learned, not hand-set.

// A 2×3 kernel (2 output channels, 3 inputs), row-major. Two independent initial draws: with
// W1 = W2 every code would be ±2 and no zero could ever appear.
const w1 = { shape: [2, 3], data: Float32Array.from([0.3, -0.6, 0.1, 0.8, -0.2, 0.05]) };
const w2 = { shape: [2, 3], data: Float32Array.from([0.5, 0.2, -0.4, 0.7, -0.9, -0.1]) };

const f = sttn.forward({ w1, w2 }); // default config: one α for the tensor, gradient 'exact', clip 1
console.log('sttn forward (granularity tensor)');
console.log('  alpha  ', show(f.alpha));
console.log('  codes  ', show(f.codes), '  (B1 + B2)');
console.log('  merged ', show(f.merged), '  (the kernel your layer multiplies with)');

// One α per output channel (axis 0), as the released code does for convolution kernels (OHWI).
const perChannel = sttn.forward({ w1, w2 }, { granularity: 'channel' });
console.log('  per-channel alpha', show(perChannel.alpha), ' merged', show(perChannel.merged));

// Backward. In a layer whose kernel is the merged one, both kernels see the same input and their
// outputs add, so dL/dW̃1 = dL/dW̃2 = dL/d(merged): pass your framework's kernel gradient as both.
const g = { shape: [2, 3], data: Float32Array.from([0.1, -0.2, 0.3, 0, 0.5, -0.1]) };
console.log('sttn gradient, upstream g =', show({ shape: g.shape, data: g.data }));
for (const gradient of ['exact', 'paper', 'official'] as const) {
  // exact:    chain rule of Eq. 12 (α term exact + straight-through sign term, window |W| ≤ clip);
  // paper:    Eq. 13 as printed (not a derivative; kept to reproduce the paper's numbers);
  // official: the released code's rule (latent weights clipped to [−1, 1], per-channel by default).
  const d = sttn.gradient({ w1, w2 }, { g1: g, g2: g }, { gradient });
  console.log(`  ${gradient.padEnd(8)} dW1 ${show(d.w1)}  dW2 ${show(d.w2)}`);
}

// ---- sign (BWN / XNOR-Net) -----------------------------------------------------------------------
// Binary weights α·sign(W) with α = mean|W|; sign(0) = +1, so a code is never 0.
const w = { shape: [2, 3], data: Float32Array.from([0.3, -0.6, 0.1, 0.8, -0.2, 1.5]) };
const s = sign.forward({ w });
console.log('sign   alpha', show(s.alpha), ' y', show(s.y));
console.log('       dW exact', show(sign.gradient({ w }, { g }).w), ' dW xnor', show(sign.gradient({ w }, { g }, { gradient: 'xnor' }).w));

// ---- TWN -----------------------------------------------------------------------------------------
// A hard threshold Δ = δ·mean|W| (δ = 0.7): codes are sign(W) where |W| > Δ, else 0.
const t = twn.forward({ w });
console.log('twn    delta', show(t.delta), ' alpha', show(t.alpha), ' codes', show(t.codes));
console.log('       dW ste', show(twn.gradient({ w }, { g }).w), ' dW exact', show(twn.gradient({ w }, { g }, { gradient: 'exact' }).w));

// ---- TTQ -----------------------------------------------------------------------------------------
// Threshold Δ = 0.05·max|W|; two learned scales Wp, Wn (your framework stores and updates them too).
const wp = { shape: [], data: Float32Array.from([1.2]) };
const wn = { shape: [], data: Float32Array.from([0.8]) };
const q = ttq.forward({ w, wp, wn }, { threshold: 0.3 });
const dq = ttq.gradient({ w, wp, wn }, { g }, { threshold: 0.3 });
console.log('ttq    delta', show(q.delta), ' y', show(q.y));
// dWp = Σ_{W>Δ} g and dWn = −Σ_{W<−Δ} g (the minus is the true derivative of −Wn).
console.log('       dW', show(dq.w), ' dWp', show(dq.wp), ' dWn', show(dq.wn));

// ---- activations ---------------------------------------------------------------------------------
// Eq. 14: sign(x) where |x| > θ (θ = 0.5), else 0. The two boundaries differ only at x = ±θ:
// 'paper' sends both to 0; 'official' (the released CUDA kernel) sends +θ to +1 and −θ to 0.
const x = { shape: [6], data: [-1.2, -0.5, -0.1, 0.2, 0.5, 0.9] }; // a plain array: float64
console.log('ternary x       ', show({ shape: x.shape, data: Float64Array.from(x.data) }));
console.log('        paper   ', show(ternary.forward({ x }).y));
console.log('        official', show(ternary.forward({ x }, { boundary: 'official' }).y));
// Both activations pass the gradient straight through inside the window |x| ≤ clip (clip = 1).
const gx = { shape: [6], data: [1, 1, 1, 1, 1, 1] };
console.log('        dX      ', show(ternary.gradient({ x }, { g: gx }).x));
console.log('ste_sign y', show(steSign.forward({ x }).y), ' dX (clip 0.5)', show(steSign.gradient({ x }, { g: gx }, { clip: 0.5 }).x));
