import { renderResultSummary } from '../report/text.js';
import type { ResultFile } from '../results/schema.js';

/** The end-of-run table: the same text `fusebench report` writes to summary.txt. */
export function printRunSummary(result: ResultFile, stream: NodeJS.WritableStream): void {
  stream.write(`\n${renderResultSummary(result)}`);
}
