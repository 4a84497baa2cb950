import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Manifest, ManifestEntry } from '../datasets/manifest.js';
import { findWorkload, workloads, workloadsAtReaders } from '../workloads/catalog.js';
import { decodeOps, encodeOp, encodeOps, type Op } from '../workloads/ops.js';
import { type SplitWork, splitAmongReaders } from '../workloads/readers.js';

/** A small manifest shaped like a generated tree, enough for every workload to plan. */
function manifest(): Manifest {
  const entries: Manifest['entries'] = [
    { path: '', type: 'dir', size: 0, ino: 1, nlink: 3, xattrNames: [], sha256: null },
  ];
  entries.push({ path: 'dir', type: 'dir', size: 0, ino: 2, nlink: 2, xattrNames: [], sha256: null });
  // Enough directories for a walk to be split among 16 readers.
  for (let index = 0; index < 16; index++)
    entries.push({
      path: `d${index}`,
      type: 'dir',
      size: 0,
      ino: 200 + index,
      nlink: 2,
      xattrNames: [],
      sha256: null,
    });
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
    const plan = findWorkload('parallel-read@4')!.plan(manifest(), 1);
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

describe('readers', () => {
  const READERS = [1, 2, 4, 8, 16];
  const lstats = (count: number): Op[][] =>
    Array.from({ length: count }, (_, index) => [{ kind: 'lstat', path: `f${index}` } as Op]);

  it('deal unit i to reader i mod N (interleaved), or the r-th of N runs (contiguous), each unit once', () => {
    const work: SplitWork = { prologue: [], units: lstats(10), epilogue: [], rule: 'interleaved' };
    const paths = (streams: Op[][]) =>
      streams.map((stream) => stream.map((op) => ('path' in op ? op.path : '')));
    assert.deepEqual(paths(splitAmongReaders(work, 3)), [
      ['f0', 'f3', 'f6', 'f9'],
      ['f1', 'f4', 'f7'],
      ['f2', 'f5', 'f8'],
    ]);
    assert.deepEqual(paths(splitAmongReaders({ ...work, rule: 'contiguous' }, 3)), [
      ['f0', 'f1', 'f2'],
      ['f3', 'f4', 'f5'],
      ['f6', 'f7', 'f8', 'f9'],
    ]);
  });

  it('run the prologue and epilogue in every reader, and refuse more readers than units', () => {
    const open: Op = { kind: 'open', slot: 0, path: 'big' };
    const close: Op = { kind: 'close', slot: 0 };
    const units: Op[][] = [0, 1, 2].map((block) => [
      { kind: 'pread', slot: 0, offset: block * 4096, length: 4096 },
    ]);
    const streams = splitAmongReaders({ prologue: [open], units, epilogue: [close], rule: 'contiguous' }, 2);
    for (const stream of streams) {
      assert.deepEqual(stream[0], open);
      assert.deepEqual(stream.at(-1), close);
    }
    assert.throws(
      () => splitAmongReaders({ prologue: [], units, epilogue: [], rule: 'interleaved' }, 4),
      /3 units of work cannot be split among 4 readers/,
    );
  });

  it('give every workload that takes readers the same operations for every N, split the same way every time', () => {
    /** The work itself: every operation but the per-reader opens and closes of descriptor slots kept open. */
    const work = (streams: Op[][]) =>
      streams
        .flat()
        .map(encodeOp)
        .filter((line) => !/^(open|close)\t/.test(line))
        .sort();
    let checked = 0;
    let skipped = 0;
    for (const workload of workloads.filter((entry) => entry.takesReaders)) {
      const one = workload.plan(manifest(), 7, 1);
      for (const readers of READERS) {
        const name = workloadsAtReaders([workload.name], [readers])[0]!;
        const cell = findWorkload(name)!;
        assert.equal(cell.params.readers, readers, name);
        let plan: ReturnType<typeof cell.plan>;
        try {
          plan = cell.plan(manifest(), 7);
        } catch (error) {
          // seqread-1m has 8 blocks here: 16 readers would leave half of them idle.
          assert.match((error as Error).message, /cannot be split (evenly )?among/, name);
          skipped++;
          continue;
        }
        assert.equal(
          JSON.stringify(plan),
          JSON.stringify(cell.plan(manifest(), 7)),
          `${name}: deterministic`,
        );
        if (plan.driver === 'fio' && one.driver === 'fio') {
          assert.equal(plan.readers, readers);
          assert.equal(plan.opCount, one.opCount, `${name}: same I/O count`);
          assert.equal(plan.bytes, one.bytes, `${name}: same bytes`);
          continue;
        }
        if (plan.driver !== 'ops' || one.driver !== 'ops') throw new Error(`${name}: ops expected`);
        assert.equal(plan.streams.length, readers, `${name}: one stream per reader`);
        assert.ok(
          plan.streams.every((stream) => stream.length > 0),
          `${name}: every reader has work`,
        );
        assert.deepEqual(work(plan.streams), work(one.streams), `${name}: the same operations as one reader`);
        checked++;
      }
    }
    assert.ok(
      checked >= 5 * 12 && skipped < 5,
      `ops workloads checked: ${checked}, too small to split: ${skipped}`,
    );
  });

  it('name cells NAME@N, keep NAME for one reader, and leave workloads without readers as they are', () => {
    assert.deepEqual(workloadsAtReaders(['stat-all', 'tar-cat', 'parallel-read@4'], [1, 4]), [
      'stat-all',
      'stat-all@4',
      'tar-cat',
      'parallel-read',
      'parallel-read@4',
    ]);
    assert.equal(findWorkload('tar-cat@2'), undefined);
    assert.equal(findWorkload('stat-all@0'), undefined);
    assert.equal(findWorkload('stat-all@4')!.family, 'stat-all');
  });
});
