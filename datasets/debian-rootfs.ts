import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { debianCodename, debianMirror } from '../lib/apt-sources.js';
import { FatalError } from '../lib/errors.js';
import { readMountInfo, unmount } from '../lib/mounts.js';
import { buildManifest, type Manifest } from './manifest.js';
import { partialPathOf, stalePartials } from './partial-builds.js';

/**
 * A real Debian root filesystem as a dataset: `debootstrap --variant=minbase` of this machine's
 * release from the mirror its apt sources name, cached. The closest thing to a container image
 * that can be had offline: real binaries, libraries, symlink farms and package metadata.
 */

export const DEBIAN_MINBASE = 'debian-minbase';

/** debootstrap mounts /proc and /sys inside the target while it works; a killed one leaves them. */
async function unmountInside(dir: string): Promise<void> {
  const inside = readMountInfo()
    .map((entry) => entry.mountpoint)
    .filter((mountpoint) => mountpoint.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const mountpoint of inside) await unmount(mountpoint);
}

async function removeBuild(dir: string): Promise<void> {
  await unmountInside(dir);
  if (readMountInfo().some((entry) => entry.mountpoint.startsWith(`${dir}/`))) {
    throw new FatalError(`cannot remove ${dir}: something is still mounted inside it`);
  }
  rmSync(dir, { recursive: true, force: true });
}

/** Removes the half-made root filesystems of builds whose process is gone; returns them. */
export async function removeStaleRootfsBuilds(cacheDir: string): Promise<string[]> {
  const stale = stalePartials(join(cacheDir, 'trees'));
  for (const path of stale) await removeBuild(path);
  return stale;
}

/** The Debian minbase tree of this machine's release, built once into the cache. */
export async function debianRootfs(
  cacheDir: string,
): Promise<{ dir: string; manifest: Manifest; name: string }> {
  const codename = debianCodename();
  if (!codename) throw new FatalError(`--dataset ${DEBIAN_MINBASE}: /etc/os-release names no Debian release`);
  const name = `${DEBIAN_MINBASE}-${codename}`;
  const base = join(cacheDir, 'trees', name);
  const manifestPath = join(base, 'manifest.json');
  if (existsSync(manifestPath)) {
    return {
      dir: join(base, 'tree'),
      manifest: JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest,
      name,
    };
  }
  const mirror = debianMirror(codename);
  if (!mirror) {
    throw new FatalError(
      `--dataset ${DEBIAN_MINBASE}: the apt sources of this machine name no mirror for ${codename}`,
    );
  }
  const debootstrap = await execa('debootstrap', ['--version'], { reject: false });
  if (debootstrap.exitCode !== 0) {
    throw new FatalError(
      `--dataset ${DEBIAN_MINBASE}: debootstrap not found (apt-get install debootstrap; ./setup.sh does)`,
    );
  }
  await removeStaleRootfsBuilds(cacheDir);
  const partial = partialPathOf(base);
  mkdirSync(partial, { recursive: true });
  try {
    const tree = join(partial, 'tree');
    const result = await execa(
      'debootstrap',
      ['--variant=minbase', '--components=main', codename, tree, mirror],
      { reject: false, all: true },
    );
    if (result.exitCode !== 0) {
      const reason = result.all?.trim().split('\n').at(-1) ?? `exit ${result.exitCode}`;
      throw new FatalError(`debootstrap ${codename} failed: ${reason}`);
    }
    await unmountInside(partial);
    const manifest = buildManifest(tree);
    writeFileSync(join(partial, 'manifest.json'), JSON.stringify(manifest));
    rmSync(base, { recursive: true, force: true });
    renameSync(partial, base);
    return { dir: join(base, 'tree'), manifest, name };
  } finally {
    if (existsSync(partial)) await removeBuild(partial);
  }
}
