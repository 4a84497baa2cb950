import { basename, dirname, join, relative, resolve } from 'node:path';
import { UsageError } from '../../lib/errors.js';
import { checkWritableDirectory } from '../../lib/safe-write.js';
import { buildModel, loadResult } from '../../report/model.js';
import { writeReport } from '../../report/report.js';
import { parseCommandArgs } from '../args.js';
import type { Command } from '../command.js';

/** A path relative to the working directory when it is below it, else absolute. */
const shown = (path: string) => {
  const rel = relative(process.cwd(), path);
  return rel === '' || rel.startsWith('..') ? path : rel;
};

const usage = 'report RESULT.json... [--out DIR]';

/** `fusebench report`: summary.txt, summary.md, results.csv, index.html and PNGs from result files. */
export const command: Command = {
  async run(argv) {
    const { values, positionals } = parseCommandArgs(
      'report',
      argv,
      { out: { type: 'string', short: 'o' }, help: { type: 'boolean', short: 'h' } },
      { min: 0, max: Number.POSITIVE_INFINITY, usage },
    );
    if (values.help) {
      process.stdout.write(
        `usage: fusebench ${usage}\n\n  Reads result files (and nothing else) and writes into DIR (default: next to the\n  first result, <name>-report/): summary.txt (plain text, 72 columns), summary.md,\n  results.csv, index.html (self-contained, charts inlined) and PNGs of the main\n  charts (needs chromium; skipped with a note without it).\n  Several result files give one section each.\n`,
      );
      return 0;
    }
    if (positionals.length === 0)
      throw new UsageError(`report: expected at least 1 argument; usage: fusebench ${usage}`);
    const first = positionals[0]!;
    const dir = resolve(
      values.out ?? join(dirname(first), `${basename(first).replace(/\.json$/i, '')}-report`),
    );
    checkWritableDirectory('--out', dir);
    const models = positionals.map((path) => buildModel(loadResult(path)));
    const { files, notes } = await writeReport(models, dir);
    for (const file of files) process.stdout.write(`wrote ${shown(file)}\n`);
    for (const note of notes) process.stdout.write(`note: ${note}\n`);
    return 0;
  },
};
