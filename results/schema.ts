import { z } from 'zod';
import { decodeHistogram, encodedHistogramSchema } from './histogram.js';

/**
 * The result file: one JSON document per `fusebench run`, the only thing reports read.
 * Declared once here; the TypeScript types are inferred from the schema, so writer and
 * readers cannot drift apart. Bump RESULT_SCHEMA_VERSION on any incompatible change.
 *
 * Units are in the field names: ...Ns nanoseconds, ...Bytes bytes, ...Kb KiB.
 */
export const RESULT_SCHEMA_VERSION = 2;

const count = z.number().int().nonnegative();
const nanoseconds = z.number().nonnegative();
const factValue = z.union([z.string(), z.number(), z.boolean(), z.null()]);

export const cacheStateSchema = z.enum(['warm', 'cold']);
export type CacheState = z.infer<typeof cacheStateSchema>;

/**
 * Latency of one kind of operation over one repetition (nanoseconds). Percentiles are exact
 * (results/statistics' percentile over every sample); the histogram (results/histogram.ts) keeps
 * the whole distribution for CDFs and merging repetitions.
 */
export const latencySchema = z
  .object({
    count,
    minNs: nanoseconds,
    maxNs: nanoseconds,
    meanNs: nanoseconds,
    stddevNs: nanoseconds,
    p50Ns: nanoseconds,
    p90Ns: nanoseconds,
    p99Ns: nanoseconds,
    p999Ns: nanoseconds,
    /** Every sample in log-linear buckets (fio: rebuilt from fio's own, coarser, bins); null when unknown. */
    histogram: encodedHistogramSchema.nullable(),
  })
  .superRefine((latency, context) => {
    if (latency.histogram === null) return;
    let held: number;
    try {
      held = decodeHistogram(latency.histogram).count;
    } catch {
      return; // reported by the histogram's own schema
    }
    if (held !== latency.count)
      context.addIssue({
        code: 'custom',
        message: `histogram holds ${held} samples, count is ${latency.count}`,
      });
  });
export type Latency = z.infer<typeof latencySchema>;

/** CPU time and context switches of one process (all its threads) over one repetition. */
export const processUsageSchema = z.object({
  /**
   * Time on CPU: for the client from getrusage (µs precision), for daemons the sum of their
   * threads' /proc/PID/task/TID/schedstat run time (ns precision).
   */
  cpuNs: nanoseconds,
  /** User and system split; for daemons from /proc clock ticks (10 ms resolution): read totals from cpuNs. */
  userNs: nanoseconds,
  systemNs: nanoseconds,
  voluntaryCtxSwitches: count,
  involuntaryCtxSwitches: count,
  /** Threads seen during the repetition. */
  threads: count,
  /** Threads that exited during the repetition: their context switches could not be counted. */
  threadsExited: count,
});
export type ProcessUsage = z.infer<typeof processUsageSchema>;

/** Whole-machine deltas from /proc/stat over one repetition. */
export const systemUsageSchema = z.object({
  ctxSwitches: count,
  userNs: nanoseconds,
  systemNs: nanoseconds,
  idleNs: nanoseconds,
  iowaitNs: nanoseconds,
});
export type SystemUsage = z.infer<typeof systemUsageSchema>;

/**
 * FUSE requests of one opcode seen by tracefs, with kernel-side latency: fuse_request_send (the
 * request is queued for the daemon) to fuse_request_end (its reply has been taken in). That span
 * holds the wait in the queue, the daemon's wake-up, read, work and reply write; the tracepoints
 * do not say when the daemon read the request, so queueing alone is not in it.
 */
export const fuseOpcodeSchema = z.object({
  count,
  errors: count,
  totalNs: nanoseconds,
  p50Ns: nanoseconds,
  /** Absent in results written before it was recorded. */
  p90Ns: nanoseconds.optional(),
  p99Ns: nanoseconds,
  maxNs: nanoseconds,
  /** Every send→end latency of the opcode (microsecond trace clock); absent in older results. */
  histogram: encodedHistogramSchema.optional(),
});
export type FuseOpcodeStats = z.infer<typeof fuseOpcodeSchema>;

/**
 * FUSE requests in flight (sent, not yet ended) over a traced repetition, from the same
 * tracepoints: how deep the queue in front of the daemon (and the daemon's own work) was.
 * Requests that get no reply (FORGET, BATCH_FORGET) are not counted.
 */
