import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { execa } from 'execa';
import { decodePcluster } from '../../erofs/compress/decoders.js';
import { mapContextOf } from '../../erofs/compress/index.js';
import { lz4DecodePartial } from '../../erofs/compress/lz4.js';
import { type CompressedExtent, mapCompressed, readZInfo } from '../../erofs/compress/map.js';
import { DataLayout } from '../../erofs/format.js';
import { ErofsImage } from '../../erofs/image.js';
import { walkImage } from '../../erofs/walk.js';
import { SeededRandom } from '../../lib/random.js';

/**
 * Micro-benchmark of the compressed-data reader (a script, not a test):
 *   1. decoder throughput per algorithm: every pcluster of the committed fixtures decoded in a loop
 *      (MB/s of decoded output, the cache bypassed);
 *   2. sequential reads of a large LZ4 file through ErofsImage.readInto (map + decode + copy) into
 *      one reused buffer, as the FUSE daemon reads into its reply buffer, from a fresh image, in
 *      128 KiB (FUSE's max_read) and 1 MiB pieces, for 4 KiB and 64 KiB pclusters.
 * Every figure is the best of several rounds: on a shared machine the best is the least disturbed.
 * MB/s are 10^6 bytes of decoded output per second.
 * Run: npm run bench:decompress [-- --mib N]
 */

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/erofs/', import.meta.url));
const MIN_SECONDS = 0.5;
/** Rounds (and sequential runs) per figure; the best is printed, the machine may be shared. */
const ROUNDS = 5;
const MB = 1e6;

interface Pcluster {
  extent: Extract<CompressedExtent, { kind: 'device' | 'inline' }>;
  input: Buffer;
}

/** Every compressed (non-plain) device pcluster of every file of a fixture, with its raw bytes. */
function pclustersOf(image: ErofsImage): Pcluster[] {
  const found: Pcluster[] = [];
  const seen = new Set<number>();
  for (const record of walkImage(image)) {
    if (record.type !== 'file' || seen.has(record.ino)) continue;
    seen.add(record.ino);
    const inode = image.inode(record.ino);
    if (
      inode.dataLayout !== DataLayout.COMPRESSED_FULL &&
      inode.dataLayout !== DataLayout.COMPRESSED_COMPACT
    ) {
      continue;
    }
    const context = mapContextOf(image, inode);
    const info = readZInfo(context);
    for (let position = 0; position < inode.size; ) {
      const extent = mapCompressed(context, info, position);
      position = extent.logical + extent.length;
      if (extent.kind !== 'device' || extent.format > 3) continue;
      found.push({ extent, input: image.readDevice(0, extent.physical, extent.encodedLength, 'bench') });
    }
  }
  return found;
}

/** Best of ROUNDS rounds, each running `pass` until MIN_SECONDS have gone by; decoded MB/s. */
function timed(pass: () => number): number {
  pass(); // warm-up
  let best = 0;
  for (let round = 0; round < ROUNDS; round++) {
    let bytes = 0;
    const started = process.hrtime.bigint();
    let elapsed = 0;
    while (elapsed < MIN_SECONDS) {
      bytes += pass();
      elapsed = Number(process.hrtime.bigint() - started) / 1e9;
    }
    best = Math.max(best, bytes / elapsed / MB);
  }
  return best;
}

function decoderThroughput(dir: string): void {
  console.log('decoder throughput (fixtures, every pcluster, cache bypassed):');
  const names = readdirSync(FIXTURES)
    .filter((name) => name.endsWith('.erofs.gz'))
    .map((name) => name.slice(0, -'.erofs.gz'.length))
    .filter((name) =>
      /^(lz4|lz4hc-12|lz4hc-bigpcluster|lzma|lzma-bigpcluster|deflate|deflate-bigpcluster|libdeflate|zstd|zstd-bigpcluster)$/.test(
        name,
      ),
    );
  for (const name of names) {
    const path = join(dir, `${name}.erofs`);
    writeFileSync(path, gunzipSync(readFileSync(join(FIXTURES, `${name}.erofs.gz`))));
    const image = ErofsImage.open(path);
    try {
      const pclusters = pclustersOf(image);
      const encoded = pclusters.reduce((sum, { input }) => sum + input.length, 0);
      const decoded = pclusters.reduce((sum, { extent }) => sum + extent.length, 0);
      const rate = timed(() => {
        let bytes = 0;
        for (const { extent, input } of pclusters) {
          bytes += decodePcluster({
            format: extent.format,
            input,
            outputLength: extent.length,
            partial: extent.partial,
            zeroPadding: true,
            paddingLimit: image.sb.blockSize,
            blockSize: image.sb.blockSize,
            logical: extent.logical,
            lzmaDictSize: 8 << 20,
            where: {},
          }).length;
        }
        return bytes;
      });
      console.log(
        `  ${name.padEnd(20)} ${String(pclusters.length).padStart(4)} pclusters, ${(decoded / 1024).toFixed(0).padStart(5)} KiB from ${(encoded / 1024).toFixed(0).padStart(4)} KiB: ${rate.toFixed(0).padStart(6)} MB/s`,
      );
      if (name === 'lz4') {
        const lz4 = pclusters.filter(({ extent }) => extent.format === 0);
        const jsRate = timed(() => {
          let bytes = 0;
          for (const { extent, input } of lz4) {
            let start = 0;
            while (input[start] === 0) start++;
            bytes += lz4DecodePartial(input.subarray(start), Buffer.allocUnsafe(extent.length));
          }
          return bytes;
        });
        console.log(
          `  ${'lz4 (JS prefix decoder)'.padEnd(20)} same pclusters: ${jsRate.toFixed(0).padStart(6)} MB/s`,
        );
      }
    } finally {
      image.close();
    }
  }
}

