/**
 * Daemon threads against concurrent clients (a script, not a test): devfuse with 1 (its main
 * thread, as erofsfuse-s serves on its own), 2 and 4 serving threads, all reading the mount's one /dev/fuse descriptor (shared) or each its own clone
 * of it (FUSE_DEV_IOC_CLONE), beside erofsfuse single-threaded and with libfuse's multithreaded
 * loop (shared and clone_fd), all mounted at once on one image. 1, 2 and 4 client processes
 * (build/Release/fusebench-roundtrip with PROCESSES, released together) run one kind of operation
 * each; setups are interleaved (a fresh shuffled order for every kind and process count in every
 * round). Per cell, medians over rounds of:
 *   µs/op      mean latency of one operation as each client sees it;
 *   kop/s      operations per second of all clients together;
 *   daemon     the daemon's CPU µs per operation (all its threads' schedstat run time) and its
 *              voluntary context switches per operation (sleeps: a thread blocking in read(2)).
 * Ratios are to devfuse with one thread at the same process count.
 *
 * Setups are named devfuse-t1, devfuse-tN-shared, devfuse-tN-clone, erofsfuse-s,
 * erofsfuse-mtN-shared and erofsfuse-mtN-clone (N the largest --threads, libfuse's max_threads).
 *
 * Run: npm run bench:threads [-- --files N --count N --rounds N --processes 1,2,4 --threads 1,2,4
 *      --kinds getxattr,open-close,read-direct-4k --setups NAME,NAME]
 */
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { SeededRandom } from '../../lib/random.js';
import { percentile } from '../../results/statistics.js';
import { processDelta, snapshotProcess } from '../measure/proc.js';
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
import { makeRoundtripImage } from './roundtrip-image.js';
import { table } from './text-table.js';

const values = benchArgs(import.meta.filename, {
  files: { type: 'string', default: '400' },
  count: { type: 'string', default: '2000' },
  rounds: { type: 'string', default: '5' },
  processes: { type: 'string', default: '1,2,4' },
  threads: { type: 'string', default: '1,2,4' },
  kinds: { type: 'string', default: 'getxattr,open-close,read-direct-4k' },
  setups: { type: 'string' },
});

const positive = (flag: string, text: string) => positiveIntegerFlag(import.meta.filename, flag, text);

const FILES = positive('--files', values.files!);
const COUNT = positive('--count', values.count!);
const ROUNDS = positive('--rounds', values.rounds!);
const PROCESSES = values.processes!.split(',').map((text) => positive('--processes', text));
const THREADS = values.threads!.split(',').map((text) => positive('--threads', text));
const KINDS = listFlag(import.meta.filename, '--kinds', values.kinds!, [
  'getxattr',
  'open-close',
  'stat-missing',
  'read-direct-4k',
]);
const DRIVER = projectPath('build/Release/fusebench-roundtrip');

interface Candidate {
  name: string;
  mount(mountpoint: string): Promise<MountedSetup>;
}

const work = mkdtempSync(join(tmpdir(), 'fusebench-threads-'));
cleanUpOnSignal(work);
const tree = join(work, 'tree');
const image = join(work, 'tree.erofs');

const devfuse = (threads: number, fds: 'shared' | 'clone'): Candidate => {
  const name = threads === 1 ? 'devfuse-t1' : `devfuse-t${threads}-${fds}`;
  return {
    name,
    mount: (mountpoint) =>
      mountFusebench(
        name,
        image,
        mountpoint,
        [
          '--transport',
          'devfuse',
          '--threads',
          String(threads),
          fds === 'clone' ? '--clone-fd' : '--shared-fd',
        ],
        work,
      ),
  };
};

const erofsfuse = (name: string, options: string[]): Candidate => ({
  name,
  mount: (mountpoint) =>
    mountPeer(name, erofsfuseBinary()!, ['-f', ...options, image, mountpoint], mountpoint),
});

const maxThreads = Math.max(...THREADS);
const candidates: Candidate[] = [
  ...THREADS.flatMap((threads) =>
    threads === 1 ? [devfuse(1, 'shared')] : [devfuse(threads, 'shared'), devfuse(threads, 'clone')],
  ),
  ...(erofsfuseBinary()
    ? [
        erofsfuse('erofsfuse-s', ['-s']),
        erofsfuse(`erofsfuse-mt${maxThreads}-shared`, ['-o', `max_threads=${maxThreads}`]),
        erofsfuse(`erofsfuse-mt${maxThreads}-clone`, ['-o', `max_threads=${maxThreads},clone_fd`]),
      ]
    : []),
];
const REFERENCE = 'devfuse-t1';

interface Sample {
  latencyNs: number;
  opsPerSecond: number;
  daemonCpuNsPerOp: number;
  daemonSleepsPerOp: number;
}