export const fuseInFlightSchema = z.object({
  /** First traced send to last traced end. */
  spanNs: nanoseconds,
  /** Time-weighted mean of the requests in flight over the span. */
  meanDepth: z.number().nonnegative(),
  maxDepth: count,
  /** Requests already in flight when a request was sent (what it found ahead of it): median and 99th percentile. */
  aheadP50: z.number().nonnegative(),
  aheadP99: z.number().nonnegative(),
});
export type FuseInFlight = z.infer<typeof fuseInFlightSchema>;

/** How busy the machine was around one repetition (bench/measure/machine-load.ts). */
export const machineLoadSchema = z.object({
  /** Time between the two snapshots (the measured section and the client handshake around it). */
  intervalNs: nanoseconds,
  /** 1-minute load average right before and right after. */
  load1Before: z.number().nonnegative(),
  load1After: z.number().nonnegative(),
  /** Time at least one task waited for a CPU, for I/O, for memory (PSI "some"); null without PSI. */
  cpuStallNs: nanoseconds.nullable(),
  ioStallNs: nanoseconds.nullable(),
  memoryStallNs: nanoseconds.nullable(),
});
export type MachineLoad = z.infer<typeof machineLoadSchema>;

/** Files read back after a repetition (outside its timed section) and compared with the manifest. */
export const verificationSchema = z.object({
  files: count,
  bytes: count,
  /** One line per file whose bytes differ from the dataset manifest's checksum. */
  wrong: z.array(z.string()),
});
export type Verification = z.infer<typeof verificationSchema>;

export const repetitionSchema = z.object({
  index: count,
  /**
   * Traced repetitions run with the FUSE tracepoints on; they carry `fuse` and are left out of
   * every timing estimate, because tracing adds cost to FUSE requests and none to in-kernel setups.
   */
  traced: z.boolean(),
  startedAt: z.string(),
  /** Wall time of the measured section only (after setup, before teardown). */
  wallNs: nanoseconds,
  /** Operations the client issued, all kinds together. */
  opCount: count,
  /** Bytes the client read. */
  bytes: count,
  /** Operations that failed unexpectedly, by kind (an expected ENOENT of a negative lookup is no error). */
  errors: z.record(z.string(), count),
  /** Latency per operation kind (stat, open, read, ...); empty for drivers that only time the whole run. */
  ops: z.record(z.string(), latencySchema),
  client: processUsageSchema,
  /** The FUSE daemon(s) of the setup; null for in-kernel setups. */
  daemon: processUsageSchema.nullable(),
  system: systemUsageSchema,
  /** FUSE requests by opcode name (LOOKUP, GETATTR, ...); null when not traced. */
  fuse: z.record(z.string(), fuseOpcodeSchema).nullable(),
  /** FUSE requests in flight over the traced repetition; null when not traced, absent in older results. */
  fuseInFlight: fuseInFlightSchema.nullable().optional(),
  /** Selected /proc/vmstat deltas (pgpgin, pgmajfault, ...). */
  vmstat: z.record(z.string(), z.number()),
  machine: machineLoadSchema,
  /** Null when the workload reads no file data (metadata workloads). */
  verified: verificationSchema.nullable(),
});
export type Repetition = z.infer<typeof repetitionSchema>;

/** The figure a measurement is judged by, with its direction. */
export const metricSchema = z.object({
  name: z.string(),
  unit: z.string(),
  better: z.enum(['lower', 'higher']),
});
export type Metric = z.infer<typeof metricSchema>;

/** Distribution of one metric over the repetitions of a measurement. */
export const estimateSchema = z.object({
  n: count,
  median: z.number(),
  /** Bootstrap 95% confidence interval of the median. */
  ciLow: z.number(),
  ciHigh: z.number(),
  mean: z.number(),
  stddev: z.number(),
  /** Coefficient of variation (stddev / mean). */
  cv: z.number(),
  min: z.number(),
  max: z.number(),
  /** Repetition indexes flagged as outliers (modified z-score > 3.5). */
  outliers: z.array(count),
});
export type Estimate = z.infer<typeof estimateSchema>;

export const summarySchema = z.object({
  metric: metricSchema,
  value: estimateSchema,
  /** Per operation: medians over repetitions of cost / opCount. */
  perOp: z.object({
    clientCpuNs: z.number(),
    clientCtxSwitches: z.number(),
    daemonCpuNs: z.number().nullable(),
    daemonCtxSwitches: z.number().nullable(),
    systemCtxSwitches: z.number(),
    fuseRequests: z.number().nullable(),
  }),
  throughput: z.object({ opsPerSec: z.number(), bytesPerSec: z.number() }),
});
export type Summary = z.infer<typeof summarySchema>;

