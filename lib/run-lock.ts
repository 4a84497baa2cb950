import { closeSync, constants, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { FatalError } from './errors.js';
import { syscalls } from './syscalls.js';

/**
 * One run at a time per machine: cold repetitions drop the caches of the whole machine and
 * tracing touches global kernel state, so two runs would corrupt each other's figures. The lock
 * is flock(2) on a file in /run, so the kernel releases it when its holder dies, whatever kills it;
 * the file names the holder for the message a second run prints.
 */

export const RUN_LOCK_PATH = process.env.FUSEBENCH_RUN_LOCK ?? '/run/fusebench.lock';
const WAIT_POLL_MS = 500;

export interface LockHolder {
  pid: number;
  startedAt: string;
  command: string;
}

function describeHolder(fd: number): string {
  try {
    const holder = JSON.parse(readFileSync(fd, 'utf8')) as LockHolder;
    return `pid ${holder.pid}, started ${holder.startedAt}: ${holder.command}`;
  } catch {
    return 'a process that has not said who it is yet';
  }
}

/**
 * Takes the machine's run lock, or throws naming the holder; with `wait`, queues behind it,
 * saying once whom it waits for. Resolves to the function that releases the lock.
 */
export async function acquireRunLock(options: {
  wait: boolean;
  signal: AbortSignal;
  onWait: (holder: string) => void;
}): Promise<() => void> {
  const fd = openSync(RUN_LOCK_PATH, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o644);
  try {
    let told = false;
    while (!syscalls.flockExclusive(fd)) {
      const holder = describeHolder(fd);
      if (!options.wait) {
        throw new FatalError(
          `another fusebench run holds this machine (${holder}); wait for it, or use --wait to queue behind it`,
        );
      }
      if (!told) options.onWait(holder);
      told = true;
      await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
      if (options.signal.aborted) throw new FatalError('interrupted while waiting for the run lock');
    }
    const holder: LockHolder = {
      pid: process.pid,
      startedAt: new Date().toISOString(),
      command: ['fusebench', ...process.argv.slice(2)].join(' '),
    };
    ftruncateSync(fd);
    writeSync(fd, JSON.stringify(holder), 0);
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  // Closing the descriptor releases the lock; the file stays, harmless, for the next run.
  return () => closeSync(fd);
}
