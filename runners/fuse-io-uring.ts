import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { FatalError } from '../lib/errors.js';

/**
 * The fuse module's `enable_uring` parameter (Linux 6.14+): while it is N the kernel does not
 * offer FUSE_OVER_IO_URING in INIT, and devfuse-uring serves by read/write on /dev/fuse. Only a
 * mount made while it is Y can use the ring. Whoever turns it on records the old value (the run's
 * cleanup journal, a test's `after`) and puts it back with `setFuseIoUring(old)`.
 */
export const ENABLE_URING_PARAMETER = '/sys/module/fuse/parameters/enable_uring';

/** The parameter's value, or null when this kernel has no FUSE over io_uring. */
export function fuseIoUringEnabled(): boolean | null {
  if (!existsSync(ENABLE_URING_PARAMETER)) return null;
  return readFileSync(ENABLE_URING_PARAMETER, 'utf8').trim() === 'Y';
}

/** Sets the parameter; returns the value it had. */
export function setFuseIoUring(enabled: boolean): boolean {
  const old = fuseIoUringEnabled();
  if (old === null)
    throw new FatalError(`${ENABLE_URING_PARAMETER} is missing: this kernel has no FUSE over io_uring`);
  try {
    writeFileSync(ENABLE_URING_PARAMETER, enabled ? '1' : '0');
  } catch (error) {
    throw new FatalError(`cannot write ${ENABLE_URING_PARAMETER}: ${(error as Error).message}`);
  }
  return old;
}
