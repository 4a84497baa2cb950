/**
 * The operation language every client driver executes (the Node client and the native one):
 * one operation per line, fields separated by tabs, paths relative to the mount point with
 * `%`, tab, newline and carriage return percent-escaped. A workload compiles to such a stream
 * from the dataset manifest and a seed, so every setup receives byte-identical operations.
 */

export type Op =
  /** lstat(2); the stat of `stat-all`, walks, and `xargs stat`. */
  | { kind: 'lstat'; path: string }
  /** lstat(2) of a name that does not exist: ENOENT is the expected answer (negative lookup). */
  | { kind: 'lstat-miss'; path: string }
  /** opendir, read every entry, closedir: one operation. */
  | { kind: 'readdir'; path: string }
  /** open(2) O_RDONLY into descriptor slot `slot`. */
  | { kind: 'open'; slot: number; path: string }
  | { kind: 'close'; slot: number }
  /** pread(2) of `length` bytes at `offset` from the file in `slot`. */
  | { kind: 'pread'; slot: number; offset: number; length: number }
  /** open, read to the end in `blockSize` reads, close: one operation (a file read whole). */
  | { kind: 'readfile'; path: string; blockSize: number }
  /** open, mmap the whole file, touch one byte per page, munmap, close: one operation. */
  | { kind: 'mmapread'; path: string }
  | { kind: 'getxattr'; path: string; name: string }
  | { kind: 'listxattr'; path: string }
  | { kind: 'readlink'; path: string };

export type OpKind = Op['kind'];

/** Descriptor slots a stream may use; drivers keep that many open files at most. */
export const MAX_SLOTS = 64;

function escapeField(field: string): string {
  return field.replace(/[%\t\n\r]/g, (char) => `%${char.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function unescapeField(field: string): string {
  return field.replace(/%([0-9a-f]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

export function encodeOp(op: Op): string {
  switch (op.kind) {
    case 'open':
      return `open\t${op.slot}\t${escapeField(op.path)}`;
    case 'close':
      return `close\t${op.slot}`;
    case 'pread':
      return `pread\t${op.slot}\t${op.offset}\t${op.length}`;
    case 'readfile':
      return `readfile\t${escapeField(op.path)}\t${op.blockSize}`;
    case 'getxattr':
      return `getxattr\t${escapeField(op.path)}\t${escapeField(op.name)}`;
    default:
      return `${op.kind}\t${escapeField(op.path)}`;
  }
}

export function encodeOps(ops: readonly Op[]): string {
  return ops.map((op) => `${encodeOp(op)}\n`).join('');
}

function integer(field: string | undefined, what: string, line: number): number {
  const value = Number(field);
  if (field === undefined || field === '' || !Number.isSafeInteger(value) || value < 0) {
    throw new Error(`op stream line ${line}: bad ${what} '${field}'`);
  }
  return value;
}

function slot(field: string | undefined, line: number): number {
  const value = integer(field, 'slot', line);
  if (value >= MAX_SLOTS) throw new Error(`op stream line ${line}: slot ${value} >= ${MAX_SLOTS}`);
  return value;
}

/** Parses a stream; any malformed line is an error naming the line. */
export function decodeOps(text: string): Op[] {
  const ops: Op[] = [];
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((line, index) => {
    const number = index + 1;
    const [kind, a, b, c] = line.split('\t');
    const path = () => {
      if (a === undefined || a === '') throw new Error(`op stream line ${number}: missing path`);
      return unescapeField(a);
    };
    switch (kind) {
      case 'lstat':
      case 'lstat-miss':
      case 'readdir':
      case 'mmapread':
      case 'listxattr':
      case 'readlink':
        ops.push({ kind, path: path() });
        break;
      case 'open':
        ops.push({ kind, slot: slot(a, number), path: b === undefined ? '' : unescapeField(b) });
        break;
      case 'close':
        ops.push({ kind, slot: slot(a, number) });
        break;
      case 'pread':
        ops.push({
          kind,
          slot: slot(a, number),
          offset: integer(b, 'offset', number),
          length: integer(c, 'length', number),
        });
        break;
      case 'readfile':
        ops.push({ kind, path: path(), blockSize: integer(b, 'block size', number) });
        break;
      case 'getxattr':
        ops.push({ kind, path: path(), name: unescapeField(b ?? '') });
        break;
      default:
        throw new Error(`op stream line ${number}: unknown operation '${kind}'`);
    }
  });
  return ops;
}
