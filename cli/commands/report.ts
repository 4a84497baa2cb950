import { basename, dirname, join, relative, resolve } from 'node:path';
import { UsageError } from '../../lib/errors.js';
import { checkWritableDirectory } from '../../lib/safe-write.js';
import { buildModel, loadResult } from '../../report/model.js';
import { FORMATS, writeReport } from '../../report/report.js';
import { parseCommandArgs, parseListFlag } from '../args.js';
import type { Command } from '../command.js';

/** A path relative to the working directory when it is below it, else absolute. */
const shown = (path: string) => {
  const rel = relative(process.cwd(), path);
  return rel === '' || rel.startsWith('..') ? path : rel;
};

const usage = `report RESULT.json... [--out DIR] [--formats ${FORMATS.join(',')}] [--no-png] [--ascii]`;

/** `fusebench report`: summary.txt, summary.md, results.csv, index.html and PNGs from result files. */
export const command: Command = {
  async run(argv) {
    const { values, positionals } = parseCommandArgs(
      'report',
      argv,
      {
        out: { type: 'string', short: 'o' },
        formats: { type: 'string' },
        'no-png': { type: 'boolean' },
        ascii: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      { min: 0, max: Number.POSITIVE_INFINITY, usage },
    );
    if (values.help) {
      process.stdout.write(
        `usage: fusebench ${usage}

  Reads result files (and nothing else) and writes into DIR (default: next to
  the first result, <name>-report/):
    txt   summary.txt: for a mail, 72 columns (--ascii: 7-bit ASCII only)
    md    summary.md: the same tables as Markdown, intervals written out
    csv   results.csv: one row per setup, workload, cache state and metric
    html  index.html: self-contained, charts inlined
    png   a PNG of every chart (needs chromium; skipped with a note without it;
          the slowest part: --no-png leaves it out)
  --formats picks some (default: all). Several result files give one section each.
`,
      );
      return 0;
    }
    if (positionals.length === 0)
      throw new UsageError(`report: expected at least 1 argument; usage: fusebench ${usage}`);
    const formats = parseListFlag('--formats', values.formats, FORMATS, FORMATS).filter(
      (format) => !(values['no-png'] && format === 'png'),
    );
    const first = positionals[0]!;
    const dir = resolve(
      values.out ?? join(dirname(first), `${basename(first).replace(/\.json$/i, '')}-report`),
    );
    checkWritableDirectory('--out', dir);
    const models = positionals.map((path) => buildModel(loadResult(path)));
    const { files, notes } = await writeReport(models, dir, { formats, ascii: values.ascii ?? false });
    for (const file of files) process.stdout.write(`wrote ${shown(file)}\n`);
    for (const note of notes) process.stdout.write(`note: ${note}\n`);
    return 0;
  },
};
