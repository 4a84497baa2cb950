import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CSV_COLUMNS, secondaryMetrics } from '../report/csv.js';
import { compareKernelReleases, KERNEL_SETUP } from '../report/model.js';
import { findChromium } from '../report/png.js';
import { parseValue } from '../report/units.js';
import { type ResultFile, resultFileSchema } from '../results/schema.js';
import { fusebench } from './helpers/cli.js';
import { SETUPS, syntheticResult, WORKLOADS } from './helpers/synthetic-result.js';

/**
 * `fusebench report`, `compare` and `history` end to end, on result files built in the test the
 * way a run builds them and validated through the schema: every output exists and holds the
 * figures of the input, summary.txt fits 72 columns, index.html needs no network, the PNGs are
 * real (Chromium is required here, not optional), and compare's exit status tracks regressions.
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

describe('fusebench report', () => {
  let out: string;
  let stdout: string;

  before(async () => {
    if (!findChromium()) {
      // The PNG path must be exercised on this machine: setup.sh installs chromium.
      execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'chromium'], {
        stdio: 'ignore',
      });
    }
    out = join(dir, 'base-report');
    const result = await fusebench(['report', base]);
    stdout = String(result.stdout);
    assert.equal(result.exitCode, 0, `report failed: ${result.stderr}`);
  });

  it('writes every output next to the result by default', () => {
    for (const name of ['index.html', 'summary.txt', 'summary.md', 'results.csv'])
      assert.ok(existsSync(join(out, name)), `${name} missing`);
    assert.doesNotMatch(stdout, /skipped/);
  });

  it('keeps summary.txt to 72 columns of plain text', () => {
    const text = readFileSync(join(out, 'summary.txt'), 'utf8');
    for (const line of text.split('\n')) {
      assert.ok([...line].length <= 72, `line longer than 72 columns: ${JSON.stringify(line)}`);
      assert.ok(!line.includes(ESC), `escape code in ${JSON.stringify(line)}`);
    }
    assert.match(text, /^kernel +6\.12\.9-amd64/m);
    assert.match(text, /warm cache/);
    assert.match(text, /cold cache/);
  });

  it('prints the medians of the input in summary.txt', () => {
    const text = readFileSync(join(out, 'summary.txt'), 'utf8');
    const blocks = text.split(/\n\n/);
    let checked = 0;
    for (const cache of ['warm', 'cold'] as const) {
      const tables = blocks.filter((block) => block.startsWith(`${cache} cache`));
      assert.ok(tables.length >= 1);
      for (const table of tables) {
        const lines = table.split('\n');
        const rule = lines.findIndex((line) => /^-+ +-/.test(line));
        // Column names may be broken at hyphens over several header lines.
        const headerLines = lines.slice(1, rule);
        const columns = rule > 0 ? lines[rule]!.split(/ {2}/).length - 1 : 0;
        const names = setupNamesOf(headerLines, lines[rule]!);
        assert.equal(names.length, columns);
        for (const line of lines.slice(rule + 1)) {
          const workload = line.split(/ +/)[0]!;
          const values = [...line.matchAll(/(\S+±\S+?)(?:!)?(?= |$)/g)].map((match) => match[1]!);
          assert.equal(values.length, names.length, `cells of ${workload}: ${line}`);
          values.forEach((cell, index) => {
            const setup = names[index] === 'floor (tmpfs)' ? 'floor' : names[index]!;
            const measurement = [...baseResult.measurements, ...baseResult.floor].find(
              (m) => m.setup === setup && m.workload === workload && m.cache === cache,
            );
            assert.ok(measurement, `no measurement for ${setup} ${workload} ${cache}`);
            const shown = parseValue(cell);
            assert.ok(shown !== null, `unparsable cell ${cell}`);
            const median = measurement.summary.value.median;
            assert.ok(
              Math.abs(shown - median) / median < 0.006,
              `${setup} ${workload} ${cache}: shows ${cell}, median is ${median}`,
            );
            checked++;
          });
        }
      }
    }
    // Every setup × workload × cache, plus the floor per workload (warm).
    assert.equal(checked, WORKLOADS.length * (SETUPS.length * 2 + 1));
  });

  it('shows the ratio to kernel-erofs next to each FUSE setup', () => {
    const text = readFileSync(join(out, 'summary.txt'), 'utf8');
    const statAll = text.split('\n').filter((line) => line.startsWith('stat-all '));
    const ratios = statAll.flatMap((line) =>
      [...line.matchAll(/×(\d+\.\d+)/g)].map((match) => Number(match[1])),
    );
    // Three non-kernel setups in two cache states; the synthetic model makes them 1.7× to 3.4× slower.
    assert.equal(ratios.length, (SETUPS.length - 1) * 2);
    for (const ratio of ratios) assert.ok(ratio > 1.5 && ratio < 3.6, `ratio ${ratio}`);
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

  it('writes Markdown tables per cache state', () => {
    const markdown = readFileSync(join(out, 'summary.md'), 'utf8');
    assert.match(markdown, /^## warm cache$/m);
    assert.match(markdown, /^## cold cache$/m);
    assert.match(markdown, /^\| workload \| kernel-erofs \| floor \(tmpfs\) \| fuse-erofs-ts \|/m);
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
    assert.ok(html.length > chartJs.length);
    for (const heading of [
      'Latency per operation, warm cache',
      'Latency per operation, cold cache',
      'Ratio to kernel-erofs, cold cache',
      'Throughput against block size',
      'Throughput against readers',
      'CPU time per operation',
      'Context switches per operation',
      'FUSE requests, warm cache',
      'Method',
      'Warnings',
    ])
      assert.ok(html.includes(heading), `index.html lacks "${heading}"`);
    // The traced opcodes reach the page.
    assert.match(html, /RELEASEDIR/);
  });

  it('saves the main charts as PNG files', () => {
    const pngs = readdirSync(out).filter((name) => name.endsWith('.png'));
    for (const name of ['latency-warm.png', 'latency-cold.png', 'blocksize-warm.png', 'readers-cold.png'])
      assert.ok(pngs.includes(name), `${name} missing (have ${pngs.join(', ')})`);
    for (const name of pngs) {
      const bytes = readFileSync(join(out, name));
      assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], name);
      assert.ok(statSync(join(out, name)).size > 10_000, `${name} is only ${bytes.length} bytes`);
    }
  });

  it('writes where --out says', async () => {
    const target = join(dir, 'elsewhere');
    const result = await fusebench(['report', base, older, '--out', target], {
      env: { FUSEBENCH_CHROMIUM: '/nonexistent/chromium' },
    });
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.ok(existsSync(join(target, 'summary.txt')));
    // Without Chromium the PNGs are skipped with a note, not an error.
    assert.match(String(result.stdout), /^note: PNG charts skipped: chromium not found/m);
    assert.equal(readdirSync(target).filter((name) => name.endsWith('.png')).length, 0);
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

    const notJson = join(dir, 'notjson.json');
    writeFileSync(notJson, '{"schema": ');
    const second = await fusebench(['report', notJson]);
    assert.equal(second.exitCode, 1);
    assert.equal(String(second.stderr).trim().split('\n').length, 1);
  });
});

/**
 * Setup names of a summary table from its header lines (names broken at hyphens are joined back)
 * and the rule line under them (which gives the column positions).
 */
