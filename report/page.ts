import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { FatalError } from '../lib/errors.js';

/**
 * The self-contained HTML page of index.html and history.html: chart.js (UMD build) inlined from
 * node_modules, the chart configurations as JSON, and a small script that draws them. No network
 * access, no external file: the page can be mailed or attached as it is.
 */

/** One chart on the page: a chart.js configuration plus how to label its value axis. */
export interface ChartSpec {
  id: string;
  /** Chart.js configuration (type, data, options); plain JSON only. */
  config: Record<string, unknown>;
  /** How values are labelled on the value axis and in tooltips. */
  format: 'time' | 'rate' | 'count';
  /** The value axis ('y' for vertical bars and lines). */
  valueAxis?: string;
}

let chartJs: string | undefined;

/** The chart.js UMD bundle, from the installed package. */
export function chartJsSource(): string {
  if (chartJs !== undefined) return chartJs;
  const require = createRequire(import.meta.url);
  let path: string;
  try {
    path = join(dirname(require.resolve('chart.js')), 'chart.umd.js');
    chartJs = readFileSync(path, 'utf8');
  } catch {
    throw new FatalError('chart.js is not installed (npm ci): the HTML report inlines it');
  }
  return chartJs;
}

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** Makes text safe inside a <script> element (no "</script", no "<!--"). */
function scriptSafe(text: string): string {
  return text.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

/** JSON inside a <script type="application/json"> element. */
function jsonSafe(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
}

/** A canvas for a chart; `png` names the PNG file a screenshot of `wrapper` goes to. */
export function canvas(id: string, height = 360): string {
  return `<div class="chart" style="height:${height}px"><canvas id="${escapeHtml(id)}"></canvas></div>`;
}

/** Marks an element to be saved as a PNG by the PNG exporter. */
export function pngAttribute(name: string): string {
  return ` data-png="${escapeHtml(name)}"`;
}

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 16px 24px; color: #1d1d1d; background: #fff; }
h1 { font-size: 22px; } h2 { font-size: 19px; border-bottom: 1px solid #ccc; padding-bottom: 4px; margin-top: 36px; }
h3 { font-size: 16px; margin-top: 28px; } h4 { font-size: 14px; margin: 12px 0 4px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; white-space: nowrap; }
th:first-child, td:first-child, td.left, th.left { text-align: left; }
th { background: #f3f3f3; }
td small { color: #555; }
.chart { position: relative; width: 100%; margin: 8px 0 20px; background: #fff; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(330px, 1fr)); gap: 8px 16px; background: #fff; padding: 4px; }
.grid .chart { margin: 0; }
.figure { background: #fff; padding: 8px; }
.note { color: #555; font-size: 13px; }
dl.env { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; }
dl.env dt { font-weight: 600; } dl.env dd { margin: 0; }
ul.warnings li { margin: 2px 0; }
nav a { margin-right: 12px; }
`;

/** The in-page script: formats axes, draws p99 whiskers, builds every chart, then sets window.fusebenchReady. */
const SCRIPT = `
(function () {
  var UNITS = {
    time: [['ns', 1], ['\\u00b5s', 1e3], ['ms', 1e6], ['s', 1e9]],
    rate: [['B/s', 1], ['KiB/s', 1024], ['MiB/s', 1048576], ['GiB/s', 1073741824]],
    count: [['', 1], ['k', 1e3], ['M', 1e6], ['G', 1e9]]
  };
  function fmt(value, kind) {
    if (value === null || value === undefined || !isFinite(value)) return '';
    var units = UNITS[kind] || UNITS.count, chosen = units[0];
    for (var i = 0; i < units.length; i++) if (Math.abs(value) >= units[i][1]) chosen = units[i];
    var shown = value / chosen[1];
    var digits = shown === 0 ? 0 : Math.max(0, Math.min(6, 3 - (Math.floor(Math.log10(Math.abs(shown))) + 1)));
    return shown.toFixed(digits) + chosen[0];
  }
  var whiskers = {
    id: 'fusebenchWhiskers',
    afterDatasetsDraw: function (chart) {
      var ctx = chart.ctx;
      chart.data.datasets.forEach(function (dataset, index) {
        var meta = chart.getDatasetMeta(index);
        if (!dataset.whiskers || meta.hidden) return;
        var scale = chart.scales[meta.yAxisID];
        meta.data.forEach(function (bar, j) {
          var high = dataset.whiskers[j];
          if (high === null || high === undefined || !isFinite(high)) return;
          var top = scale.getPixelForValue(high);
          var half = Math.max(2, Math.min(6, bar.width / 3));
          ctx.save();
          ctx.strokeStyle = '#222';
          ctx.lineWidth = 1.2;
          ctx.beginPath();
          ctx.moveTo(bar.x, bar.y);
          ctx.lineTo(bar.x, top);
          ctx.moveTo(bar.x - half, top);
          ctx.lineTo(bar.x + half, top);
          ctx.stroke();
          ctx.restore();
        });
      });
    }
  };
  var specs = JSON.parse(document.getElementById('fusebench-charts').textContent);
  specs.forEach(function (spec) {
    var config = spec.config;
    var axis = spec.valueAxis || 'y';
    config.options = config.options || {};
    config.options.animation = false;
    config.options.responsive = true;
    config.options.maintainAspectRatio = false;
    config.options.scales = config.options.scales || {};
    var scale = config.options.scales[axis] = config.options.scales[axis] || {};
    scale.ticks = scale.ticks || {};
    scale.ticks.callback = function (value) {
      if (scale.type === 'logarithmic') {
        var mantissa = value / Math.pow(10, Math.floor(Math.log10(value)));
        if (![1, 2, 5].some(function (m) { return Math.abs(mantissa - m) < 1e-6; })) return '';
      }
      return fmt(value, spec.format);
    };
    config.options.plugins = config.options.plugins || {};
    config.options.plugins.tooltip = {
      callbacks: {
        label: function (item) {
          var value = axis === 'x' ? item.parsed.x : item.parsed.y;
          var text = item.dataset.label + ': ' + fmt(value, spec.format);
          var high = item.dataset.whiskers && item.dataset.whiskers[item.dataIndex];
          if (high !== null && high !== undefined) text += ' (p99 ' + fmt(high, spec.format) + ')';
          return text;
        }
      }
    };
    config.plugins = [whiskers];
    new Chart(document.getElementById(spec.id), config);
  });
  window.fusebenchReady = true;
})();
`;

export function htmlPage(title: string, body: string, charts: readonly ChartSpec[]): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
<script>${scriptSafe(chartJsSource())}</script>
</head>
<body>
${body}
<script type="application/json" id="fusebench-charts">${jsonSafe(charts)}</script>
<script>${scriptSafe(SCRIPT)}</script>
</body>
</html>
`;
}

const SETUP_COLOURS: Record<string, string> = {
  'kernel-erofs': '#4e79a7',
  'fuse-erofs-ts': '#e15759',
  'fuse-passthrough-ts': '#f28e2b',
  native: '#59a14f',
  squashfs: '#76b7b2',
  squashfuse: '#edc948',
  floor: '#9d9d9d',
};
const PALETTE = ['#b07aa1', '#ff9da7', '#9c755f', '#bab0ac', '#86bcb6', '#d37295', '#a0cbe8', '#8cd17d'];

/** A stable colour per setup name. */
export function setupColour(name: string): string {
  const known = SETUP_COLOURS[name];
  if (known) return known;
  let hash = 0;
  for (const char of name) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return PALETTE[hash % PALETTE.length]!;
}

/** The n-th colour of a categorical palette (opcodes, series). */
export function paletteColour(index: number): string {
  const all = [...Object.values(SETUP_COLOURS).slice(0, 6), ...PALETTE];
  return all[index % all.length]!;
}

/** Whether values spread enough that a log axis reads better (max/min above 30). */
export function needsLogScale(values: ReadonlyArray<number | null>): boolean {
  const positive = values.filter(
    (value): value is number => value !== null && value > 0 && Number.isFinite(value),
  );
  if (positive.length < 2) return false;
  return Math.max(...positive) / Math.min(...positive) > 30;
}
