import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { FatalError } from '../../lib/errors.js';
import { LatencyHistogram } from '../../results/histogram.js';
import type { Latency, ProcessUsage } from '../../results/schema.js';
import type { ClientReport } from '../../workloads/protocol.js';
import type { ClientProcesses, OpsDriver } from './client-processes.js';

/**
 * Starting client drivers and running their measured section. Three kinds: op-stream drivers
 * (Node or native) that handshake so the measured section excludes their start-up, shell
 * commands (the PERFORMANCE.md scenarios) timed whole under GNU time for their rusage, and fio
 * jobs, whose latencies come from fio's own report.
 */

export interface ClientResult {
  reports: ClientReport[];
  /** One Float64Array of per-operation latencies (ns) per client, in stream order. */
  latencies: Float64Array[];
}

/**
 * Runs one op stream per client, all clients at once: starts their jobs, waits until every one
 * is ready, calls `beforeGo` (snapshot counters), releases them together, waits for every
 * report, then calls `afterDone`. Clients are killed if anything fails or the run is aborted.
 */
export async function runOpsClients(options: {
  clients: ClientProcesses;
  driver: OpsDriver;
  opsFiles: string[];
  mountpoint: string;
  workDir: string;
  beforeGo: () => void;
  afterDone: () => void;
}): Promise<ClientResult> {
  const jobs = options.opsFiles.map((opsFile, index) => ({
    opsFile,
    mountpoint: options.mountpoint,
    latencyFile: join(options.workDir, `latencies-${index}.f64`),
  }));
  const started = await Promise.allSettled(jobs.map((job) => options.clients.begin(options.driver, job)));
  const runs = started.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
  const failedStart = started.find((outcome) => outcome.status === 'rejected');
  try {
    if (failedStart) throw failedStart.reason;
    options.beforeGo();
    for (const run of runs) run.go();
    const reports: ClientReport[] = [];
    for (const run of runs) reports.push(await run.report());
    options.afterDone();
    await Promise.all(runs.map((run) => run.finish()));
    const latencies = jobs.map((job) => {
      const bytes = readFileSync(job.latencyFile);
      return new Float64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8);
    });
    return { reports, latencies };
  } catch (error) {
    await Promise.all(runs.map((run) => run.abort()));
    throw error;
  }
}

export interface ShellResult {
  wallNs: number;
  usage: ProcessUsage;
}

/**
 * Runs `command` with bash in `cwd` under GNU time, which reports the rusage of bash and every
 * process it waited for (tar, cat, xargs, stat). The wall time includes starting bash (~1 ms).
 */
export async function runShell(options: {
  command: string;
  cwd: string;
  listFile: string | null;
  workDir: string;
  cpus: string | null;
  signal: AbortSignal;
  beforeGo: () => void;
  afterDone: () => void;
}): Promise<ShellResult> {
  const timeFile = join(options.workDir, 'time.txt');
  writeFileSync(timeFile, '');
  const timed = [
    '/usr/bin/time',
    '-f',
    '%U %S %w %c',
    '-o',
    timeFile,
    'bash',
    '-c',
    `set -o pipefail; ${options.command}`,
  ];
  const [file, ...args] = options.cpus ? ['taskset', '-c', options.cpus, ...timed] : timed;
  const env = { ...process.env, FUSEBENCH_LIST: options.listFile ?? '', LC_ALL: 'C' };
  options.beforeGo();
  const started = process.hrtime.bigint();
  const result = await execa(file!, args, {
    cwd: options.cwd,
    env,
    reject: false,
    stdin: 'ignore',
    stdout: 'ignore',
    stderr: 'pipe',
    cancelSignal: options.signal,
  });
  const wallNs = Number(process.hrtime.bigint() - started);
  options.afterDone();
  if (result.isCanceled) throw new FatalError('interrupted');
  if (result.exitCode !== 0) {
    throw new FatalError(
      `'${options.command}' failed (exit ${result.exitCode}): ${String(result.stderr).trim().split('\n').at(-1) ?? ''}`,
    );
  }
  const [user = 0, system = 0, voluntary = 0, involuntary = 0] = readFileSync(timeFile, 'utf8')
    .trim()
    .split('\n')
    .at(-1)!
    .split(' ')
    .map(Number);
  const userNs = Math.round(user * 1e9);
  const systemNs = Math.round(system * 1e9);
  return {
    wallNs,
    usage: {
      cpuNs: userNs + systemNs,
      userNs,
      systemNs,
      voluntaryCtxSwitches: voluntary,
      involuntaryCtxSwitches: involuntary,
      threads: 0,
      threadsExited: 0,
    },
  };
}

