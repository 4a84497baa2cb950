import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa, type ResultPromise } from 'execa';
import { direntPlusSize, NodeIds, splitTimeout, writeAttr } from '../fuse/protocol/codec.js';
import { DIRENTPLUS_NAME_OFFSET, Size } from '../fuse/protocol/kernel.js';
import { RingEntInOut, UringReqHeader } from '../fuse/protocol/uring.js';
import { findMount, isMounted, unmount } from '../lib/mounts.js';
import { MountFlags, syscalls, UnmountFlags } from '../lib/syscalls.js';
import { formatWalkRecord, walkMountedTree } from '../lib/tree-walk.js';
import { fuseIoUringEnabled, setFuseIoUring } from '../runners/fuse-uring.js';
import { devFuseDescriptors, isAlive, stopProcess, threadNames } from '../runners/processes.js';
import { CLI, fusebench } from './helpers/cli.js';
import { fixtureTruth, unpackFixture } from './helpers/erofs-fixtures.js';
import { errorCode } from './helpers/errors.js';

/**
 * The devfuse transport (fusebench's own /dev/fuse protocol implementation) end to end on real
 * mounts: EROFS fixtures walk exactly as the kernel's own EROFS mount does (inode numbers and
 * nanosecond times included), the passthrough shows its source field for field with and without
 * kernel passthrough, timeouts of 0 reach the kernel, requests it does not implement are refused
 * without harm, and every way a session ends leaves neither a mount nor a daemon.
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const root = mkdtempSync(join(tmpdir(), 'fusebench-devfuse-'));
const source = join(root, 'source');
const mountpoints: string[] = [];
const daemons: number[] = [];

function newMountpoint(name: string): string {
  const path = join(root, name);
  mkdirSync(path);
  mountpoints.push(path);
  return path;
}

interface Daemon {
  pid: number;
  child: ResultPromise;
  facts: Record<string, unknown>;
}

/** Runs `fusebench ARGS` in the foreground and waits until it serves (its facts file exists). */
async function startDaemon(args: string[], name: string): Promise<Daemon> {
  const factsFile = join(root, `${name}.facts.json`);
  const child = execa(process.execPath, [CLI, ...args, '--facts-file', factsFile], {
    reject: false,
    stdin: 'ignore',
  });
  const pid = child.pid!;
  daemons.push(pid);
  let exited = false;
  void child.then(() => {
    exited = true;
  });
  for (let waited = 0; waited < 20_000 && !existsSync(factsFile) && !exited; waited += 20) await sleep(20);
  if (!existsSync(factsFile)) {
    const result = await child;
    assert.fail(`daemon did not serve: ${String(result.stderr)}`);
  }
  return { pid, child, facts: JSON.parse(readFileSync(factsFile, 'utf8')) as Record<string, unknown> };
}

/** The daemon's exit summary: requests per opcode, as `NAME=count` pairs. */
function requestCounts(stderr: string): Map<string, number> {
  const line = stderr
    .split('\n')
    .find((text) => /^fusebench: devfuse(-uring)?: /.test(text) && /requests:/.test(text));
  assert.ok(line, `no request summary in: ${stderr}`);
  return new Map([...line.matchAll(/([A-Za-z_0-9]+)=(\d+)/g)].map((match) => [match[1]!, Number(match[2])]));
}

/** umount(8) until it succeeds (a request in flight can make it EBUSY for a moment). */
async function umountWhenIdle(mountpoint: string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    if ((await execa('umount', [mountpoint], { reject: false })).exitCode === 0) return;
    await sleep(20);
  }
  assert.fail(`umount ${mountpoint} kept failing`);
}

async function waitUntilGone(pid: number, ms = 5000): Promise<boolean> {
  for (let waited = 0; waited < ms && isAlive(pid); waited += 20) await sleep(20);
  return !isAlive(pid);
}

const NS_TIME = '2021-02-03 04:05:06.123456789';

/** Every inode kind the walk compares, with xattrs and nanosecond times that must pass through. */
async function makeTree(): Promise<void> {
  mkdirSync(source);
  for (const size of [0, 1, 4095, 4096, 70000, 300_000])
    writeFileSync(join(source, `file-${size}`), randomBytes(size));
  symlinkSync('file-4096', join(source, 'link'));
  symlinkSync('nowhere/at/all', join(source, 'dangling'));
  linkSync(join(source, 'file-1'), join(source, 'hard-link'));
  writeFileSync(join(source, 'with-xattrs'), 'xattrs\n');
  mkdirSync(join(source, 'many'));
  for (let index = 0; index < 300; index++)
    writeFileSync(join(source, 'many', `entry-with-a-longer-name-${index}`), `${index}\n`);
  mkdirSync(join(source, 'many', 'nested'));
  writeFileSync(join(source, 'many', 'nested', 'deep'), 'deep\n');
  await execa('mkfifo', [join(source, 'fifo')]);
  await execa('mknod', [join(source, 'null-device'), 'c', '1', '3']);
  await execa('mknod', [join(source, 'block-device'), 'b', '259', '300000']);
  await execa('python3', [
    '-c',
    'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])',
    join(source, 'socket'),
  ]);
  await execa('setfattr', ['-n', 'user.x', '-v', 'user value', join(source, 'with-xattrs')]);
  await execa('setfattr', ['-n', 'trusted.t', '-v', '0x00ff10', join(source, 'with-xattrs')]);
  await execa('setfattr', ['-n', 'user.big', '-v', `0x${'ab'.repeat(3000)}`, join(source, 'many')]);
  await execa('chown', ['1234:5678', join(source, 'file-1')]);
  await execa('find', [source, '-depth', '-exec', 'touch', '-h', '-d', NS_TIME, '{}', '+']);
  // A time before 1970 crosses as a negative 64-bit second count.
  writeFileSync(join(source, 'ancient'), 'old\n');
  await execa('touch', ['-d', '1960-02-03 04:05:06.987654321', join(source, 'ancient')]);
  await execa('touch', ['-h', '-d', NS_TIME, source]);
}

