/**
 * Number formatting shared by every report output: a unit picked per value or per row and axis
 * (ns/µs/ms/s for times, B/s…GiB/s for throughput), three significant digits, and intervals
 * printed as [lo–hi] in the unit and precision of the value they belong to.
 */

interface Scaled {
  value: number;
  unit: string;
  divisor: number;
}

const TIME_UNITS: Array<[string, number]> = [
  ['ns', 1],
  ['µs', 1e3],
  ['ms', 1e6],
  ['s', 1e9],
];

const RATE_UNITS: Array<[string, number]> = [
  ['B/s', 1],
  ['KiB/s', 1024],
  ['MiB/s', 1024 ** 2],
  ['GiB/s', 1024 ** 3],
];

const COUNT_UNITS: Array<[string, number]> = [
  ['', 1],
  ['k', 1e3],
  ['M', 1e6],
  ['G', 1e9],
];

function scale(value: number, units: Array<[string, number]>): Scaled {
  let chosen = units[0]!;
  for (const unit of units) if (Math.abs(value) >= unit[1]) chosen = unit;
  // A value that rounds up to the next unit at three digits ("1000µs") is shown in that unit.
  const next = units[units.indexOf(chosen) + 1];
  if (next && Math.abs(value) / chosen[1] >= 999.5) chosen = next;
  return { value: value / chosen[1], unit: chosen[0], divisor: chosen[1] };
}

/** Decimals that give `digits` significant digits for a value of this magnitude (never negative). */
export function decimalsFor(value: number, digits = 3): number {
  const magnitude = Math.abs(value);
  if (magnitude === 0 || !Number.isFinite(magnitude)) return 0;
  const integerDigits = Math.floor(Math.log10(magnitude)) + 1;
  return Math.max(0, Math.min(6, digits - integerDigits));
}

function fixed(value: number, digits = 3): string {
  return value.toFixed(decimalsFor(value, digits));
}

/** Units of the metrics fusebench records (the `unit` field of a metric). */
export type UnitKind = 'time' | 'rate' | 'count';

export function unitKind(unit: string): UnitKind {
  if (unit === 'ns') return 'time';
  if (unit === 'B/s') return 'rate';
  return 'count';
}

function scaled(value: number, kind: UnitKind): Scaled {
  if (kind === 'time') return scale(value, TIME_UNITS);
  if (kind === 'rate') return scale(value, RATE_UNITS);
  return scale(value, COUNT_UNITS);
}

/** "12.3µs", "1.23GiB/s", "4.56k"; `unit` is a metric unit ("ns", "B/s", anything else is a count). */
export function formatValue(value: number, unit: string): string {
  if (!Number.isFinite(value)) return '—';
  const kind = unitKind(unit);
  const { value: shown, unit: suffix } = scaled(value, kind);
  return `${fixed(shown)}${kind === 'count' ? suffix + (unit === '' || unit === 'count' ? '' : ` ${unit}`) : suffix}`;
}

export const formatDuration = (ns: number) => formatValue(ns, 'ns');
export const formatRate = (bytesPerSec: number) => formatValue(bytesPerSec, 'B/s');

/** A unit shared by several values (a table row, a chart axis): its name and what divides the base unit. */
export interface DisplayUnit {
  unit: string;
  divisor: number;
}

/**
 * The one unit for a set of values in the metric unit `unit` ("ns", "B/s", a count): the largest
 * that keeps the largest value at or above 1, so a row or an axis never mixes µs and ms.
 */
export function unitFor(values: ReadonlyArray<number | null>, unit: string): DisplayUnit {
  const finite = values.filter((value): value is number => value !== null && Number.isFinite(value));
  const largest = finite.length > 0 ? Math.max(...finite.map(Math.abs)) : 0;
  const kind = unitKind(unit);
  const { unit: suffix, divisor } = scaled(largest, kind);
  return {
    unit: kind === 'count' ? suffix + (unit === '' || unit === 'count' ? '' : ` ${unit}`) : suffix,
    divisor,
  };
}

