import { mkdirSync } from 'node:fs';
import { csvExporter } from './csv.js';
import type { Exporter } from './exporter.js';
import { htmlExporter } from './html.js';
import { markdownExporter } from './markdown.js';
import type { ReportModel } from './model.js';
import { pngExporter } from './png.js';
import { summaryExporter } from './text.js';

/** Every output of `fusebench report`, in the order they are written (the PNGs need index.html first). */
export const exporters: readonly Exporter[] = [
  summaryExporter,
  markdownExporter,
  csvExporter,
  htmlExporter,
  pngExporter('index.html'),
];

export interface ReportOutcome {
  files: string[];
  notes: string[];
}

export async function writeReport(models: readonly ReportModel[], dir: string): Promise<ReportOutcome> {
  mkdirSync(dir, { recursive: true });
  const outcome: ReportOutcome = { files: [], notes: [] };
  for (const exporter of exporters) {
    const { files, note } = await exporter.export(models, dir);
    outcome.files.push(...files);
    if (note) outcome.notes.push(note);
  }
  return outcome;
}
