import { statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { errorMessage, UsageError } from '../../lib/errors.js';
import { checkWritableDirectory } from '../../lib/safe-write.js';
import { buildHistory, renderHistoryText, writeHistory } from '../../report/history.js';
import { type LoadedResult, loadResult } from '../../report/model.js';
import { groupByHostAndDataset, jsonFilesUnder, type ResultGroup } from '../../report/result-groups.js';
import { parseCommandArgs } from '../args.js';
import type { Command } from '../command.js';

/** A path relative to the working directory when it is below it, else absolute. */
const shown = (path: string) => {
  const rel = relative(process.cwd(), path);
  return rel === '' || rel.startsWith('..') ? path : rel;
};

const usage = 'history RESULT.json|DIR... [--out DIR]';

/** A group's directory under --out: host and dataset, in file-name-safe characters. */
const groupDirName = (group: ResultGroup) =>
  `${group.host}-${group.dataset}`.replace(/[^A-Za-z0-9._-]+/g, '_');

/**
 * Files as named (each must be a result), and every result below each directory (other JSON
 * there is skipped with a note). `grouped`: a directory was given, so hosts and datasets may mix.
 */
function loadInputs(paths: readonly string[]): { loaded: LoadedResult[]; grouped: boolean } {
  const loaded: LoadedResult[] = [];
  let grouped = false;
  for (const path of paths) {
    let isDirectory = false;
    try {
      isDirectory = statSync(path).isDirectory();
    } catch {
      // loadResult says what is wrong with it
    }
    if (!isDirectory) {
      loaded.push(loadResult(path));
      continue;
    }
    grouped = true;
    for (const file of jsonFilesUnder(path)) {
      try {
        loaded.push(loadResult(file));
      } catch (error) {
        process.stderr.write(`fusebench: skipping ${shown(file)}: ${errorMessage(error)}\n`);
      }
    }
  }
  return { loaded, grouped };
}

/** `fusebench history`: medians over several runs (one per kernel release), in kernel version order. */
export const command: Command = {
  async run(argv) {
    const { values, positionals } = parseCommandArgs(
      'history',
      argv,
      { out: { type: 'string', short: 'o' }, help: { type: 'boolean', short: 'h' } },
      { min: 0, max: Number.POSITIVE_INFINITY, usage },
    );
    if (values.help) {
      process.stdout.write(
        `usage: fusebench ${usage}\n\n  Result files ordered by kernel version, then date, in the layout of\n  summary.txt: per cache state kernel-erofs's median with its 95% interval per\n  release, then every other setup's time ratio to kernel-erofs per release, with\n  intervals. Warns when the results mix hosts, CPUs or datasets, or a run is\n  partial. --out DIR also writes history.html (charts, self-contained) and\n  history.csv.\n\n  A directory is read whole (every result file below it; other JSON skipped)\n  and split into one history per host and dataset, each under --out in\n  HOST-DATASET/: results collected from many machines and kernels.\n`,
      );
      return 0;
    }
    if (positionals.length === 0)
      throw new UsageError(`history: expected at least 1 argument; usage: fusebench ${usage}`);
    const dir = values.out === undefined ? null : resolve(values.out);
    if (dir !== null) checkWritableDirectory('--out', dir);
    const { loaded, grouped } = loadInputs(positionals);
    if (loaded.length === 0) throw new UsageError('history: no result file found in the paths given');
    // Files named one by one make one history (mixed hosts are warned about); a directory is split.
    const groups = grouped ? groupByHostAndDataset(loaded) : [{ host: '', dataset: '', results: loaded }];
    for (const [index, group] of groups.entries()) {
      const history = buildHistory(group.results);
      if (groups.length > 1)
        process.stdout.write(
          `${index > 0 ? '\n' : ''}== host ${group.host}, dataset ${group.dataset}: ${group.results.length} run${group.results.length > 1 ? 's' : ''} ==\n\n`,
        );
      for (const warning of history.warnings) process.stderr.write(`fusebench: warning: ${warning}\n`);
      process.stdout.write(renderHistoryText(history));
      if (dir !== null) {
        const target = groups.length > 1 ? join(dir, groupDirName(group)) : dir;
        for (const file of writeHistory(history, target)) process.stdout.write(`wrote ${shown(file)}\n`);
      }
    }
    return 0;
  },
};
