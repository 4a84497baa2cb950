import { measurementWarnings, summarize } from '../../bench/summarize.js';
import { SeededRandom } from '../../lib/random.js';
import { readersCellName } from '../../results/cell-name.js';
import { LatencyHistogram } from '../../results/histogram.js';
import {
  type CacheState,
  type Measurement,
  type Metric,
  RESULT_SCHEMA_VERSION,
  type Repetition,
  type ResultFile,
  resultFileSchema,
} from '../../results/schema.js';
import { percentile } from '../../results/statistics.js';
import { metrics } from '../../workloads/metrics.js';

/**
 * Result files for report tests, built as `fusebench run` builds them (repetitions, then the
 * engine's own summarize and warnings) from a deterministic model of plausible numbers: four
 * setups, warm and cold, metadata, random-read, sequential-read, parallel-read and shell
 * workloads, one traced repetition per FUSE setup, latency histograms per operation kind.
 * Always validated through the schema.
 */

export const SETUPS = ['kernel-erofs', 'fuse-erofs-ts', 'fuse-passthrough-ts', 'native'] as const;

interface WorkloadModel {
  name: string;
  family: string;
  params: Record<string, number>;
  metric: Metric;
  driver: string;
  /** Operations per repetition and the kind most of them are. */
  opCount: number;
  kind: string;
  /** Bytes per operation read by the client. */
  bytesPerOp: number;
  /** Kernel-erofs warm latency per operation (ns). */
  latencyNs: number;
  /** FUSE requests per operation by opcode. */
  fuse: Record<string, number>;
}

const KiB = 1024;
const MiB = 1024 * KiB;

export const WORKLOADS: WorkloadModel[] = [
  {
    name: 'stat-all',
    family: 'stat-all',
    params: {},
    metric: metrics.timePerOp,
    driver: 'node',
    opCount: 12000,
    kind: 'lstat',
    bytesPerOp: 0,
    latencyNs: 1800,
    fuse: { LOOKUP: 1, GETATTR: 0.05 },
  },
  {
    name: 'stat-hot',
    family: 'stat-hot',
    params: { count: 20000 },
    metric: metrics.timePerOp,
    driver: 'node',
    opCount: 20000,
    kind: 'lstat',
    bytesPerOp: 0,
    latencyNs: 650,
    fuse: { GETATTR: 0.001 },
  },
  {
    name: 'randread-4k',
    family: 'randread-4k',
    params: { count: 10000, blockSize: 4 * KiB },
    metric: metrics.timePerOp,
    driver: 'node',
    opCount: 10008,
    kind: 'pread',
    bytesPerOp: 4 * KiB,
    latencyNs: 2400,
    fuse: { READ: 0.8, OPEN: 0.0004, LOOKUP: 0.0004, FLUSH: 0.0004, RELEASE: 0.0004 },
  },
  ...[4 * KiB, 64 * KiB, MiB].map(
    (blockSize): WorkloadModel => ({
      name: `seqread-${blockSize >= MiB ? `${blockSize / MiB}m` : `${blockSize / KiB}k`}`,
      family: 'seqread',
      params: { blockSize },
      metric: metrics.throughput,
      driver: 'node',
      opCount: (64 * MiB) / blockSize + 2,
      kind: 'pread',
      bytesPerOp: blockSize,
      latencyNs: 900 + blockSize / 2.2,
      fuse: { READ: Math.max(0.01, blockSize / (128 * KiB)), OPEN: 0.001, RELEASE: 0.001 },
    }),
  ),
  ...[1, 2, 4].map(
    (readers): WorkloadModel => ({
      name: readersCellName('parallel-read', readers),
      family: 'parallel-read',
      params: { readers, blockSize: 128 * KiB },
      metric: metrics.throughput,
      driver: 'node',
      opCount: 512 + 2 * readers,
      kind: 'pread',
      bytesPerOp: 128 * KiB,
      // Per-operation wall time shrinks with more readers on 2 CPUs, then levels off.
      latencyNs: (60_000 / Math.min(readers, 2)) * (readers > 2 ? 1.1 : 1),
      fuse: { READ: 1, OPEN: 0.004, RELEASE: 0.004 },
    }),
  ),
  {
    name: 'tar-devnull',
    family: 'tar-devnull',
    params: {},
    metric: metrics.wallTime,
    driver: 'shell',
    opCount: 12000,
    kind: '',
    bytesPerOp: 0,
    latencyNs: 3500,
    fuse: { LOOKUP: 1, GETATTR: 0.1, OPENDIR: 0.05, READDIR: 0.1, RELEASEDIR: 0.05 },
  },
];

