import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../lib/safe-write.js';
import type { ResultFile } from './schema.js';

/**
 * Writes a result file atomically (exclusive temporary file, fsync, rename), so a reader or a
 * crash at any moment sees either the previous complete version or the new one, never half a file.
 */
export function writeResultFile(path: string, result: ResultFile): void {
  writeFileAtomic(path, `${JSON.stringify(result, null, 1)}\n`);
}

/**
 * A result file still `running` whose run is gone (SIGKILL, a crash) becomes `killed`, so no
 * reader takes it for a run in progress. Returns whether it changed the file.
 */
export function markKilled(path: string): boolean {
  let result: ResultFile;
  try {
    result = JSON.parse(readFileSync(path, 'utf8')) as ResultFile;
  } catch {
    return false;
  }
  if (result.status !== 'running') return false;
  result.status = 'killed';
  result.warnings.push('killed: the run ended without finishing (SIGKILL or a crash); marked by cleanup');
  writeResultFile(path, result);
  return true;
}
