import { fileURLToPath } from 'node:url';
import { execa, type Options } from 'execa';

/** The built CLI (dist/cli/main.js) as a user runs it, for tests that exercise commands end to end. */
export const CLI = fileURLToPath(new URL('../../cli/main.js', import.meta.url));

export function fusebench(args: string[], options: Options = {}) {
  return execa(process.execPath, [CLI, ...args], { reject: false, ...options });
}
