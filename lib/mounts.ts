import { readFileSync } from 'node:fs';
import { MountFlags, syscalls, UnmountFlags } from './syscalls.js';

/**
 * Mounts as the kernel records them. /proc/self/mountinfo is the only record of what is mounted:
 * cleanup and readiness checks read it and never guess. Commands run without a shell, so no path
 * is ever interpreted.
 */

export interface MountEntry {
  mountId: number;
  /** "major:minor" of the filesystem (st_dev of files in it). */
  device: string;
  mountpoint: string;
  options: string;
  fstype: string;
  source: string;
  superOptions: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescapeOctal(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

export function readMountInfo(path = '/proc/self/mountinfo'): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line === '') continue;
    const fields = line.split(' ');
    const separator = fields.indexOf('-');
    if (separator < 6 || fields.length < separator + 4) continue;
    entries.push({
      mountId: Number(fields[0]),
      device: fields[2]!,
      mountpoint: unescapeOctal(fields[4]!),
      options: fields[5]!,
      fstype: fields[separator + 1]!,
      source: unescapeOctal(fields[separator + 2]!),
      superOptions: fields[separator + 3]!,
    });
  }
  return entries;
}

/** The topmost mount at exactly `mountpoint`, if any. */
export function findMount(mountpoint: string): MountEntry | undefined {
  return readMountInfo()
    .filter((entry) => entry.mountpoint === mountpoint)
    .at(-1);
}

export function isMounted(mountpoint: string): boolean {
  return findMount(mountpoint) !== undefined;
}

/**
 * Mounts an EROFS image file (the kernel's file-backed mount) or a block device holding one,
 * read-only, with extra -o options (e.g. "cache_strategy=readaround"). It calls mount(2)
 * directly: mount(8) would silently put a loop device under a regular file.
 */
export function mountErofs(source: string, mountpoint: string, options: string[] = []): void {
  syscalls.mount(source, mountpoint, 'erofs', MountFlags.MS_RDONLY, options.join(','));
}

/**
 * Unmounts `mountpoint` if it is mounted. A FUSE mount whose daemon died answers ENOTCONN and
 * still unmounts; a busy one is retried briefly and then detached lazily so cleanup always ends.
 */
export async function unmount(mountpoint: string): Promise<void> {
  for (let attempt = 0; attempt < 5 && isMounted(mountpoint); attempt++) {
    try {
      syscalls.umount2(mountpoint, 0);
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100 * (attempt + 1)));
    }
  }
  if (isMounted(mountpoint)) {
    try {
      syscalls.umount2(mountpoint, UnmountFlags.MNT_DETACH);
    } catch {
      // Already gone between the check and the call.
    }
  }
}

/** Whether the running kernel knows filesystem type `name` (built in or loaded). */
export function kernelHasFilesystem(name: string): boolean {
  return readFileSync('/proc/filesystems', 'utf8')
    .split('\n')
    .some((line) => line.split('\t').at(-1) === name);
}
