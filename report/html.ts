import { groupWarnings } from '../results/warnings.js';
import { environmentFields, methodText, peerVersions, reproduceCommand } from './describe.js';
import { textExporter } from './exporter.js';
import { fuseTaxRows } from './fuse-tax.js';
import { setupLabel } from './grid.js';
import { type LatencyCurve, latencyCurve } from './latency.js';
import { ratioText } from './markdown.js';
import {
  type CacheSection,
  CELL_STATISTIC,
  FLOOR_SETUP,
  fuseOpcodes,
  KERNEL_SETUP,
  type ReportModel,
  systemCpuPerOp,
} from './model.js';
import {
  type ChartSpec,
  canvas,
  escapeHtml,
  htmlPage,
  INSIGNIFICANT_COLOUR,
  opcodeColour,
  pngAttribute,
  setupColour,
  USAGE_COLOURS,
  valueAxis,
} from './page.js';
import { type ScalingCurve, scalingCurves } from './scaling.js';
import { formatBytes, formatDuration, formatEstimate, formatNumber, formatValue } from './units.js';

/**
 * index.html: every figure of a report on one self-contained page, per cache state (warm and cold
 * are never mixed in one chart or table): the table of medians and ratios, the ratio forest plot,
 * latency distributions, throughput against block size and readers, CPU and context switches per
 * operation, the FUSE tax and FUSE requests per opcode; then environment, method and warnings.
 * Elements marked data-png are what the PNG exporter saves; each carries its own title with the
 * cache state, every numeric axis names its unit, and colours are fixed per setup and per opcode.
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

  /** A figure saved as NAME.png, with its title (and cache state) inside it; `grid` for small multiples. */
  figure(name: string, title: string, body: string, grid = false): string {
    return `<div class="figure"${pngAttribute(`${this.prefix}${name}.png`)}><p class="caption">${e(title)}</p>${grid ? `<div class="grid">${body}</div>` : body}</div>`;
  }
}

const e = escapeHtml;
const significant = (ratio: { low: number; high: number }) => ratio.low > 1 || ratio.high < 1;

