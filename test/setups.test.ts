import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { type PreparedDataset, prepareDataset } from '../datasets/dataset.js';
import { defaultImageOptions } from '../datasets/image.js';
import { daemonRecordPath } from '../fuse/daemon.js';
import { loopDevicesOf } from '../lib/loop-devices.js';
import { mountErofs, readMountInfo, unmount } from '../lib/mounts.js';
import { formatWalkRecord, type WalkRecord, walkMountedTree } from '../lib/tree-walk.js';
import { type CleanupStack, createRun } from '../runners/cleanup.js';
import { fuseUringUnavailable } from '../runners/fuse-uring.js';
import { isAlive } from '../runners/processes.js';
import { findSetup } from '../runners/registry.js';
import { defaultSetupContext, type SetupContext } from '../runners/setup.js';
import { fusebench } from './helpers/cli.js';
import { fixtureTruth, unpackFixture } from './helpers/erofs-fixtures.js';
import { unwindRun } from './helpers/run-dir.js';

/**
 * Every setup shows the same tree as the kernel EROFS mount of the image: the TypeScript reader
 * over FUSE field for field (inode numbers included), the host-tree setups field for field except
 * what a host filesystem decides itself (inode numbers, directory sizes).
 */

/** fuse-native passes times in milliseconds (a limitation of its API), so compare at that granularity there. */
function inMilliseconds(record: WalkRecord): WalkRecord {
  return { ...record, mtimeNs: Math.floor(record.mtimeNs / 1e6) * 1e6 };
}

function hostView(record: WalkRecord): WalkRecord {
  const { ino: _ino, ...rest } = record;
  return { ...rest, ino: 0, size: record.type === 'dir' ? 0 : record.size } as WalkRecord;
}

function assertSameLines(actual: WalkRecord[], expected: WalkRecord[], label: string): void {
  assert.equal(actual.length, expected.length, `${label}: number of paths`);
  for (let index = 0; index < expected.length; index++) {
    assert.equal(
      formatWalkRecord(actual[index]!),
      formatWalkRecord(expected[index]!),
      `${label}: line ${index + 1}`,
    );
  }
}