export const measurementSchema = z.object({
  setup: z.string(),
  workload: z.string(),
  /** Workloads that differ only in a parameter (block size, readers) share a family. */
  family: z.string(),
  params: z.record(z.string(), z.union([z.number(), z.string()])),
  cache: cacheStateSchema,
  /** Which client executed the op stream (node, native, fio, shell). */
  driver: z.string(),
  /** Why `--driver auto` chose this driver for the cell; null when the driver was not chosen. */
  driverChoice: z.string().nullable(),
  /**
   * ok; failed: the setup could not be measured (unavailable, mount or client failure);
   * invalid: the setup returned bytes that differ from the dataset. `reason` says why.
   */
  status: z.enum(['ok', 'failed', 'invalid']),
  reason: z.string().nullable(),
  repetitions: z.array(repetitionSchema),
  summary: summarySchema,
  warnings: z.array(z.string()),
});
export type Measurement = z.infer<typeof measurementSchema>;

export const setupRecordSchema = z.object({
  name: z.string(),
  kind: z.enum(['kernel', 'fuse', 'floor']),
  description: z.string(),
  status: z.enum(['ok', 'skipped', 'failed']),
  /** Why a setup was skipped or failed. */
  note: z.string().nullable(),
  /** Mount options, FUSE INIT parameters, backing device, read_ahead_kb, transport, daemon command, ... */
  facts: z.record(z.string(), factValue),
});
export type SetupRecord = z.infer<typeof setupRecordSchema>;

/** Load average and pressure stall averages (PSI "some avg10", percent) at one moment. */
export const loadStateSchema = z.object({
  load1: z.number().nonnegative(),
  load5: z.number().nonnegative(),
  load15: z.number().nonnegative(),
  /** Null without PSI (CONFIG_PSI off or psi=0). */
  cpuSomeAvg10: z.number().nonnegative().nullable(),
  ioSomeAvg10: z.number().nonnegative().nullable(),
  memorySomeAvg10: z.number().nonnegative().nullable(),
});
export type LoadState = z.infer<typeof loadStateSchema>;

export const environmentSchema = z.object({
  hostname: z.string(),
  kernelRelease: z.string(),
  kernelVersion: z.string(),
  /** The preemption model the kernel was built with (uname -v), or the active one when known. */
  preemptModel: z.string().nullable(),
  /**
   * The active preemption mode of a PREEMPT_DYNAMIC kernel (debugfs sched/preempt, else the
   * preempt= boot option), with where it was read; null when it could not be read.
   */
  preemptActive: z.string().nullable(),
  /** /proc/cmdline. */
  kernelCmdline: z.string(),
  /** Current frequency of each CPU in MHz (cpufreq, else /proc/cpuinfo), comma-separated. */
  cpuFrequencyMHz: z.string().nullable(),
  /** Turbo/boost state (cpufreq boost, intel_pstate no_turbo), null when the machine does not say. */
  cpuBoost: z.string().nullable(),
  /** How busy the machine was when the run started. */
  loadAtStart: loadStateSchema,
  cpuModel: z.string(),
  cpus: count,
  governor: z.string().nullable(),
  smt: z.string().nullable(),
  memoryBytes: count,
  thp: z.string().nullable(),
  nodeVersion: z.string(),
  fusebenchVersion: z.string(),
  gitCommit: z.string().nullable(),
  mkfsErofsVersion: z.string().nullable(),
  /**
   * Anything else worth recording: fuse module parameters, versions of libraries and peer daemons
   * (Debian packages, npm packages), and `fuseInit.SETUP.*`, the FUSE INIT parameters each FUSE
   * setup negotiated as its transport reports them (null: not reported).
   */
  facts: z.record(z.string(), factValue),
});
export type Environment = z.infer<typeof environmentSchema>;

export const datasetSchema = z.object({
  name: z.string(),
  /** Generated from a named profile and seed, or a user directory (then profile and seed are null). */
  profile: z.string().nullable(),
  seed: z.number().nullable(),
  sourceDir: z.string(),
  contentHash: z.string(),
  files: count,
  dirs: count,
  symlinks: count,
  bytes: count,
  image: z.object({
    path: z.string(),
    bytes: count,
    mkfsVersion: z.string(),
    mkfsArgs: z.array(z.string()),
  }),
});
export type Dataset = z.infer<typeof datasetSchema>;

