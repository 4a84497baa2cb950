import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { execa } from 'execa';
import { ClientProcesses, NATIVE_DRIVER, type OpsDriver } from '../bench/measure/client-processes.js';
import { runOpsClients } from '../bench/measure/clients.js';
import { encodeOps, type Op } from '../workloads/ops.js';

/**
 * The native replayer (native/opdriver.c, `--driver native`) against the Node client: the same op
 * stream over the same tree must give the same operation count, bytes and failures, with one
 * latency per operation that adds up to the measured section. A plain directory serves as the
 * mount point: drivers know nothing else.
 */

const dir = mkdtempSync(join(tmpdir(), 'fusebench-opdriver-'));
const tree = join(dir, 'tree');
mkdirSync(join(tree, 'sub'), { recursive: true });
writeFileSync(join(tree, 'sub/data'), Buffer.alloc(300_000, 3));
writeFileSync(join(tree, 'small'), 'hello');
writeFileSync(join(tree, 'name\twith%tab'), 'odd name');
symlinkSync('sub/data', join(tree, 'link'));

const stream: Op[] = [
  { kind: 'lstat', path: 'sub/data' },
  { kind: 'lstat', path: 'name\twith%tab' },
  { kind: 'lstat-miss', path: 'sub/missing' },
  { kind: 'lstat-miss', path: 'small' }, // exists: an unexpected outcome, counted as an error
  { kind: 'readdir', path: 'sub' },
  { kind: 'open', slot: 3, path: 'sub/data' },
  { kind: 'pread', slot: 3, offset: 0, length: 4096 },
  { kind: 'pread', slot: 3, offset: 299_000, length: 4096 }, // short read at the end
  { kind: 'pread', slot: 3, offset: 400_000, length: 4096 }, // past the end: 0 bytes, no error
  { kind: 'close', slot: 3 },
  { kind: 'open', slot: 0, path: 'does-not-exist' }, // an error
  { kind: 'readfile', path: 'sub/data', blockSize: 65536 },
  { kind: 'readfile', path: 'name\twith%tab', blockSize: 4096 },
  { kind: 'listxattr', path: 'small' },
  { kind: 'readlink', path: 'link' },
];
const EXPECTED_BYTES = 4096 + 1000 + 300_000 + 'odd name'.length;

const clients = new ClientProcesses(null, new AbortController().signal);

function writeStream(ops: readonly Op[], name: string): { workDir: string; opsFile: string } {
  const workDir = mkdtempSync(join(dir, `${name}-`));
  const opsFile = join(workDir, 'stream.ops');
  writeFileSync(opsFile, encodeOps(ops));
  return { workDir, opsFile };
}

async function replay(driver: OpsDriver, ops: readonly Op[], mountpoint = tree) {
  const { workDir, opsFile } = writeStream(ops, driver);
  return runOpsClients({
    clients,
    driver,
    opsFiles: [opsFile],
    mountpoint,
    workDir,
    beforeGo: () => {},
    afterDone: () => {},
  });
}

/** Node client processes this test process has running now. */
async function nodeClientPids(): Promise<string[]> {
  const result = await execa('pgrep', ['-P', String(process.pid), '-f', 'workloads/client.js'], {
    reject: false,
  });
  return result.stdout.split('\n').filter((line) => line !== '');
}

