import type { Attr, DirEntry, Entry, Filesystem, OpenResult, StatFs } from '../filesystem.js';
import { Errno, FsError } from '../filesystem.js';

/**
 * Serving a backend that keeps per-instance state (the passthrough: paths of looked-up ids, open
 * descriptors, directory listings) from several threads, each with its own instance. The kernel
 * hands any request to any thread, so a GETATTR may reach a thread that never saw the LOOKUP, a
 * READ one that never saw the OPEN. This wrapper makes every thread's backend able to answer:
 *
 * - every LOOKUP records (parent, name) of the id it returned in a shared node table; a thread
 *   asked about an id its own backend does not know replays the lookups from the nearest id it
 *   knows (ESTALE if the chain is gone or now names another inode);
 * - every OPEN/OPENDIR takes a slot in a shared handle table and the FUSE handle is the slot (with
 *   a generation); a thread asked to READ/READDIR a slot it did not open opens its own backend
 *   handle the same way and keeps it until the slot is released (noticed at its next sweep).
 *
 * Node records are never removed (a FORGET only drops the receiving thread's own instance state,
 * which a later request re-creates by replay): memory grows with the inodes ever looked up.
 * Backends whose ids and handles mean the same in every instance (EROFS) need none of this.
 */

const ESTALE = 116;
const EMFILE = 24;
const TWO_32 = 2 ** 32;

/** A spin lock in slot 0 of an Int32Array (Atomics.wait when contended). */
function lock(ints: Int32Array): void {
  while (Atomics.compareExchange(ints, 0, 0, 1) !== 0) Atomics.wait(ints, 0, 1, 1);
}

function unlock(ints: Int32Array): void {
  Atomics.store(ints, 0, 0);
  Atomics.notify(ints, 0, 1);
}

function hash(id: number, slots: number): number {
  const low = id >>> 0;
  const high = Math.floor(id / TWO_32) | 0;
  return (Math.imul(low ^ Math.imul(high, 0x85eb_ca6b), 0x9e37_79b1) >>> 0) % slots;
}

/** Node table: header [lock, arena bytes used]; slots of [used, id lo, id hi, parent lo, parent hi, name offset, name length]. */
const NODE_SLOT = 7;
const NODE_HEADER = 2;
export const NODE_SLOTS = 1 << 20;
export const NAME_ARENA_BYTES = 64 << 20;

/** Handle table: header [lock, next hint]; slots of [generation, state, id lo, id hi, flags, kind]. */
const HANDLE_SLOT = 6;
const HANDLE_HEADER = 2;
export const HANDLE_SLOTS = 1 << 16;
const FREE = 0;
const OPEN = 1;
const FILE = 0;
const DIR = 1;
/** FUSE handle = generation · 2^16 + slot. */
const GENERATION_UNIT = HANDLE_SLOTS;
const MAX_GENERATION = 2 ** 30;
/** Requests between sweeps for local handles whose slot was released by another thread. */
const SWEEP_EVERY = 1024;

export interface SharedStateBuffers {
  nodes: SharedArrayBuffer;
  names: SharedArrayBuffer;
  handles: SharedArrayBuffer;
}

export function createSharedStateBuffers(): SharedStateBuffers {
  return {
    nodes: new SharedArrayBuffer((NODE_HEADER + NODE_SLOTS * NODE_SLOT) * 4),
    names: new SharedArrayBuffer(NAME_ARENA_BYTES),
    handles: new SharedArrayBuffer((HANDLE_HEADER + HANDLE_SLOTS * HANDLE_SLOT) * 4),
  };
}

class NodeTable {
  private readonly ints: Int32Array;
  private readonly names: Uint8Array;
  private full = false;

  constructor(buffers: SharedStateBuffers) {
    this.ints = new Int32Array(buffers.nodes);
    this.names = new Uint8Array(buffers.names);
  }

  private find(id: number): number {
    const low = id >>> 0;
    const high = Math.floor(id / TWO_32) | 0;
    let slot = hash(id, NODE_SLOTS);
    for (let probes = 0; probes < NODE_SLOTS; probes++, slot = (slot + 1) % NODE_SLOTS) {
      const base = NODE_HEADER + slot * NODE_SLOT;
      if (this.ints[base] === 0) return -1 - slot;
      if (this.ints[base + 1] === (low | 0) && this.ints[base + 2] === high) return slot;
    }
    return -1 - NODE_SLOTS;
  }

