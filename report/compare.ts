import type { CacheState, Measurement, Metric } from '../results/schema.js';
import { benjaminiHochberg, mannWhitney, smallestMannWhitneyP } from '../results/statistics.js';
import { environmentDifferences, mixedRuns } from './describe.js';
import { type GridBlock, renderGrid, setupColumns } from './grid.js';
import { markdownTable } from './markdown.js';
import { type LoadedResult, metricSamples, setupOrder, timeRatio, workloadOrder } from './model.js';
import { TEXT_WIDTH, wrap } from './table.js';
import { formatChange, formatEstimate, formatP } from './units.js';

/**
 * `fusebench compare`: per setup × workload × cache present in both runs, the change of the cell
 * statistic (the median over timed repetitions) with a bootstrap interval of the ratio and a
 * Mann–Whitney U p-value. Changes are in time (for throughput workloads, base throughput over
 * new), so a positive change is always a slowdown.
 *
 * Many cells are tested at once, so a rule decides which changes count:
 * - `bh` (default): the Benjamini–Hochberg procedure over all compared cells keeps the expected
 *   share of false discoveries among flagged cells at 5%; a cell is flagged when its q-value is
 *   below 0.05 and its change exceeds the threshold.
 * - `ci-and-p`: per cell, both the ratio's 95% interval excludes 1 and p < 0.05 (and the change
 *   exceeds the threshold); no correction for the number of cells.
 */

export const ALPHA = 0.05;
export const RULES = ['bh', 'ci-and-p'] as const;
export type Rule = (typeof RULES)[number];

export const RULE_TEXT: Record<Rule, string> = {
  bh: `Benjamini-Hochberg over all compared cells: a change is flagged when its q-value (the false discovery rate at which it would be flagged) is below ${ALPHA} and it exceeds the threshold`,
  'ci-and-p': `per cell: a change is flagged when the 95% interval of the ratio excludes 1, the Mann-Whitney p-value is below ${ALPHA}, and it exceeds the threshold (no correction for the number of cells)`,
};

export type Verdict = 'regression' | 'improvement' | 'unchanged';

/** One side of a comparison: the cell statistic with its interval. */
export interface Side {
  n: number;
  median: number;
  ciLow: number;
  ciHigh: number;
}

export interface Comparison {
  setup: string;
  workload: string;
  cache: CacheState;
  metric: Metric;
  base: Side;
  next: Side;
  /** Time ratio new/base (above 1 is slower) with its bootstrap 95% interval. */
  ratio: number;
  low: number;
  high: number;
  /** Mann–Whitney U, two-sided. */
  p: number;
  /** Benjamini–Hochberg adjusted p over every comparison of the run pair. */
  q: number;
  verdict: Verdict;
}

export interface CompareOutcome {
  rule: Rule;
  thresholdPct: number;
  comparisons: Comparison[];
  /** Fields of environment and options that differ. */
  differences: string[];
  /** Measurements present in only one of the runs, or not comparable. */
  unmatched: string[];
  /** Partial runs, mixed hosts or datasets. */
  warnings: string[];
  /** Why a lone change may not be flagged with this many repetitions, if so. */
  resolution: string | null;
}

/** Whether a change counts under the rule; `q` is the cell's Benjamini–Hochberg q-value. */
export function verdictOf(
  comparison: Pick<Comparison, 'ratio' | 'low' | 'high' | 'p' | 'q'>,
  rule: Rule,
  thresholdPct: number,
): Verdict {
  const { ratio, low, high, p, q } = comparison;
  const threshold = thresholdPct / 100;
  const slower = ratio - 1 > threshold;
  const faster = 1 - ratio > threshold;
  if (!slower && !faster) return 'unchanged';
  const significant = rule === 'bh' ? q < ALPHA : p < ALPHA && (slower ? low > 1 : high < 1);
  if (!significant) return 'unchanged';
  return slower ? 'regression' : 'improvement';
}

const key = (measurement: Measurement) =>
  `${measurement.cache}\u0000${measurement.setup}\u0000${measurement.workload}`;

