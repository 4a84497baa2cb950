import { mean, medianAbsoluteDeviation, sampleStandardDeviation } from 'simple-statistics';
import { SeededRandom } from '../lib/random.js';
import type { Estimate } from './schema.js';

/**
 * The one statistics module of fusebench: the measurement engine and every report use these
 * functions and no others, so a percentile or an interval means the same thing everywhere.
 *
 * - percentile: linear interpolation between closest ranks (Hyndman & Fan 1996, type 7; what
 *   numpy and R use by default). simple-statistics' quantile uses another rule, so this one is
 *   ours; mean, standard deviation and MAD come from simple-statistics.
 * - Confidence intervals: percentile bootstrap (Efron & Tibshirani 1993, ch. 13) with a fixed
 *   seed, so the same samples always give the same interval.
 * - Outliers: modified z-score |0.6745 (x - median) / MAD| > 3.5 (Iglewicz & Hoaglin 1993).
 * - mannWhitney: two-sided Mann-Whitney U; exact null distribution for small samples without
 *   ties, normal approximation with tie correction and continuity correction otherwise.
 */

const BOOTSTRAP_RESAMPLES = 2000;
const OUTLIER_Z = 3.5;

function sorted(values: readonly number[]): Float64Array {
  return Float64Array.from(values).sort();
}

/** The q-quantile (0 ≤ q ≤ 1) of `values`, type 7. */
export function percentile(values: readonly number[], q: number): number {
  return percentiles(values, [q])[0]!;
}

/** Several q-quantiles of `values` (type 7, as percentile()), from one sorted copy. */
export function percentiles(values: readonly number[], qs: readonly number[]): number[] {
  if (values.length === 0) throw new RangeError('percentile of no values');
  for (const q of qs)
    if (!(q >= 0 && q <= 1)) throw new RangeError(`percentile: q must be in [0, 1], got ${q}`);
  const data = sorted(values);
  return qs.map((q) => quantileSorted(data, q));
}

function quantileSorted(data: ArrayLike<number>, q: number): number {
  const position = (data.length - 1) * q;
  const lower = Math.floor(position);
  const upper = Math.ceil(position);
  return data[lower]! + (data[upper]! - data[lower]!) * (position - lower);
}

/** Indexes of values whose modified z-score exceeds 3.5. */
export function outlierIndexes(values: readonly number[]): number[] {
  if (values.length < 3) return [];
  const median = percentile(values, 0.5);
  const mad = medianAbsoluteDeviation([...values]);
  if (mad === 0) return [];
  return values.flatMap((value, index) =>
    Math.abs((0.6745 * (value - median)) / mad) > OUTLIER_Z ? [index] : [],
  );
}

/** Bootstrap distribution of the median of resamples of `values`. */
function bootstrapMedians(values: readonly number[], random: SeededRandom): Float64Array {
  const medians = new Float64Array(BOOTSTRAP_RESAMPLES);
  const sample = new Float64Array(values.length);
  for (let resample = 0; resample < BOOTSTRAP_RESAMPLES; resample++) {
    for (let index = 0; index < values.length; index++)
      sample[index] = values[Math.floor(random.next() * values.length)]!;
    medians[resample] = quantileSorted(sample.sort(), 0.5);
  }
  return medians.sort();
}

export function estimate(values: readonly number[]): Estimate {
  if (values.length === 0) {
    return { n: 0, median: 0, ciLow: 0, ciHigh: 0, mean: 0, stddev: 0, cv: 0, min: 0, max: 0, outliers: [] };
  }
  const data = sorted(values);
  const median = quantileSorted(data, 0.5);
  const average = mean([...values]);
  const stddev = values.length > 1 ? sampleStandardDeviation([...values]) : 0;
  const medians = bootstrapMedians(values, new SeededRandom('fusebench:estimate'));
  return {
    n: values.length,
    median,
    ciLow: quantileSorted(medians, 0.025),
    ciHigh: quantileSorted(medians, 0.975),
    mean: average,
    stddev,
    cv: average === 0 ? 0 : stddev / Math.abs(average),
    min: data[0]!,
    max: data[data.length - 1]!,
    outliers: outlierIndexes(values),
  };
}

/** Ratio of medians next / base, with a bootstrap 95% interval from resampling both sides. */
export function bootstrapRatio(
  base: readonly number[],
  next: readonly number[],
): { ratio: number; low: number; high: number } {
  if (base.length === 0 || next.length === 0)
    throw new RangeError('bootstrapRatio needs samples on both sides');
  const random = new SeededRandom('fusebench:ratio');
  const baseMedians = bootstrapMedians(base, random);
  const nextMedians = bootstrapMedians(next, random);
  const ratios = new Float64Array(BOOTSTRAP_RESAMPLES);
  // Pair resamples in a shuffled order: independent draws from the two bootstrap distributions.
  const order = random.shuffled(Array.from({ length: BOOTSTRAP_RESAMPLES }, (_, index) => index));
  for (let index = 0; index < BOOTSTRAP_RESAMPLES; index++)
    ratios[index] = nextMedians[order[index]!]! / baseMedians[index]!;
  ratios.sort();
  return {
    ratio: percentile(next, 0.5) / percentile(base, 0.5),
    low: quantileSorted(ratios, 0.025),
    high: quantileSorted(ratios, 0.975),
  };
}

