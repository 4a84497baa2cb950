import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, fsyncSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { processDelta, processPaging, snapshotProcess } from '../bench/measure/proc.js';

const PAGE = 4096;

test('processPaging counts the page faults of memory touched for the first time', () => {
  const before = processPaging(process.pid);
  assert.ok(before, 'our own /proc entries are readable');
  const bytes = 16 << 20;
  const memory = Buffer.allocUnsafeSlow(bytes);
  for (let at = 0; at < bytes; at += PAGE) memory[at] = 1;
  const after = processPaging(process.pid)!;
  // malloc'd memory gets huge pages only where THP is "always": then one fault per 2 MiB.
  const thpAlways = readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8').includes('[always]');
  const touched = after.minorFaults - before.minorFaults;
  assert.ok(touched >= (thpAlways ? bytes / (2 << 20) : bytes / PAGE / 2), `${touched} minor faults`);
  assert.ok(after.majorFaults >= before.majorFaults);
});

test('processPaging counts the bytes a process reads from storage, not those the page cache serves', (t) => {
  const directory = mkdtempSync(join(tmpdir(), 'fusebench-proc-'));
  t.after(() => rmSync(directory, { recursive: true, force: true }));
  const file = join(directory, 'data');
  const bytes = 4 << 20;
  const fd = openSync(file, 'w');
  writeFileSync(fd, Buffer.alloc(bytes, 7));
  fsyncSync(fd);
  closeSync(fd);
  // dd's nocache with count=0 drops the whole file's pages (POSIX_FADV_DONTNEED).
  execFileSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0'], { stdio: 'ignore' });
  const cold = processPaging(process.pid)!;
  readFileSync(file);
  const afterCold = processPaging(process.pid)!;
  assert.ok(afterCold.storageReadBytes - cold.storageReadBytes >= bytes, 'a cold read comes from storage');
  readFileSync(file);
  const afterWarm = processPaging(process.pid)!;
  assert.ok(afterWarm.storageReadBytes - afterCold.storageReadBytes < bytes, 'a warm read does not');
});

test('processPaging of a process that is gone is null', () => {
  const child = execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
    encoding: 'utf8',
  });
  assert.equal(processPaging(Number(child)), null);
});

test('processDelta sums the CPU time of every thread between two snapshots', () => {
  const before = snapshotProcess(process.pid);
  const started = process.hrtime.bigint();
  while (process.hrtime.bigint() - started < 50_000_000n) {
    // Spin: 50 ms of this thread's CPU.
  }
  const usage = processDelta(before, snapshotProcess(process.pid));
  assert.ok(usage.cpuNs >= 40e6, `${usage.cpuNs} ns`);
  assert.ok(usage.threads >= 1);
});
