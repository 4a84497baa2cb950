import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';

/**
 * The tree and EROFS image the round-trip driver (native/roundtrip.c) expects: files/f0 ..
 * files/f(FILES-1) of 4 KiB, each with the xattr user.tag, and `big`, 64 MiB, for random reads.
 */
export const ROUNDTRIP_BIG_BYTES = 64 * 1024 * 1024;

export async function makeRoundtripImage(tree: string, image: string, files: number): Promise<void> {
  mkdirSync(join(tree, 'files'), { recursive: true });
  const paths = Array.from({ length: files }, (_, file) => join(tree, 'files', `f${file}`));
  for (const path of paths) writeFileSync(path, randomBytes(4096));
  await execa('setfattr', ['-n', 'user.tag', '-v', 'roundtrip', ...paths]);
  writeFileSync(join(tree, 'big'), randomBytes(ROUNDTRIP_BIG_BYTES));
  await execa('mkfs.erofs', ['--quiet', '-T1700000000', image, tree]);
}
