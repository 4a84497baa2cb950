import { parentPort, workerData } from 'node:worker_threads';
import { createBackend } from '../backends/index.js';
import type { Filesystem } from '../filesystem.js';
import type { BackendSpec } from '../transport.js';
import { type EndReason, FuseServer, type InitReport, type ServerConfig } from './devfuse-server.js';
import { type SharedStateBuffers, SharedStateFilesystem } from './devfuse-state.js';

/**
 * A devfuse serving thread. It builds its own backend, says it is ready, waits for the main
 * thread's `start` (sent once the mount exists: read(2) on an unmounted /dev/fuse fails at once),
 * then serves in a blocking loop until the kernel ends the connection. From then on it cannot
 * receive messages; it only posts them (INIT facts, its end).
 */

export interface WorkerData extends ServerConfig {
  spec: BackendSpec;
  /** Present when the backend keeps per-instance state and several threads serve it. */
  sharedState: SharedStateBuffers | null;
}

export type ToWorker = { type: 'start' } | { type: 'stop' };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'init'; report: InitReport }
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
    const server = new FuseServer(served, data, (report) => post({ type: 'init', report }));
    let reason: EndReason;
    try {
      reason = server.run();
    } finally {
      served.destroy();
    }
    post({ type: 'ended', reason });
  });
  post({ type: 'ready' });
}
