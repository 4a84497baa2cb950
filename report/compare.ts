import type { CacheState, Measurement } from '../results/schema.js';
import { mannWhitney } from '../results/statistics.js';
import { environmentDifferences } from './describe.js';
import { type LoadedResult, metricSamples, setupOrder, timeRatio, workloadOrder } from './model.js';
import { renderTable, TEXT_WIDTH, type TextTable, truncate, wrap } from './table.js';
import { formatChange, formatP, formatValue } from './units.js';

/**
 * `fusebench compare`: per setup × workload × cache present in both runs, the change of the
 * median with a bootstrap interval of the ratio and a Mann-Whitney U p-value over the timed
 * repetitions. Changes are in time (for throughput workloads, base throughput over new), so a
 * positive change is always a slowdown.
 */

export type Verdict = 'regression' | 'improvement' | 'unchanged';

export interface Comparison {
  setup: string;
  workload: string;
  cache: CacheState;
  unit: string;
  base: number;
  next: number;
  /** Time ratio new/base (above 1 is slower) with its bootstrap 95% interval. */
  ratio: number;
  low: number;
  high: number;
  p: number;
  verdict: Verdict;
}

export interface CompareOutcome {
  comparisons: Comparison[];
  /** Fields of environment and options that differ. */
  differences: string[];
  /** Measurements present in only one of the runs. */
  unmatched: string[];
}

/**
 * A change is significant when it is larger than the threshold and the ratio's interval excludes
 * 1 or the rank test rejects equality at 5%.
 */
export function verdictOf(
  ratio: number,
  low: number,
  high: number,
  p: number,
  thresholdPct: number,
): Verdict {
  const threshold = thresholdPct / 100;
  const significant = p < 0.05;
  if (ratio - 1 > threshold && (low > 1 || significant)) return 'regression';
  if (1 - ratio > threshold && (high < 1 || significant)) return 'improvement';
  return 'unchanged';
}

const key = (measurement: Measurement) =>
  `${measurement.cache}\u0000${measurement.setup}\u0000${measurement.workload}`;

export function compareResults(base: LoadedResult, next: LoadedResult, thresholdPct: number): CompareOutcome {
  const baseMeasurements = new Map(
    base.result.measurements.map((measurement) => [key(measurement), measurement]),
  );
  const nextMeasurements = new Map(
    next.result.measurements.map((measurement) => [key(measurement), measurement]),
  );
  const unmatched = [
    ...[...baseMeasurements.values()]
      .filter((measurement) => !nextMeasurements.has(key(measurement)))
      .map((m) => `only in base: ${m.workload} ${m.cache} ${m.setup}`),
    ...[...nextMeasurements.values()]
      .filter((measurement) => !baseMeasurements.has(key(measurement)))
      .map((m) => `only in new: ${m.workload} ${m.cache} ${m.setup}`),
  ];
  const setups = setupOrder(
    next.result,
    [...nextMeasurements.values()].map((m) => m.setup),
  );
  const workloads = workloadOrder(
    next.result,
    [...nextMeasurements.values()].map((m) => m.workload),
  );
  const comparisons: Comparison[] = [];
  for (const cache of ['warm', 'cold'] as const)
    for (const setup of setups)
      for (const workload of workloads) {
        const id = `${cache}\u0000${setup}\u0000${workload}`;
        const before = baseMeasurements.get(id);
        const after = nextMeasurements.get(id);
        if (!before || !after) continue;
        const metric = after.summary.metric;
        if (before.summary.metric.name !== metric.name) {
          unmatched.push(`metric changed: ${workload} ${cache} ${setup}`);
          continue;
        }
        const baseSamples = metricSamples(before);
        const nextSamples = metricSamples(after);
        const ratio = timeRatio(metric, baseSamples, nextSamples);
        if (!ratio) {
          unmatched.push(`no timed repetitions: ${workload} ${cache} ${setup}`);
          continue;
        }
        const { p } = mannWhitney(baseSamples, nextSamples);
        comparisons.push({
          setup,
          workload,
          cache,
          unit: metric.unit,
          base: before.summary.value.median,
          next: after.summary.value.median,
          ratio: ratio.ratio,
          low: ratio.low,
          high: ratio.high,
          p,
          verdict: verdictOf(ratio.ratio, ratio.low, ratio.high, p, thresholdPct),
        });
      }
  return { comparisons, differences: environmentDifferences(base.result, next.result), unmatched };
}

const VERDICT_TEXT: Record<Verdict, string> = { regression: 'SLOWER', improvement: 'faster', unchanged: '' };

/** The ≤72-column text of a comparison. */
export function renderComparison(
  base: LoadedResult,
  next: LoadedResult,
  outcome: CompareOutcome,
  thresholdPct: number,
): string {
  const lines: string[] = [];
  lines.push(
    ...wrap(
      `base: ${base.path} (${base.result.environment.kernelRelease}, ${base.result.startedAt})`,
      TEXT_WIDTH,
      '  ',
    ),
  );
  lines.push(
    ...wrap(
      `new:  ${next.path} (${next.result.environment.kernelRelease}, ${next.result.startedAt})`,
      TEXT_WIDTH,
      '  ',
    ),
  );
  lines.push(
    ...wrap(
      `change: new median relative to base, in time (throughput: base over new), so + is slower; CI: bootstrap 95% interval of the ratio; p: Mann-Whitney U. Flagged when |change| > ${thresholdPct}% and the CI excludes 1 or p < 0.05.`,
    ),
  );
  if (outcome.differences.length > 0) {
    lines.push('');
    lines.push(...wrap('warning: the runs differ in environment or options:'));
    for (const difference of outcome.differences) lines.push(...wrap(`  ${difference}`, TEXT_WIDTH, '    '));
  }
  const groups = new Map<string, Comparison[]>();
  for (const comparison of outcome.comparisons) {
    const group = `${comparison.cache} cache, ${comparison.setup}`;
    groups.set(group, [...(groups.get(group) ?? []), comparison]);
  }
  for (const [group, comparisons] of groups) {
    const table: TextTable = {
      columns: [
        { header: ['workload'], align: 'left' },
        { header: ['base'], align: 'right' },
        { header: ['new'], align: 'right' },
        { header: ['change'], align: 'right' },
        { header: ['ratio CI'], align: 'right' },
        { header: ['p'], align: 'right' },
        { header: ['flag'], align: 'left' },
      ],
      rows: comparisons.map((c) => [
        truncate(c.workload, 18),
        formatValue(c.base, c.unit),
        formatValue(c.next, c.unit),
        formatChange(c.ratio),
        `${c.low.toFixed(2)}–${c.high.toFixed(2)}`,
        formatP(c.p),
        VERDICT_TEXT[c.verdict],
      ]),
    };
    lines.push('', truncate(group, TEXT_WIDTH), ...renderTable(table, TEXT_WIDTH));
  }
  if (outcome.unmatched.length > 0) {
    lines.push('');
    for (const item of outcome.unmatched) lines.push(...wrap(`not compared: ${item}`, TEXT_WIDTH, '  '));
  }
  const regressions = outcome.comparisons.filter((c) => c.verdict === 'regression').length;
  const improvements = outcome.comparisons.filter((c) => c.verdict === 'improvement').length;
  lines.push('');
  lines.push(
    ...wrap(
      `${outcome.comparisons.length} compared: ${regressions} regression${regressions === 1 ? '' : 's'}, ${improvements} improvement${improvements === 1 ? '' : 's'} beyond ${thresholdPct}%`,
    ),
  );
  return `${lines.join('\n')}\n`;
}
