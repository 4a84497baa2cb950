import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  closeSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { EROFS_SUPER_OFFSET, Superblock } from '../erofs/format.js';
import { recomputeChecksum } from '../fuzz/mutate.js';
import { type Field, mapStructuresOf } from '../fuzz/structures.js';
import { isMounted, unmount } from '../lib/mounts.js';
import { syscalls } from '../lib/syscalls.js';
import type { WalkRecord } from '../lib/tree-walk.js';
import { isAlive, stopProcess } from '../runners/processes.js';
import { fusebench } from './helpers/cli.js';
import { FIXTURES_DIR, fixtureTruth } from './helpers/erofs-fixtures.js';

/**
 * `fusebench mount` over a corrupt image, for real: one file's inode, one file's inline data, one
 * file's xattrs and one directory's entries are damaged. The operations touching them fail with
 * EIO, every other path shows exactly what the kernel showed for the intact image, the daemon
 * stays up, and thousands of failing operations do not grow its memory.
 */

const root = mkdtempSync(join(tmpdir(), 'fusebench-fuse-corrupt-'));
const mountpoint = join(root, 'mnt');
const image = join(root, 'corrupt.erofs');
let pid = 0;

const BAD_INODE = '/data/big_rand';
const BAD_INLINE = '/sizes/text_100';
const BAD_XATTRS = '/xattrs/big';
const BAD_DIR = '/names';

function errorCode(body: () => unknown): string | undefined {
  try {
    body();
  } catch (error) {
    return (error as NodeJS.ErrnoException).code;
  }
  return undefined;
}

function put(bytes: Buffer, field: Field | undefined, value: bigint, what: string): void {
  assert.ok(field, `no ${what} in the fixture`);
  const wide = Buffer.alloc(8);
  wide.writeBigUInt64LE(value);
  wide.copy(bytes, field.offset, 0, field.width);
}

/** plain-default with four damaged structures, located by the fuzzer's structure map. */
function makeCorruptImage(): void {
  const bytes = gunzipSync(readFileSync(join(FIXTURES_DIR, 'plain-default.erofs.gz')));
  const map = mapStructuresOf('plain-default', bytes);
  const find = (predicate: (field: Field) => boolean) => map.fields.find(predicate);
  // Data layout 7 does not exist: the inode cannot be decoded at all.
  put(
    bytes,
    find((f) => f.kind === 'inode' && f.path === BAD_INODE && f.name === 'i_format'),
    0x0en,
    'i_format',
  );
  // An inline tail of 4095 bytes cannot fit in the metadata block after the inode.
  put(
    bytes,
    find((f) => f.kind === 'inode' && f.path === BAD_INLINE && f.name === 'i_size'),
    4095n,
    'i_size',
  );
  put(
    bytes,
    find((f) => f.kind === 'xattr' && f.path === BAD_XATTRS && f.name === 'e_value_size'),
    0xffffn,
    'e_value_size',
  );
  put(
    bytes,
    find((f) => f.kind === 'dirent' && f.path === BAD_DIR && f.name === 'nameoff'),
    13n,
    'nameoff',
  );
  assert.ok(bytes.readUInt32LE(EROFS_SUPER_OFFSET + Superblock.featureCompat) & 1, 'the image has sb_csum');
  recomputeChecksum(bytes);
  writeFileSync(image, bytes);
}

function xattrsOf(path: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const name of syscalls.llistxattr(path)) {
    values[name.toString()] = syscalls.lgetxattr(path, name).toString('hex');
  }
  return values;
}

function rssKb(processId: number): number {
  const line = readFileSync(`/proc/${processId}/status`, 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith('VmRSS:'));
  return Number(line?.match(/(\d+)/)?.[1]);
}

/** One round of every failing operation; each must fail with EIO. */
function failingRound(): void {
  assert.equal(
    errorCode(() => lstatSync(join(mountpoint, BAD_INODE))),
    'EIO',
  );
  const fd = openSync(join(mountpoint, BAD_INLINE), 'r');
  try {
    assert.equal(
      errorCode(() => readSync(fd, Buffer.alloc(4096), 0, 4096, 0)),
      'EIO',
    );
  } finally {
    closeSync(fd);
  }
  assert.equal(
    errorCode(() => syscalls.llistxattr(join(mountpoint, BAD_XATTRS))),
    'EIO',
  );
  assert.equal(
    errorCode(() => readdirSync(join(mountpoint, BAD_DIR))),
    'EIO',
  );
}