export interface FioResult extends ShellResult {
  /** I/Os fio completed, their bytes and the latency of each (fio's own clock: submission to completion). */
  ios: number;
  bytes: number;
  latency: Latency;
}

const FIO_COMMON = [
  '--name=fusebench',
  '--readonly',
  '--ioengine=psync',
  // Keep the page cache: fio would otherwise drop the file's pages before starting, making warm runs cold.
  '--invalidate=0',
  '--lat_percentiles=1',
  '--clat_percentiles=0',
  '--percentile_list=50:90:99:99.9',
  // json+ adds the latency bins, from which the histogram of every I/O is rebuilt.
  '--output-format=json+',
];

const shellQuote = (arg: string) => `'${arg.replace(/'/g, `'\\''`)}'`;

/**
 * Runs one fio job in the mount point (under GNU time, like the shell scenarios, for the rusage
 * of the whole fio process) and reads fio's JSON report: I/O count, bytes, latency percentiles.
 */
export async function runFio(options: {
  job: string[];
  cwd: string;
  workDir: string;
  cpus: string | null;
  signal: AbortSignal;
  beforeGo: () => void;
  afterDone: () => void;
}): Promise<FioResult> {
  const report = join(options.workDir, 'fio.json');
  const args = ['fio', ...FIO_COMMON, `--output=${report}`, ...options.job];
  const shell = await runShell({ ...options, command: args.map(shellQuote).join(' '), listFile: null });
  let read: FioReadReport;
  try {
    read = (JSON.parse(readFileSync(report, 'utf8')) as { jobs: Array<{ read: FioReadReport }> }).jobs[0]!
      .read;
  } catch (error) {
    throw new FatalError(
      `fio's report ${report} is unreadable: ${error instanceof Error ? error.message : error}`,
    );
  }
  const lat = read.lat_ns;
  const at = (key: string) => lat.percentile?.[key] ?? lat.max;
  const histogram = lat.bins ? fioHistogram(lat.bins) : null;
  return {
    ...shell,
    ios: read.total_ios,
    bytes: read.io_bytes,
    latency: {
      // The I/Os whose latency fio recorded (its bins hold exactly those).
      count: histogram?.count ?? read.total_ios,
      minNs: lat.min,
      maxNs: lat.max,
      meanNs: lat.mean,
      stddevNs: lat.stddev,
      p50Ns: at('50.000000'),
      p90Ns: at('90.000000'),
      p99Ns: at('99.000000'),
      p999Ns: at('99.900000'),
      histogram: histogram?.encode() ?? null,
    },
  };
}

/**
 * fio's latency bins (json+: a representative value in ns → I/Os) as a histogram. fio's own
 * buckets are 1/64 of a power of two wide, so these histograms are coarser than ours (1/128).
 */
function fioHistogram(bins: Record<string, number>): LatencyHistogram {
  const histogram = new LatencyHistogram();
  for (const [value, count] of Object.entries(bins)) histogram.record(Number(value), count);
  return histogram;
}

interface FioReadReport {
  io_bytes: number;
  total_ios: number;
  lat_ns: {
    min: number;
    max: number;
    mean: number;
    stddev: number;
    percentile?: Record<string, number>;
    bins?: Record<string, number>;
  };
}
