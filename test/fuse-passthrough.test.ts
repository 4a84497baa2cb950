import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  type BigIntStats,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  promises,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { daemonRecordPath } from '../fuse/daemon.js';
import { findMount, isMounted, unmount } from '../lib/mounts.js';
import { syscalls } from '../lib/syscalls.js';
import { isAlive, stopProcess } from '../runners/processes.js';
import { fusebench } from './helpers/cli.js';
import { errorCode } from './helpers/errors.js';

/**
 * `fusebench passthrough` over fuse-native, end to end on a real FUSE mount: every field stat(2),
 * readlink(2), read(2) and the xattr calls show through the mount equals the source's, writes are
 * refused with EROFS, and every way a mount can end (fusebench umount, plain umount, a SIGKILLed
 * daemon) leaves neither a mount nor a daemon behind.
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const root = mkdtempSync(join(tmpdir(), 'fusebench-passthrough-'));
const source = join(root, 'source');
const mountpoints: string[] = [];
const daemons: number[] = [];

function newMountpoint(name: string): string {
  const path = join(root, name);
  mkdirSync(path);
  mountpoints.push(path);
  return path;
}

/** A small tree with every inode kind the walk must carry through unchanged. */
function makeTree(): void {
  mkdirSync(source);
  for (const size of [0, 1, 4095, 4096, 70000])
    writeFileSync(join(source, `file-${size}`), randomBytes(size));
  symlinkSync('file-4096', join(source, 'link'));
  symlinkSync('nowhere/at/all', join(source, 'dangling'));
  linkSync(join(source, 'file-1'), join(source, 'hard-link'));
  writeFileSync(join(source, 'with-xattrs'), 'xattrs\n');
  mkdirSync(join(source, 'many'));
  for (let index = 0; index < 300; index++)
    writeFileSync(join(source, 'many', `entry-${index}`), `${index}\n`);
  mkdirSync(join(source, 'many', 'nested'));
  writeFileSync(join(source, 'many', 'nested', 'deep'), 'deep\n');
}

async function addSpecialFiles(): Promise<void> {
  await execa('mkfifo', [join(source, 'fifo')]);
  await execa('mknod', [join(source, 'null-device'), 'c', '1', '3']);
  await execa('setfattr', ['-n', 'user.x', '-v', 'user value', join(source, 'with-xattrs')]);
  await execa('setfattr', ['-n', 'trusted.t', '-v', '0x00ff10', join(source, 'with-xattrs')]);
}

/** Starts a background daemon and returns its pid once it serves. */
async function serve(mountpoint: string, extra: string[] = []): Promise<number> {
  const result = await fusebench([
    'passthrough',
    source,
    mountpoint,
    '--transport',
    'fuse-native',
    '--background',
    ...extra,
  ]);
  assert.equal(result.exitCode, 0, String(result.stderr));
  const pid = Number(String(result.stdout).trim());
  assert.ok(Number.isInteger(pid) && pid > 0, `pid printed: '${result.stdout}'`);
  daemons.push(pid);
  assert.equal(findMount(mountpoint)?.fstype, 'fuse.fusebench');
  return pid;
}

async function waitUntilGone(pid: number, ms = 5000): Promise<boolean> {
  for (let waited = 0; waited < ms && isAlive(pid); waited += 20) await sleep(20);
  return !isAlive(pid);
}

function xattrsOf(path: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const name of syscalls.llistxattr(path)) {
    values[name.toString('latin1')] = syscalls.lgetxattr(path, name).toString('hex');
  }
  return values;
}

/** Everything one path shows: the stat fields FUSE carries, the link target, data hash, xattrs. */
function describePath(path: string, stats: BigIntStats) {
  return {
    ino: stats.ino,
    mode: stats.mode,
    nlink: stats.nlink,
    uid: stats.uid,
    gid: stats.gid,
    rdev: stats.rdev,
    size: stats.size,
    blocks: stats.blocks,
    // fuse-native carries times in milliseconds.
    mtimeMs: stats.mtimeNs / 1_000_000n,
    ctimeMs: stats.ctimeNs / 1_000_000n,
    target: stats.isSymbolicLink() ? readlinkSync(path) : null,
    sha256: stats.isFile() ? createHash('sha256').update(readFileSync(path)).digest('hex') : null,
    entries: stats.isDirectory()
      ? readdirSync(path, { withFileTypes: true })
          .map((entry) => `${entry.name}:${entry.isDirectory() ? 'd' : entry.isFile() ? 'f' : 'o'}`)
          .sort()
      : null,
    xattrs: xattrsOf(path),
  };
}

function walk(top: string): Map<string, ReturnType<typeof describePath>> {
  const seen = new Map<string, ReturnType<typeof describePath>>();
  const visit = (relative: string) => {
    const path = relative === '' ? top : join(top, relative);
    const stats = lstatSync(path, { bigint: true });
    seen.set(relative || '.', describePath(path, stats));
    if (stats.isDirectory()) {
      for (const name of readdirSync(path).sort()) visit(relative === '' ? name : join(relative, name));
    }
  };
  visit('');
  return seen;
}

