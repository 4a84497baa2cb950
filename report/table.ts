/**
 * Plain-text tables for terminals and mail: fixed-width columns, no ANSI codes, and a hard
 * width limit (72 columns, what a linux-fsdevel post survives). Tables wider than the limit are
 * split into several, repeating the key columns on the left.
 */

export const TEXT_WIDTH = 72;

/** Display width: every code point fusebench prints (µ, ×, ±, —) takes one column. */
export function width(text: string): number {
  return [...text].length;
}

function pad(text: string, size: number, align: 'left' | 'right'): string {
  const fill = ' '.repeat(Math.max(0, size - width(text)));
  return align === 'left' ? text + fill : fill + text;
}

/** Cuts a string to `size` columns, marking the cut with '…'. */
export function truncate(text: string, size: number): string {
  const points = [...text];
  return points.length <= size ? text : `${points.slice(0, Math.max(0, size - 1)).join('')}…`;
}

export interface Column {
  /** Header lines (a long name may be broken over several). */
  header: string[];
  align: 'left' | 'right';
}

export interface TextTable {
  columns: Column[];
  rows: string[][];
}

/** Breaks a column name at hyphens so that no header line is wider than `size` (when possible). */
export function headerLines(name: string, size: number): string[] {
  if (width(name) <= size) return [name];
  const parts = name.split(/(?<=-)/);
  const lines: string[] = [];
  let line = '';
  for (const part of parts) {
    if (line !== '' && width(line + part) > size) {
      lines.push(line);
      line = '';
    }
    line += part;
  }
  if (line !== '') lines.push(line);
  return lines.map((text) => truncate(text, Math.max(size, 1)));
}

const GAP = '  ';

/** A row of one cell in a table of several columns: a block title, written across the columns. */
const isTitle = (table: TextTable, row: string[]) => row.length === 1 && table.columns.length > 1;

function columnWidths(table: TextTable): number[] {
  const cells = table.rows.filter((row) => !isTitle(table, row));
  return table.columns.map((column, index) =>
    Math.max(...column.header.map(width), ...cells.map((row) => width(row[index] ?? '')), 1),
  );
}

export function tableWidth(table: TextTable): number {
  const widths = columnWidths(table);
  return widths.reduce((sum, size) => sum + size, 0) + GAP.length * Math.max(0, widths.length - 1);
}

/** Renders one table; lines are right-trimmed and never wider than `limit` (cells are cut if they must be). */
export function renderTable(table: TextTable, limit = TEXT_WIDTH): string[] {
  const widths = columnWidths(table);
  const headerHeight = Math.max(...table.columns.map((column) => column.header.length));
  const lines: string[] = [];
  const line = (cells: string[]) =>
    truncate(
      cells
        .map((cell, index) => pad(cell, widths[index]!, table.columns[index]!.align))
        .join(GAP)
        .trimEnd(),
      limit,
    );
  for (let row = 0; row < headerHeight; row++) {
    // Header lines are bottom-aligned, so a one-line header sits on the last header row.
    lines.push(
      line(table.columns.map((column) => column.header[row - (headerHeight - column.header.length)] ?? '')),
    );
  }
  lines.push(line(widths.map((size) => '-'.repeat(size))));
  for (const row of table.rows)
    lines.push(
      isTitle(table, row)
        ? truncate(row[0]!, limit)
        : line(table.columns.map((_, index) => row[index] ?? '')),
    );
  return lines;
}

/**
 * Splits a table into several that each fit `limit`: the first `keys` columns are repeated in
 * every part, the others are packed left to right in order.
 */
export function splitTable(table: TextTable, keys: number, limit = TEXT_WIDTH): TextTable[] {
  if (tableWidth(table) <= limit || table.columns.length <= keys + 1) return [table];
  const pick = (indexes: number[]): TextTable => ({
    columns: indexes.map((index) => table.columns[index]!),
    // A one-cell row is a block title: it stays whole in every part.
    rows: table.rows.map((row) => (row.length === 1 ? row : indexes.map((index) => row[index] ?? ''))),
  });
  const keyIndexes = Array.from({ length: keys }, (_, index) => index);
  const parts: TextTable[] = [];
  let current: number[] = [];
  for (let index = keys; index < table.columns.length; index++) {
    const candidate = [...current, index];
    if (current.length > 0 && tableWidth(pick([...keyIndexes, ...candidate])) > limit) {
      parts.push(pick([...keyIndexes, ...current]));
      current = [index];
    } else {
      current = candidate;
    }
  }
  if (current.length > 0) parts.push(pick([...keyIndexes, ...current]));
  return parts;
}

/**
 * Wraps prose to `limit` columns; the first line keeps the text's leading spaces, continuation
 * lines get `indent`. Words longer than a line are cut.
 */
export function wrap(text: string, limit = TEXT_WIDTH, indent = ''): string[] {
  const lead = /^ */.exec(text)![0];
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter((part) => part !== '')) {
    const prefix = lines.length === 0 ? lead : indent;
    const candidate = line === '' ? prefix + word : `${line} ${word}`;
    if (width(candidate) <= limit) {
      line = candidate;
      continue;
    }
    if (line !== '') lines.push(line);
    line = truncate(indent + word, limit);
  }
  if (line !== '') lines.push(line);
  return lines.length > 0 ? lines : [''];
}

/** "label     value" lines, the value wrapped under itself. */
export function field(label: string, value: string, labelWidth = 9, limit = TEXT_WIDTH): string[] {
  const indent = ' '.repeat(labelWidth + 1);
  return wrap(value, limit - indent.length).map((line, index) =>
    index === 0 ? `${label.padEnd(labelWidth)} ${line}` : indent + line,
  );
}
