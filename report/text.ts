import type { ResultFile } from '../results/schema.js';
import { groupWarnings } from '../results/warnings.js';
import { environmentFields } from './describe.js';
import { textExporter } from './exporter.js';
import {
  buildModel,
  type CacheSection,
  FLOOR_SETUP,
  halfWidth,
  KERNEL_SETUP,
  type ReportModel,
} from './model.js';
import { field, headerLines, renderTable, splitTable, TEXT_WIDTH, type TextTable, wrap } from './table.js';
import { formatRatio, formatWithError } from './units.js';

/**
 * summary.txt, also what `fusebench run` prints at the end: a short environment header, then per
 * cache state a table with setups as columns and workloads as rows (median ±CI half-width and
 * ratio to kernel-erofs), split so that no line is wider than 72 columns. No ANSI codes.
 */

const SETUP_HEADER_WIDTH = 14;
/** Cells named per kind of warning; the rest are counted. */
const WARNING_CELLS = 6;

function header(model: ReportModel): string[] {
  const fields = new Map(environmentFields(model.result));
  const lines: string[] = [];
  const { config, setups } = model.result;
  if (model.path !== '') lines.push(...field('result', model.path));
  for (const name of ['run', 'kernel', 'cpu', 'memory', 'dataset', 'image', 'fuse', 'driver'])
    lines.push(...field(name, fields.get(name) ?? ''));
  lines.push(
    ...field(
      'method',
      `median of ${config.repetitions} timed repetitions, ±: half-width of its 95% bootstrap CI; ×: time relative to ${KERNEL_SETUP} (throughput rows: ${KERNEL_SETUP}'s throughput over the setup's), above 1 is slower; ! CV above 10%`,
    ),
  );
  const missing = setups.filter((setup) => setup.status !== 'ok');
  for (const setup of missing)
    lines.push(...field('skipped', `${setup.name} (${setup.status}): ${setup.note ?? 'no reason given'}`));
  return lines;
}

function cellText(section: CacheSection, setup: string, workload: string): { value: string; ratio: string } {
  const cell = section.cell(setup, workload);
  if (!cell) return { value: '—', ratio: '' };
  const { value, metric } = cell.measurement.summary;
  const text =
    value.n === 0
      ? 'no data'
      : `${formatWithError(value.median, halfWidth(cell.measurement), metric.unit)}${cell.noisy ? '!' : ''}`;
  const ratio =
    setup === KERNEL_SETUP || setup === FLOOR_SETUP || !cell.vsKernel ? '' : formatRatio(cell.vsKernel.ratio);
  return { value: text, ratio };
}

function sectionTable(section: CacheSection): TextTable {
  const table: TextTable = {
    columns: [{ header: ['workload'], align: 'left' }],
    rows: section.workloads.map((workload) => [workload]),
  };
  for (const setup of section.setups) {
    const texts = section.workloads.map((workload) => cellText(section, setup, workload));
    const hasRatio = texts.some((text) => text.ratio !== '');
    const cellWidth = Math.max(
      ...texts.map((text) => [...`${text.value}${text.ratio ? ` ${text.ratio}` : ''}`].length),
    );
    const name = setup === FLOOR_SETUP ? 'floor (tmpfs)' : setup;
    table.columns.push({
      header: headerLines(name, Math.max(cellWidth, SETUP_HEADER_WIDTH)),
      align: 'right',
    });
    section.workloads.forEach((_, index) => {
      const text = texts[index]!;
      // Values and ratios line up: the ratio gets a fixed-width slot in every row of the column.
      const ratioWidth = hasRatio ? Math.max(...texts.map((t) => [...t.ratio].length)) : 0;
      table.rows[index]!.push(hasRatio ? `${text.value} ${text.ratio.padStart(ratioWidth)}` : text.value);
    });
  }
  return table;
}

/** The summary of one result: header lines, then the tables per cache state. */
export function renderSummaryLines(model: ReportModel): string[] {
  const lines = header(model);
  if (model.sections.length === 0) {
    lines.push('', 'no measurements');
    return lines;
  }
  for (const section of model.sections) {
    const parts = splitTable(sectionTable(section), 1, TEXT_WIDTH);
    parts.forEach((part, index) => {
      lines.push('');
      lines.push(
        ...wrap(
          `${section.cache} cache${parts.length > 1 ? ` (${index + 1}/${parts.length})` : ''}: median ±CI, ×${KERNEL_SETUP}`,
        ),
      );
      lines.push(...renderTable(part, TEXT_WIDTH));
    });
  }
  const groups = groupWarnings(model.result);
  const warnings = groups.reduce((sum, group) => sum + group.count, 0);
  if (warnings > 0) {
    lines.push('');
    lines.push(
      ...wrap(`${warnings} warning${warnings === 1 ? '' : 's'} by kind (every one is in the result file):`),
    );
    for (const group of groups) {
      const named = [...group.details, ...group.cells];
      const shown = `${named.slice(0, WARNING_CELLS).join('; ')}${named.length > WARNING_CELLS ? `; and ${named.length - WARNING_CELLS} more` : ''}`;
      lines.push(...wrap(`- ${group.count} × ${group.kind}: ${shown}`, TEXT_WIDTH, '  '));
    }
  }
  return lines;
}

export function renderSummary(models: readonly ReportModel[]): string {
  return `${models
    .map((model) => renderSummaryLines(model).join('\n'))
    .join(`\n\n${'='.repeat(TEXT_WIDTH)}\n\n`)}\n`;
}

/** The summary of a result file as it is (the end of `fusebench run`); `path` may be ''. */
export function renderResultSummary(result: ResultFile, path = ''): string {
  return renderSummary([buildModel({ path, result })]);
}

export const summaryExporter = textExporter('summary.txt', renderSummary);
