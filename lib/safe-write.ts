import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { FatalError } from './errors.js';

/**
 * Writing files as root into directories other users may write to (/tmp): the temporary file is
 * created exclusively (O_CREAT|O_EXCL|O_NOFOLLOW) under an unguessable name, so a symlink planted
 * beside the target can never redirect the write, and renamed over the target only once complete.
 */

/** Kernel interfaces where a "file" is an attribute or a device: never an output. */
const PSEUDO_FILESYSTEMS = ['/proc', '/sys', '/dev'];

function temporaryBeside(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(8).toString('hex')}.tmp`);
}

function createExclusive(path: string): number {
  return openSync(
    path,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o644,
  );
}

/** Writes `data` to `path` atomically: a reader sees the old file or the new one, never half of one. */
export function writeFileAtomic(path: string, data: string | Buffer): void {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = temporaryBeside(path);
  const fd = createExclusive(temporary);
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    for (let written = 0; written < bytes.length; ) {
      written += writeSync(fd, bytes, written, bytes.length - written);
    }
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    unlinkSync(temporary);
    throw error;
  }
  closeSync(fd);
  renameSync(temporary, path);
}

function isUnder(path: string, root: string): boolean {
  return path === root || path.startsWith(`${root}/`);
}

/** The nearest directory at or above `path` that exists, resolved through symlinks. */
function existingAncestor(path: string): string {
  for (let current = path; ; current = dirname(current)) {
    try {
      return realpathSync(current);
    } catch {
      if (dirname(current) === current) return current;
    }
  }
}

/**
 * Checks before any work that `path` can be written as a file: not a directory, not under a
 * pseudo filesystem, and its directory (created if missing) accepts an exclusive temporary file.
 * `what` names the flag in the one-line error.
 */
export function checkWritableFile(what: string, path: string): void {
  const resolved = existingAncestor(path);
  const pseudo = PSEUDO_FILESYSTEMS.find((root) => isUnder(resolved, root) || isUnder(path, root));
  if (pseudo) throw new FatalError(`${what}: ${path} is under ${pseudo}, not a place for output files`);
  try {
    if (statSync(path).isDirectory()) throw new FatalError(`${what}: ${path} is a directory`);
  } catch (error) {
    if (error instanceof FatalError) throw error;
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw cannotWrite(what, path, error);
  }
  checkWritableDirectory(what, dirname(path));
}

/**
 * Checks before any work that files can be created in directory `path`, or (when it does not exist
 * yet) in its nearest existing ancestor, without creating anything that stays.
 */
export function checkWritableDirectory(what: string, path: string): void {
  const resolved = existingAncestor(path);
  const pseudo = PSEUDO_FILESYSTEMS.find((root) => isUnder(resolved, root) || isUnder(path, root));
  if (pseudo) throw new FatalError(`${what}: ${path} is under ${pseudo}, not a place for output files`);
  try {
    if (existsSync(path) && !statSync(path).isDirectory())
      throw new FatalError(`${what}: ${path} is not a directory`);
    if (!statSync(resolved).isDirectory()) throw new FatalError(`${what}: ${resolved} is not a directory`);
    const probe = temporaryBeside(join(resolved, 'probe'));
    closeSync(createExclusive(probe));
    unlinkSync(probe);
  } catch (error) {
    if (error instanceof FatalError) throw error;
    throw cannotWrite(what, path, error);
  }
}

function cannotWrite(what: string, path: string, error: unknown): FatalError {
  const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
  return new FatalError(`${what}: cannot write ${path} (${code})`);
}
