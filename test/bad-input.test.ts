import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { execa } from 'execa';
import { isMounted, readMountInfo, unmount } from '../lib/mounts.js';
import { stopProcess } from '../runners/processes.js';
import { CLI, fusebench } from './helpers/cli.js';
import { FIXTURES_DIR } from './helpers/erofs-fixtures.js';

/**
 * Wrong input of every kind gets one clear line on stderr and a non-zero exit status (2 for
 * usage, 1 otherwise), never a stack trace, and leaves nothing mounted. Output cut short by a
 * closed pipe (`| head`) ends quietly.
 */

const root = mkdtempSync(join(tmpdir(), 'fusebench-bad-input-'));
const image = join(root, 'plain.erofs');
const randomFile = join(root, 'random.bin');
const emptyFile = join(root, 'empty.bin');
const gzFile = join(FIXTURES_DIR, 'plain-default.erofs.gz');
const mnt = join(root, 'mnt');
const busy = join(root, 'busy');
const notDir = join(root, 'not-a-dir');
const missing = join(root, 'missing');
const output = join(root, 'result.json');
let busyPid = 0;

interface Case {
  name: string;
  args: string[];
  exit: 1 | 2;
  stderr: RegExp;
}

const cases: Case[] = [
  { name: 'unknown command', args: ['nope'], exit: 2, stderr: /unknown command 'nope'/ },
  {
    name: 'unknown flag of run',
    args: ['run', '--bogus'],
    exit: 2,
    stderr: /run: unknown option '--bogus'; usage/,
  },
  {
    name: 'a mistyped flag of run',
    args: ['run', '--repetiton', '3'],
    exit: 2,
    stderr: /run: unknown option '--repetiton' \(did you mean --repetitions\?\)/,
  },
  {
    name: 'unknown flag of mount',
    args: ['mount', image, mnt, '--bogus'],
    exit: 2,
    stderr: /mount: .*'--bogus'/,
  },
  {
    name: 'unknown flag of erofs',
    args: ['erofs', 'info', image, '--bogus'],
    exit: 2,
    stderr: /erofs info: .*'--bogus'/,
  },
  {
    name: 'unknown erofs action',
    args: ['erofs', 'explode', image],
    exit: 2,
    stderr: /erofs: unknown action 'explode'/,
  },
  {
    name: 'unknown flag of umount',
    args: ['umount', '--bogus', mnt],
    exit: 2,
    stderr: /umount: .*'--bogus'/,
  },
  { name: 'unknown flag of cleanup', args: ['cleanup', '--bogus'], exit: 2, stderr: /cleanup: .*'--bogus'/ },
  { name: 'unknown flag of report', args: ['report', '--bogus'], exit: 2, stderr: /report: .*'--bogus'/ },
  {
    name: 'mount without a mount point',
    args: ['mount', image],
    exit: 2,
    stderr: /mount: expected IMAGE and MOUNTPOINT/,
  },
  { name: 'erofs walk without --json', args: ['erofs', 'walk', image], exit: 2, stderr: /--json/ },
  {
    name: 'missing image (erofs)',
    args: ['erofs', 'info', missing],
    exit: 1,
    stderr: /missing: no such file/,
  },
  {
    name: 'missing image (mount)',
    args: ['mount', missing, mnt],
    exit: 1,
    stderr: /mount: source .*missing does not exist/,
  },
  {
    name: 'missing path in the image',
    args: ['erofs', 'stat', image, '/no/such'],
    exit: 1,
    stderr: /\/no\/such: no such file or directory in the image/,
  },
  {
    name: 'missing result file (report)',
    args: ['report', missing],
    exit: 1,
    stderr: /missing: cannot read/,
  },
  {
    // compare keeps 1 for "regression": every error is 2.
    name: 'missing result file (compare)',
    args: ['compare', missing, missing],
    exit: 2,
    stderr: /missing: cannot read/,
  },
  {
    name: 'random bytes as an image',
    args: ['erofs', 'info', randomFile],
    exit: 1,
    stderr: /not an EROFS image: magic 0x[0-9a-f]+/,
  },
  {
    name: 'an empty file as an image',
    args: ['erofs', 'info', emptyFile],
    exit: 1,
    stderr: /not an EROFS image: 0 bytes is too small/,
  },
  { name: 'a gzipped image', args: ['erofs', 'ls', gzFile], exit: 1, stderr: /not an EROFS image/ },
  {
    name: 'a directory as an image',
    args: ['erofs', 'info', root],
    exit: 1,
    stderr: /is a directory, not an EROFS image/,
  },
  {
    name: 'mounting random bytes',
    args: ['mount', randomFile, mnt, '--background'],
    exit: 1,
    stderr: /not an EROFS image/,
  },
  { name: 'mounting an empty file', args: ['mount', emptyFile, mnt], exit: 1, stderr: /not an EROFS image/ },
  {
    name: 'a busy mount point',
    args: ['mount', image, busy],
    exit: 1,
    stderr: /mount: mount point .*busy is already a mount point/,
  },
  {
    name: 'a busy mount point (passthrough)',
    args: ['passthrough', root, busy],
    exit: 1,
    stderr: /passthrough: mount point .*busy is already a mount point/,
  },
  {
    name: 'a mount point that is a file',
    args: ['mount', image, notDir],
    exit: 1,
    stderr: /mount: mount point .*not-a-dir is not a directory/,
  },
  {
    name: 'a mount point that does not exist',
    args: ['mount', image, missing],
    exit: 1,
    stderr: /mount: mount point .*missing/,
  },
  {
    name: 'umount of something not mounted',
    args: ['umount', mnt],
    exit: 1,
    stderr: /umount: .*mnt is not mounted/,
  },
  {
    name: 'a dataset directory that does not exist',
    args: ['run', '--dataset-dir', missing, '--output', output],
    exit: 1,
    stderr: /--dataset-dir: .*missing does not exist/,
  },
  {
    name: 'a dataset directory that is a file',
    args: ['run', '--dataset-dir', notDir, '--output', output],
    exit: 1,
    stderr: /--dataset-dir: .*not-a-dir is not a directory/,
  },
  {
    name: 'an unknown setup',
    args: ['run', '--setups', 'nope'],
    exit: 2,
    stderr: /--setups: unknown 'nope' \(known: kernel-erofs, /,
  },
  {
    name: 'an unknown workload',
    args: ['run', '--workloads', 'nope'],
    exit: 2,
    stderr: /--workloads: unknown 'nope'/,
  },
  {
    name: 'an unknown profile',
    args: ['run', '--profile', 'huge'],
    exit: 2,
    stderr: /--profile: unknown 'huge'/,
  },
  {
    name: 'an unknown cache state',
    args: ['run', '--cache', 'lukewarm'],
    exit: 2,
    stderr: /--cache: unknown 'lukewarm'/,
  },
  {
    name: 'a word for a number',
    args: ['run', '--repetitions', 'abc'],
    exit: 2,
    stderr: /--repetitions: expected a number, got 'abc'/,
  },
  {
    name: 'zero repetitions',
    args: ['run', '--repetitions', '0'],
    exit: 2,
    stderr: /--repetitions: must be at least 1, got '0'/,
  },
  {
    name: 'a fraction of threads',
    args: ['mount', image, mnt, '--threads', '1.5'],
    exit: 2,
    stderr: /--threads: expected an integer, got '1.5'/,
  },
  {
    name: 'a negative timeout',
    args: ['mount', image, mnt, '--entry-timeout=-1'],
    exit: 2,
    stderr: /--entry-timeout: must not be negative, got '-1'/,
  },
  {
    name: 'a negative number as a separate word',
    args: ['mount', image, mnt, '--attr-timeout', '-1'],
    exit: 2,
    stderr: /--attr-timeout: must not be negative, got '-1'/,
  },
  {
    name: 'a bad size',
    args: ['mount', image, mnt, '--max-read', '12q'],
    exit: 2,
    stderr: /--max-read: expected a size like 4096, 4k or 1M, got '12q'/,
  },
  {
    name: 'a bad chunk size',
    args: ['run', '--chunk-size', '4x'],
    exit: 2,
    stderr: /--chunk-size: expected a size/,
  },
  {
    name: 'a bad CPU list',
    args: ['run', '--client-cpus', 'abc'],
    exit: 2,
    stderr: /--client-cpus: expected a CPU list/,
  },
  {
    name: 'a bad cat offset',
    args: ['erofs', 'cat', image, '/sizes/rand_100', '--offset', 'abc'],
    exit: 2,
    stderr: /--offset: expected a number, got 'abc'/,
  },
  {
    name: 'infinity as a timeout',
    args: ['mount', image, mnt, '--attr-timeout', 'Infinity'],
    exit: 2,
    stderr: /--attr-timeout: expected a number, got 'Infinity'/,
  },
  {
    name: 'a character device as an image',
    args: ['erofs', 'walk', '/dev/zero', '--json'],
    exit: 1,
    stderr: /\/dev\/zero: not a regular file or block device/,
  },
  {
    name: 'repetitions beyond any run that ends',
    args: ['run', '--repetitions', '99999999999999999999'],
    exit: 2,
    stderr: /--repetitions: at most 1000, got '99999999999999999999'/,
  },
  {
    name: 'a negative repetition count as a separate word',
    args: ['run', '--repetitions', '-3'],
    exit: 2,
    stderr: /--repetitions: must not be negative, got '-3'/,
  },
  {
    name: 'a hundred thousand daemon threads',
    args: ['run', '--threads', '100000'],
    exit: 2,
    stderr: /--threads: at most 64, got '100000'/,
  },
  {
    name: 'a max_read the kernel cannot take',
    args: ['run', '--max-read', '99999999999999'],
    exit: 2,
    stderr: /--max-read: at most 4294967295 bytes/,
  },
  {
    name: 'a directory as the result file',
    args: ['run', '--output', root],
    exit: 1,
    stderr: /--output: .* is a directory/,
  },
  {
    name: 'a result file under /proc',
    args: ['run', '--output', '/proc/fusebench.json'],
    exit: 1,
    stderr: /--output: \/proc\/fusebench.json is under \/proc/,
  },
  {
    name: 'a report directory under /proc',
    args: ['report', gzFile, '--out', '/proc/fusebench-report'],
    exit: 1,
    stderr: /--out: \/proc\/fusebench-report is under \/proc/,
  },
  {
    name: 'a report directory that is a file',
    args: ['report', gzFile, '--out', notDir],
    exit: 1,
    stderr: /--out: .*not-a-dir is not a directory/,
  },
];

function mountsUnder(dir: string): string[] {
  return readMountInfo()
    .map((entry) => entry.mountpoint)
    .filter((mountpoint) => mountpoint.startsWith(`${dir}/`));
}

describe('bad input: one line, a clear exit status, nothing left mounted', () => {
  before(async () => {
    writeFileSync(image, gunzipSync(readFileSync(gzFile)));
    writeFileSync(randomFile, randomBytes(64 * 1024));
    writeFileSync(emptyFile, '');
    writeFileSync(notDir, 'not a directory\n');
    mkdirSync(mnt);
    mkdirSync(busy);
    const served = await fusebench(['mount', image, busy, '--background']);
    assert.equal(served.exitCode, 0, String(served.stderr));
    busyPid = Number(String(served.stdout).trim());
    assert.ok(isMounted(busy));
  });

  after(async () => {
    try {
      if (isMounted(busy)) await fusebench(['umount', busy]);
      for (const mountpoint of mountsUnder(root)) await unmount(mountpoint);
    } finally {
      if (busyPid > 0) await stopProcess(busyPid, 1000);
      if (mountsUnder(root).length === 0) rmSync(root, { recursive: true, force: true });
    }
  });

  for (const { name, args, exit, stderr } of cases) {
    it(`${name}: exit ${exit}`, async () => {
      const result = await fusebench(args, { timeout: 60_000 });
      const text = String(result.stderr);
      assert.equal(result.exitCode, exit, `${args.join(' ')} → ${result.exitCode}: ${text}`);
      assert.equal(text.trimEnd().split('\n').length, 1, `one line: ${text}`);
      assert.match(text, /^fusebench: /);
      assert.doesNotMatch(text, /internal error|\n\s+at /);
      assert.match(text, stderr);
      assert.equal(String(result.stdout), '', 'nothing on stdout');
      assert.deepEqual(mountsUnder(root), [busy], 'only the deliberately busy mount exists');
    });
  }

  it('cleanup as an unprivileged user: one line, exit 1', async () => {
    const result = await fusebench(['cleanup'], { uid: 65534, gid: 65534 });
    assert.equal(result.exitCode, 1, String(result.stderr));
    assert.equal(
      String(result.stderr).trimEnd(),
      'fusebench: cleanup needs root: it mounts filesystems and drops caches (try sudo)',
    );
  });

  // Before Node runs any JavaScript no handler can exist; from the CLI's first line on every
  // signal must end the run with its status. That line is seen as SIGHUP in the process's
  // caught-signal mask (Node itself already catches SIGINT and SIGTERM, but not SIGHUP).
  for (const [signal, delay] of [
    ['SIGINT', 0],
    ['SIGTERM', 0],
    ['SIGTERM', 300],
  ] as const) {
    it(`${signal} ${delay} ms after the CLI starts: exit ${signal === 'SIGINT' ? 130 : 143}, one line`, async () => {
      const run = fusebench(['run', '--profile', 'tiny', '--output', output]);
      const caught = () => {
        const mask = /^SigCgt:\s*([0-9a-f]+)/m.exec(readFileSync(`/proc/${run.pid}/status`, 'utf8'))?.[1];
        return mask !== undefined && (BigInt(`0x${mask}`) & 1n) !== 0n;
      };
      for (let waited = 0; waited < 20_000 && !caught(); waited += 5) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
      run.kill(signal);
      const result = await run;
      assert.equal(result.exitCode, signal === 'SIGINT' ? 130 : 143, String(result.stderr));
      assert.doesNotMatch(String(result.stderr), /internal error|\n\s+at /);
    });
  }

  it('a refused run writes no result file', () => {
    assert.equal(existsSync(output), false);
  });

  for (const [what, command] of [
    ['erofs walk', ['erofs', 'walk', image, '--json']],
    ['erofs cat', ['erofs', 'cat', image, '/data/big_text']],
    ['erofs ls', ['erofs', 'ls', image, '/wide']],
    ['--help', ['--help']],
  ] as const) {
    it(`${what} piped into head ends quietly with status 0 (EPIPE)`, async () => {
      const quoted = [process.execPath, CLI, ...command].map((word) => `'${word}'`).join(' ');
      const result = await execa('bash', ['-c', `set -o pipefail; ${quoted} | head -c 10 >/dev/null`], {
        reject: false,
      });
      assert.equal(String(result.stderr), '', 'no stack trace');
      assert.equal(result.exitCode, 0);
    });
  }

  it('ends with nothing mounted once the busy mount is removed', async () => {
    const result = await fusebench(['umount', busy]);
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.deepEqual(mountsUnder(root), []);
  });
});
