/**
 * What one FUSE request costs through each daemon (a script, not a test): kernel EROFS, erofsfuse
 * (when installed), devfuse, devfuse over io_uring and fuse-native, all mounted at once on one
 * image and driven interleaved (a fresh shuffled setup order for every kind in every round) by a
 * C loop (build/Release/fusebench-roundtrip) that prints the mean ns per operation. Per operation:
 *   getxattr        one GETXATTR (FUSE caches no xattrs);
 *   open+close      OPEN + RELEASE (names and attributes cached; FLUSH once, until ENOSYS);
 *   stat            one LOOKUP: each file stat'ed once right after the dentry cache was dropped,
 *                   which stands for entry and attr timeouts 0 (erofsfuse's are fixed at infinity);
 *   stat-missing    the same missing name, again and again (cached as a negative entry, or not);
 *   read-4k         one READ of 4 KiB at a random offset, O_DIRECT (the kernel's file-backed EROFS
 *                   takes no O_DIRECT: shown as -).
 * Daemons keep their defaults (a day of entry/attr/negative timeouts where they take them).
 * Medians over rounds, and each daemon's ratio to erofsfuse's median; then the same for the CPU
 * time the daemon's threads ran per operation (/proc/PID/task/TID/schedstat over the timed loop):
 * what the daemon itself costs, less sensitive than latency to what else the machine runs.
 *
 * Run: npm run bench:roundtrip [-- --files N --count N --rounds N --setups a,b]
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { mountErofs, unmount } from '../../lib/mounts.js';
import { SeededRandom } from '../../lib/random.js';
import { percentile } from '../../results/statistics.js';
import { processDelta, snapshotProcess } from '../measure/proc.js';
import { benchArgs, positiveIntegerFlag } from './bench-args.js';
import {
  cleanUpOnSignal,
  erofsfuseBinary,
  type MountedSetup,
  mountFusebench,
  mountPeer,
  projectPath,
  stopAll,
} from './mounts.js';
import { makeRoundtripImage } from './roundtrip-image.js';
import { table } from './text-table.js';

const values = benchArgs(import.meta.filename, {
  files: { type: 'string', default: '400' },
  count: { type: 'string', default: '4000' },
  rounds: { type: 'string', default: '9' },
  setups: { type: 'string' },
});
const positive = (flag: string, text: string) => positiveIntegerFlag(import.meta.filename, flag, text);
const FILES = positive('--files', values.files!);
const COUNT = positive('--count', values.count!);
const ROUNDS = positive('--rounds', values.rounds!);
const DRIVER = projectPath('build/Release/fusebench-roundtrip');

const kinds = ['getxattr', 'open-close', 'stat', 'stat-missing', 'read-direct-4k'] as const;
type Kind = (typeof kinds)[number];
const labels: Record<Kind, string> = {
  getxattr: 'getxattr',
  'open-close': 'open+close',
  stat: 'stat (LOOKUP)',
  'stat-missing': 'stat of a missing name',
  'read-direct-4k': 'uncached 4 KiB read',
};

interface SetupDefinition {
  name: string;
  /** Why it cannot run here, or null. */
  unavailable(): string | null;
  mount(mountpoint: string): Promise<MountedSetup>;
}

const work = mkdtempSync(join(tmpdir(), 'fusebench-roundtrip-'));
cleanUpOnSignal(work);
const tree = join(work, 'tree');
const image = join(work, 'tree.erofs');

const definitions: SetupDefinition[] = [
  {
    name: 'kernel-erofs',
    unavailable: () => null,
    async mount(mountpoint) {
      mountErofs(image, mountpoint);
      return {
        name: 'kernel-erofs',
        mountpoint,
        facts: {},
        stop: async () => void (await unmount(mountpoint)),
      };
    },
  },
  {
    name: 'erofsfuse',
    unavailable: () => (erofsfuseBinary() ? null : 'erofsfuse is not installed'),
    mount: (mountpoint) => mountPeer('erofsfuse', erofsfuseBinary()!, ['-f', image, mountpoint], mountpoint),
  },
  {
    name: 'devfuse',
    unavailable: () => null,
    mount: (mountpoint) => mountFusebench('devfuse', image, mountpoint, ['--transport', 'devfuse'], work),
  },
  {
    name: 'devfuse-uring',
    unavailable: () => null,
    mount: (mountpoint) =>
      mountFusebench('devfuse-uring', image, mountpoint, ['--transport', 'devfuse-uring'], work, true),
  },
  {
    name: 'fuse-native',
    unavailable: () => null,
    mount: (mountpoint) =>
      mountFusebench('fuse-native', image, mountpoint, ['--transport', 'fuse-native'], work),
  },
];

