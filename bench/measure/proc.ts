import { readdirSync, readFileSync } from 'node:fs';
import type { ProcessUsage, SystemUsage } from '../../results/schema.js';

/**
 * Counters of processes and of the whole machine from /proc, taken right before and right after
 * the measured section. Knows nothing of setups: it is given pids.
 */

/** USER_HZ: the unit of /proc/stat and /proc/PID/stat times (100 on every Linux architecture fusebench runs on). */
const CLOCK_TICK_NS = 10_000_000;

interface TaskCounters {
  runNs: number;
  userTicks: number;
  systemTicks: number;
  voluntary: number;
  involuntary: number;
}

/** One process: its threads' counters by tid. */
export type ProcessSnapshot = Map<number, TaskCounters>;

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function statFields(text: string): string[] {
  // Fields after the command name, which may itself contain spaces and parentheses.
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

function taskCounters(pid: number, tid: number): TaskCounters | null {
  const base = `/proc/${pid}/task/${tid}`;
  const stat = readOrNull(`${base}/stat`);
  const status = readOrNull(`${base}/status`);
  const schedstat = readOrNull(`${base}/schedstat`);
  if (stat === null || status === null || schedstat === null) return null;
  const fields = statFields(stat);
  return {
    runNs: Number(schedstat.split(' ')[0]),
    userTicks: Number(fields[11]),
    systemTicks: Number(fields[12]),
    voluntary: Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0),
    involuntary: Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0),
  };
}

export function snapshotProcess(pid: number): ProcessSnapshot {
  const snapshot: ProcessSnapshot = new Map();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return snapshot;
  }
  for (const tid of tids) {
    const counters = taskCounters(pid, Number(tid));
    if (counters) snapshot.set(Number(tid), counters);
  }
  return snapshot;
}

/**
 * What the threads did between two snapshots. A thread that exited in between takes its counters
 * with it: that is counted in threadsExited, so a reader knows the totals are a lower bound.
 */
export function processDelta(before: ProcessSnapshot, after: ProcessSnapshot): ProcessUsage {
  const usage: ProcessUsage = {
    cpuNs: 0,
    userNs: 0,
    systemNs: 0,
    voluntaryCtxSwitches: 0,
    involuntaryCtxSwitches: 0,
    threads: 0,
    threadsExited: 0,
  };
  const zero: TaskCounters = { runNs: 0, userTicks: 0, systemTicks: 0, voluntary: 0, involuntary: 0 };
  for (const [tid, end] of after) {
    const start = before.get(tid) ?? zero;
    usage.cpuNs += end.runNs - start.runNs;
    usage.userNs += (end.userTicks - start.userTicks) * CLOCK_TICK_NS;
    usage.systemNs += (end.systemTicks - start.systemTicks) * CLOCK_TICK_NS;
    usage.voluntaryCtxSwitches += end.voluntary - start.voluntary;
    usage.involuntaryCtxSwitches += end.involuntary - start.involuntary;
  }
  usage.threads = new Set([...before.keys(), ...after.keys()]).size;
  usage.threadsExited = [...before.keys()].filter((tid) => !after.has(tid)).length;
  return usage;
}

/**
 * Page faults and storage reads of a whole process so far (all its threads, exited ones too).
 * A fault of a file-backed page that is not in the page cache counts as major and its read in
 * storageReadBytes, as do the pread(2)s that miss the cache: after drop_caches a daemon pays
 * both for its own program text and for the image.
 */
export interface ProcessPaging {
  minorFaults: number;
  majorFaults: number;
  storageReadBytes: number;
}

export function processPaging(pid: number): ProcessPaging | null {
  const stat = readOrNull(`/proc/${pid}/stat`);
  const io = readOrNull(`/proc/${pid}/io`);
  if (stat === null || io === null) return null;
  const fields = statFields(stat);
  return {
    minorFaults: Number(fields[7]),
    majorFaults: Number(fields[9]),
    storageReadBytes: Number(/^read_bytes:\s+(\d+)/m.exec(io)?.[1] ?? 0),
  };
}

/** Sums several processes' usage (a setup with more than one daemon, parallel clients). */
export function sumUsage(usages: readonly ProcessUsage[]): ProcessUsage {
  const total: ProcessUsage = {
    cpuNs: 0,
    userNs: 0,
    systemNs: 0,
    voluntaryCtxSwitches: 0,
    involuntaryCtxSwitches: 0,
    threads: 0,
    threadsExited: 0,
  };
  for (const usage of usages) {
    for (const key of Object.keys(total) as (keyof ProcessUsage)[]) total[key] += usage[key];
  }
  return total;
}

export interface SystemSnapshot {
  ctxt: number;
  user: number;
  system: number;
  idle: number;
  iowait: number;
  vmstat: Map<string, number>;
}

/** The /proc/vmstat counters worth a line in a result: page-ins, faults, readahead, refaults. */
const VMSTAT_KEYS = [
  'pgpgin',
  'pgfault',
  'pgmajfault',
  'workingset_refault_file',
  'pgscan_kswapd',
  'nr_file_pages',
];

export function snapshotSystem(): SystemSnapshot {
  const stat = readFileSync('/proc/stat', 'utf8');
  const cpu = /^cpu\s+(.*)$/m.exec(stat)?.[1]?.split(/\s+/).map(Number) ?? [];
  const vmstat = new Map<string, number>();
  for (const line of readFileSync('/proc/vmstat', 'utf8').split('\n')) {
    const [key, value] = line.split(' ');
    if (key && VMSTAT_KEYS.includes(key)) vmstat.set(key, Number(value));
  }
  return {
    ctxt: Number(/^ctxt (\d+)$/m.exec(stat)?.[1] ?? 0),
    // user + nice, system + irq + softirq, idle, iowait (proc(5) column order).
    user: (cpu[0] ?? 0) + (cpu[1] ?? 0),
    system: (cpu[2] ?? 0) + (cpu[5] ?? 0) + (cpu[6] ?? 0),
    idle: cpu[3] ?? 0,
    iowait: cpu[4] ?? 0,
    vmstat,
  };
}

export function systemDelta(
  before: SystemSnapshot,
  after: SystemSnapshot,
): { system: SystemUsage; vmstat: Record<string, number> } {
  const vmstat: Record<string, number> = {};
  for (const [key, value] of after.vmstat) {
    // nr_file_pages is a level, not a counter: record its change all the same (pages added to the cache).
    vmstat[key] = value - (before.vmstat.get(key) ?? 0);
  }
  return {
    system: {
      ctxSwitches: after.ctxt - before.ctxt,
      userNs: (after.user - before.user) * CLOCK_TICK_NS,
      systemNs: (after.system - before.system) * CLOCK_TICK_NS,
      idleNs: (after.idle - before.idle) * CLOCK_TICK_NS,
      iowaitNs: (after.iowait - before.iowait) * CLOCK_TICK_NS,
    },
    vmstat,
  };
}
