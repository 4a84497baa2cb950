import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { execa } from 'execa';
import { NATIVE_DRIVER, type OpsDriver, runOpsClients } from '../bench/measure/clients.js';
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

async function replay(driver: OpsDriver, ops: readonly Op[]) {
  const workDir = mkdtempSync(join(dir, `${driver}-`));
  const opsFile = join(workDir, 'stream.ops');
  writeFileSync(opsFile, encodeOps(ops));
  return runOpsClients({
    driver,
    opsFiles: [opsFile],
    mountpoint: tree,
    workDir,
    cpus: null,
    signal: new AbortController().signal,
    beforeGo: () => {},
    afterDone: () => {},
  });
}

describe('native op driver', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

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
});