async function runDriver(kind: Kind, mountpoint: string, count: number) {
  return execa(DRIVER, [kind, mountpoint, String(FILES), String(count)], { reject: false });
}

interface Sample {
  /** Mean wall-clock ns per operation, as the driver timed it. */
  ns: number;
  /** The daemon's CPU ns per operation over the driver's run (NaN without a daemon). */
  daemonCpuNs: number;
}

async function driveOnce(kind: Kind, setup: MountedSetup): Promise<Sample> {
  const { mountpoint, pid } = setup;
  // stat times first lookups; every other kind must not pay a LOOKUP for a dentry some setup's
  // stat sample dropped, so each of them first looks every file up, untimed.
  if (kind === 'stat') writeFileSync('/proc/sys/vm/drop_caches', '2');
  else await runDriver('stat', mountpoint, FILES);
  const before = pid ? snapshotProcess(pid) : null;
  const result = await runDriver(kind, mountpoint, COUNT);
  const cpuNs = before && pid ? processDelta(before, snapshotProcess(pid)).cpuNs : Number.NaN;
  if (result.exitCode !== 0) throw new Error(`${kind} on ${mountpoint}: ${String(result.stderr).trim()}`);
  const ns = Number(String(result.stdout).trim());
  return { ns, daemonCpuNs: cpuNs / (kind === 'stat' ? Math.min(COUNT, FILES) : COUNT) };
}

const mounted: MountedSetup[] = [];
try {
  await makeRoundtripImage(tree, image, FILES);
  const selected = values.setups?.split(',');
  for (const definition of definitions) {
    if (selected && !selected.includes(definition.name)) continue;
    const reason = definition.unavailable();
    if (reason) {
      process.stderr.write(`roundtrip: skipping ${definition.name}: ${reason}\n`);
      continue;
    }
    const mountpoint = join(work, `mnt-${definition.name}`);
    mkdirSync(mountpoint);
    mounted.push(await definition.mount(mountpoint));
  }
  // Warm-up: page cache of the image, the daemons' own caches, JIT; not recorded.
  for (const setup of mounted) for (const kind of kinds) await driveOnce(kind, setup);
  const samples = new Map<string, Sample[]>();
  const random = new SeededRandom('roundtrip');
  const loadBefore = readFileSync('/proc/loadavg', 'utf8').trim();
  for (let round = 0; round < ROUNDS; round++) {
    for (const kind of kinds) {
      for (const setup of random.shuffled(mounted)) {
        const key = `${setup.name}/${kind}`;
        samples.set(key, [...(samples.get(key) ?? []), await driveOnce(kind, setup)]);
      }
    }
    process.stderr.write(`roundtrip: round ${round + 1}/${ROUNDS}\n`);
  }
  const reference = mounted.some((setup) => setup.name === 'erofsfuse') ? 'erofsfuse' : null;
  const median = (name: string, kind: Kind, field: keyof Sample) =>
    percentile(
      samples.get(`${name}/${kind}`)!.map((sample) => sample[field]),
      0.5,
    );
  const tableOf = (title: string, field: keyof Sample) =>
    table(
      [title, ...mounted.map((setup) => setup.name)],
      kinds.map((kind) => {
        const base = reference ? median(reference, kind, field) : null;
        return [
          labels[kind],
          ...mounted.map((setup) => {
            const value = median(setup.name, kind, field);
            if (Number.isNaN(value)) return '-';
            const ratio = base && setup.name !== reference ? ` (${(value / base).toFixed(2)}x)` : '';
            return `${(value / 1000).toFixed(2)}${ratio}`;
          }),
        ];
      }),
    );
  const load = readFileSync('/proc/loadavg', 'utf8').trim();
  process.stdout.write(
    `files=${FILES} ops per sample=${COUNT} rounds=${ROUNDS}; medians over rounds${reference ? ', (ratio to erofsfuse)' : ''}; load before: ${loadBefore}; after: ${load}\n`,
  );
  process.stdout.write(`${tableOf('µs per operation', 'ns')}\n\n`);
  process.stdout.write(`${tableOf('daemon CPU µs per op', 'daemonCpuNs')}\n`);
  for (const setup of mounted) {
    const channel = setup.facts.requestChannel;
    if (channel) process.stdout.write(`${setup.name}: ${String(channel)}\n`);
  }
} finally {
  await stopAll(mounted, work);
}
