import type { ResultFile } from '../results/schema.js';
import { groupWarnings } from '../results/warnings.js';
import { environmentFields, peerVersions, reproduceCommand } from './describe.js';
import type { Exporter } from './exporter.js';
import { textExporter } from './exporter.js';
import { fuseTaxRows } from './fuse-tax.js';
import { abbreviations, type GridBlock, type GridRow, renderGrid, setupColumns } from './grid.js';
import { buildModel, type CacheSection, CELL_STATISTIC, KERNEL_SETUP, type ReportModel } from './model.js';
import { type ScalingCurve, scalingCurves } from './scaling.js';
import { field, renderTable, splitTable, TEXT_WIDTH, type TextTable, wrap } from './table.js';
import { formatDuration, formatIn, formatNumber, formatValue, toAscii, unitFor } from './units.js';

/**
 * summary.txt, also what `fusebench run` prints at the end: a text to paste into a mail, in the
 * manner of LKP and mmtests. A header (kernel, host, commit, dataset, peer versions), one table
 * with workloads as rows and setups as columns (kernel-erofs in absolute units, the others as
 * ratios to it, one unit per row, significance marks), the FUSE tax table, warnings as counts and
 * the command that reproduces the run. At most 72 columns, no ANSI codes; `ascii` for 7-bit text.
 */

const LABEL_WIDTH = 9;

function header(model: ReportModel): string[] {
  const { result } = model;
  const { environment: env, dataset } = result;
  const fields = new Map(environmentFields(result));
  const lines: string[] = [];
  const line = (label: string, value: string) => lines.push(...field(label, value, LABEL_WIDTH));
  line('kernel', `${env.kernelRelease} ${env.kernelVersion}; preempt ${env.preemptModel ?? 'unknown'}`);
  line('host', `${env.hostname}: ${fields.get('cpu')}; ${fields.get('memory')}`);
  line(
    'commit',
    `${env.gitCommit ?? 'unknown'} (fusebench ${env.fusebenchVersion}, node ${env.nodeVersion})`,
  );
  line('dataset', fields.get('dataset') ?? dataset.name);
  line('image', fields.get('image') ?? '');
  const peers = peerVersions(result);
  line(
    'peers',
    peers.length > 0 ? peers.map(([name, version]) => `${name} ${version}`).join(', ') : 'none recorded',
  );
  line('fuse', fields.get('fuse') ?? '');
  line(
    'run',
    `${result.runId}, ${result.status}; ${result.config.repetitions} timed repetitions, driver ${result.config.driver}`,
  );
  if (model.path !== '') line('result', model.path);
  for (const setup of result.setups.filter((setup) => setup.status !== 'ok'))
    line(setup.status, `${setup.name}: ${setup.note ?? 'no reason given'}`);
  return lines;
}

/** The unit of a row, from the workload's metric and kernel-erofs's value (or the row's largest). */
function rowUnit(section: CacheSection, workload: string): { label: string; divisor: number } {
  const cells = section.setups
    .map((setup) => section.cell(setup, workload))
    .filter((cell) => cell !== undefined);
  const metric = cells[0]!.measurement.summary.metric;
  const kernel = section.cell(KERNEL_SETUP, workload);
  const values = (kernel ? [kernel] : cells).map((cell) => cell.measurement.summary.value.median);
  const unit = unitFor(values, metric.unit);
  if (metric.unit === 'B/s') return { label: unit.unit, divisor: unit.divisor };
  return { label: `${unit.unit}/${metric.name === 'wall time' ? 'run' : 'op'}`, divisor: unit.divisor };
}

/** "3.40*!" with the marks in fixed slots, so that numbers line up in a right-aligned column. */
function marked(text: string, significant: boolean, noisy: boolean): string {
  return `${text}${significant ? '*' : ' '}${noisy ? '!' : ' '}`;
}

