/**
 * Cold reads through each daemon (a script, not a test): kernel EROFS, erofsfuse (when installed),
 * devfuse and fuse-native on one image at a time (uncompressed, then lz4; `--compression` also
 * takes lz4hc-1m, lz4hc with 1 MiB pclusters). Before every sample `sync` and drop_caches=3 empty
 * page, dentry and inode caches, so the image is read from the disk again.
 * Two ways, each its own table:
 *   fresh daemon    the setup is remounted before every sample (a new daemon: its own caches are
 *                   empty and its code not yet optimized, as right after a container start; the
 *                   start itself is not timed);
 *   running daemon  the daemons stay mounted (the steady state), after one warm-up pass over other
 *                   files that gets their code optimized; every sample then reads files of its
 *                   own, so no daemon's own cache (decoded pclusters, metadata blocks) holds
 *                   anything an earlier sample read.
 * Setups run interleaved (a fresh shuffled order for every kind in every round). The C loop (build/Release/fusebench-roundtrip) reads:
 *   seq-1m      the big files through with 1 MiB read(2)s: MiB/s;
 *   rand-4k     4 KiB preads at random page offsets of the big files: µs per read.
 * Medians over rounds, with the ratio to erofsfuse's median. Under each table, what each daemon
 * did during a sample (from /proc: CPU of all its threads, page faults, bytes it read from
 * storage), which shows where a fresh daemon's extra time goes: compiling, first touches of its
 * memory, and its own program's pages that drop_caches evicted. With both ways, a line per image
 * gives each daemon's warm-up: its median fresh sample's time and work minus its median running
 * sample's (the fresh and running samples read different files of the same size at different
 * times, so this is an estimate). Then, on its own line, the daemon
 * cold start: from exec to the mount answering its first stat, with the page cache dropped first
 * (process start, module load, the image's superblock and root), median of a few starts, beside
 * `node -e 0`'s own (the floor of any Node daemon's start).
 *
 * Run: npm run bench:cold [-- --files N --mib N --reads N --rounds N --compression none,lz4,lz4hc-1m
 *   --daemons fresh,running --setups a,b --threads N]
 */
import { execSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { daemonEnvironment } from '../../lib/daemon-environment.js';
import { mountErofs, unmount } from '../../lib/mounts.js';
import { SeededRandom } from '../../lib/random.js';
import { percentile } from '../../results/statistics.js';
import { dropKernelCaches } from '../../runners/kernel-caches.js';
import {
  type ProcessPaging,
  type ProcessSnapshot,
  processDelta,
  processPaging,
  snapshotProcess,
} from '../measure/proc.js';
import { benchArgs, listFlag, positiveIntegerFlag } from './bench-args.js';
import {
  cleanUpOnSignal,
  erofsfuseBinary,
  type MountedSetup,
  mountFusebench,
  mountPeer,
  projectPath,
  stopAll,
} from './mounts.js';
import { table } from './text-table.js';

const values = benchArgs(import.meta.filename, {
  files: { type: 'string', default: '3' },
  mib: { type: 'string', default: '24' },
  reads: { type: 'string', default: '2000' },
  rounds: { type: 'string', default: '3' },
  starts: { type: 'string', default: '5' },
  compression: { type: 'string', default: 'none,lz4' },
  daemons: { type: 'string', default: 'fresh,running' },
  setups: { type: 'string' },
  threads: { type: 'string', default: '1' },
});
const positive = (flag: string, text: string) => positiveIntegerFlag(import.meta.filename, flag, text);
const FILES = positive('--files', values.files!);
const MIB = positive('--mib', values.mib!);
const READS = positive('--reads', values.reads!);
const ROUNDS = positive('--rounds', values.rounds!);
const STARTS = positive('--starts', values.starts!);
/** The images --compression names: how mkfs.erofs builds each, and what the tables call it. */
const IMAGE_KINDS: Record<string, { title: string; mkfs: string[] }> = {
  none: { title: 'uncompressed', mkfs: [] },
  lz4: { title: 'lz4', mkfs: ['-zlz4'] },
  'lz4hc-1m': { title: 'lz4hc, 1 MiB pclusters', mkfs: ['-zlz4hc', '-C1048576'] },
};
const compressions = listFlag(
  import.meta.filename,
  '--compression',
  values.compression!,
  Object.keys(IMAGE_KINDS),
);
const daemonModes = listFlag(import.meta.filename, '--daemons', values.daemons!, ['fresh', 'running']);
const DRIVER = projectPath('build/Release/fusebench-roundtrip');
const kinds = ['read-seq-1m', 'read-random-4k'] as const;
type Kind = (typeof kinds)[number];

const work = mkdtempSync(join(tmpdir(), 'fusebench-cold-'));
cleanUpOnSignal(work);
const tree = join(work, 'tree');
const threads = ['--threads', values.threads!];

interface SetupDefinition {
  name: string;
  unavailable(): string | null;
  mount(image: string, mountpoint: string): Promise<MountedSetup>;
}

const definitions: SetupDefinition[] = [
  {
    name: 'kernel-erofs',
    unavailable: () => null,
    async mount(image, mountpoint) {
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
    mount: (image, mountpoint) =>
      mountPeer('erofsfuse', erofsfuseBinary()!, ['-f', image, mountpoint], mountpoint),
  },
  {
    name: 'devfuse',
    unavailable: () => null,
    mount: (image, mountpoint) =>
      mountFusebench('devfuse', image, mountpoint, ['--transport', 'devfuse', ...threads], work),
  },
  {
    name: 'fuse-native',
    unavailable: () => null,
    mount: (image, mountpoint) =>
      mountFusebench('fuse-native', image, mountpoint, ['--transport', 'fuse-native'], work),
  },
];

/** Compressible, text-like bytes (lz4 shrinks them to roughly half), from a seeded generator. */
function textLike(bytes: number, random: SeededRandom): Buffer {
  const words = Array.from({ length: 512 }, () =>
    Buffer.from(
      `${Array.from({ length: 3 + random.int(0, 7) }, () => String.fromCharCode(97 + random.int(0, 25))).join('')} `,
    ),
  );
  const out = Buffer.allocUnsafe(bytes);
  let at = 0;
  while (at < bytes) at += words[random.int(0, words.length - 1)]!.copy(out, at);
  return out;
}

/** Samples a round takes per setup: one per kind, each from its own directory of files. */
const SAMPLES = ROUNDS * kinds.length;
const sampleDirectory = (round: number, kind: Kind) => `s${round * kinds.length + kinds.indexOf(kind)}`;
/** The running daemons' warm-up reads: one file no sample reads. */
const WARMUP_DIRECTORY = 'warm';

async function makeImages(): Promise<Map<string, string>> {
  const random = new SeededRandom('cold-read');
  const directories = [
    { name: WARMUP_DIRECTORY, files: 1 },
    ...Array.from({ length: SAMPLES }, (_, sample) => ({ name: `s${sample}`, files: FILES })),
  ];
  for (const directory of directories) {
    mkdirSync(join(tree, directory.name), { recursive: true });
    for (let file = 0; file < directory.files; file++)
      writeFileSync(join(tree, directory.name, `big${file}`), textLike(MIB << 20, random));
  }
  const images = new Map<string, string>();
  for (const compression of compressions) {
    const image = join(work, `${compression}.erofs`);
    await execa('mkfs.erofs', ['--quiet', '-T1700000000', ...IMAGE_KINDS[compression]!.mkfs, image, tree]);
    images.set(compression, image);
  }
  // The tree is no longer needed: its dirty pages must not be what a drop_caches writes back.
  rmSync(tree, { recursive: true, force: true });
  execSync('sync');
  return images;
}

let samplesTaken = 0;

/** What a daemon did during one sample: all its threads' CPU, its page faults and storage reads. */
interface DaemonWork {
  cpuMs: number;
  faults: number;
  majorFaults: number;
  storageMiB: number;
}

/** A daemon's counters at one moment: the CPU of its threads, and its paging. */
function daemonCounters(pid: number): { cpu: ProcessSnapshot; paging: ProcessPaging | null } {
  return { cpu: snapshotProcess(pid), paging: processPaging(pid) };
}

/** What the daemon did between two moments; null when it was gone at either. */
function workBetween(
  before: ReturnType<typeof daemonCounters>,
  after: ReturnType<typeof daemonCounters>,
): DaemonWork | null {
  if (!before.paging || !after.paging) return null;
  const faults = (paging: ProcessPaging) => paging.minorFaults + paging.majorFaults;
  return {
    cpuMs: processDelta(before.cpu, after.cpu).cpuNs / 1e6,
    faults: faults(after.paging) - faults(before.paging),
    majorFaults: after.paging.majorFaults - before.paging.majorFaults,
    storageMiB: (after.paging.storageReadBytes - before.paging.storageReadBytes) / 2 ** 20,
  };
}

/**
 * One sample: the files of `directory` (big0 .. big(files-1)) read as `kind`, page cache dropped
 * first. The driver's figure (ns per MiB or per read), and what the daemon `pid` did meanwhile.
 */
async function driveCold(
  kind: Kind,
  directory: string,
  files = FILES,
  pid?: number,
): Promise<{ ns: number; daemon: DaemonWork | null }> {
  await dropKernelCaches();
  const seed = String(samplesTaken++);
  const before = pid === undefined ? null : daemonCounters(pid);
  const result = await execa(DRIVER, [kind, directory, String(files), String(READS), seed], {
    reject: false,
  });
  if (result.exitCode !== 0) throw new Error(`${kind} on ${directory}: ${String(result.stderr).trim()}`);
  const daemon = pid === undefined || !before ? null : workBetween(before, daemonCounters(pid));
  return { ns: Number(String(result.stdout).trim()), daemon };
}

/** Milliseconds from exec to the first stat answered through the new mount, caches dropped first. */
async function coldStart(definition: SetupDefinition, image: string, mountpoint: string): Promise<number> {
  await dropKernelCaches();
  const started = process.hrtime.bigint();
  const setup = await definition.mount(image, mountpoint);
  try {
    statSync(join(mountpoint, WARMUP_DIRECTORY, 'big0'));
    return Number(process.hrtime.bigint() - started) / 1e6;
  } finally {
    await setup.stop();
  }
}

/**
 * Milliseconds `node -e 0` takes from exec to exit with the daemons' environment, caches dropped:
 * the part of a Node daemon's start that is Node's own.
 */
async function nodeStart(): Promise<number> {
  await dropKernelCaches();
  const started = process.hrtime.bigint();
  await execa(process.execPath, ['-e', '0'], { env: daemonEnvironment(), extendEnv: false });
  return Number(process.hrtime.bigint() - started) / 1e6;
}

const mounted: MountedSetup[] = [];
try {
  const images = await makeImages();
  const selected = values.setups?.split(',');
  const available = definitions.filter((definition) => {
    if (selected && !selected.includes(definition.name)) return false;
    const reason = definition.unavailable();
    if (reason) process.stderr.write(`cold-read: skipping ${definition.name}: ${reason}\n`);
    return reason === null;
  });
  const random = new SeededRandom('cold-read-order');
  const output: string[] = [];
  for (const [compression, image] of images) {
    const imageName = IMAGE_KINDS[compression]!.title;
    /** Median time of one whole sample (ms), by mode, setup and kind. */
    const sampleMs = new Map<string, number>();
    /** The daemon's median work in one sample, by mode, setup and kind. */
    const sampleWork = new Map<string, DaemonWork>();
    for (const mode of daemonModes) {
      for (const definition of available) {
        const mountpoint = join(work, `mnt-${compression}-${mode}-${definition.name}`);
        mkdirSync(mountpoint);
        mounted.push(await definition.mount(image, mountpoint));
      }
      if (mode === 'running')
        for (const setup of mounted)
          for (const kind of kinds) await driveCold(kind, join(setup.mountpoint, WARMUP_DIRECTORY), 1);
      const samples = new Map<string, number[]>();
      const daemonWork = new Map<string, DaemonWork[]>();
      for (let round = 0; round < ROUNDS; round++) {
        for (const kind of kinds) {
          for (const index of random.shuffled(mounted.map((_, index) => index))) {
            if (mode === 'fresh') {
              const old = mounted[index]!;
              await old.stop();
              const definition = available.find((candidate) => candidate.name === old.name)!;
              mounted[index] = await definition.mount(image, old.mountpoint);
            }
            const setup = mounted[index]!;
            const key = `${setup.name}/${kind}`;
            const directory = join(setup.mountpoint, sampleDirectory(round, kind));
            const sample = await driveCold(kind, directory, FILES, setup.pid);
            samples.set(key, [...(samples.get(key) ?? []), sample.ns]);
            if (sample.daemon) daemonWork.set(key, [...(daemonWork.get(key) ?? []), sample.daemon]);
          }
        }
        process.stderr.write(`cold-read: ${compression}, ${mode} daemon: round ${round + 1}/${ROUNDS}\n`);
      }
      const reference = mounted.some((setup) => setup.name === 'erofsfuse') ? 'erofsfuse' : null;
      const cell = (
        setup: MountedSetup,
        kind: Kind,
        convert: (ns: number) => number,
        lowerIsBetter: boolean,
      ) => {
        const value = convert(percentile(samples.get(`${setup.name}/${kind}`)!, 0.5));
        if (!reference || setup.name === reference) return value.toFixed(1);
        const base = convert(percentile(samples.get(`${reference}/${kind}`)!, 0.5));
        // The ratio is always "time through this daemon / time through erofsfuse".
        const ratio = lowerIsBetter ? value / base : base / value;
        return `${value.toFixed(1)} (${ratio.toFixed(2)}x)`;
      };
      const toMibPerSecond = (nsPerMib: number) => 1e9 / nsPerMib;
      const toMicroseconds = (ns: number) => ns / 1000;
      output.push(
        `image: ${imageName}, ${FILES} files x ${MIB} MiB per sample; ${mode} daemon; cold (drop_caches=3 before each sample); medians of ${ROUNDS} rounds${reference ? '; (time ratio to erofsfuse)' : ''}`,
        table(
          ['cold read', ...mounted.map((setup) => setup.name)],
          [
            [
              'seq 1 MiB, MiB/s',
              ...mounted.map((setup) => cell(setup, 'read-seq-1m', toMibPerSecond, false)),
            ],
            [
              `random 4 KiB (${READS}), µs`,
              ...mounted.map((setup) => cell(setup, 'read-random-4k', toMicroseconds, true)),
            ],
          ],
        ),
      );
      const daemons = mounted.filter((setup) => daemonWork.has(`${setup.name}/${kinds[0]}`));
      const medianWork = (setup: MountedSetup, kind: Kind): DaemonWork => {
        const taken = daemonWork.get(`${setup.name}/${kind}`)!;
        const median = (pick: (one: DaemonWork) => number) => percentile(taken.map(pick), 0.5);
        return {
          cpuMs: median((one) => one.cpuMs),
          faults: median((one) => one.faults),
          majorFaults: median((one) => one.majorFaults),
          storageMiB: median((one) => one.storageMiB),
        };
      };
      for (const setup of daemons)
        for (const kind of kinds) sampleWork.set(`${mode}/${setup.name}/${kind}`, medianWork(setup, kind));
      const workCell = (setup: MountedSetup, kind: Kind) => {
        const { cpuMs, faults, majorFaults, storageMiB } = sampleWork.get(`${mode}/${setup.name}/${kind}`)!;
        return `${cpuMs.toFixed(0)} ms, ${faults.toFixed(0)} (${majorFaults.toFixed(0)}), ${storageMiB.toFixed(1)} MiB`;
      };
      if (daemons.length > 0)
        output.push(
          `daemon work per sample (medians): CPU of all its threads, page faults (major ones), MiB it read from storage (the image's pclusters and its own program's pages)`,
          table(
            ['daemon', ...daemons.map((setup) => setup.name)],
            [
              ['seq 1 MiB', ...daemons.map((setup) => workCell(setup, 'read-seq-1m'))],
              ['random 4 KiB', ...daemons.map((setup) => workCell(setup, 'read-random-4k'))],
            ],
          ),
        );
      for (const setup of mounted)
        for (const kind of kinds) {
          const median = percentile(samples.get(`${setup.name}/${kind}`)!, 0.5);
          const perSample = kind === 'read-seq-1m' ? FILES * MIB : READS;
          sampleMs.set(`${mode}/${setup.name}/${kind}`, (median * perSample) / 1e6);
        }
      for (const setup of mounted.splice(0).reverse()) {
        const said = await setup.stop();
        const summary = said?.split('\n').find((line) => /requests:/.test(line));
        if (summary) output.push(`${setup.name}: ${summary.replace(/^fusebench: /, '')}`);
      }
    }
    if (daemonModes.length === 2) {
      // What a fresh daemon pays on top of a running one for the same kind of sample: its first
      // requests in unoptimized code and first touches of its memory (the start itself excluded).
      const costs = available
        .filter((definition) => definition.name !== 'kernel-erofs')
        .map((definition) => {
          // A difference that rounds to zero is written 0, not -0 or +0.
          const signed = (value: number, unit: string, digits = 0) => {
            const magnitude = Math.abs(value).toFixed(digits);
            const sign = Number(magnitude) === 0 ? '' : value > 0 ? '+' : '-';
            return `${sign}${magnitude}${unit}`;
          };
          const extra = (kind: Kind) => {
            const key = `${definition.name}/${kind}`;
            const time = signed(sampleMs.get(`fresh/${key}`)! - sampleMs.get(`running/${key}`)!, ' ms');
            const fresh = sampleWork.get(`fresh/${key}`);
            const running = sampleWork.get(`running/${key}`);
            if (!fresh || !running) return time;
            return `${time} (CPU ${signed(fresh.cpuMs - running.cpuMs, ' ms')}, faults ${signed(fresh.faults - running.faults, '')}, storage ${signed(fresh.storageMiB - running.storageMiB, ' MiB', 1)})`;
          };
          return `${definition.name} seq ${extra('read-seq-1m')}, random ${extra('read-random-4k')}`;
        });
      output.push(
        `fresh-daemon warm-up, ${imageName} (median fresh sample - median running sample; the daemon's work likewise): ${costs.join('; ')}`,
      );
    }
  }
  const image = images.values().next().value!;
  const starts: string[] = [];
  for (const definition of available.filter((candidate) => candidate.name !== 'kernel-erofs')) {
    const mountpoint = join(work, `mnt-start-${definition.name}`);
    mkdirSync(mountpoint);
    const times: number[] = [];
    for (let start = 0; start < STARTS; start++) times.push(await coldStart(definition, image, mountpoint));
    starts.push(`${definition.name} ${percentile(times, 0.5).toFixed(0)} ms`);
  }
  const nodeTimes: number[] = [];
  for (let start = 0; start < STARTS; start++) nodeTimes.push(await nodeStart());
  output.push(
    `daemon cold start (exec to first stat answered, caches dropped, median of ${STARTS}): ${starts.join(', ')}; node -e 0 alone (exec to exit) ${percentile(nodeTimes, 0.5).toFixed(0)} ms`,
  );
  output.push(`load at the end: ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
  process.stdout.write(`${output.join('\n')}\n`);
} finally {
  await stopAll(mounted, work);
}
