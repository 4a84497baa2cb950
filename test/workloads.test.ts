import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Manifest, ManifestEntry } from '../datasets/manifest.js';
import { findWorkload, workloads } from '../workloads/catalog.js';
import { decodeOps, encodeOps, type Op } from '../workloads/ops.js';

/** A small manifest shaped like a generated tree, enough for every workload to plan. */
function manifest(): Manifest {
  const entries: Manifest['entries'] = [
    { path: '', type: 'dir', size: 0, ino: 1, nlink: 3, xattrNames: [], sha256: null },
  ];
  entries.push({ path: 'dir', type: 'dir', size: 0, ino: 2, nlink: 2, xattrNames: [], sha256: null });
  for (let index = 0; index < 50; index++) {
    entries.push({
      path: `dir/f${index}`,
      type: 'file',
      size: 1000 * index,
      ino: 10 + index,
      nlink: 1,
      xattrNames: index % 10 === 0 ? ['user.a'] : [],
      sha256: null,
    });
  }
  // One inode under two names.
  const big: Omit<ManifestEntry, 'path'> = {
    type: 'file',
    size: 8 * 1024 * 1024,
    ino: 100,
    nlink: 2,
    xattrNames: [],
    sha256: null,
  };
  entries.push({ path: 'big', ...big }, { path: 'big-link', ...big });
  entries.push({ path: 'link', type: 'symlink', size: 0, ino: 101, nlink: 1, xattrNames: [], sha256: null });
  return { entries, contentHash: 'x', files: 52, dirs: 2, symlinks: 1, bytes: 0 };
}

describe('op streams', () => {
  it('round-trip through the text format, including paths with tabs, newlines and percent signs', () => {
    const ops: Op[] = [
      { kind: 'lstat', path: 'a\tb\nc%d\re' },
      { kind: 'open', slot: 3, path: 'x y' },
      { kind: 'pread', slot: 3, offset: 4096, length: 131072 },
      { kind: 'close', slot: 3 },
      { kind: 'readfile', path: 'f', blockSize: 65536 },
      { kind: 'getxattr', path: 'f', name: 'user.%weird\tname' },
      { kind: 'lstat-miss', path: 'nope' },
    ];
    assert.deepEqual(decodeOps(encodeOps(ops)), ops);
  });

  it('refuse malformed lines with the line number', () => {
    assert.throws(() => decodeOps('lstat\tok\nfrobnicate\tx\n'), /line 2: unknown operation 'frobnicate'/);
    assert.throws(() => decodeOps('pread\t1\t-5\t10\n'), /line 1: bad offset/);
    assert.throws(() => decodeOps('open\t999\tx\n'), /slot 999/);
  });
});

describe('workload catalog', () => {
  it('plans every workload from a manifest, deterministically for a seed', () => {
    for (const workload of workloads) {
      const first = JSON.stringify(workload.plan(manifest(), 7));
      const second = JSON.stringify(workload.plan(manifest(), 7));
      assert.equal(first, second, workload.name);
    }
  });

  it('gives different random orders for different seeds', () => {
    const statAll = findWorkload('stat-all')!;
    assert.notEqual(JSON.stringify(statAll.plan(manifest(), 1)), JSON.stringify(statAll.plan(manifest(), 2)));
  });

  it('stat-all visits every path exactly once', () => {
    const plan = findWorkload('stat-all')!.plan(manifest(), 1);
    assert.equal(plan.driver, 'ops');
    if (plan.driver !== 'ops') return;
    const paths = plan.streams[0]!.map((op) => ('path' in op ? op.path : ''));
    assert.deepEqual(
      [...paths].sort(),
      manifest()
        .entries.map((entry) => (entry.path === '' ? '.' : entry.path))
        .sort(),
    );
  });

  it('seqread reads the largest file exactly once in its block size', () => {
    const plan = findWorkload('seqread-1m')!.plan(manifest(), 1);
    if (plan.driver !== 'ops') throw new Error('ops expected');
    const preads = plan.streams[0]!.filter((op) => op.kind === 'pread');
    assert.equal(preads.length, 8);
    assert.equal(
      preads.reduce((sum, op) => sum + (op.kind === 'pread' ? op.length : 0), 0),
      8 * 1024 * 1024,
    );
  });

  it('parallel readers split the large files without overlap and cover them', () => {
    const plan = findWorkload('parallel-read-4')!.plan(manifest(), 1);
    if (plan.driver !== 'ops') throw new Error('ops expected');
    assert.equal(plan.streams.length, 4);
    const ranges = plan.streams.flatMap((stream) =>
      stream.flatMap((op) => (op.kind === 'pread' ? [[op.offset, op.offset + op.length]] : [])),
    );
    ranges.sort((a, b) => a[0]! - b[0]!);
    let end = 0;
    for (const [from, to] of ranges) {
      assert.equal(from, end);
      end = to!;
    }
    assert.equal(end, 8 * 1024 * 1024);
  });

  it('counts a hard-linked file once', () => {
    const plan = findWorkload('open-close')!.plan(manifest(), 1);
    if (plan.driver !== 'ops') throw new Error('ops expected');
    const opened = plan.streams[0]!.filter((op) => op.kind === 'open').map((op) =>
      'path' in op ? op.path : '',
    );
    assert.equal(opened.filter((path) => path.startsWith('big')).length, 1);
  });

  it('xargs scenarios list about 7% of the files, or all of them', () => {
    const small = findWorkload('xargs-cat-7pct')!.plan(manifest(), 1);
    const all = findWorkload('xargs-cat-all')!.plan(manifest(), 1);
    if (small.driver !== 'shell' || all.driver !== 'shell') throw new Error('shell expected');
    assert.equal(small.list!.length, Math.ceil(51 * 0.07));
    assert.equal(all.list!.length, 51);
  });
});
