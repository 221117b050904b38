// Numeric comparison for model outputs against references computed in float64 by the tests.
import assert from 'node:assert/strict';

/** Asserts equal length and every element within `tolerance` (absolute, or relative for large values). */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, message = '', tolerance = 1e-5): void {
  assert.equal(actual.length, expected.length, `${message} length`);
  for (let i = 0; i < expected.length; i++) {
    const bound = tolerance * Math.max(1, Math.abs(expected[i]));
    assert.ok(Math.abs(actual[i] - expected[i]) <= bound, `${message} element ${i}: ${actual[i]} vs ${expected[i]}`);
  }
}
