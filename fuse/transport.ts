/**
 * What a FUSE transport (fuse-native, the own /dev/fuse loop) is given and what it reports back.
 * A transport knows nothing of EROFS: it serves a Filesystem built from a BackendSpec, once per
 * thread that needs its own instance.
 */

/** Which backend to serve, in a form that can cross a worker-thread or process boundary. */
export interface BackendSpec {
  kind: 'erofs' | 'passthrough';
  /** The EROFS image, or the directory to pass through. */
  source: string;
  /** Extra block devices of a multi-device EROFS image, in device-table order. */
  devices?: string[];
  /**
   * Load at creation what the backend would otherwise load on first use (decoders): the daemon
   * will give up root, and with it maybe the right to read its own modules.
   */
  preload?: boolean;
}

/** Upper bounds of the options, checked where they are parsed. */
export const OptionLimits = {
  /** Serving threads of one daemon. */
  threads: 64,
  /** Entry and attribute timeouts, seconds (the kernel keeps them as 64-bit jiffies; a year is plenty). */
  timeoutSeconds: 365 * 86400,
  /** max_read: the kernel parses it as a 32-bit unsigned number. */
  maxReadBytes: 2 ** 32 - 1,
} as const;

/** Kernel-visible cache and protocol options; every FUSE setup records them as facts. */
export interface TransportOptions {
  /** Seconds the kernel may cache a name lookup (0 = ask every time). */
  entryTimeout: number;
  /** Seconds the kernel may cache attributes. */
  attrTimeout: number;
  /** Seconds the kernel may cache that a name does not exist (0 = a missing name is asked every time). */
  negativeTimeout: number;
  /** Keep page cache across opens (kernel_cache / FOPEN_KEEP_CACHE). */
  kernelCache: boolean;
  /** Keep page cache while mtime and size are unchanged (auto_cache). */
  autoCache: boolean;
  /** Largest READ request in bytes (max_read); 0 = transport default. */
  maxRead: number;
  /** Bypass the page cache for file data (FOPEN_DIRECT_IO). */
  directIo: boolean;
  /** Threads reading /dev/fuse (devfuse) or libfuse's multithreaded loop (fuse-native: 1 = single-threaded). */
  threads: number;
  /**
   * With several threads, each reads its own clone of the /dev/fuse descriptor (FUSE_DEV_IOC_CLONE,
   * libfuse's clone_fd) instead of all reading the mount's one descriptor.
   */
  cloneFd: boolean;
  /** Ask the kernel to read file data directly from backing files (FOPEN_PASSTHROUGH), when supported. */
  kernelPassthrough: boolean;
  /** fsname shown in /proc/mounts. */
  fsname: string;
}

/**
 * Defaults suit an immutable image: the kernel may cache names and attributes for a day and keep
 * page cache across opens, and remember missing names, as erofsfuse does, so warm figures show FUSE at its cached best and
 * cold figures the uncached round trip. Set the timeouts to 0 to measure every request.
 */
export const defaultTransportOptions: TransportOptions = {
  entryTimeout: 86400,
  attrTimeout: 86400,
  negativeTimeout: 86400,
  kernelCache: true,
  autoCache: false,
  maxRead: 0,
  directIo: false,
  threads: 1,
  cloneFd: false,
  kernelPassthrough: false,
  fsname: 'fusebench',
};

export type Fact = string | number | boolean | null;

/** A live mount served by a transport. */
export interface ServedMount {
  /** What was negotiated and set (INIT flags, max_readahead, options as passed to the kernel). */
  facts: Record<string, Fact>;
  /** Resolves when the kernel ended the session (umount, abort) and the transport has stopped. */
  closed: Promise<void>;
  /** Unmounts and stops serving; safe to call more than once. */
  close(): Promise<void>;
  /**
   * Called by a daemon that has nothing left to do but serve and stop on a signal: a transport
   * serving on the main thread may then block in read(2) between requests until a stop signal.
   */
  serveInForeground(): void;
}

export interface Transport {
  readonly name: string;
  /**
   * Why this transport needs the process to stay root once it serves, or null when it does not
   * (it never unmounts, opens files or loads code by itself after that): then the daemon drops to
   * an unprivileged user.
   */
  readonly needsRootWhileServing: string | null;
  /**
   * Mounts and serves. `unmountLater` is how close() unmounts once the process may have given up
   * root (default: umount2(2) itself).
   */
  serve(
    backend: BackendSpec,
    mountpoint: string,
    options: TransportOptions,
    unmountLater?: () => Promise<void>,
  ): Promise<ServedMount>;
}
