import { join } from 'node:path';
import { writeFileAtomic } from '../lib/safe-write.js';
import type { CacheState, Metric } from '../results/schema.js';
import { partialRunWarning } from './compare.js';
import { csvLine } from './csv.js';
import { mixedRuns } from './describe.js';
import { type GridBlock, type GridColumn, renderGrid } from './grid.js';
import { ratioText } from './markdown.js';
import {
  buildModel,
  CELL_STATISTIC,
  compareKernelReleases,
  FLOOR_SETUP,
  KERNEL_SETUP,
  type LoadedResult,
  type Ratio,
  setupOrder,
  workloadOrder,
} from './model.js';
import {
  type ChartSpec,
  canvas,
  escapeHtml,
  htmlPage,
  INSIGNIFICANT_COLOUR,
  pngAttribute,
  setupColour,
  valueAxis,
} from './page.js';
import { field, TEXT_WIDTH, wrap } from './table.js';
import { formatEstimate, formatIn, formatInterval, formatNumber, unitFor } from './units.js';

/**
 * `fusebench history`: the same cells over several runs (typically one per kernel release),
 * ordered by kernel version and then by date, in the layout of summary.txt: per cache state,
 * kernel-erofs's median with its interval per release, then for every other setup its ratio to
 * kernel-erofs per release (the FUSE/kernel ratio), with intervals. Runs from different hosts,
 * CPUs or datasets are not comparable: history says so before anything else.
 */

export interface HistoryCell {
  median: number;
  ciLow: number;
  ciHigh: number;
  noisy: boolean;
  /** Time ratio to kernel-erofs of the same run and cache state. */
  vsKernel: Ratio | null;
}

export interface HistoryRow {
  cache: CacheState;
  setup: string;
  workload: string;
  metric: Metric;
  /** One entry per run, in run order; null where the run lacks the measurement. */
  cells: Array<HistoryCell | null>;
}

export interface History {
  runs: LoadedResult[];
  rows: HistoryRow[];
  /** Mixed hosts, CPUs or datasets, and partial runs. */
  warnings: string[];
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
  const models = runs.map((run) => buildModel(run));
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
  const rows: HistoryRow[] = [];
  for (const cache of ['warm', 'cold'] as const)
    for (const setup of setups)
      for (const workload of workloads) {
        const found = models.map((model) =>
          model.sections.find((section) => section.cache === cache)?.cell(setup, workload),
        );
        const first = found.find((cell) => cell !== undefined);
        if (!first) continue;
        const metric = first.measurement.summary.metric;
        rows.push({
          cache,
          setup,
          workload,
          metric,
          cells: found.map((cell) => {
            if (
              !cell ||
              cell.measurement.summary.value.n === 0 ||
              cell.measurement.summary.metric.name !== metric.name
            )
              return null;
            const { median, ciLow, ciHigh } = cell.measurement.summary.value;
            return { median, ciLow, ciHigh, noisy: cell.noisy, vsKernel: cell.vsKernel };
          }),
        });
      }
  const mixed = mixedRuns(runs.map((run) => run.result));
  const warnings = [
    ...(mixed.length > 0 ? [`the results mix ${mixed.join('; ')}: their figures are not comparable`] : []),
    ...runs.flatMap((run) => partialRunWarning(run) ?? []),
  ];
  return { runs, rows, warnings };
}

const runLabel = (index: number) => `[${index + 1}]`;

function runColumns(history: History): GridColumn[] {
  return history.runs.map((run, index) => ({
    key: String(index),
    name: `${runLabel(index)} ${run.result.environment.kernelRelease}`,
    short: runLabel(index),
  }));
}

/** Kernel-erofs medians with intervals per release, one unit per row. */
function kernelBlocks(history: History): GridBlock[] {
  const blocks: GridBlock[] = [];
  for (const cache of ['warm', 'cold'] as const) {
    const rows = history.rows.filter((row) => row.cache === cache && row.setup === KERNEL_SETUP);
    if (rows.length === 0) continue;
    blocks.push({
      title: `${cache} cache`,
      rows: rows.map((row) => {
        const unit = unitFor(
          row.cells.map((cell) => cell?.median ?? null),
          row.metric.unit,
        );
        const label =
          row.metric.unit === 'B/s'
            ? unit.unit
            : `${unit.unit}/${row.metric.name === 'wall time' ? 'run' : 'op'}`;
        return {
          workload: row.workload,
          unit: label,
          cells: Object.fromEntries(
            row.cells.flatMap((cell, index) =>
              cell
                ? [
                    [
                      String(index),
                      `${formatIn(cell.median, unit)} ${formatInterval(cell.median, cell.ciLow, cell.ciHigh, unit.divisor)}${cell.noisy ? '!' : ' '}`,
                    ],
                  ]
                : [],
            ),
          ),
        };
      }),
    });
  }
  return blocks;
}

