import { FatalError, UsageError } from '../../lib/errors.js';
import { compareResults, renderComparison } from '../../report/compare.js';
import { loadResult } from '../../report/model.js';
import { parseCommandArgs, parseNumberFlag } from '../args.js';
import type { Command } from '../command.js';

const usage = 'compare BASE.json NEW.json [--threshold PCT]';

/** `fusebench compare`: which measurements got slower or faster between two runs, with statistics. */
export const command: Command = {
  async run(argv) {
    const { values, positionals } = parseCommandArgs(
      'compare',
      argv,
      { threshold: { type: 'string', short: 't' }, help: { type: 'boolean', short: 'h' } },
      { min: 0, max: 2, usage },
    );
    if (values.help) {
      process.stdout.write(
        `usage: fusebench ${usage}

  Per setup × workload × cache state in both runs: the change of the median
  (in time: + is slower, also for throughput workloads), a bootstrap 95%
  interval of the ratio and a Mann-Whitney U p-value over the timed
  repetitions. A change is a regression when it exceeds --threshold (percent,
  default 5) and the interval excludes 1 or p < 0.05. Warns when kernel, CPU,
  dataset or options differ, naming the fields.

  exit status: 0 no regression, 1 at least one regression (or a file could
  not be read, or the runs have no measurement in common), 2 usage error.
`,
      );
      return 0;
    }
    if (positionals.length !== 2) {
      throw new UsageError(`compare: expected 2 arguments; usage: fusebench ${usage}`);
    }
    const threshold = parseNumberFlag('--threshold', values.threshold, 5);
    const base = loadResult(positionals[0]!);
    const next = loadResult(positionals[1]!);
    const outcome = compareResults(base, next, threshold);
    if (outcome.comparisons.length === 0)
      throw new FatalError(`${positionals[0]} and ${positionals[1]} have no measurement in common`);
    process.stdout.write(renderComparison(base, next, outcome, threshold));
    return outcome.comparisons.some((comparison) => comparison.verdict === 'regression') ? 1 : 0;
  },
};
