import { createRequire } from 'node:module';

/** The system calls Node.js lacks, from the project's small N-API addon (native/syscalls.c, built by npm install). */
export interface Syscalls {
  /** Value of one extended attribute, without following a final symlink. Throws with `code` (ENODATA, ...). */
  lgetxattr(path: string | Buffer, name: string | Buffer): Buffer;
  /** Names of all extended attributes, without following a final symlink. */
  llistxattr(path: string | Buffer): Buffer[];
  /** Registers `backingFd` with the FUSE connection of `devFuseFd` for FOPEN_PASSTHROUGH; returns its id. */
  fuseBackingOpen(devFuseFd: number, backingFd: number): number;
  fuseBackingClose(devFuseFd: number, backingId: number): void;
}

const require = createRequire(import.meta.url);

/** Loaded from dist/lib/, two levels below the build directory node-gyp writes at the project root. */
export const syscalls: Syscalls = require('../../build/Release/fusebench_syscalls.node') as Syscalls;
