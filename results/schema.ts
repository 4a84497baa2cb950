import { z } from 'zod';
import { encodedHistogramSchema } from './histogram.js';

/**
 * The result file: one JSON document per `fusebench run`, the only thing reports read.
 * Declared once here; the TypeScript types are inferred from the schema, so writer and
 * readers cannot drift apart. Bump RESULT_SCHEMA_VERSION on any incompatible change.
 *
 * Units are in the field names: ...Ns nanoseconds, ...Bytes bytes, ...Kb KiB.
 */
export const RESULT_SCHEMA_VERSION = 1;

const count = z.number().int().nonnegative();
const nanoseconds = z.number().nonnegative();
const factValue = z.union([z.string(), z.number(), z.boolean(), z.null()]);

export const cacheStateSchema = z.enum(['warm', 'cold']);
export type CacheState = z.infer<typeof cacheStateSchema>;

/** Latency of one kind of operation over one repetition, from an HDR histogram (nanoseconds). */
export const latencySchema = z.object({
  count,
  minNs: nanoseconds,
  maxNs: nanoseconds,
  meanNs: nanoseconds,
  stddevNs: nanoseconds,
  p50Ns: nanoseconds,
  p90Ns: nanoseconds,
  p99Ns: nanoseconds,
  p999Ns: nanoseconds,
  /** Every sample, log-linear buckets (results/histogram.ts); absent or null without one. */
  histogram: encodedHistogramSchema.nullable().optional(),
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

/** FUSE requests of one opcode seen by tracefs, with kernel-side latency (send to end). */
export const fuseOpcodeSchema = z.object({
  count,
  errors: count,
  totalNs: nanoseconds,
  p50Ns: nanoseconds,
  p99Ns: nanoseconds,
  maxNs: nanoseconds,
});
export type FuseOpcodeStats = z.infer<typeof fuseOpcodeSchema>;

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
  /** Selected /proc/vmstat deltas (pgpgin, pgmajfault, ...). */
  vmstat: z.record(z.string(), z.number()),
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

export const environmentSchema = z.object({
  hostname: z.string(),
  kernelRelease: z.string(),
  kernelVersion: z.string(),
  preemptModel: z.string().nullable(),
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
  /** Anything else worth recording (fuse module parameters, libfuse version, ...). */
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

export const resultFileSchema = z.object({
  schema: z.literal('fusebench-result'),
  schemaVersion: z.literal(RESULT_SCHEMA_VERSION),
  runId: z.string(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  /** `running` while measurements are being added; `interrupted` after a signal; `complete` at the end. */
  status: z.enum(['running', 'complete', 'interrupted', 'failed']),
  environment: environmentSchema,
  config: runConfigSchema,
  dataset: datasetSchema,
  setups: z.array(setupRecordSchema),
  /** The same op streams against a tmpfs copy of the tree, warm: the cost of the driver itself. */
  floor: z.array(measurementSchema),
  measurements: z.array(measurementSchema),
  warnings: z.array(z.string()),
});
export type ResultFile = z.infer<typeof resultFileSchema>;
