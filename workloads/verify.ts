import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { type Manifest, type ManifestEntry, readChunks } from '../datasets/manifest.js';
import { errorMessage } from '../lib/errors.js';
import { SeededRandom } from '../lib/random.js';
import type { Verification } from '../results/schema.js';
import type { WorkloadPlan } from './catalog.js';

/**
 * Read verification: a filesystem that returns wrong bytes must never be measured silently.
 * After a repetition, outside its timed section, a seeded sample of the files the workload read
 * is read back whole through the mount point and compared with the manifest's sha256 of each.
 * Wrong data stays in the page cache, so bytes a setup returned wrongly during the repetition are
 * still what a read-back sees. Knows only a mount point and the manifest.
 */

/** Bytes read back per repetition at most (beyond the first file, which is always read whole). */
export const VERIFY_BYTES = 16 * 1024 * 1024;

/** The regular files whose data a workload reads (not the ones it only opens or stats). */
export function filesRead(plan: WorkloadPlan): string[] {
  if (plan.driver !== 'ops') return [...new Set(plan.reads)];
  const read = new Set<string>();
  for (const stream of plan.streams) {
    const opened = new Map<number, string>();
    for (const op of stream) {
      if (op.kind === 'open') opened.set(op.slot, op.path);
      else if (op.kind === 'pread') {
        const path = opened.get(op.slot);
        if (path !== undefined) read.add(path);
      } else if (op.kind === 'readfile' || op.kind === 'mmapread') read.add(op.path);
    }
  }
  return [...read];
}

/** Which files repetition `sample` reads back: a seeded order, as many as fit in VERIFY_BYTES. */
export function verificationSample(
  files: readonly string[],
  manifest: Manifest,
  seed: string,
): ManifestEntry[] {
  const byPath = new Map(manifest.entries.map((entry) => [entry.path, entry]));
  const chosen: ManifestEntry[] = [];
  let bytes = 0;
  for (const path of new SeededRandom(seed).shuffled([...files])) {
    const entry = byPath.get(path);
    if (entry?.type !== 'file') throw new Error(`verification: '${path}' is no file of the manifest`);
    if (chosen.length > 0 && bytes + entry.size > VERIFY_BYTES) continue;
    chosen.push(entry);
    bytes += entry.size;
  }
  return chosen;
}

function sha256Of(path: string, buffer: Buffer): { sha256: string; size: number } {
  const hash = createHash('sha256');
  const size = readChunks(path, buffer, (chunk) => hash.update(chunk));
  return { sha256: hash.digest('hex'), size };
}

/** Reads `entries` whole under `mountpoint` and names every file whose bytes differ. */
export function verifyFiles(mountpoint: string, entries: readonly ManifestEntry[]): Verification {
  const buffer = Buffer.allocUnsafe(1024 * 1024);
  const wrong: string[] = [];
  let bytes = 0;
  for (const entry of entries) {
    if (entry.sha256 === null)
      throw new Error(`verification: the manifest has no checksum of '${entry.path}'`);
    try {
      const seen = sha256Of(join(mountpoint, entry.path), buffer);
      bytes += seen.size;
      if (seen.size !== entry.size) wrong.push(`${entry.path}: ${seen.size} bytes, expected ${entry.size}`);
      else if (seen.sha256 !== entry.sha256)
        wrong.push(
          `${entry.path}: sha256 ${seen.sha256.slice(0, 16)}…, expected ${entry.sha256.slice(0, 16)}…`,
        );
    } catch (error) {
      wrong.push(`${entry.path}: ${errorMessage(error)}`);
    }
  }
  return { files: entries.length, bytes, wrong };
}
