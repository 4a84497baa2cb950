import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { execa } from 'execa';
import { FatalError } from '../lib/errors.js';
import { findPeerProgram, GET_PEERS } from '../lib/peer-programs.js';
import { type BuiltImage, FIXED_UUID, SOURCE_DATE_EPOCH } from './image.js';
import { buildManifest, type Manifest } from './manifest.js';
import { sha256OfFile } from './user-image.js';

/**
 * A container layer given as a tar file (`--dataset-tar FILE`): the image is what an OCI
 * snapshotter would build, `mkfs.erofs --tar=f` straight from the tar; the tree setups serve the
 * tar extracted by GNU tar with owners, modes and xattrs kept. Both are cached by the tar's hash.
 */

function checkedTar(path: string): string {
  const absolute = resolve(path);
  let isFile: boolean;
  try {
    isFile = statSync(absolute).isFile();
  } catch (error) {
    throw new FatalError(
      `--dataset-tar: ${absolute}: ${(error as NodeJS.ErrnoException).code ?? 'cannot stat'}`,
    );
  }
  if (!isFile) throw new FatalError(`--dataset-tar: ${absolute} is not a regular file`);
  return absolute;
}

/** What a failed tool said, in one line. */
function lastLine(all: string | undefined, exitCode: number | undefined): string {
  return all?.trim().split('\n').at(-1) ?? `exit ${exitCode}`;
}

export async function layerTarDataset(
  path: string,
  cacheDir: string,
): Promise<{ dir: string; manifest: Manifest; image: BuiltImage; name: string }> {
  const tar = checkedTar(path);
  const mkfs = await findPeerProgram('mkfs.erofs');
  if (!mkfs) throw new FatalError(`--dataset-tar: mkfs.erofs is needed: ${GET_PEERS}`);
  const key = `${sha256OfFile(tar).slice(0, 24)}-${mkfs.version}`;
  const base = `${cacheDir}/layers/${key}`;
  const dir = `${base}/tree`;
  const imagePath = `${base}/layer.erofs`;
  const manifestPath = `${base}/manifest.json`;
  const args = ['--tar=f', '-U', FIXED_UUID];
  const image = (): BuiltImage => ({
    path: imagePath,
    bytes: statSync(imagePath).size,
    tool: 'mkfs.erofs',
    toolVersion: mkfs.origin === 'distribution' ? mkfs.version : `${mkfs.version} (${mkfs.origin})`,
    args,
  });
  if (existsSync(manifestPath)) {
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
    return { dir, manifest, image: image(), name: tar };
  }
  // A half-done layer from an interrupted run has no manifest: start it again.
  rmSync(base, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  try {
    const built = await execa(mkfs.path, [...args, imagePath, tar], {
      reject: false,
      all: true,
      env: { SOURCE_DATE_EPOCH },
    });
    if (built.exitCode !== 0)
      throw new FatalError(
        `--dataset-tar: mkfs.erofs --tar=f failed: ${lastLine(built.all, built.exitCode)}`,
      );
    const extracted = await execa(
      'tar',
      [
        '--extract',
        '--file',
        tar,
        '--directory',
        dir,
        '--same-owner',
        '--same-permissions',
        '--xattrs',
        '--xattrs-include=*',
        '--numeric-owner',
      ],
      { reject: false, all: true },
    );
    if (extracted.exitCode !== 0)
      throw new FatalError(
        `--dataset-tar: tar --extract failed: ${lastLine(extracted.all, extracted.exitCode)}`,
      );
    const manifest = buildManifest(dir);
    writeFileSync(`${manifestPath}.partial`, JSON.stringify(manifest));
    renameSync(`${manifestPath}.partial`, manifestPath);
    return { dir, manifest, image: image(), name: tar };
  } catch (error) {
    rmSync(base, { recursive: true, force: true });
    throw error;
  }
}