/** A value in a given display unit, three significant digits, without the unit ("46.8"). */
export function formatIn(value: number, unit: DisplayUnit): string {
  return Number.isFinite(value) ? fixed(value / unit.divisor) : '—';
}

/**
 * "[45.1–48.0]": an interval in the unit of the value it belongs to, each bound at the value's
 * precision or three significant digits, whichever is coarser ("[13.0–630]", not "[13.0–630.0]").
 */
export function formatInterval(value: number, low: number, high: number, divisor = 1): string {
  if (!Number.isFinite(low) || !Number.isFinite(high)) return '';
  const decimals = decimalsFor(value / divisor);
  const bound = (x: number) => (x / divisor).toFixed(Math.min(decimals, decimalsFor(x / divisor)));
  return `[${bound(low)}–${bound(high)}]`;
}

/** "46.8µs [45.1–48.0]": a median with its 95% interval, both in the median's unit. */
export function formatEstimate(median: number, low: number, high: number, unit: string): string {
  if (!Number.isFinite(median)) return '—';
  const kind = unitKind(unit);
  const { value: shown, unit: suffix, divisor } = scaled(median, kind);
  const interval = formatInterval(median, low, high, divisor);
  return `${fixed(shown)}${suffix}${interval ? ` ${interval}` : ''}`;
}

/** Parses what formatValue/formatEstimate print back to the base unit (ns or B/s); for tests and tools. */
export function parseValue(text: string): number | null {
  const match = /^(-?[\d.]+)(ns|µs|us|ms|s|B\/s|KiB\/s|MiB\/s|GiB\/s)(?: \[[\d.]+[–-][\d.]+\])?$/.exec(
    text.trim(),
  );
  if (!match) return null;
  const units = new Map([...TIME_UNITS, ['us', 1e3] as [string, number], ...RATE_UNITS]);
  return Number(match[1]) * units.get(match[2]!)!;
}

/** "×1.83", "×12.4", "×123". */
export function formatRatio(ratio: number): string {
  if (!Number.isFinite(ratio)) return '—';
  return `×${fixed(ratio)}`;
}

/** "+5.2%", "-12%", "+0.0%". */
export function formatChange(ratio: number): string {
  if (!Number.isFinite(ratio)) return '—';
  const percent = (ratio - 1) * 100;
  const text = Math.abs(percent) >= 100 ? percent.toFixed(0) : percent.toFixed(1);
  return `${percent >= 0 ? '+' : ''}${text}%`;
}

/** A plain number with three significant digits ("0.0123", "4.56", "123"). */
export function formatNumber(value: number | null): string {
  if (value === null || !Number.isFinite(value)) return '—';
  return fixed(value);
}

/** "0.003", "<0.001". */
export function formatP(p: number): string {
  if (!Number.isFinite(p)) return '—';
  return p < 0.001 ? '<0.001' : p.toFixed(3);
}

/** Byte sizes in binary units ("4 KiB", "1 MiB", "3.2 GiB"). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let index = 0;
  while (Math.abs(value) >= 1024 && index < units.length - 1) {
    value /= 1024;
    index++;
  }
  return `${Number.isInteger(value) ? value : fixed(value)} ${units[index]}`;
}

/** Characters with a one-column ASCII stand-in, so that --ascii keeps every table aligned. */
const ASCII: Record<string, string> = {
  µ: 'u',
  '×': 'x',
  '–': '-',
  '—': '-',
  '→': '>',
  '…': '~',
  '≤': '<',
  '≥': '>',
  '±': '~',
  '‘': "'",
  '’': "'",
  '“': '"',
  '”': '"',
};

/** Plain ASCII, column for column: known symbols get a stand-in, anything else non-ASCII a '?'. */
export function toAscii(text: string): string {
  return text.replace(/[^\t\n\r -~]/gu, (char) => ASCII[char] ?? '?');
}
