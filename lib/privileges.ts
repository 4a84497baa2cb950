import { closeSync, readFileSync, writeSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { FatalError } from './errors.js';
import { syscalls } from './syscalls.js';

/**
 * Giving up root for good once a FUSE daemon no longer needs it: it parses an untrusted image, and
 * after /dev/fuse is open, the mount made and the image opened, nothing it does needs privilege.
 * All of uid, gid and supplementary groups go to the overflow user; with every uid non-zero the
 * kernel clears the permitted and effective capability sets, which is checked, not assumed.
 */

/** The kernel's overflow uid/gid (nobody/nogroup on Debian). */
export const UNPRIVILEGED_ID = 65534;

function statusField(name: string): string {
  const line = readFileSync('/proc/self/status', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith(`${name}:`));
  return line?.slice(name.length + 1).trim() ?? '';
}

/** Drops to UNPRIVILEGED_ID with no groups and no capabilities; throws if anything is left. */
export function dropPrivileges(): void {
  if (!process.setuid || !process.setgid || !process.setgroups) {
    throw new FatalError('this Node.js cannot change its user');
  }
  process.setgroups([]);
  process.setgid(UNPRIVILEGED_ID);
  process.setuid(UNPRIVILEGED_ID);
  const uids = statusField('Uid').split(/\s+/).map(Number);
  const gids = statusField('Gid').split(/\s+/).map(Number);
  const capabilities = [statusField('CapPrm'), statusField('CapEff')];
  if (uids.some((id) => id !== UNPRIVILEGED_ID) || gids.some((id) => id !== UNPRIVILEGED_ID)) {
    throw new FatalError(`still uid ${uids.join('/')} gid ${gids.join('/')} after dropping privileges`);
  }
  if (capabilities.some((mask) => BigInt(`0x${mask || '0'}`) !== 0n)) {
    throw new FatalError(`capabilities left after dropping privileges: ${capabilities.join(', ')}`);
  }
}

/**
 * The one privileged thing a daemon may still need after dropping root: unmounting its own mount
 * when told to stop. A root shell started beforehand waits on a pipe; a line on it makes the shell
 * detach that one mount point (lazily, so open files keep being served until closed, as on an
 * in-kernel mount). If the daemon dies, the pipe closes and the shell exits without unmounting.
 */
export interface UnmountHelper {
  /** Detaches the mount and waits for the shell to end. */
  unmount(): Promise<void>;
  /** Ends the shell without unmounting (its pipe closes), so it holds neither the mount nor our exit. */
  release(): void;
}

/** How often a stop looks whether the helper's umount has ended. */
const REAP_POLL_MS = 2;

export function startUnmountHelper(mountpoint: string): UnmountHelper {
  // posix_spawn, not node:child_process: a fork copies this whole process's page tables, 11–13 ms
  // of a daemon's start on this PVM guest against ~1 ms, and child_process itself need not load.
  const [pid, input] = syscalls.spawnWithInput('/bin/sh', [
    '/bin/sh',
    '-c',
    'read -r _ && exec umount -l -- "$1"',
    'fusebench-unmount',
    mountpoint,
  ]);
  let inputOpen = true;
  const closeInput = () => {
    if (!inputOpen) return;
    inputOpen = false;
    closeSync(input);
  };
  let reaped: Promise<void> | null = null;
  const ended = () =>
    (reaped ??= (async () => {
      while (syscalls.reapChild(pid) === null) await delay(REAP_POLL_MS);
    })());
  return {
    unmount: async () => {
      if (inputOpen) {
        try {
          writeSync(input, '\n');
        } catch {
          // EPIPE: the shell is gone already (a signal to its process group ended it).
        }
        closeInput();
      }
      await ended();
    },
    release: closeInput,
  };
}
