/**
 * A least-recently-used cache of decoded pclusters, bounded by the bytes it holds (not by entries),
 * so sequential reads decode each pcluster once and a burst of huge pclusters cannot grow memory.
 * Recency is a doubly linked list (a Map alone, deleting from its front, degrades as V8 leaves
 * holes behind that every iteration from the front must skip).
 *
 * Keys are numbers (where the pcluster is) and each entry also holds a number for how it was
 * decoded (`shape`): a lookup hits only when both match. Numbers, not strings: a string key built
 * per read was most of what a cold 4 KiB random read allocated, and a fresh daemon's young
 * generation collected it every few hundred reads.
 */
interface Entry {
  key: number;
  shape: number;
  value: Buffer;
  older: Entry | null;
  newer: Entry | null;
}

export class ByteBoundedLru {
  private readonly entries = new Map<number, Entry>();
  private oldest: Entry | null = null;
  private newest: Entry | null = null;
  private held = 0;
  hits = 0;
  misses = 0;

  constructor(readonly maxBytes: number) {}

  get bytes(): number {
    return this.held;
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: number, shape: number): Buffer | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined || entry.shape !== shape) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    if (entry !== this.newest) {
      this.unlink(entry);
      this.append(entry);
    }
    return entry.value;
  }

  /**
   * Stores `value` unless it alone exceeds the budget (replacing what `key` held, whatever its
   * shape); evicts the oldest entries to make room.
   */
  set(key: number, shape: number, value: Buffer): void {
    const old = this.entries.get(key);
    if (old !== undefined) this.remove(old);
    if (value.length > this.maxBytes) return;
    while (this.oldest !== null && this.held + value.length > this.maxBytes) this.remove(this.oldest);
    const entry: Entry = { key, shape, value, older: null, newer: null };
    this.entries.set(key, entry);
    this.append(entry);
    this.held += value.length;
  }

  /** Drops the entry of `key` if its value lives in `memory` (which its owner is about to reuse). */
  dropIn(key: number, memory: ArrayBufferLike): void {
    const entry = this.entries.get(key);
    if (entry !== undefined && entry.value.buffer === memory) this.remove(entry);
  }

  clear(): void {
    this.entries.clear();
    this.oldest = null;
    this.newest = null;
    this.held = 0;
  }

  private remove(entry: Entry): void {
    this.unlink(entry);
    this.entries.delete(entry.key);
    this.held -= entry.value.length;
  }

  private unlink(entry: Entry): void {
    if (entry.older) entry.older.newer = entry.newer;
    else this.oldest = entry.newer;
    if (entry.newer) entry.newer.older = entry.older;
    else this.newest = entry.older;
    entry.older = null;
    entry.newer = null;
  }

  private append(entry: Entry): void {
    entry.older = this.newest;
    if (this.newest) this.newest.newer = entry;
    else this.oldest = entry;
    this.newest = entry;
  }
}