const side = (measurement: Measurement): Side => ({
  n: measurement.summary.value.n,
  median: measurement.summary.value.median,
  ciLow: measurement.summary.value.ciLow,
  ciHigh: measurement.summary.value.ciHigh,
});

/** Warnings about a result file that is not a complete run. */
export function partialRunWarning(loaded: LoadedResult): string | null {
  const { status } = loaded.result;
  if (status === 'complete') return null;
  const why =
    status === 'running'
      ? 'the run was killed or is still going'
      : status === 'interrupted'
        ? 'the run was interrupted'
        : 'the run failed';
  return `${loaded.path} is a partial run (status ${status}: ${why}); it covers only what finished`;
}

export function compareResults(
  base: LoadedResult,
  next: LoadedResult,
  thresholdPct: number,
  rule: Rule = 'bh',
): CompareOutcome {
  const baseMeasurements = new Map(base.result.measurements.map((m) => [key(m), m]));
  const nextMeasurements = new Map(next.result.measurements.map((m) => [key(m), m]));
  const unmatched = [
    ...[...baseMeasurements.values()]
      .filter((m) => !nextMeasurements.has(key(m)))
      .map((m) => `only in base: ${m.workload} ${m.cache} ${m.setup}`),
    ...[...nextMeasurements.values()]
      .filter((m) => !baseMeasurements.has(key(m)))
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
  // The lowest p-value any cell could reach, with the repetitions it has (exact Mann-Whitney).
  let reachable = { p: 1, m: 0, n: 0 };
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
        const lowest = smallestMannWhitneyP(baseSamples.length, nextSamples.length);
        if (lowest < reachable.p || reachable.m === 0)
          reachable = { p: lowest, m: baseSamples.length, n: nextSamples.length };
        comparisons.push({
          setup,
          workload,
          cache,
          metric,
          base: side(before),
          next: side(after),
          ratio: ratio.ratio,
          low: ratio.low,
          high: ratio.high,
          p: mannWhitney(baseSamples, nextSamples).p,
          q: Number.NaN,
          verdict: 'unchanged',
        });
      }
  const qValues = benjaminiHochberg(comparisons.map((comparison) => comparison.p));
  comparisons.forEach((comparison, index) => {
    comparison.q = qValues[index]!;
    comparison.verdict = verdictOf(comparison, rule, thresholdPct);
  });
  let resolution: string | null = null;
  const needed = ALPHA / comparisons.length;
  if (rule === 'bh' && comparisons.length > 1 && reachable.p > needed) {
    const { m, n } = reachable;
    resolution = `with ${m} and ${n} repetitions the smallest possible p is ${formatP(reachable.p)}; a change in a single cell needs p ≤ ${needed.toPrecision(2)} to pass Benjamini-Hochberg over ${comparisons.length} cells, so only changes shared by several cells can be flagged: add repetitions, or use --rule ci-and-p`;
  }
  const warnings = [base, next].flatMap((loaded) => partialRunWarning(loaded) ?? []);
  const mixed = mixedRuns([base.result, next.result]);
  if (mixed.length > 0) warnings.push(`the runs mix ${mixed.join('; ')}`);
  return {
    rule,
    thresholdPct,
    comparisons,
    differences: environmentDifferences(base.result, next.result),
    unmatched,
    warnings,
    resolution,
  };
}

const VERDICT_TEXT: Record<Verdict, string> = { regression: 'SLOWER', improvement: 'faster', unchanged: '' };

const changeInterval = (c: Comparison) => `[${formatChange(c.low)}–${formatChange(c.high)}]`;

