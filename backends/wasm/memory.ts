/**
 * Growing the wasm backend's linear memory (backends/wasm.ts, ./quantize.ts): the one place that
 * turns the engine's bare RangeError (past the memory's maximum, 2 GiB shared or 4 GiB unshared,
 * or no address space left) into a ConfigError naming the bytes the call needs, what a resident
 * scope keeps below it and the `residentBytes` budget.
 *
 * Law (laws/resident.test.ts): a call too large for wasm memory, in or out of a resident scope,
 * on the shared or the unshared build, is that ConfigError, and the backend goes on.
 */
import { ConfigError } from '../../src/errors.js';

/** Bytes of a wasm page. */
export const PAGE = 65536;

/** What a failed growth names: the bytes a resident scope keeps, and its budget (undefined: copying mode). */
export interface GrowContext {
  readonly kept: number;
  readonly residentBytes: number | undefined;
}

/** Grows `memory` to hold `bytes` (no-op when it does). */
export function growTo(memory: WebAssembly.Memory, bytes: number, ctx: GrowContext): void {
  const have = memory.buffer.byteLength;
  if (bytes <= have) return;
  try {
    memory.grow(Math.ceil((bytes - have) / PAGE));
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    const budget = ctx.residentBytes === undefined ? 'off (copying mode)' : `${ctx.residentBytes}`;
    throw new ConfigError(
      'wasm memory',
      `this call needs ${bytes} bytes of linear memory (its output, operands and work area, above ${ctx.kept} bytes kept by a resident scope), ` +
        `the memory has ${have} and cannot grow to it (${e.message}); residentBytes ${budget}. Use smaller batches or tensors, or a smaller residentBytes`,
    );
  }
}