function setupNamesOf(headerLines: string[], rule: string): string[] {
  const spans: Array<[number, number]> = [];
  for (const match of rule.matchAll(/-+/g)) spans.push([match.index, match.index + match[0].length]);
  return spans.slice(1).map(([start, end]) =>
    headerLines
      .map((line) => [...line].slice(start, end).join('').trim())
      .join('')
      .trim(),
  );
}

describe('fusebench compare', () => {
  it('exits 0 on identical runs', async () => {
    const result = await fusebench(['compare', base, same]);
    assert.equal(result.exitCode, 0, String(result.stdout));
    assert.doesNotMatch(String(result.stdout), /SLOWER/);
    assert.doesNotMatch(String(result.stdout), /differ in environment/);
    for (const line of String(result.stdout).split('\n')) assert.ok([...line].length <= 72, line);
  });

  it('exits 1 on a 30% regression and names it', async () => {
    const result = await fusebench(['compare', base, slower]);
    const stdout = String(result.stdout);
    assert.equal(result.exitCode, 1, stdout);
    for (const line of stdout.split('\n')) assert.ok([...line].length <= 72, line);
    // The environments differ in the kernel: compare says so and which field.
    assert.match(stdout, /differ in environment/);
    assert.match(stdout, /kernel: 6\.12\.9-amd64 → 6\.13\.2-amd64/);
    const sections = stdout.split('\n\n');
    const erofs = sections.find((section) => section.startsWith('warm cache, fuse-erofs-ts'))!;
    assert.ok(erofs, stdout);
    const flagged = erofs.split('\n').filter((line) => /SLOWER$/.test(line));
    assert.equal(flagged.length, WORKLOADS.length, erofs);
    for (const line of flagged) assert.match(line, /\+(2[6-9]|3[0-4])\.\d%/);
    // Other setups did not change beyond noise.
    const others = sections.filter((section) => !section.includes('fuse-erofs-ts'));
    for (const section of others) assert.doesNotMatch(section, /SLOWER/);
  });

  it('does not flag the regression when the threshold is above it', async () => {
    const result = await fusebench(['compare', base, slower, '--threshold', '40']);
    assert.equal(result.exitCode, 0, String(result.stdout));
  });

  it('documents its exit status', async () => {
    const result = await fusebench(['compare', '--help']);
    assert.equal(result.exitCode, 0);
    assert.match(String(result.stdout), /exit status: 0 no regression, 1 at least one regression/);
  });

  it('rejects a bad file with one line', async () => {
    const result = await fusebench(['compare', base, join(dir, 'missing.json')]);
    assert.equal(result.exitCode, 1);
    assert.equal(String(result.stderr).trim().split('\n').length, 1);
    assert.match(String(result.stderr), /missing\.json/);
  });
});

