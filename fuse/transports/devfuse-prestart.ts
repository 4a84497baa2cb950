import { Worker } from 'node:worker_threads';
import type { ToWorker, WorkerData } from './devfuse-worker.js';
import { workerBundleLocation } from './worker-bundle.js';

/**
 * A worker thread's boot (its own V8 isolate and Node bootstrap, then the bundle) is the largest
 * part of the cold start of a devfuse daemon that serves on workers (several threads, or a ring):
 * 90-130 ms on a 2-core VM. Started as soon as the daemon knows it will serve on workers, and
 * before it loads the rest of itself, the boot runs on the other core meanwhile. The thread then
 * waits for its WorkerData in a `configure` message.
 * Until taken it is unref'd: a daemon that fails its checks exits without waiting for it.
 */

interface Prestarted {
  thread: Worker;
  url: string;
  exited: boolean;
}

let prestarted: Prestarted | null = null;

/**
 * Boots the first serving thread now. The bundle is not checked here: serving checks it before it
 * takes the thread (and refuses a missing or stale one in one line), and the check's ~30 stats
 * would only delay the boot.
 */
export function prestartServingThread(): void {
  if (prestarted) return;
  const url = workerBundleLocation();
  const thread = new Worker(url, { workerData: null, stdout: false, stderr: false });
  const entry: Prestarted = { thread, url: url.href, exited: false };
  // A thread that failed to boot is not taken: a new one then reports the failure to a listener.
  thread.on('error', () => {});
  thread.once('exit', () => {
    entry.exited = true;
  });
  thread.unref();
  prestarted = entry;
}

/** The prestarted thread of bundle `url`, configured with `data`, or null when there is none. */
export function takePrestartedThread(url: URL, data: WorkerData): Worker | null {
  const entry = prestarted;
  prestarted = null;
  if (!entry || entry.exited || entry.url !== url.href) {
    void entry?.thread.terminate();
    return null;
  }
  entry.thread.ref();
  entry.thread.postMessage({ type: 'configure', data } satisfies ToWorker);
  return entry.thread;
}
