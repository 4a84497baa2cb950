import { constants as fsConstants, writeSync } from 'node:fs';
import { constants } from 'node:os';
import { syscallError, syscalls } from '../../lib/syscalls.js';
import { namesVisibleTo } from '../caller.js';
import {
  type Attr,
  type DirEntry,
  type Entry,
  Errno,
  errnoOf,
  type Filesystem,
  FsError,
  type Timespec,
} from '../filesystem.js';
import {
  cString,
  direntPlusSize,
  NodeIds,
  packDirent,
  readInitIn,
  readU64,
  splitTimeout,
  writeAttrOut,
  writeEntryOut,
  writeInitOut,
  writeNegativeEntryOut,
  writeOpenOut,
  writeStatfsOut,
} from '../protocol/codec.js';
import {
  DIRENTPLUS_NAME_OFFSET,
  FILESYSTEM_MAX_STACK_DEPTH,
  FOPEN_CACHE_DIR,
  FOPEN_DIRECT_IO,
  FOPEN_KEEP_CACHE,
  FOPEN_PASSTHROUGH,
  FUSE_KERNEL_MINOR_VERSION,
  FUSE_KERNEL_VERSION,
  FUSE_MAX_MAX_PAGES,
  FUSE_MIN_SUPPORTED_MINOR,
  hasInitFlag,
  InHeader,
  type InitFlagName,
  type InitFlags,
  initFlagNames,
  initFlagsHex,
  OPCODE_SLOTS,
  Opcode,
  PAGE_SIZE,
  Size,
  WRITE_OPCODES,
  withInitFlag,
} from '../protocol/kernel.js';
import type { Fact, TransportOptions } from '../transport.js';
import { BackingTable, Counter, counterRow, Negotiated, type SharedBuffers } from './devfuse-shared.js';

/**
 * One devfuse serving thread: reads requests from /dev/fuse with blocking read(2), answers each
 * from its own backend instance and writes the reply with write(2)/writev(2). Several of these
 * may read the same descriptor; the kernel hands each request to exactly one of them.
 */

export interface ServerConfig {
  /** The /dev/fuse descriptor this thread reads and answers on: the mount's own, or its clone. */
  fd: number;
  options: TransportOptions;
  /** This thread's index (its row in the shared counters). */
  worker: number;
  buffers: SharedBuffers;
  /** Size of the read buffer: max_write plus a page for the request headers. */
  bufferSize: number;
  /** max_write answered in INIT (bufferSize - a page). */
  maxWrite: number;
  /** Offer FUSE_OVER_IO_URING in INIT (the devfuse-uring transport). */
  ioUring: boolean;
}

/**
 * Where a serving thread's replies go: write(2) on /dev/fuse, or the buffers of the ring entry
 * that carried the request. Each returns 0, or the errno write(2) failed with (ENOENT: the kernel
 * no longer wants the reply).
 */
export interface ReplySink {
  /** `length` bytes of `message`: a fuse_out_header and the reply's arguments after it. */
  send(message: Buffer, length: number): number;
  /** A fuse_out_header and one argument (read data, a link target, an xattr value). */
  sendData(header: Buffer, data: Buffer): number;
}

/**
 * Replies written to /dev/fuse; one write per reply, as the kernel requires. Through the addon's
 * write(2)/writev(2), not fs.writeSync: Node's argument checks, request object and error object
 * cost 0.6 µs a call here, and a withdrawn request's ENOENT needs no stack trace.
 */
export class DevFuseSink implements ReplySink {
  constructor(private readonly fd: number) {}

  send(message: Buffer, length: number): number {
    const written = syscalls.fuseWrite(this.fd, message, length);
    return written < 0 ? -written : 0;
  }

  sendData(header: Buffer, data: Buffer): number {
    const written = syscalls.fuseWritev(this.fd, header, data);
    return written < 0 ? -written : 0;
  }
}

/** Why a serving loop ended. */
export type EndReason = 'unmounted' | 'aborted' | 'destroyed' | 'stopped';

/** What the thread that answered INIT reports to the main thread. */
export type InitReport = { ok: true; facts: Record<string, Fact> } | { ok: false; message: string };

