/**
 * Backend agreement: every Backend primitive of every candidate backend (laws/backends.ts) gives
 * the cpu float64 reference's result within a tolerance derived from the backend's `precision`,
 * and rejects bad shapes with the same ShapeError as the reference.
 *
 * Tolerances, with u = `backend.precision` (the unit roundoff, 2⁻²⁴ for float32):
 * - Inputs are drawn float32-representable (`fc.float` draws only float32 values), so converting
 *   them to a float32 backend is exact and every comparison against a threshold gives the same
 *   answer in both precisions. Selections (abs, neg, sign, relu, max, min, clamp, comparisons,
 *   ternarize, select, maxPool) must therefore agree exactly.
 * - One rounded arithmetic operation (add, mul, div, sqrt, x², …) is within u·|y|; we allow 4u to
 *   leave room for an engine that rounds twice (e.g. 1/√x as two operations), and 8u for exp and
 *   log, whose float32 implementations on a GPU are only promised to a few ulps and only backward
 *   stable: exp gets 8u·(1 + |x|)·|y| (|x| is exp's condition number), log 8u·(|y| + 1) (its
 *   output can be near 0 while its input is exact).
 * - Results below float32's smallest normal may be rounded as subnormals or flushed to zero, so
 *   every inexact comparison also allows 2⁻¹²⁶ absolutely; a sum of K products (K+1)·2⁻¹²⁶, since
 *   a GPU that flushes subnormals (WebGL on SwiftShader, in the browser law) flushes each product.
 * - A sum of K rounded terms in any order (recursive, blocked, tree, with or without FMA) is
 *   within γ(K+1)·Σ|terms| ≤ (K+1)·u/(1−(K+1)u)·Σ|terms|, the classical bound. We check
 *   2·(K+1)·u·Σ|terms| + 2u·|y|: the factor 2 covers the final rounding of the output, a fused
 *   multiply-add (which only removes roundings) and cpu64's own error (2⁻⁵³ per term). Σ|terms|
 *   is computed exactly as the reference op applied to |inputs| (|A|·|B| for matmul, and so on),
 *   so the bound is per element, not a loose global one; a wrong or missing term is ~1/K of it.
 *
 * Each law runs once per backend, the backend named in the test. Tensors above SEEDED_ABOVE
 * elements are filled from a drawn seed so that a failing matmul shrinks in seconds.
 *
 * The laws themselves (arbitraries, tolerances, predicates) are data in laws/backend-agreement.ts,
 * so that laws/agreement-page.ts runs the same ones in a browser page (gpu.js WebGL2,
 * laws/browser-page.test.ts).
 */
import type fc from 'fast-check';
import type { Backend } from '../src/backend.js';
import { ConfigError } from '../src/errors.js';
import { cpu64 } from '../backends/cpu.js';
import { agreementLaws } from './backend-agreement.js';
import { loadAll } from './backends.js';
import { example, law } from './law.js';

const backends: Backend[] = await loadAll();

// The wasm backend ships three builds and picks one at run time: the threaded plain build on a
// shared memory (the default where there is one, for its resident mode), the unshared plain build
// (`resident: false`, and every page without cross-origin isolation) and relaxed-SIMD FMA; prove
// the others too, so all stay covered whichever one `loadAll()` got.
{
  const wasm = backends.find((b) => b.name === 'wasm') as (Backend & { kernel?: string }) | undefined;
  if (wasm) {
    const { createWasmBackend } = await import('../backends/wasm.js');
    if (wasm.resident !== undefined) backends.push(await createWasmBackend({ resident: false }));
    const other = wasm.kernel === 'relaxed' ? 'plain' : 'relaxed';
    try {
      backends.push(await createWasmBackend({ kernel: other }));
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      console.log(`# wasm ${other} build not checked: ${e.message}`);
    }
  }
}

const label = (b: Backend): string => {
  const k = (b as { kernel?: unknown }).kernel;
  return typeof k === 'string' ? `${b.name}(${k}${b.resident !== undefined ? ', shared' : ''})` : b.name;
};

for (const l of agreementLaws(cpu64)) {
  for (const b of backends) {
    const p = l.predicate as (b: Backend, ...args: unknown[]) => boolean;
    if (l.arbs.length === 0) example(`${label(b)}: ${l.name}`, () => p(b));
    else law(`${label(b)}: ${l.name}`, l.arbs as [fc.Arbitrary<unknown>], (...args: [unknown]) => p(b, ...args), { numRuns: l.numRuns });
  }
}