/** One setup's ratio to kernel-erofs with its interval per release. */
function ratioBlocks(history: History, setup: string): GridBlock[] {
  const blocks: GridBlock[] = [];
  for (const cache of ['warm', 'cold'] as const) {
    const rows = history.rows.filter((row) => row.cache === cache && row.setup === setup);
    if (!rows.some((row) => row.cells.some((cell) => cell?.vsKernel))) continue;
    blocks.push({
      title: `${cache} cache`,
      rows: rows.map((row) => ({
        workload: row.workload,
        unit: 'x',
        cells: Object.fromEntries(
          row.cells.flatMap((cell, index) => {
            const ratio = cell?.vsKernel;
            if (!ratio) return [];
            const significant = ratio.low > 1 || ratio.high < 1;
            return [
              [
                String(index),
                `${formatNumber(ratio.ratio)} ${formatInterval(ratio.ratio, ratio.low, ratio.high)}${significant ? '*' : ' '}`,
              ],
            ];
          }),
        ),
      })),
    });
  }
  return blocks;
}

/** Setups other than kernel-erofs and the floor, in display order. */
const comparedSetups = (history: History) =>
  [...new Set(history.rows.map((row) => row.setup))].filter(
    (setup) => setup !== KERNEL_SETUP && setup !== FLOOR_SETUP,
  );

export function renderHistoryText(history: History): string {
  const lines: string[] = [];
  for (const warning of history.warnings) lines.push(...wrap(`warning: ${warning}`, TEXT_WIDTH, '  '));
  if (history.warnings.length > 0) lines.push('');
  lines.push(
    ...wrap(
      `Runs in kernel version order (then date). Cells: ${CELL_STATISTIC} with its 95% interval [lo-hi]; ${KERNEL_SETUP} in the row's unit, every other setup as its time relative to ${KERNEL_SETUP} in the same run (throughput: ${KERNEL_SETUP}'s over the setup's), above 1 is slower. * the ratio's interval excludes 1; ! CV above 10%.`,
    ),
    '',
  );
  history.runs.forEach((run, index) => {
    lines.push(
      ...field(
        runLabel(index),
        `${run.result.environment.kernelRelease} ${run.result.startedAt.slice(0, 10)} ${run.result.environment.hostname} ${run.path}`,
        4,
      ),
    );
  });
  const columns = runColumns(history);
  const section = (title: string, blocks: GridBlock[]) => {
    if (blocks.length === 0) return;
    const { lines: grid } = renderGrid(columns, blocks, TEXT_WIDTH);
    lines.push('', ...wrap(title), '', ...grid);
  };
  section(`${KERNEL_SETUP}: median per release`, kernelBlocks(history));
  for (const setup of comparedSetups(history))
    section(`${setup} / ${KERNEL_SETUP}: time ratio per release`, ratioBlocks(history, setup));
  return `${lines.join('\n')}\n`;
}

