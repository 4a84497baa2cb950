import type { ResultFile } from './schema.js';

/**
 * Warnings grouped by kind, for summaries: a run on a busy machine can raise a hundred, and a
 * reader needs "65 × high variation, in these cells" more than the hundred lines (which stay in
 * the result file). A warning's kind is its text before the first colon ("high variation: CV
 * 14% ..."), which is how the engine writes every warning.
 */

export interface WarningGroup {
  kind: string;
  count: number;
  /** "workload cache setup" of every measurement with this kind of warning. */
  cells: string[];
  /** What each run-level warning of this kind says after its kind. */
  details: string[];
}

export function warningKind(warning: string): string {
  const colon = warning.indexOf(':');
  // Files written before kinds came first kept a figure in parentheses before the colon.
  return (colon > 0 ? warning.slice(0, colon) : warning).replace(/\s*\([^)]*\)$/, '');
}

export function groupWarnings(result: ResultFile): WarningGroup[] {
  const groups = new Map<string, WarningGroup>();
  const add = (warning: string, cell: string | null) => {
    const kind = warningKind(warning);
    let group = groups.get(kind);
    if (!group) {
      group = { kind, count: 0, cells: [], details: [] };
      groups.set(kind, group);
    }
    group.count++;
    if (cell) group.cells.push(cell);
    else group.details.push(warning.slice(warning.indexOf(':') + 1).trim() || warning);
  };
  for (const warning of result.warnings) add(warning, null);
  for (const setup of result.setups)
    if (setup.status !== 'ok')
      add(`setup ${setup.status}: ${setup.name}: ${setup.note ?? 'no reason given'}`, null);
  for (const measurement of [...result.measurements, ...result.floor])
    for (const warning of measurement.warnings)
      add(warning, `${measurement.workload} ${measurement.cache} ${measurement.setup}`);
  return [...groups.values()].sort((a, b) => b.count - a.count || (a.kind < b.kind ? -1 : 1));
}
