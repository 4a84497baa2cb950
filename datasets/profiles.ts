import { SeededRandom } from '../lib/random.js';

/**
 * Named dataset profiles: deterministic trees shaped like container root filesystems
 * (many small files of log-normal size, a few large ones, a wide directory, deep nesting,
 * symlinks, hard links, xattrs). A profile plus a seed always yields the same tree.
 */

export type ContentKind = 'text' | 'binary' | 'random' | 'zeros';

export interface TreeEntry {
  /** Relative POSIX path inside the tree. */
  path: string;
  type: 'dir' | 'file' | 'symlink' | 'hardlink';
  /** Permission bits (no type bits). */
  mode: number;
  /** Regular files: size in bytes and the kind of content. */
  size?: number;
  content?: ContentKind;
  /** Symlinks: the target as stored; hard links: the path of the file linked to. */
  target?: string;
  /** Modification time in seconds since the epoch. */
  mtime: number;
  /** Extended attributes, name → value. */
  xattrs?: Record<string, string>;
}

export interface ProfileShape {
  /** Packages under usr/lib, each a small subtree of files. */
  packages: number;
  filesPerPackage: [number, number];
  /** Median and log-normal sigma of small-file sizes; capped at smallFileCap. */
  smallFileMedian: number;
  smallFileSigma: number;
  smallFileCap: number;
  /** Entries of the one wide directory (readdir and lookup workloads). */
  wideEntries: number;
  /** Large files for sequential and random reads. */
  largeFiles: number;
  largeFileSize: number;
  /** Nesting depth of the deep/ chain. */
  depth: number;
}

export interface Profile {
  name: string;
  description: string;
  shape: ProfileShape;
}

/** Fixed base time of generated trees, so images are reproducible: 2023-11-14T22:13:20Z. */
const BASE_MTIME = 1_700_000_000;

export const profiles: readonly Profile[] = [
  {
    name: 'tiny',
    description: 'a few hundred files and one 8 MiB file; for tests and smoke runs',
    shape: {
      packages: 12,
      filesPerPackage: [4, 10],
      smallFileMedian: 3072,
      smallFileSigma: 1.4,
      smallFileCap: 256 * 1024,
      wideEntries: 200,
      largeFiles: 1,
      largeFileSize: 8 * 1024 * 1024,
      depth: 8,
    },
  },
  {
    name: 'quick',
    description: 'about 2,500 files and 2 × 32 MiB files (~100 MB); the default of `fusebench run`',
    shape: {
      packages: 120,
      filesPerPackage: [6, 24],
      smallFileMedian: 3072,
      smallFileSigma: 1.6,
      smallFileCap: 1024 * 1024,
      wideEntries: 1000,
      largeFiles: 2,
      largeFileSize: 32 * 1024 * 1024,
      depth: 16,
    },
  },
  {
    name: 'container',
    description: 'about 8,000 files like a distribution base image, and 2 × 128 MiB files (~400 MB)',
    shape: {
      packages: 400,
      filesPerPackage: [6, 28],
      smallFileMedian: 4096,
      smallFileSigma: 1.7,
      smallFileCap: 4 * 1024 * 1024,
      wideEntries: 2000,
      largeFiles: 2,
      largeFileSize: 128 * 1024 * 1024,
      depth: 24,
    },
  },
];

export const profileNames = profiles.map((profile) => profile.name);

export function findProfile(name: string): Profile | undefined {
  return profiles.find((profile) => profile.name === name);
}

const syllables = [
  'lib',
  'core',
  'net',
  'util',
  'ssl',
  'xml',
  'gtk',
  'py',
  'dbus',
  'sys',
  'io',
  'z',
  'ext',
  'fmt',
];
const extensions = ['.so', '.so.1', '.py', '.pyc', '.h', '.txt', '.conf', '.json', '', '.mo', '.gz', '.pem'];

function fileName(random: SeededRandom, index: number): string {
  const stem = `${random.pick(syllables)}${random.pick(syllables)}${index.toString(36)}`;
  return stem + random.pick(extensions);
}

