import { parentPort, workerData } from 'node:worker_threads';
import { createBackend } from '../backends/index.js';
import type { Filesystem } from '../filesystem.js';
import type { BackendSpec } from '../transport.js';
import { createRingSink, type RingQueue, serveRing } from './devfuse-ring.js';
import { type EndReason, FuseServer, type InitReport, type ServerConfig } from './devfuse-server.js';
import { counterRow, Negotiated } from './devfuse-shared.js';
import { type SharedStateBuffers, SharedStateFilesystem } from './devfuse-state.js';

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

export type ToWorker = { type: 'start' } | { type: 'stop' };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'init'; report: InitReport }
  | { type: 'ring'; qid: number; registered: boolean; message: string }
  | { type: 'ended'; reason: EndReason };

const data = workerData as WorkerData;
const port = parentPort;
if (!port) throw new Error('devfuse-worker must run as a worker thread');
const post = (message: FromWorker) => port.postMessage(message);

let backend: Filesystem | null = null;
try {
  const own = await createBackend(data.spec);
  backend = data.sharedState ? new SharedStateFilesystem(own, data.sharedState) : own;
} catch (error) {
  post({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
}

if (backend) {
  const served = backend;
  port.once('message', (message: ToWorker) => {
    if (message.type !== 'start') {
      served.destroy();
      return;
    }
    let reason: EndReason;
    try {
      reason = data.ring ? serveQueue(served, data.ring) : serveDevFuse(served);
    } finally {
      served.destroy();
    }
    post({ type: 'ended', reason });
  });
  post({ type: 'ready' });
}

function serveDevFuse(served: Filesystem): EndReason {
  return new FuseServer(served, data, (report) => post({ type: 'init', report })).run();
}

function serveQueue(served: Filesystem, queue: RingQueue): EndReason {
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