describe('setups: the same tree four ways (and the references), mounted for real', () => {
  const cache = mkdtempSync(join(tmpdir(), 'fusebench-setups-'));
  let dataset: PreparedDataset;
  let runDir: string;
  let stack: CleanupStack;
  let kernelWalk: WalkRecord[];

  const context = (overrides: Partial<SetupContext> = {}): SetupContext => ({
    ...defaultSetupContext(dataset, runDir, stack),
    ...overrides,
  });

  const walkSetup = async (name: string, overrides: Partial<SetupContext> = {}) => {
    const definition = findSetup(name);
    assert.ok(definition, name);
    const unavailable = await definition.unavailable(context(overrides));
    assert.equal(unavailable, null, `${name} must run on this machine`);
    const setup = definition.create(context(overrides));
    const mounted = await setup.mount();
    try {
      return { walk: walkMountedTree(mounted.mountpoint), mounted, setup };
    } finally {
      await setup.unmount();
    }
  };

  before(async () => {
    dataset = await prepareDataset({ kind: 'profile', profile: 'tiny', seed: 5 }, defaultImageOptions, cache);
    ({ runDir, stack } = createRun(`test-setups-${process.pid}`));
    kernelWalk = (await walkSetup('kernel-erofs')).walk;
    assert.ok(kernelWalk.length > 300);
  });

  after(async () => {
    await unwindRun(stack, runDir);
    rmSync(cache, { recursive: true, force: true });
  });

  it('kernel-erofs through a loop device with direct I/O shows the file-backed mount exactly, and detaches its loop', async () => {
    const { walk, mounted } = await walkSetup('kernel-erofs', { loopDirectIo: true });
    assertSameLines(walk, kernelWalk, 'loop');
    assert.equal(mounted.facts.backing, 'loop device, direct I/O');
    assert.deepEqual(await loopDevicesOf(dataset.image.path), []);
  });

  it('fuse-erofs-ts (the TypeScript reader over our /dev/fuse server) equals the kernel mount, inode numbers and nanoseconds included', async () => {
    const { walk, mounted } = await walkSetup('fuse-erofs-ts');
    assertSameLines(walk, kernelWalk, 'fuse-erofs-ts');
    assert.equal(mounted.daemonPids.length, 1);
    assert.ok(!isAlive(mounted.daemonPids[0]!), 'daemon ended with the unmount');
    assert.equal(mounted.facts.transport, 'devfuse');
    assert.match(String(mounted.facts.privileges), /^uid 65534/);
  });

  it('fuse-erofs-ts-libfuse2 (the same reader over libfuse 2) equals the kernel mount at its millisecond times', async () => {
    const { walk, mounted } = await walkSetup('fuse-erofs-ts-libfuse2');
    assertSameLines(walk.map(inMilliseconds), kernelWalk.map(inMilliseconds), 'fuse-erofs-ts-libfuse2');
    assert.equal(mounted.facts.transport, 'fuse-native');
    assert.match(String(mounted.facts.privileges), /^root \(libfuse 2/);
  });

  it('fuse-erofs-ts+uring serves from io_uring rings and equals the kernel mount', async (t) => {
    if (fuseUringUnavailable() && process.env.CI !== 'true') return t.skip(fuseUringUnavailable()!);
    const { walk, mounted } = await walkSetup('fuse-erofs-ts+uring');
    assertSameLines(walk, kernelWalk, 'fuse-erofs-ts+uring');
    assert.equal(mounted.facts.transport, 'devfuse-uring');
    assert.match(String(mounted.facts.requestChannel), /^io_uring/);
  });

  it('native and fuse-passthrough-ts show the source tree: same inode numbers as each other, same content as the image', async () => {
    const native = await walkSetup('native');
    const passthrough = await walkSetup('fuse-passthrough-ts');
    assertSameLines(native.walk.map(hostView), kernelWalk.map(hostView), 'native');
    assertSameLines(
      passthrough.walk.map(inMilliseconds),
      native.walk.map(inMilliseconds),
      'fuse-passthrough-ts',
    );
  });

  it('squashfs and squashfuse (references) show the same names, types, sizes and content', async () => {
    const essentials = (walk: WalkRecord[]) =>
      walk.map(
        (record) =>
          `${record.path} ${record.type} ${record.type === 'dir' ? '' : record.size} ${record.sha256 ?? record.target ?? ''}`,
      );
    for (const name of ['squashfs', 'squashfuse']) {
      const { walk } = await walkSetup(name);
      assert.deepEqual(essentials(walk), essentials(kernelWalk), name);
    }
  });

  it('remounts restart the daemon and show the same tree', async () => {
    for (const name of ['kernel-erofs', 'fuse-erofs-ts']) {
      const setup = findSetup(name)!.create(context());
      const first = await setup.mount();
      try {
        const cold = await setup.remount();
        if (name === 'fuse-erofs-ts')
          assert.notEqual(cold.daemonPids[0], first.daemonPids[0], 'a new daemon');
        assertSameLines(
          walkMountedTree(cold.mountpoint).map(inMilliseconds),
          kernelWalk.map(inMilliseconds),
          `${name} cold`,
        );
      } finally {
        await setup.unmount();
      }
      // The daemons dropped root, so they could not remove their records; unmounting did.
      assert.equal(existsSync(daemonRecordPath(first.mountpoint)), false, `${name} record`);
    }
  });

  it('a daemon killed with SIGKILL mid-walk fails the walk, and unmount leaves no mount or process', async () => {
    const setup = findSetup('fuse-erofs-ts')!.create(context());
    const mounted = await setup.mount();
    const daemon = mounted.daemonPids[0]!;
    // Stopped first, so the walk is surely waiting on it (a fast daemon could finish a walk first).
    process.kill(daemon, 'SIGSTOP');
    const walker = execa('find', [mounted.mountpoint, '-type', 'f', '-exec', 'sha256sum', '{}', '+'], {
      reject: false,
    });
    await new Promise((resolve) => setTimeout(resolve, 150));
    process.kill(daemon, 'SIGKILL');
    const result = await walker;
    assert.notEqual(result.exitCode, 0, 'the walk saw the daemon die');
    await setup.unmount();
    assert.ok(!readMountInfo().some((entry) => entry.mountpoint === mounted.mountpoint), 'mount gone');
    assert.ok(!isAlive(daemon), 'daemon gone');
  });
});

describe('fusebench mount: the erofs-utils 1.9.3 fixtures over FUSE equal their kernel walks', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fusebench-fuse-fixtures-'));
  const fuseMount = join(dir, 'fuse');
  const kernelMount = join(dir, 'kernel');
  before(() => {
    mkdirSync(fuseMount);
    mkdirSync(kernelMount);
  });
  after(async () => {
    await unmount(fuseMount).catch(() => undefined);
    await unmount(kernelMount).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  for (const name of [
    'plain-default',
    'plain-48bit',
    'plain-bs512',
    'plain-dot-omitted',
    'plain-xattr-prefix',
    'chunk-indexes',
    'deb-chunk',
  ]) {
    it(`${name}`, async () => {
      const image = unpackFixture(name, dir);
      const started = await fusebench(['mount', image, fuseMount, '--background']);
      assert.equal(started.exitCode, 0, String(started.stderr));
      try {
        assertSameLines(
          walkMountedTree(fuseMount).map(inMilliseconds),
          fixtureTruth(name).map(inMilliseconds),
          name,
        );
        if (name === 'plain-default') {
          // st_blocks and st_blksize are not in the walk format: compare them with the kernel mount directly.
          mountErofs(image, kernelMount);
          try {
            for (const record of fixtureTruth(name)) {
              const viaFuse = lstatSync(join(fuseMount, record.path));
              const viaKernel = lstatSync(join(kernelMount, record.path));
              assert.equal(viaFuse.blocks, viaKernel.blocks, `${record.path} st_blocks`);
            }
            assert.equal(statfsSync(fuseMount).blocks, statfsSync(kernelMount).blocks, 'statfs blocks');
            // f_files differs on purpose: the kernel reports ULLONG_MAX, the backend the image's inode count.
          } finally {
            await unmount(kernelMount);
          }
        }
        assert.throws(() => writeFileSync(join(fuseMount, 'new-file'), 'x'), { code: 'EROFS' });
      } finally {
        const stopped = await fusebench(['umount', fuseMount]);
        assert.equal(stopped.exitCode, 0, String(stopped.stderr));
      }
    });
  }
});