/** EPROTO answers a bad INIT; the others are what read(2) and write(2) of /dev/fuse meet. */
const { EPROTO, EINTR, EAGAIN, ENOENT, ENODEV, ECONNABORTED } = constants.errno;
const { W_OK } = fsConstants;
/** A FUSE file handle has bit 52 set when its open holds a reference in the backing table. */
const BACKING_HOLDER = 2 ** 52;
const MAX_LOGGED_BUGS = 5;
const MAX_BACKGROUND = 16;
const CONGESTION_THRESHOLD = 12;
/** Readdir entries asked of the backend per READDIR: a dirent takes at least 32 bytes. */
const MIN_DIRENT = 32;

/**
 * Always READDIRPLUS (not READDIRPLUS_AUTO): every listing carries the entries' attributes, so a
 * walk costs no LOOKUP per entry; attributes come from the same inode cache a LOOKUP would read.
 */
const wanted: InitFlagName[] = [
  'ASYNC_READ',
  'BIG_WRITES',
  'PARALLEL_DIROPS',
  'MAX_PAGES',
  'DO_READDIRPLUS',
  'INIT_EXT',
];

function isDotName(name: Buffer): boolean {
  return name[0] === 0x2e && (name.length === 1 || (name.length === 2 && name[1] === 0x2e));
}

/** Leftover entries of the last READDIR, kept for the next one that resumes where it stopped. */
interface DirLeftover {
  id: number;
  fh: number;
  offset: number;
  entries: ReturnType<Filesystem['readdir']>;
}

export class FuseServer {
  /** The request being served: a fuse_in_header and its arguments, as read(2) of /dev/fuse gives them. */
  readonly input: Buffer;
  private readonly output: Buffer;
  private readonly header = Buffer.alloc(Size.OUT_HEADER);
  private readonly nodeIds: NodeIds;
  private readonly counters: Float64Array;
  private readonly negotiated: Int32Array;
  private readonly backing: BackingTable;
  private readonly entryValid: Timespec;
  private readonly attrValid: Timespec;
  private readonly negativeValid: Timespec;
  private readonly fd: number;
  private loggedBugs = 0;
  private loggedBackingFailure = false;
  private leftover: DirLeftover | null = null;
  private requestLength = 0;
  private destroyed = false;

  constructor(
    private readonly backend: Filesystem,
    private readonly config: ServerConfig,
    private readonly onInit: (report: InitReport) => void,
    private readonly sink: ReplySink = new DevFuseSink(config.fd),
  ) {
    this.fd = config.fd;
    this.input = Buffer.allocUnsafe(config.bufferSize);
    // Room for the largest reply: a READ of max_pages pages after its header.
    this.output = Buffer.allocUnsafe(
      Math.max(config.bufferSize, Size.OUT_HEADER + FUSE_MAX_MAX_PAGES * PAGE_SIZE),
    );
    this.nodeIds = new NodeIds(backend.rootId);
    this.counters = counterRow(config.buffers, config.worker);
    this.negotiated = new Int32Array(config.buffers.negotiated);
    this.backing = new BackingTable(config.buffers.backing);
    this.entryValid = splitTimeout(config.options.entryTimeout);
    this.attrValid = splitTimeout(config.options.attrTimeout);
    this.negativeValid = splitTimeout(config.options.negativeTimeout);
  }

  /** Serves on a blocking descriptor until the kernel ends the connection; returns why. */
  run(): EndReason {
    for (;;) {
      const end = this.serveWaiting(Number.POSITIVE_INFINITY);
      if (end !== null) return end;
    }
  }

  /**
   * Serves the requests waiting, at most `budget` of them: returns null when read(2) finds none
   * (EAGAIN, on a non-blocking descriptor), a signal interrupted it (EINTR) or the budget is spent,
   * or why serving ended.
   */
  serveWaiting(budget: number): EndReason | null {
    for (let served = 0; served < budget; served++) {
      // The addon's read(2), not fs.readSync: see DevFuseSink.
      const length = syscalls.fuseRead(this.fd, this.input);
      if (length < 0) {
        const errno = -length;
        // EAGAIN: nothing waits (non-blocking); EINTR: a signal, which the caller may need to answer.
        if (errno === EAGAIN || errno === EINTR) return null;
        // The request was withdrawn while being copied. Read again.
        if (errno === ENOENT) continue;
        if (errno === ENODEV) return 'unmounted';
        if (errno === ECONNABORTED) return 'aborted';
        throw syscallError('read', errno, '/dev/fuse');
      }
      if (length >= Size.IN_HEADER && this.handle(length)) return 'destroyed';
      if (Atomics.load(this.negotiated, Negotiated.STOP) === 1) return 'stopped';
    }
    return null;
  }

