import assert from 'node:assert/strict';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { transportNames } from '../fuse/transports/index.js';
import { isMounted, unmount } from '../lib/mounts.js';
import { MountFlags, syscalls, UnmountFlags } from '../lib/syscalls.js';
import { fuseIoUringEnabled, setFuseIoUring } from '../runners/fuse-uring.js';
import { isAlive, stopProcess } from '../runners/processes.js';
import { fusebench } from './helpers/cli.js';
import { fixtureTruth, unpackFixture } from './helpers/erofs-fixtures.js';

/**
 * Concurrent readers through `fusebench mount`, byte for byte against the kernel's EROFS mount of
 * the same image: 1, 4 and 16 reader processes, each transport (and devfuse with 4 threads on one
 * shared or four cloned /dev/fuse descriptors), plain, lz4 and lzma images. Each
 * cell mounts a fresh daemon, so the first read of every page reaches it while others are in
 * flight. A transport that answers one open file's READ from another file shows up as wrong bytes.
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const READER = fileURLToPath(new URL('./helpers/concurrent-reader.js', import.meta.url));
const IMAGES = ['plain-default', 'lz4', 'lzma'];
const READERS = [1, 4, 16];
/**
 * Every transport with its default one serving thread at each reader count, and devfuse's
 * threads at the most readers, all on the mount's descriptor and each on its own clone of it.
 */
const cells = [
  ...transportNames().flatMap((transport) =>
    READERS.map((readers) => ({ transport, threads: [] as string[], readers })),
  ),
  ...['--shared-fd', '--clone-fd'].map((fds) => ({
    transport: 'devfuse',
    threads: ['--threads', '4', fds],
    readers: Math.max(...READERS),
  })),
];
/** Reads per cell, split over its readers, so every cell does the same work. */
const READS_PER_CELL = 1600;

const root = mkdtempSync(join(tmpdir(), 'fusebench-concurrent-'));
const mounted: string[] = [];
const daemons: number[] = [];

async function mountKernel(image: string, mountpoint: string): Promise<void> {
  mkdirSync(mountpoint, { recursive: true });
  syscalls.mount(image, mountpoint, 'erofs', MountFlags.MS_RDONLY, '');
  mounted.push(mountpoint);
}

// devfuse-uring serves through its io_uring queues only while the fuse module allows it.
let enableUringBefore: boolean | null = null;
before(() => {
  enableUringBefore = fuseIoUringEnabled();
  if (enableUringBefore !== null) setFuseIoUring(true);
});
after(() => {
  if (enableUringBefore !== null) setFuseIoUring(enableUringBefore);
});