  /** Records how `id` was reached, unless it already is. */
  record(id: number, parent: number, name: Buffer): void {
    lock(this.ints);
    try {
      const found = this.find(id);
      if (found >= 0) return;
      const slot = -1 - found;
      const used = this.ints[1]!;
      if (slot >= NODE_SLOTS || used + name.length > this.names.length) {
        if (!this.full) {
          this.full = true;
          process.stderr.write(
            'fusebench: devfuse: shared node table full; other threads may answer ESTALE\n',
          );
        }
        return;
      }
      this.names.set(name, used);
      this.ints[1] = used + name.length;
      const base = NODE_HEADER + slot * NODE_SLOT;
      this.ints[base + 1] = id >>> 0;
      this.ints[base + 2] = Math.floor(id / TWO_32) | 0;
      this.ints[base + 3] = parent >>> 0;
      this.ints[base + 4] = Math.floor(parent / TWO_32) | 0;
      this.ints[base + 5] = used;
      this.ints[base + 6] = name.length;
      Atomics.store(this.ints, base, 1);
    } finally {
      unlock(this.ints);
    }
  }

  /** How `id` was first reached, or null if no thread recorded it. */
  get(id: number): { parent: number; name: Buffer } | null {
    lock(this.ints);
    try {
      const slot = this.find(id);
      if (slot < 0) return null;
      const base = NODE_HEADER + slot * NODE_SLOT;
      const parent = (this.ints[base + 3]! >>> 0) + (this.ints[base + 4]! >>> 0) * TWO_32;
      const offset = this.ints[base + 5]!;
      return { parent, name: Buffer.from(this.names.slice(offset, offset + this.ints[base + 6]!)) };
    } finally {
      unlock(this.ints);
    }
  }
}

interface HandleSlot {
  generation: number;
  open: boolean;
  id: number;
  flags: number;
}

class HandleTable {
  private readonly ints: Int32Array;

  constructor(buffers: SharedStateBuffers) {
    this.ints = new Int32Array(buffers.handles);
  }

  /** A new FUSE handle for an open of `id`; EMFILE when every slot is taken. */
  allocate(id: number, flags: number, kind: number): number {
    lock(this.ints);
    try {
      const hint = this.ints[1]!;
      for (let probe = 0; probe < HANDLE_SLOTS; probe++) {
        const slot = (hint + probe) % HANDLE_SLOTS;
        const base = HANDLE_HEADER + slot * HANDLE_SLOT;
        if (this.ints[base + 1] !== FREE) continue;
        const generation = (this.ints[base]! + 1) % MAX_GENERATION;
        this.ints[base] = generation;
        this.ints[base + 1] = OPEN;
        this.ints[base + 2] = id >>> 0;
        this.ints[base + 3] = Math.floor(id / TWO_32) | 0;
        this.ints[base + 4] = flags | 0;
        this.ints[base + 5] = kind;
        this.ints[1] = (slot + 1) % HANDLE_SLOTS;
        return generation * GENERATION_UNIT + slot;
      }
      throw new FsError(EMFILE, 'devfuse: shared handle table full');
    } finally {
      unlock(this.ints);
    }
  }

  slot(handle: number): HandleSlot | null {
    const slot = handle % GENERATION_UNIT;
    const base = HANDLE_HEADER + slot * HANDLE_SLOT;
    const generation = Atomics.load(this.ints, base);
    if (generation !== Math.floor(handle / GENERATION_UNIT)) return null;
    return {
      generation,
      open: Atomics.load(this.ints, base + 1) === OPEN,
      id: (this.ints[base + 2]! >>> 0) + (this.ints[base + 3]! >>> 0) * TWO_32,
      flags: this.ints[base + 4]!,
    };
  }

  /** Whether `handle` still names an open slot (not released, not reused). */
  isOpen(handle: number): boolean {
    const slot = this.slot(handle);
    return slot?.open === true;
  }

  free(handle: number): void {
    lock(this.ints);
    try {
      const slot = handle % GENERATION_UNIT;
      const base = HANDLE_HEADER + slot * HANDLE_SLOT;
      if (this.ints[base] === Math.floor(handle / GENERATION_UNIT)) this.ints[base + 1] = FREE;
    } finally {
      unlock(this.ints);
    }
  }
}

/** This thread's backend handle for a shared one. */
interface LocalHandle {
  id: number;
  fh: number;
  kind: number;
}

export class SharedStateFilesystem implements Filesystem {
  readonly rootId: number;
  private readonly nodes: NodeTable;
  private readonly handles: HandleTable;
  /** Lookups this thread's backend holds per id (what its own forget must give back). */
  private readonly known = new Map<number, number>();
  private readonly local = new Map<number, LocalHandle>();
  private calls = 0;

  constructor(
    private readonly backend: Filesystem,
    buffers: SharedStateBuffers,
  ) {
    this.rootId = backend.rootId;
    this.nodes = new NodeTable(buffers);
    this.handles = new HandleTable(buffers);
  }