  private count(slot: number): void {
    this.counters[slot]! += 1;
  }

  /** Answers one request of `length` bytes in the input buffer; true after DESTROY. */
  handle(length: number): boolean {
    this.dispatch(length);
    return this.destroyed;
  }

  private dispatch(length: number): void {
    const input = this.input;
    const opcode = input.readUInt32LE(InHeader.OPCODE);
    const slot = opcode < OPCODE_SLOTS ? opcode : OPCODE_SLOTS - 1;
    this.count(Counter.REQUESTS + slot);
    this.requestLength = length;
    // The reply's unique is the request's, bit for bit (including FUSE_UNIQUE_RESEND); word by
    // word, as a partial Buffer copy allocates a view per request.
    this.output.writeUInt32LE(input.readUInt32LE(InHeader.UNIQUE), 8);
    this.output.writeUInt32LE(input.readUInt32LE(InHeader.UNIQUE + 4), 12);
    try {
      switch (opcode) {
        case Opcode.INIT:
          this.init();
          return;
        case Opcode.LOOKUP:
          this.lookup();
          return;
        case Opcode.FORGET:
          this.backend.forget(this.nodeId(), readU64(input, Size.IN_HEADER));
          return;
        case Opcode.BATCH_FORGET:
          this.batchForget();
          return;
        case Opcode.GETATTR:
          this.getattr();
          return;
        case Opcode.READLINK:
          this.replyData(this.backend.readlink(this.nodeId()));
          return;
        case Opcode.OPEN:
          this.open();
          return;
        case Opcode.READ:
          this.read();
          return;
        case Opcode.RELEASE:
          this.release();
          return;
        case Opcode.OPENDIR:
          this.opendir();
          return;
        case Opcode.READDIR:
          this.readdir(false);
          return;
        case Opcode.READDIRPLUS:
          this.readdir(true);
          return;
        case Opcode.STATX:
          // The kernel asks STATX only for more than GETATTR carries, i.e. the birth time, which
          // EROFS does not keep. An answer without it leaves btime "invalid" and every later
          // statx(2) asking for it (Node's fs.stat does) a round trip: 748 STATX for a 751-path
          // walk, measured. ENOSYS, as erofsfuse answers, makes the kernel stop asking and serve
          // stat from its attribute cache.
          this.replyError(Errno.ENOSYS, slot);
          return;
        case Opcode.RELEASEDIR:
          this.backend.releasedir(this.nodeId(), readU64(input, Size.IN_HEADER));
          this.reply(0);
          return;
        case Opcode.STATFS:
          writeStatfsOut(this.output, Size.OUT_HEADER, this.backend.statfs());
          this.reply(Size.KSTATFS);
          return;
        case Opcode.GETXATTR:
          this.getxattr();
          return;
        case Opcode.LISTXATTR:
          this.listxattr();
          return;
        case Opcode.ACCESS:
          this.access();
          return;
        case Opcode.FLUSH:
          // Nothing to flush on a read-only filesystem. ENOSYS (as libfuse answers for erofsfuse)
          // makes the kernel stop sending FLUSH: every close after the first costs no round trip.
          this.replyError(Errno.ENOSYS, slot);
          return;
        case Opcode.INTERRUPT:
          // Every request is answered synchronously and in full: by the time an INTERRUPT is read,
          // its request has been answered or is being answered. No reply (EAGAIN would requeue it).
          return;
        case Opcode.DESTROY:
          this.destroyed = true;
          this.reply(0);
          return;
        default:
          this.replyError(WRITE_OPCODES.has(opcode) ? Errno.EROFS : Errno.ENOSYS, slot);
          return;
      }
    } catch (error) {
      if (!(error instanceof FsError)) this.reportBug(opcode, error);
      this.replyError(errnoOf(error), slot);
      return;
    }
  }

