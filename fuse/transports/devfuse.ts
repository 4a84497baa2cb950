import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { FatalError } from '../../lib/errors.js';
import { findMount, unmount } from '../../lib/mounts.js';
import { MountFlags, syscalls } from '../../lib/syscalls.js';
import {
  FUSE_MAX_MAX_PAGES,
  FUSE_MIN_READ_BUFFER,
  OPCODE_SLOTS,
  opcodeName,
  PAGE_SIZE,
} from '../protocol/kernel.js';
import {
  type BackendSpec,
  type Fact,
  OptionLimits,
  type ServedMount,
  type Transport,
  type TransportOptions,
} from '../transport.js';
import type { MainThreadServing } from './devfuse-main-thread.js';
import { takePrestartedThread } from './devfuse-prestart.js';
import type { RingQueue } from './devfuse-ring.js';
import type { InitReport } from './devfuse-server.js';
import {
  Counter,
  createSharedBuffers,
  Negotiated,
  type SharedBuffers,
  servesOnMainThread,
  sumCounters,
} from './devfuse-shared.js';
import { createSharedStateBuffers } from './devfuse-state.js';
import type { FromWorker, ToWorker, WorkerData } from './devfuse-worker.js';
import { workerBundleUrl } from './worker-bundle.js';

/**
 * `devfuse`: fusebench's own FUSE server, speaking the kernel protocol over /dev/fuse without
 * libfuse. The main thread opens /dev/fuse and mounts with mount(2) (`fd=N,rootmode=...`). With one
 * thread (the default) it serves too, polling the descriptor from its event loop while the daemon
 * starts, then blocking in read(2) (devfuse-main-thread.ts); with `threads` > 1, or a ring, it
 * only supervises: worker threads each build their own backend and serve in a blocking
 * read(2)/write(2) loop, all on the mount's descriptor or (cloneFd) each on its own clone of it.
 * Either way every reader of the connection sleeps on the one input queue (fc->iq) and the
 * kernel wakes one of them per request; a clone has its own processing queue (fuse_dev.pq), so
 * replies of different threads do not meet on one lock.
 * The session ends when the kernel ends the connection (umount from anywhere: read(2) fails with
 * ENODEV); the exit summary on stderr counts requests and errors per opcode.
 *
 * `devfuse-uring` adds FUSE over io_uring (Linux 6.14+): INIT offers FUSE_OVER_IO_URING, and one
 * more thread per possible CPU serves that CPU's queue of ring entries (the kernel queues each
 * request on the queue of the CPU it was issued on, and uses the ring only once every queue has
 * registered). The /dev/fuse threads serve INIT, FORGET and INTERRUPT (which never use the ring),
 * and everything when the kernel refuses the ring; which one served is a fact of the mount.
 */

/** max_write answered in INIT; the read buffer is this plus a page for the headers. */
const MAX_WRITE = 128 * 1024;
const INIT_TIMEOUT_MS = 10_000;
/** After an unmount, how long the workers get to see the connection end before the daemon gives up on them. */
const DRAIN_MS = 1000;
/**
 * How long stopped threads get to finish the request in hand and see the stop flag. A thread
 * blocked in read(2) with no request coming never does: the process's exit ends it.
 */
const STOP_MS = 500;
/** Ring entries per io_uring queue: requests one queue holds at once (libfuse's default is 8). */
const RING_DEPTH = 8;
/** How long INIT's thread and the ring threads get to register, before the mount is reported. */
const RING_TIMEOUT_MS = 5000;
/**
 * Backends whose ids and handles mean the same in every instance, so each thread can answer any
 * request from its own instance. Any other backend served by several threads shares its lookups
 * and handles through devfuse-state.ts.
 */
const INSTANCE_FREE_BACKENDS: ReadonlySet<BackendSpec['kind']> = new Set(['erofs']);
/**
 * Every wait here is a bound raced against the serving threads; unreferenced, so that a bound
 * that lost the race does not keep the daemon's process alive for its whole length.
 */
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms).unref());

/** The mount(2) data string for a /dev/fuse descriptor and a set of options. */
export function devfuseMountData(fd: number, options: TransportOptions): string {
  const list = [
    `fd=${fd}`,
    'rootmode=40000',
    `user_id=${process.getuid?.() ?? 0}`,
    `group_id=${process.getgid?.() ?? 0}`,
    'default_permissions',
    'allow_other',
  ];
  if (options.maxRead > 0) list.push(`max_read=${options.maxRead}`);
  return list.join(',');
}

