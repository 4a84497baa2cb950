import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { summarize } from '../bench/summarize.js';
import { parseRunOptions } from '../cli/commands/run.js';
import { CSV_COLUMNS, secondaryMetrics } from '../report/csv.js';
import { reproduceCommand } from '../report/describe.js';
import { ninesOf } from '../report/html.js';
import { buildModel, compareKernelReleases, KERNEL_SETUP } from '../report/model.js';
import { findChromium, withChartPage } from '../report/png.js';
import { decodeHistogram, mergeHistograms } from '../results/histogram.js';
import { type ResultFile, resultFileSchema } from '../results/schema.js';
import { benjaminiHochberg, smallestMannWhitneyP } from '../results/statistics.js';
import { fusebench } from './helpers/cli.js';
import { SETUPS, syntheticResult, WORKLOADS } from './helpers/synthetic-result.js';

/**
 * `fusebench report`, `compare` and `history` end to end, on result files built in the test the
 * way a run builds them and validated through the schema: every output exists and holds the
 * figures of the input, summary.txt fits 72 columns (of ASCII with --ascii), index.html needs no
 * network and its charts are drawn in Chromium with a unit on every numeric axis (Chromium is
 * required here: setup.sh installs it, and the test installs nothing), and compare's exit status
 * tracks regressions under the Benjamini-Hochberg rule.
 */

/** The start of every ANSI escape sequence. */
const ESC = String.fromCharCode(27);

let dir: string;
let base: string;
let same: string;
let slower: string;
let older: string;
let baseResult: ResultFile;

function write(name: string, result: ResultFile): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(result));
  return path;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'fusebench-report-'));
  baseResult = syntheticResult();
  // The schema accepts what the test builds (syntheticResult parses too; this checks the JSON round trip).
  resultFileSchema.parse(JSON.parse(JSON.stringify(baseResult)));
  base = write('base.json', baseResult);
  same = write('same.json', syntheticResult());
  slower = write(
    'slower.json',
    syntheticResult({
      seed: 'slower',
      kernelRelease: '6.13.2-amd64',
      startedAt: '2025-04-02T09:00:00.000Z',
      slowdown: { 'fuse-erofs-ts': 1.3 },
    }),
  );
  older = write(
    'older.json',
    syntheticResult({ seed: 'older', kernelRelease: '6.9.12-amd64', startedAt: '2025-05-01T09:00:00.000Z' }),
  );
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The chart specifications embedded in a report page. */
function chartSpecs(html: string): Array<{
  id: string;
  config: { data: { datasets: Array<{ label: string; data: unknown[] }> } };
}> {
  return JSON.parse(
    /<script type="application\/json" id="fusebench-charts">(.*?)<\/script>/s.exec(html)![1]!,
  );
}

/** Display units of summary.txt's unit column, in ns or B/s. */
const ROW_UNITS: Record<string, number> = {
  'ns/op': 1,
  'us/op': 1e3,
  'ms/op': 1e6,
  's/op': 1e9,
  'ns/run': 1,
  'us/run': 1e3,
  'ms/run': 1e6,
  's/run': 1e9,
  'B/s': 1,
  'KiB/s': 1024,
  'MiB/s': 1024 ** 2,
  'GiB/s': 1024 ** 3,
};

/** The main table of summary.txt: per cache block, per workload, the unit and the cells by column. */
function summaryTable(text: string): {
  columns: string[];
  rows: Map<string, { unit: string; cells: string[] }>;
} {
  const lines = text.split('\n');
  const rule = lines.findIndex((line) => /^-+ +-+ +-/.test(line));
  const header = lines[rule - 1]!;
  const columns = header.trim().split(/ +/).slice(2);
  const rows = new Map<string, { unit: string; cells: string[] }>();
  let cache = '';
  for (const line of lines.slice(rule + 1)) {
    if (line === '') break;
    if (/^(warm|cold) cache$/.test(line)) {
      cache = line.split(' ')[0]!;
      continue;
    }
    const [workload, unit, ...cells] = line.trim().split(/ +/);
    rows.set(`${cache} ${workload}`, { unit: unit!, cells });
  }
  return { columns, rows };
}

