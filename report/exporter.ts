import { join } from 'node:path';
import { writeFileAtomic } from '../lib/safe-write.js';
import type { ReportModel } from './model.js';

/**
 * One output of `fusebench report` (as hyperfine's exporters): each module turns the same models
 * into its files. Text exporters only render; the few that need more (PNGs) write on their own.
 */
export interface ExportOutcome {
  /** Paths written. */
  files: string[];
  /** Why the exporter wrote nothing or less than usual (printed as one line, not an error). */
  note?: string;
}

export interface Exporter {
  readonly name: string;
  export(models: readonly ReportModel[], dir: string): Promise<ExportOutcome>;
}

/** An exporter that renders one text file. */
export function textExporter(fileName: string, render: (models: readonly ReportModel[]) => string): Exporter {
  return {
    name: fileName,
    async export(models, dir) {
      const path = join(dir, fileName);
      writeFileAtomic(path, render(models));
      return { files: [path] };
    },
  };
}
