import { ftruncateSync, openSync, readFileSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { gunzipSync } from 'node:zlib';
import { type Mutation, recomputeChecksum } from './mutate.js';
import type { CaseMessage, CaseReply, WorkerData } from './pool.js';
import { exploreImage } from './run-case.js';

/**
 * One fuzz worker thread. Each corpus member gets one scratch copy (on tmpfs when there is one);
 * a case patches its mutations into that copy, explores it, and patches the original bytes back,
 * so a case costs a few small writes instead of a whole image. The pool kills and replaces the
 * thread when a case overruns its time or heap.
 */

const data = workerData as WorkerData;

interface Scratch {
  path: string;
  fd: number;
  base: Buffer;
}

const scratches = new Map<string, Scratch>();

function scratchOf(fixture: string): Scratch {
  let scratch = scratches.get(fixture);
  if (!scratch) {
    const file = data.corpus[fixture];
    if (!file) throw new Error(`unknown corpus member ${fixture}`);
    const raw = readFileSync(file);
    const base = file.endsWith('.gz') ? gunzipSync(raw) : raw;
    const path = join(data.scratchDir, `${fixture}-${process.pid}-${threadId}.erofs`);
    writeFileSync(path, base);
    scratch = { path, fd: openSync(path, 'r+'), base };
    scratches.set(fixture, scratch);
  }
  return scratch;
}

/** Writes the mutations into the scratch copy; returns how to put the base bytes back. */
function patch(scratch: Scratch, mutations: readonly Mutation[]): () => void {
  const { fd, base } = scratch;
  const touched: Array<[number, number]> = [];
  let length = base.length;
  let truncatedTo = base.length;
  for (const mutation of mutations) {
    if (mutation.op === 'set') {
      if (mutation.offset >= length) continue;
      const bytes = Buffer.from(mutation.hex, 'hex').subarray(0, length - mutation.offset);
      writeSync(fd, bytes, 0, bytes.length, mutation.offset);
      touched.push([mutation.offset, bytes.length]);
    } else if (mutation.op === 'truncate') {
      if (mutation.length < length) {
        ftruncateSync(fd, mutation.length);
        length = mutation.length;
        truncatedTo = Math.min(truncatedTo, length);
      }
    } else if (length >= 1024 + 8) {
      // The checksum covers at most one 64 KiB block after the superblock.
      const head = Buffer.alloc(Math.min(length, 1024 + 65536));
      readIntoFrom(fd, head);
      recomputeChecksum(head);
      writeSync(fd, head, 1024 + 4, 4, 1024 + 4);
      touched.push([1024 + 4, 4]);
    }
  }
  return () => {
    for (const [offset, size] of touched) {
      if (offset < truncatedTo) writeSync(fd, base, offset, Math.min(size, truncatedTo - offset), offset);
    }
    if (truncatedTo < base.length) writeSync(fd, base, truncatedTo, base.length - truncatedTo, truncatedTo);
  };
}

function readIntoFrom(fd: number, buffer: Buffer): void {
  let done = 0;
  while (done < buffer.length) {
    const got = readSync(fd, buffer, done, buffer.length - done, done);
    if (got === 0) break;
    done += got;
  }
}

/** The pool's tests: a case that never ends, one that fills the heap, one that fills memory outside it. */
function misbehave(kind: NonNullable<CaseMessage['selfTest']>): void {
  const hoard: unknown[] = [];
  for (;;) {
    if (kind === 'heap') hoard.push(new Array(1 << 20).fill(1.5));
    else if (kind === 'buffers') hoard.push(Buffer.alloc(64 << 20, 1));
  }
}

parentPort!.on('message', (message: CaseMessage) => {
  if (message.selfTest) misbehave(message.selfTest);
  const started = performance.now();
  let path = message.imagePath;
  let restore = () => {};
  if (!path) {
    const scratch = scratchOf(message.fixture!);
    restore = patch(scratch, message.mutations ?? []);
    path = scratch.path;
  }
  try {
    const outcome = exploreImage(path, {
      seed: message.seed,
      focus: message.focus,
      backend: message.backend,
    });
    const reply: CaseReply = { id: message.id, outcome, ms: performance.now() - started };
    parentPort!.postMessage(reply);
  } finally {
    restore();
  }
});