export const runConfigSchema = z.object({
  profile: z.string(),
  setups: z.array(z.string()),
  workloads: z.array(z.string()),
  cacheStates: z.array(cacheStateSchema),
  repetitions: count,
  warmupRepetitions: count,
  seed: z.number(),
  driver: z.string(),
  /** FUSE cache and transport options shared by every FUSE setup. */
  fuse: z.record(z.string(), factValue),
  /** mkfs.erofs options of the image. */
  image: z.record(z.string(), factValue),
  pinning: z.object({ client: z.string().nullable(), daemon: z.string().nullable() }),
});
export type RunConfig = z.infer<typeof runConfigSchema>;

/**
 * What the run was asked to do, as `fusebench run --rerun` reads it back: every option that
 * decides what is measured (not where the result goes or the cache lives).
 */
export const runRequestSchema = z.object({
  profile: z.string(),
  setups: z.array(z.string()),
  setupsNamed: z.boolean(),
  workloads: z.array(z.string()),
  cacheStates: z.array(cacheStateSchema),
  repetitions: count,
  warmup: count,
  seed: count,
  driver: z.enum(['auto', 'node', 'native']),
  trace: z.boolean(),
  floor: z.boolean(),
  dataset: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('profile'), profile: z.string(), seed: count }),
    z.object({ kind: z.literal('directory'), path: z.string() }),
    z.object({ kind: z.literal('image'), path: z.string() }),
    z.object({ kind: z.literal('rootfs'), name: z.literal('debian-minbase') }),
    z.object({ kind: z.literal('tar'), path: z.string() }),
  ]),
  image: z.object({
    compression: z.string().nullable(),
    chunkSize: count.nullable(),
    pclusterSize: count.nullable(),
    extraArgs: z.array(z.string()),
  }),
  fuse: z.object({
    entryTimeout: z.number().nonnegative(),
    attrTimeout: z.number().nonnegative(),
    negativeTimeout: z.number().nonnegative(),
    kernelCache: z.boolean(),
    autoCache: z.boolean(),
    maxRead: count,
    directIo: z.boolean(),
    threads: count,
    /** Absent in results written before it existed: then every thread read the one descriptor. */
    cloneFd: z.boolean().default(false),
    kernelPassthrough: z.boolean(),
    fsname: z.string(),
  }),
  fuseTransport: z.string(),
  loopDirectIo: z.boolean(),
  clientCpus: z.string().nullable(),
  daemonCpus: z.string().nullable(),
  externalSetups: z
    .array(z.object({ name: z.string(), command: z.array(z.string()), description: z.string() }))
    .optional(),
});
export type RunRequest = z.infer<typeof runRequestSchema>;

/** The job file a run came from (`fusebench run --job`), and which point of its sweep it was. */
export const jobOriginSchema = z.object({
  file: z.string(),
  /** SHA-256 of the job file's bytes as read. */
  sha256: z.string(),
  name: z.string(),
  /** The swept FUSE parameters' values at this point. */
  point: z.record(z.string(), factValue),
  pointIndex: count,
  points: count,
});
export type JobOrigin = z.infer<typeof jobOriginSchema>;

export const resultFileSchema = z.object({
  schema: z.literal('fusebench-result'),
  schemaVersion: z.literal(RESULT_SCHEMA_VERSION),
  runId: z.string(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  /**
   * `running` while measurements are being added; `interrupted` after a signal; `failed` when the
   * run stopped on an error or a requested cell failed or read wrong data; `complete` otherwise;
   * `killed` when the run's process died without finishing (marked by `fusebench cleanup`).
   */
  status: z.enum(['running', 'complete', 'interrupted', 'failed', 'killed']),
  environment: environmentSchema,
  config: runConfigSchema,
  dataset: datasetSchema,
  setups: z.array(setupRecordSchema),
  /** The same op streams against a tmpfs copy of the tree, warm: the cost of the driver itself. */
  floor: z.array(measurementSchema),
  measurements: z.array(measurementSchema),
  warnings: z.array(z.string()),
  /** What the run was asked to do (absent in results written before reruns existed). */
  request: runRequestSchema.optional(),
  /** Present when the run came from a job file. */
  job: jobOriginSchema.optional(),
});
export type ResultFile = z.infer<typeof resultFileSchema>;
