import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FatalError } from '../lib/errors.js';
import type { CleanupStack } from './cleanup.js';

/**
 * FUSE over io_uring (Linux 6.14 on): the kernel offers FUSE_OVER_IO_URING in INIT only while the
 * fuse module's enable_uring parameter is on, and a daemon that accepts serves requests from
 * io_uring rings (libfuse: one per CPU) instead of read(2)/write(2) on /dev/fuse.
 */

export const ENABLE_URING = '/sys/module/fuse/parameters/enable_uring';

/** Why this kernel cannot serve FUSE over io_uring, or null when it can. */
export function fuseUringUnavailable(): string | null {
  return existsSync(ENABLE_URING)
    ? null
    : `this kernel has no ${ENABLE_URING} (FUSE over io_uring needs Linux 6.14+ with CONFIG_FUSE_IO_URING)`;
}

/** The parameter's value, or null when this kernel has no FUSE over io_uring. */
export function fuseIoUringEnabled(): boolean | null {
  if (!existsSync(ENABLE_URING)) return null;
  return readFileSync(ENABLE_URING, 'utf8').trim() === 'Y';
}

/**
 * Sets the parameter and returns the value it had, for tests and benchmarks that put it back
 * themselves; a run goes through enableFuseUring and its cleanup journal instead.
 */
export function setFuseIoUring(enabled: boolean): boolean {
  const old = fuseIoUringEnabled();
  if (old === null) throw new FatalError(fuseUringUnavailable()!);
  try {
    writeFileSync(ENABLE_URING, enabled ? '1' : '0');
  } catch (error) {
    throw new FatalError(`cannot write ${ENABLE_URING}: ${(error as Error).message}`);
  }
  return old;
}

/**
 * Turns enable_uring on for the rest of the run. The old value goes on the cleanup stack (and its
 * journal), so the run's end, a failure, Ctrl-C and `fusebench cleanup` all put it back. When it is
 * already on there is nothing to restore. Returns what the parameter was before the run.
 */
export function enableFuseUring(cleanup: CleanupStack): string {
  const turnedOn = cleanup
    .resources()
    .find((resource) => resource.kind === 'module-parameter' && resource.path === ENABLE_URING);
  if (turnedOn?.kind === 'module-parameter') return turnedOn.previous;
  const previous = readFileSync(ENABLE_URING, 'utf8').trim();
  if (previous === 'Y') return previous;
  cleanup.push({ kind: 'module-parameter', path: ENABLE_URING, previous });
  writeFileSync(ENABLE_URING, '1');
  return previous;
}

export interface IoUringUse {
  /** io_uring instances the process holds (anon_inode:[io_uring] descriptors). */
  rings: number;
  /** Completions posted on them so far (CqTail, summed): for a FUSE daemon, requests fetched from the kernel. */
  completions: number;
}

/** The io_uring rings a process holds and how much they have carried, from /proc/PID/fd and fdinfo. */
export function ioUringUse(pid: number): IoUringUse {
  let rings = 0;
  let completions = 0;
  let descriptors: string[];
  try {
    descriptors = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return { rings, completions };
  }
  for (const fd of descriptors) {
    try {
      if (readlinkSync(join(`/proc/${pid}/fd`, fd)) !== 'anon_inode:[io_uring]') continue;
      rings++;
      const info = readFileSync(join(`/proc/${pid}/fdinfo`, fd), 'utf8');
      completions += Number(/^CqTail:\s*(\d+)/m.exec(info)?.[1] ?? 0);
    } catch {
      // The descriptor closed between listing and reading: not a ring any more.
    }
  }
  return { rings, completions };
}
