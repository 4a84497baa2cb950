/**
 * Walk throughput of the TypeScript EROFS reader (not a test): entries/s of a metadata walk and
 * MB/s of a full walk that hashes every file, on a generated image, best of a few rounds.
 * Usage: node dist/bench/micro/walk-throughput.js [--dataset quick|container] [--rounds N]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { prepareDataset } from '../../datasets/dataset.js';
import { defaultImageOptions } from '../../datasets/image.js';
import { ErofsImage } from '../../erofs/image.js';
import { isDirectory } from '../../erofs/inode.js';
import { walkImage } from '../../erofs/walk.js';

const { values } = parseArgs({
  options: { dataset: { type: 'string', default: 'quick' }, rounds: { type: 'string', default: '5' } },
});
const cache = mkdtempSync(join(tmpdir(), 'fusebench-walk-bench-'));
try {
  const dataset = await prepareDataset(
    { kind: 'profile', profile: values.dataset!, seed: 1 },
    defaultImageOptions,
    cache,
  );
  const rounds = Number(values.rounds);
  let bestMeta = Number.POSITIVE_INFINITY;
  let bestFull = Number.POSITIVE_INFINITY;
  let entries = 0;
  let bytes = 0;
  for (let round = 0; round < rounds; round++) {
    // A fresh image each round: its page, inode and directory caches start empty.
    const metaImage = ErofsImage.open(dataset.image.path);
    let start = process.hrtime.bigint();
    entries = 0;
    const pending = [metaImage.rootIno];
    for (let ino = pending.pop(); ino !== undefined; ino = pending.pop()) {
      const inode = metaImage.inode(ino);
      entries++;
      if (!isDirectory(inode)) continue;
      for (const entry of metaImage.entries(inode)) {
        const name = entry.name.toString();
        if (name !== '.' && name !== '..') pending.push(entry.ino);
      }
    }
    bestMeta = Math.min(bestMeta, Number(process.hrtime.bigint() - start));
    metaImage.close();

    const fullImage = ErofsImage.open(dataset.image.path);
    start = process.hrtime.bigint();
    const records = walkImage(fullImage);
    bestFull = Math.min(bestFull, Number(process.hrtime.bigint() - start));
    bytes = records.reduce((sum, record) => sum + (record.type === 'file' ? record.size : 0), 0);
    fullImage.close();
  }
  const mb = bytes / 1e6;
  process.stdout.write(
    `dataset ${values.dataset}: ${entries} entries, ${mb.toFixed(1)} MB of file data, image ${(dataset.image.bytes / 1e6).toFixed(1)} MB\n` +
      `metadata walk (inode + readdir): ${((entries / bestMeta) * 1e9).toFixed(0)} entries/s (best of ${rounds})\n` +
      `full walk (stat, xattrs, readlink, sha256 of every file): ${((entries / bestFull) * 1e9).toFixed(0)} entries/s, ${((mb / bestFull) * 1e9).toFixed(0)} MB/s hashed\n`,
  );
} finally {
  rmSync(cache, { recursive: true, force: true });
}
