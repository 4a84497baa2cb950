import { createRequire } from 'node:module';
import { InHeader, Size } from '../protocol/kernel.js';
import { RingEntInOut, UringReqHeader } from '../protocol/uring.js';
import type { EndReason, FuseServer, ReplySink } from './devfuse-server.js';
import { Counter } from './devfuse-shared.js';

/**
 * One devfuse-uring queue: a FUSE io_uring queue served by one thread. The native part
 * (native/uring.c) only submits and waits; here each request is laid out as read(2) of /dev/fuse
 * would give it (fuse_in_header, op_in, payload), answered by the same FuseServer, and the reply
 * written into the entry's buffers, which the next ringNext commits while fetching the next request.
 */

interface Ring {
  readonly brand: unique symbol;
}

interface UringBinding {
  ringOpen(devFuseFd: number, qid: number, headers: Buffer[], payloads: Buffer[], input: Buffer): Ring;
  /**
   * Commits entry `committed` (-1: none), then waits: an entry index, -1 on timeout, -2 when the
   * queue ended. The entry's request is then also in `input`, laid out as read(2) of /dev/fuse
   * gives it, or its length (fuse_in_header.len) is 0 when the entry's sizes do not add up.
   */
  ringNext(ring: Ring, committed: number, timeoutMs: number): number;
  ringClose(ring: Ring): void;
}

const require = createRequire(import.meta.url);
/** Loaded from dist/fuse/transports/, three levels below the build directory. */
const uring = require('../../../build/Release/fusebench_uring.node') as UringBinding;

/** How often an idle queue looks at the stop flag. */
const IDLE_CHECK_MS = 200;
const ENOSYS = 38;

/** Replies into the ring entry that holds the request being served. */
class RingEntrySink implements ReplySink {
  header: Buffer = Buffer.alloc(0);
  payload: Buffer = Buffer.alloc(0);
  replied = false;

  private payloadSize(size: number): void {
    this.header.writeUInt32LE(size, UringReqHeader.RING_ENT_IN_OUT + RingEntInOut.PAYLOAD_SZ);
    this.replied = true;
  }

  /** The fuse_out_header (16 bytes) into in_out, word by word: a partial Buffer copy allocates a view. */
  private outHeader(from: Buffer): void {
    for (let at = 0; at < Size.OUT_HEADER; at += 4) {
      this.header.writeUInt32LE(from.readUInt32LE(at), UringReqHeader.IN_OUT + at);
    }
  }

  send(message: Buffer, length: number): number {
    this.outHeader(message);
    if (length > Size.OUT_HEADER) message.copy(this.payload, 0, Size.OUT_HEADER, length);
    this.payloadSize(length - Size.OUT_HEADER);
    return 0;
  }

  sendData(header: Buffer, data: Buffer): number {
    this.outHeader(header);
    data.copy(this.payload, 0);
    this.payloadSize(data.length);
    return 0;
  }
}

export interface RingQueue {
  qid: number;
  /** Ring entries (requests this queue can hold at once). */
  depth: number;
  /** Bytes of each payload buffer: the kernel's largest request or reply argument (max_pages pages). */
  payloadBytes: number;
}

export function createRingSink(): RingEntrySink {
  return new RingEntrySink();
}

/**
 * Registers the queue's entries and serves until the kernel ends the queue or `stopped()` says so.
 * Throws when the kernel refuses the registration (the /dev/fuse threads then serve everything).
 */
export function serveRing(
  server: FuseServer,
  sink: RingEntrySink,
  fd: number,
  queue: RingQueue,
  counters: Float64Array,
  stopped: () => boolean,
  onRegistered: () => void,
): EndReason {
  const headers = Array.from({ length: queue.depth }, () => Buffer.alloc(UringReqHeader.SIZE));
  const payloads = Array.from({ length: queue.depth }, () => Buffer.allocUnsafeSlow(queue.payloadBytes));
  const input = server.input;
  const ring = uring.ringOpen(fd, queue.qid, headers, payloads, input);
  onRegistered();
  let committed = -1;
  try {
    for (;;) {
      const index = uring.ringNext(ring, committed, IDLE_CHECK_MS);
      committed = -1;
      if (index === -2) return 'unmounted';
      if (index === -1) {
        if (stopped()) return 'stopped';
        continue;
      }
      counters[Counter.RING_REQUESTS]! += 1;
      const header = headers[index]!;
      sink.header = header;
      sink.payload = payloads[index]!;
      sink.replied = false;
      // ringNext laid the request out in `input` (length 0: not as the protocol says).
      const length = input.readUInt32LE(InHeader.LEN);
      if (length >= Size.IN_HEADER && server.handle(length)) return 'destroyed';
      // Every entry goes back to the kernel with an answer, or it would hold its request forever:
      // one not laid out as the protocol says, or left unanswered, gets ENOSYS (the unique stays
      // where the in header had it).
      if (!sink.replied) {
        header.writeUInt32LE(Size.OUT_HEADER, UringReqHeader.IN_OUT);
        header.writeInt32LE(-ENOSYS, UringReqHeader.IN_OUT + 4);
        header.writeUInt32LE(0, UringReqHeader.RING_ENT_IN_OUT + RingEntInOut.PAYLOAD_SZ);
      }
      committed = index;
    }
  } finally {
    uring.ringClose(ring);
  }
}