/** How much slower than kernel-erofs each setup is, per operation. */
const SETUP_FACTOR: Record<string, number> = {
  'kernel-erofs': 1,
  'fuse-erofs-ts': 3.4,
  'fuse-passthrough-ts': 2.6,
  native: 1.7,
  floor: 0.8,
};

export interface SyntheticOptions {
  seed?: string;
  kernelRelease?: string;
  startedAt?: string;
  /** Multiplies the time of every operation of a setup (1.3 = 30% slower). */
  slowdown?: Record<string, number>;
  repetitions?: number;
}

/**
 * Latency of `count` operations drawn from a log-normal distribution around `median` (σ = 0.45,
 * a long right tail as real operation latencies have): percentiles from the samples, and their
 * histogram as a run records it.
 */
function latency(median: number, count: number, random: SeededRandom) {
  const center = median * (0.97 + random.next() * 0.06);
  const samples = Array.from({ length: count }, () => {
    // Box-Muller: one standard normal from two uniforms.
    const normal = Math.sqrt(-2 * Math.log(1 - random.next())) * Math.cos(2 * Math.PI * random.next());
    return center * Math.exp(0.45 * normal);
  });
  const average = samples.reduce((sum, value) => sum + value, 0) / count;
  const variance = samples.reduce((sum, value) => sum + (value - average) ** 2, 0) / Math.max(1, count - 1);
  return {
    count,
    minNs: Math.min(...samples),
    maxNs: Math.max(...samples),
    meanNs: average,
    stddevNs: Math.sqrt(variance),
    p50Ns: percentile(samples, 0.5),
    p90Ns: percentile(samples, 0.9),
    p99Ns: percentile(samples, 0.99),
    p999Ns: percentile(samples, 0.999),
    histogram: LatencyHistogram.of(samples).encode(),
  };
}