function walkLines(top: string): string[] {
  return walkMountedTree(top).map(formatWalkRecord);
}

describe('devfuse protocol encoding', () => {
  it('carries 64-bit inode numbers and node ids, negative times and nanoseconds', () => {
    const nodeIds = new NodeIds(39);
    const buffer = Buffer.alloc(Size.ENTRY_OUT);
    for (const id of [39, 0, 1, 2, 2 ** 32 + 5, 2 ** 48 + 7, Number.MAX_SAFE_INTEGER]) {
      nodeIds.write(buffer, 0, id);
      assert.equal(nodeIds.read(buffer, 0), id, `node id of ${id}`);
      assert.notEqual(buffer.readBigUInt64LE(0), 0n);
    }
    nodeIds.write(buffer, 0, 39);
    assert.equal(buffer.readBigUInt64LE(0), 1n, 'the root is FUSE_ROOT_ID');
    nodeIds.write(buffer, 0, 1);
    assert.equal(buffer.readBigUInt64LE(0), 2n ** 63n + 1n, 'id 1 (not the root) moves out of the way');
    const time = { sec: -312_000_000, nsec: 987_654_321 };
    writeAttr(buffer, 0, {
      ino: 2 ** 40 + 3,
      mode: 0o100644,
      nlink: 2,
      uid: 1234,
      gid: 5678,
      rdev: 0,
      size: 2 ** 35,
      blocks: 2 ** 26,
      blksize: 4096,
      atime: time,
      mtime: time,
      ctime: { sec: 1_700_000_000, nsec: 1 },
    });
    assert.equal(buffer.readBigUInt64LE(0), 2n ** 40n + 3n);
    assert.equal(buffer.readBigUInt64LE(8), 2n ** 35n);
    assert.equal(buffer.readBigInt64LE(32), -312_000_000n);
    assert.equal(buffer.readUInt32LE(52), 987_654_321);
    assert.equal(buffer.readBigInt64LE(40), 1_700_000_000n);
    assert.deepEqual(splitTimeout(0), { sec: 0, nsec: 0 });
    assert.deepEqual(splitTimeout(1.5), { sec: 1, nsec: 500_000_000 });
  });

  it('lays out the io_uring and READDIRPLUS structures as include/uapi/linux/fuse.h does', () => {
    // FUSE_URING_IN_OUT_HEADER_SZ 128 + FUSE_URING_OP_IN_OUT_SZ 128 + struct fuse_uring_ent_in_out (u64 flags,
    // u64 commit_id, u32 payload_sz, u32 padding, u64 reserved).
    assert.deepEqual(UringReqHeader, { IN_OUT: 0, OP_IN: 128, RING_ENT_IN_OUT: 256, SIZE: 288 });
    assert.deepEqual(RingEntInOut, { FLAGS: 0, COMMIT_ID: 8, PAYLOAD_SZ: 16, SIZE: 32 });
    assert.equal(UringReqHeader.SIZE - UringReqHeader.RING_ENT_IN_OUT, RingEntInOut.SIZE);
    // offsetof(struct fuse_direntplus, dirent.name): fuse_entry_out (128) + fuse_dirent header (24).
    assert.equal(DIRENTPLUS_NAME_OFFSET, Size.ENTRY_OUT + Size.DIRENT_HEADER);
    assert.equal(direntPlusSize(1), 160);
    assert.equal(direntPlusSize(8), 160);
    assert.equal(direntPlusSize(9), 168);
  });
});

