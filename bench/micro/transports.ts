/**
 * Per-operation latency of the FUSE transports against in-kernel EROFS (a script, not a test):
 * stat, open+close and 4 KiB random reads, timed per operation by the native op driver
 * (build/Release/fusebench-opdriver), with the daemon's context switches (voluntary + involuntary,
 * every thread of /proc/PID/task) over the timed pass.
 *
 * Setups: kernel EROFS (file-backed mount of the image), the host tree itself (native), the EROFS image over fuse-native and over
 * devfuse, and the source tree over devfuse as a passthrough, by READ and with kernel passthrough.
 * warm: default timeouts (a day) and kernel cache, one untimed pass first, then the same operations
 *   timed (stat answered from the dcache; open+close still costs OPEN/FLUSH/RELEASE; reads from the
 *   page cache).
 * uncached: FUSE setups only: entry and attr timeouts 0 and direct I/O (kernel passthrough: without
 *   direct I/O, which would send reads to the daemon), one untimed pass first: every operation is a
 *   round trip to a daemon whose own caches and the host's page cache are warm.
 * cold: entry and attr timeouts 0 and caches dropped (sync; echo 3 > drop_caches) before the timed
 *   pass, every operation on a different path or offset: round trips plus the disk.
 *
 * Run: npm run build && node dist/bench/micro/transports.js [--files N] [--reads N] [--threads N] [--big-mib N]
 *   [--setups NAME,...]
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { findMount, mountErofs, unmount } from '../../lib/mounts.js';
import { SeededRandom } from '../../lib/random.js';
import { percentile } from '../../results/statistics.js';
import { encodeOps, type Op } from '../../workloads/ops.js';
import { processDelta, snapshotProcess } from '../measure/proc.js';
import { benchArgs } from './bench-args.js';
import { cleanUpOnSignal } from './mounts.js';

const values = benchArgs(import.meta.filename, {
  files: { type: 'string', default: '2000' },
  reads: { type: 'string', default: '4000' },
  threads: { type: 'string', default: '1' },
  'big-mib': { type: 'string', default: '64' },
  setups: { type: 'string' },
});
const FILES = Number(values.files);
const READS = Number(values.reads);
const THREADS = values.threads!;
const BIG_BYTES = Number(values['big-mib']) * 1024 * 1024;
const DIRS = 20;

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = join(ROOT, 'dist/cli/main.js');
const OPDRIVER = join(ROOT, 'build/Release/fusebench-opdriver');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Cache = 'warm' | 'uncached' | 'cold';
type OpName = 'stat' | 'open+close' | 'read-4k';

interface Mounted {
  pid: number | null;
  /** Unmounts; returns what the daemon said on stderr (its request summary). */
  stop(): Promise<string | undefined>;
}

interface Setup {
  name: string;
  mount(mountpoint: string, cache: Cache): Promise<Mounted>;
}

const work = mkdtempSync(join(tmpdir(), 'fusebench-transports-'));
cleanUpOnSignal(work);
const tree = join(work, 'tree');
const image = join(work, 'tree.erofs');

function makeTree(): void {
  mkdirSync(tree);
  for (let dir = 0; dir < DIRS; dir++) mkdirSync(join(tree, `d${dir}`));
  for (let file = 0; file < FILES; file++) {
    writeFileSync(join(tree, `d${file % DIRS}`, `f${file}`), randomBytes(4096));
  }
  writeFileSync(join(tree, 'big'), randomBytes(BIG_BYTES));
}

