import type { Metric, Repetition } from '../results/schema.js';

/** The figures workloads are judged by, and how each is read off a repetition. */
export const metrics = {
  timePerOp: { name: 'time per operation', unit: 'ns', better: 'lower' },
  throughput: { name: 'throughput', unit: 'B/s', better: 'higher' },
  wallTime: { name: 'wall time', unit: 'ns', better: 'lower' },
} as const satisfies Record<string, Metric>;

export function metricValue(metric: Metric, repetition: Repetition): number {
  switch (metric.name) {
    case metrics.throughput.name:
      return repetition.bytes / (repetition.wallNs / 1e9);
    case metrics.wallTime.name:
      return repetition.wallNs;
    default:
      return repetition.wallNs / Math.max(1, repetition.opCount);
  }
}
