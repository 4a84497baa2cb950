import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { type PreparedDataset, prepareDataset } from '../datasets/dataset.js';
import { defaultImageOptions } from '../datasets/image.js';
import { isMounted } from '../lib/mounts.js';
import { formatWalkRecord, type WalkRecord, walkMountedTree } from '../lib/tree-walk.js';
import { type CleanupStack, createRun, findLeftovers } from '../runners/cleanup.js';
import { ENABLE_URING, enableFuseUring, ioUringUse } from '../runners/fuse-uring.js';
import { peerSetupDefinitions, URING_SUFFIX } from '../runners/peer-setups.js';
import { devFuseDescriptors, isAlive, processStartTime, threadNames } from '../runners/processes.js';
import { findSetup } from '../runners/registry.js';
import { defaultSetupContext, type SetupContext } from '../runners/setup.js';
import { fusebench } from './helpers/cli.js';
import { unwindRun } from './helpers/run-dir.js';

/**
 * The reference daemons (erofsfuse, passthrough_hp with and without kernel passthrough, each
 * also over io_uring), mounted for real: each shows the kernel's tree, dies by SIGKILL without
 * leaving anything behind, and the io_uring variants really serve from rings. Under CI=true every
 * peer must run (setup.sh installs them); elsewhere a missing one is skipped with its reason.
 */

