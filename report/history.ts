import { join } from 'node:path';
import { writeFileAtomic } from '../lib/safe-write.js';
import type { CacheState, Measurement } from '../results/schema.js';
import { csvLine } from './csv.js';
import { compareKernelReleases, type LoadedResult, setupOrder, workloadOrder } from './model.js';
import {
  type ChartSpec,
  canvas,
  escapeHtml,
  htmlPage,
  needsLogScale,
  pngAttribute,
  setupColour,
} from './page.js';
import { field, headerLines, renderTable, splitTable, TEXT_WIDTH, type TextTable, wrap } from './table.js';
import { formatChange, formatValue } from './units.js';

/**
 * `fusebench history`: the same measurements over several runs (typically one per kernel
 * release), ordered by kernel version and then by date; per setup × workload × cache, the median
 * of each run and its change against the first run.
 */

export interface HistoryRow {
  cache: CacheState;
  setup: string;
  workload: string;
  unit: string;
  better: 'lower' | 'higher';
  /** One entry per run, in run order; null where the run lacks the measurement. */
  medians: Array<number | null>;
}

export interface History {
  runs: LoadedResult[];
  rows: HistoryRow[];
}

export function orderRuns(runs: readonly LoadedResult[]): LoadedResult[] {
  return [...runs].sort(
    (a, b) =>
      compareKernelReleases(a.result.environment.kernelRelease, b.result.environment.kernelRelease) ||
      (a.result.startedAt < b.result.startedAt ? -1 : a.result.startedAt > b.result.startedAt ? 1 : 0),
  );
}

export function buildHistory(loaded: readonly LoadedResult[]): History {
  const runs = orderRuns(loaded);
  const all = runs.flatMap((run) => run.result.measurements);
  const last = runs[runs.length - 1]!.result;
  const setups = setupOrder(
    last,
    all.map((m) => m.setup),
  );
  const workloads = workloadOrder(
    last,
    all.map((m) => m.workload),
  );
  const lookup = runs.map(
    (run) =>
      new Map(run.result.measurements.map((m) => [`${m.cache}\u0000${m.setup}\u0000${m.workload}`, m])),
  );
  const rows: HistoryRow[] = [];
  for (const cache of ['warm', 'cold'] as const)
    for (const setup of setups)
      for (const workload of workloads) {
        const found = lookup.map((map) => map.get(`${cache}\u0000${setup}\u0000${workload}`));
        const first = found.find((m): m is Measurement => m !== undefined);
        if (!first) continue;
        rows.push({
          cache,
          setup,
          workload,
          unit: first.summary.metric.unit,
          better: first.summary.metric.better,
          medians: found.map((m) =>
            m && m.summary.value.n > 0 && m.summary.metric.name === first.summary.metric.name
              ? m.summary.value.median
              : null,
          ),
        });
      }
  return { runs, rows };
}

/** Change against the first run that has the measurement, in time (+ is slower). */
export function changeVsFirst(row: HistoryRow, index: number): number | null {
  const first = row.medians.find((value) => value !== null);
  const value = row.medians[index];
  if (
    first === undefined ||
    first === null ||
    value === null ||
    value === undefined ||
    first === 0 ||
    value === 0
  )
    return null;
  return row.better === 'lower' ? value / first : first / value;
}

const runLabel = (index: number) => `[${index + 1}]`;

export function renderHistoryText(history: History): string {
  const lines: string[] = [];
  lines.push(
    ...wrap(
      'Runs in kernel version order (then date). Cells: median, change vs the first run with that figure, in time (throughput: first over this), so + is slower.',
    ),
    '',
  );
  history.runs.forEach((run, index) => {
    lines.push(
      ...field(
        runLabel(index),
        `${run.result.environment.kernelRelease} ${run.result.startedAt.slice(0, 10)} ${run.path}`,
        4,
      ),
    );
  });
  const groups = new Map<string, HistoryRow[]>();
  for (const row of history.rows) {
    const group = `${row.cache} cache, ${row.setup}`;
    groups.set(group, [...(groups.get(group) ?? []), row]);
  }
  for (const [group, rows] of groups) {
    const table: TextTable = {
      columns: [
        { header: ['workload'], align: 'left' },
        ...history.runs.map((run, index) => ({
          header: headerLines(`${runLabel(index)} ${run.result.environment.kernelRelease}`, 12),
          align: 'right' as const,
        })),
      ],
      rows: rows.map((row) => [
        row.workload,
        ...row.medians.map((median, index) => {
          if (median === null) return '—';
          const change = changeVsFirst(row, index);
          const first = row.medians.findIndex((value) => value !== null);
          return index === first || change === null
            ? formatValue(median, row.unit)
            : `${formatValue(median, row.unit)} ${formatChange(change)}`;
        }),
      ]),
    };
    const parts = splitTable(table, 1, TEXT_WIDTH);
    parts.forEach((part, index) => {
      lines.push('', `${group}${parts.length > 1 ? ` (${index + 1}/${parts.length})` : ''}`);
      lines.push(...renderTable(part, TEXT_WIDTH));
    });
  }
  return `${lines.join('\n')}\n`;
}