function checkOptions(options: TransportOptions): void {
  if (!Number.isInteger(options.threads) || options.threads < 1 || options.threads > OptionLimits.threads) {
    throw new FatalError(
      `devfuse: --threads must be an integer from 1 to ${OptionLimits.threads} (got ${options.threads})`,
    );
  }
  if (/[,\\\s]/.test(options.fsname) || options.fsname === '') {
    throw new FatalError(`fsname '${options.fsname}' must be one word without commas or backslashes`);
  }
  for (const [name, value] of [
    ['entry timeout', options.entryTimeout],
    ['attr timeout', options.attrTimeout],
    ['negative timeout', options.negativeTimeout],
  ] as const) {
    if (!Number.isFinite(value) || value < 0)
      throw new FatalError(`devfuse: ${name} must be >= 0 (got ${value})`);
  }
}

/** One line per opcode that was seen: requests, and how many were answered with an error. */
export function summarizeCounters(counters: Float64Array): string {
  const parts: string[] = [];
  let total = 0;
  for (let opcode = 0; opcode < OPCODE_SLOTS; opcode++) {
    const requests = counters[Counter.REQUESTS + opcode]!;
    if (requests === 0) continue;
    total += requests;
    const errors = counters[Counter.ERRORS + opcode]!;
    const name = opcode === OPCODE_SLOTS - 1 ? 'OTHER' : opcodeName(opcode);
    parts.push(errors > 0 ? `${name}=${requests} (${errors} errors)` : `${name}=${requests}`);
  }
  const extra = [
    `passthroughOpens=${counters[Counter.PASSTHROUGH_OPENS]}`,
    `passthroughFallbacks=${counters[Counter.PASSTHROUGH_FALLBACKS]}`,
    `staleReplies=${counters[Counter.STALE_REPLIES]}`,
    `backendBugs=${counters[Counter.BACKEND_BUGS]}`,
    `ringRequests=${counters[Counter.RING_REQUESTS]}`,
  ];
  return `${total} requests: ${parts.join(', ')}; ${extra.join(', ')}`;
}

/** What serves the mount: worker threads, or (one thread, no ring) the daemon's main thread. */
interface Pool {
  /** Where requests are served, as the mount's facts say it. */
  where: string;
  /** Starts serving once the mount exists: /dev/fuse thread i reads `readerFds[i]`, ring threads register on `mountFd`. */
  start(readerFds: readonly number[], mountFd: number): void;
  /** Ends a pool that never started serving. */
  abandon(): Promise<void>;
  /** Asks serving to end after the request in hand (see stopServing). */
  stop(): void;
  /** See ServedMount.serveInForeground. */
  serveInForeground(): void;
  /** Resolves when every serving thread has ended; rejects as soon as one failed while serving. */
  exited: Promise<void>;
  /** Resolves when every serving thread has ended, failed or not. */
  allExited: Promise<void>;
  /** INIT as it was answered. */
  init: Promise<InitReport>;
  /** Per ring queue: null once registered, or why the kernel did not take it. */
  rings: Promise<(string | null)[]>;
}

/**
 * The descriptor each /dev/fuse thread reads: the mount's own for all, or with `clone` and
 * several threads a fresh open of /dev/fuse per thread attached to the mounted connection by
 * FUSE_DEV_IOC_CLONE (the connection must exist: after mount(2)).
 */
function readerDescriptors(mountFd: number, threads: number, clone: boolean): number[] {
  if (!clone || threads === 1) return Array.from({ length: threads }, () => mountFd);
  const clones: number[] = [];
  try {
    for (let thread = 0; thread < threads; thread++) {
      clones.push(openSync('/dev/fuse', 'r+'));
      syscalls.fuseDevClone(clones.at(-1)!, mountFd);
    }
  } catch (error) {
    for (const fd of clones) closeSync(fd);
    throw new FatalError(`devfuse: cannot clone the /dev/fuse descriptor: ${(error as Error).message}`);
  }
  return clones;
}

/** CPUs the kernel may ever run on (/sys/devices/system/cpu/possible): one io_uring queue each. */
function possibleCpus(): number {
  const text = readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim();
  let highest = 0;
  for (const range of text.split(',')) highest = Math.max(highest, Number(range.split('-').at(-1)));
  if (!Number.isInteger(highest) || highest < 0) throw new FatalError(`cannot parse possible CPUs '${text}'`);
  return highest + 1;
}