describe('concurrent reads are byte-exact against the kernel mount', () => {
  before(() => mkdirSync(root, { recursive: true }));

  after(async () => {
    for (const pid of daemons) await stopProcess(pid, 1000);
    for (const mountpoint of mounted.reverse()) if (isMounted(mountpoint)) await unmount(mountpoint);
    rmSync(root, { recursive: true, force: true });
  });

  for (const name of IMAGES) {
    describe(name, () => {
      let image = '';
      const kernelMount = join(root, `${name}-kernel`);
      // Files larger than a page, so reads cross pages and pclusters.
      let files: string[] = [];
      before(async () => {
        image = unpackFixture(name, root);
        await mountKernel(image, kernelMount);
        files = fixtureTruth(name)
          .filter((record) => record.type === 'file' && record.size > 4096)
          .map((record) => `${record.path.slice(1)}:${record.size}`);
        assert.ok(files.length >= 10, `${files.length} files over 4 KiB in ${name}`);
      });

      for (const { transport, threads, readers } of cells) {
        const served = `${transport}${threads.length ? ` ${threads.join(' ')}` : ''}`;
        it(`${served}, ${readers} reader${readers > 1 ? 's' : ''}: no wrong or short read`, async (t) => {
          const mountpoint = join(root, `${name}-${served.replace(/ /g, '')}-${readers}`);
          const factsFile = `${mountpoint}.facts.json`;
          mkdirSync(mountpoint);
          // The module parameter is machine-wide (other runs may turn it off): set it for this mount.
          if (transport === 'devfuse-uring' && enableUringBefore !== null) setFuseIoUring(true);
          const started = await fusebench([
            'mount',
            image,
            mountpoint,
            '--transport',
            transport,
            ...threads,
            '--background',
            '--facts-file',
            factsFile,
          ]);
          assert.equal(started.exitCode, 0, String(started.stderr));
          const pid = Number(String(started.stdout).trim());
          daemons.push(pid);
          mounted.push(mountpoint);
          try {
            if (transport === 'devfuse-uring') {
              // Byte-exact through the ring itself, not through the /dev/fuse fallback.
              const facts = JSON.parse(readFileSync(factsFile, 'utf8')) as {
                requestChannel: string;
                ioUringRefused?: string;
              };
              assert.match(facts.requestChannel, /^io_uring: /, facts.ioUringRefused);
            }
            const results = await Promise.all(
              Array.from({ length: readers }, (_, index) =>
                execa(process.execPath, [
                  READER,
                  kernelMount,
                  mountpoint,
                  `${name}-${served}-${readers}-${index}`,
                  String(READS_PER_CELL / readers),
                  ...files,
                ]),
              ),
            );
            const totals = results
              .map((result) => JSON.parse(result.stdout) as { reads: number; wrong: number; short: number })
              .reduce((sum, one) => ({
                reads: sum.reads + one.reads,
                wrong: sum.wrong + one.wrong,
                short: sum.short + one.short,
              }));
            t.diagnostic(`${totals.reads} reads, ${totals.wrong} wrong, ${totals.short} short`);
            assert.equal(totals.reads, READS_PER_CELL);
            assert.deepEqual({ wrong: totals.wrong, short: totals.short }, { wrong: 0, short: 0 });
          } finally {
            const stopped = await fusebench(['umount', mountpoint]);
            assert.equal(stopped.exitCode, 0, String(stopped.stderr));
          }
        });
      }
    });
  }
});

describe('a lazy unmount keeps serving open files until the last one is closed, as the kernel mount does', () => {
  const file = 'data/big_text';
  before(() => {
    mkdirSync(root, { recursive: true });
    unpackFixture('plain-default', root);
  });

  after(() => {
    // Removed only when nothing is mounted inside it (a failed cell may have left a mount).
    if (!readFileSync('/proc/mounts', 'utf8').includes(` ${root}/`))
      rmSync(root, { recursive: true, force: true });
  });

  for (const transport of transportNames()) {
    it(transport, async () => {
      const mountpoint = join(root, `lazy-${transport}`);
      mkdirSync(mountpoint);
      const started = await fusebench([
        'mount',
        join(root, 'plain-default.erofs'),
        mountpoint,
        '--transport',
        transport,
        '--background',
      ]);
      assert.equal(started.exitCode, 0, String(started.stderr));
      const pid = Number(String(started.stdout).trim());
      daemons.push(pid);
      const fd = openSync(join(mountpoint, file), 'r');
      try {
        syscalls.umount2(mountpoint, UnmountFlags.MNT_DETACH);
        assert.ok(!isMounted(mountpoint), 'the lazy unmount detached the mount');
        // Longer than any poll of the daemon's: it must still be there.
        await sleep(3500);
        assert.ok(isAlive(pid), 'the daemon still serves the open file');
        const bytes = Buffer.alloc(8192);
        assert.equal(readSync(fd, bytes, 0, bytes.length, 100_000), bytes.length);
      } finally {
        closeSync(fd);
      }
      const deadline = Date.now() + 10_000;
      while (isAlive(pid) && Date.now() < deadline) await sleep(100);
      assert.ok(!isAlive(pid), 'the daemon ended once the last open file was closed');
    });
  }
});