function gridRow(section: CacheSection, workload: string): GridRow {
  const unit = rowUnit(section, workload);
  const kernel = section.cell(KERNEL_SETUP, workload);
  const cells: Record<string, string> = {};
  for (const setup of section.setups) {
    const cell = section.cell(setup, workload);
    if (!cell) continue;
    const { value } = cell.measurement.summary;
    if (value.n === 0) cells[setup] = marked('-', false, false);
    else if (setup === KERNEL_SETUP || !kernel)
      cells[setup] = marked(
        formatIn(value.median, { unit: unit.label, divisor: unit.divisor }),
        false,
        cell.noisy,
      );
    else if (cell.vsKernel)
      cells[setup] = marked(
        formatNumber(cell.vsKernel.ratio),
        cell.vsKernel.low > 1 || cell.vsKernel.high < 1,
        cell.noisy,
      );
    else cells[setup] = marked('-', false, false);
  }
  return { workload, unit: unit.label, cells };
}

function mainTable(model: ReportModel): string[] {
  const setups = [...new Set(model.sections.flatMap((section) => section.setups))];
  const blocks: GridBlock[] = model.sections.map((section) => ({
    title: `${section.cache} cache`,
    rows: section.workloads.map((workload) => gridRow(section, workload)),
  }));
  const { lines, legend } = renderGrid(setupColumns(setups), blocks, TEXT_WIDTH);
  const { repetitions } = model.result.config;
  // Rows that cannot be ratios: said under the table, since the unit column looks the same.
  const absolute = model.sections.flatMap((section) =>
    section.workloads
      .filter((workload) => !section.cell(KERNEL_SETUP, workload))
      .map((workload) => `${workload} ${section.cache}`),
  );
  return [
    ...wrap(
      `Cells: ${CELL_STATISTIC} (${repetitions}) of time per operation, wall time per run or throughput. ${KERNEL_SETUP} in the row's unit; every other setup as its time relative to ${KERNEL_SETUP} (throughput: ${KERNEL_SETUP}'s over the setup's), above 1 is slower. * the 95% bootstrap interval of the ratio excludes 1; ! CV above 10%.`,
    ),
    '',
    ...lines,
    ...(legend ? ['', ...wrap(`setups: ${legend}`, TEXT_WIDTH, '  ')] : []),
    ...(absolute.length > 0
      ? [
          '',
          ...wrap(
            `without ${KERNEL_SETUP} (${absolute.join(', ')}): every setup in the row's unit, not as a ratio.`,
            TEXT_WIDTH,
            '  ',
          ),
        ]
      : []),
  ];
}

function fuseTaxTable(model: ReportModel): string[] {
  // kernel-erofs's reference rows stay in index.html and summary.md: here only what FUSE adds.
  const rows = fuseTaxRows(model).filter((row) => row.setup !== KERNEL_SETUP);
  if (rows.length === 0) return [];
  const short = abbreviations([...new Set(rows.map((row) => row.setup))]);
  const table: TextTable = {
    columns: [
      { header: ['workload'], align: 'left' },
      { header: ['setup'], align: 'left' },
      { header: ['req/op'], align: 'right' },
      { header: ['cs/op'], align: 'right' },
      { header: ['dCPU/op'], align: 'right' },
      { header: ['time'], align: 'right' },
    ],
    rows: [],
  };
  let block = '';
  let workload = '';
  for (const row of rows) {
    if (row.cache !== block) {
      table.rows.push([`${row.cache} cache`]);
      block = row.cache;
      workload = '';
    }
    const ratio = row.vsKernel;
    table.rows.push([
      // The workload is named once per group of setups, as mmtests does.
      row.workload === workload ? '' : row.workload,
      short.get(row.setup)!,
      row.requestsPerOp === null ? '-' : formatNumber(row.requestsPerOp),
      formatNumber(row.ctxSwitchesPerOp),
      row.daemonCpuPerOpNs === null ? '-' : formatDuration(row.daemonCpuPerOpNs),
      ratio ? marked(formatNumber(ratio.ratio), ratio.low > 1 || ratio.high < 1, false) : '-',
    ]);
    workload = row.workload;
  }
  return [
    ...wrap(
      `FUSE tax per client operation: req/op FUSE requests (traced repetition), cs/op context switches of client and daemon, dCPU/op daemon CPU time (${CELL_STATISTIC}); time: relative to ${KERNEL_SETUP}, * its interval excludes 1.`,
    ),
    '',
    ...renderTable(table, TEXT_WIDTH),
  ];
}

