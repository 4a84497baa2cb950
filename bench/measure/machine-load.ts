import { readFileSync } from 'node:fs';
import type { LoadState, MachineLoad } from '../../results/schema.js';

/**
 * How busy the machine was around a repetition: the 1-minute load average and the pressure stall
 * information of the kernel (Documentation/accounting/psi.rst): /proc/pressure/{cpu,io,memory}
 * `some ... total=µs` counts the time at least one runnable task waited for that resource.
 */

const RESOURCES = ['cpu', 'io', 'memory'] as const;
type Resource = (typeof RESOURCES)[number];

export interface LoadSnapshot {
  /** process.hrtime.bigint() when taken. */
  takenNs: bigint;
  load1: number;
  /** Cumulative "some" stall per resource (µs), or null without PSI (CONFIG_PSI off or psi=0). */
  stallUs: Record<Resource, number | null>;
}

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** The `total=` of the `some` line of a /proc/pressure file. */
export function someStallUs(text: string | null): number | null {
  const total = text === null ? undefined : /^some .*\btotal=(\d+)/m.exec(text)?.[1];
  return total === undefined ? null : Number(total);
}

export function snapshotLoad(): LoadSnapshot {
  const load1 = Number(read('/proc/loadavg')?.split(' ')[0] ?? 0);
  const stallUs = Object.fromEntries(
    RESOURCES.map((resource) => [resource, someStallUs(read(`/proc/pressure/${resource}`))]),
  ) as Record<Resource, number | null>;
  return { takenNs: process.hrtime.bigint(), load1, stallUs };
}

export function loadDelta(before: LoadSnapshot, after: LoadSnapshot): MachineLoad {
  const stallNs = (resource: Resource) => {
    const from = before.stallUs[resource];
    const to = after.stallUs[resource];
    return from === null || to === null ? null : Math.max(0, to - from) * 1000;
  };
  return {
    intervalNs: Number(after.takenNs - before.takenNs),
    load1Before: before.load1,
    load1After: after.load1,
    cpuStallNs: stallNs('cpu'),
    ioStallNs: stallNs('io'),
    memoryStallNs: stallNs('memory'),
  };
}

/** The `avg10=` of the `some` line of a /proc/pressure file (percent of the last 10 s). */
export function someAvg10(text: string | null): number | null {
  const average = text === null ? undefined : /^some .*\bavg10=([\d.]+)/m.exec(text)?.[1];
  return average === undefined ? null : Number(average);
}

/** Load averages and pressure right now, for the environment of a run. */
export function loadState(): LoadState {
  const [load1 = 0, load5 = 0, load15 = 0] = (read('/proc/loadavg') ?? '').split(' ').map(Number);
  const avg10 = (resource: Resource) => someAvg10(read(`/proc/pressure/${resource}`));
  return {
    load1,
    load5,
    load15,
    cpuSomeAvg10: avg10('cpu'),
    ioSomeAvg10: avg10('io'),
    memorySomeAvg10: avg10('memory'),
  };
}
