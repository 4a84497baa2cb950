import { environmentFields, methodText } from './describe.js';
import { textExporter } from './exporter.js';
import {
  type CacheSection,
  FLOOR_SETUP,
  fuseOpcodes,
  halfWidth,
  KERNEL_SETUP,
  opLatency,
  type ReportModel,
  systemCpuPerOp,
} from './model.js';
import {
  type ChartSpec,
  canvas,
  escapeHtml,
  htmlPage,
  needsLogScale,
  paletteColour,
  pngAttribute,
  setupColour,
} from './page.js';
import { formatBytes, formatDuration, formatNumber, formatRatio, formatWithError } from './units.js';

/**
 * index.html: every figure of a report on one self-contained page, per cache state (warm and cold
 * are never mixed in one chart or table): latency, ratio heatmap, CPU and context switches per
 * operation, FUSE requests, throughput against block size and readers; then environment, method
 * and warnings. Elements marked data-png are what the PNG exporter saves.
 */

class Page {
  readonly charts: ChartSpec[] = [];
  readonly parts: string[] = [];
  constructor(readonly prefix: string) {}

  add(html: string): void {
    this.parts.push(html);
  }

  chart(id: string, spec: Omit<ChartSpec, 'id'>, height?: number): string {
    const full = `${this.prefix}${id}`;
    this.charts.push({ id: full, ...spec });
    return canvas(full, height);
  }

  png(name: string): string {
    return pngAttribute(`${this.prefix}${name}.png`);
  }
}

const label = (setup: string) => (setup === FLOOR_SETUP ? 'floor (tmpfs)' : setup);
const e = escapeHtml;

function latencyChart(page: Page, section: CacheSection): void {
  const datasets = section.setups.map((setup) => {
    const latencies = section.workloads.map((workload) => {
      const cell = section.cell(setup, workload);
      if (!cell) return null;
      const latency = opLatency(cell.measurement);
      if (latency) return latency;
      const { metric, value } = cell.measurement.summary;
      // Drivers that only time the whole run: time per operation without a p99.
      if (metric.unit !== 'ns' || value.n === 0) return null;
      const perOp =
        metric.name === 'wall time'
          ? value.median / Math.max(1, cell.measurement.repetitions[0]?.opCount ?? 1)
          : value.median;
      return { kind: 'op', p50Ns: perOp, p99Ns: Number.NaN };
    });
    return {
      label: label(setup),
      backgroundColor: setupColour(setup),
      data: latencies.map((latency) => latency?.p50Ns ?? null),
      whiskers: latencies.map((latency) =>
        latency && Number.isFinite(latency.p99Ns) ? latency.p99Ns : null,
      ),
    };
  });
  const values = datasets.flatMap((dataset) => [...dataset.data, ...dataset.whiskers]);
  const log = needsLogScale(values);
  // The axis must reach the whiskers, which chart.js does not count as data.
  const top = Math.max(
    0,
    ...values.filter((value): value is number => value !== null && Number.isFinite(value)),
  );
  page.add(
    `<h3>Latency per operation, ${section.cache} cache</h3>
<p class="note">Bar: median over repetitions of the p50 latency of the workload's dominant operation; whisker: the same for p99.${log ? ' Logarithmic scale.' : ''}</p>
<div class="figure"${page.png(`latency-${section.cache}`)}>${page.chart(
      `latency-${section.cache}`,
      {
        format: 'time',
        config: {
          type: 'bar',
          data: { labels: section.workloads, datasets },
          options: {
            plugins: {
              title: {
                display: true,
                text: `Latency per operation (${section.cache} cache): p50, whisker p99`,
              },
            },
            scales: {
              y: {
                type: log ? 'logarithmic' : 'linear',
                suggestedMax: top * (log ? 1.5 : 1.05),
                title: { display: true, text: 'latency per operation' },
              },
            },
          },
        },
      },
      420,
    )}</div>`,
  );
}

/** Heatmap colour of a time ratio: green at 1, through yellow to red at 8× and beyond; blue below 1. */
function heat(ratio: number): string {
  if (!Number.isFinite(ratio)) return '#fff';
  if (ratio < 1) {
    const depth = Math.min(1, Math.log2(1 / ratio) / 2);
    return `hsl(210, 70%, ${Math.round(92 - depth * 22)}%)`;
  }
  const depth = Math.min(1, Math.log2(ratio) / 3);
  return `hsl(${Math.round(120 - depth * 120)}, 70%, ${Math.round(85 - depth * 10)}%)`;
}

