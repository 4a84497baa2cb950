import type { Measurement } from '../results/schema.js';
import { textExporter } from './exporter.js';
import { latencyDistribution } from './latency.js';
import { type Cell, type ReportModel, systemCpuPerOp } from './model.js';

/**
 * results.csv: one row per result × setup × workload × cache × metric, with a header row and
 * RFC 4180 quoting (CRLF line ends, fields with comma, quote or line break in double quotes).
 * The first metric of each measurement is the one it is judged by, with its full estimate and
 * ratio to kernel-erofs; the others are medians over repetitions per operation, and latency
 * percentiles over every timed operation (merged histograms).
 */

export const CSV_COLUMNS = [
  'result',
  'run_id',
  'kernel',
  'cache',
  'setup',
  'workload',
  'family',
  'metric',
  'unit',
  'better',
  'n',
  'median',
  'ci_low',
  'ci_high',
  'mean',
  'stddev',
  'cv',
  'min',
  'max',
  'ratio_vs_kernel',
  'ratio_low',
  'ratio_high',
] as const;

export function csvField(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'number' ? (Number.isFinite(value) ? String(value) : '') : value;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvLine(values: ReadonlyArray<string | number | null | undefined>): string {
  return `${values.map(csvField).join(',')}\r\n`;
}

/** The secondary metrics of a measurement (name, unit, median per op); nulls are left out. */
export function secondaryMetrics(
  measurement: Measurement,
): Array<[string, string, 'lower' | 'higher', number]> {
  const { perOp, throughput } = measurement.summary;
  const latency = latencyDistribution(measurement);
  const percentile = (q: number) => (latency ? latency.histogram.percentile(q) : null);
  const rows: Array<[string, string, 'lower' | 'higher', number | null]> = [
    ['client cpu per op', 'ns', 'lower', perOp.clientCpuNs],
    ['client context switches per op', 'count', 'lower', perOp.clientCtxSwitches],
    ['daemon cpu per op', 'ns', 'lower', perOp.daemonCpuNs],
    ['daemon context switches per op', 'count', 'lower', perOp.daemonCtxSwitches],
    [
      'system cpu per op',
      'ns',
      'lower',
      measurement.repetitions.some((r) => !r.traced) ? systemCpuPerOp(measurement) : null,
    ],
    ['system context switches per op', 'count', 'lower', perOp.systemCtxSwitches],
    ['fuse requests per op', 'count', 'lower', perOp.fuseRequests],
    ['operations per second', 'op/s', 'higher', throughput.opsPerSec],
    ['bytes per second', 'B/s', 'higher', throughput.bytesPerSec],
    // Over every timed operation of the dominant kind (repetitions merged), not a median of medians.
    [`${latency?.kind ?? 'op'} latency p50`, 'ns', 'lower', percentile(0.5)],
    [`${latency?.kind ?? 'op'} latency p99`, 'ns', 'lower', percentile(0.99)],
  ];
  return rows.filter(
    (row): row is [string, string, 'lower' | 'higher', number] => row[3] !== null && Number.isFinite(row[3]),
  );
}

function cellRows(model: ReportModel, cell: Cell): string[] {
  const { measurement, vsKernel } = cell;
  const { metric, value } = measurement.summary;
  const common = [
    model.path,
    model.result.runId,
    model.result.environment.kernelRelease,
    measurement.cache,
    measurement.setup,
    measurement.workload,
    measurement.family,
  ];
  const lines = [
    csvLine([
      ...common,
      metric.name,
      metric.unit,
      metric.better,
      value.n,
      value.median,
      value.ciLow,
      value.ciHigh,
      value.mean,
      value.stddev,
      value.cv,
      value.min,
      value.max,
      vsKernel?.ratio,
      vsKernel?.low,
      vsKernel?.high,
    ]),
  ];
  for (const [name, unit, better, median] of secondaryMetrics(measurement)) {
    // Secondary figures have a median only; the other estimate columns stay empty.
    const row = [...common, name, unit, better, value.n, median];
    lines.push(csvLine([...row, ...new Array<null>(CSV_COLUMNS.length - row.length).fill(null)]));
  }
  return lines;
}

export function renderCsv(models: readonly ReportModel[]): string {
  const lines = [csvLine([...CSV_COLUMNS])];
  for (const model of models)
    for (const section of model.sections)
      for (const workload of section.workloads)
        for (const setup of section.setups) {
          const cell = section.cell(setup, workload);
          if (cell) lines.push(...cellRows(model, cell));
        }
  return lines.join('');
}

export const csvExporter = textExporter('results.csv', renderCsv);
