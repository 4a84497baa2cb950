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
        `usage: fusebench ${usage}\n\n  A table over result files ordered by kernel version, then date: per setup ×\n  workload × cache state the median of each run and its change against the first.\n  --out DIR also writes history.html (a line chart per workload, self-contained)\n  and history.csv.\n`,
      );
      return 0;
    }
    if (positionals.length === 0)
      throw new UsageError(`history: expected at least 1 argument; usage: fusebench ${usage}`);
    const dir = values.out === undefined ? null : resolve(values.out);
    if (dir !== null) checkWritableDirectory('--out', dir);
    const history = buildHistory(positionals.map((path) => loadResult(path)));
    process.stdout.write(renderHistoryText(history));
    if (dir !== null) {
      for (const file of writeHistory(history, dir)) process.stdout.write(`wrote ${shown(file)}\n`);
    }
    return 0;
  },
};
