import { ErofsCorruptError, ErofsUnsupportedError } from '../erofs/errors.js';
import { ErofsImage, ErofsLookupError, ErofsNotDirectoryError } from '../erofs/image.js';
import { type ErofsInode, isDirectory, S_IFLNK, S_IFMT, S_IFREG } from '../erofs/inode.js';
import { walkRecordOf } from '../erofs/walk.js';
import { createErofsBackend } from '../fuse/backends/erofs.js';
import { type Filesystem, FsError } from '../fuse/filesystem.js';
import { SeededRandom } from '../lib/random.js';

/**
 * What one fuzz case does with an image: open it, walk a bounded part of the tree (inodes,
 * directory entries, lookups, xattrs, symlinks, reads at random places), exercise the paths the
 * mutations aimed at, and drive the FUSE backend's operations. Each operation may fail only with
 * ErofsCorruptError or ErofsUnsupportedError (FsError from the backend); that failure ends the
 * operation, not the case, so one corrupt inode does not hide bugs behind it. Anything else is a
 * bug and ends the case. Work is bounded, so a case that does not end is a hang in the reader.
 */

export interface CaseError {
  name: string;
  message: string;
  stack: string;
  /** The operation that threw, e.g. `read /dir/file @4096+512`. */
  op: string;
}

export interface CaseOutcome {
  /** clean: every operation succeeded; rejected: some failed with typed errors; bug: an untyped error. */
  status: 'clean' | 'rejected' | 'bug';
  opened: boolean;
  ops: number;
  typedErrors: number;
  error?: CaseError;
}

export interface ExploreOptions {
  /** Derives every random choice of the case (read positions, names to look up). */
  seed: string;
  /** Paths the mutations aimed at: resolved and exercised fully. */
  focus?: string[];
  /** Inodes the bounded walk visits at most. */
  maxInodes?: number;
  /** Run the FUSE backend's operations too. */
  backend?: boolean;
}

const MAX_ENTRIES = 4000;
const FIRST_READ = 4096;
const RANDOM_READ_MAX = 64 * 1024;
/** walkRecordOf hashes whole files; only small ones, so a huge sparse file stays a bounded case. */
const WALK_RECORD_MAX_SIZE = 16 * 1024;

class Bug extends Error {
  constructor(
    readonly op: string,
    readonly inner: unknown,
  ) {
    super(op);
  }
}

export function isTypedError(error: unknown): boolean {
  return error instanceof ErofsCorruptError || error instanceof ErofsUnsupportedError;
}

function describeError(op: string, error: unknown): CaseError {
  if (error instanceof Error) {
    return { name: error.name, message: error.message, stack: error.stack ?? '', op };
  }
  return { name: typeof error, message: String(error), stack: '', op };
}

export function exploreImage(path: string, options: ExploreOptions): CaseOutcome {
  const explorer = new Explorer(new SeededRandom(options.seed), options.maxInodes ?? 24);
  try {
    explorer.run(path, options.focus ?? [], options.backend ?? true);
  } catch (error) {
    if (error instanceof Bug) {
      return {
        status: 'bug',
        opened: explorer.opened,
        ops: explorer.ops,
        typedErrors: explorer.typed,
        error: describeError(error.op, error.inner),
      };
    }
    return {
      status: 'bug',
      opened: explorer.opened,
      ops: explorer.ops,
      typedErrors: explorer.typed,
      error: describeError('explore', error),
    };
  }
  return {
    status: explorer.typed > 0 ? 'rejected' : 'clean',
    opened: explorer.opened,
    ops: explorer.ops,
    typedErrors: explorer.typed,
  };
}

class Explorer {
  ops = 0;
  typed = 0;
  opened = false;
  private entries = 0;
  private readonly visited = new Set<number>();

  constructor(
    private readonly random: SeededRandom,
    private readonly maxInodes: number,
  ) {}

  /** Runs `body`; a typed error is counted and turns into undefined, anything else is a Bug. */
  private attempt<T>(
    op: string,
    body: () => T,
    accept: (error: unknown) => boolean = isTypedError,
  ): T | undefined {
    this.ops++;
    try {
      return body();
    } catch (error) {
      if (accept(error)) {
        this.typed++;
        return undefined;
      }
      throw new Bug(op, error);
    }
  }

  run(path: string, focus: string[], backend: boolean): void {
    const image = this.attempt('open', () => ErofsImage.open(path, { cacheBytes: 1 << 20 }));
    if (!image) return;
    this.opened = true;
    try {
      for (const target of focus) this.focus(image, target);
      this.walk(image);
    } finally {
      image.close();
    }
    if (backend) this.backend(path);
  }

  private focus(image: ErofsImage, path: string): void {
    const accept = (error: unknown) =>
      isTypedError(error) || error instanceof ErofsLookupError || error instanceof ErofsNotDirectoryError;
    const inode = this.attempt(`resolve ${path}`, () => image.resolve(path), accept);
    if (inode) this.visit(image, inode, path, true);
  }

  private walk(image: ErofsImage): void {
    const pending: Array<{ ino: number; path: string }> = [{ ino: image.rootIno, path: '/' }];
    while (pending.length > 0 && this.visited.size < this.maxInodes && this.entries < MAX_ENTRIES) {
      const next = pending.shift()!;
      if (this.visited.has(next.ino)) continue;
      const inode = this.attempt(`inode ${next.ino} (${next.path})`, () => image.inode(next.ino));
      if (!inode) continue;
      for (const child of this.visit(image, inode, next.path, false)) pending.push(child);
    }
  }