function repetition(
  workload: WorkloadModel,
  setup: string,
  cache: CacheState,
  index: number,
  traced: boolean,
  options: Required<Pick<SyntheticOptions, 'slowdown'>>,
  random: SeededRandom,
): Repetition {
  const fuse = setup !== 'kernel-erofs' && setup !== 'floor' && setup !== 'native';
  const coldFactor = cache === 'cold' ? (workload.bytesPerOp > 0 ? 2.5 : 4) : 1;
  const perOp =
    workload.latencyNs *
    SETUP_FACTOR[setup]! *
    coldFactor *
    (options.slowdown[setup] ?? 1) *
    (traced ? 1.15 : 1) *
    (0.985 + random.next() * 0.03);
  const ops = workload.opCount;
  const wallNs = Math.round(perOp * ops);
  const cpu = (share: number) => {
    const cpuNs = Math.round(wallNs * share);
    return {
      cpuNs,
      userNs: Math.round(cpuNs * 0.3),
      systemNs: Math.round(cpuNs * 0.7),
      voluntaryCtxSwitches: Math.round(ops * (fuse ? 2 * share : 0.01)),
      involuntaryCtxSwitches: Math.round(ops * 0.005),
      threads: fuse ? 4 : 1,
      threadsExited: 0,
    };
  };
  const client = cpu(fuse ? 0.45 : 0.95);
  const daemon = fuse ? cpu(0.4) : null;
  return {
    index,
    traced,
    startedAt: new Date(Date.UTC(2025, 0, 1, 0, 0, index)).toISOString(),
    wallNs,
    opCount: ops,
    bytes: Math.round(ops * workload.bytesPerOp),
    errors: {},
    ops: workload.kind === '' ? {} : { [workload.kind]: latency(perOp * 0.92, ops - 2, random) },
    client,
    daemon,
    system: {
      ctxSwitches: client.voluntaryCtxSwitches + (daemon?.voluntaryCtxSwitches ?? 0) + Math.round(ops * 0.02),
      userNs: client.userNs + (daemon?.userNs ?? 0),
      systemNs: client.systemNs + (daemon?.systemNs ?? 0) + Math.round(wallNs * 0.05),
      idleNs: Math.round(wallNs * 0.6),
      iowaitNs: cache === 'cold' ? Math.round(wallNs * 0.2) : 0,
    },
    fuse:
      traced && fuse
        ? Object.fromEntries(
            Object.entries(workload.fuse).map(([opcode, perOpCount]) => {
              const count = Math.max(1, Math.round(perOpCount * ops));
              const requestNs = perOp * 0.55;
              return [
                opcode,
                {
                  count,
                  errors: opcode === 'LOOKUP' && workload.name === 'stat-all' ? 3 : 0,
                  totalNs: Math.round(count * requestNs * 1.2),
                  p50Ns: requestNs,
                  p99Ns: requestNs * 5,
                  maxNs: requestNs * 30,
                },
              ];
            }),
          )
        : null,
    vmstat: { pgpgin: cache === 'cold' ? ops * 4 : 0, pgmajfault: 0 },
    machine: {
      intervalNs: wallNs + 2_000_000,
      load1Before: 0.4,
      load1After: 0.9,
      cpuStallNs: 0,
      ioStallNs: 0,
      memoryStallNs: 0,
    },
    verified: workload.bytesPerOp > 0 ? { files: 1, bytes: 64 * MiB, wrong: [] } : null,
  };
}

