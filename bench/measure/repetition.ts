import { max, mean, min, sampleStandardDeviation } from 'simple-statistics';
import { findMount } from '../../lib/mounts.js';
import { LatencyHistogram } from '../../results/histogram.js';
import type { Latency, ProcessUsage, Repetition } from '../../results/schema.js';
import { percentiles } from '../../results/statistics.js';
import type { OpKind } from '../../workloads/ops.js';
import type { ClientProcesses, OpsDriver } from './client-processes.js';
import { runFio, runOpsClients, runShell } from './clients.js';
import { type LoadSnapshot, loadDelta, snapshotLoad } from './machine-load.js';
import {
  type ProcessSnapshot,
  processDelta,
  type SystemSnapshot,
  snapshotProcess,
  snapshotSystem,
  sumUsage,
  systemDelta,
} from './proc.js';
import { type FuseTracer, fuseConnectionOf, type TraceResult } from './tracefs.js';

/**
 * One repetition of one workload against one mount point: the clients' measured section framed
 * by counter snapshots of the daemons, the machine and (for traced repetitions) tracefs.
 * Knows a mount point and pids, never which setup they belong to.
 */

export interface Target {
  mountpoint: string;
  daemonPids: number[];
}

export type RepetitionWork =
  | { driver: OpsDriver; opsFiles: string[]; kinds: OpKind[][] }
  | { driver: 'shell'; command: string; listFile: string | null; opCount: number }
  | { driver: 'fio'; job: string[]; readers: number };

export interface RepetitionOptions {
  target: Target;
  work: RepetitionWork;
  index: number;
  workDir: string;
  /** Op-stream clients; shell commands and fio are started pinned to `clientCpus`. */
  clients: ClientProcesses;
  clientCpus: string | null;
  signal: AbortSignal;
  /** When set, FUSE requests of the target's connection are traced during this repetition. */
  tracer: FuseTracer | null;
}

/** Latency statistics of one operation kind: exact figures, and the histogram that keeps them all. */
export function summarizeLatencies(values: number[]): Latency {
  const count = values.length;
  // One sort for the four percentiles: every repetition summarizes thousands of latencies per kind.
  const [p50Ns, p90Ns, p99Ns, p999Ns] = percentiles(values, [0.5, 0.9, 0.99, 0.999]) as [
    number,
    number,
    number,
    number,
  ];
  return {
    count,
    minNs: min(values),
    maxNs: max(values),
    meanNs: mean(values),
    stddevNs: count > 1 ? sampleStandardDeviation(values) : 0,
    p50Ns,
    p90Ns,
    p99Ns,
    p999Ns,
    histogram: LatencyHistogram.of(values).encode(),
  };
}

function latencyByKind(kinds: OpKind[][], latencies: Float64Array[]): Record<string, Latency> {
  const byKind = new Map<string, number[]>();
  kinds.forEach((streamKinds, stream) => {
    const values = latencies[stream]!;
    streamKinds.forEach((kind, index) => {
      const list = byKind.get(kind);
      const value = values[index]!;
      if (list) list.push(value);
      else byKind.set(kind, [value]);
    });
  });
  return Object.fromEntries(
    [...byKind]
      .sort((a, b) => (a[0] < b[0] ? -1 : 1))
      .map(([kind, values]) => [kind, summarizeLatencies(values)]),
  );
}

export interface RepetitionOutcome {
  repetition: Repetition;
  /** Trace events the ring buffer dropped (traced repetitions only). */
  traceOverruns: number;
}

