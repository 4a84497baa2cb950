import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { resolve } from 'node:path';
import { execa } from 'execa';
import { FatalError } from '../lib/errors.js';
import { findPeerProgram, GET_PEERS } from '../lib/peer-programs.js';
import type { BuiltImage } from './image.js';
import { buildManifest, type Manifest } from './manifest.js';

/**
 * A user's own EROFS image as the dataset (`--image FILE`): the image setups serve it as it is;
 * the tree setups (native, passthrough) serve its tree, extracted once by fsck.erofs --extract
 * (owners, permissions and xattrs kept) into the cache, keyed by the image's content.
 */

const HASH_CHUNK = 4 * 1024 * 1024;

/** SHA-256 of a file's bytes, read in chunks (images and layer tars may be large). */
export function sha256OfFile(path: string): string {
  const hash = createHash('sha256');
  const buffer = Buffer.alloc(HASH_CHUNK);
  const fd = openSync(path, 'r');
  try {
    for (let read = readSync(fd, buffer); read > 0; read = readSync(fd, buffer))
      hash.update(buffer.subarray(0, read));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/** The image as given, described the way built images are. */
export function userImage(path: string): BuiltImage {
  const absolute = resolve(path);
  let stats: ReturnType<typeof statSync>;
  try {
    stats = statSync(absolute);
  } catch (error) {
    throw new FatalError(`--image: ${absolute}: ${(error as NodeJS.ErrnoException).code ?? 'cannot stat'}`);
  }
  if (!stats.isFile()) throw new FatalError(`--image: ${absolute} is not a regular file`);
  return {
    path: absolute,
    bytes: stats.size,
    tool: 'user image',
    toolVersion: 'not built by fusebench',
    args: [],
  };
}

/** The image's tree on the host filesystem, extracted once per image content. */
export async function extractedTree(
  image: BuiltImage,
  cacheDir: string,
): Promise<{ dir: string; manifest: Manifest }> {
  const fsck = await findPeerProgram('fsck.erofs');
  if (!fsck) throw new FatalError(`--image: fsck.erofs is needed to extract the tree: ${GET_PEERS}`);
  const base = `${cacheDir}/extracted/${sha256OfFile(image.path).slice(0, 24)}-${fsck.version}`;
  const dir = `${base}/tree`;
  const manifestPath = `${base}/manifest.json`;
  if (existsSync(manifestPath))
    return { dir, manifest: JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest };
  // An interrupted extraction has no manifest: start it again.
  rmSync(base, { recursive: true, force: true });
  mkdirSync(base, { recursive: true });
  const result = await execa(fsck.path, [`--extract=${dir}`, '--xattrs', '--preserve', image.path], {
    reject: false,
    all: true,
  });
  if (result.exitCode !== 0) {
    rmSync(base, { recursive: true, force: true });
    const reason = result.all?.trim().split('\n').at(-1) ?? `exit ${result.exitCode}`;
    throw new FatalError(`--image: fsck.erofs --extract of ${image.path} failed: ${reason}`);
  }
  const manifest = buildManifest(dir);
  writeFileSync(`${manifestPath}.partial`, JSON.stringify(manifest));
  renameSync(`${manifestPath}.partial`, manifestPath);
  return { dir, manifest };
}
