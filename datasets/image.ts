import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { execa } from 'execa';
import { FatalError } from '../lib/errors.js';
import { findPeerProgram, type PeerProgram } from '../lib/peer-programs.js';
import { partialPathOf, stalePartials } from './partial-builds.js';

/**
 * Building the images a dataset is served from, cached by what determines their bytes:
 * the tree's content hash, the tool's version and its arguments. Builds are reproducible
 * (fixed UUID, SOURCE_DATE_EPOCH), so the same inputs give the same image on any machine.
 */

export interface ImageOptions {
  /** mkfs.erofs -z argument (lz4, lz4hc, lz4hc,12, ...); null = uncompressed. */
  compression: string | null;
  /** --chunksize in bytes for chunk-based files; null = flat files. */
  chunkSize: number | null;
  /** Physical cluster size (-C) in bytes for compressed images; null = mkfs default. */
  pclusterSize: number | null;
  /** Further mkfs.erofs arguments, passed as given (e.g. -Eztailpacking). */
  extraArgs: string[];
}

export const defaultImageOptions: ImageOptions = {
  compression: null,
  chunkSize: null,
  pclusterSize: null,
  extraArgs: [],
};

/** Fixed UUID and timestamps: the same inputs give the same image bytes on any machine. */
export const FIXED_UUID = '6c2a1f0e-f05e-4bec-8000-000000000001';
export const SOURCE_DATE_EPOCH = '1700000000';

export function mkfsErofsArgs(options: ImageOptions): string[] {
  const args = ['-U', FIXED_UUID];
  if (options.compression) args.push(`-z${options.compression}`);
  if (options.pclusterSize) args.push(`-C${options.pclusterSize}`);
  if (options.chunkSize) args.push(`--chunksize=${options.chunkSize}`);
  return [...args, ...options.extraArgs];
}

/**
 * The mkfs.erofs images are built with: the newer one setup.sh builds when it is there (so
 * compressed images can use lzma, deflate and zstd), else the distribution's.
 */
function mkfsErofs(): Promise<PeerProgram | null> {
  return findPeerProgram('mkfs.erofs');
}

/** The erofs-utils release of a mkfs.erofs (its Debian version), and where it comes from when not the distribution. */
function versionOf(program: PeerProgram): string {
  return program.origin === 'distribution' ? program.version : `${program.version} (${program.origin})`;
}

export async function mkfsErofsVersion(): Promise<string | null> {
  const program = await mkfsErofs();
  return program ? versionOf(program) : null;
}

function cacheKey(parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 24);
}

/** Removes the half-built images of builds whose process is gone (killed during mkfs); returns them. */
export function removeStalePartials(imagesDir: string): string[] {
  const stale = stalePartials(imagesDir);
  for (const path of stale) rmSync(path, { force: true });
  return stale;
}

async function buildOnce(target: string, build: (temporary: string) => Promise<void>): Promise<void> {
  if (existsSync(target)) return;
  mkdirSync(dirname(target), { recursive: true });
  removeStalePartials(dirname(target));
  const temporary = partialPathOf(target);
  rmSync(temporary, { force: true });
  try {
    await build(temporary);
    renameSync(temporary, target);
  } finally {
    rmSync(temporary, { force: true });
  }
}

export interface BuiltImage {
  path: string;
  bytes: number;
  tool: string;
  toolVersion: string;
  args: string[];
}

export async function buildErofsImage(
  sourceDir: string,
  contentHash: string,
  options: ImageOptions,
  cacheDir: string,
): Promise<BuiltImage> {
  const program = await mkfsErofs();
  if (!program) throw new FatalError('mkfs.erofs not found: install erofs-utils (./setup.sh does)');
  const version = versionOf(program);
  const args = mkfsErofsArgs(options);
  const path = `${cacheDir}/images/${cacheKey(['erofs', contentHash, version, ...args])}.erofs`;
  await buildOnce(path, async (temporary) => {
    const result = await execa(program.path, [...args, temporary, sourceDir], {
      reject: false,
      env: { SOURCE_DATE_EPOCH },
      all: true,
    });
    if (result.exitCode !== 0) {
      const reason =
        result.all
          ?.split('\n')
          .filter((line) => line.includes('<E>'))
          .at(-1) ?? `exit ${result.exitCode}`;
      throw new FatalError(`mkfs.erofs ${args.join(' ')} failed: ${reason.trim()}`);
    }
  });
  return { path, bytes: statSync(path).size, tool: 'mkfs.erofs', toolVersion: version, args };
}

/** A squashfs image of the same tree for the squashfs reference setups (lz4 like the EROFS image when compressed). */
export async function buildSquashfsImage(
  sourceDir: string,
  contentHash: string,
  compressed: boolean,
  cacheDir: string,
): Promise<BuiltImage> {
  const versionResult = await execa('mksquashfs', ['-version'], { reject: false });
  if (versionResult.exitCode !== 0) throw new FatalError('mksquashfs not found: install squashfs-tools');
  const version = /version ([\d.]+)/.exec(versionResult.stdout)?.[1] ?? 'unknown';
  const args = compressed ? ['-comp', 'lz4', '-Xhc'] : ['-noI', '-noD', '-noF', '-noX'];
  args.push('-no-progress', '-quiet', '-mkfs-time', SOURCE_DATE_EPOCH);
  const path = `${cacheDir}/images/${cacheKey(['squashfs', contentHash, version, ...args])}.sqfs`;
  await buildOnce(path, async (temporary) => {
    await execa('mksquashfs', [sourceDir, temporary, ...args]);
  });
  return { path, bytes: statSync(path).size, tool: 'mksquashfs', toolVersion: version, args };
}
