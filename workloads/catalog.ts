import type { Manifest, ManifestEntry } from '../datasets/manifest.js';
import { SeededRandom } from '../lib/random.js';
import { parseReadersCellName, readersCellName } from '../results/cell-name.js';
import type { Metric } from '../results/schema.js';
import { metrics } from './metrics.js';
import type { Op } from './ops.js';
import { MAX_READERS, type SplitWork, singleOps, splitAmongReaders } from './readers.js';

/**
 * Every workload, defined once. A workload turns the dataset manifest and a seed into what the
 * client executes: one or more op streams (one per client process) or a shell command. It knows
 * only paths relative to a mount point, never which setup serves them.
 */

export type WorkloadCategory = 'metadata' | 'read' | 'scenario';

export type WorkloadPlan =
  | {
      driver: 'ops';
      /** One stream per client process, started together (parallel readers). */
      streams: Op[][];
      /** Operations Node cannot issue (mmap): only the native driver runs this workload. */
      needsNative: boolean;
    }
  | {
      driver: 'shell';
      /** Run by bash in the mount point; `$FUSEBENCH_LIST` names the file list when there is one. */
      command: string;
      /** Relative paths written one per line to the list file. */
      list: string[] | null;
      /** Operations the command amounts to (files or entries touched), for per-op figures. */
      opCount: number;
      /** Regular files whose data the command reads (for read verification). */
      reads: string[];
    }
  | {
      driver: 'fio';
      /** fio job options (no output options), run in the mount point; paths are relative to it. */
      job: string[];
      /** fio jobs (processes) run at once: the readers. */
      readers: number;
      /** The I/Os the job performs, checked against fio's own count. */
      opCount: number;
      /** The bytes those I/Os read. */
      bytes: number;
      /** The files it reads. */
      reads: string[];
    };

/** The operations a plan performs per repetition, all clients together. */
export function plannedOpCount(plan: WorkloadPlan): number {
  return plan.driver === 'ops' ? plan.streams.reduce((sum, stream) => sum + stream.length, 0) : plan.opCount;
}

export interface Workload {
  name: string;
  family: string;
  params: Record<string, number | string>;
  category: WorkloadCategory;
  description: string;
  metric: Metric;
  /** Its work can be split among several reader processes (workloads/readers.ts). */
  takesReaders: boolean;
  /** The plan for `readers` reader processes (1 unless the workload takes readers). */
  plan(manifest: Manifest, seed: number, readers?: number): WorkloadPlan;
}

const { timePerOp, throughput, wallTime } = metrics;

const KiB = 1024;
const MiB = 1024 * KiB;

/** Regular files of the manifest, counting each hard-linked inode once. */
function regularFiles(manifest: Manifest): ManifestEntry[] {
  const seen = new Set<number>();
  return manifest.entries.filter((entry) => {
    if (entry.type !== 'file' || seen.has(entry.ino)) return false;
    seen.add(entry.ino);
    return true;
  });
}

function largestFile(manifest: Manifest): ManifestEntry {
  const largest = regularFiles(manifest).reduce<ManifestEntry | null>(
    (best, file) => (!best || file.size > best.size ? file : best),
    null,
  );
  if (!largest || largest.size === 0) throw new Error('the dataset has no non-empty regular file');
  return largest;
}

/** The large files of the dataset: at least half the size of the largest, at most four, largest first. */
function largeFiles(manifest: Manifest): ManifestEntry[] {
  const threshold = largestFile(manifest).size / 2;
  return regularFiles(manifest)
    .filter((file) => file.size >= threshold)
    .sort((a, b) => b.size - a.size || (a.path < b.path ? -1 : 1))
    .slice(0, 4);
}

function directories(manifest: Manifest): ManifestEntry[] {
  return manifest.entries.filter((entry) => entry.type === 'dir');
}

function widestDirectory(manifest: Manifest): string {
  const children = new Map<string, number>();
  for (const entry of manifest.entries) {
    if (entry.path === '') continue;
    const parent = entry.path.includes('/') ? entry.path.slice(0, entry.path.lastIndexOf('/')) : '';
    children.set(parent, (children.get(parent) ?? 0) + 1);
  }
  return [...children.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]?.[0] ?? '';
}

/** The mount point itself as an op path. */
const dotted = (path: string) => (path === '' ? '.' : path);

/** About 7% of the regular files, in a seeded random order (erofs-utils docs/PERFORMANCE.md "small random"). */
function randomSubset(manifest: Manifest, seed: number, fraction: number, label: string): ManifestEntry[] {
  const files = new SeededRandom(`${seed}:${label}`).shuffled(regularFiles(manifest));
  return fraction >= 1 ? files : files.slice(0, Math.max(1, Math.ceil(files.length * fraction)));
}

