import { createRequire } from 'node:module';
import { constants } from 'node:os';

/** The system calls Node.js lacks, from the project's small N-API addon (native/syscalls.c, built by npm install). */
export interface Syscalls {
  /** Value of one extended attribute, without following a final symlink. Throws with `code` (ENODATA, ...). */
  lgetxattr(path: string | Buffer, name: string | Buffer): Buffer;
  /** Names of all extended attributes, without following a final symlink. */
  llistxattr(path: string | Buffer): Buffer[];
  /** mount(2): `flags` are MS_* bits, `data` the filesystem's option string. */
  mount(source: string, target: string, fstype: string, flags: number, data: string): void;
  /** umount2(2): `flags` are MNT_FORCE, MNT_DETACH, ... */
  umount2(target: string, flags: number): void;
  /** Registers `backingFd` with the FUSE connection of `devFuseFd` for FOPEN_PASSTHROUGH; returns its id. */
  fuseBackingOpen(devFuseFd: number, backingFd: number): number;
  fuseBackingClose(devFuseFd: number, backingId: number): void;
  /** FUSE_DEV_IOC_CLONE: `newFd`, a fresh open of /dev/fuse, then reads and answers requests of `mountedFd`'s connection. */
  fuseDevClone(newFd: number, mountedFd: number): void;
  /** flock(fd, LOCK_EX | LOCK_NB): true when taken, false when another process holds the lock. */
  flockExclusive(fd: number): boolean;
  /**
   * One read(2) of a FUSE request into `buffer`: its length, or -errno (never throws for a failed
   * read: ENOENT, EINTR and ENODEV are ordinary events of a serving loop).
   */
  fuseRead(devFuseFd: number, buffer: Buffer): number;
  /** One write(2) of the first `length` bytes of `buffer` (a FUSE reply): bytes written, or -errno. */
  fuseWrite(devFuseFd: number, buffer: Buffer, length: number): number;
  /** One writev(2) of `header` then `data` (a FUSE reply and its argument): bytes written, or -errno. */
  fuseWritev(devFuseFd: number, header: Buffer, data: Buffer): number;
  /**
   * One pread(2) of `length` bytes at `position` of `fd` into `buffer` from `at`: bytes read (0 at
   * the end of the file), or -errno. For image data, read on every FUSE READ.
   */
  preadInto(fd: number, buffer: Buffer, at: number, position: number, length: number): number;
  /**
   * _exit(2): ends every thread at once, without Node's exit, which waits for worker threads (a
   * worker blocked in read(2) on /dev/fuse never returns). No 'exit' handlers run.
   */
  exitProcess(status: number): never;
  /**
   * Calls `onReadable(status)` from the event loop whenever `fd` is readable; `status` < 0 (a libuv
   * error) when poll(2) reported an error, after which the watch has stopped by itself. Keeps the
   * event loop alive until `unwatch`.
   */
  watchReadable(fd: number, onReadable: (status: number) => void): ReadableWatch;
  /** Stops a watch for good; again is nothing. */
  unwatch(watch: ReadableWatch): void;
  /** Sets or clears O_NONBLOCK. */
  setNonBlocking(fd: number, nonBlocking: boolean): void;
  /**
   * Makes each of `signals` that has a handler (Node's, for a `process.on` listener) interrupt a
   * blocking read(2) instead of restarting it, and set `fd` non-blocking as it comes; the handler
   * itself still runs. Until `restoreSignals`.
   */
  interruptingSignals(fd: number, signals: number[]): void;
  /** Makes `fd` blocking unless one of those signals came since; says whether it did. */
  blockUnlessSignalled(fd: number): boolean;
  restoreSignals(): void;
  /**
   * posix_spawn(3) of `path` with argv `args` (up to 16) and this process's environment: its stdin
   * is a new pipe, whose write end (close-on-exec) is returned beside its pid; its stdout and stderr
   * /dev/null; every signal at its default action and none blocked. Nothing reaps it but `reapChild`.
   */
  spawnWithInput(path: string, args: string[]): [pid: number, input: number];
  /** waitpid(pid, WNOHANG): null while the child runs, else its exit status (128 + the signal that killed it). */
  reapChild(pid: number): number | null;
}

/** An opaque handle of the addon's libuv poll. */
export type ReadableWatch = { readonly __brand: 'ReadableWatch' };

const require = createRequire(import.meta.url);

/** Loaded from dist/lib/, two levels below the build directory node-gyp writes at the project root. */
export const syscalls: Syscalls = require('../../build/Release/fusebench_syscalls.node') as Syscalls;

/**
 * A call above that returned -errno, as Node's fs would report it (`code`, negative `errno`,
 * `syscall`): "EIO: pread of IMAGE failed".
 */
export function syscallError(syscall: string, errno: number, subject: string): NodeJS.ErrnoException {
  const code = Object.entries(constants.errno).find(([, value]) => value === errno)?.[0] ?? `errno ${errno}`;
  return Object.assign(new Error(`${code}: ${syscall} of ${subject} failed`), {
    code,
    errno: -errno,
    syscall,
  });
}

/** mount(2) and umount2(2) flag bits from <sys/mount.h>. */
export const MountFlags = { MS_RDONLY: 1, MS_NOSUID: 2, MS_NODEV: 4, MS_NOEXEC: 8, MS_REMOUNT: 32 } as const;
export const UnmountFlags = { MNT_FORCE: 1, MNT_DETACH: 2 } as const;