/** Throughput per N: kernel-erofs in its unit, other setups as time relative to it at the same N. */
function scalingGridBlock(curve: ScalingCurve): GridBlock {
  const kernel = curve.setups.includes(KERNEL_SETUP);
  const reference = kernel ? [KERNEL_SETUP] : curve.setups;
  const unit = unitFor(
    curve.readers.flatMap((readers) =>
      reference.map((setup) => curve.point(setup, readers)?.throughput ?? null),
    ),
    curve.unit,
  );
  return {
    title: `${curve.workload}, ${curve.cache} cache`,
    rows: curve.readers.map((readers) => {
      const cells: Record<string, string> = {};
      for (const setup of curve.setups) {
        const point = curve.point(setup, readers);
        if (!point) continue;
        if (setup === KERNEL_SETUP || !kernel)
          cells[setup] = marked(formatIn(point.throughput, unit), false, false);
        else if (point.vsKernel)
          cells[setup] = marked(
            formatNumber(point.vsKernel.ratio),
            point.vsKernel.low > 1 || point.vsKernel.high < 1,
            false,
          );
        else cells[setup] = marked('-', false, false);
      }
      return { workload: `N=${readers}`, unit: unit.unit, cells };
    }),
  };
}

/** Where the time goes at each N: the daemon's CPU and switches per operation, the FUSE queue. */
function loadTable(curves: readonly ScalingCurve[]): string[] {
  const setups = [...new Set(curves.flatMap((curve) => curve.setups))];
  const short = abbreviations(setups);
  const table: TextTable = {
    columns: [
      { header: ['setup'], align: 'left' },
      { header: ['N'], align: 'right' },
      { header: ['thru'], align: 'right' },
      { header: ['xN1'], align: 'right' },
      { header: ['dCPU/op'], align: 'right' },
      { header: ['dcs/op'], align: 'right' },
      { header: ['req/op'], align: 'right' },
      { header: ['s-e p50'], align: 'right' },
      { header: ['depth'], align: 'right' },
    ],
    rows: [],
  };
  const optional = (value: number | null, format: (value: number) => string) =>
    value === null ? '-' : format(value);
  for (const curve of curves) {
    table.rows.push([`${curve.workload}, ${curve.cache} cache`]);
    for (const setup of curve.setups)
      for (const readers of curve.readers) {
        const point = curve.point(setup, readers);
        if (!point) continue;
        table.rows.push([
          readers === curve.readers.find((n) => curve.point(setup, n)) ? short.get(setup)! : '',
          String(readers),
          formatValue(point.throughput, curve.unit === 'B/s' ? 'B/s' : '').replace(/ $/, ''),
          optional(point.speedup, formatNumber),
          optional(point.daemonCpuPerOpNs, formatDuration),
          optional(point.daemonCtxSwitchesPerOp, formatNumber),
          optional(point.requestsPerOp, formatNumber),
          optional(point.sendToEndP50Ns, formatDuration),
          point.meanDepth === null ? '-' : `${formatNumber(point.meanDepth)}/${point.maxDepth}`,
        ]);
      }
  }
  return splitTable(table, 2).flatMap((part, index) => [
    ...(index > 0 ? [''] : []),
    ...renderTable(part, TEXT_WIDTH),
  ]);
}

/**
 * The scaling tables, when the run measured a workload at more than one reader: throughput per
 * N against kernel-erofs at the same N, then where the time goes at each N.
 */
