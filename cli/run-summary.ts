import type { ResultFile } from '../results/schema.js';

/** Temporary end-of-run table until the report's text renderer is wired in. */
export function printRunSummary(result: ResultFile, stream: NodeJS.WritableStream): void {
  for (const m of result.measurements) {
    stream.write(
      `${m.workload.padEnd(16)} ${m.cache.padEnd(5)} ${m.setup.padEnd(22)} ${m.summary.value.median.toFixed(0).padStart(12)} ${m.summary.metric.unit}  cv ${(m.summary.value.cv * 100).toFixed(1)}%\n`,
    );
  }
}
