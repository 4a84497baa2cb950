import {
  chmodSync,
  closeSync,
  ftruncateSync,
  linkSync,
  lutimesSync,
  mkdirSync,
  openSync,
  symlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { SeededRandom, seededBytes } from '../lib/random.js';
import type { ContentKind, TreeEntry } from './profiles.js';

/**
 * Writes a generated tree to disk. Content is derived from (seed, path) alone, so any file
 * can be regenerated independently and two machines produce byte-identical trees.
 */

const CHUNK = 64 * 1024;
const PARAGRAPH = 4096;
const words =
  'the of and to in is for on that with as by at from this be are or it an was file data block read page cache inode entry kernel daemon request reply lookup'.split(
    ' ',
  );

/** A pool of text paragraphs shared by all text content of one seed: compressible like real text. */
function paragraphPool(seed: string): Buffer[] {
  const random = new SeededRandom(`${seed}:paragraphs`);
  const pool: Buffer[] = [];
  for (let p = 0; p < 64; p++) {
    let text = '';
    while (text.length < PARAGRAPH) text += `${random.pick(words)}${random.next() < 0.1 ? '.\n' : ' '}`;
    pool.push(Buffer.from(text.slice(0, PARAGRAPH)));
  }
  return pool;
}

function writeContent(fd: number, kind: ContentKind, size: number, seed: string, pool: Buffer[]): void {
  if (kind === 'zeros') {
    ftruncateSync(fd, size);
    return;
  }
  const random = new SeededRandom(seed);
  for (let offset = 0; offset < size; offset += CHUNK) {
    const length = Math.min(CHUNK, size - offset);
    let chunk: Buffer;
    if (kind === 'random') {
      chunk = seededBytes(`${seed}@${offset}`, length);
    } else {
      const parts: Buffer[] = [];
      for (let filled = 0; filled < length; filled += PARAGRAPH) {
        // Binary content: half incompressible blocks, half repeated ones, like executables and libraries.
        parts.push(
          kind === 'binary' && random.next() < 0.5
            ? seededBytes(`${seed}@${offset + filled}`, PARAGRAPH)
            : random.pick(pool),
        );
      }
      chunk = Buffer.concat(parts).subarray(0, length);
    }
    writeSync(fd, chunk, 0, chunk.length, offset);
  }
}

/** Creates `entries` under `root` (which must exist and be empty). */
export async function materializeTree(
  root: string,
  entries: readonly TreeEntry[],
  seed: string,
): Promise<void> {
  const pool = paragraphPool(seed);
  const xattrDump: string[] = [];
  for (const entry of entries) {
    const path = join(root, entry.path);
    switch (entry.type) {
      case 'dir':
        mkdirSync(path);
        break;
      case 'file': {
        const fd = openSync(path, 'wx', 0o600);
        try {
          writeContent(fd, entry.content ?? 'zeros', entry.size ?? 0, `${seed}:${entry.path}`, pool);
        } finally {
          closeSync(fd);
        }
        break;
      }
      case 'symlink':
        symlinkSync(entry.target!, path);
        break;
      case 'hardlink':
        linkSync(join(root, entry.target!), path);
        break;
    }
    if (entry.xattrs) {
      xattrDump.push(`# file: ${entry.path}`);
      for (const [name, value] of Object.entries(entry.xattrs))
        xattrDump.push(`${name}=0x${Buffer.from(value).toString('hex')}`);
      xattrDump.push('');
    }
  }
  if (xattrDump.length > 0) {
    // One setfattr process restores every attribute (Node has no setxattr).
    await execa('setfattr', [`--restore=-`], { cwd: root, input: `${xattrDump.join('\n')}\n` });
  }
  // Modes and times last, children before parents, so creating entries does not disturb them.
  for (const entry of [...entries].reverse()) {
    if (entry.type === 'hardlink') continue;
    const path = join(root, entry.path);
    if (entry.type === 'symlink') {
      lutimesSync(path, entry.mtime, entry.mtime);
    } else {
      chmodSync(path, entry.mode);
      utimesSync(path, entry.mtime, entry.mtime);
    }
  }
  chmodSync(root, 0o755);
  utimesSync(root, 1_700_000_000, 1_700_000_000);
}
