import { writeFileSync } from 'node:fs';
import { execa } from 'execa';

/** Writes dirty data back, then drops the page cache and the dentry and inode caches (drop_caches = 3). */
export async function dropKernelCaches(): Promise<void> {
  await execa('sync');
  writeFileSync('/proc/sys/vm/drop_caches', '3');
}
