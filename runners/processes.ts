import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** Processes as /proc shows them: identity that survives pid reuse, and stopping with escalation. */

/** Field 22 of /proc/PID/stat (start time in clock ticks since boot), or null when the process is gone. */
export function processStartTime(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: count fields after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[19]);
  } catch {
    return null;
  }
}

/** Running (a zombie has exited and only waits to be reaped: not alive). */
export function isAlive(pid: number): boolean {
  return processStartTime(pid) !== null && !isZombie(pid);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export async function stopProcess(pid: number, graceMs = 5000): Promise<void> {
  const started = processStartTime(pid);
  if (started === null) return;
  const stillSame = () => processStartTime(pid) === started && !isZombie(pid);
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let waited = 0; waited < graceMs && stillSame(); waited += 50) await sleep(50);
  if (stillSame()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      return;
    }
    for (let waited = 0; waited < 5000 && stillSame(); waited += 20) await sleep(20);
  }
}

/** A zombie has exited and only waits for its parent to reap it. */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}

/** The name (comm) of each of a process's threads now, from /proc/PID/task; [] when it is gone. */
export function threadNames(pid: number): string[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
      try {
        return [readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim()];
      } catch {
        return []; // The thread ended between the listing and the read.
      }
    });
  } catch {
    return [];
  }
}

/** Thread names counted, most first: "node×11, devfuse-0, devfuse-1". */
export function threadCensus(names: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const name of names) counts.set(name, (counts.get(name) ?? 0) + 1);
  return [...counts]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([name, count]) => (count === 1 ? name : `${name}×${count}`))
    .join(', ');
}

/** How many of a process's descriptors are open on /dev/fuse (a FUSE daemon's, clones included). */
export function devFuseDescriptors(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).filter((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === '/dev/fuse';
      } catch {
        return false;
      }
    }).length;
  } catch {
    return 0;
  }
}
