import type { ReportModel } from './model.js';

/**
 * Warnings by kind: a run may carry a hundred warnings of three kinds, and a reader needs the
 * kinds and their counts first (the full list stays in index.html and the result file).
 */

export interface WarningKind {
  /** The warning with its cell, numbers and details taken out ("high variation"). */
  kind: string;
  /** The warnings of this kind as written. */
  items: string[];
}

/** A warning's kind: its text without the cell prefix, before the first ':' or '(', a leading count as N. */
export function warningKind(warning: string): string {
  const text = warning.replace(/^\S+ (warm|cold) \S+: /, '');
  return text.split(/[:(]/)[0]!.replace(/^\d+ /, 'N ').trim();
}

export function groupWarnings(model: ReportModel): WarningKind[] {
  const kinds = new Map<string, string[]>();
  for (const warning of model.warnings) {
    const kind = warningKind(warning);
    kinds.set(kind, [...(kinds.get(kind) ?? []), warning]);
  }
  return [...kinds.entries()]
    .map(([kind, items]) => ({ kind, items }))
    .sort((a, b) => b.items.length - a.items.length || (a.kind < b.kind ? -1 : 1));
}

/** "38 high variation, 12 within 2× of the floor, 1 setup squashfuse skipped". */
export function warningCounts(model: ReportModel): string {
  return groupWarnings(model)
    .map(({ kind, items }) => `${items.length} ${kind}`)
    .join(', ');
}