const opsPlan = (streams: Op[][], needsNative = false): WorkloadPlan => ({
  driver: 'ops',
  streams,
  needsNative,
});

/** The plan of a workload that takes readers: its units split among them. */
const splitPlan = (work: SplitWork, readers = 1): WorkloadPlan => opsPlan(splitAmongReaders(work, readers));

/** Units of one op each, dealt round robin. */
const interleaved = (ops: readonly Op[]): SplitWork => ({
  prologue: [],
  units: singleOps(ops),
  epilogue: [],
  rule: 'interleaved',
});

/** Opens `paths` into slots 0.. in every reader, closes them after its units. */
function withOpenFiles(paths: readonly string[], units: Op[][], rule: SplitWork['rule']): SplitWork {
  return {
    prologue: paths.map((path, slot) => ({ kind: 'open', slot, path }) as Op),
    units,
    epilogue: paths.map((_, slot) => ({ kind: 'close', slot }) as Op),
    rule,
  };
}

/** One pread unit per block of [0, size) of the file in `slot`. */
function blockReads(slot: number, size: number, blockSize: number): Op[][] {
  const units: Op[][] = [];
  for (let offset = 0; offset < size; offset += blockSize)
    units.push([{ kind: 'pread', slot, offset, length: Math.min(blockSize, size - offset) }]);
  return units;
}

const metadata: Workload[] = [
  {
    name: 'stat-all',
    family: 'stat-all',
    params: {},
    category: 'metadata',
    description: 'lstat every path once, in a seeded random order (lookup + getattr)',
    metric: timePerOp,
    takesReaders: true,
    plan: (manifest, seed, readers) =>
      splitPlan(
        interleaved(
          new SeededRandom(`${seed}:stat-all`)
            .shuffled(manifest.entries)
            .map((entry) => ({ kind: 'lstat', path: dotted(entry.path) })),
        ),
        readers,
      ),
  },
  {
    name: 'stat-hot',
    family: 'stat-hot',
    params: { count: 20000 },
    category: 'metadata',
    description: 'lstat the same file 20,000 times (the cached path of getattr)',
    metric: timePerOp,
    takesReaders: true,
    plan: (manifest, _seed, readers) => {
      const path = largestFile(manifest).path;
      return splitPlan(
        interleaved(Array.from({ length: 20000 }, () => ({ kind: 'lstat', path }) as Op)),
        readers,
      );
    },
  },
  {
    name: 'lookup-miss',
    family: 'lookup-miss',
    params: { count: 5000 },
    category: 'metadata',
    description: 'lstat 5,000 names that do not exist, in existing directories (negative lookups, ENOENT)',
    metric: timePerOp,
    takesReaders: true,
    plan: (manifest, seed, readers) => {
      const random = new SeededRandom(`${seed}:lookup-miss`);
      const dirs = directories(manifest);
      return splitPlan(
        interleaved(
          Array.from({ length: 5000 }, (_, index) => {
            const dir = random.pick(dirs).path;
            return {
              kind: 'lstat-miss',
              path: `${dir === '' ? '' : `${dir}/`}.fusebench-missing-${index % 1000}`,
            } as Op;
          }),
        ),
        readers,
      );
    },
  },
  {
    name: 'readdir-wide',
    family: 'readdir-wide',
    params: { repeat: 20 },
    category: 'metadata',
    description: 'list the widest directory 20 times (readdir without stat)',
    metric: timePerOp,
    takesReaders: true,
    plan: (manifest, _seed, readers) => {
      const path = dotted(widestDirectory(manifest));
      return splitPlan(
        interleaved(Array.from({ length: 20 }, () => ({ kind: 'readdir', path }) as Op)),
        readers,
      );
    },
  },
  {
    name: 'walk-lstat',
    family: 'walk-lstat',
    params: {},
    category: 'metadata',
    description: 'walk the whole tree like ls -lR: readdir each directory, lstat each entry',
    metric: timePerOp,
    takesReaders: true,
    plan: (manifest, _seed, readers) => {
      // One unit per directory: its readdir, then an lstat of each entry (what ls -lR does per directory).
      const units: Op[][] = [];
      const byParent = new Map<string, string[]>();
      for (const entry of manifest.entries) {
        if (entry.path === '') continue;
        const parent = entry.path.includes('/') ? entry.path.slice(0, entry.path.lastIndexOf('/')) : '';
        const siblings = byParent.get(parent);
        if (siblings) siblings.push(entry.path);
        else byParent.set(parent, [entry.path]);
      }
      for (const dir of directories(manifest))
        units.push([
          { kind: 'readdir', path: dotted(dir.path) },
          ...(byParent.get(dir.path) ?? []).map((child) => ({ kind: 'lstat', path: child }) as Op),
        ]);
      return splitPlan({ prologue: [], units, epilogue: [], rule: 'interleaved' }, readers);
    },
  },
  {
    name: 'open-close',
    family: 'open-close',
    params: {},
    category: 'metadata',
    description: 'open and close every regular file, in a seeded random order',
    metric: timePerOp,
    takesReaders: true,
    plan: (manifest, seed, readers) =>
      splitPlan(
        {
          prologue: [],
          units: new SeededRandom(`${seed}:open-close`)
            .shuffled(regularFiles(manifest))
            .map((entry) => [
              { kind: 'open', slot: 0, path: entry.path } as Op,
              { kind: 'close', slot: 0 } as Op,
            ]),
          epilogue: [],
          rule: 'interleaved',
        },
        readers,
      ),
  },
  {
    name: 'xattr',
    family: 'xattr',
    params: {},
    category: 'metadata',
    description: 'listxattr every regular file, getxattr every attribute found',
    metric: timePerOp,
    takesReaders: true,
    plan: (manifest, _seed, readers) =>
      splitPlan(
        {
          prologue: [],
          units: regularFiles(manifest).map((entry) => [
            { kind: 'listxattr', path: entry.path } as Op,
            ...entry.xattrNames.map((name) => ({ kind: 'getxattr', path: entry.path, name }) as Op),
          ]),
          epilogue: [],
          rule: 'interleaved',
        },
        readers,
      ),
  },
  {
    name: 'readlink',
    family: 'readlink',
    params: { count: 2000 },
    category: 'metadata',
    description: 'readlink the symlinks of the tree, round robin, 2,000 times',
    metric: timePerOp,
    takesReaders: true,
    plan: (manifest, _seed, readers) => {
      const links = manifest.entries.filter((entry) => entry.type === 'symlink');
      if (links.length === 0) throw new Error('the dataset has no symlink');
      return splitPlan(
        interleaved(
          Array.from(
            { length: 2000 },
            (_, index) => ({ kind: 'readlink', path: links[index % links.length]!.path }) as Op,
          ),
        ),
        readers,
      );
    },
  },
];

