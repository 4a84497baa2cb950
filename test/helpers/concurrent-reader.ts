import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { SeededRandom } from '../../lib/random.js';

/**
 * One reader process of the concurrency test: `reads` times, open a file through the FUSE mount,
 * pread a random range (offsets past EOF included) and close it, comparing the bytes with the
 * same pread on the kernel mount of the same image. Prints `{"reads":N,"wrong":N,"short":N}`.
 * usage: concurrent-reader.js KERNEL_MNT FUSE_MNT SEED READS FILE...
 */

const LENGTHS = [1, 511, 4096, 4097, 65536, 200_000];

function pread(path: string, buffer: Buffer, offset: number): number {
  const fd = openSync(path, 'r');
  try {
    return readSync(fd, buffer, 0, buffer.length, offset);
  } finally {
    closeSync(fd);
  }
}

const [kernelMount, fuseMount, seed, readsArg, ...files] = process.argv.slice(2);
const random = new SeededRandom(`concurrent-reader-${seed}`);
const reads = Number(readsArg);
const sizes = new Map(
  files.map((entry) => {
    const colon = entry.lastIndexOf(':');
    return [entry.slice(0, colon), Number(entry.slice(colon + 1))] as const;
  }),
);
const paths = [...sizes.keys()];
const expected = Buffer.alloc(Math.max(...LENGTHS));
const actual = Buffer.alloc(Math.max(...LENGTHS));
let wrong = 0;
let short = 0;
for (let done = 0; done < reads; done++) {
  const path = random.pick(paths);
  const length = random.pick(LENGTHS);
  const offset = random.int(0, sizes.get(path)! + 4096);
  const want = pread(join(kernelMount!, path), expected.subarray(0, length), offset);
  const got = pread(join(fuseMount!, path), actual.subarray(0, length), offset);
  if (got < want) short++;
  if (got !== want || !actual.subarray(0, got).equals(expected.subarray(0, want))) wrong++;
}
process.stdout.write(`${JSON.stringify({ reads, wrong, short })}\n`);