function summaryTable(page: Page, section: CacheSection, repetitions: number): void {
  const rows = section.workloads.map((workload) => {
    const cells = section.setups.map((setup) => {
      const cell = section.cell(setup, workload);
      if (!cell) return '<td>—</td>';
      const { value, metric } = cell.measurement.summary;
      const noisy = cell.noisy ? ' <span title="CV above 10%">!</span>' : '';
      const absolute = e(formatEstimate(value.median, value.ciLow, value.ciHigh, metric.unit));
      if (setup === KERNEL_SETUP || !cell.vsKernel) return `<td>${absolute}${noisy}</td>`;
      return `<td><b>${e(ratioText(cell.vsKernel))}</b>${noisy}<br><small>${absolute}</small></td>`;
    });
    return `<tr><td>${e(workload)}</td>${cells.join('')}</tr>`;
  });
  page.add(
    `<h3>Medians and ratios to ${KERNEL_SETUP}, ${section.cache} cache</h3>
<p class="note">Every cell: ${CELL_STATISTIC} (${repetitions}) of the workload's metric (time per operation, wall time per run, or throughput) with its 95% bootstrap interval [lo–hi]. Other setups first show their time relative to ${KERNEL_SETUP} (throughput: ${KERNEL_SETUP}'s over the setup's; above 1 is slower) with the interval of that ratio; * the interval excludes 1; ! CV above 10%.</p>
<table><caption>${CELL_STATISTIC} (${repetitions}) [95% interval]; ratios: time relative to ${KERNEL_SETUP}</caption><thead><tr><th>workload</th>${section.setups.map((setup) => `<th>${e(setupLabel(setup))}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`,
  );
}

/** The forest plot of ratios: one row per workload, a CI bar and a diamond per setup, a line at 1. */
function forestPlot(page: Page, section: CacheSection): void {
  const setups = section.setups.filter((setup) => setup !== KERNEL_SETUP && setup !== FLOOR_SETUP);
  const workloads = section.workloads.filter((workload) =>
    setups.some((setup) => section.cell(setup, workload)?.vsKernel),
  );
  const ratios = setups.map((setup) =>
    workloads.map((workload) => section.cell(setup, workload)?.vsKernel ?? null),
  );
  if (!ratios.flat().some((ratio) => ratio !== null)) return;
  const values = ratios.flat().flatMap((ratio) => (ratio ? [ratio.low, ratio.high, 1] : []));
  const axis = valueAxis(`time relative to ${KERNEL_SETUP}`, values, '×', true);
  const title = `Ratio to ${KERNEL_SETUP} (${section.cache} cache): median time ratio with its 95% interval`;
  const id = `ratio-${section.cache}`;
  const height = 90 + workloads.length * Math.max(28, setups.length * 13);
  page.add(
    `<h3>Ratio to ${KERNEL_SETUP}, ${section.cache} cache</h3>
<p class="note">Diamond: the ratio of medians (time relative to ${KERNEL_SETUP}, throughput workloads inverted, so right of the dashed line at 1 is slower); bar: its 95% bootstrap interval. A setup has its colour only where the interval excludes 1; grey where the data cannot tell it from ${KERNEL_SETUP}.</p>
${page.figure(
  id,
  title,
  page.chart(
    id,
    {
      axes: { x: axis.format },
      legend: [
        ...setups.map((setup) => ({ text: setup, colour: setupColour(setup) })),
        { text: 'interval includes 1', colour: INSIGNIFICANT_COLOUR },
      ],
      config: {
        type: 'bar',
        data: {
          labels: workloads,
          datasets: setups.map((setup, index) => ({
            label: setup,
            data: ratios[index]!.map((ratio) => (ratio ? [ratio.low, ratio.high] : null)),
            points: ratios[index]!.map((ratio) => ratio?.ratio ?? null),
            backgroundColor: ratios[index]!.map((ratio) =>
              ratio && significant(ratio) ? setupColour(setup) : INSIGNIFICANT_COLOUR,
            ),
            barPercentage: 0.4,
            categoryPercentage: 0.9,
          })),
        },
        options: {
          indexAxis: 'y',
          plugins: { fusebenchLine: { axis: 'x', value: 1 } },
          scales: {
            x: axis.scale,
            y: { title: { display: true, text: 'workload' } },
          },
        },
      },
    },
    height,
  ),
)}`,
  );
}

/**
 * A cumulative fraction on the nines scale, -log10(1 - F); the last point (F = 1) is drawn half a
 * sample beyond the one before it, where a finite scale can show it.
 */
export function ninesOf(fraction: number, count: number): number {
  return -Math.log10(Math.max(1 - fraction, 1 / (2 * count)));
}

/** Latency CDFs: one panel per workload, every setup in it, log time against the nines scale. */
function latencyCharts(page: Page, section: CacheSection): void {
  const panels: string[] = [];
  let missing = 0;
  for (const workload of section.workloads) {
    const curves = section.setups
      .map((setup) => {
        const cell = section.cell(setup, workload);
        const curve = cell ? latencyCurve(cell.measurement) : null;
        if (cell && !curve) missing++;
        return curve ? { setup, curve } : null;
      })
      .filter((entry): entry is { setup: string; curve: LatencyCurve } => entry !== null);
    if (curves.length === 0) continue;
    const kinds = [...new Set(curves.map((entry) => entry.curve.kind))];
    const axis = valueAxis(
      'latency per operation',
      curves.flatMap((entry) => entry.curve.points.map((point) => point.ns)),
      'ns',
      true,
    );
    const title = `${workload}: ${kinds.join('/')} latency CDF (${section.cache} cache)`;
    // The nines scale: y = -log10(1 - F), so p90, p99 and p99.9 are evenly spaced and tails show.
    const top = Math.max(1, ...curves.map((entry) => ninesOf(1, entry.curve.count)));
    panels.push(
      page.chart(
        `latency-${section.cache}-${workload}`,
        {
          axes: { x: axis.format, y: { unit: '%', divisor: 1, nines: true } },
          config: {
            type: 'line',
            data: {
              datasets: curves.map(({ setup, curve }) => ({
                label: setupLabel(setup),
                data: curve.points.map((point) => ({ x: point.ns, y: ninesOf(point.fraction, curve.count) })),
                borderColor: setupColour(setup),
                backgroundColor: setupColour(setup),
                borderWidth: 1.5,
                pointRadius: 0,
              })),
            },
            options: {
              parsing: false,
              plugins: {
                title: { display: true, text: title },
                legend: { labels: { boxWidth: 10, font: { size: 10 } } },
              },
              scales: {
                x: { ...axis.scale },
                y: {
                  type: 'linear',
                  min: 0,
                  max: top,
                  title: { display: true, text: 'ops at or below (%, nines)' },
                },
              },
            },
          },
        },
        280,
      ),
    );
  }
  const heading = `<h3>Latency distribution, ${section.cache} cache</h3>`;
  if (panels.length === 0) {
    page.add(
      `${heading}<p class="note">This result file holds no latency histograms (they are recorded per operation kind and repetition by newer runs), so no distribution is drawn: percentiles of single repetitions are not a distribution.</p>`,
    );
    return;
  }
  page.add(
    `${heading}<p class="note">Cumulative distribution of the latency of every timed operation of the workload's dominant kind, repetitions merged (histograms as recorded), one line per setup: time on a log axis against the share of operations at or below it on a nines scale (0%, 90%, 99%, 99.9%, … equally spaced), so the tail is as visible as the median.${missing > 0 ? ` ${missing} measurement(s) without histograms are left out.` : ''}</p>
${page.figure(`latency-${section.cache}`, `Latency distribution per operation, ${section.cache} cache`, panels.join(''), true)}`,
  );
}

/** Small multiples: one chart per workload, x = setups, client / daemon / system side by side on a log axis. */
function usageCharts(page: Page, section: CacheSection, what: 'cpu' | 'ctxsw'): void {
  const setups = section.setups;
  const charts: string[] = [];
  const tableRows: string[] = [];
  const title = what === 'cpu' ? 'CPU time per operation' : 'Context switches per operation';
  const show = (value: number | null) =>
    value === null || !Number.isFinite(value)
      ? '—'
      : what === 'cpu'
        ? formatDuration(value)
        : formatNumber(value);
  for (const workload of section.workloads) {
    const cells = setups.map((setup) => section.cell(setup, workload));
    const pick = (select: (cell: NonNullable<(typeof cells)[number]>) => number | null) =>
      cells.map((cell) => {
        const value = cell ? select(cell) : null;
        // A log axis has no zero: a zero per-operation figure is shown in the table only.
        return value !== null && value > 0 && Number.isFinite(value) ? value : null;
      });
    const perOp = (cell: NonNullable<(typeof cells)[number]>) => cell.measurement.summary.perOp;
    const client = pick((cell) => (what === 'cpu' ? perOp(cell).clientCpuNs : perOp(cell).clientCtxSwitches));
    const daemon = pick((cell) => (what === 'cpu' ? perOp(cell).daemonCpuNs : perOp(cell).daemonCtxSwitches));
    const system = pick((cell) =>
      what === 'cpu' ? systemCpuPerOp(cell.measurement) : perOp(cell).systemCtxSwitches,
    );
    setups.forEach((setup, index) => {
      const cell = cells[index];
      if (!cell) return;
      tableRows.push(
        `<tr><td>${e(workload)}</td><td class="left">${e(setupLabel(setup))}</td><td>${show(what === 'cpu' ? perOp(cell).clientCpuNs : perOp(cell).clientCtxSwitches)}</td><td>${show(what === 'cpu' ? perOp(cell).daemonCpuNs : perOp(cell).daemonCtxSwitches)}</td><td>${show(what === 'cpu' ? systemCpuPerOp(cell.measurement) : perOp(cell).systemCtxSwitches)}</td></tr>`,
      );
    });
    const axis = valueAxis(
      what === 'cpu' ? 'CPU time per op' : 'context switches',
      [...client, ...daemon, ...system],
      what === 'cpu' ? 'ns' : 'per op',
      true,
    );
    charts.push(
      page.chart(
        `${what}-${section.cache}-${workload}`,
        {
          axes: { y: axis.format },
          config: {
            type: 'bar',
            data: {
              labels: setups.map(setupLabel),
              datasets: [
                { label: 'client', data: client, backgroundColor: USAGE_COLOURS.client },
                { label: 'daemon', data: daemon, backgroundColor: USAGE_COLOURS.daemon },
                { label: 'system (whole machine)', data: system, backgroundColor: USAGE_COLOURS.system },
              ],
            },
            options: {
              plugins: {
                title: { display: true, text: `${workload} (${section.cache} cache)` },
                legend: { display: true, labels: { boxWidth: 10, font: { size: 10 } } },
              },
              scales: {
                x: { ticks: { font: { size: 10 } }, title: { display: true, text: 'setup' } },
                y: axis.scale,
              },
            },
          },
        },
        260,
      ),
    );
  }
  page.add(
    `<h3>${title}, ${section.cache} cache</h3>
<p class="note">${CELL_STATISTIC} of the per-operation figure, split into the client process, the FUSE daemon (all its threads) and the whole machine (which includes both); log axes, so the in-kernel setups' small figures stay visible.</p>
${page.figure(`${what}-${section.cache}`, `${title} by client, daemon and system, ${section.cache} cache`, charts.join(''), true)}
<details><summary>${title} as a table</summary><table><thead><tr><th>workload</th><th class="left">setup</th><th>client</th><th>daemon</th><th>system</th></tr></thead><tbody>${tableRows.join('')}</tbody></table></details>`,
  );
}

function fuseTaxTable(page: Page, model: ReportModel, section: CacheSection): void {
  const rows = fuseTaxRows(model).filter((row) => row.cache === section.cache);
  if (rows.length === 0) return;
  page.add(
    `<h3>FUSE tax, ${section.cache} cache</h3>
<p class="note">Per client operation: FUSE requests (traced repetition), context switches of client and daemon together and daemon CPU time (${CELL_STATISTIC}), and the time relative to ${KERNEL_SETUP} with its 95% interval (* excludes 1).</p>
<table><thead><tr><th>workload</th><th class="left">setup</th><th>FUSE requests/op</th><th>context switches/op</th><th>daemon CPU/op</th><th>time vs ${KERNEL_SETUP}</th></tr></thead><tbody>${rows
      .map(
        (row) =>
          `<tr><td>${e(row.workload)}</td><td class="left">${e(row.setup)}</td><td>${row.requestsPerOp === null ? '—' : formatNumber(row.requestsPerOp)}</td><td>${formatNumber(row.ctxSwitchesPerOp)}</td><td>${row.daemonCpuPerOpNs === null ? '—' : formatDuration(row.daemonCpuPerOpNs)}</td><td>${row.vsKernel ? e(ratioText(row.vsKernel)) : '—'}</td></tr>`,
      )
      .join('')}</tbody></table>`,
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
    const opcodes = [...new Set(traced.flatMap((entry) => entry.opcodes.map((row) => row.opcode)))].sort();
    for (const entry of traced)
      for (const row of entry.opcodes)
        rows.push(
          `<tr><td>${e(workload)}</td><td class="left">${e(entry.setup)}</td><td class="left">${e(row.opcode)}</td><td>${row.count}</td><td>${formatNumber(row.perOp)}</td><td>${row.errors}</td><td>${formatDuration(row.meanNs)}</td><td>${formatDuration(row.p50Ns)}</td><td>${formatDuration(row.p99Ns)}</td><td>${formatDuration(row.maxNs)}</td></tr>`,
        );
    const axis = valueAxis(
      'FUSE requests',
      traced.map((entry) => entry.opcodes.reduce((sum, row) => sum + row.perOp, 0)),
      'per operation',
      false,
    );
    charts.push(
      page.chart(
        `fuse-${section.cache}-${workload}`,
        {
          axes: { y: axis.format },
          config: {
            type: 'bar',
            data: {
              labels: traced.map((entry) => entry.setup),
              datasets: opcodes.map((opcode) => ({
                label: opcode,
                backgroundColor: opcodeColour(opcode),
                data: traced.map(
                  (entry) => entry.opcodes.find((row) => row.opcode === opcode)?.perOp ?? null,
                ),
              })),
            },
            options: {
              plugins: {
                title: { display: true, text: `${workload} (${section.cache} cache)` },
                legend: { labels: { boxWidth: 10, font: { size: 10 } } },
              },
              scales: {
                x: { stacked: true, title: { display: true, text: 'setup' } },
                y: { ...axis.scale, stacked: true },
              },
            },
          },
        },
        260,
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
<p class="note">From the traced repetition(s) of each FUSE setup (tracefs fuse_request_send → fuse_request_end): requests per client operation by opcode, each opcode in the same colour everywhere, and the kernel-side latency of each request (percentiles are medians over traced repetitions).</p>
${page.figure(`fuse-${section.cache}`, `FUSE requests per operation by opcode, ${section.cache} cache`, charts.join(''), true)}
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
  axisTitle: string,
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
    label: setupLabel(setup),
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
  const values = datasets.flatMap((dataset) => dataset.data);
  const positive = values.filter((value): value is number => value !== null && value > 0);
  const log = positive.length > 1 && Math.max(...positive) / Math.min(...positive) > 30;
  const axis = valueAxis('throughput', values, 'B/s', log);
  const fullTitle = `${title} (${section.cache} cache): ${CELL_STATISTIC}`;
  page.add(
    `<h3>${title}, ${section.cache} cache</h3>
<p class="note">${CELL_STATISTIC} of throughput (${members.map((member) => member.workload).join(', ')}).</p>
${page.figure(
  `${name}-${section.cache}`,
  fullTitle,
  page.chart(
    `${name}-${section.cache}`,
    {
      axes: { y: axis.format },
      config: {
        type: 'line',
        data: { labels: members.map((member) => describe(member.value)), datasets },
        options: {
          scales: {
            x: { title: { display: true, text: axisTitle } },
            y: axis.scale,
          },
        },
      },
    },
    360,
  ),
)}`,
  );
}

/** Throughput against readers, one line per setup (kernel-erofs the reference), and where the time goes at each N. */
function scalingChart(page: Page, curve: ScalingCurve): void {
  const datasets = curve.setups.map((setup) => ({
    label: setupLabel(setup),
    borderColor: setupColour(setup),
    backgroundColor: setupColour(setup),
    spanGaps: true,
    data: curve.readers.map((readers) => curve.point(setup, readers)?.throughput ?? null),
  }));
  const values = datasets.flatMap((dataset) => dataset.data);
  const axis = valueAxis('throughput', values, curve.unit === 'B/s' ? 'B/s' : 'op/s', false);
  const name = `readers-${curve.workload}-${curve.cache}`;
  const dash = (value: number | null, format: (value: number) => string) =>
    value === null ? '—' : e(format(value));
  const rows = curve.setups.flatMap((setup) =>
    curve.readers.flatMap((readers) => {
      const point = curve.point(setup, readers);
      if (!point) return [];
      return [
        `<tr><td class="left">${e(setupLabel(setup))}</td><td>${readers}</td><td>${dash(point.throughput, (value) => formatValue(value, curve.unit === 'B/s' ? 'B/s' : 'op/s'))}</td><td>${point.vsKernel ? e(ratioText(point.vsKernel)) : '—'}</td><td>${dash(point.speedup, formatNumber)}</td><td>${dash(point.daemonCpuPerOpNs, formatDuration)}</td><td>${dash(point.daemonCtxSwitchesPerOp, formatNumber)}</td><td>${dash(point.requestsPerOp, formatNumber)}</td><td>${dash(point.sendToEndP50Ns, formatDuration)}</td><td>${dash(point.sendToEndP99Ns, formatDuration)}</td><td>${point.meanDepth === null ? '—' : `${formatNumber(point.meanDepth)} / ${point.maxDepth}`}</td></tr>`,
      ];
    }),
  );
  page.add(
    `<h3>${e(curve.workload)}: throughput against readers, ${curve.cache} cache</h3>
<p class="note">${CELL_STATISTIC} of throughput with N reader processes sharing the same operations (${curve.readers.map((readers) => `N=${readers}`).join(', ')}); ${KERNEL_SETUP}'s curve is the reference. Below, where the time goes at each N: daemon CPU time and context switches per operation (timed repetitions); FUSE requests per operation, send→end latency (fuse_request_send, when the request is queued, to fuse_request_end, when its reply is taken in: queue wait, daemon wake-up and work together; the daemon's read of the request has no tracepoint) and requests in flight, time-weighted mean / max (traced repetition).</p>
${page.figure(
  name,
  `${curve.workload}: throughput against readers (${curve.cache} cache): ${CELL_STATISTIC}`,
  page.chart(
    name,
    {
      axes: { y: axis.format },
      config: {
        type: 'line',
        data: { labels: curve.readers.map(String), datasets },
        options: {
          scales: {
            x: { title: { display: true, text: 'reader processes (N)' } },
            y: axis.scale,
          },
        },
      },
    },
    360,
  ),
)}
<table><thead><tr><th class="left">setup</th><th>N</th><th>throughput</th><th>vs ${KERNEL_SETUP}</th><th>× N₁</th><th>daemon CPU/op</th><th>daemon cs/op</th><th>req/op</th><th>send→end p50</th><th>p99</th><th>in flight</th></tr></thead><tbody>${rows.join('')}</tbody></table>`,
  );
}

function environmentSection(page: Page, model: ReportModel): void {
  const { result } = model;
  const peers = peerVersions(result).map(([name, version]) => `${name} ${version}`);
  const fields = [...environmentFields(result), ['peers', peers.join(', ') || 'none recorded']]
    .map(([name, value]) => `<dt>${e(name!)}</dt><dd>${e(value!)}</dd>`)
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
    `<h3>Environment</h3><dl class="env">${fields}${kernelFacts ? `<dt>facts</dt><dd>${e(kernelFacts)}</dd>` : ''}<dt>config</dt><dd>profile ${e(result.config.profile)}, ${result.config.repetitions} repetitions, ${result.config.warmupRepetitions} warm-up, seed ${result.config.seed}, image ${e(facts(result.config.image))}</dd><dt>reproduce</dt><dd><code>${e(reproduceCommand(result).join(' '))}</code></dd></dl>
<table><thead><tr><th>setup</th><th class="left">kind</th><th class="left">status</th><th class="left">description and facts</th></tr></thead><tbody>${setups}</tbody></table>
<h3>Method</h3>${methodText(result)
      .map((paragraph) => `<p>${e(paragraph)}</p>`)
      .join('')}`,
  );
  const kinds = groupWarnings(model.result);
  page.add(
    kinds.length === 0
      ? '<h3>Warnings</h3><p>None.</p>'
      : `<h3>Warnings (${model.warnings.length})</h3>${kinds
          .map(
            ({ kind, count, details, cells }) =>
              `<details><summary>${count} × ${e(kind)}</summary><ul class="warnings">${[...details, ...cells].map((item) => `<li>${e(item)}</li>`).join('')}</ul></details>`,
          )
          .join('')}`,
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
    summaryTable(page, section, result.config.repetitions);
    forestPlot(page, section);
    latencyCharts(page, section);
    familyChart(
      page,
      section,
      'seqread',
      'blockSize',
      'blocksize',
      'Throughput against block size',
      'read block size (bytes)',
      formatBytes,
    );
    for (const curve of scalingCurves(model).filter((entry) => entry.cache === section.cache))
      scalingChart(page, curve);
    usageCharts(page, section, 'cpu');
    usageCharts(page, section, 'ctxsw');
    fuseTaxTable(page, model, section);
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
