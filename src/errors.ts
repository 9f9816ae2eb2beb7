/**
 * Typed errors of sttn.
 *
 * Every error names what is wrong: the field, the shape(s) or the index and value.
 *
 * Law (laws/tensor.test.ts, laws/codec.test.ts; every module's own law file for its inputs): a
 * ShapeError names both shapes, a NonFiniteError the field and the first bad index, a ConfigError
 * the field's path, an OverflowError (laws/neutral.test.ts, laws/quantizers-ternary.test.ts) the
 * quantizer, the quantity and the dtype; no public function lets a NaN or a shape mismatch travel
 * silently.
 */

/** Base class, so callers can catch every sttn error at once. */
export class SttnError extends Error {
  override readonly name: string = 'SttnError';
}

/** Two shapes that had to agree did not; both are named. */
export class ShapeError extends SttnError {
  override readonly name = 'ShapeError';
  constructor(
    readonly what: string,
    readonly expected: readonly number[] | string,
    readonly found: readonly number[],
  ) {
    super(`${what}: expected shape ${fmtShape(expected)}, found [${found.join(', ')}]`);
  }
}

/** A value that must be finite was NaN or ±Infinity. */
export class NonFiniteError extends SttnError {
  override readonly name = 'NonFiniteError';
  constructor(
    readonly field: string,
    readonly index: number,
    readonly value: number,
  ) {
    super(`${field}: non-finite value ${value} at flat index ${index}`);
  }
}

/** A configuration or argument was out of its domain. */
export class ConfigError extends SttnError {
  override readonly name = 'ConfigError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

function fmtShape(s: readonly number[] | string): string {
  return typeof s === 'string' ? s : `[${s.join(', ')}]`;
}

/**
 * A scale, sum or gradient overflowed although every input was finite. Names the quantizer, the
 * quantity and how it was computed, the dtype it overflowed, and the flat index of the first bad
 * value. (Input that is already non-finite is a NonFiniteError instead.)
 */
export class OverflowError extends SttnError {
  override readonly name = 'OverflowError';
  constructor(
    readonly quantizer: string,
    readonly quantity: string,
    readonly dtype: 'float32' | 'float64',
    readonly index: number,
    readonly value: number,
    how: string,
    remedy: string,
  ) {
    super(`${quantizer}: ${quantity} overflows ${dtype}: ${how} = ${value} at flat index ${index} for finite inputs; ${remedy}`);
  }
}
