import { groupWarnings } from '../results/warnings.js';
import { environmentFields, methodText, peerVersions, reproduceCommand } from './describe.js';
import { textExporter } from './exporter.js';
import { fuseTaxRows } from './fuse-tax.js';
import { setupLabel } from './grid.js';
import { CELL_STATISTIC, KERNEL_SETUP, type ReportModel } from './model.js';
import { formatDuration, formatEstimate, formatInterval, formatNumber } from './units.js';

/**
 * summary.md: what summary.txt says, as Markdown for CI systems and issue trackers: the same table
 * per cache state with every interval written out, the FUSE tax table, warnings grouped by kind.
 */

const escapeCell = (text: string) => text.replace(/\|/g, '\\|');

export function markdownTable(header: string[], rows: string[][], align: Array<'left' | 'right'>): string[] {
  return [
    `| ${header.map(escapeCell).join(' | ')} |`,
    `|${align.map((side) => (side === 'left' ? ' :--- ' : ' ---: ')).join('|')}|`,
    ...rows.map((row) => `| ${row.map(escapeCell).join(' | ')} |`),
  ];
}

/** "×3.40 [3.30–3.52]*": a ratio with its interval, starred when the interval excludes 1. */
export function ratioText(ratio: { ratio: number; low: number; high: number }): string {
  const significant = ratio.low > 1 || ratio.high < 1;
  return `×${formatNumber(ratio.ratio)} ${formatInterval(ratio.ratio, ratio.low, ratio.high)}${significant ? '*' : ''}`;
}

export function renderMarkdownModel(model: ReportModel): string[] {
  const { result } = model;
  const lines = [`# fusebench: ${result.dataset.name} on ${result.environment.kernelRelease}`, ''];
  lines.push(`Result file: \`${model.path}\``, '');
  const peers = peerVersions(result).map(([name, version]) => `${name} ${version}`);
  lines.push(
    ...markdownTable(
      ['', ''],
      [...environmentFields(result), ['peers', peers.join(', ') || 'none recorded']],
      ['left', 'left'],
    ),
    '',
  );
  lines.push('Reproduce:', '', '```sh', reproduceCommand(result).join(' '), '```', '');
  for (const section of model.sections) {
    lines.push(`## ${section.cache} cache`, '');
    lines.push(
      `Cells: ${CELL_STATISTIC} (${result.config.repetitions}) with its 95% bootstrap interval. Other setups: time relative to ${KERNEL_SETUP} (throughput: ${KERNEL_SETUP}'s over the setup's), above 1 is slower, with the interval of the ratio; * the interval excludes 1; ! CV above 10%.`,
      '',
    );
    const rows = section.workloads.map((workload) => [
      workload,
      ...section.setups.map((setup) => {
        const cell = section.cell(setup, workload);
        if (!cell) return '—';
        const { value, metric } = cell.measurement.summary;
        const noisy = cell.noisy ? ' !' : '';
        const absolute = formatEstimate(value.median, value.ciLow, value.ciHigh, metric.unit);
        if (setup === KERNEL_SETUP || !cell.vsKernel) return `${absolute}${noisy}`;
        return `${ratioText(cell.vsKernel)}${noisy}<br>${absolute}`;
      }),
    ]);
    lines.push(
      ...markdownTable(['workload', ...section.setups.map(setupLabel)], rows, [
        'left',
        ...section.setups.map(() => 'right' as const),
      ]),
      '',
    );
  }
  const tax = fuseTaxRows(model);
  if (tax.length > 0) {
    lines.push('## FUSE tax', '');
    lines.push(
      `Per client operation: FUSE requests (traced repetition), context switches of client and daemon, daemon CPU time (${CELL_STATISTIC}), and the time ratio to ${KERNEL_SETUP}.`,
      '',
    );
    lines.push(
      ...markdownTable(
        [
          'cache',
          'workload',
          'setup',
          'requests/op',
          'context switches/op',
          'daemon CPU/op',
          `time vs ${KERNEL_SETUP}`,
        ],
        tax.map((row) => [
          row.cache,
          row.workload,
          row.setup,
          row.requestsPerOp === null ? '—' : formatNumber(row.requestsPerOp),
          formatNumber(row.ctxSwitchesPerOp),
          row.daemonCpuPerOpNs === null ? '—' : formatDuration(row.daemonCpuPerOpNs),
          row.vsKernel ? ratioText(row.vsKernel) : '—',
        ]),
        ['left', 'left', 'left', 'right', 'right', 'right', 'right'],
      ),
      '',
    );
  }
  lines.push('## Method', '', ...methodText(result).flatMap((paragraph) => [paragraph, '']));
  const kinds = groupWarnings(result);
  if (kinds.length > 0) {
    lines.push(`## Warnings (${kinds.reduce((sum, group) => sum + group.count, 0)})`, '');
    for (const { kind, count, details, cells } of kinds) {
      lines.push(`<details><summary>${count} × ${escapeCell(kind)}</summary>`, '');
      lines.push(...[...details, ...cells].map((item) => `- ${item}`), '', '</details>', '');
    }
  }
  return lines;
}

export function renderMarkdown(models: readonly ReportModel[]): string {
  return `${models.map((model) => renderMarkdownModel(model).join('\n')).join('\n---\n\n')}`;
}

export const markdownExporter = textExporter('summary.md', renderMarkdown);
