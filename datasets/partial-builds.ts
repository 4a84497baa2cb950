import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { processStartTime } from '../runners/processes.js';

/**
 * Builds into the cache (images, trees) happen at `TARGET.partial-PID-STARTTIME` and are renamed
 * when complete; the owner's identity (pid and start time) survives pid reuse, so a build whose
 * process is gone (killed) is told from one still running.
 */

const PARTIAL = /\.partial-(\d+)-(\d+)$/;

/** Where this process builds `target`. */
export function partialPathOf(target: string): string {
  return `${target}.partial-${process.pid}-${processStartTime(process.pid) ?? 0}`;
}

/** The partial builds in `dir` whose process is gone. */
export function stalePartials(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((name) => {
      const match = PARTIAL.exec(name);
      return match !== null && processStartTime(Number(match[1])) !== Number(match[2]);
    })
    .map((name) => join(dir, name));
}
