import { OPCODE_SLOTS } from '../protocol/kernel.js';

/**
 * State the devfuse serving threads share, in SharedArrayBuffers the main thread creates and
 * hands to every worker: what INIT negotiated (any worker may read INIT, all must know), request
 * counters per worker (read by the main thread for the exit summary), and the table of kernel
 * passthrough backing ids per inode. Workers spend their lives blocked in read(2) on /dev/fuse,
 * so they cannot receive messages: everything they share goes through these buffers.
 */

export interface SharedBuffers {
  negotiated: SharedArrayBuffer;
  counters: SharedArrayBuffer;
  backing: SharedArrayBuffer;
}

/** Slots of the negotiated-state array. */
export const Negotiated = {
  /** 1 once INIT was answered. */
  INIT_DONE: 0,
  /** 1 when the kernel accepted FUSE_PASSTHROUGH. */
  PASSTHROUGH: 1,
  MINOR: 2,
  /** Set by the main thread to make every serving thread return after its current request. */
  STOP: 3,
  /** After INIT: 1 when FUSE_OVER_IO_URING was agreed (ring queues may register), 2 when not. */
  IO_URING: 4,
  SLOTS: 5,
} as const;

/** Per-worker counters: requests and error replies per opcode, then a few named events. */
export const Counter = {
  /** Requests by opcode: [0, OPCODE_SLOTS). */
  REQUESTS: 0,
  /** Error replies by opcode: [OPCODE_SLOTS, 2·OPCODE_SLOTS). */
  ERRORS: OPCODE_SLOTS,
  /** Opens answered with FOPEN_PASSTHROUGH. */
  PASSTHROUGH_OPENS: 2 * OPCODE_SLOTS,
  /** Opens that asked for passthrough but were served by READ (backing registration failed). */
  PASSTHROUGH_FALLBACKS: 2 * OPCODE_SLOTS + 1,
  /** Replies the kernel no longer wanted (ENOENT from write(2): the request was interrupted or aborted). */
  STALE_REPLIES: 2 * OPCODE_SLOTS + 2,
  /** Backend failures that were not FsError (answered EIO). */
  BACKEND_BUGS: 2 * OPCODE_SLOTS + 3,
  /** Requests that came through an io_uring queue (devfuse-uring), not read(2) of /dev/fuse. */
  RING_REQUESTS: 2 * OPCODE_SLOTS + 4,
  STRIDE: 2 * OPCODE_SLOTS + 5,
} as const;

/** Most inodes open at once with FOPEN_PASSTHROUGH; beyond that, opens fall back to READ. */
export const BACKING_SLOTS = 16384;
const SLOT_INTS = 5;
const LOCK = 0;
const HEADER_INTS = 2;
const EMPTY = 0;
const USED = 1;
const DELETED = 2;

export function createSharedBuffers(threads: number): SharedBuffers {
  return {
    negotiated: new SharedArrayBuffer(Negotiated.SLOTS * 4),
    counters: new SharedArrayBuffer(threads * Counter.STRIDE * 8),
    backing: new SharedArrayBuffer((HEADER_INTS + BACKING_SLOTS * SLOT_INTS) * 4),
  };
}

/** One worker's view of its counter row. */
export function counterRow(buffers: SharedBuffers, worker: number): Float64Array {
  return new Float64Array(buffers.counters, worker * Counter.STRIDE * 8, Counter.STRIDE);
}

/** The counters of all workers added up. */
export function sumCounters(buffers: SharedBuffers, threads: number): Float64Array {
  const total = new Float64Array(Counter.STRIDE);
  for (let worker = 0; worker < threads; worker++) {
    const row = counterRow(buffers, worker);
    for (let index = 0; index < Counter.STRIDE; index++) total[index]! += row[index]!;
  }
  return total;
}

/**
 * Backing ids by inode, shared by all workers. The kernel lets an inode be open through one
 * backing file at a time (a second FOPEN_PASSTHROUGH open with another backing id is refused
 * with EBUSY), so every open of an inode reuses the id registered by the first and the id is
 * closed when the last of them is released. A spin lock (Atomics) guards the table; the ioctls
 * run inside it, which keeps "register, then publish" atomic.
 */
export class BackingTable {
  private readonly ints: Int32Array;

  constructor(buffer: SharedArrayBuffer) {
    this.ints = new Int32Array(buffer);
  }

  private lock(): void {
    while (Atomics.compareExchange(this.ints, LOCK, 0, 1) !== 0) Atomics.wait(this.ints, LOCK, 1, 1);
  }

  private unlock(): void {
    Atomics.store(this.ints, LOCK, 0);
    Atomics.notify(this.ints, LOCK, 1);
  }

  /** The slot index holding `id`, or the first free one when absent (-1 when the table is full). */
  private find(id: number): { found: boolean; slot: number } {
    const low = id >>> 0;
    const high = Math.floor(id / 2 ** 32) | 0;
    let free = -1;
    let slot = (Math.imul(low ^ high, 0x9e37_79b1) >>> 0) % BACKING_SLOTS;
    for (let probes = 0; probes < BACKING_SLOTS; probes++, slot = (slot + 1) % BACKING_SLOTS) {
      const base = HEADER_INTS + slot * SLOT_INTS;
      const state = this.ints[base]!;
      if (state === EMPTY) return { found: false, slot: free >= 0 ? free : slot };
      if (state === DELETED) {
        if (free < 0) free = slot;
      } else if (this.ints[base + 1] === (low | 0) && this.ints[base + 2] === high) {
        return { found: true, slot };
      }
    }
    return { found: false, slot: free };
  }

  /**
   * The backing id for inode `id`, registering one with `register` if no open holds one;
   * counts one more holder. Returns -1 when the table is full (the caller serves without passthrough).
   */
  acquire(id: number, register: () => number): number {
    this.lock();
    try {
      const { found, slot } = this.find(id);
      if (slot < 0) return -1;
      const base = HEADER_INTS + slot * SLOT_INTS;
      if (found) {
        this.ints[base + 4]! += 1;
        return this.ints[base + 3]!;
      }
      const backingId = register();
      this.ints[base] = USED;
      this.ints[base + 1] = id >>> 0;
      this.ints[base + 2] = Math.floor(id / 2 ** 32) | 0;
      this.ints[base + 3] = backingId;
      this.ints[base + 4] = 1;
      return backingId;
    } finally {
      this.unlock();
    }
  }

  /** Drops one holder of inode `id`'s backing id; the last one closes it with `close`. */
  release(id: number, close: (backingId: number) => void): void {
    this.lock();
    try {
      const { found, slot } = this.find(id);
      if (!found) return;
      const base = HEADER_INTS + slot * SLOT_INTS;
      this.ints[base + 4]! -= 1;
      if (this.ints[base + 4]! > 0) return;
      this.ints[base] = DELETED;
      close(this.ints[base + 3]!);
    } finally {
      this.unlock();
    }
  }

  /** Inodes currently holding a backing id. */
  holders(): number {
    let count = 0;
    for (let slot = 0; slot < BACKING_SLOTS; slot++) {
      if (this.ints[HEADER_INTS + slot * SLOT_INTS] === USED) count++;
    }
    return count;
  }
}

/**
 * One /dev/fuse thread and no ring: served on the daemon's main thread (devfuse-main-thread.ts),
 * which saves a fresh daemon a worker thread's boot.
 */
export const servesOnMainThread = (ioUring: boolean, threads: number): boolean => !ioUring && threads === 1;
