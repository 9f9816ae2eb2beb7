/**
 * Shared machinery of the gradient laws: central finite differences of a function of a parameter
 * record, the term checks every quantizer's VJP is held to, and arbitraries that draw tensors
 * away from thresholds and sign flips.
 *
 * Claims checked (see src/quantizers/common.ts):
 * - the `exact` terms together equal the finite differences of the forward (when a variant has any);
 * - each `straight-through` term equals the finite differences of its surrogate.
 * A central difference of a function that is linear in each coordinate between kinks is exact up to
 * rounding, ≈ ε·|f|/h; with h = 1e-6 in float64 that is ~1e-9, so the default tolerance
 * 1e-6 relative + 1e-7 absolute has three orders of margin and still catches any wrong factor.
 */
import fc from 'fast-check';
import type { Backend } from '../src/backend.js';
import type { Params, Term } from '../src/quantizers/common.js';
import { tensor, type Tensor } from '../src/tensor.js';

export const H = 1e-6;

/** Σ_k ⟨g_k, f_k⟩ */
const pairing = (fs: readonly Tensor[], gs: readonly Tensor[]): number => {
  let s = 0;
  fs.forEach((f, k) => {
    const g = gs[k].data;
    for (let i = 0; i < f.data.length; i++) s += f.data[i] * g[i];
  });
  return s;
};

/** The central-difference VJP of `f` at `p` against upstream `gs`, one tensor per parameter. */
export function numericVjp<P extends Params>(f: (p: P) => readonly Tensor[], p: P, gs: readonly Tensor[], h = H): P {
  const out: Record<string, Tensor> = {};
  for (const key of Object.keys(p)) {
    const base = p[key];
    const d = new Float64Array(base.data.length);
    for (let i = 0; i < d.length; i++) {
      const plus = base.data.slice();
      const minus = base.data.slice();
      plus[i] += h;
      minus[i] -= h;
      const fp = pairing(f({ ...p, [key]: { shape: base.shape, data: plus } }), gs);
      const fm = pairing(f({ ...p, [key]: { shape: base.shape, data: minus } }), gs);
      d[i] = (fp - fm) / (2 * h);
    }
    out[key] = { shape: base.shape, data: d };
  }
  return out as P;
}

/** Every tensor of `a` within `atol + rtol·|b|` of `b` (same keys). Logs the worst entry on failure. */
export function gradsClose<P extends Params>(a: P, b: P, rtol = 1e-6, atol = 1e-7, label = ''): boolean {
  for (const key of Object.keys(b)) {
    const x = a[key].data;
    const y = b[key].data;
    if (x.length !== y.length) return false;
    for (let i = 0; i < y.length; i++) {
      if (!(Math.abs(x[i] - y[i]) <= atol + rtol * Math.abs(y[i]))) {
        console.log(`# ${label} ${key}[${i}]: got ${x[i]}, want ${y[i]}`);
        return false;
      }
    }
  }
  return true;
}

/** Sum of the terms of one claim kind (zeros when there is none). */
export function sumOfKind<P extends Params, O extends readonly Tensor[]>(B: Backend, p: P, terms: readonly Term<P, O>[], kind: 'exact' | 'straight-through'): P {
  const out: Record<string, Tensor> = {};
  for (const key of Object.keys(p)) {
    let acc = B.scalar('mul', p[key], 0);
    for (const t of terms) if (t.claim.kind === kind) acc = B.binary('add', acc, t.grad[key]);
    out[key] = acc;
  }
  return out as P;
}

/**
 * The two claims of a VJP: Σ exact terms = FD of the forward; each straight-through term = FD of
 * its surrogate.
 */
export function termsHoldClaims<P extends Params, O extends readonly Tensor[]>(
  B: Backend,
  p: P,
  forward: (p: P) => O,
  terms: readonly Term<P, O>[],
  gs: O,
  label: string,
): boolean {
  // A variant with no exact term (e.g. STTN `official`, TWN `ste`) replaces the whole derivative by
  // surrogates and makes no claim about the forward's own derivative.
  if (terms.some((t) => t.claim.kind === 'exact')) {
    const exact = sumOfKind(B, p, terms, 'exact');
    if (!gradsClose(exact, numericVjp(forward, p, gs), 1e-6, 1e-7, `${label} exact`)) return false;
  }
  for (const t of terms) {
    if (t.claim.kind !== 'straight-through') continue;
    if (!t.surrogate) return false;
    if (!gradsClose(t.grad, numericVjp(t.surrogate, p, gs), 1e-6, 1e-7, `${label} ${t.name}`)) return false;
  }
  return true;
}

/** backward(a·g + b·h) = a·backward(g) + b·backward(h), to rounding. */
export function isLinear<P extends Params>(B: Backend, vjp: (gs: readonly Tensor[]) => P, g: readonly Tensor[], h: readonly Tensor[], a: number, b: number): boolean {
  const mix = g.map((gi, k) => B.axpy(B.scalar('mul', gi, a), b, h[k]));
  const lhs = vjp(mix);
  const vg = vjp(g);
  const vh = vjp(h);
  const rhs: Record<string, Tensor> = {};
  for (const key of Object.keys(vg)) rhs[key] = B.axpy(B.scalar('mul', vg[key], a), b, vh[key]);
  // The scale of the quantities involved bounds the rounding of both sides.
  let scale = 1;
  for (const key of Object.keys(vg)) for (const v of [...vg[key].data, ...vh[key].data]) scale = Math.max(scale, Math.abs(v) * (Math.abs(a) + Math.abs(b)));
  return gradsClose(lhs, rhs as P, 0, 1e-12 * scale, 'linearity');
}

/** A float64 element in ±[lo, hi] kept at least `margin` away from each value of `avoid` (in |x|). */
export function element(lo: number, hi: number, avoid: readonly number[] = [], margin = 0.02): fc.Arbitrary<number> {
  return fc
    .double({ min: lo, max: hi, noNaN: true, noDefaultInfinity: true })
    .chain((m) => fc.boolean().map((neg) => (neg ? -m : m)))
    .filter((x) => avoid.every((a) => Math.abs(Math.abs(x) - a) > margin));
}

/** A shape of rank 2..4 whose axis 0 is 1..3 (channels) and total size ≤ `maxSize`. */
export const kernelShape = (maxSize = 24): fc.Arbitrary<number[]> =>
  fc
    .tuple(fc.integer({ min: 1, max: 3 }), fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }))
    .map(([c, rest]) => [c, ...rest])
    .filter((s) => s.reduce((a, b) => a * b, 1) <= maxSize);

/** A float64 tensor of `shape` drawn from `elem`. */
export const tensorOf = (shape: readonly number[], elem: fc.Arbitrary<number>): fc.Arbitrary<Tensor> =>
  fc
    .array(elem, { minLength: shape.reduce((a, b) => a * b, 1), maxLength: shape.reduce((a, b) => a * b, 1) })
    .map((xs) => tensor(shape, Float64Array.from(xs)));

/** An upstream gradient element: any moderate value, zero allowed. */
export const gradElement = fc.double({ min: -3, max: 3, noNaN: true, noDefaultInfinity: true });

export const granularity = fc.constantFrom<'tensor' | 'channel'>('tensor', 'channel');
export const clip = fc.constantFrom<number | null>(1, 0.5, 2, null);