  private reportBug(opcode: number, error: unknown): void {
    this.count(Counter.BACKEND_BUGS);
    if (this.loggedBugs >= MAX_LOGGED_BUGS) return;
    this.loggedBugs++;
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    writeSync(2, `fusebench: devfuse: opcode ${opcode} failed: ${text}\n`);
  }

  private nodeId(): number {
    return this.nodeIds.read(this.input, InHeader.NODEID);
  }

  /**
   * Writes the reply header plus `bytes` already placed after it in the output buffer; false when
   * the kernel no longer wanted it (whatever the reply handed over must then be taken back).
   */
  private reply(bytes: number): boolean {
    const total = Size.OUT_HEADER + bytes;
    this.output.writeUInt32LE(total, 0);
    this.output.writeInt32LE(0, 4);
    return this.sent(this.sink.send(this.output, total));
  }

  private replyError(errno: number, slot: number): void {
    this.count(Counter.ERRORS + slot);
    this.output.writeUInt32LE(Size.OUT_HEADER, 0);
    this.output.writeInt32LE(-errno, 4);
    this.sent(this.sink.send(this.output, Size.OUT_HEADER));
  }

  /** A reply whose payload is `data` (read data, link targets, xattr values), without copying it. */
  private replyData(data: Buffer): void {
    const header = this.header;
    header.writeUInt32LE(Size.OUT_HEADER + data.length, 0);
    header.writeInt32LE(0, 4);
    header.writeUInt32LE(this.output.readUInt32LE(8), 8);
    header.writeUInt32LE(this.output.readUInt32LE(12), 12);
    this.sent(this.sink.sendData(header, data));
  }

  /**
   * Whether a reply was taken, from the sink's errno. ENOENT: the kernel no longer waits for this
   * reply (interrupted, or the connection is going away); ENODEV: it is gone, which the next
   * read(2) reports.
   */
  private sent(errno: number): boolean {
    if (errno === 0) return true;
    if (errno === ENOENT || errno === ENODEV || errno === ECONNABORTED) {
      this.count(Counter.STALE_REPLIES);
      return false;
    }
    throw syscallError('write', errno, '/dev/fuse');
  }

  private init(): void {
    const payload = this.requestLength - Size.IN_HEADER;
    const init = readInitIn(this.input, Size.IN_HEADER, payload);
    const options = this.config.options;
    if (init.major !== FUSE_KERNEL_VERSION || init.minor < FUSE_MIN_SUPPORTED_MINOR) {
      if (init.major > FUSE_KERNEL_VERSION) {
        // The kernel offers a newer major: answer with ours alone, it retries INIT with it.
        this.output.fill(0, Size.OUT_HEADER, Size.OUT_HEADER + Size.INIT_OUT);
        this.output.writeUInt32LE(FUSE_KERNEL_VERSION, Size.OUT_HEADER);
        this.reply(Size.INIT_OUT);
        return;
      }
      this.replyError(EPROTO, Opcode.INIT);
      this.onInit({
        ok: false,
        message: `kernel FUSE protocol ${init.major}.${init.minor} is older than 7.${FUSE_MIN_SUPPORTED_MINOR}`,
      });
      return;
    }
    const offered: InitFlags = {
      low: init.flags,
      high: hasInitFlag({ low: init.flags, high: 0 }, 'INIT_EXT') ? init.flags2 : 0,
    };
    const want = [...wanted];
    if (options.kernelCache) want.push('CACHE_SYMLINKS');
    if (options.autoCache) want.push('AUTO_INVAL_DATA');
    if (options.kernelPassthrough) want.push('PASSTHROUGH');
    if (this.config.ioUring) want.push('OVER_IO_URING');
    let accepted: InitFlags = { low: 0, high: 0 };
    for (const name of want) if (hasInitFlag(offered, name)) accepted = withInitFlag(accepted, name);
    const passthrough = hasInitFlag(accepted, 'PASSTHROUGH');
    const minor = Math.min(init.minor, FUSE_KERNEL_MINOR_VERSION);
    const maxPages = FUSE_MAX_MAX_PAGES;
    const maxStackDepth = passthrough ? 1 : 0;
    Atomics.store(this.negotiated, Negotiated.MINOR, minor);
    Atomics.store(this.negotiated, Negotiated.PASSTHROUGH, passthrough ? 1 : 0);
    Atomics.store(this.negotiated, Negotiated.INIT_DONE, 1);
    writeInitOut(this.output, Size.OUT_HEADER, {
      major: FUSE_KERNEL_VERSION,
      minor,
      maxReadahead: init.maxReadahead,
      flags: accepted.low,
      maxBackground: MAX_BACKGROUND,
      congestionThreshold: CONGESTION_THRESHOLD,
      maxWrite: this.config.maxWrite,
      timeGran: 1,
      maxPages,
      flags2: accepted.high,
      maxStackDepth: Math.min(maxStackDepth, FILESYSTEM_MAX_STACK_DEPTH),
    });
    this.reply(Size.INIT_OUT);
    // Ring queues may register only once the kernel has processed this reply.
    Atomics.store(this.negotiated, Negotiated.IO_URING, hasInitFlag(accepted, 'OVER_IO_URING') ? 1 : 2);
    Atomics.notify(this.negotiated, Negotiated.IO_URING);
    this.onInit({
      ok: true,
      facts: {
        kernelProtocol: `${init.major}.${init.minor}`,
        protocol: `${FUSE_KERNEL_VERSION}.${minor}`,
        initFlagsOffered: initFlagNames(offered).join(','),
        initFlagsOfferedHex: initFlagsHex(offered),
        initFlags: initFlagNames(accepted).join(','),
        initFlagsHex: initFlagsHex(accepted),
        kernelMaxReadahead: init.maxReadahead,
        maxReadahead: init.maxReadahead,
        maxWrite: this.config.maxWrite,
        maxPages,
        maxBackground: MAX_BACKGROUND,
        congestionThreshold: CONGESTION_THRESHOLD,
        timeGran: 1,
        passthrough,
        maxStackDepth,
        readdirplus: 'always (FUSE_DO_READDIRPLUS without READDIRPLUS_AUTO)',
      },
    });
  }

