import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { FatalError } from '../lib/errors.js';
import type { Dataset } from '../results/schema.js';
import { debianRootfs } from './debian-rootfs.js';
import { type BuiltImage, buildErofsImage, type ImageOptions } from './image.js';
import { layerTarDataset } from './layer-tar.js';
import { buildManifest, hasFileChecksums, type Manifest } from './manifest.js';
import { materializeTree } from './materialize.js';
import { buildTree, findProfile, profileNames } from './profiles.js';
import { extractedTree, userImage } from './user-image.js';

/**
 * A dataset: a source tree on the host filesystem (generated from a profile and seed, or a
 * user's directory), its manifest, and the EROFS image built from it; or a user's image and
 * the tree extracted from it. Generated trees and
 * images are cached, so repeated runs measure rather than rebuild.
 */

/** Bump when profiles or content generation change, so cached trees are not reused wrongly. */
const GENERATOR_VERSION = 1;

export type DatasetSource =
  | { kind: 'profile'; profile: string; seed: number }
  | { kind: 'directory'; path: string }
  /** A user's own EROFS image, measured as it is. */
  | { kind: 'image'; path: string }
  /** A real root filesystem built by debootstrap (datasets/debian-rootfs.ts). */
  | { kind: 'rootfs'; name: 'debian-minbase' }
  /** A container layer tar: the image built by mkfs.erofs --tar=f, the tree extracted by tar. */
  | { kind: 'tar'; path: string };

export interface PreparedDataset {
  name: string;
  source: DatasetSource;
  /** The tree on the host filesystem (served by the native and passthrough setups). */
  sourceDir: string;
  manifest: Manifest;
  image: BuiltImage;
  cacheDir: string;
}

export const defaultCacheDir = process.env.FUSEBENCH_CACHE ?? '/var/cache/fusebench';

async function generatedTree(
  profileName: string,
  seed: number,
  cacheDir: string,
): Promise<{ dir: string; manifest: Manifest }> {
  const profile = findProfile(profileName);
  if (!profile)
    throw new FatalError(`unknown dataset profile '${profileName}' (known: ${profileNames.join(', ')})`);
  const base = `${cacheDir}/trees/${profile.name}-s${seed}-g${GENERATOR_VERSION}`;
  const dir = `${base}/tree`;
  const manifestPath = `${base}/manifest.json`;
  if (existsSync(manifestPath)) {
    const cached = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
    if (hasFileChecksums(cached)) return { dir, manifest: cached };
    return { dir, manifest: saveManifest(dir, manifestPath) };
  }
  // A half-written tree from an interrupted run has no manifest: start it again.
  rmSync(base, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  await materializeTree(dir, buildTree(profile, seed), `${profile.name}:${seed}`);
  return { dir, manifest: saveManifest(dir, manifestPath) };
}

function saveManifest(dir: string, manifestPath: string): Manifest {
  const manifest = buildManifest(dir);
  writeFileSync(`${manifestPath}.partial`, JSON.stringify(manifest));
  renameSync(`${manifestPath}.partial`, manifestPath);
  return manifest;
}

function userTree(path: string): { dir: string; manifest: Manifest } {
  const dir = resolve(path);
  let isDirectory: boolean;
  try {
    isDirectory = statSync(dir).isDirectory();
  } catch (error) {
    throw new FatalError(
      `dataset directory ${dir}: ${(error as NodeJS.ErrnoException).code ?? 'cannot stat'}`,
    );
  }
  if (!isDirectory) throw new FatalError(`dataset directory ${dir}: not a directory`);
  try {
    return { dir, manifest: buildManifest(dir) };
  } catch (error) {
    const failure = error as NodeJS.ErrnoException;
    throw new FatalError(
      `dataset directory ${dir}: cannot read ${failure.path ?? ''} (${failure.code ?? failure.message})`,
    );
  }
}

export async function prepareDataset(
  source: DatasetSource,
  imageOptions: ImageOptions,
  cacheDir = defaultCacheDir,
): Promise<PreparedDataset> {
  if (source.kind === 'image') {
    const image = userImage(source.path);
    const tree = await extractedTree(image, cacheDir);
    return { name: image.path, source, sourceDir: tree.dir, manifest: tree.manifest, image, cacheDir };
  }
  if (source.kind === 'tar') {
    const layer = await layerTarDataset(source.path, cacheDir);
    return {
      name: layer.name,
      source,
      sourceDir: layer.dir,
      manifest: layer.manifest,
      image: layer.image,
      cacheDir,
    };
  }
  if (source.kind === 'rootfs') {
    const rootfs = await debianRootfs(cacheDir);
    const image = await buildErofsImage(rootfs.dir, rootfs.manifest.contentHash, imageOptions, cacheDir);
    return { name: rootfs.name, source, sourceDir: rootfs.dir, manifest: rootfs.manifest, image, cacheDir };
  }
  const tree =
    source.kind === 'profile'
      ? await generatedTree(source.profile, source.seed, cacheDir)
      : userTree(source.path);
  const image = await buildErofsImage(tree.dir, tree.manifest.contentHash, imageOptions, cacheDir);
  const name = source.kind === 'profile' ? `${source.profile}-s${source.seed}` : source.path;
  return { name, source, sourceDir: tree.dir, manifest: tree.manifest, image, cacheDir };
}

/** The dataset's source in a line of progress. */
export function describeSource(source: DatasetSource): string {
  if (source.kind === 'profile') return `${source.profile} (seed ${source.seed})`;
  if (source.kind === 'rootfs') return `${source.name} (debootstrap, cached)`;
  return source.path;
}

/** The dataset as recorded in a result file. */
export function datasetRecord(dataset: PreparedDataset): Dataset {
  const { manifest, image, source } = dataset;
  return {
    name: dataset.name,
    profile: source.kind === 'profile' ? source.profile : null,
    seed: source.kind === 'profile' ? source.seed : null,
    sourceDir: dataset.sourceDir,
    contentHash: manifest.contentHash,
    files: manifest.files,
    dirs: manifest.dirs,
    symlinks: manifest.symlinks,
    bytes: manifest.bytes,
    image: { path: image.path, bytes: image.bytes, mkfsVersion: image.toolVersion, mkfsArgs: image.args },
  };
}