describe('fusebench mount over a corrupt image', () => {
  before(async () => {
    makeCorruptImage();
    mkdirSync(mountpoint);
    const result = await fusebench([
      'mount',
      image,
      mountpoint,
      '--background',
      '--entry-timeout',
      '0',
      '--attr-timeout',
      '0',
      '--no-kernel-cache',
    ]);
    assert.equal(result.exitCode, 0, String(result.stderr));
    pid = Number(String(result.stdout).trim());
    assert.ok(Number.isInteger(pid) && pid > 0, `pid printed: '${result.stdout}'`);
  });

  after(async () => {
    try {
      if (isMounted(mountpoint)) {
        const result = await fusebench(['umount', mountpoint]);
        if (result.exitCode !== 0) await unmount(mountpoint);
      }
    } finally {
      if (pid > 0) await stopProcess(pid, 1000);
      if (!isMounted(mountpoint)) rmSync(root, { recursive: true, force: true });
    }
  });

  it('fails exactly the operations touching the damage with EIO; every other path reads as the kernel showed it', () => {
    failingRound();
    // The damaged file and directory still stat; only their own data or entries fail.
    assert.equal(lstatSync(join(mountpoint, BAD_INLINE)).size, 4095);
    assert.ok(lstatSync(join(mountpoint, BAD_DIR)).isDirectory());
    assert.equal(readFileSync(join(mountpoint, BAD_XATTRS)).length, 2);

    const truth = fixtureTruth('plain-default');
    const unaffected = (record: WalkRecord) =>
      record.path !== BAD_INODE && record.path !== BAD_INLINE && !record.path.startsWith(`${BAD_DIR}/`);
    let checked = 0;
    for (const record of truth.filter(unaffected)) {
      const path = join(mountpoint, record.path);
      const stats = lstatSync(path);
      assert.equal(stats.mode, record.mode, record.path);
      assert.equal(stats.size, record.size, record.path);
      assert.equal(stats.ino, record.ino, record.path);
      assert.equal(stats.nlink, record.nlink, record.path);
      assert.equal(stats.uid, record.uid, record.path);
      if (record.type === 'file') {
        assert.equal(
          createHash('sha256').update(readFileSync(path)).digest('hex'),
          record.sha256,
          record.path,
        );
      }
      if (record.type === 'symlink') assert.equal(readlinkSync(path, 'utf8'), record.target, record.path);
      if (record.path !== BAD_XATTRS) assert.deepEqual(xattrsOf(path), record.xattrs, record.path);
      if (record.type === 'dir' && record.path !== BAD_DIR) {
        const expected = truth
          .filter(
            (other) =>
              other.path !== record.path &&
              other.path.startsWith(record.path === '/' ? '/' : `${record.path}/`),
          )
          .map((other) => other.path.slice(record.path === '/' ? 1 : record.path.length + 1))
          .filter((rest) => !rest.includes('/'))
          .sort();
        assert.deepEqual(readdirSync(path).sort(), expected, record.path);
      }
      checked++;
    }
    assert.ok(checked > 600, `checked ${checked} paths`);
    assert.ok(isAlive(pid), 'the daemon is still serving');
  });

  it('stays up with bounded memory through thousands of failing operations', (t) => {
    for (let round = 0; round < 300; round++) failingRound();
    const before = rssKb(pid);
    for (let round = 0; round < 2000; round++) failingRound();
    const grown = rssKb(pid) - before;
    t.diagnostic(`daemon RSS ${before} KiB, grew ${grown} KiB over 8000 failing operations`);
    assert.ok(isAlive(pid), 'the daemon is still serving');
    assert.ok(grown < 24 * 1024, `daemon RSS grew by ${grown} KiB over 8000 failing operations`);
    // And it still serves the rest.
    assert.equal(readFileSync(join(mountpoint, 'sizes', 'text_4096')).length, 4096);
  });
});