async function runDriver(kind: string, mountpoint: string, count: number, processes: number) {
  const result = await execa(
    DRIVER,
    [kind, mountpoint, String(FILES), String(count), '0', String(processes)],
    {
      reject: false,
    },
  );
  if (result.exitCode !== 0) throw new Error(`${kind} on ${mountpoint}: ${String(result.stderr).trim()}`);
  return String(result.stdout).trim().split('\n');
}

async function sample(setup: MountedSetup, kind: string, processes: number): Promise<Sample | null> {
  // Every file looked up first (untimed), so no sample pays a LOOKUP for a dropped dentry.
  await runDriver('stat', setup.mountpoint, FILES, 1);
  const before = snapshotProcess(setup.pid!);
  const lines = await runDriver(kind, setup.mountpoint, COUNT, processes);
  const usage = processDelta(before, snapshotProcess(setup.pid!));
  if (lines[0] === 'unsupported') return null;
  const latencyNs = Number(lines[0]);
  const ops = COUNT * processes;
  return {
    latencyNs,
    opsPerSecond: processes === 1 ? 1e9 / latencyNs : Number(lines[1]),
    daemonCpuNsPerOp: usage.cpuNs / ops,
    daemonSleepsPerOp: usage.voluntaryCtxSwitches / ops,
  };
}

/** A daemon's threads now (libfuse starts its workers on demand). */
const taskCount = (pid: number) =>
  readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Threads:\s+(\d+)/m)?.[1];

const mounted: MountedSetup[] = [];
try {
  await makeRoundtripImage(tree, image, FILES);
  const selected = values.setups?.split(',');
  for (const candidate of candidates) {
    if (selected && !selected.includes(candidate.name)) continue;
    const mountpoint = join(work, `mnt-${candidate.name}`);
    mkdirSync(mountpoint);
    mounted.push(await candidate.mount(mountpoint));
  }
  const maxProcesses = Math.max(...PROCESSES);
  // Warm-up: page cache of the image, the daemons' caches, JIT, libfuse's on-demand threads.
  for (const setup of mounted) for (const kind of KINDS) await sample(setup, kind, maxProcesses);
  const samples = new Map<string, Sample[]>();
  const random = new SeededRandom('threads');
  const loadBefore = readFileSync('/proc/loadavg', 'utf8').trim();
  for (let round = 0; round < ROUNDS; round++) {
    for (const kind of KINDS) {
      for (const processes of PROCESSES) {
        for (const setup of random.shuffled(mounted)) {
          const result = await sample(setup, kind, processes);
          if (!result) continue;
          const key = `${setup.name}/${kind}/${processes}`;
          samples.set(key, [...(samples.get(key) ?? []), result]);
        }
      }
    }
    process.stderr.write(`threads: round ${round + 1}/${ROUNDS}\n`);
  }
  const loadAfter = readFileSync('/proc/loadavg', 'utf8').trim();
  const median = (key: string, field: keyof Sample) => {
    const values = (samples.get(key) ?? []).map((entry) => entry[field]);
    return values.length === 0 ? Number.NaN : percentile(values, 0.5);
  };
  process.stdout.write(
    `files=${FILES} ops per client per sample=${COUNT} rounds=${ROUNDS}; medians over rounds, (ratio to ${REFERENCE} at the same client count); load before: ${loadBefore}, after: ${loadAfter}\n`,
  );
  for (const kind of KINDS) {
    const header = [
      kind,
      ...PROCESSES.map((processes) => `${processes}p µs/op`),
      ...PROCESSES.map((processes) => `${processes}p kop/s`),
      ...PROCESSES.map((processes) => `${processes}p daemon µs, sleeps /op`),
    ];
    const rows = mounted.map((setup) => {
      const cell = (
        processes: number,
        field: keyof Sample,
        scale: number,
        digits: number,
        ratio: boolean,
      ) => {
        const value = median(`${setup.name}/${kind}/${processes}`, field);
        if (Number.isNaN(value)) return '-';
        const base = median(`${REFERENCE}/${kind}/${processes}`, field);
        const suffix =
          ratio && setup.name !== REFERENCE && !Number.isNaN(base) ? ` (${(value / base).toFixed(2)}x)` : '';
        return `${(value / scale).toFixed(digits)}${suffix}`;
      };
      return [
        setup.name,
        ...PROCESSES.map((processes) => cell(processes, 'latencyNs', 1000, 1, true)),
        ...PROCESSES.map((processes) => cell(processes, 'opsPerSecond', 1000, 1, true)),
        ...PROCESSES.map(
          (processes) =>
            `${cell(processes, 'daemonCpuNsPerOp', 1000, 1, false)}, ${cell(processes, 'daemonSleepsPerOp', 1, 2, false)}`,
        ),
      ];
    });
    process.stdout.write(`\n${table(header, rows)}\n`);
  }
  process.stdout.write('\nthreads in each daemon at the end (/proc/PID/status Threads):\n');
  for (const setup of mounted) process.stdout.write(`  ${setup.name}: ${taskCount(setup.pid!)}\n`);
} finally {
  await stopAll(mounted, work);
}