describe('devfuse transport', () => {
  before(async () => {
    await makeTree();
  });

  after(async () => {
    for (const mountpoint of mountpoints) await unmount(mountpoint);
    for (const pid of daemons) await stopProcess(pid, 1000);
    if (mountpoints.every((mountpoint) => !isMounted(mountpoint)))
      rmSync(root, { recursive: true, force: true });
  });

  for (const [fixture, threads] of [
    ['plain-default', 1],
    ['plain-48bit', 2],
    ['chunk-indexes', 2],
    ['plain-dot-omitted', 1],
  ] as const) {
    it(`serves ${fixture} (${threads} thread${threads > 1 ? 's' : ''}) exactly as the kernel's EROFS walks it`, {
      timeout: 60_000,
    }, async () => {
      const image = unpackFixture(fixture, root);
      const mountpoint = newMountpoint(`erofs-${fixture}`);
      const daemon = await startDaemon(
        ['mount', image, mountpoint, '--transport', 'devfuse', '--threads', String(threads)],
        fixture,
      );
      assert.equal(findMount(mountpoint)?.fstype, 'fuse.fusebench');
      assert.equal(daemon.facts.transport, 'devfuse');
      assert.equal(daemon.facts.threads, threads);
      assert.equal(daemon.facts.timeResolution, 'ns');
      assert.match(String(daemon.facts.kernelProtocol), /^7\.\d+$/);
      assert.match(String(daemon.facts.initFlags), /ASYNC_READ/);

      const expected = fixtureTruth(fixture).map(formatWalkRecord);
      const actual = walkLines(mountpoint);
      assert.equal(actual.length, expected.length);
      for (let index = 0; index < expected.length; index++) assert.equal(actual[index], expected[index]);

      const unmounted = await fusebench(['umount', mountpoint]);
      assert.equal(unmounted.exitCode, 0, String(unmounted.stderr));
      const result = await daemon.child;
      assert.equal(result.exitCode, 0, String(result.stderr));
      assert.equal(isMounted(mountpoint), false);
      const counts = requestCounts(String(result.stderr));
      assert.ok((counts.get('READDIRPLUS') ?? 0) > 0 && (counts.get('READ') ?? 0) > 0);
    });
  }

  it('an EROFS daemon gives up root once it serves and still ends on SIGTERM; a passthrough keeps root', {
    timeout: 60_000,
  }, async () => {
    const status = (pid: number, field: string) =>
      /^\S+:\s*(.*)$/m.exec(
        readFileSync(`/proc/${pid}/status`, 'utf8')
          .split('\n')
          .find((line) => line.startsWith(`${field}:`)) ?? '',
      )?.[1] ?? '';
    const image = unpackFixture('lz4', root);
    const served = newMountpoint('unprivileged');
    const daemon = await startDaemon(['mount', image, served, '--transport', 'devfuse'], 'unprivileged');
    // The drop comes right after the facts are written: wait for it.
    for (let waited = 0; waited < 5000 && status(daemon.pid, 'Uid').split(/\s+/)[0] !== '65534'; waited += 20)
      await sleep(20);
    assert.deepEqual(status(daemon.pid, 'Uid').split(/\s+/), ['65534', '65534', '65534', '65534']);
    assert.deepEqual(status(daemon.pid, 'Gid').split(/\s+/), ['65534', '65534', '65534', '65534']);
    assert.equal(status(daemon.pid, 'Groups'), '');
    assert.equal(status(daemon.pid, 'CapEff'), '0000000000000000');
    assert.match(String(daemon.facts.privileges), /^uid 65534 gid 65534, no groups, no capabilities/);
    // Compressed data still decodes: the decoders were loaded before root was given up.
    const truth = fixtureTruth('lz4').find((record) => record.path === '/data/big_text')!;
    assert.equal(
      createHash('sha256')
        .update(readFileSync(join(served, 'data/big_text')))
        .digest('hex'),
      truth.sha256,
    );
    daemon.child.kill('SIGTERM');
    const ended = await daemon.child;
    assert.equal(ended.exitCode, 0, String(ended.stderr));
    assert.equal(
      isMounted(served),
      false,
      'the unprivileged daemon had its mount detached (by its root helper)',
    );

    const passthrough = newMountpoint('privileged');
    const kept = await startDaemon(
      ['passthrough', source, passthrough, '--transport', 'devfuse'],
      'privileged',
    );
    assert.match(String(kept.facts.privileges), /^root \(the passthrough opens files of every owner\)/);
    assert.equal(status(kept.pid, 'Uid').split(/\s+/)[0], '0');
    await fusebench(['umount', passthrough]);
    await kept.child;
  });

  it('serves on its main thread, blocking in read(2) once it only serves, and SIGTERM ends it while clients keep it busy', {
    timeout: 60_000,
  }, async () => {
    const image = unpackFixture('plain-default', root);
    const mountpoint = newMountpoint('busy-stop');
    const daemon = await startDaemon(
      ['mount', image, mountpoint, '--transport', 'devfuse', '--entry-timeout', '0', '--attr-timeout', '0'],
      'busy-stop',
    );
    assert.match(String(daemon.facts.servedBy), /^the main thread/);
    const target = join(mountpoint, 'data', 'big_rand');
    // In the foreground the main thread sleeps in read(2) of /dev/fuse, not in epoll_wait(2).
    const wchan = () => readFileSync(`/proc/${daemon.pid}/wchan`, 'utf8');
    lstatSync(target);
    let wait = wchan();
    for (let waited = 0; waited < 5000 && !/fuse/.test(wait); waited += 20) {
      await sleep(20);
      wait = wchan();
    }
    assert.match(wait, /fuse/, `the main thread waits in ${wait}`);
    // Two clients stat without pause (timeouts 0: a request each), so requests keep waiting.
    const clients = [0, 1].map(() =>
      execa(
        process.execPath,
        [
          '-e',
          `const fs = require('node:fs'); for (;;) { try { fs.lstatSync(process.argv[1]); } catch { process.exit(0); } }`,
          target,
        ],
        { reject: false },
      ),
    );
    try {
      await sleep(500);
      for (const client of clients) assert.equal(isAlive(client.pid!), true, 'the clients were still busy');
      daemon.child.kill('SIGTERM');
      assert.equal(await waitUntilGone(daemon.pid, 20_000), true, 'the daemon ended under load');
      const ended = await daemon.child;
      assert.equal(ended.exitCode, 0, String(ended.stderr));
      const counts = requestCounts(String(ended.stderr));
      assert.ok((counts.get('LOOKUP') ?? 0) + (counts.get('GETATTR') ?? 0) > 100, String(ended.stderr));
      assert.equal(isMounted(mountpoint), false);
    } finally {
      for (const client of clients) client.kill();
      await Promise.all(clients);
    }
  });

  it('lists with READDIRPLUS (a walk sends no LOOKUP), remembers a missing name, refuses STATX once', {
    timeout: 60_000,
  }, async () => {
    const image = unpackFixture('lz4', root);
    const expected = fixtureTruth('lz4').map(formatWalkRecord);
    // Other processes on the machine may drop the dentry cache at any time (each drop costs a few
    // LOOKUPs again), so the counts are bounds, far apart: 20 stats of one missing name.
    const MISSING_STATS = 20;
    const statMissing = (mountpoint: string) => {
      for (let time = 0; time < MISSING_STATS; time++) {
        assert.equal(
          errorCode(() => lstatSync(join(mountpoint, 'sizes', 'no-such-name'))),
          'ENOENT',
        );
      }
    };
    const remembered = newMountpoint('negative-day');
    const daemon = await startDaemon(['mount', image, remembered, '--transport', 'devfuse'], 'negative-day');
    assert.match(String(daemon.facts.initFlags), /DO_READDIRPLUS/);
    assert.equal(daemon.facts.negativeTimeoutSent, 86400);
    assert.deepEqual(walkLines(remembered), expected);
    statMissing(remembered);
    // coreutils stat asks for the birth time, beyond what GETATTR carries; EROFS keeps none.
    for (const path of ['sizes', 'data']) {
      const birth = await execa('stat', ['-c', '%W', join(remembered, path)]);
      assert.equal(birth.stdout, '0', 'no birth time, as on the kernel EROFS mount');
    }
    await umountWhenIdle(remembered);
    const counts = requestCounts(String((await daemon.child).stderr));
    assert.ok((counts.get('READDIRPLUS') ?? 0) > 0, 'listings are READDIRPLUS');
    assert.equal(counts.get('READDIR'), undefined, 'no plain READDIR');
    // Ideally exactly 1 (the missing name, asked once): the walk itself looked nothing up.
    assert.ok((counts.get('LOOKUP') ?? 0) < 5, `LOOKUPs: ${counts.get('LOOKUP')}`);
    // The walk's lstat (Node asks for btime) sent the first STATX; ENOSYS made it the last.
    assert.equal(counts.get('STATX'), 1, 'STATX refused once, then stat is served from the cache');

    const asked = newMountpoint('negative-0');
    const uncached = await startDaemon(
      ['mount', image, asked, '--transport', 'devfuse', '--negative-timeout', '0'],
      'negative-0',
    );
    assert.equal(uncached.facts.negativeTimeoutSent, 0);
    statMissing(asked);
    await umountWhenIdle(asked);
    const lookups = requestCounts(String((await uncached.child).stderr)).get('LOOKUP') ?? 0;
    assert.ok(lookups >= MISSING_STATS, `every stat of the missing name was a LOOKUP: ${lookups}`);
  });

  it('lists trusted.* xattr names only to callers with CAP_SYS_ADMIN on both transports, as the kernel mount does', {
    timeout: 60_000,
  }, async () => {
    const image = unpackFixture('plain-default', root);
    const kernel = newMountpoint('trusted-kernel');
    syscalls.mount(image, kernel, 'erofs', MountFlags.MS_RDONLY, '');
    // The unprivileged caller must be able to reach the mounts.
    chmodSync(root, 0o755);
    // Each path's listed names, and what reading trusted.overlay.opaque gives (value or errno name).
    const probe = `import os, sys, json, errno
def listed(path):
    return sorted(os.listxattr(path, follow_symlinks=False))
def opaque(path):
    try:
        return os.getxattr(path, 'trusted.overlay.opaque', follow_symlinks=False).hex()
    except OSError as error:
        return errno.errorcode[error.errno]
paths = [os.path.join(sys.argv[1], p) for p in ['xattrs/shared/f0', 'xattrs/shared', 'sizes']]
print(json.dumps({'listed': [listed(p) for p in paths], 'opaque': opaque(paths[0])}))`;
    const seen = async (mountpoint: string, uid: number) =>
      JSON.parse((await execa('python3', ['-c', probe, mountpoint], { uid, gid: uid })).stdout) as {
        listed: string[][];
        opaque: string;
      };
    const asRoot = await seen(kernel, 0);
    const asNobody = await seen(kernel, 65534);
    assert.ok(asRoot.listed[0]!.includes('trusted.overlay.opaque'), 'the fixture has a trusted.* xattr');
    assert.ok(!asNobody.listed[0]!.includes('trusted.overlay.opaque'));
    assert.equal(asNobody.opaque, 'ENODATA');
    for (const transport of ['devfuse', 'fuse-native']) {
      const served = newMountpoint(`trusted-${transport}`);
      const daemon = await startDaemon(
        ['mount', image, served, '--transport', transport],
        `trusted-${transport}`,
      );
      assert.deepEqual(await seen(served, 0), asRoot, `${transport} as root`);
      assert.deepEqual(await seen(served, 65534), asNobody, `${transport} as nobody`);
      await fusebench(['umount', served]);
      await daemon.child;
    }
    await unmount(kernel);
  });

  for (const kernelPassthrough of [false, true]) {
    it(`passes the source through ${kernelPassthrough ? 'with kernel passthrough (no READ reaches the daemon)' : 'by READ'}, every field equal`, {
      timeout: 60_000,
    }, async () => {
      const mountpoint = newMountpoint(`passthrough-${kernelPassthrough}`);
      const extra = kernelPassthrough ? ['--kernel-passthrough'] : [];
      // Two threads, each with its own passthrough instance: lookups and handles cross between them.
      const daemon = await startDaemon(
        ['passthrough', source, mountpoint, '--transport', 'devfuse', '--threads', '2', ...extra],
        `passthrough-${kernelPassthrough}`,
      );
      assert.equal(daemon.facts.passthrough, kernelPassthrough);
      assert.match(String(daemon.facts.sharedState), /shared/);

      const expected = walkLines(source);
      const actual = walkLines(mountpoint);
      assert.ok(expected.length > 310, `walked ${expected.length} paths`);
      assert.equal(actual.length, expected.length);
      for (let index = 0; index < expected.length; index++) assert.equal(actual[index], expected[index]);
      assert.ok(
        actual.some((line) => line.includes('"mtimeNs":123456789')),
        'nanosecond mtimes pass through',
      );

      // Several opens of one inode at once share one backing file (the kernel refuses two).
      const fds = [0, 1, 2].map(() => openSync(join(mountpoint, 'file-300000'), 'r'));
      const chunk = Buffer.alloc(4096);
      for (const fd of fds) assert.equal(readSync(fd, chunk, 0, 4096, 8192), 4096);
      for (const fd of fds) closeSync(fd);

      assert.equal(
        errorCode(() => writeFileSync(join(mountpoint, 'new-file'), 'x')),
        'EROFS',
      );
      assert.equal(
        errorCode(() => openSync(join(mountpoint, 'file-1'), 'r+')),
        'EROFS',
      );

      await umountWhenIdle(mountpoint);
      const result = await daemon.child;
      assert.equal(result.exitCode, 0, String(result.stderr));
      const counts = requestCounts(String(result.stderr));
      if (kernelPassthrough) {
        assert.equal(counts.get('READ') ?? 0, 0, 'the kernel read the backing files itself');
        assert.ok((counts.get('passthroughOpens') ?? 0) > 0, 'opens were answered with FOPEN_PASSTHROUGH');
        assert.equal(counts.get('passthroughFallbacks'), 0);
      } else {
        assert.ok((counts.get('READ') ?? 0) > 0);
      }
    });
  }

  it('honours entry and attr timeouts of 0 (and of a day)', { timeout: 60_000 }, async () => {
    const uncached = newMountpoint('timeouts-0');
    const cached = newMountpoint('timeouts-day');
    const zero = await startDaemon(
      [
        'passthrough',
        source,
        uncached,
        '--transport',
        'devfuse',
        '--entry-timeout',
        '0',
        '--attr-timeout',
        '0',
        '--negative-timeout',
        '0',
      ],
      'timeouts-0',
    );
    const day = await startDaemon(['passthrough', source, cached, '--transport', 'devfuse'], 'timeouts-day');
    assert.equal(zero.facts.entryTimeoutSent, 0);
    const target = join(source, 'file-0');
    const before = lstatSync(join(cached, 'file-0')).mtimeMs;
    lstatSync(join(uncached, 'file-0'));
    utimesSync(target, new Date(2e12), new Date(2e12));
    try {
      assert.equal(lstatSync(join(uncached, 'file-0')).mtimeMs, 2e12, 'attr timeout 0: change seen at once');
      assert.equal(lstatSync(join(cached, 'file-0')).mtimeMs, before, 'attr timeout 86400: cached');
      // A name that appears and disappears in the source shows at once with entry timeout 0.
      const late = join(source, 'late-file');
      assert.equal(
        errorCode(() => lstatSync(join(uncached, 'late-file'))),
        'ENOENT',
      );
      writeFileSync(late, 'late\n');
      assert.equal(readFileSync(join(uncached, 'late-file'), 'utf8'), 'late\n');
      rmSync(late);
      assert.equal(
        errorCode(() => lstatSync(join(uncached, 'late-file'))),
        'ENOENT',
      );
    } finally {
      await execa('touch', ['-h', '-d', NS_TIME, target, source]);
    }
    for (const [mountpoint, daemon] of [
      [uncached, zero],
      [cached, day],
    ] as const) {
      await umountWhenIdle(mountpoint);
      assert.equal((await daemon.child).exitCode, 0);
    }
  });

  it('refuses what it does not implement without harm, handles INTERRUPT and FORGET', {
    timeout: 60_000,
  }, async () => {
    // The image is read through a second devfuse mount (a passthrough with direct I/O), so stopping
    // that daemon holds a READ of the first one in flight for as long as the test needs.
    const lower = join(root, 'lower');
    mkdirSync(lower);
    unpackFixture('plain-default', lower);
    const below = newMountpoint('robustness-below');
    const lowerDaemon = await startDaemon(
      ['passthrough', lower, below, '--transport', 'devfuse', '--direct-io'],
      'robustness-below',
    );
    const mountpoint = newMountpoint('robustness');
    const daemon = await startDaemon(
      [
        'mount',
        join(below, 'plain-default.erofs'),
        mountpoint,
        '--transport',
        'devfuse',
        '--threads',
        '2',
        '--direct-io',
      ],
      'robustness',
    );
    const file = join(mountpoint, 'data', 'big_rand');

    // fsync reaches the daemon as FSYNC (answered ENOSYS, which the kernel then takes as success);
    // lsattr's FS_IOC_GETFLAGS arrives as IOCTL, answered ENOSYS.
    const fd = openSync(file, 'r');
    fsyncSync(fd);
    closeSync(fd);
    const lsattr = await execa('lsattr', ['-d', file], { reject: false });
    assert.notEqual(lsattr.exitCode, 0);
    // Writes are refused (by the read-only mount before they reach the daemon).
    assert.equal(
      errorCode(() => writeFileSync(join(mountpoint, 'new'), 'x')),
      'EROFS',
    );
    const mknod = await execa('mknod', [join(mountpoint, 'node'), 'c', '1', '3'], { reject: false });
    assert.match(String(mknod.stderr), /Read-only file system/);

    // INTERRUPT: a client's READ is in flight in one serving thread (stuck reading the image from
    // the stopped lower daemon); a signal to the client makes the kernel queue an INTERRUPT, which
    // the other thread reads. Resumed, the READ completes normally.
    const client = execa(
      'python3',
      [
        '-c',
        'import os,signal,sys\nsignal.signal(signal.SIGUSR1, lambda *a: None)\nfd = os.open(sys.argv[1], os.O_RDONLY)\n' +
          'print("ready", flush=True)\nsys.stdin.readline()\nprint(len(os.pread(fd, 4096, 61440)), flush=True)',
        file,
      ],
      { reject: false, stdin: 'pipe' },
    );
    await new Promise<void>((resolve) => client.stdout?.once('data', () => resolve()));
    process.kill(lowerDaemon.pid, 'SIGSTOP');
    let signalled = false;
    try {
      client.stdin?.write('go\n');
      await sleep(300);
      signalled = client.exitCode === null && client.kill('SIGUSR1');
      await sleep(300);
    } finally {
      process.kill(lowerDaemon.pid, 'SIGCONT');
    }
    const answered = await client;
    assert.ok(
      signalled,
      `the client was still waiting for its READ: ${String(answered.stdout)} ${String(answered.stderr)}`,
    );
    assert.match(String(answered.stdout), /ready\n4096/, 'the interrupted READ was answered in full');

    // FORGET: the walk fills the inode cache, dropping it sends FORGETs.
    assert.equal(walkLines(mountpoint).length, fixtureTruth('plain-default').length);
    writeFileSync('/proc/sys/vm/drop_caches', '2');
    await sleep(200);
    assert.deepEqual(walkLines(mountpoint), fixtureTruth('plain-default').map(formatWalkRecord));

    await umountWhenIdle(mountpoint);
    const result = await daemon.child;
    assert.equal(result.exitCode, 0, String(result.stderr));
    const counts = requestCounts(String(result.stderr));
    assert.ok((counts.get('INTERRUPT') ?? 0) >= 1, `INTERRUPT received: ${String(result.stderr)}`);
    assert.ok((counts.get('FORGET') ?? 0) + (counts.get('BATCH_FORGET') ?? 0) >= 1, 'FORGET received');
    assert.ok((counts.get('FSYNC') ?? 0) >= 1, 'FSYNC received');
    assert.ok((counts.get('IOCTL') ?? 0) >= 1, 'IOCTL received');
    await umountWhenIdle(below);
    assert.equal((await lowerDaemon.child).exitCode, 0);
  });

  it('ends cleanly when unmounted while its threads are busy', { timeout: 60_000 }, async () => {
    const image = unpackFixture('plain-default', root);
    const mountpoint = newMountpoint('busy');
    const daemon = await startDaemon(
      [
        'mount',
        image,
        mountpoint,
        '--transport',
        'devfuse',
        '--threads',
        '2',
        '--entry-timeout',
        '0',
        '--attr-timeout',
        '0',
      ],
      'busy',
    );
    // Two clients stat as fast as they can (each stat a LOOKUP round trip) until the mount goes.
    const client = `
      const fs = require('node:fs');
      let stats = 0;
      for (;;) {
        try {
          fs.lstatSync(process.argv[1]);
          if (stats++ === 0) console.log('serving');
        } catch (error) {
          console.log(stats, error.code);
          break;
        }
      }`;
    const clients = [0, 1].map(() =>
      execa(process.execPath, ['-e', client, join(mountpoint, 'data', 'big_rand')], { reject: false }),
    );
    await Promise.all(
      clients.map((running) => new Promise<void>((resolve) => running.stdout?.once('data', () => resolve()))),
    );
    await sleep(300);
    // The clients always hold the mount somewhere in a path walk: a plain umount is EBUSY, a lazy
    // one detaches it at once and the connection ends when the last walk through it does.
    await execa('umount', ['--lazy', mountpoint]);
    const result = await daemon.child;
    assert.equal(result.exitCode, 0, String(result.stderr));
    for (const running of clients) {
      const [stats, code] = String((await running).stdout)
        .trim()
        .split('\n')
        .at(-1)!
        .split(' ');
      assert.ok(
        Number(stats) > 100,
        `the client stat'ed through the mount before it went (${stats} ${code})`,
      );
      assert.match(String(code), /^(ENOENT|ENOTCONN|ECONNABORTED)$/);
    }
    assert.ok((requestCounts(String(result.stderr)).get('LOOKUP') ?? 0) > 200);
    assert.equal(isMounted(mountpoint), false);
  });

  it('fusebench umount ends a session a client still holds open', { timeout: 60_000 }, async () => {
    const image = unpackFixture('plain-default', root);
    const mountpoint = newMountpoint('held');
    // Direct I/O: every read is a READ request, none is answered from the page cache.
    const daemon = await startDaemon(
      ['mount', image, mountpoint, '--transport', 'devfuse', '--direct-io'],
      'held',
    );
    const holder = execa(
      process.execPath,
      [
        '-e',
        `const fs = require('node:fs'); const fd = fs.openSync(process.argv[1], 'r'); let n = 0;
         const tick = () => { try { fs.readSync(fd, Buffer.alloc(4096), 0, 4096, 0); n++; setTimeout(tick, 5); } catch (e) { console.log(n, e.code); } };
         tick();`,
        join(mountpoint, 'data', 'big_rand'),
      ],
      { reject: false },
    );
    await sleep(300);
    const unmounted = await fusebench(['umount', mountpoint]);
    assert.equal(unmounted.exitCode, 0, String(unmounted.stderr));
    assert.equal(isMounted(mountpoint), false);
    const result = await daemon.child;
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.equal(await waitUntilGone(daemon.pid), true);
    const [, code] = String((await holder).stdout)
      .trim()
      .split(' ');
    assert.match(String(code), /^(ENOTCONN|ECONNABORTED)$/, 'the held file ends with the connection');
  });

  it('SIGTERM ends a session whose detached mount holds an idle open file: its reads then fail', {
    timeout: 60_000,
  }, async () => {
    const image = unpackFixture('plain-default', root);
    const mountpoint = newMountpoint('idle-held');
    // Two threads, both blocked in read(2) once the file is open: no request will wake them.
    const daemon = await startDaemon(
      ['mount', image, mountpoint, '--transport', 'devfuse', '--threads', '2', '--direct-io'],
      'idle-held',
    );
    // Opens a file, says so, and touches the mount again only when a line arrives on stdin.
    const holder = execa(
      process.execPath,
      [
        '-e',
        `const fs = require('node:fs'); const fd = fs.openSync(process.argv[1], 'r'); console.log('open');
         process.stdin.once('data', () => {
           try { fs.readSync(fd, Buffer.alloc(4096), 0, 4096, 0); console.log('read'); } catch (e) { console.log(e.code); }
           process.exit(0);
         });`,
        join(mountpoint, 'data', 'big_rand'),
      ],
      { reject: false, stdin: 'pipe' },
    );
    try {
      await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
      syscalls.umount2(mountpoint, UnmountFlags.MNT_DETACH);
      assert.equal(isMounted(mountpoint), false);
      process.kill(daemon.pid, 'SIGTERM');
      // Bounded only so that a daemon that waits for the file to close fails here, not at the timeout.
      assert.equal(await waitUntilGone(daemon.pid, 20_000), true, 'the daemon ended while the file was open');
      const result = await daemon.child;
      assert.equal(result.exitCode, 0, String(result.stderr));
      holder.stdin!.end('\n');
      const [, code] = String((await holder).stdout)
        .trim()
        .split('\n');
      assert.match(String(code), /^(ENOTCONN|ECONNABORTED)$/, 'the open file ends with the connection');
    } finally {
      holder.kill();
    }
  });
  for (const [threads, fds] of [
    [1, 'shared'],
    [3, 'shared'],
    [3, 'clone'],
  ] as const) {
    const descriptors =
      fds === 'clone' ? `${threads} clones of the descriptor` : "the mount's one descriptor";
    const where = threads === 1 ? 'the main thread serves' : `${threads} serving threads in /proc`;
    it(`--threads ${threads} --${fds}-fd: ${where} on ${descriptors}, every one answering`, {
      timeout: 60_000,
    }, async () => {
      const image = unpackFixture('plain-default', root);
      const mountpoint = newMountpoint(`threads-${threads}-${fds}`);
      const daemon = await startDaemon(
        [
          ...['mount', image, mountpoint, '--transport', 'devfuse', '--threads', String(threads)],
          ...[`--${fds}-fd`, '--entry-timeout', '0', '--attr-timeout', '0'],
        ],
        `threads-${threads}-${fds}`,
      );
      // One thread: the main thread serves (its task id is the pid); more: named worker threads.
      const serving = () => {
        if (threads === 1) return new Map([[String(daemon.pid), 'main']]);
        return new Map(
          readdirSync(`/proc/${daemon.pid}/task`)
            .map((tid) => [tid, readFileSync(`/proc/${daemon.pid}/task/${tid}/comm`, 'utf8').trim()] as const)
            .filter(([, name]) => name.startsWith('devfuse-')),
        );
      };
      assert.deepEqual(
        threadNames(daemon.pid)
          .filter((name) => name.startsWith('devfuse-'))
          .sort(),
        threads === 1 ? [] : Array.from({ length: threads }, (_, index) => `devfuse-${index}`),
      );
      assert.match(String(daemon.facts.servedBy), threads === 1 ? /^the main thread/ : /worker threads/);
      // The mount's descriptor, and a clone for each thread when they do not share it.
      assert.equal(devFuseDescriptors(daemon.pid), fds === 'clone' && threads > 1 ? threads + 1 : 1);
      assert.match(String(daemon.facts.devFuseDescriptors), fds === 'clone' ? /clones/ : /one descriptor/);
      // Each thread sleeps between requests (a worker in read(2), the main thread in epoll_wait(2)):
      // its voluntary switches count what it served.
      const sleeps = () =>
        new Map(
          [...serving()].map(([tid, name]) => [
            name,
            Number(
              /^voluntary_ctxt_switches:\s+(\d+)/m.exec(
                readFileSync(`/proc/${daemon.pid}/task/${tid}/status`, 'utf8'),
              )?.[1],
            ),
          ]),
        );
      const before = sleeps();
      await Promise.all(
        [0, 1, 2, 3].map(() =>
          execa(process.execPath, [
            '-e',
            `const fs = require('node:fs'); for (let i = 0; i < 300; i++) fs.lstatSync(process.argv[1]);`,
            join(mountpoint, 'data', 'big_rand'),
          ]),
        ),
      );
      for (const [name, count] of sleeps())
        assert.ok(
          count - before.get(name)! >= 10,
          `${name} answered requests (${count - before.get(name)!} sleeps)`,
        );
      assert.equal(walkLines(mountpoint).length, fixtureTruth('plain-default').length);
      const unmounted = await fusebench(['umount', mountpoint]);
      assert.equal(unmounted.exitCode, 0, String(unmounted.stderr));
      assert.equal((await daemon.child).exitCode, 0);
    });
  }

  it('refuses kernel passthrough on fuse-native and a bad thread count', { timeout: 60_000 }, async () => {
    const mountpoint = newMountpoint('refused');
    const native = await fusebench([
      'passthrough',
      source,
      mountpoint,
      '--transport',
      'fuse-native',
      '--kernel-passthrough',
    ]);
    assert.equal(native.exitCode, 1);
    assert.match(String(native.stderr), /fuse-native cannot do kernel passthrough/);
    const threads = await fusebench([
      'passthrough',
      source,
      mountpoint,
      '--transport',
      'devfuse',
      '--threads',
      '0',
    ]);
    assert.notEqual(threads.exitCode, 0);
    assert.match(String(threads.stderr), /threads/);
    assert.equal(isMounted(mountpoint), false);
  });
});