/** Starts the workers and waits until each has built its backend. */
async function startWorkers(
  url: URL,
  spec: BackendSpec,
  data: Omit<WorkerData, 'worker' | 'spec' | 'ring'>,
  threads: number,
  queues: RingQueue[],
): Promise<Pool> {
  const workers: Worker[] = [];
  let reportInit: (report: InitReport) => void = () => {};
  const init = new Promise<InitReport>((resolve) => {
    reportInit = resolve;
  });
  const ready: Promise<void>[] = [];
  const exits: Promise<void>[] = [];
  const rings: Promise<string | null>[] = [];
  for (let worker = 0; worker < threads + queues.length; worker++) {
    const ring = worker >= threads ? queues[worker - threads]! : null;
    const workerData: WorkerData = { ...data, spec, worker, ring };
    const thread =
      (ring ? null : takePrestartedThread(url, workerData)) ??
      new Worker(url, { workerData, stdout: false, stderr: false });
    workers.push(thread);
    if (ring) {
      rings.push(
        new Promise((resolve) => {
          thread.on('message', (message: FromWorker) => {
            if (message.type === 'ring') resolve(message.registered ? null : message.message);
          });
          thread.once('exit', () => resolve('the ring thread ended before it registered'));
        }),
      );
    }
    let failure: Error | null = null;
    ready.push(
      new Promise<void>((resolve, reject) => {
        thread.on('message', (message: FromWorker) => {
          if (message.type === 'ready') resolve();
          else if (message.type === 'failed')
            reject(new FatalError(`cannot serve ${spec.source}: ${message.message}`));
          else if (message.type === 'init') reportInit(message.report);
        });
        thread.once('error', (error) => {
          failure = error;
          reject(error);
        });
        thread.once('exit', () =>
          reject(new FatalError(`devfuse worker ${worker} exited before it was ready`)),
        );
      }),
    );
    exits.push(
      new Promise<void>((resolve, reject) => {
        thread.once('exit', () => (failure ? reject(failure) : resolve()));
      }),
    );
  }
  const exited = Promise.all(exits).then(() => undefined);
  exited.catch(() => {});
  const negotiated = new Int32Array(data.buffers.negotiated);
  const pool: Pool = {
    where: `${workers.length} worker thread${workers.length === 1 ? '' : 's'}`,
    start(readerFds, mountFd) {
      workers.forEach((worker, index) => {
        worker.postMessage({ type: 'start', fd: readerFds[index] ?? mountFd } satisfies ToWorker);
      });
    },
    // Workers that never started serving are idle, not blocked in read(2).
    async abandon() {
      for (const worker of workers) {
        try {
          worker.postMessage({ type: 'stop' } satisfies ToWorker);
        } catch {
          // Already gone.
        }
      }
      await Promise.race([exited.catch(() => {}), sleep(2000)]);
      await Promise.all(workers.map((worker) => worker.terminate()));
    },
    stop: () => Atomics.store(negotiated, Negotiated.STOP, 1),
    // The main thread only supervises.
    serveInForeground: () => {},
    exited,
    allExited: Promise.allSettled(exits).then(() => undefined),
    init,
    rings: Promise.all(rings),
  };
  try {
    await Promise.all(ready);
  } catch (error) {
    await pool.abandon();
    throw error;
  }
  return pool;
}

/**
 * Serving on the main thread, from the serving bundle (as a worker loads it): the backend is
 * built before this returns, and its failure is this call's.
 */