  private lookup(): void {
    const name = cString(this.input, Size.IN_HEADER, this.requestLength);
    let entry: Entry;
    try {
      entry = this.backend.lookup(this.nodeId(), name);
    } catch (error) {
      // A missing name becomes a negative entry the kernel keeps for the negative timeout; with
      // timeout 0 the plain ENOENT says the same without a dentry to cache.
      if (!(error instanceof FsError) || error.errno !== Errno.ENOENT || !this.negativeCached) throw error;
      writeNegativeEntryOut(this.output, Size.OUT_HEADER, this.negativeValid);
      this.reply(Size.ENTRY_OUT);
      return;
    }
    this.writeEntry(entry.id, entry.attr);
  }

  private get negativeCached(): boolean {
    return this.negativeValid.sec > 0 || this.negativeValid.nsec > 0;
  }

  private writeEntry(id: number, attr: Attr): void {
    writeEntryOut(this.output, Size.OUT_HEADER, this.nodeIds, id, attr, this.entryValid, this.attrValid);
    // An entry the kernel did not take is a lookup it will never FORGET.
    if (!this.reply(Size.ENTRY_OUT)) this.backend.forget(id, 1);
  }

  private batchForget(): void {
    const input = this.input;
    const count = input.readUInt32LE(Size.IN_HEADER);
    const first = Size.IN_HEADER + 8;
    const fits = Math.floor((this.requestLength - first) / Size.FORGET_ONE);
    for (let index = 0; index < Math.min(count, fits); index++) {
      const at = first + index * Size.FORGET_ONE;
      try {
        this.backend.forget(this.nodeIds.read(input, at), readU64(input, at + 8));
      } catch (error) {
        if (!(error instanceof FsError)) this.reportBug(Opcode.BATCH_FORGET, error);
      }
    }
  }

  private getattr(): void {
    writeAttrOut(this.output, Size.OUT_HEADER, this.backend.getattr(this.nodeId()), this.attrValid);
    this.reply(Size.ATTR_OUT);
  }