describe('devfuse-uring transport (FUSE over io_uring)', () => {
  let enableUringBefore: boolean | null = null;
  before(() => {
    enableUringBefore = fuseIoUringEnabled();
    assert.notEqual(enableUringBefore, null, 'this kernel has FUSE over io_uring (Linux 6.14+)');
    setFuseIoUring(true);
  });

  after(async () => {
    for (const mountpoint of mountpoints) await unmount(mountpoint);
    for (const pid of daemons) await stopProcess(pid, 1000);
    if (enableUringBefore !== null) setFuseIoUring(enableUringBefore);
    if (mountpoints.every((mountpoint) => !isMounted(mountpoint)))
      rmSync(root, { recursive: true, force: true });
  });

  for (const fixture of ['plain-default', 'lz4']) {
    it(`serves ${fixture} through the ring exactly as the kernel's EROFS walks it`, {
      timeout: 60_000,
    }, async () => {
      mkdirSync(root, { recursive: true });
      const image = unpackFixture(fixture, root);
      const mountpoint = newMountpoint(`uring-${fixture}`);
      const daemon = await startDaemon(
        ['mount', image, mountpoint, '--transport', 'devfuse-uring'],
        `uring-${fixture}`,
      );
      assert.equal(daemon.facts.transport, 'devfuse-uring');
      assert.match(String(daemon.facts.initFlags), /OVER_IO_URING/);
      assert.match(String(daemon.facts.requestChannel), /^io_uring: \d+ queues/);
      assert.deepEqual(walkLines(mountpoint), fixtureTruth(fixture).map(formatWalkRecord));
      await umountWhenIdle(mountpoint);
      const result = await daemon.child;
      assert.equal(result.exitCode, 0, String(result.stderr));
      const counts = requestCounts(String(result.stderr));
      assert.ok((counts.get('READ') ?? 0) > 0);
      // INIT alone must come by read(2); everything a walk asks goes through the ring.
      assert.ok((counts.get('ringRequests') ?? 0) >= (counts.get('READ') ?? 0), String(result.stderr));
    });
  }

  it('falls back to read/write on /dev/fuse when the kernel does not offer the ring', {
    timeout: 60_000,
  }, async () => {
    mkdirSync(root, { recursive: true });
    const image = unpackFixture('plain-default', root);
    const mountpoint = newMountpoint('uring-refused');
    setFuseIoUring(false);
    let daemon: Daemon;
    try {
      daemon = await startDaemon(
        ['mount', image, mountpoint, '--transport', 'devfuse-uring'],
        'uring-refused',
      );
    } finally {
      setFuseIoUring(true);
    }
    assert.equal(daemon.facts.requestChannel, 'read/write on /dev/fuse (io_uring refused)');
    assert.match(String(daemon.facts.ioUringRefused), /did not offer FUSE_OVER_IO_URING/);
    assert.deepEqual(walkLines(mountpoint), fixtureTruth('plain-default').map(formatWalkRecord));
    await umountWhenIdle(mountpoint);
    const result = await daemon.child;
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.equal(requestCounts(String(result.stderr)).get('ringRequests'), 0);
  });

  it('survives SIGKILL with readers blocked in the ring: they fail, and umount leaves nothing mounted', {
    timeout: 60_000,
  }, async () => {
    mkdirSync(root, { recursive: true });
    const image = unpackFixture('plain-default', root);
    const mountpoint = newMountpoint('uring-killed');
    // Direct I/O: every read is a READ the daemon must answer.
    const daemon = await startDaemon(
      ['mount', image, mountpoint, '--transport', 'devfuse-uring', '--direct-io'],
      'uring-killed',
    );
    assert.match(String(daemon.facts.requestChannel), /^io_uring/);
    const file = join(mountpoint, 'data', 'big_rand');
    process.kill(daemon.pid, 'SIGSTOP');
    const readers = [0, 1, 2, 3].map((reader) =>
      execa(
        'python3',
        [
          '-c',
          'import os,sys\ntry:\n  print(len(os.pread(os.open(sys.argv[1], os.O_RDONLY), 4096, int(sys.argv[2]))))\nexcept OSError as e:\n  print(e.errno)',
          file,
          String(reader * 8192),
        ],
        { reject: false },
      ),
    );
    await sleep(500);
    assert.ok(
      readers.every((reader) => reader.exitCode === null),
      'the readers wait for the stopped daemon',
    );
    process.kill(daemon.pid, 'SIGKILL');
    assert.equal(await waitUntilGone(daemon.pid), true);
    for (const reader of readers) {
      const output = String((await reader).stdout).trim();
      // ENOTCONN (107) or ECONNABORTED (103): the connection died with its daemon.
      assert.match(output, /^(107|103)$/, `a blocked reader fails: ${output}`);
    }
    const unmounted = await fusebench(['umount', mountpoint]);
    assert.equal(unmounted.exitCode, 0, String(unmounted.stderr));
    assert.equal(isMounted(mountpoint), false);
  });
});
