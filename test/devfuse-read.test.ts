import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa, type ResultPromise } from 'execa';
import { isMounted, unmount } from '../lib/mounts.js';
import { stopProcess } from '../runners/processes.js';
import { CLI } from './helpers/cli.js';

/**
 * FUSE READ through devfuse, byte for byte against the source tree: every read goes to the daemon
 * as asked (--direct-io: no page cache rounds it to pages), at offsets on, beside and across
 * block, extent and chunk ends and the end of the file, with lengths from one byte to a
 * max_pages-sized READ, on plain (inline tails), chunk-based and lz4 images.
 */

const root = mkdtempSync(join(tmpdir(), 'fusebench-devfuse-read-'));
const source = join(root, 'source');
const mountpoints: string[] = [];
const daemons: ResultPromise[] = [];
const BLOCK = 4096;
/** Sizes around a block, a 64 KiB chunk and a 1 MiB READ, with tails an inline layout packs. */
const SIZES = [
  1,
  100,
  BLOCK - 1,
  BLOCK,
  BLOCK + 1,
  3 * BLOCK + 123,
  65536 + 7,
  1024 * 1024 + 4095,
  2 * 1024 * 1024 + 1,
];
const LENGTHS = [1, 17, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 5, 128 * 1024, 1024 * 1024];

/** Offsets where a read meets a boundary: the file's start and end, and each block or chunk end near it. */
function offsetsOf(size: number): number[] {
  const points = new Set<number>();
  for (const base of [0, BLOCK, 65536, size - BLOCK, size]) {
    for (const delta of [-1, 0, 1]) {
      const offset = base + delta;
      if (offset >= 0 && offset <= size + 1) points.add(offset);
    }
  }
  points.add(Math.floor(size / 2));
  return [...points].sort((a, b) => a - b);
}

/** A compressible file: lz4 then stores real pclusters, not only raw blocks. */
function contents(size: number): Buffer {
  const half = randomBytes(Math.ceil(size / 2));
  const text = Buffer.alloc(size - half.length, 'compressible text, again and again. ');
  return Buffer.concat([text, half]);
}

async function serve(image: string, name: string): Promise<string> {
  const mountpoint = join(root, name);
  mkdirSync(mountpoint);
  mountpoints.push(mountpoint);
  const factsFile = join(root, `${name}.facts.json`);
  const child = execa(
    process.execPath,
    [CLI, 'mount', image, mountpoint, '--transport', 'devfuse', '--direct-io', '--facts-file', factsFile],
    { reject: false, stdin: 'ignore' },
  );
  daemons.push(child);
  for (let waited = 0; waited < 20_000 && !existsSync(factsFile) && child.exitCode === null; waited += 20)
    await new Promise((resolve) => setTimeout(resolve, 20));
  if (!existsSync(factsFile)) assert.fail(`daemon did not serve: ${String((await child).stderr)}`);
  return mountpoint;
}

describe('devfuse READ', () => {
  before(() => {
    mkdirSync(source);
    for (const size of SIZES) writeFileSync(join(source, `file-${size}`), contents(size));
  });

  after(async () => {
    for (const mountpoint of mountpoints) await unmount(mountpoint);
    for (const child of daemons) if (child.pid !== undefined) await stopProcess(child.pid, 1000);
    if (mountpoints.every((mountpoint) => !isMounted(mountpoint)))
      rmSync(root, { recursive: true, force: true });
  });

  for (const [layout, mkfsArgs] of [
    ['plain', []],
    ['chunk-based', ['--chunksize=65536']],
    ['lz4', ['-zlz4']],
  ] as const) {
    it(`${layout}: every read at every boundary equals the source file's bytes`, {
      timeout: 120_000,
    }, async () => {
      const image = join(root, `${layout}.erofs`);
      await execa('mkfs.erofs', ['--quiet', '-T0', ...mkfsArgs, image, source]);
      const mountpoint = await serve(image, layout);
      const buffer = Buffer.alloc(Math.max(...LENGTHS));
      for (const size of SIZES) {
        const expected = readFileSync(join(source, `file-${size}`));
        const fd = openSync(join(mountpoint, `file-${size}`), 'r');
        try {
          for (const offset of offsetsOf(size)) {
            for (const length of LENGTHS) {
              const got = readSync(fd, buffer, 0, length, offset);
              const want = expected.subarray(Math.min(offset, size), Math.min(offset + length, size));
              const where = `file-${size} at ${offset}, ${length} bytes`;
              assert.equal(got, want.length, where);
              assert.ok(buffer.subarray(0, got).equals(want), where);
            }
          }
        } finally {
          closeSync(fd);
        }
      }
    });
  }
});