function ratioTable(page: Page, section: CacheSection): void {
  const setups = section.setups.filter((setup) => setup !== FLOOR_SETUP);
  const rows = section.workloads.map((workload) => {
    const cells = setups.map((setup) => {
      const cell = section.cell(setup, workload);
      if (!cell) return '<td>—</td>';
      const { value, metric } = cell.measurement.summary;
      const median = `${e(formatWithError(value.median, halfWidth(cell.measurement), metric.unit))}${cell.noisy ? ' <span title="CV above 10%">!</span>' : ''}`;
      if (setup === KERNEL_SETUP) return `<td>×1<br><small>${median}</small></td>`;
      if (!cell.vsKernel) return `<td><small>${median}</small></td>`;
      const { ratio, low, high } = cell.vsKernel;
      return `<td style="background:${heat(ratio)}" title="95% CI ${low.toFixed(3)}–${high.toFixed(3)}"><b>${e(formatRatio(ratio))}</b> <small>[${low.toFixed(2)}–${high.toFixed(2)}]</small><br><small>${median}</small></td>`;
    });
    return `<tr><td>${e(workload)}</td>${cells.join('')}</tr>`;
  });
  page.add(
    `<h3>Ratio to ${KERNEL_SETUP}, ${section.cache} cache</h3>
<p class="note">Time relative to ${KERNEL_SETUP} (throughput workloads: ${KERNEL_SETUP}'s throughput over the setup's); above 1 is slower. Brackets: bootstrap 95% interval of the ratio. Below each: median ± CI half-width.</p>
<div class="figure" style="display:inline-block"${page.png(`ratio-${section.cache}`)}><table><thead><tr><th>workload</th>${setups.map((setup) => `<th>${e(label(setup))}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table></div>`,
  );
}

/** Small multiples: one chart per workload, x = setups, client + daemon stacked, system beside. */
function usageCharts(page: Page, section: CacheSection, what: 'cpu' | 'ctxsw'): void {
  const setups = section.setups;
  const charts: string[] = [];
  const tableRows: string[] = [];
  for (const workload of section.workloads) {
    const cells = setups.map((setup) => section.cell(setup, workload));
    const pick = (select: (perOp: NonNullable<(typeof cells)[number]>) => number | null) =>
      cells.map((cell) => (cell ? select(cell) : null));
    const client = pick((cell) =>
      what === 'cpu'
        ? cell.measurement.summary.perOp.clientCpuNs
        : cell.measurement.summary.perOp.clientCtxSwitches,
    );
    const daemon = pick((cell) =>
      what === 'cpu'
        ? cell.measurement.summary.perOp.daemonCpuNs
        : cell.measurement.summary.perOp.daemonCtxSwitches,
    );
    const system = pick((cell) =>
      what === 'cpu' ? systemCpuPerOp(cell.measurement) : cell.measurement.summary.perOp.systemCtxSwitches,
    );
    const format = what === 'cpu' ? 'time' : 'count';
    const show = (value: number | null) =>
      value === null || !Number.isFinite(value)
        ? '—'
        : what === 'cpu'
          ? formatDuration(value)
          : formatNumber(value);
    setups.forEach((setup, index) => {
      if (!cells[index]) return;
      tableRows.push(
        `<tr><td>${e(workload)}</td><td class="left">${e(label(setup))}</td><td>${show(client[index]!)}</td><td>${show(daemon[index]!)}</td><td>${show(system[index]!)}</td></tr>`,
      );
    });
    charts.push(
      page.chart(
        `${what}-${section.cache}-${workload}`,
        {
          format,
          config: {
            type: 'bar',
            data: {
              labels: setups.map(label),
              datasets: [
                { label: 'client', data: client, backgroundColor: '#4e79a7', stack: 'processes' },
                { label: 'daemon', data: daemon, backgroundColor: '#f28e2b', stack: 'processes' },
                {
                  label: 'system (whole machine)',
                  data: system,
                  backgroundColor: '#bab0ac',
                  stack: 'system',
                },
              ],
            },
            options: {
              plugins: {
                title: { display: true, text: workload },
                legend: { display: true, labels: { boxWidth: 10, font: { size: 10 } } },
              },
              scales: {
                x: { stacked: true, ticks: { font: { size: 10 } } },
                y: { stacked: true, beginAtZero: true },
              },
            },
          },
        },
        250,
      ),
    );
  }
  const title = what === 'cpu' ? 'CPU time per operation' : 'Context switches per operation';
  page.add(
    `<h3>${title}, ${section.cache} cache</h3>
<p class="note">Medians over repetitions of the per-operation figure. Client and daemon are stacked; the system bar is the whole machine (it includes both).</p>
<div class="figure grid"${page.png(`${what}-${section.cache}`)}>${charts.join('')}</div>
<details><summary>${title} as a table</summary><table><thead><tr><th>workload</th><th class="left">setup</th><th>client</th><th>daemon</th><th>system</th></tr></thead><tbody>${tableRows.join('')}</tbody></table></details>`,
  );
}

function fuseSection(page: Page, section: CacheSection): void {
  const charts: string[] = [];
  const rows: string[] = [];
  for (const workload of section.workloads) {
    const traced = section.setups
      .map((setup) => ({ setup, cell: section.cell(setup, workload) }))
      .map(({ setup, cell }) => ({ setup, opcodes: cell ? fuseOpcodes(cell.measurement) : [] }))
      .filter((entry) => entry.opcodes.length > 0);
    if (traced.length === 0) continue;
    const opcodes = [...new Set(traced.flatMap((entry) => entry.opcodes.map((row) => row.opcode)))];
    for (const entry of traced)
      for (const row of entry.opcodes)
        rows.push(
          `<tr><td>${e(workload)}</td><td class="left">${e(entry.setup)}</td><td class="left">${e(row.opcode)}</td><td>${row.count}</td><td>${formatNumber(row.perOp)}</td><td>${row.errors}</td><td>${formatDuration(row.meanNs)}</td><td>${formatDuration(row.p50Ns)}</td><td>${formatDuration(row.p99Ns)}</td><td>${formatDuration(row.maxNs)}</td></tr>`,
        );
    charts.push(
      page.chart(
        `fuse-${section.cache}-${workload}`,
        {
          format: 'count',
          config: {
            type: 'bar',
            data: {
              labels: traced.map((entry) => entry.setup),
              datasets: opcodes.map((opcode, index) => ({
                label: opcode,
                backgroundColor: paletteColour(index),
                data: traced.map(
                  (entry) => entry.opcodes.find((row) => row.opcode === opcode)?.perOp ?? null,
                ),
              })),
            },
            options: {
              plugins: {
                title: { display: true, text: `${workload}: FUSE requests per operation` },
                legend: { labels: { boxWidth: 10, font: { size: 10 } } },
              },
              scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } },
            },
          },
        },
        250,
      ),
    );
  }
  if (rows.length === 0) {
    page.add(
      `<h3>FUSE requests, ${section.cache} cache</h3><p class="note">No traced repetition in this cache state (tracing off, or no FUSE setup).</p>`,
    );
    return;
  }
  page.add(
    `<h3>FUSE requests, ${section.cache} cache</h3>
<p class="note">From the traced repetition(s) of each FUSE setup (tracefs fuse_request_send → fuse_request_end): requests per client operation by opcode, and the kernel-side latency of each request (percentiles are medians over traced repetitions).</p>
<div class="figure grid"${page.png(`fuse-${section.cache}`)}>${charts.join('')}</div>
<table><thead><tr><th>workload</th><th class="left">setup</th><th class="left">opcode</th><th>requests</th><th>per op</th><th>errors</th><th>mean</th><th>p50</th><th>p99</th><th>max</th></tr></thead><tbody>${rows.join('')}</tbody></table>`,
  );
}

/** Throughput of a workload family against its parameter (block size or readers), one line per setup. */
function familyChart(
  page: Page,
  section: CacheSection,
  family: string,
  param: string,
  name: string,
  title: string,
  axis: string,
  describe: (value: number) => string,
): void {
  const members = section.workloads
    .map((workload) => {
      const cell = section.setups.map((setup) => section.cell(setup, workload)).find(Boolean);
      const value = cell?.measurement.params[param];
      return cell && cell.measurement.family === family && typeof value === 'number'
        ? { workload, value }
        : null;
    })
    .filter((member): member is { workload: string; value: number } => member !== null)
    .sort((a, b) => a.value - b.value);
  if (members.length < 2) return;
  const datasets = section.setups.map((setup) => ({
    label: label(setup),
    borderColor: setupColour(setup),
    backgroundColor: setupColour(setup),
    spanGaps: true,
    data: members.map(({ workload }) => {
      const cell = section.cell(setup, workload);
      if (!cell) return null;
      const { metric, value, throughput } = cell.measurement.summary;
      return metric.unit === 'B/s' ? value.median : throughput.bytesPerSec;
    }),
  }));
  const log = needsLogScale(datasets.flatMap((dataset) => dataset.data));
  page.add(
    `<h3>${title}, ${section.cache} cache</h3>
<p class="note">Median throughput over repetitions (${members.map((member) => member.workload).join(', ')}).${log ? ' Logarithmic scale.' : ''}</p>
<div class="figure"${page.png(`${name}-${section.cache}`)}>${page.chart(
      `${name}-${section.cache}`,
      {
        format: 'rate',
        config: {
          type: 'line',
          data: { labels: members.map((member) => describe(member.value)), datasets },
          options: {
            plugins: { title: { display: true, text: `${title} (${section.cache} cache)` } },
            scales: {
              x: { title: { display: true, text: axis } },
              y: { type: log ? 'logarithmic' : 'linear', title: { display: true, text: 'throughput' } },
            },
          },
        },
      },
      360,
    )}</div>`,
  );
}

function environmentSection(page: Page, model: ReportModel): void {
  const { result } = model;
  const fields = environmentFields(result)
    .map(([name, value]) => `<dt>${e(name)}</dt><dd>${e(value)}</dd>`)
    .join('');
  const facts = (record: Record<string, unknown>) =>
    Object.entries(record)
      .map(([name, value]) => `${name}=${String(value)}`)
      .join(', ');
  const setups = result.setups
    .map(
      (setup) =>
        `<tr><td>${e(setup.name)}</td><td class="left">${e(setup.kind)}</td><td class="left">${e(setup.status)}${setup.note ? `: ${e(setup.note)}` : ''}</td><td class="left" style="white-space:normal">${e(setup.description)}<br><small>${e(facts(setup.facts))}</small></td></tr>`,
    )
    .join('');
  const kernelFacts = facts(result.environment.facts);
  page.add(
    `<h3>Environment</h3><dl class="env">${fields}${kernelFacts ? `<dt>facts</dt><dd>${e(kernelFacts)}</dd>` : ''}<dt>config</dt><dd>profile ${e(result.config.profile)}, ${result.config.repetitions} repetitions, ${result.config.warmupRepetitions} warm-up, seed ${result.config.seed}, image ${e(facts(result.config.image))}</dd></dl>
<table><thead><tr><th>setup</th><th class="left">kind</th><th class="left">status</th><th class="left">description and facts</th></tr></thead><tbody>${setups}</tbody></table>
<h3>Method</h3>${methodText(result)
      .map((paragraph) => `<p>${e(paragraph)}</p>`)
      .join('')}`,
  );
  page.add(
    model.warnings.length === 0
      ? '<h3>Warnings</h3><p>None.</p>'
      : `<h3>Warnings (${model.warnings.length})</h3><ul class="warnings">${model.warnings.map((warning) => `<li>${e(warning)}</li>`).join('')}</ul>`,
  );
}

function modelSection(page: Page, model: ReportModel, heading: string): void {
  const { result } = model;
  page.add(
    `${heading}<p class="note">${e(model.path)} — ${e(result.environment.kernelRelease)}, ${e(result.environment.cpuModel)}, dataset ${e(result.dataset.name)} (${formatBytes(result.dataset.bytes)}), ${result.config.repetitions} repetitions.</p>`,
  );
  if (model.warnings.length > 0)
    page.add(
      `<p class="note">${model.warnings.length} warning(s): see <a href="#${page.prefix}warnings">below</a>.</p>`,
    );
  for (const section of model.sections) {
    page.add(
      `<h2 id="${page.prefix}${section.cache}">${section.cache === 'warm' ? 'Warm' : 'Cold'} cache</h2>`,
    );
    latencyChart(page, section);
    ratioTable(page, section);
    familyChart(
      page,
      section,
      'seqread',
      'blockSize',
      'blocksize',
      'Throughput against block size',
      'block size',
      formatBytes,
    );
    familyChart(
      page,
      section,
      'parallel-read',
      'readers',
      'readers',
      'Throughput against readers',
      'reader processes',
      (value) => String(value),
    );
    usageCharts(page, section, 'cpu');
    usageCharts(page, section, 'ctxsw');
    fuseSection(page, section);
  }
  page.add(`<h2 id="${page.prefix}warnings">Environment, method and warnings</h2>`);
  environmentSection(page, model);
}

export function renderHtml(models: readonly ReportModel[]): string {
  const charts: ChartSpec[] = [];
  const parts: string[] = [];
  models.forEach((model, index) => {
    const page = new Page(models.length > 1 ? `r${index + 1}-` : '');
    const title =
      models.length > 1
        ? `<h1 id="r${index + 1}-top">${index + 1}. ${e(model.result.environment.kernelRelease)} — ${e(model.result.runId)}</h1>`
        : `<h1>fusebench: FUSE against in-kernel EROFS on ${e(model.result.environment.kernelRelease)}</h1>`;
    const nav = `<nav>${model.sections.map((section) => `<a href="#${page.prefix}${section.cache}">${section.cache} cache</a>`).join('')}<a href="#${page.prefix}warnings">environment, method, warnings</a></nav>`;
    modelSection(page, model, title + nav);
    charts.push(...page.charts);
    parts.push(...page.parts);
  });
  const title =
    models.length === 1
      ? `fusebench report: ${models[0]!.result.environment.kernelRelease} ${models[0]!.result.runId}`
      : `fusebench report: ${models.length} runs`;
  return htmlPage(title, parts.join('\n'), charts);
}

export const htmlExporter = textExporter('index.html', renderHtml);
