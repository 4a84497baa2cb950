import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadedResult } from './model.js';

/**
 * Results from many machines: a results directory (e.g. one collected from VMs of several
 * kernels and several hosts) read as a whole and split into groups whose figures compare, one
 * per host and dataset. Kernels then vary within a group: what `history` is for.
 */

/** Every .json file below `dir`, in name order (the directory may hold other JSON: callers skip what is not a result). */
export function jsonFilesUnder(dir: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    const stats = statSync(path);
    if (stats.isDirectory()) found.push(...jsonFilesUnder(path));
    else if (stats.isFile() && name.endsWith('.json')) found.push(path);
  }
  return found;
}

export interface ResultGroup {
  host: string;
  /** The dataset's name and the start of its content hash: same name, other content, other group. */
  dataset: string;
  results: LoadedResult[];
}

/** Results grouped by host and dataset, groups in host then dataset order. */
export function groupByHostAndDataset(results: readonly LoadedResult[]): ResultGroup[] {
  const groups = new Map<string, ResultGroup>();
  for (const loaded of results) {
    const host = loaded.result.environment.hostname;
    const dataset = `${loaded.result.dataset.name} ${loaded.result.dataset.contentHash.replace(/^(\w+:)?(.{12}).*$/, '$2')}`;
    const key = `${host}\0${dataset}`;
    const group = groups.get(key) ?? { host, dataset, results: [] };
    group.results.push(loaded);
    groups.set(key, group);
  }
  return [...groups.values()].sort(
    (a, b) => a.host.localeCompare(b.host) || a.dataset.localeCompare(b.dataset),
  );
}
