import { readFileSync } from 'node:fs';
import type { MachineLoad } from '../../results/schema.js';

/**
 * How busy the machine was around a repetition: the 1-minute load average and the pressure stall
 * information of the kernel (Documentation/accounting/psi.rst): /proc/pressure/{cpu,io,memory}
 * `some ... total=µs` counts the time at least one runnable task waited for that resource.
 */

const RESOURCES = ['cpu', 'io', 'memory'] as const;
type Resource = (typeof RESOURCES)[number];

export interface LoadSnapshot {
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
  return { load1, stallUs };
}

export function loadDelta(before: LoadSnapshot, after: LoadSnapshot): MachineLoad {
  const stallNs = (resource: Resource) => {
    const from = before.stallUs[resource];
    const to = after.stallUs[resource];
    return from === null || to === null ? null : Math.max(0, to - from) * 1000;
  };
  return {
    load1Before: before.load1,
    load1After: after.load1,
    cpuStallNs: stallNs('cpu'),
    ioStallNs: stallNs('io'),
    memoryStallNs: stallNs('memory'),
  };
}