  private open(): void {
    const id = this.nodeId();
    const flags = this.input.readUInt32LE(Size.IN_HEADER);
    const options = this.config.options;
    const result = this.backend.open(id, flags);
    if (!Number.isSafeInteger(result.fh) || result.fh < 0 || result.fh >= BACKING_HOLDER) {
      this.backend.release(id, result.fh);
      throw new FsError(Errno.EIO, `file handle ${result.fh} does not fit 52 bits`);
    }
    let openFlags = 0;
    if (options.directIo) openFlags |= FOPEN_DIRECT_IO;
    else if ((options.kernelCache || options.autoCache) && result.keepCache) openFlags |= FOPEN_KEEP_CACHE;
    let fh = result.fh;
    let backingId = 0;
    if (result.backingFd !== undefined && Atomics.load(this.negotiated, Negotiated.PASSTHROUGH) === 1) {
      backingId = this.registerBacking(id, result.backingFd);
      if (backingId > 0) {
        // The kernel refuses FOPEN_KEEP_CACHE with FOPEN_PASSTHROUGH (no page cache of the FUSE inode).
        openFlags = (openFlags & ~FOPEN_KEEP_CACHE) | FOPEN_PASSTHROUGH;
        fh += BACKING_HOLDER;
        this.count(Counter.PASSTHROUGH_OPENS);
      } else {
        backingId = 0;
        this.count(Counter.PASSTHROUGH_FALLBACKS);
      }
    }
    writeOpenOut(this.output, Size.OUT_HEADER, fh, openFlags, backingId);
    // An open the kernel did not take is a file it will never RELEASE.
    if (!this.reply(Size.OPEN_OUT)) this.releaseFile(id, fh);
  }

  /** The inode's backing id (registered on its first open), or -1 to serve this open by READ. */
  private registerBacking(id: number, backingFd: number): number {
    try {
      return this.backing.acquire(id, () => syscalls.fuseBackingOpen(this.fd, backingFd));
    } catch (error) {
      if (!this.loggedBackingFailure) {
        this.loggedBackingFailure = true;
        const message = error instanceof Error ? error.message : String(error);
        writeSync(2, `fusebench: devfuse: kernel passthrough refused (${message}); serving by READ\n`);
      }
      return -1;
    }
  }

  private read(): void {
    const input = this.input;
    const raw = readU64(input, Size.IN_HEADER);
    const fh = raw >= BACKING_HOLDER ? raw - BACKING_HOLDER : raw;
    const offset = readU64(input, Size.IN_HEADER + 8);
    const size = input.readUInt32LE(Size.IN_HEADER + 16);
    // INIT set max_pages, which bounds every READ the kernel sends; the output buffer holds that.
    if (size > this.output.length - Size.OUT_HEADER) {
      throw new FsError(Errno.EIO, `READ of ${size} bytes is larger than max_pages allows`);
    }
    // The backend reads straight into the reply after its header: one copy, one write(2).
    this.reply(this.backend.read(this.nodeId(), fh, offset, size, this.output, Size.OUT_HEADER));
  }

  private release(): void {
    this.releaseFile(this.nodeId(), readU64(this.input, Size.IN_HEADER));
    this.reply(0);
  }

  /** Releases FUSE handle `raw` of `id`: the backend's handle and any backing id reference. */
  private releaseFile(id: number, raw: number): void {
    const holdsBacking = raw >= BACKING_HOLDER;
    try {
      this.backend.release(id, holdsBacking ? raw - BACKING_HOLDER : raw);
    } finally {
      if (holdsBacking) {
        this.backing.release(id, (backingId) => {
          try {
            syscalls.fuseBackingClose(this.fd, backingId);
          } catch {
            // The connection is going away; the kernel drops its backing files with it.
          }
        });
      }
    }
  }

  private opendir(): void {
    const id = this.nodeId();
    const fh = this.backend.opendir(id);
    const openFlags = this.config.options.kernelCache ? FOPEN_CACHE_DIR | FOPEN_KEEP_CACHE : 0;
    writeOpenOut(this.output, Size.OUT_HEADER, fh, openFlags, 0);
    if (!this.reply(Size.OPEN_OUT)) this.backend.releasedir(id, fh);
  }

