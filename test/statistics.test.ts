import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { bootstrapRatio, estimate, mannWhitney, percentile } from '../results/statistics.js';

/**
 * results/statistics against reference values from independent implementations (numpy, scipy),
 * produced by test/fixtures/statistics/reference.py and kept in reference.json beside it. The
 * bootstrap references are exact distributions, not resamples: an interval end must fall in the
 * band a 2000-resample estimate reaches with overwhelming probability.
 */

interface Band {
  exact: number;
  low: number;
  high: number;
}

const reference = JSON.parse(
  readFileSync(new URL('../../test/fixtures/statistics/reference.json', import.meta.url), 'utf8'),
) as {
  percentile: Array<{ values: number[]; q: number; expected: number }>;
  mannWhitney: Array<{ a: number[]; b: number[]; method: string; u: number; p: number }>;
  bootstrapMedian: Array<{ name: string; values: number[]; median: number; ciLow: Band; ciHigh: Band }>;
  bootstrapRatio: Array<{ base: number[]; next: number[]; ratio: number; low: Band; high: Band }>;
};

const close = (actual: number, expected: number, relative: number, what: string) =>
  assert.ok(
    Math.abs(actual - expected) <= relative * Math.max(Math.abs(expected), 1e-300),
    `${what}: ${actual}, reference ${expected}`,
  );

const within = (value: number, band: Band, what: string) =>
  assert.ok(
    value >= band.low - 1e-9 && value <= band.high + 1e-9,
    `${what}: ${value} outside [${band.low}, ${band.high}] (exact ${band.exact})`,
  );

describe('statistics against numpy and scipy', () => {
  it('percentile equals numpy.percentile (linear, type 7)', () => {
    assert.ok(reference.percentile.length > 30);
    for (const { values, q, expected } of reference.percentile)
      close(percentile(values, q), expected, 1e-12, `q ${q} of ${values.length} values`);
  });

  it('Mann-Whitney U and its two-sided p equal scipy.stats.mannwhitneyu', () => {
    const methods = new Set(reference.mannWhitney.map((entry) => entry.method));
    assert.deepEqual([...methods].sort(), ['asymptotic', 'exact']);
    for (const { a, b, method, u, p } of reference.mannWhitney) {
      const result = mannWhitney(a, b);
      assert.equal(result.u, u, `U of ${a.length}×${b.length} (${method})`);
      // The exact distribution is exact; the normal tail uses an erf approximation good to 1.5e-7.
      if (method === 'exact') close(result.p, p, 1e-9, `exact p of ${a.length}×${b.length}`);
      else
        assert.ok(
          Math.abs(result.p - p) < 1e-6,
          `asymptotic p of ${a.length}×${b.length}: ${result.p}, scipy ${p}`,
        );
    }
  });

  it('the bootstrap CI of the median lands where the exact bootstrap distribution puts it', () => {
    for (const { name, values, median, ciLow, ciHigh } of reference.bootstrapMedian) {
      const result = estimate(values);
      assert.equal(result.median, median, `${name} median`);
      within(result.ciLow, ciLow, `${name} CI low`);
      within(result.ciHigh, ciHigh, `${name} CI high`);
    }
  });

  it('the bootstrap CI of a ratio of medians lands where the exact distribution puts it', () => {
    for (const { base, next, ratio, low, high } of reference.bootstrapRatio) {
      const result = bootstrapRatio(base, next);
      close(result.ratio, ratio, 1e-12, 'ratio');
      within(result.low, low, 'ratio CI low');
      within(result.high, high, 'ratio CI high');
    }
  });
});