/** The grid of changes: workloads × setups per cache state; only flagged cells unless `all`. */
function changeBlocks(outcome: CompareOutcome, all: boolean): { setups: string[]; blocks: GridBlock[] } {
  const shown = outcome.comparisons.filter((c) => all || c.verdict !== 'unchanged');
  const setups = [...new Set(outcome.comparisons.map((c) => c.setup))].filter((setup) =>
    shown.some((c) => c.setup === setup),
  );
  const blocks: GridBlock[] = [];
  for (const cache of ['warm', 'cold'] as const) {
    const cells = shown.filter((c) => c.cache === cache);
    if (cells.length === 0) continue;
    const workloads = [...new Set(outcome.comparisons.map((c) => c.workload))].filter((workload) =>
      cells.some((c) => c.workload === workload),
    );
    blocks.push({
      title: `${cache} cache`,
      rows: workloads.map((workload) => ({
        workload,
        unit: 'time',
        cells: Object.fromEntries(
          cells
            .filter((c) => c.workload === workload)
            .map((c) => [c.setup, `${formatChange(c.ratio)}${c.verdict === 'unchanged' ? ' ' : '*'}`]),
        ),
      })),
    });
  }
  return { setups, blocks };
}

function header(base: LoadedResult, next: LoadedResult, outcome: CompareOutcome): string[] {
  const lines: string[] = [];
  const describe = (loaded: LoadedResult) =>
    `${loaded.path} (${loaded.result.environment.kernelRelease}, ${loaded.result.startedAt})`;
  lines.push(...wrap(`base: ${describe(base)}`, TEXT_WIDTH, '  '));
  lines.push(...wrap(`new:  ${describe(next)}`, TEXT_WIDTH, '  '));
  lines.push(
    ...wrap(
      `change: new median over timed repetitions relative to base, in time (throughput: base over new), so + is slower; interval: bootstrap 95% of the ratio; p: Mann-Whitney U. Rule (--rule ${outcome.rule}): ${RULE_TEXT[outcome.rule]} of ${outcome.thresholdPct}%.`,
    ),
  );
  for (const warning of outcome.warnings) lines.push(...wrap(`warning: ${warning}`, TEXT_WIDTH, '  '));
  if (outcome.differences.length > 0) {
    lines.push(...wrap('warning: the runs differ in environment or options:'));
    for (const difference of outcome.differences) lines.push(...wrap(`  ${difference}`, TEXT_WIDTH, '    '));
  }
  if (outcome.resolution) lines.push(...wrap(`note: ${outcome.resolution}`, TEXT_WIDTH, '  '));
  return lines;
}

function totals(outcome: CompareOutcome): string {
  const regressions = outcome.comparisons.filter((c) => c.verdict === 'regression').length;
  const improvements = outcome.comparisons.filter((c) => c.verdict === 'improvement').length;
  return `${outcome.comparisons.length} cells compared: ${regressions} regression${regressions === 1 ? '' : 's'}, ${improvements} improvement${improvements === 1 ? '' : 's'} beyond ${outcome.thresholdPct}% (rule ${outcome.rule})`;
}

/** The ≤72-column text of a comparison: the grid of changes, then each shown cell in full. */
export function renderComparison(
  base: LoadedResult,
  next: LoadedResult,
  outcome: CompareOutcome,
  all = false,
): string {
  const lines = header(base, next, outcome);
  const { setups, blocks } = changeBlocks(outcome, all);
  if (blocks.length === 0) {
    lines.push('', 'No cell changed under the rule (--all shows every cell).');
  } else {
    const { lines: grid, legend } = renderGrid(setupColumns(setups), blocks, TEXT_WIDTH);
    lines.push(
      '',
      ...wrap(`Change in time per cell${all ? '' : ', flagged cells only (--all: every cell)'}; * flagged.`),
      '',
    );
    lines.push(...grid);
    if (legend) lines.push('', ...wrap(`setups: ${legend}`, TEXT_WIDTH, '  '));
    lines.push('');
    for (const c of outcome.comparisons.filter((c) => all || c.verdict !== 'unchanged')) {
      const verdict = VERDICT_TEXT[c.verdict];
      lines.push(
        ...wrap(
          `${c.cache} ${c.workload}, ${c.setup}: ${verdict ? `${verdict} ` : ''}${formatChange(c.ratio)} ${changeInterval(c)}`,
          TEXT_WIDTH,
          '    ',
        ),
      );
      lines.push(
        ...wrap(
          `    ${formatEstimate(c.base.median, c.base.ciLow, c.base.ciHigh, c.metric.unit)} -> ${formatEstimate(c.next.median, c.next.ciLow, c.next.ciHigh, c.metric.unit)}; p ${formatP(c.p)}, q ${formatP(c.q)}`,
          TEXT_WIDTH,
          '    ',
        ),
      );
    }
  }
  if (outcome.unmatched.length > 0) {
    lines.push('');
    for (const item of outcome.unmatched) lines.push(...wrap(`not compared: ${item}`, TEXT_WIDTH, '  '));
  }
  lines.push('', ...wrap(totals(outcome)));
  return `${lines.join('\n')}\n`;
}