function contentKind(random: SeededRandom, name: string): ContentKind {
  if (name.endsWith('.gz') || name.endsWith('.pem')) return 'random';
  const roll = random.next();
  if (roll < 0.5) return 'text';
  if (roll < 0.85) return 'binary';
  if (roll < 0.97) return 'random';
  return 'zeros';
}

/** The entries of a profile's tree, parents before children. */
export function buildTree(profile: Profile, seed: number): TreeEntry[] {
  const random = new SeededRandom(`${profile.name}:${seed}`);
  const shape = profile.shape;
  const entries: TreeEntry[] = [];
  const files: string[] = [];
  const mtime = () => BASE_MTIME - random.int(0, 3 * 365 * 86400);
  const dir = (path: string) => entries.push({ path, type: 'dir', mode: 0o755, mtime: mtime() });
  const file = (
    path: string,
    size: number,
    content: ContentKind,
    mode = 0o644,
    xattrs?: Record<string, string>,
  ) => {
    const entry: TreeEntry = { path, type: 'file', mode, size, content, mtime: mtime() };
    if (xattrs) entry.xattrs = xattrs;
    entries.push(entry);
    files.push(path);
  };
  const smallSize = () =>
    random.next() < 0.03
      ? 0
      : Math.min(
          shape.smallFileCap,
          Math.max(1, Math.round(random.logNormal(shape.smallFileMedian, shape.smallFileSigma))),
        );

  for (const top of ['etc', 'usr', 'usr/bin', 'usr/lib', 'usr/share', 'var', 'var/lib', 'large', 'deep'])
    dir(top);

  for (let p = 0; p < shape.packages; p++) {
    const base = `usr/lib/pkg${p.toString().padStart(4, '0')}`;
    dir(base);
    dir(`${base}/doc`);
    const count = random.int(shape.filesPerPackage[0], shape.filesPerPackage[1]);
    let firstFile = '';
    for (let f = 0; f < count; f++) {
      const name = fileName(random, f);
      const path = `${base}/${f % 4 === 3 ? 'doc/' : ''}${name}`;
      const xattrs = random.next() < 0.05 ? { 'user.fusebench.origin': `pkg${p}` } : undefined;
      file(path, smallSize(), contentKind(random, name), random.next() < 0.1 ? 0o755 : 0o644, xattrs);
      if (f === 0) firstFile = path;
    }
    if (p % 5 === 0 && firstFile !== '') {
      entries.push({
        path: `usr/bin/tool${p}`,
        type: 'symlink',
        mode: 0o777,
        target: `../../${firstFile}`,
        mtime: mtime(),
      });
    }
  }

  for (let e = 0; e < 40; e++)
    file(`etc/conf${e}.conf`, Math.max(1, Math.round(random.logNormal(900, 1))), 'text');

  dir('usr/share/wide');
  for (let w = 0; w < shape.wideEntries; w++) {
    const name = `entry-${w.toString().padStart(5, '0')}-${'x'.repeat(random.int(0, 40))}`;
    file(`usr/share/wide/${name}`, random.int(0, 2048), 'text');
  }

  let deep = 'deep';
  for (let d = 0; d < shape.depth; d++) {
    deep += `/level${d}`;
    dir(deep);
  }
  file(`${deep}/bottom.txt`, 4096, 'text');

  for (let l = 0; l < shape.largeFiles; l++) {
    file(`large/blob${l}.bin`, shape.largeFileSize, l % 2 === 0 ? 'binary' : 'text');
  }

  // Hard links and symlinks to existing files: shared inodes and readlink targets.
  for (let h = 0; h < 8; h++) {
    entries.push({
      path: `var/lib/hardlink${h}`,
      type: 'hardlink',
      mode: 0,
      target: random.pick(files),
      mtime: 0,
    });
  }
  for (let s = 0; s < 8; s++) {
    entries.push({
      path: `var/lib/link${s}`,
      type: 'symlink',
      mode: 0o777,
      target: `/${random.pick(files)}`,
      mtime: mtime(),
    });
  }
  entries.push({
    path: 'var/lib/dangling',
    type: 'symlink',
    mode: 0o777,
    target: 'does/not/exist',
    mtime: mtime(),
  });
  return entries;
}