async function serveOnMainThread(
  url: URL,
  spec: BackendSpec,
  data: Omit<WorkerData, 'worker' | 'spec' | 'ring'>,
): Promise<Pool> {
  const bundle = createRequire(import.meta.url)(fileURLToPath(url)) as typeof import('./devfuse-worker.js');
  let serving: MainThreadServing;
  try {
    serving = await bundle.serveOnMainThread({ ...data, spec, worker: 0 });
  } catch (error) {
    // The bundle has its own copies of the error classes: only the message crosses.
    throw new FatalError(
      `cannot serve ${spec.source}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  // `ended` rejects with an Error (serveOnMainThread words any other failure as one).
  const exited = serving.ended.then(() => undefined);
  exited.catch(() => {});
  return {
    where:
      'the main thread (polled by the event loop while the daemon starts, then blocking read(2) until a stop signal)',
    start: (readerFds, mountFd) => serving.start(readerFds[0] ?? mountFd),
    abandon: async () => serving.stop(),
    stop: () => serving.stop(),
    serveInForeground: () => serving.serveInForeground(),
    exited,
    allExited: serving.ended.then(
      () => undefined,
      () => undefined,
    ),
    init: serving.init,
    rings: Promise.resolve([]),
  };
}

export const devfuseTransport: Transport = devfuse('devfuse', false);
export const devfuseUringTransport: Transport = devfuse('devfuse-uring', true);

function devfuse(name: string, ioUring: boolean): Transport {
  return {
    name,
    needsRootWhileServing: null,
    serve: (spec, mountpoint, options, unmountLater) =>
      serve(name, ioUring, spec, mountpoint, options, unmountLater ?? (() => unmount(mountpoint))),
  };
}

async function serve(
  name: string,
  ioUring: boolean,
  spec: BackendSpec,
  mountpoint: string,
  options: TransportOptions,
  unmountLater: () => Promise<void>,
): Promise<ServedMount> {
  checkOptions(options);
  const workerUrl = workerBundleUrl();
  const threads = options.threads;
  const payloadBytes = Math.max(MAX_WRITE, FUSE_MAX_MAX_PAGES * PAGE_SIZE);
  const queues: RingQueue[] = ioUring
    ? Array.from({ length: possibleCpus() }, (_, qid) => ({ qid, depth: RING_DEPTH, payloadBytes }))
    : [];
  const buffers: SharedBuffers = createSharedBuffers(threads + queues.length);
  let fd: number;
  try {
    fd = openSync('/dev/fuse', 'r+');
  } catch (error) {
    throw new FatalError(`cannot open /dev/fuse: ${(error as Error).message} (modprobe fuse?)`);
  }
  const bufferSize = Math.max(FUSE_MIN_READ_BUFFER, MAX_WRITE + PAGE_SIZE);
  const sharedState = threads > 1 && !INSTANCE_FREE_BACKENDS.has(spec.kind);
  const poolData = {
    fd,
    options,
    buffers,
    bufferSize,
    maxWrite: MAX_WRITE,
    ioUring,
    sharedState: sharedState ? createSharedStateBuffers() : null,
  };
  let pool: Pool;
  try {
    pool = servesOnMainThread(ioUring, threads)
      ? await serveOnMainThread(workerUrl, spec, poolData)
      : await startWorkers(workerUrl, spec, poolData, threads, queues);
  } catch (error) {
    closeSync(fd);
    throw error;
  }

  const data = devfuseMountData(fd, options);
  const flags = MountFlags.MS_RDONLY | MountFlags.MS_NOSUID | MountFlags.MS_NODEV;
  try {
    syscalls.mount(options.fsname, mountpoint, 'fuse.fusebench', flags, data);
  } catch (error) {
    await pool.abandon();
    closeSync(fd);
    throw new FatalError(`devfuse could not mount ${mountpoint}: ${(error as Error).message}`);
  }
  let readerFds: number[] = [];
  try {
    readerFds = readerDescriptors(fd, threads, options.cloneFd);
    pool.start(readerFds, fd);
  } catch (error) {
    await pool.abandon();
    await unmount(mountpoint);
    for (const readerFd of new Set([fd, ...readerFds])) closeSync(readerFd);
    throw error;
  }

  let finished = false;
  let fdClosed = false;
  const closeFd = () => {
    if (fdClosed) return;
    fdClosed = true;
    for (const readerFd of new Set([fd, ...readerFds])) closeSync(readerFd);
  };
  const summarize = () => {
    writeSync(2, `fusebench: ${name}: ${summarizeCounters(sumCounters(buffers, threads + queues.length))}\n`);
  };
  let settle: (error?: Error) => void = () => {};
  const closed = new Promise<void>((resolve, reject) => {
    settle = (error) => {
      if (finished) return;
      finished = true;
      summarize();
      if (error) reject(error);
      else resolve();
    };
  });
  closed.catch(() => {});
  /**
   * Asks every serving thread to return once its request is answered, and says whether all did
   * within STOP_MS. Needed when the connection outlives the mount (lazily detached with files
   * still open) or a thread failed and the rest must not linger. A thread blocked in read(2) with
   * no request coming cannot be woken (Linux 6.18 refuses the FUSE_NOTIFY_RETRIEVE of a directory
   * that once woke it); the daemon's exit ends it, which aborts the connection.
   */
  const stopServing = async (): Promise<boolean> => {
    pool.stop();
    return Promise.race([pool.allExited.then(() => true), sleep(STOP_MS).then(() => false)]);
  };
  pool.exited.then(
    () => {
      closeFd();
      settle();
    },
    async (error: unknown) => {
      // A serving thread died: the mount must not hang on requests nobody reads.
      await unmount(mountpoint);
      if (!(await Promise.race([pool.allExited.then(() => true), sleep(DRAIN_MS).then(() => false)]))) {
        await stopServing();
      }
      settle(
        new FatalError(`devfuse worker failed: ${error instanceof Error ? error.message : String(error)}`),
      );
    },
  );

  const entryOf = () => findMount(mountpoint);
  const timeout = sleep(INIT_TIMEOUT_MS).then(
    (): InitReport => ({
      ok: false,
      message: `no INIT from the kernel within ${INIT_TIMEOUT_MS / 1000} s`,
    }),
  );
  const init = await Promise.race([pool.init, timeout]);
  const entry = entryOf();
  const passthroughMissing =
    init.ok && options.kernelPassthrough && init.facts.passthrough !== true
      ? `the kernel did not accept FUSE_PASSTHROUGH (needs Linux 6.9+ with CONFIG_FUSE_PASSTHROUGH; offered: ${init.facts.initFlagsOffered})`
      : null;
  if (!init.ok || passthroughMissing || !entry) {
    await unmount(mountpoint);
    await Promise.race([closed.catch(() => {}), sleep(DRAIN_MS)]);
    const reason = !init.ok ? init.message : (passthroughMissing ?? 'mountinfo does not show the mount');
    throw new FatalError(`devfuse could not serve ${mountpoint}: ${reason}`);
  }

  const ringRefusals = ioUring
    ? await Promise.race([pool.rings, sleep(RING_TIMEOUT_MS).then(() => ['no ring registration within 5 s'])])
    : [];
  const ringRefusal = ringRefusals.find((reason) => reason !== null) ?? null;
  const facts: Record<string, Fact> = {
    transport: name,
    threads,
    servedBy: pool.where,
    devFuseDescriptors:
      readerFds[0] === fd
        ? `the mount's one descriptor, read by ${threads} thread${threads === 1 ? '' : 's'}`
        : `${threads} clones (FUSE_DEV_IOC_CLONE), one per thread`,
    ...(ioUring
      ? {
          ringThreads: `${queues.length} (one per possible CPU, whatever --threads says; the ${threads} /dev/fuse thread${threads === 1 ? '' : 's'} read INIT, FORGET, INTERRUPT, or everything when the ring is refused)`,
        }
      : {}),
    sharedState: sharedState
      ? 'node table and handle table shared by the threads'
      : 'none (one instance per thread)',
    mountData: data.replace(/^fd=\d+,/, ''),
    mountFlags: 'ro,nosuid,nodev',
    mountOptions: entry.options,
    superOptions: entry.superOptions,
    ...init.facts,
    readBufferBytes: bufferSize,
    timeResolution: 'ns',
    inoBits: 64,
    keepCache: options.directIo
      ? 'none (FOPEN_DIRECT_IO)'
      : options.kernelCache || options.autoCache
        ? `FOPEN_KEEP_CACHE per open${options.autoCache ? ' with FUSE_AUTO_INVAL_DATA' : ''}`
        : 'none',
    dirCache: options.kernelCache ? 'FOPEN_CACHE_DIR|FOPEN_KEEP_CACHE' : 'none',
    entryTimeoutSent: options.entryTimeout,
    attrTimeoutSent: options.attrTimeout,
    negativeTimeoutSent: options.negativeTimeout,
    negativeEntries:
      options.negativeTimeout > 0
        ? 'negative entries (node id 0) with the negative timeout'
        : 'not cached (ENOENT replies)',
    kernelPassthrough: options.kernelPassthrough,
    requestChannel: !ioUring
      ? 'read/write on /dev/fuse'
      : ringRefusal === null
        ? `io_uring: ${queues.length} queues x ${RING_DEPTH} entries of ${payloadBytes} bytes (FORGET, INTERRUPT by read on /dev/fuse)`
        : 'read/write on /dev/fuse (io_uring refused)',
    ...(ringRefusal === null ? {} : { ioUringRefused: ringRefusal }),
  };

  return {
    facts,
    closed,
    serveInForeground: () => pool.serveInForeground(),
    async close() {
      if (!finished && findMount(mountpoint)?.device === entry.device) await unmountLater();
      // A lazily detached mount lives while files on it are open; the daemon stops waiting after
      // DRAIN_MS and its exit then aborts the connection (clients see ENOTCONN), as a stop must.
      const drained = await Promise.race([
        closed.then(
          () => true,
          () => true,
        ),
        sleep(DRAIN_MS).then(() => false),
      ]);
      if (!drained) {
        // Files on the lazily detached mount are still open. Stop the threads that a request
        // wakes; threads left blocked in read(2) end with the process, which aborts the connection.
        writeSync(2, 'fusebench: devfuse: connection still in use after unmount; aborting it\n');
        if (!(await stopServing())) settle();
      }
      await closed;
    },
  };
}