describe('fusebench report', () => {
  let out: string;
  let stdout: string;

  before(async () => {
    // The PNG and chart checks must run here: setup.sh installs chromium, the test installs nothing.
    assert.ok(findChromium(), 'chromium not found: run ./setup.sh (it installs Debian’s chromium)');
    out = join(dir, 'base-report');
    const result = await fusebench(['report', base, '--ascii']);
    stdout = String(result.stdout);
    assert.equal(result.exitCode, 0, `report failed: ${result.stderr}`);
  });

  it('writes every output next to the result by default', () => {
    for (const name of ['index.html', 'summary.txt', 'summary.md', 'results.csv'])
      assert.ok(existsSync(join(out, name)), `${name} missing`);
    assert.doesNotMatch(stdout, /skipped/);
  });

  it('keeps summary.txt --ascii to 72 columns of 7-bit ASCII', () => {
    const text = readFileSync(join(out, 'summary.txt'));
    for (const byte of text) assert.ok(byte < 0x80, `byte 0x${byte.toString(16)} is not ASCII`);
    for (const line of text.toString('utf8').split('\n')) {
      assert.ok(line.length <= 72, `line longer than 72 columns: ${JSON.stringify(line)}`);
      assert.ok(!line.includes(ESC), `escape code in ${JSON.stringify(line)}`);
    }
  });

  it('heads summary.txt with kernel, host, commit, dataset and peer versions', () => {
    const text = readFileSync(join(out, 'summary.txt'), 'utf8');
    assert.match(text, /^kernel +6\.12\.9-amd64 /m);
    assert.match(text, /^host +bench1: AMD EPYC 7B13, 2 CPUs/m);
    assert.match(text, /^commit +0123456789abcdef0123456789abcdef01234567 /m);
    assert.match(text, /^dataset +small-tree \(profile quick, seed 1\)/m);
    assert.match(text, /^peers +libfuse 2\.9\.9/m);
  });

  it('shows kernel-erofs in absolute units and every other setup as its ratio, in one table', () => {
    const text = readFileSync(join(out, 'summary.txt'), 'utf8');
    const { columns, rows } = summaryTable(text);
    // Setups do not fit 72 columns by name: abbreviated, with a legend.
    assert.deepEqual(columns, ['k-erofs', 'floor', 'f-erofs', 'f-pt-ts', 'native']);
    assert.match(text, /setups: k-erofs kernel-erofs, floor floor \(tmpfs\), f-erofs\s+fuse-erofs-ts/);
    const model = buildModel({ path: base, result: baseResult });
    let checked = 0;
    for (const section of model.sections)
      for (const workload of section.workloads) {
        const row = rows.get(`${section.cache} ${workload}`);
        assert.ok(row, `no row for ${section.cache} ${workload}`);
        const unit = ROW_UNITS[row.unit];
        assert.ok(unit, `unknown unit ${row.unit}`);
        const kernel = section.cell(KERNEL_SETUP, workload)!;
        const shown = Number(row.cells[0]!.replace(/[*!]+$/, '')) * unit;
        const median = kernel.measurement.summary.value.median;
        assert.ok(
          Math.abs(shown - median) / median < 0.006,
          `${workload}: ${row.cells[0]} ${row.unit} vs ${median}`,
        );
        const others = section.setups.filter((setup) => setup !== KERNEL_SETUP);
        assert.equal(
          row.cells.length,
          others.length + 1,
          `${section.cache} ${workload}: ${row.cells.join(' ')}`,
        );
        others.forEach((setup, index) => {
          const cell = section.cell(setup, workload)!;
          const text = row.cells[index + 1]!;
          const ratio = Number(text.replace(/[*!]+$/, ''));
          assert.ok(
            Math.abs(ratio - cell.vsKernel!.ratio) / cell.vsKernel!.ratio < 0.006,
            `${setup}: ${text}`,
          );
          const significant = cell.vsKernel!.low > 1 || cell.vsKernel!.high < 1;
          assert.equal(text.includes('*'), significant, `${setup} ${workload}: significance mark of ${text}`);
          checked++;
        });
      }
    // Three setups and the floor (warm only) against kernel-erofs in every row.
    assert.equal(checked, WORKLOADS.length * ((SETUPS.length - 1) * 2 + 1));
  });

  it('collapses warnings into counts and ends with the command that reproduces the run', () => {
    const text = readFileSync(join(out, 'summary.txt'), 'utf8');
    const model = buildModel({ path: base, result: baseResult });
    assert.ok(model.warnings.length > 5);
    const warnings = /^warnings: (.*(?:\n {2}.*)*)/m.exec(text)![1]!.replace(/\n {2}/g, ' ');
    const counts = [...warnings.matchAll(/(?:^|, )(\d+) /g)].map((match) => Number(match[1]));
    assert.equal(
      counts.reduce((sum, count) => sum + count, 0),
      model.warnings.length,
      warnings,
    );
    // No warning is written out: the kinds and counts only.
    for (const warning of model.warnings) assert.ok(!text.includes(warning), warning);
    // The reproduce lines as the shell reads them: backslash-newline removed, words split on blanks.
    const lines = text.split('\n');
    const first = lines.findIndex((line) => line.startsWith('reproduce: '));
    const last = lines.findIndex((line, index) => index >= first && !line.endsWith('\\'));
    const reproduce = lines
      .slice(first, last + 1)
      .join('\n')
      .replace(/\\\n/g, '')
      .replace(/^reproduce: /, '')
      .trim();
    assert.deepEqual(reproduce.split(/\s+/), reproduceCommand(baseResult));
    assert.deepEqual(reproduce.split(/\s+/).slice(0, 2), ['fusebench', 'run']);
    // And `fusebench run` reads it back as the run's options.
    const options = parseRunOptions(reproduce.split(/\s+/).slice(2));
    if (typeof options !== 'object' || 'dryRun' in options) throw new Error(`not a run: ${String(options)}`);
    assert.equal(options.profile, baseResult.config.profile);
    assert.deepEqual(options.setups, baseResult.config.setups);
    assert.deepEqual(options.workloads, baseResult.config.workloads);
    assert.equal(options.repetitions, baseResult.config.repetitions);
    assert.equal(options.seed, baseResult.config.seed);
    assert.deepEqual(options.dataset, { kind: 'profile', profile: 'quick', seed: 1 });
    assert.equal(options.image.compression, 'lz4hc');
    assert.equal(options.image.pclusterSize, 65536);
  });

  it('writes the FUSE tax of every FUSE setup and workload', () => {
    const text = readFileSync(join(out, 'summary.txt'), 'utf8');
    const tax = text.slice(text.indexOf('FUSE tax'));
    const fuseSetups = baseResult.setups.filter((setup) => setup.kind === 'fuse' && setup.status === 'ok');
    assert.equal(fuseSetups.length, 2);
    const rows = tax.split('\n').filter((line) => / (f-erofs|f-pt-ts) /.test(line));
    assert.equal(rows.length, WORKLOADS.length * 2 * 2);
    const statAll = tax.split('\n').find((line) => line.startsWith('stat-all '))!;
    const measurement = baseResult.measurements.find(
      (m) => m.setup === 'fuse-erofs-ts' && m.workload === 'stat-all' && m.cache === 'warm',
    )!;
    const [, setup, requests] = statAll.trim().split(/ +/);
    assert.equal(setup, 'f-erofs');
    assert.equal(Number(requests), Number(measurement.summary.perOp.fuseRequests!.toPrecision(3)));
  });

  it('keeps the default summary.txt to 72 columns too', async () => {
    const target = join(dir, 'unicode');
    const result = await fusebench(['report', base, '--formats', 'txt', '--out', target]);
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.deepEqual(readdirSync(target), ['summary.txt']);
    const text = readFileSync(join(target, 'summary.txt'), 'utf8');
    for (const line of text.split('\n')) assert.ok([...line].length <= 72, line);
    assert.match(text, /µs\/op/);
  });

  it('writes one CSV row per setup × workload × cache × metric', () => {
    const rows = readFileSync(join(out, 'results.csv'), 'utf8').split('\r\n');
    assert.equal(rows.pop(), '');
    assert.equal(rows[0], CSV_COLUMNS.join(','));
    const expected = [...baseResult.measurements, ...baseResult.floor].reduce(
      (sum, measurement) => sum + 1 + secondaryMetrics(measurement).length,
      0,
    );
    assert.equal(rows.length - 1, expected);
    for (const row of rows) assert.equal(row.split(',').length, CSV_COLUMNS.length, row);
    const kernelStat = rows.find((row) =>
      row.includes(`,warm,${KERNEL_SETUP},stat-all,stat-all,time per operation,`),
    );
    const median = baseResult.measurements.find(
      (m) => m.setup === KERNEL_SETUP && m.workload === 'stat-all' && m.cache === 'warm',
    )!.summary.value.median;
    assert.equal(Number(kernelStat!.split(',')[CSV_COLUMNS.indexOf('median')]), median);
  });

  it('writes Markdown tables per cache state with intervals as [lo–hi]', () => {
    const markdown = readFileSync(join(out, 'summary.md'), 'utf8');
    assert.match(markdown, /^## warm cache$/m);
    assert.match(markdown, /^## cold cache$/m);
    assert.match(markdown, /^## FUSE tax$/m);
    assert.match(markdown, /^\| workload \| kernel-erofs \| floor \(tmpfs\) \| fuse-erofs-ts \|/m);
    assert.match(markdown, /×\d\.\d+ \[\d\.\d+–\d\.\d+\]\*/);
    assert.doesNotMatch(markdown, /±/);
  });

  it('writes a self-contained index.html with chart.js inlined', () => {
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    assert.doesNotMatch(html, /<script[^>]*\bsrc\s*=/i);
    assert.doesNotMatch(html, /<link[^>]*\bhref\s*=\s*["']?https?:/i);
    assert.doesNotMatch(html, /\b(?:src|href)\s*=\s*["']?(?:https?:)?\/\//i);
    const chartJs = readFileSync(
      new URL('../../node_modules/chart.js/dist/chart.umd.js', import.meta.url),
      'utf8',
    );
    assert.ok(html.includes(chartJs.slice(0, 2000)), 'chart.js is not inlined');
    for (const heading of [
      'Ratio to kernel-erofs, warm cache',
      'Ratio to kernel-erofs, cold cache',
      'Latency distribution, warm cache',
      'Throughput against block size',
      'parallel-read: throughput against readers',
      'CPU time per operation',
      'Context switches per operation',
      'FUSE tax, warm cache',
      'FUSE requests, warm cache',
      'Method',
      'Warnings',
    ])
      assert.ok(html.includes(heading), `index.html lacks "${heading}"`);
    assert.match(html, /RELEASEDIR/);
    assert.doesNotMatch(html, /±/);
  });

  it('draws every chart in Chromium with a unit on every numeric axis and a titled, cache-labelled PNG figure', async () => {
    const charts = await withChartPage(join(out, 'index.html'), findChromium()!, (page) =>
      page.evaluate(() => {
        const registry = (globalThis as unknown as { Chart: { instances: Record<string, unknown> } }).Chart;
        return Object.values(registry.instances).map((instance) => {
          const chart = instance as {
            canvas: {
              id: string;
              width: number;
              height: number;
              getContext(kind: '2d'): { getImageData(...area: number[]): { data: ArrayLike<number> } };
              closest(
                selector: string,
              ): { querySelector(selector: string): { textContent: string } | null } | null;
            };
            scales: Record<string, { type: string; options: { title: { display: boolean; text: string } } }>;
          };
          const { canvas } = chart;
          const pixels = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
          let coloured = 0;
          for (let index = 0; index < pixels.length; index += 4)
            if (pixels[index + 3]! > 0 && (pixels[index]! < 200 || pixels[index + 1]! < 200)) coloured++;
          return {
            id: canvas.id,
            coloured,
            axes: Object.entries(chart.scales).map(([id, scale]) => ({
              id,
              type: scale.type,
              title: scale.options.title.display ? scale.options.title.text : null,
            })),
            figure: canvas.closest('[data-png]')?.querySelector('.caption')?.textContent ?? null,
          };
        });
      }),
    );
    const ids = charts.map((chart) => chart.id);
    for (const id of [
      'ratio-warm',
      'ratio-cold',
      'blocksize-warm',
      'readers-parallel-read-cold',
      'cpu-warm-stat-all',
      'ctxsw-cold-tar-devnull',
      'fuse-warm-randread-4k',
      'latency-warm-stat-all',
      'latency-cold-parallel-read@4',
    ])
      assert.ok(ids.includes(id), `no chart ${id} (have ${ids.join(', ')})`);
    for (const chart of charts) {
      assert.ok(chart.coloured > 500, `${chart.id} looks blank (${chart.coloured} coloured pixels)`);
      const numeric = chart.axes.filter((axis) => axis.type === 'linear' || axis.type === 'logarithmic');
      assert.ok(numeric.length > 0, chart.id);
      for (const axis of numeric)
        assert.match(axis.title ?? '', /\(.+\)/, `${chart.id} axis ${axis.id} has no unit: ${axis.title}`);
      for (const axis of chart.axes) assert.ok(axis.title, `${chart.id} axis ${axis.id} has no title`);
      assert.match(chart.figure ?? '', /(warm|cold) cache/, `${chart.id}: figure title ${chart.figure}`);
    }
    // CPU and context switches per operation use log axes; so does the forest plot.
    for (const chart of charts.filter((chart) => /^(cpu|ctxsw)-/.test(chart.id)))
      assert.equal(chart.axes.find((axis) => axis.id === 'y')!.type, 'logarithmic', chart.id);
    assert.equal(
      charts.find((chart) => chart.id === 'ratio-warm')!.axes.find((axis) => axis.id === 'x')!.type,
      'logarithmic',
    );
  });

  it('colours a setup in the forest plot only where its interval excludes 1', async () => {
    // native made as fast as kernel-erofs: its intervals include 1 in some cells.
    const even = write('even.json', syntheticResult({ seed: 'even', slowdown: { native: 1 / 1.7 } }));
    const target = join(dir, 'even-report');
    const result = await fusebench(['report', even, '--formats', 'html', '--out', target]);
    assert.equal(result.exitCode, 0, String(result.stderr));
    const html = readFileSync(join(target, 'index.html'), 'utf8');
    const specs = chartSpecs(html) as Array<{
      id: string;
      config: {
        data: {
          datasets: Array<{ label: string; data: Array<[number, number] | null>; backgroundColor: string[] }>;
        };
      };
      legend: Array<{ text: string }>;
    }>;
    const forest = specs.find((spec) => spec.id === 'ratio-warm')!;
    assert.deepEqual(
      forest.legend.map((entry) => entry.text),
      ['fuse-erofs-ts', 'fuse-passthrough-ts', 'native', 'interval includes 1'],
    );
    let grey = 0;
    for (const dataset of forest.config.data.datasets)
      dataset.data.forEach((interval, index) => {
        const includesOne = interval !== null && interval[0] <= 1 && interval[1] >= 1;
        assert.equal(dataset.backgroundColor[index] === '#c4c4c4', includesOne, `${dataset.label} ${index}`);
        if (includesOne) grey++;
      });
    assert.ok(grey > 0, 'no interval includes 1: the test data does not test the grey');
  });

  it('draws latency CDFs from the recorded histograms, repetitions merged, and none without them', async () => {
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    const specs = chartSpecs(html);
    const chart = specs.find((spec) => spec.id === 'latency-warm-randread-4k')!;
    const kernel = chart.config.data.datasets.find((dataset) => dataset.label === KERNEL_SETUP)!;
    const measurement = baseResult.measurements.find(
      (m) => m.setup === KERNEL_SETUP && m.workload === 'randread-4k' && m.cache === 'warm',
    )!;
    const merged = mergeHistograms(
      measurement.repetitions.filter((r) => !r.traced).map((r) => decodeHistogram(r.ops.pread!.histogram!)),
    );
    assert.equal(merged.count, baseResult.config.repetitions * (10008 - 2));
    assert.deepEqual(
      kernel.data,
      merged.cdf().map((point) => ({ x: point.valueNs, y: ninesOf(point.fraction, merged.count) })),
    );
    // A result file without histograms: the page says so and draws no distribution.
    const bare = JSON.parse(JSON.stringify(baseResult)) as ResultFile;
    for (const m of [...bare.measurements, ...bare.floor])
      for (const r of m.repetitions) for (const op of Object.values(r.ops)) op.histogram = null;
    const target = join(dir, 'bare-report');
    const result = await fusebench([
      'report',
      write('bare.json', bare),
      '--formats',
      'html',
      '--out',
      target,
    ]);
    assert.equal(result.exitCode, 0, String(result.stderr));
    const bareHtml = readFileSync(join(target, 'index.html'), 'utf8');
    assert.match(bareHtml, /holds no latency histograms/);
    assert.ok(!chartSpecs(bareHtml).some((spec) => spec.id.startsWith('latency-')));
  });

  it('saves the charts as titled PNG files', () => {
    const pngs = readdirSync(out).filter((name) => name.endsWith('.png'));
    for (const name of [
      'latency-warm.png',
      'latency-cold.png',
      'ratio-warm.png',
      'ratio-cold.png',
      'cpu-warm.png',
      'ctxsw-cold.png',
      'fuse-warm.png',
      'blocksize-warm.png',
      'readers-parallel-read-cold.png',
    ])
      assert.ok(pngs.includes(name), `${name} missing (have ${pngs.join(', ')})`);
    for (const name of pngs) {
      const bytes = readFileSync(join(out, name));
      assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], name);
      assert.ok(statSync(join(out, name)).size > 10_000, `${name} is only ${bytes.length} bytes`);
    }
  });

  it('writes where --out says, and --no-png leaves the PNGs out', async () => {
    const target = join(dir, 'elsewhere');
    const result = await fusebench(['report', base, older, '--out', target, '--no-png']);
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.ok(existsSync(join(target, 'summary.txt')));
    assert.ok(existsSync(join(target, 'index.html')));
    assert.equal(readdirSync(target).filter((name) => name.endsWith('.png')).length, 0);
    const bad = await fusebench(['report', base, '--formats', 'html,pdf']);
    assert.equal(bad.exitCode, 2);
    assert.match(String(bad.stderr), /--formats: unknown 'pdf'/);
  });

  it('skips the PNGs with a note when Chromium is missing', async () => {
    const target = join(dir, 'no-chromium');
    const result = await fusebench(['report', base, '--formats', 'png', '--out', target], {
      env: { FUSEBENCH_CHROMIUM: '/nonexistent/chromium' },
    });
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.match(String(result.stdout), /^note: PNG charts skipped: chromium not found/m);
  });

  it('rejects a file that is not a result with one line naming it', async () => {
    const broken = JSON.parse(JSON.stringify(baseResult)) as { measurements: Array<{ cache: string }> };
    broken.measurements[3]!.cache = 'lukewarm';
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify(broken));
    const result = await fusebench(['report', base, bad, '--out', join(dir, 'bad-report')]);
    assert.equal(result.exitCode, 1);
    const lines = String(result.stderr).trim().split('\n');
    assert.equal(lines.length, 1, String(result.stderr));
    assert.match(lines[0]!, /bad\.json/);
    assert.match(lines[0]!, /measurements\.3\.cache/);
    assert.equal(existsSync(join(dir, 'bad-report')), false);
  });
});

describe('Benjamini-Hochberg', () => {
  it('matches scipy.stats.false_discovery_control on the 1995 paper’s fifteen p-values', () => {
    // Benjamini & Hochberg (1995), section 4; reference q-values from scipy 1.17.1.
    const p = [
      0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.324, 0.4262, 0.5719, 0.6528,
      0.759, 1,
    ];
    const scipy = [
      0.0015, 0.003, 0.0095, 0.035625, 0.0603, 0.06385714285714286, 0.06385714285714286, 0.0645, 0.0765,
      0.486, 0.5811818181818181, 0.7148749999999999, 0.7532307692307693, 0.8132142857142857, 1,
    ];
    benjaminiHochberg(p).forEach((q, index) => {
      assert.ok(Math.abs(q - scipy[index]!) < 1e-12, `${index}: ${q}`);
    });
    // The paper rejects the four smallest at 0.05.
    assert.equal(benjaminiHochberg(p).filter((q) => q < 0.05).length, 4);
  });

  it('keeps the input order and shares q-values between ties', () => {
    const scipy = [0.048, 0.03, 0.048, 0.03, 0.2, 0.048];
    benjaminiHochberg([0.04, 0.01, 0.03, 0.005, 0.2, 0.04]).forEach((q, index) => {
      assert.ok(Math.abs(q - scipy[index]!) < 1e-12, `${index}: ${q}`);
    });
    assert.equal(smallestMannWhitneyP(5, 5), 2 / 252);
  });
});

/** A copy of `result` in which one measurement is `factor` times slower per operation. */
function oneCellSlower(result: ResultFile, workload: string, setup: string, factor: number): ResultFile {
  const copy = JSON.parse(JSON.stringify(result)) as ResultFile;
  const measurement = copy.measurements.find(
    (m) => m.workload === workload && m.setup === setup && m.cache === 'warm',
  )!;
  for (const repetition of measurement.repetitions)
    repetition.wallNs = Math.round(repetition.wallNs * factor);
  measurement.summary = summarize(measurement.summary.metric, measurement.repetitions);
  return resultFileSchema.parse(copy);
}

describe('fusebench compare', () => {
  it('exits 0 on identical runs and shows no cell', async () => {
    const result = await fusebench(['compare', base, same]);
    const stdout = String(result.stdout);
    assert.equal(result.exitCode, 0, stdout);
    assert.doesNotMatch(stdout, /SLOWER/);
    assert.doesNotMatch(stdout, /differ in environment/);
    assert.match(stdout, /No cell changed under the rule/);
    assert.match(stdout, /Benjamini-Hochberg/);
    for (const line of stdout.split('\n')) assert.ok([...line].length <= 72, line);
  });

  it('exits 1 on a 30% regression and shows only the changed cells', async () => {
    const result = await fusebench(['compare', base, slower]);
    const stdout = String(result.stdout);
    assert.equal(result.exitCode, 1, stdout);
    for (const line of stdout.split('\n')) assert.ok([...line].length <= 72, line);
    // The environments differ in the kernel: compare says so and which field.
    assert.match(stdout, /differ in environment/);
    assert.match(stdout, /kernel: 6\.12\.9-amd64 → 6\.13\.2-amd64/);
    const flagged = stdout
      .split('\n')
      .filter((line) => /, fuse-erofs-ts: SLOWER \+(2[6-9]|3[0-4])\.\d%/.test(line));
    assert.equal(flagged.length, WORKLOADS.length * 2, stdout);
    // Only the changed setup has a column.
    assert.doesNotMatch(stdout, /passthrough|native|k-erofs/);
    const all = String((await fusebench(['compare', base, slower, '--all'])).stdout);
    assert.match(all, /passthrough/);
    assert.match(all, /native/);
  });

  it('writes JSON with every cell, its p and BH q-value', async () => {
    const result = await fusebench(['compare', base, slower, '--json']);
    assert.equal(result.exitCode, 1);
    const json = JSON.parse(String(result.stdout)) as {
      rule: string;
      regressions: number;
      cells: Array<{ p: number; q: number; verdict: string; setup: string }>;
    };
    assert.equal(json.rule, 'bh');
    assert.equal(json.cells.length, baseResult.measurements.length);
    assert.equal(json.regressions, WORKLOADS.length * 2);
    const q = benjaminiHochberg(json.cells.map((cell) => cell.p));
    json.cells.forEach((cell, index) => {
      assert.equal(cell.q, q[index]);
    });
    for (const cell of json.cells)
      assert.equal(cell.verdict === 'regression', cell.setup === 'fuse-erofs-ts', JSON.stringify(cell));
  });

  it('writes Markdown for CI systems', async () => {
    const result = await fusebench(['compare', base, slower, '--markdown']);
    assert.equal(result.exitCode, 1);
    const markdown = String(result.stdout);
    assert.match(markdown, /^## warm cache$/m);
    assert.match(markdown, /^\| workload \| fuse-erofs-ts \|$/m);
    assert.match(markdown, /^\| warm \| stat-all \| fuse-erofs-ts \| .* \| SLOWER \|$/m);
  });

  it('does not flag the regression when the threshold is above it', async () => {
    const result = await fusebench(['compare', base, slower, '--threshold', '40']);
    assert.equal(result.exitCode, 0, String(result.stdout));
  });

  it('controls the false discovery rate: one changed cell of five repetitions is not enough under BH', async () => {
    const lone = write('lone.json', oneCellSlower(baseResult, 'stat-all', 'fuse-erofs-ts', 1.5));
    const bh = await fusebench(['compare', base, lone]);
    assert.equal(bh.exitCode, 0, String(bh.stdout));
    assert.match(
      String(bh.stdout).replace(/\n {2}/g, ' '),
      /smallest possible p is 0\.008; a change in a single cell needs p ≤ 0\.00063/,
    );
    // The per-cell rule (interval and p) flags it, and says which rule it used.
    const perCell = await fusebench(['compare', base, lone, '--rule', 'ci-and-p']);
    assert.equal(perCell.exitCode, 1, String(perCell.stdout));
    assert.match(String(perCell.stdout), /Rule \(--rule ci-and-p\)/);
    assert.match(String(perCell.stdout), /warm stat-all, fuse-erofs-ts: SLOWER \+50\.\d%/);
  });

  it('warns when a file is a partial run', async () => {
    const partial = JSON.parse(JSON.stringify(baseResult)) as ResultFile;
    partial.status = 'running';
    partial.finishedAt = null;
    const path = write('partial.json', partial);
    const result = await fusebench(['compare', base, path]);
    assert.equal(result.exitCode, 0);
    assert.match(
      String(result.stdout).replace(/\n {2}/g, ' '),
      /partial\.json is a partial run \(status running: the run was killed/,
    );
  });

  it('documents its exit status', async () => {
    const result = await fusebench(['compare', '--help']);
    assert.equal(result.exitCode, 0);
    assert.match(String(result.stdout), /exit status: 0 no regression, 1 at least one regression, 2 error/);
  });

  it('exits 2 on an error, with one line', async () => {
    const missing = await fusebench(['compare', base, join(dir, 'missing.json')]);
    assert.equal(missing.exitCode, 2);
    assert.equal(String(missing.stderr).trim().split('\n').length, 1);
    assert.match(String(missing.stderr), /missing\.json/);
    const empty = JSON.parse(JSON.stringify(baseResult)) as ResultFile;
    empty.measurements = [];
    const nothing = await fusebench(['compare', base, write('empty.json', empty)]);
    assert.equal(nothing.exitCode, 2);
    assert.match(String(nothing.stderr), /no measurement in common/);
    const usage = await fusebench(['compare', base, same, '--rule', 'vibes']);
    assert.equal(usage.exitCode, 2);
  });
});

describe('fusebench history', () => {
  it('orders runs by kernel version and shows the FUSE/kernel ratio per release with intervals', async () => {
    assert.ok(compareKernelReleases('6.9.12', '6.12.9') < 0);
    assert.ok(compareKernelReleases('6.13-rc4', '6.13') < 0);
    const target = join(dir, 'history');
    const result = await fusebench(['history', slower, base, older, '--out', target]);
    const stdout = String(result.stdout);
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.equal(String(result.stderr), '');
    for (const line of stdout.split('\n')) assert.ok([...line].length <= 72, line);
    const order = [...stdout.matchAll(/^\[(\d)\] +(\S+)/gm)].map((match) => match[2]);
    assert.deepEqual(order, ['6.9.12-amd64', '6.12.9-amd64', '6.13.2-amd64']);
    // The table may be split in parts, each with some of the runs: collect warm stat-all over them.
    const section = stdout.slice(stdout.indexOf('fuse-erofs-ts / kernel-erofs')).split('\n');
    const end = section.findIndex((line, index) => index > 0 && / \/ kernel-erofs/.test(line));
    let cache = '';
    const lines: string[] = [];
    for (const line of section.slice(0, end)) {
      if (/^(warm|cold) cache$/.test(line)) cache = line;
      else if (cache === 'warm cache' && line.startsWith('stat-all ')) lines.push(line);
    }
    const statAll = lines.join('\n');
    const ratios = [...statAll.matchAll(/(\d+\.\d+) \[(\d+\.\d+)–(\d+\.\d+)\]\*/g)].map((match) =>
      Number(match[1]),
    );
    assert.equal(ratios.length, 3, statAll);
    // The third run (6.13.2) is the 30% slower one.
    assert.ok(ratios[2]! / ratios[1]! > 1.25 && ratios[2]! / ratios[1]! < 1.35, statAll);
    assert.ok(Math.abs(ratios[1]! / ratios[0]! - 1) < 0.05, statAll);
    const html = readFileSync(join(target, 'history.html'), 'utf8');
    assert.doesNotMatch(html, /<script[^>]*\bsrc\s*=/i);
    assert.match(html, /history-warm-stat-all/);
    const csv = readFileSync(join(target, 'history.csv'), 'utf8').split('\r\n').filter(Boolean);
    // Three runs × every measurement of a run.
    assert.equal(csv.length - 1, 3 * baseResult.measurements.length);
  });

  it('warns when the results mix hosts, CPUs or datasets', async () => {
    const other = JSON.parse(JSON.stringify(baseResult)) as ResultFile;
    other.environment.hostname = 'bench2';
    other.dataset.name = 'tiny';
    other.dataset.contentHash = 'sha256:0000000000000000000000000000000000000000000000000000000000000000';
    const result = await fusebench(['history', base, write('other.json', other)]);
    assert.equal(result.exitCode, 0);
    assert.match(
      String(result.stderr),
      /warning: the results mix hosts: bench1 \| bench2; datasets: small-tree/,
    );
    assert.match(String(result.stdout), /^warning: the results mix hosts/m);
  });
});
