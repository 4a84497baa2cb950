import { readFileSync, statSync } from 'node:fs';
import { FatalError } from '../../lib/errors.js';

/**
 * devfuse serves from one bundled module (scripts/bundle-worker.mjs, part of `npm run build`): a
 * worker thread runs it, and a daemon serving on its main thread requires it. Either then loads one
 * file instead of resolving and linking ~25 modules one by one. A bundle that is missing, or older
 * than a module it was made from (a build without the bundling step), is refused in one line
 * rather than served stale.
 */

const BUNDLE = 'devfuse-worker.bundle.cjs';
const HOW_TO_FIX = 'run npm run build';

/** Where the bundle is, unchecked. */
export function workerBundleLocation(directory: URL = new URL('./', import.meta.url)): URL {
  return new URL(BUNDLE, directory);
}

/** Where the bundle is, once checked to be there and current. */
export function workerBundleUrl(directory: URL = new URL('./', import.meta.url)): URL {
  const bundle = workerBundleLocation(directory);
  const manifest = new URL(BUNDLE.replace(/\.cjs$/, '.json'), directory);
  let built: number;
  let inputs: string[];
  try {
    built = statSync(bundle).mtimeMs;
    inputs = (JSON.parse(readFileSync(manifest, 'utf8')) as { inputs: string[] }).inputs;
  } catch {
    throw new FatalError(
      `devfuse: the serving thread's bundle ${bundle.pathname} (or its input list) is missing; ${HOW_TO_FIX}`,
    );
  }
  for (const input of inputs) {
    const source = new URL(input, directory);
    const modified = statSync(source, { throwIfNoEntry: false })?.mtimeMs;
    if (modified === undefined || modified > built) {
      throw new FatalError(
        `devfuse: the serving thread's bundle ${bundle.pathname} is older than ${source.pathname}; ${HOW_TO_FIX}`,
      );
    }
  }
  return bundle;
}