const SEQUENTIAL_BLOCK_SIZES = [4 * KiB, 16 * KiB, 64 * KiB, 128 * KiB, 256 * KiB, MiB];

function formatSize(bytes: number): string {
  return bytes >= MiB ? `${bytes / MiB}m` : `${bytes / KiB}k`;
}

const reads: Workload[] = [
  ...SEQUENTIAL_BLOCK_SIZES.map(
    (blockSize): Workload => ({
      name: `seqread-${formatSize(blockSize)}`,
      family: 'seqread',
      params: { blockSize },
      category: 'read',
      description: `read the largest file from start to end in ${formatSize(blockSize).toUpperCase()} preads`,
      metric: throughput,
      takesReaders: true,
      plan: (manifest, _seed, readers) => {
        const file = largestFile(manifest);
        return splitPlan(
          withOpenFiles([file.path], blockReads(0, file.size, blockSize), 'contiguous'),
          readers,
        );
      },
    }),
  ),
  {
    name: 'randread-4k',
    family: 'randread-4k',
    params: { count: 10000, blockSize: 4 * KiB },
    category: 'read',
    description: '10,000 preads of 4 KiB at seeded random aligned offsets of the large files',
    metric: timePerOp,
    takesReaders: true,
    plan: (manifest, seed, readers) => {
      const random = new SeededRandom(`${seed}:randread`);
      const files = largeFiles(manifest).filter((file) => file.size >= 4 * KiB);
      const units: Op[][] = [];
      for (let index = 0; index < 10000; index++) {
        const slot = random.int(0, files.length - 1);
        const blocks = Math.floor(files[slot]!.size / (4 * KiB));
        units.push([{ kind: 'pread', slot, offset: random.int(0, blocks - 1) * 4 * KiB, length: 4 * KiB }]);
      }
      return splitPlan(
        withOpenFiles(
          files.map((file) => file.path),
          units,
          'interleaved',
        ),
        readers,
      );
    },
  },
  {
    name: 'read-small',
    family: 'read-small',
    params: { maxSize: MiB },
    category: 'read',
    description:
      'read every file up to 1 MiB whole, in tree order, 128 KiB reads (what a container start does)',
    metric: timePerOp,
    takesReaders: true,
    plan: (manifest, _seed, readers) =>
      splitPlan(
        interleaved(
          regularFiles(manifest)
            .filter((entry) => entry.size <= MiB)
            .map((entry) => ({ kind: 'readfile', path: entry.path, blockSize: 128 * KiB }) as Op),
        ),
        readers,
      ),
  },
  {
    name: 'mmap-read',
    family: 'mmap-read',
    params: {},
    category: 'read',
    description: 'mmap the largest file and touch every page (page faults, readahead), native driver only',
    metric: throughput,
    // One operation: nothing to split.
    takesReaders: false,
    plan: (manifest) => opsPlan([[{ kind: 'mmapread', path: largestFile(manifest).path }]], true),
  },
  {
    name: 'parallel-read',
    family: 'parallel-read',
    params: { blockSize: 128 * KiB },
    category: 'read',
    description:
      'the large files end to end in 128 KiB preads; with N readers each reads its 1/N contiguous part (--readers)',
    metric: throughput,
    takesReaders: true,
    plan: (manifest, _seed, readers) => {
      const files = largeFiles(manifest);
      return splitPlan(
        withOpenFiles(
          files.map((file) => file.path),
          files.flatMap((file, slot) => blockReads(slot, file.size, 128 * KiB)),
          'contiguous',
        ),
        readers,
      );
    },
  },
  {
    name: 'container-start',
    family: 'container-start',
    params: { fraction: 0.07 },
    category: 'read',
    description:
      'lstat and read whole a seeded random 7% of the files (an application starting in a container)',
    metric: timePerOp,
    takesReaders: true,
    plan: (manifest, seed, readers) =>
      splitPlan(
        {
          prologue: [],
          units: randomSubset(manifest, seed, 0.07, 'container-start').map((entry) => [
            { kind: 'lstat', path: entry.path } as Op,
            { kind: 'readfile', path: entry.path, blockSize: 128 * KiB } as Op,
          ]),
          epilogue: [],
          rule: 'interleaved',
        },
        readers,
      ),
  },
];

