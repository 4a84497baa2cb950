/**
 * The FUSE kernel protocol as far as fusebench speaks it: opcodes, flag bits and the sizes of the
 * fixed structures, written from the facts in Linux's include/uapi/linux/fuse.h (protocol 7.40,
 * the first with FOPEN_PASSTHROUGH and fuse_open_out.backing_id). All integers are little-endian
 * on the wire (x86-64 and arm64 hosts); every structure is padded to 8 bytes.
 */

/** The protocol version this implementation answers INIT with (kernel's minor is capped to it). */
export const FUSE_KERNEL_VERSION = 7;
export const FUSE_KERNEL_MINOR_VERSION = 40;
/** The oldest minor whose structures this implementation lays out (fuse_attr with flags, init_out with max_pages). */
export const FUSE_MIN_SUPPORTED_MINOR = 31;

export const FUSE_ROOT_ID = 1;
/** A read(2) of /dev/fuse must offer at least this much room. */
export const FUSE_MIN_READ_BUFFER = 8192;

export const Opcode = {
  LOOKUP: 1,
  FORGET: 2,
  GETATTR: 3,
  SETATTR: 4,
  READLINK: 5,
  SYMLINK: 6,
  MKNOD: 8,
  MKDIR: 9,
  UNLINK: 10,
  RMDIR: 11,
  RENAME: 12,
  LINK: 13,
  OPEN: 14,
  READ: 15,
  WRITE: 16,
  STATFS: 17,
  RELEASE: 18,
  FSYNC: 20,
  SETXATTR: 21,
  GETXATTR: 22,
  LISTXATTR: 23,
  REMOVEXATTR: 24,
  FLUSH: 25,
  INIT: 26,
  OPENDIR: 27,
  READDIR: 28,
  RELEASEDIR: 29,
  FSYNCDIR: 30,
  GETLK: 31,
  SETLK: 32,
  SETLKW: 33,
  ACCESS: 34,
  CREATE: 35,
  INTERRUPT: 36,
  BMAP: 37,
  DESTROY: 38,
  IOCTL: 39,
  POLL: 40,
  NOTIFY_REPLY: 41,
  BATCH_FORGET: 42,
  FALLOCATE: 43,
  READDIRPLUS: 44,
  RENAME2: 45,
  LSEEK: 46,
  COPY_FILE_RANGE: 47,
  SETUPMAPPING: 48,
  REMOVEMAPPING: 49,
  SYNCFS: 50,
  TMPFILE: 51,
  STATX: 52,
  COPY_FILE_RANGE_64: 53,
} as const;

/** Highest opcode with a name; counters are kept for 0..OPCODE_SLOTS-1, everything above in the last slot. */
export const OPCODE_SLOTS = 64;

const names = new Map<number, string>(Object.entries(Opcode).map(([name, code]) => [code, name]));

export function opcodeName(opcode: number): string {
  return names.get(opcode) ?? `OPCODE_${opcode}`;
}

/** Requests that would change the filesystem: answered EROFS, whatever the kernel lets through. */
export const WRITE_OPCODES: ReadonlySet<number> = new Set([
  Opcode.SETATTR,
  Opcode.SYMLINK,
  Opcode.MKNOD,
  Opcode.MKDIR,
  Opcode.UNLINK,
  Opcode.RMDIR,
  Opcode.RENAME,
  Opcode.LINK,
  Opcode.WRITE,
  Opcode.SETXATTR,
  Opcode.REMOVEXATTR,
  Opcode.CREATE,
  Opcode.FALLOCATE,
  Opcode.RENAME2,
  Opcode.COPY_FILE_RANGE,
  Opcode.TMPFILE,
  Opcode.COPY_FILE_RANGE_64,
]);

