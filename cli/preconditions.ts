import { FatalError } from '../lib/errors.js';

/** Commands that mount filesystems need root; say so in one line instead of failing halfway. */
export function requireRoot(command: string): void {
  if (process.getuid?.() !== 0)
    throw new FatalError(`${command} needs root: it mounts filesystems and drops caches (try sudo)`);
}
