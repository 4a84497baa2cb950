import type { Measurement, Metric, Repetition, Summary } from '../results/schema.js';
import { estimate, percentile } from '../results/statistics.js';
import { metricValue } from '../workloads/metrics.js';

/**
 * From repetitions to the figures a measurement is judged by. Timing estimates use only the
 * untraced repetitions; FUSE request counts come from the traced one.
 */

/** Coefficient of variation above which a measurement is flagged as noisy. */
export const HIGH_CV = 0.1;
/** A figure within this factor of the floor is mostly the driver's own cost. */
export const FLOOR_FACTOR = 2;

const median = (values: number[]) => (values.length > 0 ? percentile(values, 0.5) : 0);

export function summarize(metric: Metric, repetitions: readonly Repetition[]): Summary {
  const timed = repetitions.filter((repetition) => !repetition.traced);
  const traced = repetitions.filter((repetition) => repetition.traced);
  const perOp = (select: (repetition: Repetition) => number | null, from = timed): number | null => {
    const values = from
      .map((repetition) => select(repetition))
      .filter((value): value is number => value !== null);
    return values.length > 0 ? median(values) : null;
  };
  const ops = (repetition: Repetition) => Math.max(1, repetition.opCount);
  const fuseRequests = (repetition: Repetition) =>
    repetition.fuse === null
      ? null
      : Object.values(repetition.fuse).reduce((sum, opcode) => sum + opcode.count, 0) / ops(repetition);
  return {
    metric,
    value: estimate(timed.map((repetition) => metricValue(metric, repetition))),
    perOp: {
      clientCpuNs: perOp((r) => r.client.cpuNs / ops(r)) ?? 0,
      clientCtxSwitches:
        perOp((r) => (r.client.voluntaryCtxSwitches + r.client.involuntaryCtxSwitches) / ops(r)) ?? 0,
      daemonCpuNs: perOp((r) => (r.daemon ? r.daemon.cpuNs / ops(r) : null)),
      daemonCtxSwitches: perOp((r) =>
        r.daemon ? (r.daemon.voluntaryCtxSwitches + r.daemon.involuntaryCtxSwitches) / ops(r) : null,
      ),
      systemCtxSwitches: perOp((r) => r.system.ctxSwitches / ops(r)) ?? 0,
      fuseRequests: perOp(fuseRequests, traced),
    },
    throughput: {
      opsPerSec: perOp((r) => r.opCount / (r.wallNs / 1e9)) ?? 0,
      bytesPerSec: perOp((r) => r.bytes / (r.wallNs / 1e9)) ?? 0,
    },
  };
}

/** What a reader should be told about a measurement before trusting its figures. */
export function measurementWarnings(
  measurement: Omit<Measurement, 'warnings'>,
  floor: Measurement | undefined,
  traceOverruns: number,
): string[] {
  const warnings: string[] = [];
  const { value, metric } = measurement.summary;
  if (value.cv > HIGH_CV)
    warnings.push(`high variation: CV ${(value.cv * 100).toFixed(1)}% over ${value.n} repetitions`);
  if (value.outliers.length > 0) warnings.push(`outlier repetitions: ${value.outliers.join(', ')}`);
  const failed = measurement.repetitions.reduce(
    (sum, repetition) => sum + Object.values(repetition.errors).reduce((a, b) => a + b, 0),
    0,
  );
  if (failed > 0) warnings.push(`${failed} operations failed unexpectedly`);
  const exited = measurement.repetitions.reduce(
    (sum, repetition) => sum + (repetition.daemon?.threadsExited ?? 0),
    0,
  );
  if (exited > 0)
    warnings.push(
      `${exited} daemon threads exited during repetitions: daemon context switches are a lower bound`,
    );
  if (traceOverruns > 0)
    warnings.push(`the trace buffer dropped ${traceOverruns} events: FUSE request counts are a lower bound`);
  if (floor && floor.summary.value.n > 0 && floor.driver === measurement.driver) {
    const ratio =
      metric.better === 'lower'
        ? value.median / floor.summary.value.median
        : floor.summary.value.median / value.median;
    if (ratio < FLOOR_FACTOR) {
      warnings.push(
        `within ${FLOOR_FACTOR}× of the floor (${ratio.toFixed(2)}×): the ${measurement.driver} client's own cost is a large share${measurement.driver === 'node' ? '; --driver native lowers it' : ''}`,
      );
    }
  }
  return warnings;
}