export function renderHistoryCsv(history: History): string {
  const lines = [
    csvLine([
      'run',
      'result',
      'run_id',
      'kernel',
      'started_at',
      'cache',
      'setup',
      'workload',
      'unit',
      'median',
      'change_vs_first',
    ]),
  ];
  for (const row of history.rows)
    row.medians.forEach((median, index) => {
      if (median === null) return;
      const run = history.runs[index]!;
      lines.push(
        csvLine([
          index + 1,
          run.path,
          run.result.runId,
          run.result.environment.kernelRelease,
          run.result.startedAt,
          row.cache,
          row.setup,
          row.workload,
          row.unit,
          median,
          changeVsFirst(row, index),
        ]),
      );
    });
  return lines.join('');
}

export function renderHistoryHtml(history: History): string {
  const e = escapeHtml;
  const labels = history.runs.map(
    (run, index) => `${runLabel(index)} ${run.result.environment.kernelRelease}`,
  );
  const charts: ChartSpec[] = [];
  const parts: string[] = [
    '<h1>fusebench history</h1>',
    `<p class="note">Runs in kernel version order (then date). Each point is the median over the timed repetitions of a run.</p><table><thead><tr><th>run</th><th class="left">kernel</th><th class="left">started</th><th class="left">result file</th></tr></thead><tbody>${history.runs
      .map(
        (run, index) =>
          `<tr><td>${runLabel(index)}</td><td class="left">${e(run.result.environment.kernelRelease)}</td><td class="left">${e(run.result.startedAt)}</td><td class="left">${e(run.path)}</td></tr>`,
      )
      .join('')}</tbody></table>`,
  ];
  for (const cache of ['warm', 'cold'] as const) {
    const rows = history.rows.filter((row) => row.cache === cache);
    if (rows.length === 0) continue;
    parts.push(`<h2>${cache === 'warm' ? 'Warm' : 'Cold'} cache</h2><div class="grid">`);
    const workloads = [...new Set(rows.map((row) => row.workload))];
    for (const workload of workloads) {
      const series = rows.filter((row) => row.workload === workload);
      const unit = series[0]!.unit;
      const id = `history-${cache}-${workload}`;
      const datasets = series.map((row) => ({
        label: row.setup,
        data: row.medians,
        borderColor: setupColour(row.setup),
        backgroundColor: setupColour(row.setup),
        spanGaps: true,
      }));
      const log = needsLogScale(datasets.flatMap((dataset) => dataset.data));
      charts.push({
        id,
        format: unit === 'ns' ? 'time' : unit === 'B/s' ? 'rate' : 'count',
        config: {
          type: 'line',
          data: { labels, datasets },
          options: {
            plugins: {
              title: { display: true, text: `${workload} (${series[0]!.better} is better)` },
              legend: { labels: { boxWidth: 10, font: { size: 10 } } },
            },
            scales: { y: { type: log ? 'logarithmic' : 'linear' } },
          },
        },
      });
      parts.push(`<div class="figure"${pngAttribute(`${id}.png`)}>${canvas(id, 260)}</div>`);
    }
    parts.push('</div>');
  }
  return htmlPage('fusebench history', parts.join('\n'), charts);
}

/** Writes history.html and history.csv into `dir`; returns the paths. */
export function writeHistory(history: History, dir: string): string[] {
  const html = join(dir, 'history.html');
  const csv = join(dir, 'history.csv');
  writeFileAtomic(html, renderHistoryHtml(history));
  writeFileAtomic(csv, renderHistoryCsv(history));
  return [html, csv];
}