export function renderHistoryCsv(history: History): string {
  const lines = [
    csvLine([
      'run',
      'result',
      'run_id',
      'kernel',
      'host',
      'started_at',
      'cache',
      'setup',
      'workload',
      'metric',
      'unit',
      'median',
      'ci_low',
      'ci_high',
      'ratio_vs_kernel',
      'ratio_low',
      'ratio_high',
    ]),
  ];
  for (const row of history.rows)
    row.cells.forEach((cell, index) => {
      if (cell === null) return;
      const run = history.runs[index]!;
      lines.push(
        csvLine([
          index + 1,
          run.path,
          run.result.runId,
          run.result.environment.kernelRelease,
          run.result.environment.hostname,
          run.result.startedAt,
          row.cache,
          row.setup,
          row.workload,
          row.metric.name,
          row.metric.unit,
          cell.median,
          cell.ciLow,
          cell.ciHigh,
          cell.vsKernel?.ratio,
          cell.vsKernel?.low,
          cell.vsKernel?.high,
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
    ...history.warnings.map((warning) => `<p class="note"><b>warning:</b> ${e(warning)}</p>`),
    `<p class="note">Runs in kernel version order (then date). Every figure: ${CELL_STATISTIC} with its 95% interval [lo–hi]; ratios are times relative to ${KERNEL_SETUP} in the same run.</p><table><thead><tr><th>run</th><th class="left">kernel</th><th class="left">host</th><th class="left">started</th><th class="left">result file</th></tr></thead><tbody>${history.runs
      .map(
        (run, index) =>
          `<tr><td>${runLabel(index)}</td><td class="left">${e(run.result.environment.kernelRelease)}</td><td class="left">${e(run.result.environment.hostname)}</td><td class="left">${e(run.result.startedAt)}</td><td class="left">${e(run.path)}</td></tr>`,
      )
      .join('')}</tbody></table>`,
  ];
  for (const cache of ['warm', 'cold'] as const) {
    const rows = history.rows.filter((row) => row.cache === cache);
    if (rows.length === 0) continue;
    parts.push(`<h2>${cache === 'warm' ? 'Warm' : 'Cold'} cache</h2>`);
    const kernelRows = rows.filter((row) => row.setup === KERNEL_SETUP);
    parts.push(
      `<h3>${KERNEL_SETUP} per release</h3><table><thead><tr><th>workload</th>${labels.map((label) => `<th>${e(label)}</th>`).join('')}</tr></thead><tbody>${kernelRows
        .map(
          (row) =>
            `<tr><td>${e(row.workload)}</td>${row.cells.map((cell) => `<td>${cell ? e(formatEstimate(cell.median, cell.ciLow, cell.ciHigh, row.metric.unit)) : '—'}</td>`).join('')}</tr>`,
        )
        .join('')}</tbody></table>`,
    );
    const panels: string[] = [];
    for (const workload of [...new Set(rows.map((row) => row.workload))]) {
      const series = rows.filter(
        (row) => row.workload === workload && row.setup !== KERNEL_SETUP && row.setup !== FLOOR_SETUP,
      );
      const ratios = series.map((row) => row.cells.map((cell) => cell?.vsKernel ?? null));
      if (!ratios.flat().some(Boolean)) continue;
      const axis = valueAxis(
        `time relative to ${KERNEL_SETUP}`,
        ratios.flat().flatMap((ratio) => (ratio ? [ratio.low, ratio.high, 1] : [])),
        '×',
        true,
      );
      const id = `history-${cache}-${workload}`;
      const title = `${workload}: ratio to ${KERNEL_SETUP} per release (${cache} cache)`;
      charts.push({
        id,
        axes: { y: axis.format },
        config: {
          type: 'bar',
          data: {
            labels,
            datasets: series.map((row, index) => ({
              label: row.setup,
              data: ratios[index]!.map((ratio) => (ratio ? [ratio.low, ratio.high] : null)),
              points: ratios[index]!.map((ratio) => ratio?.ratio ?? null),
              backgroundColor: ratios[index]!.map((ratio) =>
                ratio && (ratio.low > 1 || ratio.high < 1) ? setupColour(row.setup) : INSIGNIFICANT_COLOUR,
              ),
              barPercentage: 0.3,
            })),
          },
          options: {
            plugins: {
              title: { display: true, text: title },
              fusebenchLine: { axis: 'y', value: 1 },
              legend: { labels: { boxWidth: 10, font: { size: 10 } } },
            },
            scales: { x: { title: { display: true, text: 'run (kernel release)' } }, y: axis.scale },
          },
        },
        legend: [
          ...series.map((row) => ({ text: row.setup, colour: setupColour(row.setup) })),
          { text: 'interval includes 1', colour: INSIGNIFICANT_COLOUR },
        ],
      });
      panels.push(canvas(id, 280));
    }
    if (panels.length > 0)
      parts.push(
        `<h3>Ratio to ${KERNEL_SETUP} per release</h3><p class="note">Diamond: ratio of medians; bar: its 95% interval; dashed line at 1. Colour only where the interval excludes 1.</p><div class="figure"${pngAttribute(`history-${cache}.png`)}><p class="caption">Ratio to ${KERNEL_SETUP} per release, ${cache} cache</p><div class="grid">${panels.join('')}</div></div>`,
      );
    const setups = [...new Set(rows.map((row) => row.setup))].filter(
      (setup) => setup !== KERNEL_SETUP && setup !== FLOOR_SETUP,
    );
    for (const setup of setups) {
      const setupRows = rows.filter((row) => row.setup === setup);
      parts.push(
        `<details><summary>${e(setup)} / ${KERNEL_SETUP} as a table</summary><table><thead><tr><th>workload</th>${labels.map((label) => `<th>${e(label)}</th>`).join('')}</tr></thead><tbody>${setupRows
          .map(
            (row) =>
              `<tr><td>${e(row.workload)}</td>${row.cells.map((cell) => `<td>${cell?.vsKernel ? e(ratioText(cell.vsKernel)) : '—'}</td>`).join('')}</tr>`,
          )
          .join('')}</tbody></table></details>`,
      );
    }
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