/**
 * Text-like data that LZ4 compresses about 2×: words, numbers and a few random bytes. 4 MiB of it
 * repeat (pclusters are compressed independently, so repetition beyond 64 KiB gains nothing).
 */
function generatedData(bytes: number): Buffer {
  const random = new SeededRandom('decompress-bench');
  const words = 'the of and to in is for that with on as by at from this be are it an or was which'.split(
    ' ',
  );
  const unit = Buffer.allocUnsafe(Math.min(bytes, 4 * 1024 * 1024));
  fillText(unit, random, words);
  const out = Buffer.allocUnsafe(bytes);
  for (let at = 0; at < bytes; at += unit.length) unit.copy(out, at);
  return out;
}

function fillText(out: Buffer, random: SeededRandom, words: string[]): void {
  const bytes = out.length;
  let at = 0;
  while (at < bytes) {
    const pick = random.int(0, 99);
    let piece: string;
    if (pick < 85) piece = `${words[random.int(0, words.length - 1)]} `;
    else if (pick < 98) piece = `${random.int(0, 1_000_000)} `;
    else piece = String.fromCharCode(...Array.from({ length: 6 }, () => random.int(33, 126)));
    at += out.write(piece, at);
  }
}

async function sequentialReads(dir: string, mib: number): Promise<void> {
  const tree = join(dir, 'tree');
  mkdirSync(tree);
  const data = generatedData(mib * 1024 * 1024);
  writeFileSync(join(tree, 'large'), data);
  console.log(`sequential reads of a ${mib} MiB file through ErofsImage.readInto (fresh image per run):`);
  for (const [label, args] of [
    ['lz4, 4 KiB pclusters', ['-zlz4']],
    ['lz4, 64 KiB pclusters', ['-zlz4', '-C65536']],
    ['lz4hc, 64 KiB pclusters', ['-zlz4hc', '-C65536']],
  ] as const) {
    const path = join(dir, 'seq.erofs');
    await execa('mkfs.erofs', ['--quiet', ...args, path, tree]);
    const imageBytes = statSync(path).size;
    for (const piece of [128 * 1024, 1024 * 1024]) {
      const reply = Buffer.allocUnsafe(piece);
      let best = 0;
      let hits = 0;
      let misses = 0;
      for (let run = 0; run < ROUNDS; run++) {
        const image = ErofsImage.open(path);
        try {
          const inode = image.resolve('/large');
          const started = process.hrtime.bigint();
          let total = 0;
          for (let position = 0; position < inode.size; position += piece) {
            total += image.readInto(inode, position, piece, reply, 0);
          }
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          best = Math.max(best, total / seconds / MB);
          ({ hits, misses } = image.decodedPclusters!);
        } finally {
          image.close();
        }
      }
      console.log(
        `  ${label.padEnd(24)} image ${(imageBytes / 2 ** 20).toFixed(0)} MiB, ${String(piece / 1024).padStart(4)} KiB reads: ${best.toFixed(0).padStart(5)} MB/s (best of ${ROUNDS}; partly read pclusters via the cache: ${misses} decoded, ${hits} hits)`,
      );
    }
  }
}

async function main(): Promise<void> {
  const flag = process.argv.indexOf('--mib');
  const mib = flag > 0 ? Number(process.argv[flag + 1]) : 256;
  const dir = mkdtempSync(join(tmpdir(), 'fusebench-decompress-'));
  try {
    decoderThroughput(dir);
    await sequentialReads(dir, mib);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