function fusebenchDaemon(args: string[], directIoWhenUncached = true): Setup['mount'] {
  return async (mountpoint, cache) => {
    const factsFile = join(work, 'facts.json');
    rmSync(factsFile, { force: true });
    const timeouts =
      cache === 'warm' ? [] : ['--entry-timeout', '0', '--attr-timeout', '0', '--negative-timeout', '0'];
    if (cache === 'uncached' && directIoWhenUncached) timeouts.push('--direct-io');
    const source = args[0] === 'mount' ? image : tree;
    const child: ResultPromise = execa(
      process.execPath,
      [CLI, args[0]!, source, mountpoint, ...args.slice(1), ...timeouts, '--facts-file', factsFile],
      { reject: false, stdin: 'ignore' },
    );
    for (let waited = 0; waited < 20_000 && !existsSync(factsFile); waited += 20) await sleep(20);
    if (!existsSync(factsFile)) throw new Error(`daemon did not start: ${String((await child).stderr)}`);
    const facts = JSON.parse(readFileSync(factsFile, 'utf8')) as { pid: number };
    return {
      pid: facts.pid,
      async stop() {
        await unmount(mountpoint);
        return String((await child).stderr);
      },
    };
  };
}

const setups: Setup[] = [
  {
    name: 'kernel-erofs',
    async mount(mountpoint) {
      mountErofs(image, mountpoint);
      return { pid: null, stop: async () => void (await unmount(mountpoint)) };
    },
  },
  {
    // The host tree itself (a bind mount): what kernel passthrough's reads should come close to.
    name: 'native',
    async mount(mountpoint) {
      await execa('mount', ['--bind', tree, mountpoint]);
      return { pid: null, stop: async () => void (await unmount(mountpoint)) };
    },
  },
  { name: 'fuse-native', mount: fusebenchDaemon(['mount', '--transport', 'fuse-native']) },
  { name: 'devfuse', mount: fusebenchDaemon(['mount', '--transport', 'devfuse', '--threads', THREADS]) },
  {
    name: 'devfuse-passthrough',
    mount: fusebenchDaemon(['passthrough', '--transport', 'devfuse', '--threads', THREADS]),
  },
  {
    name: 'devfuse-kernel-passthrough',
    // Direct I/O would send reads to the daemon (FOPEN_PASSTHROUGH with FOPEN_DIRECT_IO passes only mmap).
    mount: fusebenchDaemon(
      ['passthrough', '--transport', 'devfuse', '--threads', THREADS, '--kernel-passthrough'],
      false,
    ),
  },
];

/** Op streams; the timed latencies of interest are picked out by `measured`. */
function streams(
  random: SeededRandom,
): Record<OpName, { ops: Op[]; measured: (latencies: Float64Array) => number[] }> {
  const files = Array.from({ length: FILES }, (_, file) => `d${file % DIRS}/f${file}`);
  const order = random.shuffled(files);
  const pages = BIG_BYTES / 4096;
  const offsets = random.shuffled(Array.from({ length: pages }, (_, page) => page * 4096)).slice(0, READS);
  return {
    stat: { ops: order.map((path) => ({ kind: 'lstat', path })), measured: (l) => [...l] },
    'open+close': {
      ops: order.flatMap((path): Op[] => [
        { kind: 'open', slot: 0, path },
        { kind: 'close', slot: 0 },
      ]),
      measured: (l) => Array.from({ length: l.length / 2 }, (_, index) => l[2 * index]! + l[2 * index + 1]!),
    },
    'read-4k': {
      ops: [
        { kind: 'open', slot: 0, path: 'big' },
        ...offsets.map((offset): Op => ({ kind: 'pread', slot: 0, offset, length: 4096 })),
        { kind: 'close', slot: 0 },
      ],
      measured: (l) => [...l.subarray(1, l.length - 1)],
    },
  };
}

/** Runs one op stream with the native driver; returns per-op latencies in ns. */
async function drive(mountpoint: string, ops: Op[]): Promise<Float64Array> {
  const opsFile = join(work, 'ops.txt');
  const latencyFile = join(work, 'latency.bin');
  writeFileSync(opsFile, encodeOps(ops));
  const driver = execa(OPDRIVER, [opsFile, mountpoint, latencyFile], { stdin: 'pipe', reject: false });
  await new Promise<void>((resolve) => driver.stdout?.once('data', () => resolve()));
  driver.stdin?.write('go\n');
  const result = await driver;
  const report = JSON.parse(String(result.stdout).split('\n').at(-1)!) as { errors: Record<string, number> };
  if (Object.keys(report.errors).length > 0) throw new Error(`op errors: ${JSON.stringify(report.errors)}`);
  const bytes = readFileSync(latencyFile);
  return new Float64Array(bytes.buffer, bytes.byteOffset, bytes.length / 8);
}

