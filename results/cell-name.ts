/**
 * How a cell's workload name carries its readers: `stat-all@4` is stat-all issued by 4 reader
 * processes at once; the plain name is one reader (as every result before readers existed).
 * Part of the result file's format, so writers and reports read it the same way.
 */

export function readersCellName(workload: string, readers: number): string {
  return readers === 1 ? workload : `${workload}@${readers}`;
}

/** The workload and readers a cell name stands for; a name without `@N` is one reader. */
export function parseReadersCellName(name: string): { workload: string; readers: number } {
  const match = /^(.+)@(\d+)$/.exec(name);
  return match ? { workload: match[1]!, readers: Number(match[2]) } : { workload: name, readers: 1 };
}