  /**
   * READDIR, or READDIRPLUS (`plus`): each entry then carries a fuse_entry_out, which counts as a
   * lookup of that entry (the kernel FORGETs it later). `.` and `..` get node id 0: the kernel
   * links neither, and so takes no reference.
   */
  private readdir(plus: boolean): void {
    const input = this.input;
    const output = this.output;
    const id = this.nodeId();
    const fh = readU64(input, Size.IN_HEADER);
    let offset = readU64(input, Size.IN_HEADER + 8);
    const size = Math.min(input.readUInt32LE(Size.IN_HEADER + 16), output.length - Size.OUT_HEADER);
    const end = Size.OUT_HEADER + size;
    let at: number = Size.OUT_HEADER;
    let entries: ReturnType<Filesystem['readdir']>;
    const leftover = this.leftover;
    this.leftover = null;
    if (leftover && leftover.id === id && leftover.fh === fh && leftover.offset === offset) {
      entries = leftover.entries;
    } else {
      const smallest = plus ? DIRENTPLUS_NAME_OFFSET : MIN_DIRENT;
      entries = this.backend.readdir(id, fh, offset, Math.max(1, Math.floor(size / smallest)));
    }
    const linked: number[] = [];
    for (let index = 0; index < entries.length; index++) {
      const entry = entries[index]!;
      let next: number;
      if (plus) {
        next = at + direntPlusSize(entry.name.length) <= end ? at + Size.ENTRY_OUT : -1;
        if (next >= 0) {
          const child = isDotName(entry.name) ? null : this.lookupForListing(id, entry);
          if (child) {
            writeEntryOut(output, at, this.nodeIds, child.id, child.attr, this.entryValid, this.attrValid);
            linked.push(child.id);
          } else {
            output.fill(0, at, at + Size.ENTRY_OUT);
          }
          next = packDirent(output, next, end, entry.id, entry.offset, entry.type, entry.name);
        }
      } else {
        next = packDirent(output, at, end, entry.id, entry.offset, entry.type, entry.name);
      }
      if (next < 0) {
        if (index === 0) throw new FsError(Errno.EINVAL, 'READDIR buffer too small for one entry');
        this.leftover = { id, fh, offset, entries: entries.slice(index) };
        break;
      }
      at = next;
      offset = entry.offset;
    }
    // Entries the kernel did not take are lookups it will never FORGET.
    if (!this.reply(at - Size.OUT_HEADER)) for (const child of linked) this.backend.forget(child, 1);
  }

  /** An entry of a listing with its attributes, or null when it vanished or cannot be read (node id 0: the kernel skips it). */
  private lookupForListing(parent: number, entry: DirEntry): Entry | null {
    try {
      return this.backend.lookupListed(parent, entry);
    } catch (error) {
      if (!(error instanceof FsError)) this.reportBug(Opcode.READDIRPLUS, error);
      return null;
    }
  }

  private getxattr(): void {
    const size = this.input.readUInt32LE(Size.IN_HEADER);
    const name = cString(this.input, Size.IN_HEADER + 8, this.requestLength);
    this.replySized(this.backend.getxattr(this.nodeId(), name), size);
  }

  private listxattr(): void {
    const size = this.input.readUInt32LE(Size.IN_HEADER);
    const names = namesVisibleTo(
      this.input.readUInt32LE(InHeader.PID),
      this.backend.listxattr(this.nodeId()),
    );
    const list = Buffer.allocUnsafe(names.reduce((sum, name) => sum + name.length + 1, 0));
    let at = 0;
    for (const name of names) {
      name.copy(list, at);
      at += name.length;
      list[at++] = 0;
    }
    this.replySized(list, size);
  }

  /** The xattr reply convention: size 0 asks for the length, a value larger than `size` is ERANGE. */
  private replySized(value: Buffer, size: number): void {
    if (size === 0) {
      this.output.writeUInt32LE(value.length, Size.OUT_HEADER);
      this.output.writeUInt32LE(0, Size.OUT_HEADER + 4);
      this.reply(Size.GETXATTR_OUT);
      return;
    }
    if (value.length > size) throw new FsError(Errno.ERANGE);
    this.replyData(value);
  }

  private access(): void {
    const mask = this.input.readUInt32LE(Size.IN_HEADER);
    if (mask & W_OK) throw new FsError(Errno.EROFS);
    this.backend.getattr(this.nodeId());
    this.reply(0);
  }
}