/** One dataset cache for the whole file: the tiny tree (seed 5) and its images are built once. */
const cache = mkdtempSync(join(tmpdir(), 'fusebench-peers-'));
after(() => rmSync(cache, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const readEnableUring = () => readFileSync(ENABLE_URING, 'utf8').trim();

function assertSameLines(actual: string[], expected: string[], label: string): void {
  assert.equal(actual.length, expected.length, `${label}: number of paths`);
  for (let index = 0; index < expected.length; index++)
    assert.equal(actual[index], expected[index], `${label}: line ${index + 1}`);
}

/** What a host filesystem decides itself (inode numbers, directory sizes) left out, the rest kept. */
function hostView(record: WalkRecord): string {
  return formatWalkRecord({ ...record, ino: 0, size: record.type === 'dir' ? 0 : record.size });
}

/** The kernel's record as erofsfuse numbers inodes: the root is FUSE_ROOT_ID (1), the rest nid + 1. */
function asErofsfuseNumbers(record: WalkRecord): string {
  return formatWalkRecord({ ...record, ino: record.path === '/' ? 1 : record.ino + 1 });
}

/** Whether a peer may be skipped here: never under CI, where setup.sh has installed every peer. */
function skipUnlessCi(t: TestContext, reason: string): void {
  assert.ok(!process.env.CI, `under CI every peer must run: ${reason}`);
  t.skip(reason);
}

describe('peer setups: erofsfuse and passthrough_hp beside the kernel, mounted for real', () => {
  let dataset: PreparedDataset;
  let runDir: string;
  let stack: CleanupStack;
  let kernelWalk: WalkRecord[];
  let nativeWalk: WalkRecord[];
  const uringBefore = existsSync(ENABLE_URING) ? readEnableUring() : null;

  const context = () => defaultSetupContext(dataset, runDir, stack);

  before(async () => {
    dataset = await prepareDataset({ kind: 'profile', profile: 'tiny', seed: 5 }, defaultImageOptions, cache);
    ({ runDir, stack } = createRun(`test-peers-${process.pid}`));
    const kernel = findSetup('kernel-erofs')!.create(context());
    kernelWalk = walkMountedTree((await kernel.mount()).mountpoint);
    await kernel.unmount();
    nativeWalk = walkMountedTree(dataset.sourceDir);
    assert.ok(kernelWalk.length > 300);
  });

  after(async () => {
    await unwindRun(stack, runDir);
    if (uringBefore !== null) assert.equal(readEnableUring(), uringBefore, 'enable_uring as it was');
  });

  for (const definition of peerSetupDefinitions) {
    const overIoUring = definition.name.endsWith(URING_SUFFIX);
    it(`${definition.name}: walk equals the kernel's, ${overIoUring ? 'requests come over io_uring, ' : ''}a remount brings a new daemon, SIGKILL leaves no mount or daemon`, async (t) => {
      const reason = await definition.unavailable(context());
      if (reason) return skipUnlessCi(t, reason);
      const setup = definition.create(context());
      const mounted = await setup.mount();
      const daemon = mounted.daemonPids[0]!;
      const ringsBefore = ioUringUse(daemon);
      const walk = walkMountedTree(mounted.mountpoint);
      if (definition.name.startsWith('erofsfuse'))
        assertSameLines(walk.map(formatWalkRecord), kernelWalk.map(asErofsfuseNumbers), definition.name);
      else {
        // passthrough_hp shows the source tree: its inode numbers too, and the image's content.
        assertSameLines(walk.map(formatWalkRecord), nativeWalk.map(formatWalkRecord), definition.name);
        assertSameLines(walk.map(hostView), kernelWalk.map(hostView), `${definition.name} vs kernel`);
      }
      assert.equal(typeof mounted.facts['init.max_write'], 'string', 'the INIT reply is recorded');
      const rings = ioUringUse(daemon);
      if (overIoUring) {
        assert.equal(mounted.facts.fuseEnableUring?.toString().startsWith('Y'), true);
        assert.ok(rings.rings > 0, 'the daemon holds io_uring rings');
        assert.equal(mounted.facts.ioUringRings, rings.rings);
        assert.ok(
          rings.completions - ringsBefore.completions >= walk.length,
          `the walk's requests came over the rings (${rings.completions - ringsBefore.completions} for ${walk.length} paths)`,
        );
      } else {
        assert.equal(rings.rings, 0, 'no io_uring without the option');
      }

      // Cold rounds remount: a new daemon, the same tree, the same facts (no second probe mount).
      const cold = await setup.remount();
      assert.notEqual(cold.daemonPids[0], daemon, 'a new daemon');
      assert.deepEqual(walkMountedTree(cold.mountpoint).map(formatWalkRecord), walk.map(formatWalkRecord));
      assert.equal(isAlive(daemon), false, 'the first daemon ended with its mount');
      assert.equal(cold.facts['init.max_write'], mounted.facts['init.max_write']);
      assert.equal(cold.facts.fuseEnableUring, mounted.facts.fuseEnableUring);
      if (overIoUring)
        assert.ok(ioUringUse(cold.daemonPids[0]!).rings > 0, 'the new daemon serves over io_uring too');

      process.kill(cold.daemonPids[0]!, 'SIGKILL');
      await sleep(50);
      // A dead connection answers ENOTCONN; over io_uring the ring's teardown aborts the request
      // (ECONNABORTED, or ECANCELED when it was in flight).
      assert.throws(
        () => statfsSync(mounted.mountpoint),
        (error: NodeJS.ErrnoException) =>
          ['ENOTCONN', 'ECONNABORTED', 'ECANCELED'].includes(error.code ?? ''),
      );
      await setup.unmount();
      assert.equal(isMounted(mounted.mountpoint), false, 'mount gone');
      assert.equal(processStartTime(cold.daemonPids[0]!), null, 'daemon gone (reaped)');
    });
  }
});

describe('peer daemons with --threads and --clone-fd, counted in /proc', () => {
  let dataset: PreparedDataset;
  let runDir: string;
  let stack: CleanupStack;

  before(async () => {
    dataset = await prepareDataset({ kind: 'profile', profile: 'tiny', seed: 5 }, defaultImageOptions, cache);
    ({ runDir, stack } = createRun(`test-peer-threads-${process.pid}`));
  });
  after(() => unwindRun(stack, runDir));

  for (const name of ['fuse-passthrough-hp-nopt', 'erofsfuse']) {
    it(`${name}: one thread on one descriptor with --threads 1; with --threads 3 --clone-fd, workers started under load, each on its own clone`, async (t) => {
      const definition = findSetup(name)!;
      const single = defaultSetupContext(dataset, runDir, stack);
      const reason = await definition.unavailable(single);
      if (reason) return skipUnlessCi(t, reason);
      const one = definition.create(single);
      const mountedOne = await one.mount();
      assert.equal(mountedOne.facts.daemonThreadsAtMount, 1);
      assert.equal(mountedOne.facts.devFuseDescriptorsAtMount, 1);
      assert.match(String(mountedOne.facts.threading), /single-threaded/);
      await one.unmount();

      const context = { ...single, fuse: { ...single.fuse, threads: 3, cloneFd: true } };
      const setup = definition.create(context);
      const mounted = await setup.mount();
      const daemon = mounted.daemonPids[0]!;
      assert.match(String(mounted.facts.threading), /multithreaded loop.*clone_fd/);
      // Eight clients at once keep every worker busy, so libfuse starts more.
      await Promise.all(
        Array.from({ length: 8 }, () =>
          execa('sh', [
            '-c',
            'for i in 1 2 3 4 5 6 7 8; do find "$1" -exec stat {} + > /dev/null; done',
            'sh',
            mounted.mountpoint,
          ]),
        ),
      );
      const threads = threadNames(daemon).length;
      t.diagnostic(`${threads} threads, ${devFuseDescriptors(daemon)} /dev/fuse descriptors`);
      assert.ok(threads > 2, `libfuse started workers under load (${threads} threads)`);
      // The main thread holds the session's descriptor; each worker its own clone.
      assert.equal(devFuseDescriptors(daemon), threads);
      if (name === 'fuse-passthrough-hp-nopt')
        assert.ok(threads <= 4, 'at most --num-threads workers and main');
      await setup.unmount();
    });
  }
});

describe('a run killed while a peer serves over io_uring', () => {
  const script = fileURLToPath(new URL('./helpers/peer-run.js', import.meta.url));

  it('fusebench cleanup stops its daemon, unmounts, and puts enable_uring back', async (t) => {
    const definition = findSetup('erofsfuse+uring')!;
    const reason = await definition.unavailable({} as SetupContext);
    if (reason) return skipUnlessCi(t, reason);
    const before = readEnableUring();
    const child = execa(process.execPath, [script, definition.name, cache], {
      reject: false,
      stdout: 'pipe',
    });
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout!.once('data', (chunk: Buffer) => resolve(chunk.toString().trim()));
      void child.then((result) => reject(new Error(`helper ended: ${String(result.stderr).slice(-500)}`)));
    });
    const { mountpoint, daemonPid } = JSON.parse(line) as { mountpoint: string; daemonPid: number };
    assert.equal(readEnableUring(), 'Y');
    child.kill('SIGKILL');
    await child;
    // The journal holds the old value only when the run turned the parameter on.
    const journaled = findLeftovers().some((leftover) =>
      leftover.resources.some((resource) => resource.kind === 'module-parameter'),
    );
    assert.equal(journaled, before !== 'Y');
    assert.ok(processStartTime(daemonPid) !== null, 'the peer daemon outlived its run');

    const cleaned = await fusebench(['cleanup']);
    assert.equal(cleaned.exitCode, 0, String(cleaned.stderr));
    assert.equal(isMounted(mountpoint), false);
    assert.equal(isAlive(daemonPid), false);
    assert.equal(readEnableUring(), before);
  });

  it('unwinding puts enable_uring back only when the run turned it on', async (t) => {
    if (!existsSync(ENABLE_URING)) return skipUnlessCi(t, `no ${ENABLE_URING} on this kernel`);
    const before = readEnableUring();
    const { stack } = createRun(`test-enable-uring-${process.pid}`);
    assert.equal(enableFuseUring(stack), before);
    assert.equal(readEnableUring(), 'Y');
    assert.equal(enableFuseUring(stack), before, 'a second setup of the run learns the value before the run');
    assert.deepEqual(await stack.unwind(), []);
    assert.equal(readEnableUring(), before);
  });
});

