import { environmentFields, methodText } from './describe.js';
import { textExporter } from './exporter.js';
import { FLOOR_SETUP, halfWidth, KERNEL_SETUP, type ReportModel } from './model.js';
import { formatRatio, formatWithError } from './units.js';

/** summary.md: the same tables as summary.txt as Markdown (one table per cache state, no width limit). */

const escapeCell = (text: string) => text.replace(/\|/g, '\\|');

function table(header: string[], rows: string[][], align: Array<'left' | 'right'>): string[] {
  return [
    `| ${header.map(escapeCell).join(' | ')} |`,
    `|${align.map((side) => (side === 'left' ? ' :--- ' : ' ---: ')).join('|')}|`,
    ...rows.map((row) => `| ${row.map(escapeCell).join(' | ')} |`),
  ];
}

export function renderMarkdownModel(model: ReportModel): string[] {
  const { result } = model;
  const lines = [`# fusebench: ${result.dataset.name} on ${result.environment.kernelRelease}`, ''];
  lines.push(`Result file: \`${model.path}\``, '');
  lines.push(
    ...table(
      ['', ''],
      environmentFields(result).map(([name, value]) => [name, value]),
      ['left', 'left'],
    ),
    '',
  );
  for (const section of model.sections) {
    lines.push(`## ${section.cache} cache`, '');
    lines.push(
      `Median ± half-width of its 95% bootstrap CI; × is the time relative to ${KERNEL_SETUP} (above 1 is slower); ! marks CV above 10%.`,
      '',
    );
    const rows = section.workloads.map((workload) => [
      workload,
      ...section.setups.map((setup) => {
        const cell = section.cell(setup, workload);
        if (!cell) return '—';
        const { value, metric } = cell.measurement.summary;
        const text = `${formatWithError(value.median, halfWidth(cell.measurement), metric.unit)}${cell.noisy ? '!' : ''}`;
        return cell.vsKernel && setup !== KERNEL_SETUP
          ? `${text} ${formatRatio(cell.vsKernel.ratio)} (${cell.vsKernel.low.toFixed(2)}–${cell.vsKernel.high.toFixed(2)})`
          : text;
      }),
    ]);
    lines.push(
      ...table(
        ['workload', ...section.setups.map((setup) => (setup === FLOOR_SETUP ? 'floor (tmpfs)' : setup))],
        rows,
        ['left', ...section.setups.map(() => 'right' as const)],
      ),
      '',
    );
  }
  lines.push('## Method', '', ...methodText(result).flatMap((paragraph) => [paragraph, '']));
  if (model.warnings.length > 0) {
    lines.push('## Warnings', '', ...model.warnings.map((warning) => `- ${warning}`), '');
  }
  return lines;
}

export function renderMarkdown(models: readonly ReportModel[]): string {
  return `${models.map((model) => renderMarkdownModel(model).join('\n')).join('\n---\n\n')}`;
}

export const markdownExporter = textExporter('summary.md', renderMarkdown);