/** The comparison as Markdown, for CI systems: the same grid per cache state and a table of the cells. */
export function renderComparisonMarkdown(
  base: LoadedResult,
  next: LoadedResult,
  outcome: CompareOutcome,
  all = false,
): string {
  const lines = [`# fusebench compare`, ''];
  lines.push(`- base: \`${base.path}\` (${base.result.environment.kernelRelease}, ${base.result.startedAt})`);
  lines.push(`- new: \`${next.path}\` (${next.result.environment.kernelRelease}, ${next.result.startedAt})`);
  lines.push(`- rule \`${outcome.rule}\`: ${RULE_TEXT[outcome.rule]} of ${outcome.thresholdPct}%`, '');
  for (const warning of outcome.warnings) lines.push(`> **warning:** ${warning}`, '');
  if (outcome.differences.length > 0)
    lines.push(
      '> **warning:** the runs differ in environment or options:',
      ...outcome.differences.map((d) => `> - ${d}`),
      '',
    );
  if (outcome.resolution) lines.push(`> note: ${outcome.resolution}`, '');
  const { setups, blocks } = changeBlocks(outcome, all);
  for (const block of blocks) {
    lines.push(`## ${block.title}`, '');
    lines.push(
      ...markdownTable(
        ['workload', ...setups],
        block.rows.map((row) => [row.workload, ...setups.map((setup) => row.cells[setup]?.trim() ?? '')]),
        ['left', ...setups.map(() => 'right' as const)],
      ),
      '',
    );
  }
  const shown = outcome.comparisons.filter((c) => all || c.verdict !== 'unchanged');
  if (shown.length > 0) {
    lines.push('## Cells', '');
    lines.push(
      ...markdownTable(
        ['cache', 'workload', 'setup', 'base', 'new', 'change', 'p', 'q', 'verdict'],
        shown.map((c) => [
          c.cache,
          c.workload,
          c.setup,
          formatEstimate(c.base.median, c.base.ciLow, c.base.ciHigh, c.metric.unit),
          formatEstimate(c.next.median, c.next.ciLow, c.next.ciHigh, c.metric.unit),
          `${formatChange(c.ratio)} ${changeInterval(c)}`,
          formatP(c.p),
          formatP(c.q),
          VERDICT_TEXT[c.verdict],
        ]),
        ['left', 'left', 'left', 'right', 'right', 'right', 'right', 'right', 'left'],
      ),
      '',
    );
  } else lines.push('No cell changed under the rule.', '');
  if (outcome.unmatched.length > 0)
    lines.push(...outcome.unmatched.map((item) => `- not compared: ${item}`), '');
  lines.push(totals(outcome), '');
  return lines.join('\n');
}

/** The comparison as JSON: every cell with its figures, for tools. */
export function renderComparisonJson(
  base: LoadedResult,
  next: LoadedResult,
  outcome: CompareOutcome,
): string {
  const regressions = outcome.comparisons.filter((c) => c.verdict === 'regression').length;
  return `${JSON.stringify(
    {
      base: { path: base.path, runId: base.result.runId, status: base.result.status },
      new: { path: next.path, runId: next.result.runId, status: next.result.status },
      rule: outcome.rule,
      ruleText: RULE_TEXT[outcome.rule],
      alpha: ALPHA,
      thresholdPct: outcome.thresholdPct,
      regressions,
      improvements: outcome.comparisons.filter((c) => c.verdict === 'improvement').length,
      warnings: outcome.warnings,
      differences: outcome.differences,
      resolution: outcome.resolution,
      unmatched: outcome.unmatched,
      cells: outcome.comparisons,
    },
    null,
    1,
  )}\n`;
}