interface Row {
  setup: string;
  cache: Cache;
  op: OpName;
  medianUs: number;
  p99Us: number;
  opsPerSecond: number;
  daemonCtxPerOp: number | null;
}

async function measure(): Promise<Row[]> {
  const rows: Row[] = [];
  const mountpoint = join(work, 'mnt');
  mkdirSync(mountpoint);
  const selected = values.setups?.split(',');
  for (const setup of setups.filter((candidate) => !selected || selected.includes(candidate.name))) {
    for (const cache of ['warm', 'uncached', 'cold'] as const) {
      if (cache === 'uncached' && !setup.name.includes('fuse')) continue;
      const mounted = await setup.mount(mountpoint, cache);
      try {
        if (!findMount(mountpoint)) throw new Error(`${setup.name}: not mounted`);
        const all = streams(new SeededRandom(cache));
        for (const op of ['stat', 'open+close', 'read-4k'] as const) {
          const { ops, measured } = all[op];
          if (cache !== 'cold') await drive(mountpoint, ops);
          else {
            // Dirty pages (the tree and image were just written) survive drop_caches: write them first.
            await execa('sync');
            writeFileSync('/proc/sys/vm/drop_caches', '3');
          }
          const before = mounted.pid === null ? null : snapshotProcess(mounted.pid);
          const latencies = measured(await drive(mountpoint, ops));
          const after = mounted.pid === null ? null : snapshotProcess(mounted.pid);
          const usage = before && after ? processDelta(before, after) : null;
          const total = latencies.reduce((sum, value) => sum + value, 0);
          rows.push({
            setup: setup.name,
            cache,
            op,
            medianUs: percentile(latencies, 0.5) / 1000,
            p99Us: percentile(latencies, 0.99) / 1000,
            opsPerSecond: latencies.length / (total / 1e9),
            daemonCtxPerOp: usage
              ? (usage.voluntaryCtxSwitches + usage.involuntaryCtxSwitches) / latencies.length
              : null,
          });
          const row = rows.at(-1)!;
          process.stderr.write(
            `${setup.name} ${cache} ${op}: median ${row.medianUs.toFixed(2)} µs, p99 ${row.p99Us.toFixed(2)} µs\n`,
          );
        }
      } finally {
        const said = await mounted.stop();
        if (said) process.stderr.write(`${said}\n`);
      }
    }
  }
  return rows;
}

function table(rows: Row[]): string {
  const header = ['setup', 'cache', 'op', 'median µs', 'p99 µs', 'ops/s', 'daemon cs/op'];
  const lines = rows.map((row) => [
    row.setup,
    row.cache,
    row.op,
    row.medianUs.toFixed(2),
    row.p99Us.toFixed(2),
    Math.round(row.opsPerSecond).toString(),
    row.daemonCtxPerOp === null ? '-' : row.daemonCtxPerOp.toFixed(2),
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...lines.map((line) => line[column]!.length)),
  );
  const format = (cells: string[]) =>
    cells
      .map((cell, column) => (column < 3 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!)))
      .join('  ');
  return [format(header), widths.map((width) => '-'.repeat(width)).join('  '), ...lines.map(format)].join(
    '\n',
  );
}

try {
  makeTree();
  await execa('mkfs.erofs', ['--quiet', '-T1700000000', image, tree]);
  const rows = await measure();
  process.stdout.write(
    `files=${FILES} reads=${READS} big=${BIG_BYTES >> 20} MiB threads=${THREADS} (devfuse), 1 (fuse-native)\n${table(rows)}\n`,
  );
} finally {
  const mountpoint = join(work, 'mnt');
  if (findMount(mountpoint)) await unmount(mountpoint);
  if (!findMount(mountpoint)) rmSync(work, { recursive: true, force: true });
}
