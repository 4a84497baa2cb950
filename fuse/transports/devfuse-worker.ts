import { writeFileSync } from 'node:fs';
import { isMainThread, type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { createBackend } from '../backends/index.js';
import type { Filesystem } from '../filesystem.js';
import type { BackendSpec } from '../transport.js';
import type { RingQueue } from './devfuse-ring.js';
import { type EndReason, FuseServer, type InitReport, type ServerConfig } from './devfuse-server.js';
import { counterRow, Negotiated } from './devfuse-shared.js';
import type { SharedStateBuffers } from './devfuse-state.js';

// The bundle's one export: a daemon serving on its main thread requires the bundle for it, and only
// a worker thread runs the code below.
export { serveOnMainThread } from './devfuse-main-thread.js';

/**
 * A devfuse serving thread. It builds its own backend, says it is ready, waits for the main
 * thread's `start` (sent once the mount exists: read(2) on an unmounted /dev/fuse fails at once),
 * then serves in a blocking loop until the kernel ends the connection. From then on it cannot
 * receive messages; it only posts them (INIT facts, its ring's registration, its end).
 * A ring thread (devfuse-uring) waits for INIT to agree on FUSE_OVER_IO_URING, then serves its
 * io_uring queue; when the kernel does not agree or refuses the registration, it says why and
 * ends, and the /dev/fuse threads serve everything.
 */

export interface WorkerData extends ServerConfig {
  spec: BackendSpec;
  /** Present when the backend keeps per-instance state and several threads serve it. */
  sharedState: SharedStateBuffers | null;
  /** The io_uring queue this thread serves, or null for a /dev/fuse read(2) thread. */
  ring: RingQueue | null;
}

/**
 * `configure` gives a thread started ahead of its request (devfuse-prestart.ts) what the others get
 * as workerData; `start` names the descriptor a /dev/fuse thread reads: the mount's own, or its
 * clone of it.
 */
export type ToWorker =
  | { type: 'configure'; data: WorkerData }
  | { type: 'start'; fd: number }
  | { type: 'stop' };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'init'; report: InitReport }
  | { type: 'ring'; qid: number; registered: boolean; message: string }
  | { type: 'ended'; reason: EndReason };

/** Prefixes of the serving threads' names in /proc/PID/task/TID/comm, so they can be counted there. */
export const ThreadName = { devFuse: 'devfuse-', ring: 'devfuse-ring-' } as const;

/** This thread's WorkerData: given at its start, or (prestarted) in its first message. */
function configuration(port: MessagePort): Promise<WorkerData> {
  if (workerData) return Promise.resolve(workerData as WorkerData);
  return new Promise((resolve) => {
    port.once('message', (message: ToWorker) => {
      if (message.type === 'configure') resolve(message.data);
      else process.exit(0); // a stop before any configuration: nothing to serve
    });
  });
}

if (!isMainThread) void serveThread(parentPort!);

// Not top-level await: the bundle is CommonJS (its loading skips the ES module loader's boot).
async function serveThread(port: MessagePort): Promise<void> {
  const post = (message: FromWorker) => port.postMessage(message);
  const data = await configuration(port);
  // Synchronous fs calls run on the calling thread, so thread-self is this worker.
  writeFileSync(
    '/proc/thread-self/comm',
    data.ring ? `${ThreadName.ring}${data.ring.qid}` : `${ThreadName.devFuse}${data.worker}`,
  );
  // Only what this thread serves with is loaded: the io_uring module (and its native part) for a
  // ring thread, the shared tables for a backend shared by several threads.
  const ringModule = data.ring ? await import('./devfuse-ring.js') : null;
  let served: Filesystem;
  try {
    const own = await createBackend(data.spec);
    served = data.sharedState
      ? new (await import('./devfuse-state.js')).SharedStateFilesystem(own, data.sharedState)
      : own;
  } catch (error) {
    post({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
    return;
  }
  port.once('message', (message: ToWorker) => {
    if (message.type !== 'start') {
      served.destroy();
      return;
    }
    let reason: EndReason;
    try {
      reason = data.ring
        ? serveQueue(served, data, ringModule!, data.ring, post)
        : new FuseServer(served, { ...data, fd: message.fd }, (report) =>
            post({ type: 'init', report }),
          ).run();
    } finally {
      served.destroy();
    }
    post({ type: 'ended', reason });
  });
  post({ type: 'ready' });
}

function serveQueue(
  served: Filesystem,
  data: WorkerData,
  { createRingSink, serveRing }: typeof import('./devfuse-ring.js'),
  queue: RingQueue,
  post: (message: FromWorker) => void,
): EndReason {
  const negotiated = new Int32Array(data.buffers.negotiated);
  const stopped = () => Atomics.load(negotiated, Negotiated.STOP) === 1;
  while (Atomics.load(negotiated, Negotiated.IO_URING) === 0 && !stopped()) {
    Atomics.wait(negotiated, Negotiated.IO_URING, 0, 200);
  }
  const refused = (message: string): EndReason => {
    post({ type: 'ring', qid: queue.qid, registered: false, message });
    return 'stopped';
  };
  if (Atomics.load(negotiated, Negotiated.IO_URING) !== 1) {
    return refused(
      'the kernel did not offer FUSE_OVER_IO_URING (Linux 6.14+ with /sys/module/fuse/parameters/enable_uring = 1)',
    );
  }
  const sink = createRingSink();
  const server = new FuseServer(served, data, () => {}, sink);
  let registered = false;
  try {
    return serveRing(server, sink, data.fd, queue, counterRow(data.buffers, data.worker), stopped, () => {
      registered = true;
      post({ type: 'ring', qid: queue.qid, registered, message: '' });
    });
  } catch (error) {
    if (registered) throw error;
    return refused(error instanceof Error ? error.message : String(error));
  }
}