describe('native op driver', () => {
  after(async () => {
    await clients.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('replays a stream exactly as the Node client does: counts, bytes, failures', async () => {
    const native = await replay('native', stream);
    const node = await replay('node', stream);
    for (const [name, result] of [
      ['native', native],
      ['node', node],
    ] as const) {
      const report = result.reports[0]!;
      assert.equal(report.opCount, stream.length, `${name} op count`);
      assert.equal(report.bytes, EXPECTED_BYTES, `${name} bytes`);
      assert.deepEqual(report.errors, { 'lstat-miss': 1, open: 1 }, `${name} errors`);
    }
  });

  it('writes one positive latency per operation, adding up to the measured section', async () => {
    const { reports, latencies } = await replay('native', stream);
    assert.equal(latencies[0]!.length, stream.length);
    assert.ok(latencies[0]!.every((latency) => latency > 0));
    const sum = latencies[0]!.reduce((total, latency) => total + latency, 0);
    assert.equal(sum, reports[0]!.wallNs);
  });

  it('maps a file and touches every page (mmapread, which only the native driver can do)', async () => {
    const { reports } = await replay('native', [
      { kind: 'mmapread', path: 'sub/data' },
      { kind: 'mmapread', path: 'small' },
    ]);
    assert.equal(reports[0]!.bytes, 300_000 + 5);
    assert.deepEqual(reports[0]!.errors, {});
  });

  it('refuses a malformed stream with the line number, before saying ready', async () => {
    const opsFile = join(dir, 'bad.ops');
    for (const [text, message] of [
      ['lstat\ta\nfrobnicate\tb\n', /line 2: unknown operation/],
      ['open\t64\tx\n', /line 1: slot out of range/],
      ['pread\t0\t12x\t4\n', /line 1: bad number/],
      ['readfile\tx\t0\n', /line 1: zero block size/],
    ] as const) {
      writeFileSync(opsFile, text);
      const result = await execa(NATIVE_DRIVER, [opsFile, tree, join(dir, 'bad.f64')], { reject: false });
      assert.equal(result.exitCode, 2, text);
      assert.equal(result.stdout, '', 'no ready line');
      assert.match(result.stderr, message);
    }
  });

  it('serves repetition after repetition from one Node client process', async () => {
    await replay('node', stream);
    const pids = await nodeClientPids();
    assert.equal(pids.length, 1);
    const again = await replay('node', stream);
    assert.equal(again.reports[0]!.bytes, EXPECTED_BYTES, 'a second job counts only its own bytes');
    assert.deepEqual(again.reports[0]!.errors, { 'lstat-miss': 1, open: 1 }, 'and only its own failures');
    assert.deepEqual(await nodeClientPids(), pids);
  });

  it('refuses a job it cannot start in one line and serves the next one', async () => {
    const { workDir } = writeStream(stream, 'missing');
    await assert.rejects(
      runOpsClients({
        clients,
        driver: 'node',
        opsFiles: [join(workDir, 'no-such.ops')],
        mountpoint: tree,
        workDir,
        beforeGo: () => {},
        afterDone: () => {},
      }),
      (error: Error) => /^client could not start its job: ENOENT[^\n]*no-such\.ops/.test(error.message),
    );
    assert.equal((await replay('node', stream)).reports[0]!.opCount, stream.length);
  });

  it('leaves nothing open in the mount point between jobs: a file left open and the working directory', async () => {
    const mountpoint = mkdtempSync(join(dir, 'tmpfs-'));
    await execa('mount', ['-t', 'tmpfs', 'fusebench-opdriver', mountpoint]);
    try {
      writeFileSync(join(mountpoint, 'file'), 'data');
      const { reports } = await replay(
        'node',
        [
          { kind: 'open', slot: 5, path: 'file' },
          { kind: 'pread', slot: 5, offset: 0, length: 4 },
        ],
        mountpoint,
      );
      assert.equal(reports[0]!.bytes, 4);
      assert.equal((await nodeClientPids()).length, 1, 'the client is still running');
    } finally {
      // Not lazy: EBUSY if the client still held the file or its working directory there.
      const unmounted = await execa('umount', [mountpoint], { reject: false });
      if (unmounted.exitCode !== 0) await execa('umount', ['-l', mountpoint]);
      assert.equal(unmounted.exitCode, 0, unmounted.stderr);
    }
  });

  it('ends every Node client when closed', async () => {
    await replay('node', stream);
    await clients.close();
    assert.deepEqual(await nodeClientPids(), []);
  });
});
