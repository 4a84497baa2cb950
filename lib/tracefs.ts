import { existsSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findMount, unmount } from './mounts.js';
import { MountFlags, syscalls } from './syscalls.js';

/**
 * tracefs as shared machine state. Several fusebench runs (and other tools) may trace at once,
 * each in a private instance; tracefs itself is mounted by fusebench only when nobody had, and a
 * marker file records that, so whichever fusebench user is last out unmounts it, never one that
 * another run's instance still lives in. Instances outlive an unmounted tracefs in the kernel, so
 * removing one mounts tracefs for the moment if needed.
 */

export const TRACEFS = '/sys/kernel/tracing';
const INSTANCES = join(TRACEFS, 'instances');
/** Present while tracefs is mounted because fusebench mounted it. */
const MOUNTED_BY_FUSEBENCH = '/run/fusebench-tracefs-mounted';
export const INSTANCE_PREFIX = 'fusebench-';

export function tracefsMounted(): boolean {
  return findMount(TRACEFS)?.fstype === 'tracefs';
}

export function mountTracefs(): void {
  syscalls.mount(
    'tracefs',
    TRACEFS,
    'tracefs',
    MountFlags.MS_NOSUID | MountFlags.MS_NODEV | MountFlags.MS_NOEXEC,
    '',
  );
}

/** Mounts tracefs if nobody has; returns whether tracefs is (now) fusebench's to unmount when unused. */
export function acquireTracefs(): boolean {
  if (!tracefsMounted()) {
    mountTracefs();
    writeFileSync(MOUNTED_BY_FUSEBENCH, `${process.pid}\n`);
  }
  return existsSync(MOUNTED_BY_FUSEBENCH);
}

/** Whether the process an instance is named after (fusebench-PID) still runs. */
function ownerAlive(name: string): boolean {
  const pid = Number(name.slice(INSTANCE_PREFIX.length));
  return !Number.isInteger(pid) || pid <= 0 || existsSync(`/proc/${pid}`);
}

/** fusebench instances whose run is gone (killed before its cleanup removed them). */
export function orphanInstances(): string[] {
  if (!tracefsMounted()) return [];
  return readdirSync(INSTANCES)
    .filter((name) => name.startsWith(INSTANCE_PREFIX) && !ownerAlive(name))
    .map((name) => join(INSTANCES, name));
}

/** Unmounts tracefs if fusebench mounted it and no live fusebench run has an instance in it. */
export async function releaseTracefs(): Promise<void> {
  if (!existsSync(MOUNTED_BY_FUSEBENCH)) return;
  if (!tracefsMounted()) {
    rmSync(MOUNTED_BY_FUSEBENCH, { force: true });
    return;
  }
  if (readdirSync(INSTANCES).some((name) => name.startsWith(INSTANCE_PREFIX) && ownerAlive(name))) return;
  // Instances of killed runs die with the mount's last user: nothing reads them.
  for (const orphan of orphanInstances()) rmdirSync(orphan);
  await unmount(TRACEFS);
  if (tracefsMounted()) throw new Error(`${TRACEFS} is still mounted`);
  rmSync(MOUNTED_BY_FUSEBENCH, { force: true });
}

/** Removes a tracing instance (it lives in the kernel even while tracefs is not mounted). */
export async function removeTracefsInstance(path: string): Promise<void> {
  const wasMounted = tracefsMounted();
  if (!wasMounted) mountTracefs();
  try {
    if (existsSync(path)) rmdirSync(path);
  } finally {
    if (!wasMounted) await unmount(TRACEFS);
  }
}
