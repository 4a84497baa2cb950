import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Mutation } from './mutate.js';
import type { CaseOutcome } from './run-case.js';

/**
 * Worker threads that run fuzz cases, each case bounded in time (the thread is terminated when it
 * overruns) and in heap (resourceLimits; V8 kills the thread past the cap). A process-wide RSS
 * watchdog catches memory outside the heap (Buffers): it stops every busy thread and reports their
 * cases as suspects, which the caller reruns alone to find the culprit.
 */

export interface WorkerData {
  /** Corpus member name → image file (.erofs or .erofs.gz). */
  corpus: Record<string, string>;
  scratchDir: string;
}

export interface CaseMessage {
  id: number;
  /** Corpus member and mutations to rebuild the image from… */
  fixture?: string;
  mutations?: Mutation[];
  /** …or a ready image file (replays of saved reproducers). */
  imagePath?: string;
  seed: string;
  focus: string[];
  backend: boolean;
  /** Misbehaves on purpose instead of running a case, to test the pool's own limits. */
  selfTest?: 'hang' | 'heap' | 'buffers';
}

export interface CaseReply {
  id: number;
  outcome: CaseOutcome;
  ms: number;
}

export type CaseResult =
  | { kind: 'done'; outcome: CaseOutcome; ms: number }
  | { kind: 'hang'; ms: number }
  | { kind: 'oom'; message: string; ms: number }
  | { kind: 'memory-suspect'; rssMb: number; ms: number }
  | { kind: 'crash'; message: string; ms: number };

export interface PoolOptions {
  workers: number;
  timeoutMs: number;
  heapMb: number;
  /** Process RSS above which busy threads are stopped (MiB). */
  rssCapMb: number;
  /**
   * Cases a thread runs before it is replaced (default 2000). Whatever cases leave behind in a
   * thread (a native binding that keeps memory per call, say) would otherwise pile up until the RSS
   * watchdog blames an innocent case; it goes with the thread.
   */
  recycleAfter?: number;
  corpus: Record<string, string>;
}

interface Slot {
  worker: Worker | null;
  /** Cases the current thread has run. */
  runs: number;
  busy: {
    id: number;
    started: number;
    timer: NodeJS.Timeout;
    settle: (result: CaseResult) => void;
  } | null;
}

export class CasePool {
  readonly scratchDir: string;
  private readonly slots: Slot[];
  private readonly waiting: Array<() => void> = [];
  private readonly watchdog: NodeJS.Timeout;
  private nextId = 1;
  private closed = false;
  private terminating = 0;
  /** Threads started, including replacements after hangs and crashes. */
  started = 0;

  constructor(private readonly options: PoolOptions) {
    const shm = '/dev/shm';
    this.scratchDir = mkdtempSync(join(existsSync(shm) ? shm : tmpdir(), 'fusebench-fuzz-'));
    this.slots = Array.from({ length: Math.max(1, options.workers) }, () => ({
      worker: null,
      runs: 0,
      busy: null,
    }));
    this.watchdog = setInterval(() => this.checkMemory(), 25);
    this.watchdog.unref();
  }

  /** Runs one case on the first free thread. */
  async run(message: Omit<CaseMessage, 'id'>): Promise<CaseResult> {
    let slot = this.slots.find((candidate) => candidate.busy === null);
    while (!slot) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
      slot = this.slots.find((candidate) => candidate.busy === null);
    }
    const id = this.nextId++;
    if (slot.worker && slot.runs >= (this.options.recycleAfter ?? 2000)) this.retire(slot);
    const worker = this.workerOf(slot);
    slot.runs++;
    return new Promise<CaseResult>((resolve) => {
      const started = performance.now();
      const timer = setTimeout(
        () => this.stop(slot, { kind: 'hang', ms: performance.now() - started }),
        this.options.timeoutMs,
      );
      slot.busy = {
        id,
        started,
        timer,
        settle: (result) => {
          clearTimeout(timer);
          slot.busy = null;
          resolve(result);
          this.waiting.shift()?.();
        },
      };
      worker.postMessage({ ...message, id } satisfies CaseMessage);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.watchdog);
    await Promise.all(
      this.slots.map(async (slot) => {
        const worker = slot.worker;
        slot.worker = null;
        if (worker) await worker.terminate();
      }),
    );
    rmSync(this.scratchDir, { recursive: true, force: true });
  }

  private workerOf(slot: Slot): Worker {
    if (slot.worker) return slot.worker;
    const worker = new Worker(new URL('./worker.js', import.meta.url), {
      workerData: { corpus: this.options.corpus, scratchDir: this.scratchDir } satisfies WorkerData,
      resourceLimits: {
        maxOldGenerationSizeMb: this.options.heapMb,
        maxYoungGenerationSizeMb: 32,
        stackSizeMb: 4,
      },
      stdout: true,
      stderr: true,
    });
    this.started++;
    slot.runs = 0;
    worker.stdout.resume();
    worker.stderr.resume();
    worker.on('message', (reply: CaseReply) => {
      if (slot.busy?.id === reply.id)
        slot.busy.settle({ kind: 'done', outcome: reply.outcome, ms: reply.ms });
    });
    const { threadId } = worker;
    worker.once('exit', () => this.removeScratch(threadId));
    worker.on('error', (error: Error & { code?: string }) => {
      if (slot.worker !== worker) return;
      slot.worker = null;
      const ms = slot.busy ? performance.now() - slot.busy.started : 0;
      const result: CaseResult =
        error.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? { kind: 'oom', message: error.message, ms }
          : { kind: 'crash', message: error.stack ?? error.message, ms };
      slot.busy?.settle(result);
    });
    worker.on('exit', (code) => {
      if (slot.worker !== worker) return;
      slot.worker = null;
      if (!this.closed) slot.busy?.settle({ kind: 'crash', message: `worker exited with ${code}`, ms: 0 });
    });
    slot.worker = worker;
    return worker;
  }

  /** Replaces an idle thread (it has run its share of cases). */
  private retire(slot: Slot): void {
    const worker = slot.worker;
    slot.worker = null;
    if (worker) this.terminate(worker);
  }

  /** Ends a busy thread (it overran its time or the RSS cap) and settles its case. */
  private stop(slot: Slot, result: CaseResult): void {
    const worker = slot.worker;
    slot.worker = null;
    slot.busy?.settle(result);
    if (worker) this.terminate(worker);
  }

  private terminate(worker: Worker): void {
    this.terminating++;
    const { threadId } = worker;
    void worker.terminate().finally(() => {
      this.terminating--;
      this.removeScratch(threadId);
    });
  }

  /** A thread's scratch copies (worker.ts names them NAME-PID-THREAD.erofs) go with the thread. */
  private removeScratch(threadId: number): void {
    const suffix = `-${process.pid}-${threadId}.erofs`;
    try {
      for (const name of readdirSync(this.scratchDir)) {
        if (name.endsWith(suffix)) rmSync(join(this.scratchDir, name), { force: true });
      }
    } catch {
      // The pool is closed and its directory gone.
    }
  }

  private checkMemory(): void {
    // A stopped thread's memory is freed only once it has gone: until then RSS proves nothing.
    if (this.terminating > 0) return;
    const rssMb = process.memoryUsage.rss() / 2 ** 20;
    if (rssMb <= this.options.rssCapMb) return;
    for (const slot of this.slots) {
      if (slot.busy) {
        this.stop(slot, { kind: 'memory-suspect', rssMb, ms: performance.now() - slot.busy.started });
      }
    }
  }
}
