import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ResultFile } from './schema.js';

/**
 * Writes a result file atomically (temporary file, fsync, rename), so a reader or a crash at any
 * moment sees either the previous complete version or the new one, never half a file.
 */
export function writeResultFile(path: string, result: ResultFile): void {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.tmp-${process.pid}`;
  const fd = openSync(temporary, 'w', 0o644);
  try {
    writeSync(fd, `${JSON.stringify(result, null, 1)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
}
