import { existsSync, statSync } from 'node:fs';
import { ErofsError } from '../../erofs/errors.js';
import { ErofsImage, ErofsLookupError, ErofsNotDirectoryError } from '../../erofs/image.js';
import { blocksOf, isDirectory } from '../../erofs/inode.js';
import { featureNames } from '../../erofs/superblock.js';
import { walkImage, walkRecordOf } from '../../erofs/walk.js';
import { FatalError, UsageError } from '../../lib/errors.js';
import { formatWalkRecord } from '../../lib/tree-walk.js';
import { parseCommandArgs, parseNumberFlag } from '../args.js';
import type { Command } from '../command.js';

const USAGE = `usage: fusebench erofs <info|ls|stat|cat|walk> IMAGE [PATH] [options]

  info IMAGE               superblock summary: block size, features, inodes, build time, uuid
  ls IMAGE [PATH]          directory entries (default /): ino, type, name
  stat IMAGE PATH          one inode as stat(2) would show it, plus its xattrs
  cat IMAGE PATH           file content to stdout (--offset N, --length N for a range)
  walk IMAGE --json        every path as one JSON line, sorted by UTF-8 bytes (the kernel walk format)

  --device FILE            an extra device of a multi-device image (repeat, in device-table order)
`;

/** Writes, honouring back-pressure, so `cat` of a large file to a pipe stays bounded in memory. */
function write(chunk: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (process.stdout.write(chunk)) resolve();
    else process.stdout.once('drain', resolve).once('error', reject);
  });
}

function openImage(path: string, devices: string[]): ErofsImage {
  if (!existsSync(path)) throw new FatalError(`${path}: no such file`);
  const stats = statSync(path);
  if (stats.isDirectory()) throw new FatalError(`${path}: is a directory, not an EROFS image`);
  if (!stats.isFile() && !stats.isBlockDevice())
    throw new FatalError(`${path}: not a regular file or block device, so not an EROFS image`);
  return ErofsImage.open(path, { devices });
}

const CAT_PIECE = 1 << 20;

/** `fusebench erofs …`: the TypeScript reader on the command line, no mount needed. */
export const command: Command = {
  async run(argv) {
    const [action, ...rest] = argv;
    if (action === undefined || action === '--help' || action === '-h') {
      process.stdout.write(USAGE);
      return action === undefined ? 2 : 0;
    }
    if (!['info', 'ls', 'stat', 'cat', 'walk'].includes(action)) {
      throw new UsageError(`erofs: unknown action '${action}' (info, ls, stat, cat, walk)`);
    }
    const needsPath = action === 'stat' || action === 'cat';
    const { values, positionals } = parseCommandArgs(
      `erofs ${action}`,
      rest,
      {
        json: { type: 'boolean' },
        offset: { type: 'string' },
        length: { type: 'string' },
        device: { type: 'string', multiple: true },
      },
      {
        min: needsPath ? 2 : 1,
        max: action === 'info' || action === 'walk' ? 1 : 2,
        usage: `erofs ${action} IMAGE${needsPath ? ' PATH' : action === 'ls' ? ' [PATH]' : ''}`,
      },
    );
    const [imagePath, path = '/'] = positionals as [string, string?];
    try {
      const image = openImage(imagePath, values.device ?? []);
      try {
        await runAction(action, image, path, values);
      } finally {
        image.close();
      }
      return 0;
    } catch (error) {
      if (error instanceof ErofsError) throw new FatalError(`${imagePath}: ${error.message}`);
      if (error instanceof ErofsLookupError || error instanceof ErofsNotDirectoryError) {
        throw new FatalError(`${imagePath}: ${error.message}`);
      }
      throw error;
    }
  },
};

async function runAction(
  action: string,
  image: ErofsImage,
  path: string,
  values: { json?: boolean; offset?: string; length?: string },
): Promise<void> {
  switch (action) {
    case 'info': {
      const { sb } = image;
      const lines = [
        ['block size', String(sb.blockSize)],
        ['features', featureNames(sb).join(' ') || '(none)'],
        ['inodes', String(sb.inodeCount)],
        ['blocks', String(image.totalBlocks)],
        ['root nid', String(sb.rootNid)],
        ['build time', new Date((sb.epoch + sb.buildTime) * 1000).toISOString()],
        ['uuid', sb.uuid],
        ['volume name', sb.volumeName || '(none)'],
        ['extra devices', String(sb.extraDevices.length)],
      ];
      await write(`${lines.map(([key, value]) => `${`${key}:`.padEnd(15)}${value}`).join('\n')}\n`);
      return;
    }
    case 'ls': {
      const dir = image.resolve(path);
      if (!isDirectory(dir)) throw new ErofsNotDirectoryError(dir.ino);
      for (const entry of image.entries(dir)) {
        await write(
          `${String(entry.ino).padStart(10)}  ${fileTypeName(entry.fileType).padEnd(7)}  ${entry.name}\n`,
        );
      }
      return;
    }
    case 'stat': {
      const inode = image.resolve(path);
      const record = walkRecordOf(image, path, inode);
      await write(
        `${formatWalkRecord({ ...record, path })}\n` +
          `layout ${inode.dataLayout}, ${inode.version ? 'extended' : 'compact'} inode, st_blocks ${blocksOf(image.sb, inode)}\n`,
      );
      return;
    }
    case 'cat': {
      const inode = image.resolve(path);
      if (isDirectory(inode)) throw new FatalError(`${path}: is a directory`);
      const start = parseNumberFlag('--offset', values.offset, 0);
      const length = parseNumberFlag('--length', values.length, inode.size);
      const end = Math.min(inode.size, start + length);
      for (let position = start; position < end; position += CAT_PIECE) {
        await write(image.read(inode, position, Math.min(CAT_PIECE, end - position)));
      }
      return;
    }
    case 'walk': {
      if (!values.json) throw new UsageError('erofs walk: the only output format is --json; pass --json');
      for (const record of walkImage(image)) await write(`${formatWalkRecord(record)}\n`);
      return;
    }
  }
}

const fileTypeNames = ['unknown', 'file', 'dir', 'chr', 'blk', 'fifo', 'sock', 'symlink'];
function fileTypeName(fileType: number): string {
  return fileTypeNames[fileType] ?? `type${fileType}`;
}