export function syntheticResult(options: SyntheticOptions = {}): ResultFile {
  const repetitions = options.repetitions ?? 5;
  const random = new SeededRandom(options.seed ?? 'report-test');
  const settings = { slowdown: options.slowdown ?? {} };
  const caches: CacheState[] = ['warm', 'cold'];
  const floor: Measurement[] = [];
  const measurements: Measurement[] = [];
  for (const workload of WORKLOADS) {
    const floorReps = Array.from({ length: repetitions }, (_, index) =>
      repetition(workload, 'floor', 'warm', index, false, settings, random),
    );
    const floorBase = {
      setup: 'floor',
      workload: workload.name,
      family: workload.family,
      params: workload.params,
      cache: 'warm' as const,
      driver: workload.driver,
      driverChoice: null,
      status: 'ok' as const,
      reason: null,
      repetitions: floorReps,
      summary: summarize(workload.metric, floorReps),
    };
    const floorMeasurement = { ...floorBase, warnings: measurementWarnings(floorBase, undefined, 0) };
    floor.push(floorMeasurement);
    for (const cache of caches)
      for (const setup of SETUPS) {
        const reps = Array.from({ length: repetitions }, (_, index) =>
          repetition(workload, setup, cache, index, false, settings, random),
        );
        if (setup !== 'kernel-erofs' && setup !== 'native')
          reps.push(repetition(workload, setup, cache, repetitions, true, settings, random));
        const base = {
          setup,
          workload: workload.name,
          family: workload.family,
          params: workload.params,
          cache,
          driver: workload.driver,
          driverChoice: null,
          status: 'ok' as const,
          reason: null,
          repetitions: reps,
          summary: summarize(workload.metric, reps),
        };
        measurements.push({ ...base, warnings: measurementWarnings(base, floorMeasurement, 0) });
      }
  }
  const startedAt = options.startedAt ?? '2025-03-01T10:00:00.000Z';
  const result: ResultFile = {
    schema: 'fusebench-result',
    schemaVersion: RESULT_SCHEMA_VERSION,
    runId: `${startedAt.replace(/[:.]/g, '-')}-4242`,
    startedAt,
    finishedAt: '2025-03-01T10:42:00.000Z',
    status: 'complete',
    environment: {
      hostname: 'bench1',
      kernelRelease: options.kernelRelease ?? '6.12.9-amd64',
      kernelVersion: '#1 SMP PREEMPT_DYNAMIC Debian 6.12.9-1 (2025-01-10)',
      preemptModel: 'voluntary',
      preemptActive: 'voluntary (debugfs sched/preempt)',
      kernelCmdline: 'BOOT_IMAGE=/vmlinuz-6.12.9-amd64 root=/dev/sda1 ro quiet',
      cpuFrequencyMHz: '2450,2450',
      cpuBoost: 'off',
      loadAtStart: {
        load1: 0.1,
        load5: 0.2,
        load15: 0.1,
        cpuSomeAvg10: 0,
        ioSomeAvg10: 0,
        memorySomeAvg10: 0,
      },
      cpuModel: 'AMD EPYC 7B13',
      cpus: 2,
      governor: 'performance',
      smt: 'off',
      memoryBytes: 24 * 1024 ** 3,
      thp: 'madvise',
      nodeVersion: 'v20.18.1',
      fusebenchVersion: '0.1.0',
      gitCommit: '0123456789abcdef0123456789abcdef01234567',
      mkfsErofsVersion: '1.8.4',
      facts: { 'fuse.max_user_bgreq': 12, libfuse: '2.9.9' },
    },
    config: {
      profile: 'quick',
      setups: [...SETUPS],
      workloads: WORKLOADS.map((workload) => workload.name),
      cacheStates: caches,
      repetitions,
      warmupRepetitions: 1,
      seed: 1,
      driver: 'node',
      fuse: { transport: 'devfuse', entryTimeout: 1, attrTimeout: 1, directIo: false },
      image: { compression: 'lz4hc', chunkSize: null, pclusterSize: 65536, extraArgs: '' },
      pinning: { client: null, daemon: null },
    },
    dataset: {
      name: 'small-tree',
      profile: 'quick',
      seed: 1,
      sourceDir: '/var/cache/fusebench/datasets/small-1',
      contentHash: 'sha256:9f2c4e1d7a0b3c5e8f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70',
      files: 11000,
      dirs: 900,
      symlinks: 100,
      bytes: 310 * MiB,
      image: {
        path: '/var/cache/fusebench/images/small-1.erofs',
        bytes: 140 * MiB,
        mkfsVersion: 'mkfs.erofs 1.8.4',
        mkfsArgs: ['-zlz4hc', '-C65536'],
      },
    },
    setups: [
      ...SETUPS.map((name) => ({
        name,
        kind: name === 'kernel-erofs' || name === 'native' ? ('kernel' as const) : ('fuse' as const),
        description: `${name} serving the image`,
        status: 'ok' as const,
        note: null,
        facts: (name === 'kernel-erofs'
          ? { read_ahead_kb: 128 }
          : { max_read: 131072, max_pages: 32 }) as Record<string, number>,
      })),
      {
        name: 'squashfuse',
        kind: 'fuse' as const,
        description: 'squashfuse on a squashfs copy',
        status: 'skipped' as const,
        note: 'squashfuse is not installed',
        facts: {},
      },
      {
        name: 'floor',
        kind: 'floor' as const,
        description: 'tmpfs copy of the tree',
        status: 'ok' as const,
        note: null,
        facts: {},
      },
    ],
    floor,
    measurements,
    warnings: [],
  };
  return resultFileSchema.parse(result);
}
