import { readFileSync, statSync } from 'node:fs';
import type { Fact } from '../fuse/transport.js';
import { findMount } from '../lib/mounts.js';

/** Facts about mounts and block devices that a result file records beside each setup. */

/** major and minor of a dev_t as stat(2) returns it (glibc's gnu_dev_major/minor). */
export function splitDevice(dev: number): { major: number; minor: number } {
  const value = BigInt(dev);
  const major = Number(((value >> 8n) & 0xfffn) | ((value >> 32n) & ~0xfffn));
  const minor = Number((value & 0xffn) | ((value >> 12n) & ~0xffn));
  return { major, minor };
}

function readSysfs(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

function numberOrNull(text: string | null): number | null {
  return text === null || text === '' || Number.isNaN(Number(text)) ? null : Number(text);
}

/** What /proc/self/mountinfo and the mount's backing_dev_info say about a mount. */
export function mountFacts(mountpoint: string): Record<string, Fact> {
  const entry = findMount(mountpoint);
  if (!entry) return { mounted: false };
  return {
    fstype: entry.fstype,
    mountSource: entry.source,
    mountOptions: entry.options,
    superOptions: entry.superOptions,
    device: entry.device,
    // The mount's own readahead window (for FUSE: the connection's bdi, set from max_readahead).
    bdiReadAheadKb: numberOrNull(readSysfs(`/sys/class/bdi/${entry.device}/read_ahead_kb`)),
  };
}

/** The block device holding `path` and its readahead, for the file-backed setups (image or tree). */
export function backingDeviceFacts(path: string): Record<string, Fact> {
  const { major, minor } = splitDevice(statSync(path).dev);
  const sys = `/sys/dev/block/${major}:${minor}`;
  const name = readSysfs(`${sys}/uevent`)?.match(/^DEVNAME=(.*)$/m)?.[1] ?? null;
  // A partition has no queue of its own; its disk's queue is one level up.
  const readAhead = readSysfs(`${sys}/queue/read_ahead_kb`) ?? readSysfs(`${sys}/../queue/read_ahead_kb`);
  return {
    backingDevice: name ? `/dev/${name}` : `${major}:${minor}`,
    backingReadAheadKb: numberOrNull(readAhead),
    backingScheduler: readSysfs(`${sys}/queue/scheduler`) ?? readSysfs(`${sys}/../queue/scheduler`),
  };
}