/** INIT flags (fuse_init_in/out.flags, with flags2 as bits 32..63). Values are bit numbers. */
export const InitFlagBit = {
  ASYNC_READ: 0,
  POSIX_LOCKS: 1,
  FILE_OPS: 2,
  ATOMIC_O_TRUNC: 3,
  EXPORT_SUPPORT: 4,
  BIG_WRITES: 5,
  DONT_MASK: 6,
  SPLICE_WRITE: 7,
  SPLICE_MOVE: 8,
  SPLICE_READ: 9,
  FLOCK_LOCKS: 10,
  HAS_IOCTL_DIR: 11,
  AUTO_INVAL_DATA: 12,
  DO_READDIRPLUS: 13,
  READDIRPLUS_AUTO: 14,
  ASYNC_DIO: 15,
  WRITEBACK_CACHE: 16,
  NO_OPEN_SUPPORT: 17,
  PARALLEL_DIROPS: 18,
  HANDLE_KILLPRIV: 19,
  POSIX_ACL: 20,
  ABORT_ERROR: 21,
  MAX_PAGES: 22,
  CACHE_SYMLINKS: 23,
  NO_OPENDIR_SUPPORT: 24,
  EXPLICIT_INVAL_DATA: 25,
  MAP_ALIGNMENT: 26,
  SUBMOUNTS: 27,
  HANDLE_KILLPRIV_V2: 28,
  SETXATTR_EXT: 29,
  INIT_EXT: 30,
  INIT_RESERVED: 31,
  SECURITY_CTX: 32,
  HAS_INODE_DAX: 33,
  CREATE_SUPP_GROUP: 34,
  HAS_EXPIRE_ONLY: 35,
  DIRECT_IO_ALLOW_MMAP: 36,
  PASSTHROUGH: 37,
  NO_EXPORT_SUPPORT: 38,
  HAS_RESEND: 39,
  ALLOW_IDMAP: 40,
  OVER_IO_URING: 41,
  REQUEST_TIMEOUT: 42,
} as const;

export type InitFlagName = keyof typeof InitFlagBit;

/** INIT flags as two 32-bit halves (JS bitwise operators stop at 32 bits). */
export interface InitFlags {
  low: number;
  high: number;
}

export function hasInitFlag(flags: InitFlags, name: InitFlagName): boolean {
  const bit = InitFlagBit[name];
  return bit < 32 ? ((flags.low >>> bit) & 1) === 1 : ((flags.high >>> (bit - 32)) & 1) === 1;
}

export function withInitFlag(flags: InitFlags, name: InitFlagName): InitFlags {
  const bit = InitFlagBit[name];
  return bit < 32
    ? { low: (flags.low | (1 << bit)) >>> 0, high: flags.high }
    : { low: flags.low, high: (flags.high | (1 << (bit - 32))) >>> 0 };
}

/** The names of the set bits, unknown bits as `bitN`. */
export function initFlagNames(flags: InitFlags): string[] {
  const byBit = new Map<number, string>(Object.entries(InitFlagBit).map(([name, bit]) => [bit, name]));
  const result: string[] = [];
  for (let bit = 0; bit < 64; bit++) {
    const set = bit < 32 ? (flags.low >>> bit) & 1 : (flags.high >>> (bit - 32)) & 1;
    if (set) result.push(byBit.get(bit) ?? `bit${bit}`);
  }
  return result;
}

export function initFlagsHex(flags: InitFlags): string {
  return `0x${flags.high.toString(16).padStart(8, '0')}${flags.low.toString(16).padStart(8, '0')}`;
}

/** fuse_open_out.open_flags. */
export const FOPEN_DIRECT_IO = 1 << 0;
export const FOPEN_KEEP_CACHE = 1 << 1;
export const FOPEN_NONSEEKABLE = 1 << 2;
export const FOPEN_CACHE_DIR = 1 << 3;
export const FOPEN_STREAM = 1 << 4;
export const FOPEN_NOFLUSH = 1 << 5;
export const FOPEN_PASSTHROUGH = 1 << 7;

/** Largest number of pages the kernel accepts in max_pages (FUSE_MAX_MAX_PAGES). */
export const FUSE_MAX_MAX_PAGES = 256;
/** The page max_pages counts (the kernel's PAGE_SIZE on x86-64). */
export const PAGE_SIZE = 4096;
/** FILESYSTEM_MAX_STACK_DEPTH: the deepest passthrough stacking the kernel allows. */
export const FILESYSTEM_MAX_STACK_DEPTH = 2;

/** Sizes of the fixed structures, in bytes. */
export const Size = {
  IN_HEADER: 40,
  OUT_HEADER: 16,
  ATTR: 88,
  ENTRY_OUT: 128,
  ATTR_OUT: 104,
  OPEN_OUT: 16,
  KSTATFS: 80,
  GETXATTR_OUT: 8,
  INIT_OUT: 64,
  DIRENT_HEADER: 24,
  WRITE_IN: 40,
  FORGET_ONE: 16,
} as const;

/** struct fuse_direntplus: a fuse_entry_out, then a fuse_dirent; FUSE_NAME_OFFSET_DIRENTPLUS. */
export const DIRENTPLUS_NAME_OFFSET = 128 + 24;

/** Offsets in struct fuse_in_header. */
export const InHeader = {
  LEN: 0,
  OPCODE: 4,
  UNIQUE: 8,
  NODEID: 16,
  UID: 24,
  GID: 28,
  PID: 32,
  TOTAL_EXTLEN: 36,
} as const;
