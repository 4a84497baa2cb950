import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { findOnPath, isExecutable } from './executables.js';
import { debianPackageVersion } from './packages.js';

/**
 * The programs of the reference daemons fusebench measures beside its own (erofs-utils' erofsfuse,
 * mkfs.erofs and fsck.erofs; libfuse's example passthrough_hp): where scripts/build-peers.sh put
 * them (PEERS/<package> -> <package>-<version>, with a .complete mark), or else the
 * distribution's on PATH. The build is preferred: it is the newer release, linked against a
 * libfuse with passthrough and io_uring.
 */

export const PEERS_ROOT = process.env.FUSEBENCH_PEERS ?? '/opt/fusebench/peers';

/** What to tell a user who lacks a peer program. */
export const GET_PEERS = `./setup.sh builds it into ${PEERS_ROOT} (scripts/build-peers.sh)`;

export type PeerProgramName = 'erofsfuse' | 'mkfs.erofs' | 'fsck.erofs' | 'passthrough_hp';

export interface PeerProgram {
  name: PeerProgramName;
  path: string;
  /** The Debian version of the package it comes from (erofs-utils, erofsfuse or fuse3). */
  version: string;
  /** 'fusebench build' (PEERS) or 'distribution' (PATH). */
  origin: 'fusebench build' | 'distribution';
  /** The libfuse the program is linked against, when it uses one and that is known. */
  libfuseVersion: string | null;
}

const BUILT_IN: Record<PeerProgramName, { package: string; dir: string }> = {
  erofsfuse: { package: 'erofs-utils', dir: 'bin' },
  'mkfs.erofs': { package: 'erofs-utils', dir: 'bin' },
  'fsck.erofs': { package: 'erofs-utils', dir: 'bin' },
  passthrough_hp: { package: 'fuse3', dir: 'bin' },
};

/** The Debian package a program of this name comes from when the distribution provides it. */
const DISTRIBUTION_PACKAGE: Record<PeerProgramName, string | null> = {
  erofsfuse: 'erofsfuse',
  'mkfs.erofs': 'erofs-utils',
  'fsck.erofs': 'erofs-utils',
  // No distribution ships libfuse's examples as programs.
  passthrough_hp: null,
};

function readTrimmed(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

/** A complete build under PEERS_ROOT: its resolved prefix and version. */
function builtPackage(name: string): { prefix: string; version: string } | null {
  const link = join(PEERS_ROOT, name);
  if (!existsSync(join(link, '.complete'))) return null;
  const version = readTrimmed(join(link, 'VERSION'));
  return version ? { prefix: realpathSync(link), version } : null;
}

/** Where a peer program is and which release it is, or null when it is not installed. */
export async function findPeerProgram(name: PeerProgramName): Promise<PeerProgram | null> {
  const { package: packageName, dir } = BUILT_IN[name];
  const built = builtPackage(packageName);
  if (built && isExecutable(join(built.prefix, dir, name))) {
    // erofs-utils records the libfuse it was built against beside itself; fuse3 is libfuse.
    const libfuse =
      packageName === 'fuse3' ? built.version : readTrimmed(join(built.prefix, '.fuse3', 'VERSION'));
    return {
      name,
      path: join(built.prefix, dir, name),
      version: built.version,
      origin: 'fusebench build',
      libfuseVersion: libfuse,
    };
  }
  const distributionPackage = DISTRIBUTION_PACKAGE[name];
  const path = distributionPackage ? findOnPath(name) : null;
  if (!path || !distributionPackage) return null;
  return {
    name,
    path,
    version: (await debianPackageVersion(distributionPackage)) ?? 'unknown',
    origin: 'distribution',
    libfuseVersion: name === 'erofsfuse' ? await debianPackageVersion('libfuse3-3') : null,
  };
}

/**
 * Whether a FUSE program's libfuse knows io_uring (3.18 on). Whether it was built with liburing,
 * and whether the kernel agreed, only a mount shows (the daemon then holds io_uring rings:
 * runners/fuse-uring.ts).
 */
export async function supportsIoUring(program: PeerProgram): Promise<boolean> {
  if (program.libfuseVersion) return versionAtLeast(program.libfuseVersion, [3, 18]);
  // Unknown libfuse: it lists `-o io_uring` among its low-level options from 3.18 on.
  const help = await execa(program.path, ['--help'], { reject: false, all: true, timeout: 10_000 });
  return /-o io_uring\b/.test(help.all ?? '');
}

/** A Debian version's upstream part (epoch and revision dropped) compared with major.minor. */
function versionAtLeast(version: string, [major, minor]: [number, number]): boolean {
  const upstream = version.replace(/^\d+:/, '');
  const [have = 0, haveMinor = 0] = upstream.split(/[.~+-]/).map((part) => Number.parseInt(part, 10) || 0);
  return have > major || (have === major && haveMinor >= minor);
}
