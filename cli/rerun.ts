import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { RunOptions } from '../bench/run.js';
import { UsageError } from '../lib/errors.js';
import { resultFileSchema } from '../results/schema.js';

/**
 * `fusebench run --rerun RESULT.json`: the run a result file records, asked for again on this
 * machine: the same setups, workloads, options and seed (so the same op streams), and the same
 * dataset, which must hash as it did or the run refuses before mounting anything.
 */
export function rerunOptions(path: string, output: string, cacheDir: string): RunOptions {
  const absolute = resolve(path);
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(absolute, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`--rerun: ${absolute}: ${code ?? 'not JSON'}`);
  }
  const checked = resultFileSchema.safeParse(data);
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    throw new UsageError(
      `--rerun: ${absolute} is not a fusebench result (${issue.path.join('.')}: ${issue.message})`,
    );
  }
  const { request, dataset, job } = checked.data;
  if (!request)
    throw new UsageError(
      `--rerun: ${absolute} was written before results recorded their options; run it again with its reproduce line`,
    );
  return {
    ...request,
    output,
    cacheDir,
    expectedContentHash: dataset.contentHash,
    ...(job ? { job } : {}),
  };
}