describe('fusebench history', () => {
  it('orders runs by kernel version and shows the change against the first', async () => {
    assert.ok(compareKernelReleases('6.9.12', '6.12.9') < 0);
    assert.ok(compareKernelReleases('6.13-rc4', '6.13') < 0);
    const target = join(dir, 'history');
    const result = await fusebench(['history', slower, base, older, '--out', target]);
    const stdout = String(result.stdout);
    assert.equal(result.exitCode, 0, String(result.stderr));
    for (const line of stdout.split('\n')) assert.ok([...line].length <= 72, line);
    const order = [...stdout.matchAll(/^\[(\d)\] +(\S+)/gm)].map((match) => match[2]);
    assert.deepEqual(order, ['6.9.12-amd64', '6.12.9-amd64', '6.13.2-amd64']);
    const section = stdout.split('\n\n').find((block) => block.startsWith('warm cache, fuse-erofs-ts'))!;
    assert.ok(section, stdout);
    const statAll = section.split('\n').find((line) => line.startsWith('stat-all '))!;
    // The third run (6.13.2) is the 30% slower one.
    assert.match(statAll, /\+(2[6-9]|3[0-4])\.\d%$/);
    assert.ok(existsSync(join(target, 'history.html')));
    const html = readFileSync(join(target, 'history.html'), 'utf8');
    assert.doesNotMatch(html, /<script[^>]*\bsrc\s*=/i);
    assert.match(html, /history-warm-stat-all/);
    const csv = readFileSync(join(target, 'history.csv'), 'utf8').split('\r\n').filter(Boolean);
    // Three runs × every measurement of a run.
    assert.equal(csv.length - 1, 3 * baseResult.measurements.length);
  });
});