export async function runRepetition(options: RepetitionOptions): Promise<RepetitionOutcome> {
  const { target, work, tracer } = options;
  let daemonBefore: ProcessSnapshot[] = [];
  let daemonAfter: ProcessSnapshot[] = [];
  let systemBefore: SystemSnapshot | null = null;
  let systemAfter: SystemSnapshot | null = null;
  let trace: TraceResult | null = null;
  const connection = tracer ? fuseConnectionOf(findMount(target.mountpoint)?.device ?? '0:0') : 0;
  let loadBefore: LoadSnapshot | null = null;
  let loadAfter: LoadSnapshot | null = null;
  const beforeGo = () => {
    loadBefore = snapshotLoad();
    if (tracer) tracer.start(connection);
    daemonBefore = target.daemonPids.map(snapshotProcess);
    systemBefore = snapshotSystem();
  };
  const afterDone = () => {
    systemAfter = snapshotSystem();
    daemonAfter = target.daemonPids.map(snapshotProcess);
    if (tracer) trace = tracer.stop();
    loadAfter = snapshotLoad();
  };
  const startedAt = new Date().toISOString();
  let client: ProcessUsage;
  let wallNs: number;
  let opCount: number;
  let bytes = 0;
  let ops: Record<string, Latency> = {};
  const errors: Record<string, number> = {};
  if (work.driver === 'shell') {
    const result = await runShell({
      command: work.command,
      cwd: target.mountpoint,
      listFile: work.listFile,
      workDir: options.workDir,
      cpus: options.clientCpus,
      signal: options.signal,
      beforeGo,
      afterDone,
    });
    client = result.usage;
    wallNs = result.wallNs;
    opCount = work.opCount;
  } else if (work.driver === 'fio') {
    const result = await runFio({
      job: work.job,
      cwd: target.mountpoint,
      workDir: options.workDir,
      cpus: options.clientCpus,
      signal: options.signal,
      beforeGo,
      afterDone,
    });
    client = result.usage;
    // fio's own clock: the sum of I/O latencies, so fio's start-up is not in per-op figures. With
    // N jobs (readers) running at once, that sum over N: the section as if the jobs fully overlap
    // (fio reports its run time in whole ms only, too coarse for these runs).
    wallNs = (result.latency.meanNs * result.ios) / work.readers;
    opCount = result.ios;
    bytes = result.bytes;
    ops = { pread: result.latency };
  } else {
    const result = await runOpsClients({
      clients: options.clients,
      driver: work.driver,
      opsFiles: work.opsFiles,
      mountpoint: target.mountpoint,
      workDir: options.workDir,
      beforeGo,
      afterDone,
    });
    client = sumUsage(
      result.reports.map((report) => ({
        cpuNs: report.userNs + report.systemNs,
        userNs: report.userNs,
        systemNs: report.systemNs,
        voluntaryCtxSwitches: report.voluntaryCtxSwitches,
        involuntaryCtxSwitches: report.involuntaryCtxSwitches,
        threads: 0,
        threadsExited: 0,
      })),
    );
    // Parallel clients run together: the section lasts as long as the slowest.
    wallNs = Math.max(...result.reports.map((report) => report.wallNs));
    opCount = result.reports.reduce((sum, report) => sum + report.opCount, 0);
    bytes = result.reports.reduce((sum, report) => sum + report.bytes, 0);
    for (const report of result.reports) {
      for (const [kind, count] of Object.entries(report.errors)) errors[kind] = (errors[kind] ?? 0) + count;
    }
    ops = latencyByKind(work.kinds, result.latencies);
  }
  const { system, vmstat } = systemDelta(systemBefore!, systemAfter!);
  const daemon =
    target.daemonPids.length > 0
      ? sumUsage(daemonBefore.map((before, index) => processDelta(before, daemonAfter[index]!)))
      : null;
  const traced = trace as TraceResult | null;
  const repetition: Repetition = {
    index: options.index,
    traced: tracer !== null,
    startedAt,
    wallNs,
    opCount,
    bytes,
    errors,
    ops,
    client,
    daemon,
    system,
    fuse: traced ? traced.opcodes : null,
    fuseInFlight: traced ? traced.inFlight : null,
    vmstat,
    machine: loadDelta(loadBefore!, loadAfter!),
    verified: null,
  };
  return { repetition, traceOverruns: traced?.overruns ?? 0 };
}