describe('fusebench passthrough (fuse-native)', () => {
  before(async () => {
    makeTree();
    await addSpecialFiles();
  });

  after(async () => {
    for (const mountpoint of mountpoints) await unmount(mountpoint);
    for (const pid of daemons) await stopProcess(pid, 1000);
    if (mountpoints.every((mountpoint) => !isMounted(mountpoint)))
      rmSync(root, { recursive: true, force: true });
  });

  it('shows every field of every path exactly as the source, refuses writes, and ends with fusebench umount', async () => {
    const mountpoint = newMountpoint('walk');
    const factsFile = join(root, 'facts.json');
    const pid = await serve(mountpoint, ['--facts-file', factsFile]);

    const expected = walk(source);
    const actual = walk(mountpoint);
    assert.deepEqual([...actual.keys()], [...expected.keys()]);
    for (const [path, fields] of expected) assert.deepEqual(actual.get(path), fields, path);
    assert.ok(expected.size > 310, `walked ${expected.size} paths`);
    assert.deepEqual(xattrsOf(join(mountpoint, 'with-xattrs')), {
      'user.x': Buffer.from('user value').toString('hex'),
      'trusted.t': '00ff10',
    });
    assert.equal(
      errorCode(() => syscalls.lgetxattr(join(mountpoint, 'with-xattrs'), 'user.absent')),
      'ENODATA',
    );
    assert.equal(lstatSync(join(mountpoint, 'hard-link')).ino, lstatSync(join(mountpoint, 'file-1')).ino);

    assert.equal(
      errorCode(() => writeFileSync(join(mountpoint, 'new-file'), 'x')),
      'EROFS',
    );
    assert.equal(
      errorCode(() => openSync(join(mountpoint, 'file-1'), 'r+')),
      'EROFS',
    );
    assert.equal(
      errorCode(() => mkdirSync(join(mountpoint, 'new-dir'))),
      'EROFS',
    );
    assert.equal(
      errorCode(() => rmSync(join(mountpoint, 'file-0'))),
      'EROFS',
    );

    const facts = JSON.parse(readFileSync(factsFile, 'utf8')) as Record<string, unknown>;
    assert.equal(facts.transport, 'fuse-native');
    assert.equal(facts.timeResolution, 'ms');
    assert.equal(facts.pid, pid);
    assert.match(String(facts.fuseOptions), /use_ino.*entry_timeout=86400,attr_timeout=86400/);

    // attr_timeout=86400 reached libfuse: a changed source stays unseen through the cached mount.
    const before = lstatSync(join(mountpoint, 'file-0')).mtimeMs;
    utimesSync(join(source, 'file-0'), new Date(1e12), new Date(1e12));
    assert.equal(lstatSync(join(mountpoint, 'file-0')).mtimeMs, before);

    const busy = await fusebench(['passthrough', source, mountpoint]);
    assert.equal(busy.exitCode, 1);
    assert.match(
      String(busy.stderr),
      /^fusebench: passthrough: mount point [^\n]* is already a mount point [^\n]*$/,
    );

    const unmounted = await fusebench(['umount', mountpoint]);
    assert.equal(unmounted.exitCode, 0, String(unmounted.stderr));
    assert.equal(isMounted(mountpoint), false);
    assert.equal(await waitUntilGone(pid, 1000), true, 'daemon ended with the mount');
  });

  it('ends the daemon when the mount is removed with plain umount', async () => {
    const mountpoint = newMountpoint('plain-umount');
    const pid = await serve(mountpoint, ['--entry-timeout', '0', '--attr-timeout', '0']);
    // entry/attr timeouts of 0 reached libfuse: a changed source shows at once.
    utimesSync(join(source, 'file-1'), new Date(2e12), new Date(2e12));
    assert.equal(lstatSync(join(mountpoint, 'file-1')).mtimeMs, 2e12);
    await execa('umount', [mountpoint]);
    assert.equal(await waitUntilGone(pid), true, 'daemon ended after umount(8)');
    assert.equal(isMounted(mountpoint), false);
  });

  it('leaves a dead mount when SIGKILLed mid-walk, and fusebench umount removes it', async () => {
    const mountpoint = newMountpoint('killed');
    const pid = await serve(mountpoint, ['--entry-timeout', '0', '--attr-timeout', '0']);
    const names = readdirSync(join(source, 'many'));
    let walked = 0;
    let failure: NodeJS.ErrnoException | null = null;
    const walking = (async () => {
      for (let round = 0; round < 200 && !failure; round++) {
        for (const name of names) {
          try {
            await promises.lstat(join(mountpoint, 'many', name));
            walked++;
          } catch (error) {
            failure = error as NodeJS.ErrnoException;
            break;
          }
        }
      }
    })();
    while (walked < 200 && !failure) await sleep(5);
    process.kill(pid, 'SIGKILL');
    await walking;
    assert.ok(walked >= 200, `walked ${walked} paths before the kill`);
    // The request in flight at the kill is aborted; every later one finds no connection.
    assert.match(String((failure as NodeJS.ErrnoException | null)?.code), /^(ECONNABORTED|ENOTCONN)$/);
    assert.equal(await waitUntilGone(pid), true);
    assert.equal(isMounted(mountpoint), true, 'the dead mount stays until removed');
    assert.equal(
      errorCode(() => readdirSync(mountpoint)),
      'ENOTCONN',
    );

    const unmounted = await fusebench(['umount', mountpoint]);
    assert.equal(unmounted.exitCode, 0, String(unmounted.stderr));
    assert.equal(isMounted(mountpoint), false);
    assert.equal(existsSync(join(mountpoint, 'many')), false);
    assert.equal(existsSync(daemonRecordPath(mountpoint)), false, 'the killed daemon’s record is removed');
  });

  it('refuses a bad flag with exit status 2 and one line', async () => {
    const mountpoint = newMountpoint('refused');
    const result = await fusebench(['passthrough', source, mountpoint, '--no-such-flag']);
    assert.equal(result.exitCode, 2);
    assert.match(String(result.stderr), /^fusebench: passthrough: [^\n]*--no-such-flag[^\n]*$/);
    const missing = await fusebench(['passthrough', join(root, 'absent'), mountpoint]);
    assert.equal(missing.exitCode, 1);
    assert.match(String(missing.stderr), /^fusebench: passthrough: source [^\n]* does not exist$/);
    assert.equal(isMounted(mountpoint), false);
  });
});
