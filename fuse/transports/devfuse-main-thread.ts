import { constants } from 'node:os';
import { HANDLED } from '../../lib/signals.js';
import { type ReadableWatch, syscalls } from '../../lib/syscalls.js';
import { createBackend } from '../backends/index.js';
import type { BackendSpec } from '../transport.js';
import { type EndReason, FuseServer, type InitReport, type ServerConfig } from './devfuse-server.js';

/**
 * devfuse with one serving thread serves on the daemon's main thread, as libfuse's single-threaded
 * loop does: a worker thread's boot (its own V8 isolate and Node bootstrap, ~55 ms warm and ~95 ms
 * with a cold page cache on the 2-core VM) was the largest part of a daemon's cold start.
 * Two modes:
 * - polled: the descriptor is non-blocking and the event loop wakes the thread per request (the
 *   addon's watchReadable), so the daemon's own work (mounting, INIT, its timers, a stop) goes on
 *   between requests. An epoll_wait(2) and a read(2) per request: measured ~3–5 µs more per
 *   request than a worker's blocking read(2) on this VM;
 * - in the foreground, once the daemon has nothing else to do (`serveInForeground`): blocking
 *   read(2) between requests, as a worker does, until a stop signal interrupts it (the addon's
 *   interruptingSignals); serving then goes back to polled, for good, while the daemon stops.
 */

/**
 * Requests answered per polled wakeup before the event loop gets its turn; the poll is
 * level-triggered, so it fires again at once when more wait.
 */
const REQUESTS_PER_TURN = 16;
/** Requests served in the foreground between two checks for a stop signal. */
const FOREGROUND_BATCH = 256;
/** The signals that stop a daemon: they end a blocking read. */
const STOP_SIGNALS = HANDLED.map((name) => constants.signals[name]);

export interface MainThreadServing {
  /** INIT as answered. */
  readonly init: Promise<InitReport>;
  /** Why serving ended; rejects when it failed (a read of /dev/fuse failed unexpectedly). */
  readonly ended: Promise<EndReason>;
  /** Serves `fd` (the mount's descriptor: call once mount(2) made the connection). */
  start(fd: number): void;
  /** From the next request on, blocks in read(2) between requests until a stop signal. */
  serveInForeground(): void;
  /** Ends serving, started or not; the backend is released. */
  stop(): void;
}

/** Builds the backend (its failure is thrown), ready to serve once `start` names the descriptor. */
export async function serveOnMainThread(
  config: ServerConfig & { spec: BackendSpec },
): Promise<MainThreadServing> {
  const backend = await createBackend(config.spec);
  let reportInit: (report: InitReport) => void = () => {};
  const init = new Promise<InitReport>((resolve) => {
    reportInit = resolve;
  });
  let settle: (end: EndReason | Error) => void = () => {};
  const ended = new Promise<EndReason>((resolve, reject) => {
    settle = (end) => (end instanceof Error ? reject(end) : resolve(end));
  });
  ended.catch(() => {});
  let watch: ReadableWatch | null = null;
  let fd = -1;
  let foreground = false;
  let done = false;
  const finish = (end: EndReason | Error) => {
    if (done) return;
    done = true;
    if (watch) syscalls.unwatch(watch);
    if (foreground) syscalls.restoreSignals();
    backend.destroy();
    settle(end);
  };
  /**
   * Serves in the foreground: returns why serving ended, or null once a stop signal came. A batch
   * ends early on EINTR (a signal during the read) or EAGAIN (a signal just before it made the
   * descriptor non-blocking); the check between batches also catches a signal that came while a
   * busy client kept requests waiting.
   */
  const serveBlocking = (server: FuseServer): EndReason | null => {
    while (syscalls.blockUnlessSignalled(fd)) {
      const end = server.serveWaiting(FOREGROUND_BATCH);
      if (end !== null) return end;
    }
    syscalls.setNonBlocking(fd, true);
    return null;
  };
  return {
    init,
    ended,
    start(mountFd) {
      if (done || watch) return;
      fd = mountFd;
      syscalls.setNonBlocking(fd, true);
      const server = new FuseServer(backend, { ...config, fd }, reportInit);
      watch = syscalls.watchReadable(fd, (status) => {
        try {
          const end = foreground ? serveBlocking(server) : server.serveWaiting(REQUESTS_PER_TURN);
          if (end === null && foreground) {
            // A stop signal: its handler runs once this returns, and the stop needs the event loop.
            syscalls.restoreSignals();
            foreground = false;
          }
          // A poll error that read(2) did not explain: the connection is gone all the same.
          if (end !== null || status < 0) finish(end ?? 'aborted');
        } catch (error) {
          finish(error instanceof Error ? error : new Error(String(error)));
        }
      });
    },
    serveInForeground() {
      if (done || foreground || fd < 0) return;
      syscalls.interruptingSignals(fd, STOP_SIGNALS);
      foreground = true;
    },
    stop: () => finish('stopped'),
  };
}