  /** Every operation on one inode; returns a directory's children for the walk. */
  private visit(
    image: ErofsImage,
    inode: ErofsInode,
    path: string,
    thorough: boolean,
  ): Array<{ ino: number; path: string }> {
    this.visited.add(inode.ino);
    const children: Array<{ ino: number; path: string }> = [];
    this.attempt(`xattrs ${path}`, () => image.xattrs(inode));
    const type = inode.mode & S_IFMT;
    if (type !== S_IFREG || inode.size <= WALK_RECORD_MAX_SIZE) {
      this.attempt(`walk record ${path}`, () => walkRecordOf(image, path, inode));
    }
    if (type === S_IFLNK) this.attempt(`readlink ${path}`, () => image.readlink(inode));
    if (type === S_IFREG || type === S_IFLNK) this.reads(image, inode, path, thorough);
    if (!isDirectory(inode)) return children;
    const names: Buffer[] = [];
    this.attempt(`readdir ${path}`, () => {
      for (const entry of image.entries(inode)) {
        if (++this.entries > MAX_ENTRIES) break;
        names.push(entry.name);
        const name = entry.name.toString('latin1');
        if (name === '.' || name === '..') continue;
        children.push({ ino: entry.ino, path: path === '/' ? `/${name}` : `${path}/${name}` });
      }
    });
    this.attempt(`dir blocks ${path}`, () => {
      const count = Math.min(image.dirBlockCount(inode), 8);
      for (let index = 0; index < count; index++) image.dirBlock(inode, index);
    });
    const lookups = names.length === 0 ? [] : [names[0]!, names.at(-1)!, this.random.pick(names)];
    lookups.push(Buffer.from(`absent-${this.random.nextUint32()}`), Buffer.from('~'), Buffer.from('\x01'));
    for (const name of lookups) {
      const child = this.attempt(`lookup ${path} ${name.toString('latin1')}`, () =>
        image.lookup(inode, name),
      );
      if (typeof child === 'number')
        this.attempt(`inode of ${name.toString('latin1')}`, () => image.inode(child));
    }
    return children;
  }

  private reads(image: ErofsImage, inode: ErofsInode, path: string, thorough: boolean): void {
    const size = inode.size;
    const read = (position: number, length: number) =>
      this.attempt(`read ${path} @${position}+${length}`, () => {
        const bytes = image.read(inode, position, length);
        const expected = Math.max(0, Math.min(length, size - position));
        if (bytes.length !== expected) {
          throw new Error(`read returned ${bytes.length} bytes, expected ${expected}`);
        }
      });
    read(0, thorough ? RANDOM_READ_MAX : FIRST_READ);
    if (size === 0) return;
    const position = Math.floor(this.random.next() * size);
    read(position, this.random.int(1, RANDOM_READ_MAX));
    read(size - 1, 1);
    if (thorough) {
      read(Math.max(0, size - RANDOM_READ_MAX), RANDOM_READ_MAX);
      read(size, 10);
    }
  }

  /** The FUSE backend's view: attributes, readdir with cookies, lookups, reads, xattrs. */
  private backend(path: string): void {
    const accept = (error: unknown) => error instanceof FsError;
    const fs = this.attempt(
      'backend open',
      () => createErofsBackend({ kind: 'erofs', source: path }),
      accept,
    );
    if (!fs) return;
    try {
      this.backendDir(fs, fs.rootId, accept, 0);
    } finally {
      fs.destroy();
    }
  }

  private backendDir(fs: Filesystem, id: number, accept: (error: unknown) => boolean, depth: number): void {
    this.attempt(`backend getattr ${id}`, () => fs.getattr(id), accept);
    const first = this.attempt(`backend readdir ${id}`, () => fs.readdir(id, 0, 0, 16), accept);
    if (!first || first.length === 0) return;
    const cookie = first.at(-1)!.offset;
    this.attempt(`backend readdir ${id} @${cookie}`, () => fs.readdir(id, 0, cookie, 16), accept);
    const entry = this.random.pick(first);
    const found = this.attempt(`backend lookup ${id} ${entry.name}`, () => fs.lookup(id, entry.name), accept);
    if (!found) return;
    const child = found.id;
    const mode = found.attr.mode & S_IFMT;
    this.attempt(`backend listxattr ${child}`, () => fs.listxattr(child), accept);
    this.attempt(`backend getxattr ${child}`, () => fs.getxattr(child, Buffer.from('user.x')), accept);
    if (mode === S_IFREG) {
      this.attempt(`backend open ${child}`, () => fs.open(child, 0), accept);
      this.attempt(
        `backend read ${child}`,
        () => fs.read(child, 0, 0, 4096, Buffer.allocUnsafe(4096), 0),
        accept,
      );
    } else if (mode === S_IFLNK) {
      this.attempt(`backend readlink ${child}`, () => fs.readlink(child), accept);
    } else if (mode === 0o040000 && depth < 2 && child !== id) {
      this.backendDir(fs, child, accept, depth + 1);
    }
  }
}