/** Ranks of the pooled samples, ties sharing their average rank; also the tie-correction term Σ(t³ - t). */
function rank(pooled: readonly number[]): { ranks: number[]; tieTerm: number } {
  const order = pooled.map((value, index) => ({ value, index })).sort((a, b) => a.value - b.value);
  const ranks = new Array<number>(pooled.length);
  let tieTerm = 0;
  for (let start = 0; start < order.length; ) {
    let end = start;
    while (end + 1 < order.length && order[end + 1]!.value === order[start]!.value) end++;
    const shared = (start + end) / 2 + 1;
    for (let index = start; index <= end; index++) ranks[order[index]!.index] = shared;
    const ties = end - start + 1;
    tieTerm += ties ** 3 - ties;
    start = end + 1;
  }
  return { ranks, tieTerm };
}

/** Number of ways to reach each U with m and n items (exact null distribution, no ties). */
function exactUDistribution(m: number, n: number): number[] {
  // counts[i][j][u]: arrangements of i items of the first sample and j of the second with statistic u.
  let previous: number[][] = Array.from({ length: n + 1 }, () => [1]);
  for (let i = 1; i <= m; i++) {
    const current: number[][] = [[1]];
    for (let j = 1; j <= n; j++) {
      const size = i * j + 1;
      const counts = new Array<number>(size).fill(0);
      // The largest item belongs to the first sample (adds j to U) or to the second (adds nothing).
      previous[j]!.forEach((count, u) => {
        counts[u + j] = (counts[u + j] ?? 0) + count;
      });
      current[j - 1]!.forEach((count, u) => {
        counts[u] = (counts[u] ?? 0) + count;
      });
      current.push(counts);
    }
    previous = current;
  }
  return previous[n]!;
}

function normalCdf(z: number): number {
  // Abramowitz & Stegun 7.1.26 for erf, |error| < 1.5e-7.
  const t = 1 / (1 + 0.3275911 * (Math.abs(z) / Math.SQRT2));
  const poly =
    t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-(z * z) / 2);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

const EXACT_LIMIT = 20;

export function mannWhitney(a: readonly number[], b: readonly number[]): { u: number; p: number } {
  const m = a.length;
  const n = b.length;
  if (m === 0 || n === 0) throw new RangeError('mannWhitney needs samples on both sides');
  const { ranks, tieTerm } = rank([...a, ...b]);
  const rankSumA = ranks.slice(0, m).reduce((sum, value) => sum + value, 0);
  const uA = rankSumA - (m * (m + 1)) / 2;
  const u = Math.min(uA, m * n - uA);
  if (tieTerm === 0 && m <= EXACT_LIMIT && n <= EXACT_LIMIT) {
    const counts = exactUDistribution(m, n);
    const total = counts.reduce((sum, count) => sum + count, 0);
    let tail = 0;
    for (let value = 0; value <= u; value++) tail += counts[value] ?? 0;
    return { u, p: Math.min(1, (2 * tail) / total) };
  }
  const meanU = (m * n) / 2;
  const variance = ((m * n) / 12) * (m + n + 1 - tieTerm / ((m + n) * (m + n - 1)));
  if (variance === 0) return { u, p: 1 };
  const z = (Math.abs(uA - meanU) - 0.5) / Math.sqrt(variance);
  return { u, p: Math.min(1, 2 * (1 - normalCdf(Math.max(0, z)))) };
}

/**
 * Benjamini–Hochberg adjusted p-values (q-values), in the order given: rejecting every hypothesis
 * with q ≤ α keeps the expected share of false discoveries among the rejections at most α
 * (Benjamini & Hochberg 1995, for independent or positively dependent tests). The same values as
 * R's p.adjust(p, "BH") and scipy.stats.false_discovery_control.
 */
export function benjaminiHochberg(pValues: readonly number[]): number[] {
  const m = pValues.length;
  const order = pValues.map((p, index) => ({ p, index })).sort((a, b) => a.p - b.p);
  const adjusted = new Array<number>(m);
  let running = 1;
  for (let rank = m; rank >= 1; rank--) {
    const { p, index } = order[rank - 1]!;
    running = Math.min(running, (p * m) / rank);
    adjusted[index] = running;
  }
  return adjusted;
}

/** The smallest two-sided p-value the exact Mann–Whitney test can give for samples of m and n. */
export function smallestMannWhitneyP(m: number, n: number): number {
  // Both extreme orderings out of C(m+n, m) equally likely ones.
  let arrangements = 1;
  for (let k = 1; k <= m; k++) arrangements = (arrangements * (n + k)) / k;
  return Math.min(1, 2 / arrangements);
}