describe("--image: a user's own image", () => {
  it('is served as it is, and its tree extracted by fsck.erofs has the content hash of the tree it was built from', async () => {
    const built = await prepareDataset(
      { kind: 'profile', profile: 'tiny', seed: 5 },
      defaultImageOptions,
      cache,
    );
    const user = await prepareDataset({ kind: 'image', path: built.image.path }, defaultImageOptions, cache);
    assert.equal(user.image.path, built.image.path);
    assert.deepEqual(user.image.args, []);
    assert.notEqual(user.sourceDir, built.sourceDir);
    assert.equal(user.manifest.contentHash, built.manifest.contentHash);
  });
});

describe('fusebench doctor', () => {
  it('mounts every peer for real, reads a file through it, and names its version', async (t) => {
    const doctor = await fusebench(['doctor']);
    const output = String(doctor.stdout);
    for (const definition of peerSetupDefinitions) {
      const line = output.split('\n').find((text) => text.split(/\s+/)[1] === definition.name);
      assert.ok(line, `${definition.name} has a line`);
      if (line.startsWith('skip')) {
        skipUnlessCi(t, line);
        continue;
      }
      assert.match(line, /^ok {2}.* \d+\.\d+\.\d+\S* \(.*libfuse .*\): mounted, file read back/, line);
      if (definition.name.endsWith(URING_SUFFIX)) assert.match(line, /over \d+ io_uring rings/);
    }
    assert.equal(doctor.exitCode, 0, output);
  });
});

describe('setups a run cannot serve', () => {
  const withoutPeers = { env: { FUSEBENCH_PEERS: join(cache, 'no-peers') } };
  const tinyRun = [
    'run',
    '--profile',
    'tiny',
    '--workloads',
    'stat-all',
    '--cache',
    'warm',
    '--repetitions',
    '1',
  ];
  const common = [
    ...tinyRun,
    '--seed',
    '5',
    '--warmup',
    '0',
    '--no-trace',
    '--no-floor',
    '--cache-dir',
    cache,
  ];

  it('one named with --setups fails the run with one line saying why', async () => {
    const output = join(cache, 'named.json');
    const run = await fusebench(
      [...common, '--setups', 'kernel-erofs,erofsfuse', '--output', output],
      withoutPeers,
    );
    assert.equal(run.exitCode, 1);
    const stderr = String(run.stderr);
    assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
    assert.match(
      stderr.trim().split('\n').at(-1)!,
      /^fusebench: setup erofsfuse cannot run here: erofsfuse is not installed: .*setup\.sh/,
    );
  });

  it('a default one is skipped with a line saying why and how to get it, and the run goes on', async () => {
    const output = join(cache, 'default.json');
    const run = await fusebench([...common, '--output', output], withoutPeers);
    assert.equal(run.exitCode, 0, String(run.stderr));
    assert.match(
      String(run.stderr),
      /skipping erofsfuse: erofsfuse is not installed: \.\/setup\.sh builds it/,
    );
    const result = JSON.parse(readFileSync(output, 'utf8')) as { setups: { name: string; status: string }[] };
    assert.deepEqual(
      result.setups.filter((setup) => setup.status !== 'ok').map((setup) => setup.name),
      ['erofsfuse'],
    );
  });
});
