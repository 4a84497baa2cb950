import { decodeHistogram, type LatencyHistogram, mergeHistograms } from '../results/histogram.js';
import type { Measurement } from '../results/schema.js';

/**
 * Latency distributions for the report: every timed operation of a measurement's dominant kind,
 * from the histograms a run records per operation kind and repetition, merged over the timed
 * repetitions. Never rebuilt from a few percentiles; every latency percentile of a report comes
 * from the merged histogram's percentile().
 */

export interface LatencyDistribution {
  /** The operation kind (lstat, pread, ...): the one most operations of the workload are. */
  kind: string;
  /** Every timed operation of that kind, repetitions merged. */
  histogram: LatencyHistogram;
}

/** The operation kind with the most operations over the timed repetitions; null without per-op timing. */
export function dominantKind(measurement: Measurement): string | null {
  const counts = new Map<string, number>();
  for (const repetition of measurement.repetitions.filter((r) => !r.traced))
    for (const [kind, latency] of Object.entries(repetition.ops))
      counts.set(kind, (counts.get(kind) ?? 0) + latency.count);
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]?.[0] ?? null;
}

/**
 * The merged histogram of the dominant kind, or null when a timed repetition has no histogram of
 * it (older result files, drivers that report only percentiles): half a distribution is none.
 */
export function latencyDistribution(measurement: Measurement): LatencyDistribution | null {
  const kind = dominantKind(measurement);
  if (kind === null) return null;
  const timed = measurement.repetitions.filter((repetition) => !repetition.traced);
  const encoded = timed.map((repetition) => repetition.ops[kind]?.histogram ?? null);
  if (encoded.length === 0 || encoded.some((histogram) => histogram === null)) return null;
  const histogram = mergeHistograms(encoded.map((histogram) => decodeHistogram(histogram!)));
  return histogram.count > 0 ? { kind, histogram } : null;
}

export interface LatencyCurve {
  kind: string;
  /** Operations in the distribution. */
  count: number;
  /** Ascending bucket edges with the exact fraction of operations at or below each. */
  points: Array<{ ns: number; fraction: number }>;
}

/** The latency CDF of a measurement, or null when its result file holds no histograms for it. */
export function latencyCurve(measurement: Measurement): LatencyCurve | null {
  const distribution = latencyDistribution(measurement);
  if (!distribution) return null;
  return {
    kind: distribution.kind,
    count: distribution.histogram.count,
    points: distribution.histogram.cdf().map((point) => ({ ns: point.valueNs, fraction: point.fraction })),
  };
}
