import type { Op } from './ops.js';

/**
 * Splitting one workload's operations among N reader processes, so that every N does the same
 * work: the workload lists its units of work once (a unit is self-contained: one lstat, one
 * open + close, one pread of a file every reader has open), and a rule that looks only at a
 * unit's index (never at timing) gives each unit to exactly one reader. Descriptor-based units
 * need their files open in every reader: the `prologue` (opens) and `epilogue` (closes) run once
 * per reader, so those, and only those, grow with N.
 */

/** Readers are client processes; more than this is a mistyped number, not a measurement. */
export const MAX_READERS = 64;

/**
 * interleaved: unit i goes to reader i mod N (random and metadata streams, whose order is
 * already a seeded shuffle or the tree's order); contiguous: reader r takes the r-th of N
 * consecutive runs of units (sequential reads: each reader streams its own part of the file).
 */
export type SplitRule = 'interleaved' | 'contiguous';

export interface SplitWork {
  prologue: Op[];
  units: Op[][];
  epilogue: Op[];
  rule: SplitRule;
}

/** Units of one op each. */
export const singleOps = (ops: readonly Op[]): Op[][] => ops.map((op) => [op]);

/** The units reader `reader` of `readers` executes, by index only. */
export function unitsOf(work: SplitWork, reader: number, readers: number): Op[][] {
  const count = work.units.length;
  if (work.rule === 'interleaved') return work.units.filter((_, index) => index % readers === reader);
  return work.units.slice(
    Math.floor((reader * count) / readers),
    Math.floor(((reader + 1) * count) / readers),
  );
}

/**
 * One op stream per reader. Every unit lands in exactly one stream; a workload with fewer units
 * than readers cannot give each reader work, which is an error rather than an idle reader.
 */
export function splitAmongReaders(work: SplitWork, readers: number): Op[][] {
  if (!Number.isInteger(readers) || readers < 1 || readers > MAX_READERS)
    throw new Error(`readers must be an integer from 1 to ${MAX_READERS}, got ${readers}`);
  if (work.units.length < readers)
    throw new Error(`${work.units.length} units of work cannot be split among ${readers} readers`);
  return Array.from({ length: readers }, (_, reader) => [
    ...work.prologue,
    ...unitsOf(work, reader, readers).flat(),
    ...work.epilogue,
  ]);
}
