import { relative, resolve } from 'node:path';
import { UsageError } from '../../lib/errors.js';
import { checkWritableDirectory } from '../../lib/safe-write.js';
import { buildHistory, renderHistoryText, writeHistory } from '../../report/history.js';
import { loadResult } from '../../report/model.js';
import { parseCommandArgs } from '../args.js';
import type { Command } from '../command.js';

/** A path relative to the working directory when it is below it, else absolute. */
const shown = (path: string) => {
  const rel = relative(process.cwd(), path);
  return rel === '' || rel.startsWith('..') ? path : rel;
};

const usage = 'history RESULT.json... [--out DIR]';

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
        `usage: fusebench ${usage}\n\n  Result files ordered by kernel version, then date, in the layout of\n  summary.txt: per cache state kernel-erofs's median with its 95% interval per\n  release, then every other setup's time ratio to kernel-erofs per release, with\n  intervals. Warns when the results mix hosts, CPUs or datasets, or a run is\n  partial. --out DIR also writes history.html (charts, self-contained) and\n  history.csv.\n`,
      );
      return 0;
    }
    if (positionals.length === 0)
      throw new UsageError(`history: expected at least 1 argument; usage: fusebench ${usage}`);
    const dir = values.out === undefined ? null : resolve(values.out);
    if (dir !== null) checkWritableDirectory('--out', dir);
    const history = buildHistory(positionals.map((path) => loadResult(path)));
    for (const warning of history.warnings) process.stderr.write(`fusebench: warning: ${warning}\n`);
    process.stdout.write(renderHistoryText(history));
    if (dir !== null) {
      for (const file of writeHistory(history, dir)) process.stdout.write(`wrote ${shown(file)}\n`);
    }
    return 0;
  },
};
