import { mkdirSync } from 'node:fs';
import { csvExporter } from './csv.js';
import type { Exporter } from './exporter.js';
import { htmlExporter } from './html.js';
import { markdownExporter } from './markdown.js';
import type { ReportModel } from './model.js';
import { pngExporter } from './png.js';
import { summaryExporter } from './text.js';

/** The outputs of `fusebench report` by --formats name. */
export const FORMATS = ['html', 'txt', 'md', 'csv', 'png'] as const;
export type Format = (typeof FORMATS)[number];

export interface ReportOptions {
  formats: readonly Format[];
  /** summary.txt in 7-bit ASCII. */
  ascii: boolean;
}

export function exportersFor(options: ReportOptions): Exporter[] {
  const all: Record<Format, Exporter> = {
    txt: summaryExporter({ ascii: options.ascii }),
    md: markdownExporter,
    csv: csvExporter,
    html: htmlExporter,
    png: pngExporter,
  };
  return FORMATS.filter((format) => options.formats.includes(format)).map((format) => all[format]);
}

export interface ReportOutcome {
  files: string[];
  notes: string[];
}

export async function writeReport(
  models: readonly ReportModel[],
  dir: string,
  options: ReportOptions = { formats: FORMATS, ascii: false },
): Promise<ReportOutcome> {
  mkdirSync(dir, { recursive: true });
  const outcome: ReportOutcome = { files: [], notes: [] };
  for (const exporter of exportersFor(options)) {
    const { files, note } = await exporter.export(models, dir);
    outcome.files.push(...files);
    if (note) outcome.notes.push(note);
  }
  return outcome;
}
