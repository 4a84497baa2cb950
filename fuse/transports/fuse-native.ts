import { readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { FatalError } from '../../lib/errors.js';
import { findMount, unmount } from '../../lib/mounts.js';
import { createBackend } from '../backends/index.js';
import { namesVisibleTo } from '../caller.js';
import { type Attr, Errno, errnoOf, type Filesystem, FsError, type Timespec } from '../filesystem.js';
import type { BackendSpec, Fact, ServedMount, Transport, TransportOptions } from '../transport.js';

/**
 * The npm package fuse-native 2.2.6: libfuse 2's high-level, path-based API driven from the JS
 * thread. What it cannot carry is recorded as facts, not hidden:
 * - times cross as milliseconds (timeResolution 'ms'); st_ino, st_rdev, st_nlink as uint32;
 * - names and paths cross as UTF-8 strings, so names that are not UTF-8 are mangled;
 * - libfuse 2's fuse_loop_mt always runs and starts a thread whenever none is idle (measured: 14
 *   threads in the process at mount, 22 under six clients), and every one of them waits while the
 *   one JS thread answers its request, so the threads option has no effect; keep-cache is per
 *   mount (kernel_cache), not per open.
 * It runs patched (patches/fuse-native+2.2.6.patch, applied and built by the install script) so
 * that listxattr learns its caller. Options it has no field for (use_ino, ro, timeouts of 0, ...)
 * ride inside `fsname`, which fuse-native appends unescaped to libfuse's -o list. Its own unmount
 * shells out to `fusermount -uz`; this transport unmounts with umount2(2) instead.
 */

type Callback<T extends unknown[]> = (error: number, ...result: T) => void;

interface StatLike {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  dev: number;
  nlink: number;
  ino: number;
  rdev: number;
  blksize: number;
  blocks: number;
  atime: number;
  mtime: number;
  ctime: number;
}

interface FuseOps {
  init(cb: (error: number) => void): void;
  getattr(path: string, cb: Callback<[StatLike?]>): void;
  readdir(path: string, cb: Callback<[string[]?, Partial<StatLike>[]?]>): void;
  readlink(path: string, cb: Callback<[string?]>): void;
  open(path: string, flags: number, cb: Callback<[number?]>): void;
  read(
    path: string,
    fd: number,
    buffer: Buffer,
    length: number,
    position: number,
    cb: (result: number) => void,
  ): void;
  release(path: string, fd: number, cb: (error: number) => void): void;
  statfs(path: string, cb: Callback<[Record<string, number>?]>): void;
  getxattr(path: string, name: string, position: number, cb: Callback<[Buffer?]>): void;
  listxattr(path: string, cb: Callback<[string[]?]>): void;
}

interface FuseOptions {
  timeout: false;
  fsname: string;
}

interface FuseInstance {
  mount(cb: (error: Error | null) => void): void;
}

type Signal = (result: number, ...rest: unknown[]) => void;

type FuseConstructor = new (mountpoint: string, ops: FuseOps, options: FuseOptions) => FuseInstance;

interface FuseBinding {
  fuse_native_unmount(mountpoint: string, thread: Buffer): void;
  /** 1 in fusebench's patched build (patches/fuse-native+2.2.6.patch); absent in the published one. */
  listxattr_caller_pid?: number;
}

const require = createRequire(import.meta.url);
const SESSION_POLL_MS = 200;
const READDIR_BATCH = 1024;
const UINT32_MAX = 0xffff_ffff;
/** Open files at once; also the largest handle number, well inside fuse-native's int32 handles. */
const MAX_OPEN_FILES = 1 << 20;

/**
 * fuse-native loads libfuse.so.2 when required: fail with one line saying what to install. Only the
 * patched build passes listxattr its caller, which trusted.* names need: the published binary is
 * refused rather than serving a mount that lists them to everyone.
 */
function loadFuseNative(): { Fuse: FuseConstructor; binding: FuseBinding; library: string | null } {
  let Fuse: FuseConstructor;
  let binding: FuseBinding;
  try {
    const entry = require.resolve('fuse-native');
    Fuse = require(entry) as FuseConstructor;
    // The same addon fuse-native loaded (node-gyp-build caches by path), for the unmount it skips.
    const nodeGypBuild = createRequire(entry)('node-gyp-build') as (dir: string) => FuseBinding;
    binding = nodeGypBuild(dirname(entry));
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new FatalError(
      `fuse-native cannot load (${message}); it needs libfuse.so.2: apt-get install libfuse2`,
    );
  }
  if (binding.listxattr_caller_pid !== 1) {
    throw new FatalError(
      "fuse-native is the published build, not fusebench's patched one: run npm run patch-dependencies",
    );
  }
  return { Fuse, binding, library: loadedLibfuse() };
}

/** Which libfuse.so.2 the process mapped, resolved to its versioned file name. */
function loadedLibfuse(): string | null {
  const line = readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .find((candidate) => /\/libfuse\.so/.test(candidate));
  const path = line?.slice(line.indexOf('/'));
  if (!path) return null;
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** The libfuse 2 -o options this transport passes for a set of transport options. */
export function fuseNativeOptions(options: TransportOptions): string[] {
  if (options.kernelPassthrough) {
    throw new FatalError('fuse-native cannot do kernel passthrough (libfuse 2 has no FOPEN_PASSTHROUGH)');
  }
  if (/[,\\\s]/.test(options.fsname) || options.fsname === '') {
    throw new FatalError(`fsname '${options.fsname}' must be one word without commas or backslashes`);
  }
  // fuse-native drops numeric options that are 0; as strings every value is passed.
  const list = [
    `fsname=${options.fsname}`,
    'subtype=fusebench',
    'ro',
    'use_ino',
    'readdir_ino',
    'default_permissions',
    'allow_other',
    `entry_timeout=${String(options.entryTimeout)}`,
    `attr_timeout=${String(options.attrTimeout)}`,
    `negative_timeout=${String(options.negativeTimeout)}`,
  ];
  if (options.kernelCache) list.push('kernel_cache');
  if (options.autoCache) list.push('auto_cache');
  if (options.maxRead > 0) list.push(`max_read=${options.maxRead}`);
  if (options.directIo) list.push('direct_io');
  return list;
}

function milliseconds(time: Timespec): number {
  return Math.max(0, time.sec * 1000 + Math.floor(time.nsec / 1_000_000));
}

function clamp32(value: number): number {
  return Math.min(Math.max(0, value), UINT32_MAX);
}

function statOf(attr: Attr): StatLike {
  return {
    mode: attr.mode,
    uid: attr.uid,
    gid: attr.gid,
    size: attr.size,
    dev: 0,
    nlink: clamp32(attr.nlink),
    ino: attr.ino % 2 ** 32,
    rdev: attr.rdev >>> 0,
    blksize: attr.blksize,
    blocks: attr.blocks,
    atime: milliseconds(attr.atime),
    mtime: milliseconds(attr.mtime),
    ctime: milliseconds(attr.ctime),
  };
}

/** Anything but FsError from a backend is a bug: say it once on stderr, answer EIO. */
function negativeErrno(error: unknown): number {
  if (!(error instanceof FsError)) {
    process.stderr.write(
      `fusebench: backend error: ${error instanceof Error ? error.stack : String(error)}\n`,
    );
  }
  return -errnoOf(error);
}

/**
 * The handles this transport gives the kernel for open files. A backend's fh means something only
 * beside the id it was opened for (the EROFS backend answers every open with fh 0), so the handle
 * libfuse carries is our own number for the pair: keying by the backend's fh let concurrent opens
 * overwrite each other and serve one file's reads from another.
 */
class OpenFiles {
  private readonly open = new Map<number, { id: number; fh: number }>();
  private next = 1;

  add(id: number, fh: number): number {
    if (this.open.size >= MAX_OPEN_FILES) throw new FsError(Errno.ENFILE, 'too many open files');
    // fuse-native carries the handle as a uint32; numbers are reused only after they wrap.
    while (this.open.has(this.next)) this.next = (this.next % MAX_OPEN_FILES) + 1;
    const handle = this.next;
    this.next = (this.next % MAX_OPEN_FILES) + 1;
    this.open.set(handle, { id, fh });
    return handle;
  }

  get(handle: number): { id: number; fh: number } {
    const file = this.open.get(handle);
    if (!file) throw new FsError(Errno.EBADF, `unknown file handle ${handle}`);
    return file;
  }

  take(handle: number): { id: number; fh: number } {
    const file = this.get(handle);
    this.open.delete(handle);
    return file;
  }
}

/**
 * Serves one backend over libfuse's path API: each path is resolved to a backend id by walking
 * `lookup` from the root, and resolutions are kept (the tree is read-only, so they never go stale).
 */
function createOps(backend: Filesystem): { ops: FuseOps; idOf(path: string): number } {
  const ids = new Map<string, number>([['/', backend.rootId]]);
  const files = new OpenFiles();

  /** The id of `path`, and its attributes when this call had to look it up. */
  function resolve(path: string): { id: number; attr: Attr | null } {
    const known = ids.get(path);
    if (known !== undefined) return { id: known, attr: null };
    let prefix = path;
    let id: number | undefined;
    while (id === undefined) {
      prefix = prefix.slice(0, Math.max(prefix.lastIndexOf('/'), 0));
      id = ids.get(prefix === '' ? '/' : prefix);
    }
    let attr: Attr | null = null;
    let walked = prefix;
    for (const name of path.slice(prefix.length + 1).split('/')) {
      const entry = backend.lookup(id, Buffer.from(name));
      walked = `${walked}/${name}`;
      ids.set(walked, entry.id);
      id = entry.id;
      attr = entry.attr;
    }
    return { id, attr };
  }

  const idOf = (path: string) => resolve(path).id;

  const ops: FuseOps = {
    init(cb) {
      cb(0);
    },
    getattr(path, cb) {
      try {
        const { id, attr } = resolve(path);
        cb(0, statOf(attr ?? backend.getattr(id)));
      } catch (error) {
        cb(negativeErrno(error));
      }
    },
    readdir(path, cb) {
      try {
        const id = idOf(path);
        const fh = backend.opendir(id);
        const names: string[] = [];
        const stats: Partial<StatLike>[] = [];
        try {
          let offset = 0;
          for (;;) {
            const entries = backend.readdir(id, fh, offset, READDIR_BATCH);
            if (entries.length === 0) break;
            for (const entry of entries) {
              names.push(entry.name.toString('utf8'));
              // libfuse takes only st_ino (use_ino) and the type bits from a readdir stat.
              stats.push({ ino: entry.id % 2 ** 32, mode: entry.type });
            }
            offset = entries.at(-1)!.offset;
          }
        } finally {
          backend.releasedir(id, fh);
        }
        cb(0, names, stats);
      } catch (error) {
        cb(negativeErrno(error));
      }
    },
    readlink(path, cb) {
      try {
        cb(0, backend.readlink(idOf(path)).toString('utf8'));
      } catch (error) {
        cb(negativeErrno(error));
      }
    },
    open(path, flags, cb) {
      try {
        const id = idOf(path);
        const { fh } = backend.open(id, flags);
        cb(0, files.add(id, fh));
      } catch (error) {
        cb(negativeErrno(error));
      }
    },
    read(_path, fd, buffer, length, position, cb) {
      try {
        const { id, fh } = files.get(fd);
        // fuse-native hands the buffer its reply is sent from: the backend reads straight into it.
        cb(backend.read(id, fh, position, Math.min(length, buffer.length), buffer, 0));
      } catch (error) {
        cb(negativeErrno(error));
      }
    },
    release(_path, fd, cb) {
      try {
        const { id, fh } = files.take(fd);
        backend.release(id, fh);
        cb(0);
      } catch (error) {
        cb(negativeErrno(error));
      }
    },
    statfs(_path, cb) {
      try {
        const stats = backend.statfs();
        cb(0, {
          bsize: clamp32(stats.bsize),
          frsize: clamp32(stats.frsize),
          blocks: clamp32(stats.blocks),
          bfree: clamp32(stats.bfree),
          bavail: clamp32(stats.bavail),
          files: clamp32(stats.files),
          ffree: clamp32(stats.ffree),
          favail: clamp32(stats.ffree),
          namemax: clamp32(stats.namelen),
        });
      } catch (error) {
        cb(negativeErrno(error));
      }
    },
    // Both xattr operations are answered by the overrides below, which see the kernel's buffer size.
    getxattr(_path, _name, _position, cb) {
      cb(-Errno.EIO);
    },
    listxattr(_path, cb) {
      cb(-Errno.EIO);
    },
  };
  return { ops, idOf };
}

/**
 * fuse-native's own getxattr/listxattr answers lose the kernel's buffer size (a value that does
 * not fit must be ERANGE, not a longer reply) and take names only as strings; these overrides of
 * its internal handlers answer from the backend directly. listxattr gets the caller's pid from the
 * patched build, to list trusted.* names as the kernel does; getxattr of a trusted.* name by a
 * caller without CAP_SYS_ADMIN never reaches the daemon (the VFS answers ENODATA itself).
 */
function fuseClass(Fuse: FuseConstructor, backend: Filesystem, idOf: (path: string) => number) {
  return class FusebenchFuse extends Fuse {
    _op_getxattr(signal: Signal, path: string, name: string, valueBuffer: Buffer) {
      try {
        const value = backend.getxattr(idOf(path), Buffer.from(name, 'utf8'));
        if (valueBuffer.length === 0) return signal(value.length, valueBuffer.buffer);
        if (value.length > valueBuffer.length) return signal(-Errno.ERANGE, valueBuffer.buffer);
        value.copy(valueBuffer);
        return signal(value.length, valueBuffer.buffer);
      } catch (error) {
        return signal(negativeErrno(error), valueBuffer.buffer);
      }
    }

    _op_listxattr(signal: Signal, path: string, listBuffer: Buffer, callerPid: number) {
      try {
        const names = namesVisibleTo(callerPid, backend.listxattr(idOf(path)));
        const list = Buffer.concat(names.flatMap((name) => [name, Buffer.alloc(1)]));
        if (listBuffer.length === 0) return signal(list.length, listBuffer.buffer);
        if (list.length > listBuffer.length) return signal(-Errno.ERANGE, listBuffer.buffer);
        list.copy(listBuffer);
        return signal(list.length, listBuffer.buffer);
      } catch (error) {
        return signal(negativeErrno(error), listBuffer.buffer);
      }
    }
  };
}

/** The descriptors of /dev/fuse this process holds. */
function fuseDeviceDescriptors(): Set<number> {
  const found = new Set<number>();
  for (const name of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${name}`) === '/dev/fuse') found.add(Number(name));
    } catch {
      // Closed between the listing and the readlink.
    }
  }
  return found;
}

/**
 * Watches for the FUSE session to end: fuse-native tells nothing when the kernel ends the
 * connection, but libfuse's loop then closes its /dev/fuse descriptor, so that descriptor is
 * polled. Not mountinfo: after `umount -l` the mount leaves mountinfo while open files still
 * need the daemon, and like the kernel's own mounts this one serves until the last is closed.
 * `recheck` cuts the current wait short when the daemon is told to stop.
 */
function watchSession(deviceFd: number): { gone: Promise<void>; recheck: () => void } {
  let wake = () => {};
  const open = () => {
    try {
      return readlinkSync(`/proc/self/fd/${deviceFd}`) === '/dev/fuse';
    } catch {
      return false;
    }
  };
  const gone = (async () => {
    while (open()) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, SESSION_POLL_MS);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  })();
  return { gone, recheck: () => wake() };
}

export const fuseNativeTransport: Transport = {
  name: 'fuse-native',
  // libfuse 2 owns the session: when the kernel ends it, libfuse tries to unmount by path itself.
  needsRootWhileServing: 'libfuse 2 unmounts by itself when its session ends',

  async serve(spec: BackendSpec, mountpoint: string, options: TransportOptions): Promise<ServedMount> {
    const fuseOptions = fuseNativeOptions(options);
    const { Fuse, binding, library } = loadFuseNative();
    let backend: Filesystem;
    try {
      backend = await createBackend(spec);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new FatalError(`cannot serve ${spec.source}: ${message}`);
    }
    const { ops, idOf } = createOps(backend);
    const FusebenchFuse = fuseClass(Fuse, backend, idOf);
    // fsname is the one free-text option fuse-native passes; the rest of the list rides in it.
    const fsname = fuseOptions.join(',').replace(/^fsname=/, '');
    const fuse = new FusebenchFuse(mountpoint, ops, { timeout: false, fsname });
    const devicesBefore = fuseDeviceDescriptors();
    try {
      await new Promise<void>((resolve, reject) =>
        fuse.mount((error) => (error ? reject(error) : resolve())),
      );
    } catch (error) {
      // fuse_new can fail after fuse_mount succeeded: never leave that mount behind.
      await unmount(mountpoint);
      backend.destroy();
      const message = error instanceof Error ? error.message : String(error);
      throw new FatalError(`fuse-native could not mount ${mountpoint}: ${message}`);
    }
    const entry = findMount(mountpoint);
    if (!entry) {
      backend.destroy();
      throw new FatalError(`fuse-native mounted ${mountpoint} but mountinfo does not show it`);
    }

    const deviceFd = [...fuseDeviceDescriptors()].find((fd) => !devicesBefore.has(fd));
    if (deviceFd === undefined) {
      await unmount(mountpoint);
      backend.destroy();
      throw new FatalError(`fuse-native mounted ${mountpoint} but holds no new /dev/fuse descriptor`);
    }

    let finished = false;
    const session = watchSession(deviceFd);
    const closed = session.gone.then(() => {
      if (finished) return;
      finished = true;
      // The fuse thread ends by itself once the kernel drops the connection; this releases the
      // libuv handle fuse-native keeps referenced, so the process can exit.
      binding.fuse_native_unmount(mountpoint, (fuse as unknown as { _thread: Buffer })._thread);
      backend.destroy();
    });

    const facts: Record<string, Fact> = {
      transport: 'fuse-native',
      fuseOptions: fuseOptions.join(','),
      mountOptions: entry.options,
      superOptions: entry.superOptions,
      libfuse: library,
      timeResolution: 'ms',
      inoBits: 32,
      threads: options.threads,
      threading: `libfuse 2 fuse_loop_mt: threads started on demand, each waiting for the one JS thread to answer (--threads ${options.threads} and --clone-fd have no effect)`,
      keepCache: options.kernelCache ? 'kernel_cache (whole mount)' : 'none',
      opTimeout: 'none',
      nonUtf8Names: 'mangled (fuse-native passes names as UTF-8 strings)',
      build: 'from source with patches/fuse-native+2.2.6.patch (listxattr gets the caller pid)',
    };

    return {
      facts,
      closed,
      // libfuse's threads serve; the main thread answers them from its event loop.
      serveInForeground: () => {},
      async close() {
        if (!finished && findMount(mountpoint)?.device === entry.device) await unmount(mountpoint);
        session.recheck();
        await closed;
      },
    };
  },
};
