import { FLOOR_SETUP } from './model.js';
import { renderTable, splitTable, type TextTable, truncate, width } from './table.js';

/**
 * The one table layout of summary.txt, compare and history: workloads as rows (in blocks, one per
 * cache state), one unit column, setups (or runs) as columns. Column names are written out when
 * they fit in the width limit, else abbreviated with a legend; a table that still does not fit is
 * split, repeating the workload and unit columns.
 */

export interface GridColumn {
  /** The key of the column's cells in GridRow.cells. */
  key: string;
  /** The name in full. */
  name: string;
  /** The abbreviation used when the full names do not fit (at most 7 columns). */
  short: string;
}

/** Setup columns, abbreviated as known setups are. */
export function setupColumns(setups: readonly string[]): GridColumn[] {
  const short = abbreviations(setups);
  return setups.map((setup) => ({ key: setup, name: setupLabel(setup), short: short.get(setup)! }));
}

export interface GridRow {
  workload: string;
  /** The unit every number of the row is in ("us/op", "MiB/s", "ratio"). */
  unit: string;
  /** Cell text per column key; missing cells are left blank. */
  cells: Record<string, string>;
}

export interface GridBlock {
  /** A row of its own above the block ("warm cache"). */
  title: string;
  rows: GridRow[];
}

/** Short names of known setups (at most 7 columns). */
const ABBREVIATIONS: Record<string, string> = {
  'kernel-erofs': 'k-erofs',
  floor: 'floor',
  'fuse-erofs-ts': 'f-erofs',
  'fuse-passthrough-ts': 'f-pt-ts',
  native: 'native',
  'fuse-passthrough-kernel': 'f-pt-k',
  erofsfuse: 'erofsf',
  squashfuse: 'sqfuse',
  squashfs: 'sqfs',
  passthrough_hp: 'pt_hp',
  'passthrough-hp': 'pt-hp',
};

/** Abbreviations of `setups`, unique, at most 7 columns each. */
export function abbreviations(setups: readonly string[]): Map<string, string> {
  const used = new Set<string>();
  const result = new Map<string, string>();
  for (const setup of setups) {
    let short = ABBREVIATIONS[setup] ?? truncate(setup, 7).replace(/…$/, '');
    for (let index = 2; used.has(short); index++) short = `${short.slice(0, 6)}${index}`;
    used.add(short);
    result.set(setup, short);
  }
  return result;
}

/** The name a setup column carries in full. */
export const setupLabel = (setup: string) => (setup === FLOOR_SETUP ? 'floor (tmpfs)' : setup);

function build(columns: readonly GridColumn[], blocks: readonly GridBlock[], headers: string[][]): TextTable {
  const table: TextTable = {
    columns: [
      { header: ['workload'], align: 'left' },
      { header: ['unit'], align: 'left' },
      ...columns.map((_, index) => ({ header: headers[index]!, align: 'right' as const })),
    ],
    rows: [],
  };
  for (const block of blocks) {
    table.rows.push([block.title]);
    for (const row of block.rows)
      table.rows.push([row.workload, row.unit, ...columns.map((column) => row.cells[column.key] ?? '')]);
  }
  return table;
}

/**
 * The grid as text lines no wider than `limit`, and the legend of abbreviations used (null when
 * the full names fit).
 */
export function renderGrid(
  columns: readonly GridColumn[],
  blocks: readonly GridBlock[],
  limit: number,
): { lines: string[]; legend: string | null } {
  const fullTable = build(
    columns,
    blocks,
    columns.map((column) => fullHeader(column.name)),
  );
  if (fits(fullTable, limit)) return { lines: renderTable(fullTable, limit), legend: null };
  const table = build(
    columns,
    blocks,
    columns.map((column) => [column.short]),
  );
  const legend = columns.map((column) => `${column.short} ${column.name}`).join(', ');
  const parts = splitTable(table, 2, limit);
  const lines = parts.flatMap((part, index) => [...(index > 0 ? [''] : []), ...renderTable(part, limit)]);
  return { lines, legend };
}

/** A name broken at hyphens and spaces into lines of at most 8 columns. */
function fullHeader(name: string): string[] {
  const parts = name.split(/(?<=-)|(?= )/);
  const lines: string[] = [];
  for (const part of parts) {
    const last = lines.length - 1;
    if (last >= 0 && width(lines[last]! + part) <= 8) lines[last] += part;
    else lines.push(part.trim());
  }
  return lines;
}

function fits(table: TextTable, limit: number): boolean {
  return renderTable(table, Number.POSITIVE_INFINITY).every((line) => width(line) <= limit);
}
