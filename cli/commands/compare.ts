import { FatalError, UsageError } from '../../lib/errors.js';
import {
  compareResults,
  RULES,
  type Rule,
  renderComparison,
  renderComparisonJson,
  renderComparisonMarkdown,
} from '../../report/compare.js';
import { loadResult } from '../../report/model.js';
import { parseCommandArgs, parseNumberFlag } from '../args.js';
import type { Command } from '../command.js';

const usage = `compare BASE.json NEW.json [--threshold PCT] [--rule ${RULES.join('|')}] [--all] [--json|--markdown]`;

/** Exit status of compare when it cannot compare (a file unreadable, nothing in common, bad flags). */
const ERROR_STATUS = 2;

/** `fusebench compare`: which measurements got slower or faster between two runs, with statistics. */
export const command: Command = {
  async run(argv) {
    try {
      return await compare(argv);
    } catch (error) {
      // Exit 1 means "regression" here: every failure to compare is 2, usage errors included.
      if (error instanceof FatalError || error instanceof UsageError) {
        process.stderr.write(`fusebench: ${error.message}\n`);
        return ERROR_STATUS;
      }
      throw error;
    }
  },
};

async function compare(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'compare',
    argv,
    {
      threshold: { type: 'string', short: 't' },
      rule: { type: 'string' },
      all: { type: 'boolean' },
      json: { type: 'boolean' },
      markdown: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    { min: 0, max: 2, usage },
  );
  if (values.help) {
    process.stdout.write(
      `usage: fusebench ${usage}

  Per setup × workload × cache state in both runs: the change of the median
  over timed repetitions (in time: + is slower, also for throughput
  workloads), a bootstrap 95% interval of the ratio and a Mann-Whitney U
  p-value. Printed in the layout of summary.txt (workloads × setups), only
  the flagged cells unless --all; --json and --markdown for CI systems.

  Which changes count (--rule):
    bh        (default) Benjamini-Hochberg over all compared cells: a change
              is flagged when its q-value is below 0.05 and it exceeds
              --threshold (percent, default 5); at most 5% of flagged cells
              are expected to be false alarms.
    ci-and-p  per cell: the ratio's interval excludes 1, p < 0.05, and the
              change exceeds --threshold; no correction for many cells.
  Warns when a file is a partial (killed or interrupted) run, and when
  kernel, CPU, dataset or options differ, naming the fields.

  exit status: 0 no regression, 1 at least one regression, 2 error (a file
  could not be read, the runs have nothing in common, or bad arguments).
`,
    );
    return 0;
  }
  if (positionals.length !== 2)
    throw new UsageError(`compare: expected 2 arguments; usage: fusebench ${usage}`);
  if (values.json && values.markdown)
    throw new UsageError('compare: --json and --markdown exclude each other');
  const threshold = parseNumberFlag('--threshold', values.threshold, 5);
  const rule = (values.rule ?? 'bh') as Rule;
  if (!RULES.includes(rule))
    throw new UsageError(`--rule: unknown '${values.rule}' (known: ${RULES.join(', ')})`);
  const base = loadResult(positionals[0]!);
  const next = loadResult(positionals[1]!);
  const outcome = compareResults(base, next, threshold, rule);
  if (outcome.comparisons.length === 0)
    throw new FatalError(`${positionals[0]} and ${positionals[1]} have no measurement in common`);
  const all = values.all ?? false;
  process.stdout.write(
    values.json
      ? renderComparisonJson(base, next, outcome)
      : values.markdown
        ? renderComparisonMarkdown(base, next, outcome, all)
        : renderComparison(base, next, outcome, all),
  );
  // JSON readers may not look inside for warnings: they also go to stderr.
  if (values.json)
    for (const warning of outcome.warnings) process.stderr.write(`fusebench: warning: ${warning}\n`);
  return outcome.comparisons.some((comparison) => comparison.verdict === 'regression') ? 1 : 0;
}