  /** Makes sure this thread's backend knows `id`, replaying the lookups that reached it. */
  private ensure(id: number): void {
    if (++this.calls % SWEEP_EVERY === 0) this.sweep();
    if (id === this.rootId || this.known.has(id)) return;
    const chain: { id: number; parent: number; name: Buffer }[] = [];
    let current = id;
    while (current !== this.rootId && !this.known.has(current)) {
      const record = this.nodes.get(current);
      if (!record || chain.length > 4096) throw new FsError(ESTALE, `devfuse: node ${id} is not known`);
      chain.push({ id: current, ...record });
      current = record.parent;
    }
    for (let index = chain.length - 1; index >= 0; index--) {
      const step = chain[index]!;
      const entry = this.backend.lookup(step.parent, step.name);
      this.known.set(entry.id, (this.known.get(entry.id) ?? 0) + 1);
      if (entry.id !== step.id) throw new FsError(ESTALE, `devfuse: node ${step.id} was replaced`);
    }
  }

  /** Releases local handles whose shared slot another thread released. */
  private sweep(): void {
    for (const [handle, local] of this.local) {
      if (this.handles.isOpen(handle)) continue;
      this.local.delete(handle);
      this.releaseLocal(local);
    }
  }

  private releaseLocal(local: LocalHandle): void {
    try {
      if (local.kind === DIR) this.backend.releasedir(local.id, local.fh);
      else this.backend.release(local.id, local.fh);
    } catch {
      // Releasing a handle nobody uses any more: nothing to report to.
    }
  }

  /** This thread's backend handle for FUSE handle `handle`, opened here if it was opened elsewhere. */
  private localHandle(id: number, handle: number, kind: number): number {
    const known = this.local.get(handle);
    if (known) return known.fh;
    const slot = this.handles.slot(handle);
    if (!slot?.open || slot.id !== id)
      throw new FsError(Errno.EBADF, `devfuse: handle ${handle} is not open`);
    this.ensure(id);
    const fh = kind === DIR ? this.backend.opendir(id) : this.backend.open(id, slot.flags).fh;
    this.local.set(handle, { id, fh, kind });
    return fh;
  }

  lookup(parent: number, name: Buffer): Entry {
    this.ensure(parent);
    return this.remember(parent, name, this.backend.lookup(parent, name));
  }

  lookupListed(parent: number, listed: DirEntry): Entry {
    this.ensure(parent);
    return this.remember(parent, listed.name, this.backend.lookupListed(parent, listed));
  }

  /** A lookup this thread's backend now holds, and how any thread can replay it. */
  private remember(parent: number, name: Buffer, entry: Entry): Entry {
    this.known.set(entry.id, (this.known.get(entry.id) ?? 0) + 1);
    this.nodes.record(entry.id, parent, name);
    return entry;
  }

  forget(id: number, count: number): void {
    const held = this.known.get(id);
    if (held === undefined) return;
    const given = Math.min(held, count);
    this.backend.forget(id, given);
    if (held - given <= 0) this.known.delete(id);
    else this.known.set(id, held - given);
  }

  getattr(id: number): Attr {
    this.ensure(id);
    return this.backend.getattr(id);
  }

  readlink(id: number): Buffer {
    this.ensure(id);
    return this.backend.readlink(id);
  }

  open(id: number, flags: number): OpenResult {
    this.ensure(id);
    const result = this.backend.open(id, flags);
    let handle: number;
    try {
      handle = this.handles.allocate(id, flags, FILE);
    } catch (error) {
      this.backend.release(id, result.fh);
      throw error;
    }
    this.local.set(handle, { id, fh: result.fh, kind: FILE });
    return { ...result, fh: handle };
  }

  read(id: number, fh: number, offset: number, size: number, target: Buffer, at: number): number {
    return this.backend.read(id, this.localHandle(id, fh, FILE), offset, size, target, at);
  }

  release(_id: number, fh: number): void {
    this.handles.free(fh);
    const local = this.local.get(fh);
    if (!local) return;
    this.local.delete(fh);
    this.releaseLocal(local);
  }

  opendir(id: number): number {
    this.ensure(id);
    const fh = this.backend.opendir(id);
    let handle: number;
    try {
      handle = this.handles.allocate(id, 0, DIR);
    } catch (error) {
      this.backend.releasedir(id, fh);
      throw error;
    }
    this.local.set(handle, { id, fh, kind: DIR });
    return handle;
  }

  readdir(id: number, fh: number, offset: number, limit: number): DirEntry[] {
    return this.backend.readdir(id, this.localHandle(id, fh, DIR), offset, limit);
  }

  releasedir(id: number, fh: number): void {
    this.release(id, fh);
  }

  statfs(): StatFs {
    return this.backend.statfs();
  }

  getxattr(id: number, name: Buffer): Buffer {
    this.ensure(id);
    return this.backend.getxattr(id, name);
  }

  listxattr(id: number): Buffer[] {
    this.ensure(id);
    return this.backend.listxattr(id);
  }

  destroy(): void {
    for (const local of this.local.values()) this.releaseLocal(local);
    this.local.clear();
    this.backend.destroy();
  }
}