/** The scenarios of erofs-utils docs/PERFORMANCE.md, by their commands. */
/** fio's --filename separates files with ':'; a literal colon is escaped. */
function fioFilename(path: string): string {
  return path.replace(/^\//, '').replace(/:/g, '\\:');
}

/**
 * The same patterns as randread-4k and seqread-128k, driven by fio (the standard tool for read
 * patterns): psync, page cache kept (--invalidate=0, so warm stays warm), per-I/O latency from
 * fio's own clock, so neither Node nor a process start is in the figure.
 */
const FIO_RANDOM_READS = 10000;

const fioReads: Workload[] = [
  {
    name: 'fio-randread-4k',
    family: 'fio-randread',
    params: { count: FIO_RANDOM_READS, blockSize: 4 * KiB },
    category: 'read',
    description:
      'fio: 10,000 random 4 KiB psync reads of the largest file (fio seeded from the run seed), with repeats',
    metric: timePerOp,
    takesReaders: true,
    plan: (manifest, seed, readers = 1) => {
      const file = largestFile(manifest);
      // N readers are N fio jobs (processes), each doing 1/N of the reads: the same count and bytes
      // for every N. fio seeds each job from randseed and the job's number, so the offsets are
      // deterministic for a given N but not the same set across N.
      if (FIO_RANDOM_READS % readers !== 0)
        throw new Error(`${FIO_RANDOM_READS} fio reads cannot be split evenly among ${readers} readers`);
      const perJob = FIO_RANDOM_READS / readers;
      return {
        driver: 'fio',
        // --number_ios only caps the count: fio stops after `size` bytes (one pass over a smaller
        // file). io_size asks for exactly 10,000 blocks; norandommap lets offsets repeat.
        job: [
          `--filename=${fioFilename(file.path)}`,
          '--rw=randread',
          '--bs=4k',
          `--io_size=${perJob * 4 * KiB}`,
          `--number_ios=${perJob}`,
          '--norandommap',
          `--randseed=${seed}`,
          ...(readers > 1 ? [`--numjobs=${readers}`, '--group_reporting'] : []),
        ],
        readers,
        opCount: FIO_RANDOM_READS,
        bytes: FIO_RANDOM_READS * 4 * KiB,
        reads: [file.path],
      };
    },
  },
  {
    name: 'fio-seqread-128k',
    family: 'fio-seqread',
    params: { blockSize: 128 * KiB },
    category: 'read',
    description: 'fio: read the largest file from start to end in 128 KiB psync reads',
    metric: throughput,
    // One fio job reads the file once; splitting it needs per-job ranges fio cannot end at EOF.
    takesReaders: false,
    plan: (manifest) => {
      const file = largestFile(manifest);
      return {
        driver: 'fio',
        job: [`--filename=${fioFilename(file.path)}`, '--rw=read', '--bs=128k'],
        readers: 1,
        opCount: Math.ceil(file.size / (128 * KiB)),
        bytes: file.size,
        reads: [file.path],
      };
    },
  },
];

const scenarios: Workload[] = [
  {
    name: 'tar-devnull',
    family: 'tar-devnull',
    params: {},
    category: 'scenario',
    description: '`tar cf /dev/null .` (GNU tar skips file data for /dev/null: sequential metadata)',
    metric: wallTime,
    takesReaders: false,
    plan: (manifest) => ({
      driver: 'shell',
      command: 'tar cf /dev/null .',
      list: null,
      opCount: manifest.entries.length,
      reads: [],
    }),
  },
  {
    name: 'tar-cat',
    family: 'tar-cat',
    params: {},
    category: 'scenario',
    description: '`tar cf - . | cat > /dev/null` (sequential data)',
    metric: wallTime,
    takesReaders: false,
    plan: (manifest) => ({
      driver: 'shell',
      command: 'tar cf - . | cat > /dev/null',
      list: null,
      opCount: manifest.entries.length,
      reads: regularFiles(manifest).map((entry) => entry.path),
    }),
  },
  ...(['stat', 'cat'] as const).flatMap((tool) =>
    ([0.07, 1] as const).map(
      (fraction): Workload => ({
        name: `xargs-${tool}-${fraction < 1 ? '7pct' : 'all'}`,
        family: `xargs-${tool}`,
        params: { fraction },
        category: 'scenario',
        description: `\`xargs ${tool}\` over ${fraction < 1 ? 'a seeded random 7%' : 'all'} of the files in random order (${tool === 'stat' ? 'random metadata' : 'random data'})`,
        metric: wallTime,
        takesReaders: false,
        plan: (manifest, seed) => {
          const files = randomSubset(manifest, seed, fraction, `xargs-${fraction}`).map(
            (entry) => entry.path,
          );
          return {
            driver: 'shell',
            command: `xargs -d '\\n' -a "$FUSEBENCH_LIST" ${tool} > /dev/null`,
            list: files,
            opCount: files.length,
            reads: tool === 'cat' ? files : [],
          };
        },
      }),
    ),
  ),
];

export const workloads: readonly Workload[] = [...metadata, ...reads, ...fioReads, ...scenarios];

export const workloadNames = workloads.map((workload) => workload.name);

/**
 * A workload by name, `NAME@N` being NAME with N readers (results/cell-name.ts). Every workload
 * that takes readers carries `readers` among its params, so cells of one workload at different N
 * differ in name and params alike.
 */
export function findWorkload(name: string): Workload | undefined {
  const { workload: baseName, readers } = parseReadersCellName(name);
  const base = workloads.find((workload) => workload.name === baseName);
  if (!base || readers < 1 || readers > MAX_READERS || (readers > 1 && !base.takesReaders)) return undefined;
  if (!base.takesReaders) return base;
  return {
    ...base,
    name: readersCellName(base.name, readers),
    params: { ...base.params, readers },
    plan: (manifest, seed) => base.plan(manifest, seed, readers),
  };
}

/** Why `name` is no workload, in one line; null when it is one. */
export function workloadNameProblem(name: string): string | null {
  if (findWorkload(name)) return null;
  const { workload: baseName } = parseReadersCellName(name);
  const base = workloads.find((workload) => workload.name === baseName);
  if (!base) return `unknown '${name}'`;
  if (!base.takesReaders) return `'${baseName}' does not take readers (${name})`;
  return `'${name}': readers must be 1 to ${MAX_READERS}`;
}

/**
 * The cells `names` stand for at each of `readers`: a workload that takes readers once per N
 * (replacing any @N of the name), any other once.
 */
export function workloadsAtReaders(names: readonly string[], readers: readonly number[] | null): string[] {
  const cells: string[] = [];
  for (const name of names) {
    const workload = findWorkload(name);
    if (!workload) throw new Error(workloadNameProblem(name) ?? name);
    const base = parseReadersCellName(workload.name).workload;
    const wanted =
      readers && workload.takesReaders
        ? readers.map((count) => readersCellName(base, count))
        : [workload.name];
    for (const cell of wanted) if (!cells.includes(cell)) cells.push(cell);
  }
  return cells;
}
