import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { FatalError } from '../lib/errors.js';
import { unitFor } from './units.js';

/**
 * The self-contained HTML page of index.html and history.html: chart.js (UMD build) inlined from
 * node_modules, the chart configurations as JSON, and a small script that draws them. No network
 * access, no external file: the page can be mailed or attached as it is.
 */

/** How the ticks and tooltips of one numeric axis are written: value / divisor, in `unit`. */
export interface AxisFormat {
  divisor: number;
  unit: string;
  /** A nines scale: value v stands for 100·(1 − 10^−v) percent (0, 90, 99, 99.9, ...). */
  nines?: boolean;
}

/** One chart on the page: a chart.js configuration plus how its numeric axes are labelled. */
export interface ChartSpec {
  id: string;
  /** Chart.js configuration (type, data, options); plain JSON only. */
  config: Record<string, unknown>;
  /** Numeric axes by scale id ('x', 'y'); the first is the one tooltips report. */
  axes: Record<string, AxisFormat>;
  /** Legend entries to show instead of one per dataset (forest plots: setup colours and grey). */
  legend?: Array<{ text: string; colour: string }>;
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
caption { text-align: left; font-size: 13px; color: #555; padding: 2px 0; }
td small { color: #555; }
.chart { position: relative; width: 100%; margin: 8px 0 20px; background: #fff; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(330px, 1fr)); gap: 8px 16px; background: #fff; padding: 4px; }
.grid .chart { margin: 0; }
.figure { background: #fff; padding: 8px; }
.note { color: #555; font-size: 13px; }
.caption { font-weight: 600; font-size: 14px; margin: 0 0 4px; }
dl.env { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; }
dl.env dt { font-weight: 600; } dl.env dd { margin: 0; }
ul.warnings li { margin: 2px 0; }
nav a { margin-right: 12px; }
`;

/**
 * The in-page script: writes numeric ticks in each axis' unit (log axes at 1, 2 and 5 of each
 * decade, or at powers of ten over more than two decades), draws CI markers and reference
 * lines, builds every chart, then sets window.fusebenchReady.
 */
const SCRIPT = `
(function () {
  function fmt(value, axis) {
    if (value === null || value === undefined || !isFinite(value)) return '';
    var shown = value / axis.divisor;
    var digits = shown === 0 ? 0 : Math.max(0, Math.min(6, 3 - (Math.floor(Math.log10(Math.abs(shown))) + 1)));
    return String(Number(shown.toFixed(digits)));
  }
  var marks = {
    id: 'fusebenchMarks',
    afterDatasetsDraw: function (chart) {
      var ctx = chart.ctx;
      var horizontal = chart.options.indexAxis === 'y';
      chart.data.datasets.forEach(function (dataset, index) {
        var meta = chart.getDatasetMeta(index);
        if (!dataset.points || meta.hidden) return;
        var scale = chart.scales[horizontal ? meta.xAxisID : meta.yAxisID];
        meta.data.forEach(function (bar, j) {
          var value = dataset.points[j];
          if (value === null || value === undefined || !isFinite(value)) return;
          var at = scale.getPixelForValue(value);
          var x = horizontal ? at : bar.x, y = horizontal ? bar.y : at;
          var colour = Array.isArray(dataset.backgroundColor) ? dataset.backgroundColor[j] : dataset.backgroundColor;
          ctx.save();
          ctx.fillStyle = colour;
          ctx.strokeStyle = '#222';
          ctx.lineWidth = 1;
          ctx.beginPath();
          ctx.moveTo(x, y - 5); ctx.lineTo(x + 5, y); ctx.lineTo(x, y + 5); ctx.lineTo(x - 5, y); ctx.closePath();
          ctx.fill(); ctx.stroke();
          ctx.restore();
        });
      });
      var line = chart.options.plugins.fusebenchLine;
      if (line && chart.scales[line.axis]) {
        var scale = chart.scales[line.axis], area = chart.chartArea, p = scale.getPixelForValue(line.value);
        ctx.save();
        ctx.strokeStyle = '#333';
        ctx.setLineDash([4, 3]);
        ctx.beginPath();
        if (line.axis === 'x') { ctx.moveTo(p, area.top); ctx.lineTo(p, area.bottom); }
        else { ctx.moveTo(area.left, p); ctx.lineTo(area.right, p); }
        ctx.stroke();
        ctx.restore();
      }
    }
  };
  var specs = JSON.parse(document.getElementById('fusebench-charts').textContent);
  specs.forEach(function (spec) {
    var config = spec.config;
    config.options = config.options || {};
    config.options.animation = false;
    config.options.responsive = true;
    config.options.maintainAspectRatio = false;
    // Room for the last tick label of a horizontal axis.
    config.options.layout = { padding: { right: 14 } };
    config.options.scales = config.options.scales || {};
    var names = Object.keys(spec.axes);
    names.forEach(function (name) {
      var axis = spec.axes[name];
      var scale = config.options.scales[name] = config.options.scales[name] || {};
      scale.ticks = scale.ticks || {};
      if (axis.nines)
        // The median, then 90%, 99%, 99.9%, ...
        scale.afterBuildTicks = function (built) {
          var ticks = [{ value: Math.log10(2) }];
          for (var v = 1; v <= built.max + 1e-9; v++) ticks.push({ value: v });
          built.ticks = ticks;
        };
      scale.ticks.callback = function (value) {
        if (axis.nines) return (100 - 100 * Math.pow(10, -value)).toFixed(Math.max(0, Math.round(value) - 2)) + '%';
        if (scale.type === 'logarithmic') {
          var mantissa = value / Math.pow(10, Math.floor(Math.log10(value)));
          // Over more than two decades only the powers of ten, else 1, 2 and 5 of each decade.
          var labelled = this.max / this.min > 100 ? [1] : [1, 2, 5];
          if (!labelled.some(function (m) { return Math.abs(mantissa - m) < 1e-6; })) return '';
        }
        return fmt(value, axis);
      };
    });
    config.options.plugins = config.options.plugins || {};
    if (spec.legend) {
      config.options.plugins.legend = config.options.plugins.legend || {};
      config.options.plugins.legend.labels = config.options.plugins.legend.labels || {};
      config.options.plugins.legend.labels.generateLabels = function () {
        return spec.legend.map(function (entry) {
          return { text: entry.text, fillStyle: entry.colour, strokeStyle: entry.colour, lineWidth: 0, hidden: false };
        });
      };
      config.options.plugins.legend.onClick = function () {};
    }
    var main = names[0];
    config.options.plugins.tooltip = {
      callbacks: {
        label: function (item) {
          var axis = spec.axes[main];
          var raw = item.raw;
          var text;
          if (item.dataset.points) {
            var value = item.dataset.points[item.dataIndex];
            text = fmt(value, axis) + (Array.isArray(raw) ? ' [' + fmt(raw[0], axis) + '\\u2013' + fmt(raw[1], axis) + ']' : '');
          } else {
            var v = main === 'x' ? item.parsed.x : item.parsed.y;
            text = fmt(v, axis);
          }
          return (item.dataset.label || '') + ': ' + text + ' ' + axis.unit;
        }
      }
    };
    config.plugins = [marks];
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

/**
 * Colours fixed per setup for the whole report (and history): a reader learns them once. Setups
 * not listed get a colour from their name, the same in every chart.
 */
const SETUP_COLOURS: Record<string, string> = {
  'kernel-erofs': '#4e79a7',
  'fuse-erofs-ts': '#e15759',
  'fuse-passthrough-ts': '#f28e2b',
  native: '#59a14f',
  'fuse-passthrough-kernel': '#b07aa1',
  erofsfuse: '#9c755f',
  squashfuse: '#edc948',
  squashfs: '#76b7b2',
  passthrough_hp: '#ff9da7',
  'passthrough-hp': '#ff9da7',
  floor: '#9d9d9d',
};
const PALETTE = ['#d37295', '#86bcb6', '#a0cbe8', '#8cd17d', '#f1ce63', '#499894', '#d4a6c8', '#fabfd2'];

function hashed(name: string, palette: readonly string[]): string {
  let hash = 0;
  for (const char of name) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return palette[hash % palette.length]!;
}

/** The colour of a setup, the same in every chart. */
export function setupColour(name: string): string {
  return SETUP_COLOURS[name] ?? hashed(name, PALETTE);
}

/** Grey: a result the interval does not tell apart from the reference. */
export const INSIGNIFICANT_COLOUR = '#c4c4c4';

/** Colours fixed per FUSE opcode, the same in every chart of every report. */
const OPCODE_COLOURS: Record<string, string> = {
  LOOKUP: '#4e79a7',
  FORGET: '#a0cbe8',
  BATCH_FORGET: '#a0cbe8',
  GETATTR: '#f28e2b',
  READLINK: '#ffbe7d',
  OPEN: '#59a14f',
  READ: '#e15759',
  RELEASE: '#8cd17d',
  FLUSH: '#b6992d',
  OPENDIR: '#499894',
  READDIR: '#86bcb6',
  READDIRPLUS: '#79706e',
  RELEASEDIR: '#bab0ac',
  GETXATTR: '#b07aa1',
  LISTXATTR: '#d4a6c8',
  STATFS: '#9d7660',
  ACCESS: '#d7b5a6',
  INIT: '#17becf',
  STATX: '#ff9da7',
};

export function opcodeColour(opcode: string): string {
  return OPCODE_COLOURS[opcode] ?? hashed(opcode, PALETTE);
}

/** Colours of the client / daemon / system split, the same in the CPU and context-switch charts. */
export const USAGE_COLOURS = { client: '#4e79a7', daemon: '#f28e2b', system: '#bab0ac' } as const;

/**
 * A numeric axis: chart.js scale options whose title names the unit, and the tick format that
 * writes values in it. `metricUnit` is a metric unit ("ns", "B/s", "count") or a literal unit.
 */
export function valueAxis(
  title: string,
  values: ReadonlyArray<number | null>,
  metricUnit: string,
  log: boolean,
): { scale: Record<string, unknown>; format: AxisFormat } {
  const positive = values.filter(
    (value): value is number => value !== null && value > 0 && Number.isFinite(value),
  );
  // A log axis over many decades takes the unit of its geometric middle (µs for 2 µs to 100 ms),
  // so neither end reads as 0.001 of a large unit.
  const middle =
    log && positive.length > 0 ? [Math.sqrt(Math.min(...positive) * Math.max(...positive))] : values;
  const format: AxisFormat =
    metricUnit === 'ns' || metricUnit === 'B/s'
      ? unitFor(middle, metricUnit)
      : { unit: metricUnit, divisor: 1 };
  const scale: Record<string, unknown> = {
    type: log ? 'logarithmic' : 'linear',
    title: { display: true, text: `${title} (${format.unit}${log ? ', log' : ''})` },
    // The page script labels few ticks of a log axis: skipping more could leave none.
    ticks: log ? { maxRotation: 0, autoSkip: false } : { maxRotation: 0 },
  };
  if (log && positive.length > 0) {
    // A margin around the data, and a span of at least 3×, so that a 1, 2 or 5 tick is always labelled.
    let low = Math.min(...positive) / 1.25;
    let high = Math.max(...positive) * 1.25;
    const widen = Math.sqrt(Math.max(1, 3 / (high / low)));
    low /= widen;
    high *= widen;
    scale.min = low;
    scale.max = high;
  } else if (!log) scale.beginAtZero = true;
  return { scale, format };
}