function scalingTables(model: ReportModel): string[] {
  const curves = scalingCurves(model);
  if (curves.length === 0) return [];
  const setups = [...new Set(curves.flatMap((curve) => curve.setups))];
  const { lines, legend } = renderGrid(setupColumns(setups), curves.map(scalingGridBlock), TEXT_WIDTH);
  return [
    ...wrap(
      `Scaling with readers (N reader processes share the same operations): ${CELL_STATISTIC} of throughput. ${KERNEL_SETUP} in the row's unit; every other setup as its time relative to ${KERNEL_SETUP} at the same N, above 1 is slower; * the interval excludes 1.`,
    ),
    '',
    ...lines,
    ...(legend ? ['', ...wrap(`setups: ${legend}`, TEXT_WIDTH, '  ')] : []),
    '',
    ...wrap(
      `Where the time goes under load, per client operation: thru throughput; xN1 over the setup's own at the smallest N; dCPU/op and dcs/op daemon CPU time and context switches (timed repetitions); req/op FUSE requests, s-e p50 median time from fuse_request_send (queued) to fuse_request_end (reply taken in) over all requests, depth mean/max requests in flight (traced repetition). The queue wait alone is not visible: no tracepoint marks the daemon's read.`,
    ),
    '',
    ...loadTable(curves),
  ];
}

/**
 * The reproduce line, continued with backslashes within the width. A word too long for a line
 * (a list of workloads) is broken after a comma and continued at column 0, where the shell joins
 * it back into one word.
 */
function reproduceLines(result: ResultFile): string[] {
  const lines: string[] = [];
  let line = 'reproduce:';
  const room = (text: string) => TEXT_WIDTH - 2 - text.length;
  for (const word of reproduceCommand(result)) {
    if (word.length + 1 <= room(line)) {
      line = `${line} ${word}`;
      continue;
    }
    if (word.length + 1 <= room('   ')) {
      lines.push(`${line} \\`);
      line = `    ${word}`;
      continue;
    }
    lines.push(`${line} \\`);
    let rest = word;
    let prefix = '    ';
    while (rest.length > room(prefix)) {
      const cut = rest.lastIndexOf(',', room(prefix) - 1);
      if (cut <= 0) break;
      lines.push(`${prefix}${rest.slice(0, cut + 1)}\\`);
      rest = rest.slice(cut + 1);
      prefix = '';
    }
    line = `${prefix}${rest}`;
  }
  lines.push(line);
  return lines;
}

/** The summary of one result. */
export function renderSummaryLines(model: ReportModel): string[] {
  const lines = header(model);
  lines.push('');
  if (model.sections.length === 0) lines.push('no measurements');
  else lines.push(...mainTable(model));
  const scaling = scalingTables(model);
  if (scaling.length > 0) lines.push('', ...scaling);
  const tax = fuseTaxTable(model);
  if (tax.length > 0) lines.push('', ...tax);
  lines.push('');
  const groups = groupWarnings(model.result);
  const total = groups.reduce((sum, group) => sum + group.count, 0);
  lines.push(
    ...wrap(
      total === 0
        ? 'warnings: none'
        : `warnings: ${groups.map((group) => `${group.count} ${group.kind}`).join(', ')} (all ${total} in index.html and the result file)`,
      TEXT_WIDTH,
      '  ',
    ),
  );
  lines.push(...reproduceLines(model.result));
  return lines;
}

export interface TextOptions {
  /** 7-bit ASCII only (µ as u, × as x, – as -). */
  ascii?: boolean;
}

export function renderSummary(models: readonly ReportModel[], options: TextOptions = {}): string {
  const text = `${models
    .map((model) => renderSummaryLines(model).join('\n'))
    .join(`\n\n${'='.repeat(TEXT_WIDTH)}\n\n`)}\n`;
  return options.ascii ? toAscii(text) : text;
}

/** The summary of a result file as it is (the end of `fusebench run`); `path` may be ''. */
export function renderResultSummary(result: ResultFile, path = ''): string {
  return renderSummary([buildModel({ path, result })]);
}

export const summaryExporter = (options: TextOptions = {}): Exporter =>
  textExporter('summary.txt', (models) => renderSummary(models, options));
